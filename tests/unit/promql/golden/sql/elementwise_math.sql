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
), ln_5 AS (
  SELECT
    *
  FROM (
    SELECT
      sk,
      t,
      CASE
        WHEN v < 0
        THEN CAST('nan' AS DOUBLE)
        WHEN v = 0
        THEN CAST('-inf' AS DOUBLE)
        ELSE LN(v)
      END AS v
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
), abs_7 AS (
  SELECT
    *
  FROM (
    SELECT
      sk,
      t,
      ABS(v) AS v
    FROM (
      SELECT
        x.sk,
        x.t,
        x.v,
        x.t AS ts
      FROM ln_5 AS x
    )
  )
  WHERE
    NOT v IS NULL
), series_8 AS (
  SELECT
    sk,
    labels,
    TRUE AS drop_name
  FROM series_6
), lit_9 AS (
  SELECT
    t,
    CAST(0.0 AS DOUBLE) AS v
  FROM steps_2
), lit_10 AS (
  SELECT
    t,
    CAST(10.0 AS DOUBLE) AS v
  FROM steps_2
), clamp_11 AS (
  SELECT
    *
  FROM (
    SELECT
      sk,
      t,
      CASE
        WHEN NOT ISNAN(p0) AND NOT ISNAN(p1) AND p1 < p0
        THEN NULL
        ELSE CASE
          WHEN p0 = CAST('inf' AS DOUBLE)
          OR CASE
            WHEN p1 = CAST('-inf' AS DOUBLE) OR v = CAST('-inf' AS DOUBLE)
            THEN CAST('-inf' AS DOUBLE)
            WHEN ISNAN(p1) OR ISNAN(v)
            THEN CAST('nan' AS DOUBLE)
            ELSE LEAST(p1, v)
          END = CAST('inf' AS DOUBLE)
          THEN CAST('inf' AS DOUBLE)
          WHEN ISNAN(p0)
          OR ISNAN(
            CASE
              WHEN p1 = CAST('-inf' AS DOUBLE) OR v = CAST('-inf' AS DOUBLE)
              THEN CAST('-inf' AS DOUBLE)
              WHEN ISNAN(p1) OR ISNAN(v)
              THEN CAST('nan' AS DOUBLE)
              ELSE LEAST(p1, v)
            END
          )
          THEN CAST('nan' AS DOUBLE)
          ELSE GREATEST(
            p0,
            CASE
              WHEN p1 = CAST('-inf' AS DOUBLE) OR v = CAST('-inf' AS DOUBLE)
              THEN CAST('-inf' AS DOUBLE)
              WHEN ISNAN(p1) OR ISNAN(v)
              THEN CAST('nan' AS DOUBLE)
              ELSE LEAST(p1, v)
            END
          )
        END
      END AS v
    FROM (
      SELECT
        x.sk,
        x.t,
        x.v,
        x.t AS ts,
        p0.v AS p0,
        p1.v AS p1
      FROM abs_7 AS x
      JOIN lit_9 AS p0
        ON p0.t = x.t
      JOIN lit_10 AS p1
        ON p1.t = x.t
    )
  )
  WHERE
    NOT v IS NULL
), series_12 AS (
  SELECT
    sk,
    labels,
    TRUE AS drop_name
  FROM series_8
), lit_13 AS (
  SELECT
    t,
    CAST(0.1 AS DOUBLE) AS v
  FROM steps_2
), round_14 AS (
  SELECT
    *
  FROM (
    SELECT
      sk,
      t,
      FLOOR(v * (
        1 / COALESCE(p0, 1.0)
      ) + 0.5) / (
        1 / COALESCE(p0, 1.0)
      ) AS v
    FROM (
      SELECT
        x.sk,
        x.t,
        x.v,
        x.t AS ts,
        p0.v AS p0
      FROM clamp_11 AS x
      JOIN lit_13 AS p0
        ON p0.t = x.t
    )
  )
  WHERE
    NOT v IS NULL
), series_15 AS (
  SELECT
    sk,
    labels,
    TRUE AS drop_name
  FROM series_12
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
  FROM round_14 AS x
  JOIN series_15 AS s
    ON s.sk = x.sk
)
ORDER BY
  labels NULLS FIRST,
  t NULLS FIRST
