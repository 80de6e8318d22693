WITH steps_0 AS (
  SELECT
    range AS t
  FROM RANGE(1800000, 1800001, 1)
), lit_1 AS (
  SELECT
    t,
    CAST(42.0 AS DOUBLE) AS v
  FROM steps_0
)
SELECT
  t,
  CAST(v AS DOUBLE) AS v
FROM lit_1
ORDER BY
  t NULLS FIRST
