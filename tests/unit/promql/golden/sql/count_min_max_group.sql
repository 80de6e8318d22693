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
), count_6 AS (
  SELECT
    g.gk AS sk,
    x.t,
    CAST(COUNT(v) AS DOUBLE) AS v,
    BOOL_OR(CAST(g.dn AS BOOLEAN)) AS dn
  FROM instant_4 AS x
  JOIN groups_5 AS g
    ON g.sk = x.sk
  GROUP BY
    g.gk,
    x.t
), series_7 AS (
  SELECT DISTINCT
    gk AS sk,
    glabels AS labels,
    FALSE AS drop_name
  FROM groups_5
), agg_8 AS (
  SELECT
    sk,
    t,
    v
  FROM count_6
), groups_9 AS (
  SELECT
    sk,
    MAP_FROM_ENTRIES(LIST_FILTER(MAP_ENTRIES(labels), LAMBDA e : ARRAY_CONTAINS([], e.key))) AS glabels,
    HASH(
      MAP_FROM_ENTRIES(LIST_FILTER(MAP_ENTRIES(labels), LAMBDA e : ARRAY_CONTAINS([], e.key)))
    ) AS gk,
    drop_name AS dn,
    0 AS ord
  FROM series_0
), min_10 AS (
  SELECT
    g.gk AS sk,
    x.t,
    COALESCE(MIN(v) FILTER(WHERE
      NOT ISNAN(v)), CAST('nan' AS DOUBLE)) AS v,
    BOOL_OR(CAST(g.dn AS BOOLEAN)) AS dn
  FROM instant_4 AS x
  JOIN groups_9 AS g
    ON g.sk = x.sk
  GROUP BY
    g.gk,
    x.t
), series_11 AS (
  SELECT DISTINCT
    gk AS sk,
    glabels AS labels,
    FALSE AS drop_name
  FROM groups_9
), agg_12 AS (
  SELECT
    sk,
    t,
    v
  FROM min_10
), sig_m_13 AS (
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
    FROM series_7
  )
), sig_o_14 AS (
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
    FROM series_11
  )
), kp_m_15 AS (
  SELECT
    x.sk,
    x.t,
    x.v,
    s.kh
  FROM agg_8 AS x
  JOIN sig_m_13 AS s
    ON s.sk = x.sk
), kp_o_16 AS (
  SELECT
    x.sk,
    x.t,
    x.v,
    s.kh
  FROM agg_12 AS x
  JOIN sig_o_14 AS s
    ON s.sk = x.sk
), pairs_17 AS (
  SELECT
    HASH(l.sk, r.sk) AS pid,
    l.sk AS msk,
    r.sk AS osk,
    l.kh,
    l.t,
    l.v AS mv,
    r.v AS ov
  FROM kp_m_15 AS l
  JOIN kp_o_16 AS r
    ON r.kh = l.kh AND r.t = l.t
), pair_series_18 AS (
  SELECT
    pid,
    HASH(labels) AS sk,
    labels
  FROM (
    SELECT
      p.pid,
      MAP_FROM_ENTRIES(
        LIST_FILTER(
          MAP_ENTRIES(
            MAP_FROM_ENTRIES(
              LIST_FILTER(
                MAP_ENTRIES(CASE WHEN p.msk IS NULL THEN os.key ELSE ms.labels END),
                LAMBDA e : NOT ARRAY_CONTAINS(CAST(['__name__', '__type__', '__unit__'] AS TEXT[]), e.key)
              )
            )
          ),
          LAMBDA e : NOT ARRAY_CONTAINS(CAST([] AS TEXT[]), e.key)
        )
      ) AS labels
    FROM (
      SELECT DISTINCT
        pid,
        msk,
        osk
      FROM pairs_17
    ) AS p
    LEFT JOIN sig_m_13 AS ms
      ON ms.sk = p.msk
    LEFT JOIN sig_o_14 AS os
      ON os.sk = p.osk
  )
), series_19 AS (
  SELECT DISTINCT
    sk,
    labels,
    FALSE AS drop_name
  FROM pair_series_18
), binop_20 AS (
  SELECT
    ps.sk,
    p.t,
    p.mv + p.ov AS v
  FROM pairs_17 AS p
  JOIN pair_series_18 AS ps
    ON ps.pid = p.pid
), groups_21 AS (
  SELECT
    sk,
    MAP_FROM_ENTRIES(LIST_FILTER(MAP_ENTRIES(labels), LAMBDA e : ARRAY_CONTAINS([], e.key))) AS glabels,
    HASH(
      MAP_FROM_ENTRIES(LIST_FILTER(MAP_ENTRIES(labels), LAMBDA e : ARRAY_CONTAINS([], e.key)))
    ) AS gk,
    drop_name AS dn,
    0 AS ord
  FROM series_0
), max_22 AS (
  SELECT
    g.gk AS sk,
    x.t,
    COALESCE(MAX(v) FILTER(WHERE
      NOT ISNAN(v)), CAST('nan' AS DOUBLE)) AS v,
    BOOL_OR(CAST(g.dn AS BOOLEAN)) AS dn
  FROM instant_4 AS x
  JOIN groups_21 AS g
    ON g.sk = x.sk
  GROUP BY
    g.gk,
    x.t
), series_23 AS (
  SELECT DISTINCT
    gk AS sk,
    glabels AS labels,
    FALSE AS drop_name
  FROM groups_21
), agg_24 AS (
  SELECT
    sk,
    t,
    v
  FROM max_22
), sig_m_25 AS (
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
    FROM series_19
  )
), sig_o_26 AS (
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
    FROM series_23
  )
), kp_m_27 AS (
  SELECT
    x.sk,
    x.t,
    x.v,
    s.kh
  FROM binop_20 AS x
  JOIN sig_m_25 AS s
    ON s.sk = x.sk
), kp_o_28 AS (
  SELECT
    x.sk,
    x.t,
    x.v,
    s.kh
  FROM agg_24 AS x
  JOIN sig_o_26 AS s
    ON s.sk = x.sk
), pairs_29 AS (
  SELECT
    HASH(l.sk, r.sk) AS pid,
    l.sk AS msk,
    r.sk AS osk,
    l.kh,
    l.t,
    l.v AS mv,
    r.v AS ov
  FROM kp_m_27 AS l
  JOIN kp_o_28 AS r
    ON r.kh = l.kh AND r.t = l.t
), pair_series_30 AS (
  SELECT
    pid,
    HASH(labels) AS sk,
    labels
  FROM (
    SELECT
      p.pid,
      MAP_FROM_ENTRIES(
        LIST_FILTER(
          MAP_ENTRIES(
            MAP_FROM_ENTRIES(
              LIST_FILTER(
                MAP_ENTRIES(CASE WHEN p.msk IS NULL THEN os.key ELSE ms.labels END),
                LAMBDA e : NOT ARRAY_CONTAINS(CAST(['__name__', '__type__', '__unit__'] AS TEXT[]), e.key)
              )
            )
          ),
          LAMBDA e : NOT ARRAY_CONTAINS(CAST([] AS TEXT[]), e.key)
        )
      ) AS labels
    FROM (
      SELECT DISTINCT
        pid,
        msk,
        osk
      FROM pairs_29
    ) AS p
    LEFT JOIN sig_m_25 AS ms
      ON ms.sk = p.msk
    LEFT JOIN sig_o_26 AS os
      ON os.sk = p.osk
  )
), series_31 AS (
  SELECT DISTINCT
    sk,
    labels,
    FALSE AS drop_name
  FROM pair_series_30
), binop_32 AS (
  SELECT
    ps.sk,
    p.t,
    p.mv + p.ov AS v
  FROM pairs_29 AS p
  JOIN pair_series_30 AS ps
    ON ps.pid = p.pid
), groups_33 AS (
  SELECT
    sk,
    MAP_FROM_ENTRIES(LIST_FILTER(MAP_ENTRIES(labels), LAMBDA e : ARRAY_CONTAINS([], e.key))) AS glabels,
    HASH(
      MAP_FROM_ENTRIES(LIST_FILTER(MAP_ENTRIES(labels), LAMBDA e : ARRAY_CONTAINS([], e.key)))
    ) AS gk,
    drop_name AS dn,
    0 AS ord
  FROM series_0
), group_34 AS (
  SELECT
    g.gk AS sk,
    x.t,
    1.0 AS v,
    BOOL_OR(CAST(g.dn AS BOOLEAN)) AS dn
  FROM instant_4 AS x
  JOIN groups_33 AS g
    ON g.sk = x.sk
  GROUP BY
    g.gk,
    x.t
), series_35 AS (
  SELECT DISTINCT
    gk AS sk,
    glabels AS labels,
    FALSE AS drop_name
  FROM groups_33
), agg_36 AS (
  SELECT
    sk,
    t,
    v
  FROM group_34
), sig_m_37 AS (
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
    FROM series_31
  )
), sig_o_38 AS (
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
    FROM series_35
  )
), kp_m_39 AS (
  SELECT
    x.sk,
    x.t,
    x.v,
    s.kh
  FROM binop_32 AS x
  JOIN sig_m_37 AS s
    ON s.sk = x.sk
), kp_o_40 AS (
  SELECT
    x.sk,
    x.t,
    x.v,
    s.kh
  FROM agg_36 AS x
  JOIN sig_o_38 AS s
    ON s.sk = x.sk
), pairs_41 AS (
  SELECT
    HASH(l.sk, r.sk) AS pid,
    l.sk AS msk,
    r.sk AS osk,
    l.kh,
    l.t,
    l.v AS mv,
    r.v AS ov
  FROM kp_m_39 AS l
  JOIN kp_o_40 AS r
    ON r.kh = l.kh AND r.t = l.t
), pair_series_42 AS (
  SELECT
    pid,
    HASH(labels) AS sk,
    labels
  FROM (
    SELECT
      p.pid,
      MAP_FROM_ENTRIES(
        LIST_FILTER(
          MAP_ENTRIES(
            MAP_FROM_ENTRIES(
              LIST_FILTER(
                MAP_ENTRIES(CASE WHEN p.msk IS NULL THEN os.key ELSE ms.labels END),
                LAMBDA e : NOT ARRAY_CONTAINS(CAST(['__name__', '__type__', '__unit__'] AS TEXT[]), e.key)
              )
            )
          ),
          LAMBDA e : NOT ARRAY_CONTAINS(CAST([] AS TEXT[]), e.key)
        )
      ) AS labels
    FROM (
      SELECT DISTINCT
        pid,
        msk,
        osk
      FROM pairs_41
    ) AS p
    LEFT JOIN sig_m_37 AS ms
      ON ms.sk = p.msk
    LEFT JOIN sig_o_38 AS os
      ON os.sk = p.osk
  )
), series_43 AS (
  SELECT DISTINCT
    sk,
    labels,
    FALSE AS drop_name
  FROM pair_series_42
), binop_44 AS (
  SELECT
    ps.sk,
    p.t,
    p.mv + p.ov AS v
  FROM pairs_41 AS p
  JOIN pair_series_42 AS ps
    ON ps.pid = p.pid
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
  FROM binop_44 AS x
  JOIN series_43 AS s
    ON s.sk = x.sk
)
ORDER BY
  labels NULLS FIRST,
  t NULLS FIRST
