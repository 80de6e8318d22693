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
    (
      x.ts BETWEEN 1260001 AND 1800000 AND x.sk IN (
        SELECT
          sk
        FROM series_0
      )
    )
    AND NOT x.stale
), steps_2 AS (
  SELECT
    range AS t
  FROM RANGE(1560000, 1800001, 60000)
), grid_3 AS (
  SELECT
    s.sk,
    st.t,
    st.t - 0 AS te
  FROM series_0 AS s
  CROSS JOIN steps_2 AS st
), edges_4 AS (
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
          LAG(ts) OVER (PARTITION BY sk ORDER BY ts) AS pts,
          ROW_NUMBER() OVER (PARTITION BY sk ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS rn,
          LEAD(ts) OVER (PARTITION BY sk ORDER BY ts) AS nts
        FROM samples_1
      )
    )
  )
), lasts_5 AS (
  SELECT
    *,
    UNNEST(
      RANGE(
        GREATEST(CAST(CEIL((
          ts - 1560000
        ) / 60000.0) AS BIGINT), 0),
        LEAST(COALESCE(CAST(CEIL((
          nts - 1560000
        ) / 60000.0) AS BIGINT) - 1, 4), 4) + 1
      )
    ) AS k
  FROM edges_4
), firsts_6 AS (
  SELECT
    *,
    UNNEST(
      RANGE(
        GREATEST(COALESCE(CAST(CEIL((
          pts + 300000 - 1560000
        ) / 60000.0) AS BIGINT), 0), 0),
        LEAST(CAST(CEIL((
          ts + 300000 - 1560000
        ) / 60000.0) AS BIGINT) - 1, 4) + 1
      )
    ) AS k
  FROM edges_4
), edgewins_7 AS (
  SELECT
    l.sk,
    1560000 + l.k * 60000 AS t,
    1560000 + l.k * 60000 AS te,
    l.rn - f.rn + 1 AS n,
    f.ts AS fts,
    l.ts AS lts,
    f.v AS fv,
    l.v AS lv,
    f.dropv AS drops,
    f.dropv AS drop0,
    f.rn AS __frn,
    l.rn AS __lrn
  FROM lasts_5 AS l
  JOIN firsts_6 AS f
    ON l.sk = f.sk AND l.k = f.k
), resets_8 AS (
  SELECT
    w.sk,
    w.t,
    FSUM(r.dropv) AS corr
  FROM edgewins_7 AS w
  JOIN (
    SELECT
      sk,
      rn,
      dropv
    FROM edges_4
    WHERE
      dropv <> 0
  ) AS r
    ON r.sk = w.sk AND r.rn > w.__frn AND r.rn <= w.__lrn
  GROUP BY ALL
), win_9 AS (
  SELECT
    *,
    300000 AS rng,
    0 AS lb
  FROM (
    SELECT
      w.sk,
      w.t,
      w.te,
      w.n,
      w.fts,
      w.lts,
      w.fv,
      w.lv,
      w.drop0,
      w.drops + COALESCE(x.corr, 0) AS drops
    FROM edgewins_7 AS w
    LEFT JOIN resets_8 AS x
      ON x.sk = w.sk AND x.t = w.t
  )
  WHERE
    NOT t IS NULL AND n >= 2
), rate_10 AS (
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
                    FROM win_9
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
), series_11 AS (
  SELECT
    sk,
    labels,
    TRUE AS drop_name
  FROM series_0
), noncounter_12 AS (
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
), samples_13 AS (
  SELECT
    *
  FROM samples_1
  WHERE
    sk IN (
      SELECT
        sk
      FROM noncounter_12
    )
), grid_14 AS (
  SELECT
    *
  FROM grid_3
  WHERE
    sk IN (
      SELECT
        sk
      FROM noncounter_12
    )
), edges_15 AS (
  SELECT
    *
  FROM (
    (
      SELECT
        sk,
        ts,
        v,
        LAG(v) OVER (PARTITION BY sk ORDER BY ts) AS pv,
        LAG(ts) OVER (PARTITION BY sk ORDER BY ts) AS pts,
        ROW_NUMBER() OVER (PARTITION BY sk ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS rn,
        LEAD(ts) OVER (PARTITION BY sk ORDER BY ts) AS nts
      FROM samples_13
    )
  )
), lasts_16 AS (
  SELECT
    *,
    UNNEST(
      RANGE(
        GREATEST(CAST(CEIL((
          ts - 1560000
        ) / 60000.0) AS BIGINT), 0),
        LEAST(COALESCE(CAST(CEIL((
          nts - 1560000
        ) / 60000.0) AS BIGINT) - 1, 4), 4) + 1
      )
    ) AS k
  FROM edges_15
), firsts_17 AS (
  SELECT
    *,
    UNNEST(
      RANGE(
        GREATEST(COALESCE(CAST(CEIL((
          pts + 300000 - 1560000
        ) / 60000.0) AS BIGINT), 0), 0),
        LEAST(CAST(CEIL((
          ts + 300000 - 1560000
        ) / 60000.0) AS BIGINT) - 1, 4) + 1
      )
    ) AS k
  FROM edges_15
), win_18 AS (
  SELECT
    *,
    300000 AS rng,
    0 AS lb
  FROM (
    SELECT
      l.sk,
      1560000 + l.k * 60000 AS t,
      1560000 + l.k * 60000 AS te,
      l.rn - f.rn + 1 AS n
    FROM lasts_16 AS l
    JOIN firsts_17 AS f
      ON l.sk = f.sk AND l.k = f.k
  )
  WHERE
    NOT t IS NULL AND n >= 2
), rate_19 AS (
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
      FROM win_18
    )
  )
  WHERE
    NOT v IS NULL
), subq_20 AS (
  SELECT
    sk,
    t AS ts,
    v
  FROM rate_10
), steps_21 AS (
  SELECT
    range AS t
  FROM RANGE(1800000, 1800001, 1)
), grid_22 AS (
  SELECT
    s.sk,
    st.t,
    st.t - 0 AS te
  FROM series_11 AS s
  CROSS JOIN steps_21 AS st
), matrix_23 AS (
  SELECT
    g.sk,
    g.t,
    x.ts,
    x.v
  FROM grid_22 AS g
  JOIN subq_20 AS x
    ON g.sk = x.sk AND x.ts > g.te - 300000 AND x.ts <= g.te
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
    x.ts AS t,
    CAST(x.v AS DOUBLE) AS v
  FROM matrix_23 AS x
  JOIN series_11 AS s
    ON s.sk = x.sk
)
ORDER BY
  labels NULLS FIRST,
  t NULLS FIRST
