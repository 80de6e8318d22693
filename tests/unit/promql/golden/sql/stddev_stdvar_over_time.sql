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
    (
      x.ts BETWEEN 1200001 AND 1800000 AND x.sk IN (
        SELECT
          sk
        FROM series_0
      )
    )
    AND NOT x.stale
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
), copies_4 AS (
  SELECT
    *,
    UNNEST(
      RANGE(
        GREATEST(CAST(CEIL((
          ts - 1800000
        ) / 1.0) AS BIGINT), 0),
        LEAST(CAST(FLOOR((
          ts + 600000 - 1 - 1800000
        ) / 1.0) AS BIGINT), 0) + 1
      )
    ) AS k
  FROM (
    SELECT
      *
    FROM (
      (
        SELECT
          sk,
          ts,
          v,
          LAG(v) OVER (PARTITION BY sk ORDER BY ts) AS pv,
          LAG(ts) OVER (PARTITION BY sk ORDER BY ts) AS pts
        FROM samples_1
      )
    )
  )
), win_5 AS (
  SELECT
    *,
    600000 AS rng,
    0 AS lb
  FROM (
    SELECT
      sk,
      1800000 + k * 1 AS t,
      1800000 + k * 1 AS te,
      COUNT(v) AS n,
      STDDEV_POP(v) AS x,
      BOOL_AND(CAST(ISFINITE(v) AS BOOLEAN)) AS fin
    FROM copies_4
    GROUP BY
      sk,
      k
  )
  WHERE
    NOT t IS NULL AND n >= 1
), stddev_over_time_6 AS (
  SELECT
    *
  FROM (
    SELECT
      sk,
      t,
      (
        CASE WHEN fin THEN x ELSE CAST('nan' AS DOUBLE) END
      ) AS v
    FROM (
      SELECT
        *
      FROM win_5
    )
  )
  WHERE
    NOT v IS NULL
), series_7 AS (
  SELECT
    sk,
    labels,
    TRUE AS drop_name
  FROM series_0
), series_8 AS (
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
), samples_9 AS (
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
    (
      x.ts BETWEEN 1200001 AND 1800000 AND x.sk IN (
        SELECT
          sk
        FROM series_8
      )
    )
    AND NOT x.stale
), grid_10 AS (
  SELECT
    s.sk,
    st.t,
    st.t - 0 AS te
  FROM series_8 AS s
  CROSS JOIN steps_2 AS st
), copies_11 AS (
  SELECT
    *,
    UNNEST(
      RANGE(
        GREATEST(CAST(CEIL((
          ts - 1800000
        ) / 1.0) AS BIGINT), 0),
        LEAST(CAST(FLOOR((
          ts + 600000 - 1 - 1800000
        ) / 1.0) AS BIGINT), 0) + 1
      )
    ) AS k
  FROM (
    SELECT
      *
    FROM (
      (
        SELECT
          sk,
          ts,
          v,
          LAG(v) OVER (PARTITION BY sk ORDER BY ts) AS pv,
          LAG(ts) OVER (PARTITION BY sk ORDER BY ts) AS pts
        FROM samples_9
      )
    )
  )
), win_12 AS (
  SELECT
    *,
    600000 AS rng,
    0 AS lb
  FROM (
    SELECT
      sk,
      1800000 + k * 1 AS t,
      1800000 + k * 1 AS te,
      COUNT(v) AS n,
      VAR_POP(v) AS x,
      BOOL_AND(CAST(ISFINITE(v) AS BOOLEAN)) AS fin
    FROM copies_11
    GROUP BY
      sk,
      k
  )
  WHERE
    NOT t IS NULL AND n >= 1
), stdvar_over_time_13 AS (
  SELECT
    *
  FROM (
    SELECT
      sk,
      t,
      (
        CASE WHEN fin THEN x ELSE CAST('nan' AS DOUBLE) END
      ) AS v
    FROM (
      SELECT
        *
      FROM win_12
    )
  )
  WHERE
    NOT v IS NULL
), series_14 AS (
  SELECT
    sk,
    labels,
    TRUE AS drop_name
  FROM series_8
), sig_m_15 AS (
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
    FROM series_7
  )
), sig_o_16 AS (
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
    FROM series_14
  )
), kp_m_17 AS (
  SELECT
    x.sk,
    x.t,
    x.v,
    s.kh
  FROM stddev_over_time_6 AS x
  JOIN sig_m_15 AS s
    ON s.sk = x.sk
), kp_o_18 AS (
  SELECT
    x.sk,
    x.t,
    x.v,
    s.kh
  FROM stdvar_over_time_13 AS x
  JOIN sig_o_16 AS s
    ON s.sk = x.sk
), pairs_19 AS (
  SELECT
    HASH(l.sk, r.sk) AS pid,
    l.sk AS msk,
    r.sk AS osk,
    l.kh,
    l.t,
    l.v AS mv,
    r.v AS ov
  FROM kp_m_17 AS l
  JOIN kp_o_18 AS r
    ON r.kh = l.kh AND r.t = l.t
), pair_series_20 AS (
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
      FROM pairs_19
    ) AS p
    LEFT JOIN sig_m_15 AS ms
      ON ms.sk = p.msk
    LEFT JOIN sig_o_16 AS os
      ON os.sk = p.osk
  )
), series_21 AS (
  SELECT DISTINCT
    sk,
    labels,
    FALSE AS drop_name
  FROM pair_series_20
), binop_22 AS (
  SELECT
    ps.sk,
    p.t,
    p.mv + p.ov AS v
  FROM pairs_19 AS p
  JOIN pair_series_20 AS ps
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
  FROM binop_22 AS x
  JOIN series_21 AS s
    ON s.sk = x.sk
)
ORDER BY
  labels NULLS FIRST,
  t NULLS FIRST
