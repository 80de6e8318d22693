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
    FROM (
      WITH u AS (
        SELECT
          series_id,
          ts,
          value,
          stale,
          CAST(PARSE_FILENAME(filename)[1:12] AS BIGINT) AS seq
        FROM READ_PARQUET('<lake>/samples/*/*.parquet', filename => TRUE)
      )
      SELECT
        s.series_id,
        s.ts,
        s.value,
        s.stale
      FROM u AS s
      ANTI JOIN u AS o
        ON o.series_id = s.series_id AND o.ts = s.ts AND o.seq > s.seq
    )
  ) AS x
  WHERE
    (
      x.ts BETWEEN 1500001 AND 1800000 AND x.sk IN (
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
          ts + 300000 - 1 - 1800000
        ) / 1.0) AS BIGINT), 0) + 1
      )
    ) AS k
  FROM (
    SELECT
      *,
      CASE WHEN (
        NOT ISNAN(v) AND NOT ISNAN(pv) AND v < pv
      ) THEN pv ELSE 0 END AS dropv
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
  )
), win_5 AS (
  SELECT
    *,
    300000 AS rng,
    0 AS lb
  FROM (
    SELECT
      sk,
      1800000 + k * 1 AS t,
      1800000 + k * 1 AS te,
      COUNT(v) AS n,
      MIN(ts) FILTER(WHERE
        NOT v IS NULL) AS fts,
      MAX(ts) FILTER(WHERE
        NOT v IS NULL) AS lts,
      ARG_MIN(v, ts) AS fv,
      ARG_MAX(v, ts) AS lv,
      SUM(dropv) AS drops,
      ARG_MIN(dropv, ts) AS drop0
    FROM copies_4
    GROUP BY
      sk,
      k
  )
  WHERE
    NOT t IS NULL AND n >= 2
), rate_6 AS (
  SELECT
    *
  FROM (
    SELECT
      sk,
      t,
      (
        (
          lv - fv + (
            drops - drop0
          )
        ) * factor / (
          rng / 1000.0
        )
      ) AS v
    FROM (
      SELECT
        *,
        CASE WHEN sampled <> 0 THEN (
          sampled + ds + de
        ) / sampled ELSE 1.0 END AS factor
      FROM (
        SELECT
          *,
          CASE WHEN de0 >= avgdur * 1.1 THEN avgdur / 2 ELSE de0 END AS de
        FROM (
          SELECT
            *,
            LEAST(
              CASE WHEN ds0 >= avgdur * 1.1 THEN avgdur / 2 ELSE ds0 END,
              CASE
                WHEN (
                  lv - fv + (
                    drops - drop0
                  )
                ) > 0 AND fv >= 0
                THEN sampled * (
                  fv / (
                    lv - fv + (
                      drops - drop0
                    )
                  )
                )
                ELSE CAST('inf' AS DOUBLE)
              END
            ) AS ds
          FROM (
            SELECT
              *,
              (
                te - lts
              ) / 1000.0 AS de0
            FROM (
              SELECT
                *,
                (
                  fts - (
                    te - rng
                  )
                ) / 1000.0 AS ds0
              FROM (
                SELECT
                  *,
                  sampled / (
                    n - 1
                  ) AS avgdur
                FROM (
                  SELECT
                    *,
                    (
                      lts - fts
                    ) / 1000.0 AS sampled
                  FROM (
                    SELECT
                      *
                    FROM win_5
                  )
                )
              )
            )
          )
        )
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
), noncounter_8 AS (
  SELECT
    sk,
    labels
  FROM series_0
  WHERE
    labels['__name__'] <> ''
    AND NOT LIST_BOOL_OR(
      LIST_TRANSFORM(
        ['_total', '_sum', '_count', '_bucket'],
        LAMBDA x : ENDS_WITH(labels['__name__'], x)
      )
    )
), samples_9 AS (
  SELECT
    *
  FROM samples_1
  WHERE
    sk IN (
      SELECT
        sk
      FROM noncounter_8
    )
), grid_10 AS (
  SELECT
    *
  FROM grid_3
  WHERE
    sk IN (
      SELECT
        sk
      FROM noncounter_8
    )
), copies_11 AS (
  SELECT
    *,
    UNNEST(
      RANGE(
        GREATEST(CAST(CEIL((
          ts - 1800000
        ) / 1.0) AS BIGINT), 0),
        LEAST(CAST(FLOOR((
          ts + 300000 - 1 - 1800000
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
    300000 AS rng,
    0 AS lb
  FROM (
    SELECT
      sk,
      1800000 + k * 1 AS t,
      1800000 + k * 1 AS te,
      COUNT(v) AS n
    FROM copies_11
    GROUP BY
      sk,
      k
  )
  WHERE
    NOT t IS NULL AND n >= 2
), rate_13 AS (
  SELECT
    *
  FROM (
    SELECT
      sk,
      t,
      (
        1.0
      ) AS v
    FROM (
      SELECT
        *
      FROM win_12
    )
  )
  WHERE
    NOT v IS NULL
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
  FROM rate_6 AS x
  JOIN series_7 AS s
    ON s.sk = x.sk
)
ORDER BY
  labels NULLS FIRST,
  t NULLS FIRST
