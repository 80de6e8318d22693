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
      x.ts BETWEEN 1200001 AND 2100000 AND x.sk IN (
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
  UNION ALL
  SELECT
    sk,
    te AS ts,
    NULL AS v,
    NULL AS pv,
    NULL AS pts,
    NULL AS dropv,
    t
  FROM grid_3
), win_5 AS (
  SELECT
    *,
    300000 AS rng,
    300000 AS lb
  FROM (
    SELECT
      sk,
      t,
      ts AS te,
      COUNT(v) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 299999 PRECEDING AND CURRENT ROW) AS n,
      MIN(ts) FILTER(WHERE
        NOT v IS NULL) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 299999 PRECEDING AND CURRENT ROW) AS fts,
      MAX(ts) FILTER(WHERE
        NOT v IS NULL) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 299999 PRECEDING AND CURRENT ROW) AS lts,
      ARG_MIN(v, ts) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 299999 PRECEDING AND CURRENT ROW) AS fv,
      ARG_MAX(v, ts) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 299999 PRECEDING AND CURRENT ROW) AS lv,
      ARG_MIN(COALESCE(pts, -9223372036854775807), ts) FILTER(WHERE
        NOT v IS NULL) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 299999 PRECEDING AND CURRENT ROW) AS fpts,
      ARG_MIN(pv, ts) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 299999 PRECEDING AND CURRENT ROW) AS fpv,
      SUM(dropv) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 299999 PRECEDING AND CURRENT ROW) AS drops,
      ARG_MIN(dropv, ts) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 299999 PRECEDING AND CURRENT ROW) AS drop0,
      MIN(ts) FILTER(WHERE
        NOT v IS NULL) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 1 FOLLOWING AND 300000 FOLLOWING) AS bts,
      ARG_MIN(v, ts) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 1 FOLLOWING AND 300000 FOLLOWING) AS bv,
      ARG_MIN(COALESCE(pts, -9223372036854775807), ts) FILTER(WHERE
        NOT v IS NULL) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 1 FOLLOWING AND 300000 FOLLOWING) AS bpts,
      ARG_MIN(pv, ts) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 1 FOLLOWING AND 300000 FOLLOWING) AS bpv
    FROM marked_4
  )
  WHERE
    NOT t IS NULL AND n >= 0
), rate_6 AS (
  SELECT
    *
  FROM (
    SELECT
      sk,
      t,
      (
        CASE
          WHEN (
            has_a OR n > 0
          ) AND (
            n > 0 OR has_b
          )
          THEN (
            "right" - "left" + (
              CASE
                WHEN n = 0
                THEN CASE
                  WHEN (
                    NOT ISNAN("right") AND NOT ISNAN("left") AND "right" < "left"
                  )
                  THEN "left"
                  ELSE 0
                END
                ELSE CASE
                  WHEN (
                    NOT ISNAN(fv) AND NOT ISNAN("left") AND fv < "left"
                  )
                  THEN "left"
                  ELSE 0
                END + (
                  drops - drop0
                ) + CASE
                  WHEN (
                    NOT ISNAN("right") AND NOT ISNAN(lv) AND "right" < lv
                  )
                  THEN lv
                  ELSE 0
                END
              END
            )
          ) / (
            rng / 1000.0
          )
        END
      ) AS v
    FROM (
      SELECT
        *,
        CASE
          WHEN n > 0 AND lts = te
          THEN lv
          WHEN has_b
          THEN (
            (
              CASE WHEN (
                NOT ISNAN(bv) AND NOT ISNAN(bpv) AND bv < bpv
              ) THEN 0 ELSE bpv END
            ) + (
              bv - (
                CASE WHEN (
                  NOT ISNAN(bv) AND NOT ISNAN(bpv) AND bv < bpv
                ) THEN 0 ELSE bpv END
              )
            ) * (
              te - b_pts
            ) / (
              bts - b_pts
            )
          )
          WHEN n > 0
          THEN lv
          ELSE a_v
        END AS "right"
      FROM (
        SELECT
          *,
          CASE
            WHEN has_a AND a_ts < te - rng
            THEN (
              (
                CASE WHEN (
                  NOT ISNAN(s_v) AND NOT ISNAN(a_v) AND s_v < a_v
                ) THEN 0 ELSE a_v END
              ) + (
                s_v - (
                  CASE WHEN (
                    NOT ISNAN(s_v) AND NOT ISNAN(a_v) AND s_v < a_v
                  ) THEN 0 ELSE a_v END
                )
              ) * (
                te - rng - a_ts
              ) / (
                s_ts - a_ts
              )
            )
            WHEN has_a
            THEN a_v
            ELSE s_v
          END AS "left"
        FROM (
          SELECT
            *,
            CASE WHEN n > 0 THEN fv ELSE bv END AS s_v
          FROM (
            SELECT
              *,
              CASE WHEN n > 0 THEN fts ELSE bts END AS s_ts
            FROM (
              SELECT
                *,
                NOT bts IS NULL AS has_b
              FROM (
                SELECT
                  *,
                  COALESCE(a_ts > te - rng - lb, FALSE) AS has_a
                FROM (
                  SELECT
                    *,
                    CASE WHEN n > 0 THEN fpv ELSE bpv END AS a_v
                  FROM (
                    SELECT
                      *,
                      NULLIF(bpts, -9223372036854775807) AS b_pts
                    FROM (
                      SELECT
                        *,
                        NULLIF(CASE WHEN n > 0 THEN fpts ELSE bpts END, -9223372036854775807) AS a_ts
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
), marked_11 AS (
  SELECT
    *,
    CAST(NULL AS BIGINT) AS t
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
          FROM samples_9
        )
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
    NULL AS dropv,
    t
  FROM grid_10
), win_12 AS (
  SELECT
    *,
    300000 AS rng,
    300000 AS lb
  FROM (
    SELECT
      sk,
      t,
      ts AS te,
      COUNT(v) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 299999 PRECEDING AND CURRENT ROW) AS n,
      MIN(ts) FILTER(WHERE
        NOT v IS NULL) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 299999 PRECEDING AND CURRENT ROW) AS fts,
      MAX(ts) FILTER(WHERE
        NOT v IS NULL) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 299999 PRECEDING AND CURRENT ROW) AS lts,
      ARG_MIN(v, ts) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 299999 PRECEDING AND CURRENT ROW) AS fv,
      ARG_MAX(v, ts) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 299999 PRECEDING AND CURRENT ROW) AS lv,
      ARG_MIN(COALESCE(pts, -9223372036854775807), ts) FILTER(WHERE
        NOT v IS NULL) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 299999 PRECEDING AND CURRENT ROW) AS fpts,
      ARG_MIN(pv, ts) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 299999 PRECEDING AND CURRENT ROW) AS fpv,
      SUM(dropv) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 299999 PRECEDING AND CURRENT ROW) AS drops,
      ARG_MIN(dropv, ts) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 299999 PRECEDING AND CURRENT ROW) AS drop0,
      MIN(ts) FILTER(WHERE
        NOT v IS NULL) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 1 FOLLOWING AND 300000 FOLLOWING) AS bts,
      ARG_MIN(v, ts) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 1 FOLLOWING AND 300000 FOLLOWING) AS bv,
      ARG_MIN(COALESCE(pts, -9223372036854775807), ts) FILTER(WHERE
        NOT v IS NULL) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 1 FOLLOWING AND 300000 FOLLOWING) AS bpts,
      ARG_MIN(pv, ts) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 1 FOLLOWING AND 300000 FOLLOWING) AS bpv
    FROM marked_11
  )
  WHERE
    NOT t IS NULL AND n >= 0
), rate_13 AS (
  SELECT
    *
  FROM (
    SELECT
      sk,
      t,
      (
        CASE
          WHEN (
            has_a OR n > 0
          ) AND (
            n > 0 OR has_b
          )
          THEN (
            "right" - "left" + (
              CASE
                WHEN n = 0
                THEN CASE
                  WHEN (
                    NOT ISNAN("right") AND NOT ISNAN("left") AND "right" < "left"
                  )
                  THEN "left"
                  ELSE 0
                END
                ELSE CASE
                  WHEN (
                    NOT ISNAN(fv) AND NOT ISNAN("left") AND fv < "left"
                  )
                  THEN "left"
                  ELSE 0
                END + (
                  drops - drop0
                ) + CASE
                  WHEN (
                    NOT ISNAN("right") AND NOT ISNAN(lv) AND "right" < lv
                  )
                  THEN lv
                  ELSE 0
                END
              END
            )
          ) / (
            rng / 1000.0
          )
        END
      ) AS v
    FROM (
      SELECT
        *,
        CASE
          WHEN n > 0 AND lts = te
          THEN lv
          WHEN has_b
          THEN (
            (
              CASE WHEN (
                NOT ISNAN(bv) AND NOT ISNAN(bpv) AND bv < bpv
              ) THEN 0 ELSE bpv END
            ) + (
              bv - (
                CASE WHEN (
                  NOT ISNAN(bv) AND NOT ISNAN(bpv) AND bv < bpv
                ) THEN 0 ELSE bpv END
              )
            ) * (
              te - b_pts
            ) / (
              bts - b_pts
            )
          )
          WHEN n > 0
          THEN lv
          ELSE a_v
        END AS "right"
      FROM (
        SELECT
          *,
          CASE
            WHEN has_a AND a_ts < te - rng
            THEN (
              (
                CASE WHEN (
                  NOT ISNAN(s_v) AND NOT ISNAN(a_v) AND s_v < a_v
                ) THEN 0 ELSE a_v END
              ) + (
                s_v - (
                  CASE WHEN (
                    NOT ISNAN(s_v) AND NOT ISNAN(a_v) AND s_v < a_v
                  ) THEN 0 ELSE a_v END
                )
              ) * (
                te - rng - a_ts
              ) / (
                s_ts - a_ts
              )
            )
            WHEN has_a
            THEN a_v
            ELSE s_v
          END AS "left"
        FROM (
          SELECT
            *,
            CASE WHEN n > 0 THEN fv ELSE bv END AS s_v
          FROM (
            SELECT
              *,
              CASE WHEN n > 0 THEN fts ELSE bts END AS s_ts
            FROM (
              SELECT
                *,
                NOT bts IS NULL AS has_b
              FROM (
                SELECT
                  *,
                  COALESCE(a_ts > te - rng - lb, FALSE) AS has_a
                FROM (
                  SELECT
                    *,
                    CASE WHEN n > 0 THEN fpv ELSE bpv END AS a_v
                  FROM (
                    SELECT
                      *,
                      NULLIF(bpts, -9223372036854775807) AS b_pts
                    FROM (
                      SELECT
                        *,
                        NULLIF(CASE WHEN n > 0 THEN fpts ELSE bpts END, -9223372036854775807) AS a_ts
                      FROM (
                        SELECT
                          *
                        FROM win_12
                      )
                    )
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
