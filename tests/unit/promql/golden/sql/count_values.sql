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
    MAP_FROM_ENTRIES(LIST_FILTER(MAP_ENTRIES(labels), LAMBDA e : ARRAY_CONTAINS([], e.key))) AS glabels,
    HASH(
      MAP_FROM_ENTRIES(LIST_FILTER(MAP_ENTRIES(labels), LAMBDA e : ARRAY_CONTAINS([], e.key)))
    ) AS gk,
    drop_name AS dn,
    0 AS ord
  FROM series_0
), count_values_6 AS (
  SELECT
    g.gk,
    CASE
      WHEN ISNAN(x.v)
      THEN 'NaN'
      WHEN x.v = CAST('inf' AS DOUBLE)
      THEN '+Inf'
      WHEN x.v = CAST('-inf' AS DOUBLE)
      THEN '-Inf'
      WHEN x.v = 0
      THEN CASE WHEN SIGNBIT(x.v) THEN '-0' ELSE '0' END
      ELSE LIST_TRANSFORM(
        LIST_TRANSFORM(
          LIST_TRANSFORM(
            [
              REGEXP_EXTRACT(
                CAST(x.v AS TEXT),
                '^(-?)([0-9]+)(?:\.([0-9]*))?(?:e([-+][0-9]+))?$',
                ['sgn', 'ip', 'fp', 'ex']
              )
            ],
            LAMBDA m : {'sgn': m.sgn, 'raw': m.ip || RTRIM(m.fp, '0'), 'pt': LENGTH(m.ip) + COALESCE(TRY_CAST(m.ex AS INT), 0)}
          ),
          LAMBDA r : {'sgn': r.sgn, 'd': RTRIM(LTRIM(r.raw, '0'), '0'), 'pt': r.pt - (
            LENGTH(r.raw) - LENGTH(LTRIM(r.raw, '0'))
          )}
        ),
        LAMBDA r : r.sgn || CASE
          WHEN r.pt <= 0
          THEN '0.' || REPEAT('0', -r.pt) || r.d
          WHEN r.pt >= LENGTH(r.d)
          THEN r.d || REPEAT('0', r.pt - LENGTH(r.d))
          ELSE r.d[1:r.pt] || '.' || r.d[r.pt + 1:]
        END
      )[1]
    END AS value,
    x.t,
    CAST(COUNT(*) AS DOUBLE) AS v
  FROM instant_4 AS x
  JOIN groups_5 AS g
    ON g.sk = x.sk
  GROUP BY
    g.gk,
    value,
    x.t
), cv_labels_7 AS (
  SELECT
    k.gk,
    k.value,
    MAP_FROM_ENTRIES(
      LIST_SORT(
        LIST_CONCAT(
          LIST_FILTER(MAP_ENTRIES(gl.glabels), LAMBDA e : e.key <> 'value'),
          [{'key': 'value', 'value': k.value}]
        )
      )
    ) AS labels
  FROM (
    SELECT DISTINCT
      gk,
      value
    FROM count_values_6
  ) AS k
  JOIN (
    SELECT DISTINCT
      gk,
      glabels
    FROM groups_5
  ) AS gl
    ON gl.gk = k.gk
), series_8 AS (
  SELECT DISTINCT
    HASH(labels) AS sk,
    labels,
    FALSE AS drop_name
  FROM cv_labels_7
), count_values_9 AS (
  SELECT
    HASH(l.labels) AS sk,
    k.t,
    SUM(k.v) AS v
  FROM count_values_6 AS k
  JOIN cv_labels_7 AS l
    ON l.gk = k.gk AND l.value = k.value
  GROUP BY
    HASH(l.labels),
    k.t
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
  FROM count_values_9 AS x
  JOIN series_8 AS s
    ON s.sk = x.sk
)
ORDER BY
  labels NULLS FIRST,
  t NULLS FIRST
