WITH steps_0 AS (
  SELECT
    range AS t
  FROM RANGE(1200000, 1800001, 60000)
), lit_1 AS (
  SELECT
    t,
    CAST(2.0 AS DOUBLE) AS v
  FROM steps_0
), pi_2 AS (
  SELECT
    t,
    PI() AS v
  FROM steps_0
), binop_3 AS (
  SELECT
    l.t,
    l.v * r.v AS v
  FROM lit_1 AS l
  JOIN pi_2 AS r
    ON l.t = r.t
), time_4 AS (
  SELECT
    t,
    t / 1000.0 AS v
  FROM steps_0
), lit_5 AS (
  SELECT
    t,
    CAST(60.0 AS DOUBLE) AS v
  FROM steps_0
), binop_6 AS (
  SELECT
    l.t,
    l.v / r.v AS v
  FROM time_4 AS l
  JOIN lit_5 AS r
    ON l.t = r.t
), binop_7 AS (
  SELECT
    l.t,
    l.v - r.v AS v
  FROM binop_3 AS l
  JOIN binop_6 AS r
    ON l.t = r.t
), lit_8 AS (
  SELECT
    t,
    CAST(1.0 AS DOUBLE) AS v
  FROM steps_0
), max_of_9 AS (
  SELECT
    a.t,
    CASE
      WHEN a.v = CAST('inf' AS DOUBLE) OR b.v = CAST('inf' AS DOUBLE)
      THEN CAST('inf' AS DOUBLE)
      WHEN ISNAN(a.v) OR ISNAN(b.v)
      THEN CAST('nan' AS DOUBLE)
      ELSE GREATEST(a.v, b.v)
    END AS v
  FROM lit_8 AS a
  JOIN lit_5 AS b
    ON a.t = b.t
), binop_10 AS (
  SELECT
    l.t,
    l.v + r.v AS v
  FROM binop_7 AS l
  JOIN max_of_9 AS r
    ON l.t = r.t
)
SELECT
  t,
  CAST(v AS DOUBLE) AS v
FROM binop_10
ORDER BY
  t NULLS FIRST
