SELECT
  'hello' AS v
