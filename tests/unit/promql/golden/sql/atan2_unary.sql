WITH series_0 AS (
  SELECT
    sk,
    labels,
    FALSE AS drop_name
  FROM (
    SELECT
      series_id AS sk,
      ANY_VALUE(labels) AS labels
    FROM READ_PARQUET('<lake>/series/*/*.parquet')
    GROUP BY
      series_id
    HAVING
      COALESCE(ANY_VALUE(labels)['__name__'], '') = 'node_temperature_celsius'
  )
), samples_1 AS (
  SELECT
    x.sk,
    x.ts,
    x.v,
    x.stale
  FROM (
    SELECT
      series_id AS sk,
      ts,
      value AS v,
      stale
    FROM READ_PARQUET('<lake>/samples/*/*.parquet', filename => TRUE)
  ) AS x
  WHERE
    x.ts BETWEEN 1500001 AND 1800000 AND x.sk IN (
      SELECT
        sk
      FROM series_0
    )
), steps_2 AS (
  SELECT
    range AS t
  FROM RANGE(1800000, 1800001, 1)
), grid_3 AS (
  SELECT
    s.sk,
    st.t,
    st.t - 0 AS te
  FROM series_0 AS s
  CROSS JOIN steps_2 AS st
), instant_4 AS (
  SELECT
    g.sk,
    g.t,
    x.v,
    x.ts
  FROM grid_3 AS g
  ASOF JOIN samples_1 AS x
    ON g.sk = x.sk AND x.ts <= g.te
  WHERE
    x.ts > g.te - 300000 AND NOT x.stale
), neg_5 AS (
  SELECT
    *
  FROM (
    SELECT
      sk,
      t,
      -v AS v
    FROM (
      SELECT
        x.sk,
        x.t,
        x.v,
        x.ts AS ts
      FROM instant_4 AS x
    )
  )
  WHERE
    NOT v IS NULL
), series_6 AS (
  SELECT
    sk,
    labels,
    TRUE AS drop_name
  FROM series_0
), sig_m_7 AS (
  SELECT
    sk,
    labels,
    key,
    HASH(key) AS kh
  FROM (
    SELECT
      sk,
      labels,
      MAP_FROM_ENTRIES(
        LIST_FILTER(
          MAP_ENTRIES(labels),
          LAMBDA e : NOT ARRAY_CONTAINS(CAST(['__name__'] AS TEXT[]), e.key)
        )
      ) AS key
    FROM series_6
  )
), sig_o_8 AS (
  SELECT
    sk,
    labels,
    key,
    HASH(key) AS kh
  FROM (
    SELECT
      sk,
      labels,
      MAP_FROM_ENTRIES(
        LIST_FILTER(
          MAP_ENTRIES(labels),
          LAMBDA e : NOT ARRAY_CONTAINS(CAST(['__name__'] AS TEXT[]), e.key)
        )
      ) AS key
    FROM series_0
  )
), kp_m_9 AS (
  SELECT
    x.sk,
    x.t,
    x.v,
    s.kh
  FROM neg_5 AS x
  JOIN sig_m_7 AS s
    ON s.sk = x.sk
), kp_o_10 AS (
  SELECT
    x.sk,
    x.t,
    x.v,
    s.kh
  FROM instant_4 AS x
  JOIN sig_o_8 AS s
    ON s.sk = x.sk
), pairs_11 AS (
  SELECT
    HASH(l.sk, r.sk) AS pid,
    l.sk AS msk,
    r.sk AS osk,
    l.kh,
    l.t,
    l.v AS mv,
    r.v AS ov
  FROM kp_m_9 AS l
  JOIN kp_o_10 AS r
    ON r.kh = l.kh AND r.t = l.t
), pair_series_12 AS (
  SELECT
    pid,
    HASH(labels) AS sk,
    labels
  FROM (
    SELECT
      p.pid,
      MAP_FROM_ENTRIES(
        LIST_FILTER(
          MAP_ENTRIES(
            MAP_FROM_ENTRIES(
              LIST_FILTER(
                MAP_ENTRIES(CASE WHEN p.msk IS NULL THEN os.key ELSE ms.labels END),
                LAMBDA e : NOT ARRAY_CONTAINS(CAST(['__name__', '__type__', '__unit__'] AS TEXT[]), e.key)
              )
            )
          ),
          LAMBDA e : NOT ARRAY_CONTAINS(CAST([] AS TEXT[]), e.key)
        )
      ) AS labels
    FROM (
      SELECT DISTINCT
        pid,
        msk,
        osk
      FROM pairs_11
    ) AS p
    LEFT JOIN sig_m_7 AS ms
      ON ms.sk = p.msk
    LEFT JOIN sig_o_8 AS os
      ON os.sk = p.osk
  )
), series_13 AS (
  SELECT DISTINCT
    sk,
    labels,
    FALSE AS drop_name
  FROM pair_series_12
), binop_14 AS (
  SELECT
    ps.sk,
    p.t,
    ATAN2(p.mv, p.ov) AS v
  FROM pairs_11 AS p
  JOIN pair_series_12 AS ps
    ON ps.pid = p.pid
)
SELECT
  *,
  DENSE_RANK() OVER (ORDER BY labels) - 1 AS series
FROM (
  SELECT
    CASE
      WHEN s.drop_name
      THEN MAP_FROM_ENTRIES(
        LIST_FILTER(
          MAP_ENTRIES(s.labels),
          LAMBDA e : NOT ARRAY_CONTAINS(CAST(['__name__', '__type__', '__unit__'] AS TEXT[]), e.key)
        )
      )
      ELSE s.labels
    END AS labels,
    x.t AS t,
    CAST(x.v AS DOUBLE) AS v
  FROM binop_14 AS x
  JOIN series_13 AS s
    ON s.sk = x.sk
)
ORDER BY
  labels NULLS FIRST,
  t NULLS FIRST
