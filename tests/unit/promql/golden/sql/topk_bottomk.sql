WITH steps_0 AS (
  SELECT
    range AS t
  FROM RANGE(1800000, 1800001, 1)
), lit_1 AS (
  SELECT
    t,
    CAST(2.0 AS DOUBLE) AS v
  FROM steps_0
), series_2 AS (
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
      COALESCE(ANY_VALUE(labels)['__name__'], '') = 'http_requests_total'
  )
), samples_3 AS (
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
      FROM series_2
    )
), grid_4 AS (
  SELECT
    s.sk,
    st.t,
    st.t - 0 AS te
  FROM series_2 AS s
  CROSS JOIN steps_0 AS st
), instant_5 AS (
  SELECT
    g.sk,
    g.t,
    x.v,
    x.ts
  FROM grid_4 AS g
  ASOF JOIN samples_3 AS x
    ON g.sk = x.sk AND x.ts <= g.te
  WHERE
    x.ts > g.te - 300000 AND NOT x.stale
), groups_6 AS (
  SELECT
    sk,
    MAP_FROM_ENTRIES(LIST_FILTER(MAP_ENTRIES(labels), LAMBDA e : ARRAY_CONTAINS([], e.key))) AS glabels,
    HASH(
      MAP_FROM_ENTRIES(LIST_FILTER(MAP_ENTRIES(labels), LAMBDA e : ARRAY_CONTAINS([], e.key)))
    ) AS gk,
    drop_name AS dn,
    ROW_NUMBER() OVER (ORDER BY MAP_ENTRIES(labels)) AS ord
  FROM series_2
), topk_7 AS (
  SELECT
    sk,
    t,
    v
  FROM (
    SELECT
      x.sk,
      x.t,
      x.v,
      TRUNC(k.v) AS k,
      ROW_NUMBER() OVER (PARTITION BY g.gk, x.t ORDER BY ISNAN(x.v), x.v DESC, g.ord) AS rn
    FROM instant_5 AS x
    JOIN groups_6 AS g
      ON g.sk = x.sk
    JOIN lit_1 AS k
      ON k.t = x.t
    WHERE
      k.v >= 1
  )
  WHERE
    rn <= k
), lit_8 AS (
  SELECT
    t,
    CAST(1.0 AS DOUBLE) AS v
  FROM steps_0
), groups_9 AS (
  SELECT
    sk,
    MAP_FROM_ENTRIES(LIST_FILTER(MAP_ENTRIES(labels), LAMBDA e : ARRAY_CONTAINS(['job'], e.key))) AS glabels,
    HASH(
      MAP_FROM_ENTRIES(LIST_FILTER(MAP_ENTRIES(labels), LAMBDA e : ARRAY_CONTAINS(['job'], e.key)))
    ) AS gk,
    drop_name AS dn,
    ROW_NUMBER() OVER (ORDER BY MAP_ENTRIES(labels)) AS ord
  FROM series_2
), bottomk_10 AS (
  SELECT
    sk,
    t,
    v
  FROM (
    SELECT
      x.sk,
      x.t,
      x.v,
      TRUNC(k.v) AS k,
      ROW_NUMBER() OVER (PARTITION BY g.gk, x.t ORDER BY ISNAN(x.v), x.v ASC, g.ord) AS rn
    FROM instant_5 AS x
    JOIN groups_9 AS g
      ON g.sk = x.sk
    JOIN lit_8 AS k
      ON k.t = x.t
    WHERE
      k.v >= 1
  )
  WHERE
    rn <= k
), sig_l_11 AS (
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
    FROM series_2
  )
), kp_l_12 AS (
  SELECT
    x.sk,
    x.t,
    x.v,
    s.kh
  FROM topk_7 AS x
  JOIN sig_l_11 AS s
    ON s.sk = x.sk
), sig_r_13 AS (
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
    FROM series_2
  )
), kp_r_14 AS (
  SELECT
    x.sk,
    x.t,
    x.v,
    s.kh
  FROM bottomk_10 AS x
  JOIN sig_r_13 AS s
    ON s.sk = x.sk
), rekey_l_15 AS (
  SELECT
    HASH(labels) AS sk,
    sk AS old,
    labels,
    drop_name
  FROM series_2
), rekey_r_16 AS (
  SELECT
    HASH(labels) AS sk,
    sk AS old,
    labels,
    drop_name
  FROM series_2
), or_17 AS (
  SELECT
    s.sk,
    l.t,
    l.v
  FROM kp_l_12 AS l
  JOIN rekey_l_15 AS s
    ON s.old = l.sk
  UNION ALL
  SELECT
    s.sk,
    r.t,
    r.v
  FROM kp_r_14 AS r
  JOIN rekey_r_16 AS s
    ON s.old = r.sk
  WHERE
    NOT EXISTS(
      SELECT
        1
      FROM kp_l_12 AS l
      WHERE
        l.kh = r.kh AND l.t = r.t
    )
), series_18 AS (
  SELECT
    sk,
    ANY_VALUE(labels) AS labels,
    ARG_MIN(drop_name, side) AS drop_name
  FROM (
    SELECT
      sk,
      labels,
      drop_name,
      0 AS side
    FROM rekey_l_15
    UNION ALL
    SELECT
      sk,
      labels,
      drop_name,
      1 AS side
    FROM rekey_r_16
  )
  GROUP BY
    sk
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
  FROM or_17 AS x
  JOIN series_18 AS s
    ON s.sk = x.sk
)
ORDER BY
  ISNAN(v) NULLS FIRST,
  v NULLS FIRST,
  labels NULLS FIRST
