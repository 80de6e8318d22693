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
      COALESCE(ANY_VALUE(labels)['__name__'], '') = 'up'
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
    x.ts BETWEEN 900001 AND 1800000 AND x.sk IN (
      SELECT
        sk
      FROM series_0
    )
), steps_2 AS (
  SELECT
    range AS t
  FROM RANGE(1200000, 1800001, 60000)
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
), scalar_9 AS (
  SELECT
    s.t,
    CASE WHEN COUNT(p.v) = 1 THEN ANY_VALUE(p.v) ELSE CAST('nan' AS DOUBLE) END AS v
  FROM steps_2 AS s
  LEFT JOIN agg_8 AS p
    ON p.t = s.t
  GROUP BY
    s.t
), series_10 AS (
  SELECT
    CAST(0 AS BIGINT) AS sk,
    CAST(MAP() AS MAP(TEXT, TEXT)) AS labels,
    FALSE AS drop_name
), vector_11 AS (
  SELECT
    CAST(0 AS BIGINT) AS sk,
    t,
    v
  FROM scalar_9
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
  FROM vector_11 AS x
  JOIN series_10 AS s
    ON s.sk = x.sk
)
ORDER BY
  labels NULLS FIRST,
  t NULLS FIRST
