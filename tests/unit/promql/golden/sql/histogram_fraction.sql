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
      COALESCE(ANY_VALUE(labels)['__name__'], '') = 'http_request_duration_seconds_bucket'
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
), le_14 AS (
  SELECT
    sk,
    CASE
      WHEN REGEXP_FULL_MATCH(
        COALESCE(labels['le'], ''),
        '(?i)[+-]?(inf|infinity)|nan|[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?'
      )
      AND NOT (
        ISINF(TRY_CAST(COALESCE(labels['le'], '') AS DOUBLE))
        AND NOT REGEXP_FULL_MATCH(COALESCE(labels['le'], ''), '(?i).*inf.*')
      )
      THEN TRY_CAST(COALESCE(labels['le'], '') AS DOUBLE)
    END AS ub,
    COALESCE(labels['le'], '') AS le,
    COALESCE(labels['__name__'], '') AS name,
    MAP_FROM_ENTRIES(LIST_FILTER(MAP_ENTRIES(labels), LAMBDA e : e.key <> 'le')) AS glabels
  FROM series_7
), buckets_15 AS (
  SELECT
    *,
    LAG(env) OVER (PARTITION BY gk, t ORDER BY ub) AS penv,
    LAST_VALUE(env) OVER (
      PARTITION BY gk, t
      ORDER BY ub
      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
    ) AS total
  FROM (
    SELECT
      *,
      CASE
        WHEN ISNAN(c)
        THEN c
        ELSE MAX(CASE WHEN ISNAN(c) THEN NULL ELSE c END) OVER (
          PARTITION BY gk, t, seg
          ORDER BY ub
          ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        )
      END AS env
    FROM (
      SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY gk, t ORDER BY ub) AS rn,
        COUNT(*) OVER (PARTITION BY gk, t) AS n,
        MAX(ub) OVER (PARTITION BY gk, t) AS top,
        LAG(ub) OVER (PARTITION BY gk, t ORDER BY ub) AS pub,
        LAG(c) OVER (PARTITION BY gk, t ORDER BY ub) AS pc,
        SUM(CASE WHEN ISNAN(c) THEN 1 ELSE 0 END) OVER (PARTITION BY gk, t ORDER BY ub ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS seg
      FROM (
        SELECT
          HASH(s.glabels) AS gk,
          x.t,
          s.ub,
          SUM(x.v) AS c
        FROM rate_6 AS x
        JOIN le_14 AS s
          ON s.sk = x.sk
        WHERE
          NOT s.ub IS NULL
        GROUP BY
          HASH(s.glabels),
          x.t,
          s.ub
      )
    )
  )
), hgroups_16 AS (
  SELECT DISTINCT
    HASH(glabels) AS gk,
    glabels,
    name
  FROM le_14
  WHERE
    NOT ub IS NULL
), lit_17 AS (
  SELECT
    t,
    CAST(0.0 AS DOUBLE) AS v
  FROM steps_2
), lit_18 AS (
  SELECT
    t,
    CAST(0.5 AS DOUBLE) AS v
  FROM steps_2
), hfraction_19 AS (
  SELECT
    gk AS sk,
    t,
    CASE
      WHEN ISNAN(top) OR top <> CAST('inf' AS DOUBLE)
      THEN CAST('nan' AS DOUBLE)
      WHEN cnt = 0 OR ISNAN(lower) OR ISNAN(upper)
      THEN CAST('nan' AS DOUBLE)
      WHEN lower >= upper
      THEN 0.0
      ELSE (
        (
          CASE
            WHEN ur IS NULL OR (
              NOT ISNAN(ur) AND NOT ISNAN(cnt) AND ur > cnt
            )
            THEN cnt
            ELSE ur
          END
        ) - (
          CASE
            WHEN lr IS NULL OR (
              NOT ISNAN(lr) AND NOT ISNAN(cnt) AND lr > cnt
            )
            THEN cnt
            ELSE lr
          END
        )
      ) / cnt
    END AS v
  FROM (
    SELECT
      gk,
      t,
      ANY_VALUE(lower) AS lower,
      ANY_VALUE(upper) AS upper,
      ANY_VALUE(top) AS top,
      MAX(c) FILTER(WHERE
        rn = n) AS cnt,
      ARG_MIN(
        CASE
          WHEN lb >= lower
          THEN r0
          WHEN lb = CAST('-inf' AS DOUBLE)
          THEN c
          ELSE r0 + (
            c - r0
          ) * (
            lower - lb
          ) / (
            ub - lb
          )
        END,
        rn
      ) FILTER(WHERE
        (
          lb >= lower OR (
            lb < lower AND ub > lower
          )
        )) AS lr,
      ARG_MIN(
        CASE
          WHEN lb >= upper
          THEN r0
          WHEN lb = CAST('-inf' AS DOUBLE)
          THEN c
          ELSE r0 + (
            c - r0
          ) * (
            upper - lb
          ) / (
            ub - lb
          )
        END,
        rn
      ) FILTER(WHERE
        (
          lb >= upper OR (
            lb < upper AND ub > upper
          )
        )) AS ur
    FROM (
      SELECT
        b.*,
        lo.v AS lower,
        hi.v AS upper,
        CASE
          WHEN b.rn = 1
          THEN (
            CASE WHEN b.ub > 0 THEN 0.0 ELSE CAST('-inf' AS DOUBLE) END
          )
          ELSE b.pub
        END AS lb,
        CASE WHEN b.rn = 1 THEN 0.0 ELSE b.pc END AS r0
      FROM buckets_15 AS b
      JOIN lit_17 AS lo
        ON lo.t = b.t
      JOIN lit_18 AS hi
        ON hi.t = b.t
    )
    GROUP BY
      gk,
      t
  )
), series_20 AS (
  SELECT
    gk AS sk,
    glabels AS labels,
    TRUE AS drop_name
  FROM hgroups_16
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
  FROM hfraction_19 AS x
  JOIN series_20 AS s
    ON s.sk = x.sk
)
ORDER BY
  labels NULLS FIRST,
  t NULLS FIRST
