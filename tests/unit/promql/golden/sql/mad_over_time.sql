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
      ARRAY_AGG(v) FILTER(WHERE
        NOT v IS NULL) AS l,
      COUNT(v) FILTER(WHERE
        ISNAN(v)) AS nans
    FROM copies_4
    GROUP BY
      sk,
      k
  )
  WHERE
    NOT t IS NULL AND n >= 1
), mad_over_time_6 AS (
  SELECT
    *
  FROM (
    SELECT
      sk,
      t,
      (
        CASE
          WHEN nans > 0
          THEN CAST('nan' AS DOUBLE)
          ELSE LIST_MEDIAN(LIST_TRANSFORM(l, LAMBDA x : ABS(x - med)))
        END
      ) AS v
    FROM (
      SELECT
        *,
        LIST_MEDIAN(l) AS med
      FROM (
        SELECT
          *
        FROM win_5
      )
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
  FROM mad_over_time_6 AS x
  JOIN series_7 AS s
    ON s.sk = x.sk
)
ORDER BY
  labels NULLS FIRST,
  t NULLS FIRST
