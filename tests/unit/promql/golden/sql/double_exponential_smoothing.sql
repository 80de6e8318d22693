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
), marked_4 AS (
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
    t
  FROM grid_3
), win_5 AS (
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
      ARRAY_AGG(v) FILTER(WHERE
        NOT v IS NULL) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 599999 PRECEDING AND CURRENT ROW) AS l
    FROM marked_4
  )
  WHERE
    NOT t IS NULL AND n >= 2
), double_exponential_smoothing_6 AS (
  SELECT
    *
  FROM (
    SELECT
      sk,
      t,
      (
        LIST_REDUCE(
          l[3:],
          LAMBDA acc, x : {'s0': acc.s1, 's1': 0.5 * x + (
            1 - 0.5
          ) * (
            acc.s1 + (
              0.5 * (
                acc.s1 - acc.s0
              ) + (
                1 - 0.5
              ) * acc.b
            )
          ), 'b': 0.5 * (
            acc.s1 - acc.s0
          ) + (
            1 - 0.5
          ) * acc.b},
          {'s0': l[1], 's1': 0.5 * l[2] + (
            1 - 0.5
          ) * (
            l[1] + (
              l[2] - l[1]
            )
          ), 'b': l[2] - l[1]}
        ).s1
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
  FROM double_exponential_smoothing_6 AS x
  JOIN series_7 AS s
    ON s.sk = x.sk
)
ORDER BY
  labels NULLS FIRST,
  t NULLS FIRST
