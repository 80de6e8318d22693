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
      x.ts BETWEEN 600001 AND 1800000 AND x.sk IN (
        SELECT
          sk
        FROM series_0
      )
    )
    AND NOT x.stale
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
), series_4 AS (
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
      COALESCE(ANY_VALUE(labels)['instance'], '') = 'a'
      AND COALESCE(ANY_VALUE(labels)['job'], '') = 'api'
      AND COALESCE(ANY_VALUE(labels)['__name__'], '') = 'up'
  )
), samples_5 AS (
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
      FROM series_4
    )
), grid_6 AS (
  SELECT
    s.sk,
    st.t,
    st.t - 0 AS te
  FROM series_4 AS s
  CROSS JOIN steps_2 AS st
), instant_7 AS (
  SELECT
    g.sk,
    g.t,
    x.v,
    x.ts
  FROM grid_6 AS g
  ASOF JOIN samples_5 AS x
    ON g.sk = x.sk AND x.ts <= g.te
  WHERE
    x.ts > g.te - 300000 AND NOT x.stale
), scalar_8 AS (
  SELECT
    s.t,
    CASE WHEN COUNT(p.v) = 1 THEN ANY_VALUE(p.v) ELSE CAST('nan' AS DOUBLE) END AS v
  FROM steps_2 AS s
  LEFT JOIN instant_7 AS p
    ON p.t = s.t
  GROUP BY
    s.t
), lit_9 AS (
  SELECT
    t,
    CAST(2.0 AS DOUBLE) AS v
  FROM steps_2
), binop_10 AS (
  SELECT
    l.t,
    l.v / r.v AS v
  FROM scalar_8 AS l
  JOIN lit_9 AS r
    ON l.t = r.t
), pgrid_11 AS (
  SELECT
    g.*,
    p0.v AS p0
  FROM grid_3 AS g
  LEFT JOIN binop_10 AS p0
    ON p0.t = g.t
), marked_12 AS (
  SELECT
    *,
    CAST(NULL AS BIGINT) AS t,
    CAST(NULL AS DOUBLE) AS p0
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
  UNION ALL
  SELECT
    sk,
    te AS ts,
    NULL AS v,
    NULL AS pv,
    NULL AS pts,
    t,
    p0
  FROM pgrid_11
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
      p0,
      COUNT(v) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 599999 PRECEDING AND CURRENT ROW) AS n,
      ARRAY_AGG(v) FILTER(WHERE
        NOT v IS NULL) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 599999 PRECEDING AND CURRENT ROW) AS l
    FROM marked_12
  )
  WHERE
    NOT t IS NULL AND n >= 1
), quantile_over_time_14 AS (
  SELECT
    *
  FROM (
    SELECT
      sk,
      t,
      (
        CASE
          WHEN ISNAN(p0)
          THEN CAST('nan' AS DOUBLE)
          WHEN p0 < 0
          THEN CAST('-inf' AS DOUBLE)
          WHEN p0 > 1
          THEN CAST('inf' AS DOUBLE)
          ELSE ls[lo + 1] * (
            1 - w
          ) + ls[hi + 1] * w
        END
      ) AS v
    FROM (
      SELECT
        *,
        rank - FLOOR(rank) AS w
      FROM (
        SELECT
          *,
          CAST(LEAST(n - 1, lo + 1) AS BIGINT) AS hi
        FROM (
          SELECT
            *,
            CAST(GREATEST(0, FLOOR(rank)) AS BIGINT) AS lo
          FROM (
            SELECT
              *,
              CASE WHEN p0 >= 0 AND p0 <= 1 THEN p0 * (
                n - 1
              ) ELSE 0 END AS rank
            FROM (
              SELECT
                *,
                LIST_CONCAT(
                  LIST_FILTER(l, LAMBDA x : ISNAN(x)),
                  LIST_SORT(LIST_FILTER(l, LAMBDA x : NOT ISNAN(x)))
                ) AS ls
              FROM (
                SELECT
                  *
                FROM win_13
              )
            )
          )
        )
      )
    )
  )
  WHERE
    NOT v IS NULL
), series_15 AS (
  SELECT
    sk,
    labels,
    TRUE AS drop_name
  FROM series_0
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
  FROM quantile_over_time_14 AS x
  JOIN series_15 AS s
    ON s.sk = x.sk
)
ORDER BY
  labels NULLS FIRST,
  t NULLS FIRST
