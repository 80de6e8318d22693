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
), groups_5 AS (
  SELECT
    sk,
    MAP_FROM_ENTRIES(LIST_FILTER(MAP_ENTRIES(labels), LAMBDA e : ARRAY_CONTAINS(['job'], e.key))) AS glabels,
    HASH(
      MAP_FROM_ENTRIES(LIST_FILTER(MAP_ENTRIES(labels), LAMBDA e : ARRAY_CONTAINS(['job'], e.key)))
    ) AS gk,
    drop_name AS dn,
    0 AS ord
  FROM series_0
), lit_6 AS (
  SELECT
    t,
    CAST(0.9 AS DOUBLE) AS v
  FROM steps_2
), quantile_7 AS (
  SELECT
    sk,
    t,
    CASE
      WHEN ISNAN(q)
      THEN CAST('nan' AS DOUBLE)
      WHEN q < 0
      THEN CAST('-inf' AS DOUBLE)
      WHEN q > 1
      THEN CAST('inf' AS DOUBLE)
      ELSE vs[lo + 1] * (
        1 - w
      ) + vs[LEAST(LENGTH(vs) - 1, lo + 1) + 1] * w
    END AS v,
    dn
  FROM (
    SELECT
      *,
      CASE WHEN q BETWEEN 0 AND 1 THEN CAST(GREATEST(0, FLOOR(rank)) AS BIGINT) END AS lo,
      rank - FLOOR(rank) AS w
    FROM (
      SELECT
        l.sk,
        l.t,
        l.vs,
        l.dn,
        q.v AS q,
        q.v * (
          LENGTH(l.vs) - 1
        ) AS rank
      FROM (
        SELECT
          g.gk AS sk,
          x.t,
          ARRAY_AGG(x.v ORDER BY NOT ISNAN(x.v), x.v) AS vs,
          BOOL_OR(CAST(g.dn AS BOOLEAN)) AS dn
        FROM instant_4 AS x
        JOIN groups_5 AS g
          ON g.sk = x.sk
        GROUP BY
          g.gk,
          x.t
      ) AS l
      JOIN lit_6 AS q
        ON q.t = l.t
    )
  )
), series_8 AS (
  SELECT DISTINCT
    gk AS sk,
    glabels AS labels,
    FALSE AS drop_name
  FROM groups_5
), agg_9 AS (
  SELECT
    sk,
    t,
    v
  FROM quantile_7
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
  FROM agg_9 AS x
  JOIN series_8 AS s
    ON s.sk = x.sk
)
ORDER BY
  labels NULLS FIRST,
  t NULLS FIRST
