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
      COALESCE(ANY_VALUE(labels)['__name__'], '') = 'http_requests_total'
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
    x.ts BETWEEN 300001 AND 1740000 AND x.sk IN (
      SELECT
        sk
      FROM series_0
    )
), steps_2 AS (
  SELECT
    range AS t
  FROM RANGE(600000, 1740001, 60000)
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
), groups_5 AS (
  SELECT
    sk,
    MAP_FROM_ENTRIES(LIST_FILTER(MAP_ENTRIES(labels), LAMBDA e : ARRAY_CONTAINS([], e.key))) AS glabels,
    HASH(
      MAP_FROM_ENTRIES(LIST_FILTER(MAP_ENTRIES(labels), LAMBDA e : ARRAY_CONTAINS([], e.key)))
    ) AS gk,
    drop_name AS dn,
    0 AS ord
  FROM series_0
), sum_6 AS (
  SELECT
    g.gk AS sk,
    x.t,
    FSUM(v) AS v,
    BOOL_OR(CAST(g.dn AS BOOLEAN)) AS dn
  FROM instant_4 AS x
  JOIN groups_5 AS g
    ON g.sk = x.sk
  GROUP BY
    g.gk,
    x.t
), series_7 AS (
  SELECT DISTINCT
    gk AS sk,
    glabels AS labels,
    FALSE AS drop_name
  FROM groups_5
), agg_8 AS (
  SELECT
    sk,
    t,
    v
  FROM sum_6
), subq_9 AS (
  SELECT
    sk,
    t AS ts,
    v
  FROM agg_8
), steps_10 AS (
  SELECT
    range AS t
  FROM RANGE(1200000, 1800001, 60000)
), grid_11 AS (
  SELECT
    s.sk,
    st.t,
    st.t - 60000 AS te
  FROM series_7 AS s
  CROSS JOIN steps_10 AS st
), marked_12 AS (
  SELECT
    *,
    CAST(NULL AS BIGINT) AS t
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
        FROM subq_9
      )
    )
  )
  UNION ALL
  SELECT
    sk,
    te AS ts,
    NULL AS v,
    NULL AS pv,
    NULL AS pts,
    t
  FROM grid_11
), win_13 AS (
  SELECT
    *,
    600000 AS rng,
    0 AS lb
  FROM (
    SELECT
      sk,
      t,
      ts AS te,
      COUNT(v) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 599999 PRECEDING AND CURRENT ROW) AS n,
      FSUM(v * 5.421010862427522e-20) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 599999 PRECEDING AND CURRENT ROW) AS s
    FROM marked_12
  )
  WHERE
    NOT t IS NULL AND n >= 1
), avg_over_time_14 AS (
  SELECT
    *
  FROM (
    SELECT
      sk,
      t,
      (
        s / n * 1.8446744073709552e19
      ) AS v
    FROM (
      SELECT
        *
      FROM win_13
    )
  )
  WHERE
    NOT v IS NULL
), series_15 AS (
  SELECT
    sk,
    labels,
    TRUE AS drop_name
  FROM series_7
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
  FROM avg_over_time_14 AS x
  JOIN series_15 AS s
    ON s.sk = x.sk
)
ORDER BY
  labels NULLS FIRST,
  t NULLS FIRST
