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
), series_5 AS (
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
), samples_6 AS (
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
      FROM series_5
    )
), grid_7 AS (
  SELECT
    s.sk,
    st.t,
    st.t - 0 AS te
  FROM series_5 AS s
  CROSS JOIN steps_2 AS st
), instant_8 AS (
  SELECT
    g.sk,
    g.t,
    x.v,
    x.ts
  FROM grid_7 AS g
  ASOF JOIN samples_6 AS x
    ON g.sk = x.sk AND x.ts <= g.te
  WHERE
    x.ts > g.te - 300000 AND NOT x.stale
), sig_l_9 AS (
  SELECT
    sk,
    labels,
    key,
    HASH(key) AS kh
  FROM (
    SELECT
      sk,
      labels,
      MAP_FROM_ENTRIES(
        LIST_FILTER(MAP_ENTRIES(labels), LAMBDA e : ARRAY_CONTAINS(CAST(['job'] AS TEXT[]), e.key))
      ) AS key
    FROM series_0
  )
), kp_l_10 AS (
  SELECT
    x.sk,
    x.t,
    x.v,
    s.kh
  FROM instant_4 AS x
  JOIN sig_l_9 AS s
    ON s.sk = x.sk
), sig_r_11 AS (
  SELECT
    sk,
    labels,
    key,
    HASH(key) AS kh
  FROM (
    SELECT
      sk,
      labels,
      MAP_FROM_ENTRIES(
        LIST_FILTER(MAP_ENTRIES(labels), LAMBDA e : ARRAY_CONTAINS(CAST(['job'] AS TEXT[]), e.key))
      ) AS key
    FROM series_5
  )
), kp_r_12 AS (
  SELECT
    x.sk,
    x.t,
    x.v,
    s.kh
  FROM instant_8 AS x
  JOIN sig_r_11 AS s
    ON s.sk = x.sk
), and_13 AS (
  SELECT
    l.sk,
    l.t,
    l.v
  FROM kp_l_10 AS l
  WHERE
    EXISTS(
      SELECT
        1
      FROM kp_r_12 AS r
      WHERE
        r.kh = l.kh AND r.t = l.t
    )
), series_14 AS (
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
), samples_15 AS (
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
      FROM series_14
    )
), grid_16 AS (
  SELECT
    s.sk,
    st.t,
    st.t - 0 AS te
  FROM series_14 AS s
  CROSS JOIN steps_2 AS st
), instant_17 AS (
  SELECT
    g.sk,
    g.t,
    x.v,
    x.ts
  FROM grid_16 AS g
  ASOF JOIN samples_15 AS x
    ON g.sk = x.sk AND x.ts <= g.te
  WHERE
    x.ts > g.te - 300000 AND NOT x.stale
), series_18 AS (
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
      COALESCE(ANY_VALUE(labels)['code'], '') = '500'
      AND COALESCE(ANY_VALUE(labels)['__name__'], '') = 'http_requests_total'
  )
), samples_19 AS (
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
      FROM series_18
    )
), grid_20 AS (
  SELECT
    s.sk,
    st.t,
    st.t - 0 AS te
  FROM series_18 AS s
  CROSS JOIN steps_2 AS st
), instant_21 AS (
  SELECT
    g.sk,
    g.t,
    x.v,
    x.ts
  FROM grid_20 AS g
  ASOF JOIN samples_19 AS x
    ON g.sk = x.sk AND x.ts <= g.te
  WHERE
    x.ts > g.te - 300000 AND NOT x.stale
), sig_l_22 AS (
  SELECT
    sk,
    labels,
    key,
    HASH(key) AS kh
  FROM (
    SELECT
      sk,
      labels,
      MAP_FROM_ENTRIES(
        LIST_FILTER(
          MAP_ENTRIES(labels),
          LAMBDA e : NOT ARRAY_CONTAINS(CAST(['__name__'] AS TEXT[]), e.key)
        )
      ) AS key
    FROM series_14
  )
), kp_l_23 AS (
  SELECT
    x.sk,
    x.t,
    x.v,
    s.kh
  FROM instant_17 AS x
  JOIN sig_l_22 AS s
    ON s.sk = x.sk
), sig_r_24 AS (
  SELECT
    sk,
    labels,
    key,
    HASH(key) AS kh
  FROM (
    SELECT
      sk,
      labels,
      MAP_FROM_ENTRIES(
        LIST_FILTER(
          MAP_ENTRIES(labels),
          LAMBDA e : NOT ARRAY_CONTAINS(CAST(['__name__'] AS TEXT[]), e.key)
        )
      ) AS key
    FROM series_18
  )
), kp_r_25 AS (
  SELECT
    x.sk,
    x.t,
    x.v,
    s.kh
  FROM instant_21 AS x
  JOIN sig_r_24 AS s
    ON s.sk = x.sk
), unless_26 AS (
  SELECT
    l.sk,
    l.t,
    l.v
  FROM kp_l_23 AS l
  WHERE
    NOT EXISTS(
      SELECT
        1
      FROM kp_r_25 AS r
      WHERE
        r.kh = l.kh AND r.t = l.t
    )
), sig_l_27 AS (
  SELECT
    sk,
    labels,
    key,
    HASH(key) AS kh
  FROM (
    SELECT
      sk,
      labels,
      MAP_FROM_ENTRIES(
        LIST_FILTER(
          MAP_ENTRIES(labels),
          LAMBDA e : NOT ARRAY_CONTAINS(CAST(['__name__'] AS TEXT[]), e.key)
        )
      ) AS key
    FROM series_0
  )
), kp_l_28 AS (
  SELECT
    x.sk,
    x.t,
    x.v,
    s.kh
  FROM and_13 AS x
  JOIN sig_l_27 AS s
    ON s.sk = x.sk
), sig_r_29 AS (
  SELECT
    sk,
    labels,
    key,
    HASH(key) AS kh
  FROM (
    SELECT
      sk,
      labels,
      MAP_FROM_ENTRIES(
        LIST_FILTER(
          MAP_ENTRIES(labels),
          LAMBDA e : NOT ARRAY_CONTAINS(CAST(['__name__'] AS TEXT[]), e.key)
        )
      ) AS key
    FROM series_14
  )
), kp_r_30 AS (
  SELECT
    x.sk,
    x.t,
    x.v,
    s.kh
  FROM unless_26 AS x
  JOIN sig_r_29 AS s
    ON s.sk = x.sk
), rekey_l_31 AS (
  SELECT
    HASH(labels) AS sk,
    sk AS old,
    labels,
    drop_name
  FROM series_0
), rekey_r_32 AS (
  SELECT
    HASH(labels) AS sk,
    sk AS old,
    labels,
    drop_name
  FROM series_14
), or_33 AS (
  SELECT
    s.sk,
    l.t,
    l.v
  FROM kp_l_28 AS l
  JOIN rekey_l_31 AS s
    ON s.old = l.sk
  UNION ALL
  SELECT
    s.sk,
    r.t,
    r.v
  FROM kp_r_30 AS r
  JOIN rekey_r_32 AS s
    ON s.old = r.sk
  WHERE
    NOT EXISTS(
      SELECT
        1
      FROM kp_l_28 AS l
      WHERE
        l.kh = r.kh AND l.t = r.t
    )
), series_34 AS (
  SELECT
    sk,
    ANY_VALUE(labels) AS labels,
    ARG_MIN(drop_name, side) AS drop_name
  FROM (
    SELECT
      sk,
      labels,
      drop_name,
      0 AS side
    FROM rekey_l_31
    UNION ALL
    SELECT
      sk,
      labels,
      drop_name,
      1 AS side
    FROM rekey_r_32
  )
  GROUP BY
    sk
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
  FROM or_33 AS x
  JOIN series_34 AS s
    ON s.sk = x.sk
)
ORDER BY
  labels NULLS FIRST,
  t NULLS FIRST
