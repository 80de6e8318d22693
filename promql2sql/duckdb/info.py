"""``info()``: enrich series with the data labels of info metrics (upstream promql/info.go).

An info series matches a base series at a step when both carry the same identifying labels
(``instance``, ``job``: present on both with equal values, or absent on both); per info
metric name the newest sample wins (evalSeries records the sample time; a tie between two
series is an error). The base series gets every label of its matched info series that it
lacks (only the selector's data labels when it names any); two info metrics disagreeing on
a label is an error. Base series that are info series themselves pass through unchanged.

Labels can change from step to step (info series churn), so the output series are the
distinct (base series, matched info series) combinations: label work runs once per
combination, and points only carry the combination's key.
"""

from __future__ import annotations

import sqlglot.expressions as exp

from .. import plan as p
from ..ast import Matcher
from .context import Compiler, Timeline, Vec, handles, table, tmpl
from .histograms import go_quote_sql

IDENTIFYING_LABELS = ("instance", "job")


def matcher_sql(m: Matcher, value: exp.Expression) -> exp.Expression:
    """A label matcher over a (non-NULL) label value; regexes are fully anchored."""
    v = exp.Literal.string(m.value)
    if m.op == "=":
        return tmpl(":x = :v", x=value, v=v)
    if m.op == "!=":
        return tmpl(":x <> :v", x=value, v=v)
    found = tmpl("regexp_full_match(:x, :re)", x=value, re=exp.Literal.string(f"(?s:{m.value})"))
    return found if m.op == "=~" else exp.Not(this=found)


def _labels_text(labels: exp.Expression) -> exp.Expression:
    """labels.Labels.String(): ``{a="b", c="d"}``."""
    return tmpl(
        "'{' || array_to_string(list_transform(map_entries(:l), lambda e: e.key || '=' || :qv), ', ') || '}'",
        l=labels, qv=go_quote_sql(tmpl("e.value")),
    )  # fmt: skip


@handles(p.Info)
def info(c: Compiler, node: p.Info, tl: Timeline) -> Vec:
    base = c.compile(node.arg, tl)
    assert isinstance(base, Vec), "info() takes an instant vector"
    infos = c.compile(node.info_series, tl)
    assert isinstance(infos, Vec)
    name = tmpl("coalesce(labels['__name__'], '')")
    ignored = (
        exp.and_(*(matcher_sql(m, name) for m in node.name_matchers)) if node.name_matchers else exp.false()
    )
    bs = c.cte(
        tmpl(
            "SELECT sk, labels, drop_name, :ignored AS ignored, labels['instance'] AS inst, labels['job'] AS job FROM :s",
            ignored=ignored,
            s=table(base.series),
        ),
        "info_base",
    )
    # fetchInfoSeries: info series must carry identifying label values seen on the base
    # series to enrich (those with samples), and none are fetched when there are none.
    seen = tmpl(
        "SELECT coalesce(list(DISTINCT inst) FILTER (WHERE inst IS NOT NULL), []) AS insts, "
        "coalesce(list(DISTINCT job) FILTER (WHERE job IS NOT NULL), []) AS jobs "
        "FROM :bs WHERE NOT ignored AND sk IN (SELECT sk FROM :x)",
        bs=table(bs), x=table(base.points),
    )  # fmt: skip
    iseries = c.cte(
        tmpl(
            "SELECT s.sk, s.labels, coalesce(s.labels['__name__'], '') AS name, s.labels['instance'] AS inst, "
            "s.labels['job'] AS job FROM :s AS s CROSS JOIN :seen AS ids "
            "WHERE (len(ids.insts) > 0 OR len(ids.jobs) > 0) "
            "AND (len(ids.insts) = 0 OR coalesce(list_contains(ids.insts, s.labels['instance']), FALSE)) "
            "AND (len(ids.jobs) = 0 OR coalesce(list_contains(ids.jobs, s.labels['job']), FALSE))",
            s=table(infos.series),
            seen=seen.subquery(),
        ),
        "info_series",
    )
    ipoints = c.cte(
        tmpl(
            "SELECT x.sk, x.t, x.ts, s.name, s.inst, s.job, s.labels FROM :x AS x JOIN :s AS s ON s.sk = x.sk",
            x=table(infos.points),
            s=table(iseries),
        ),
        "info_points",
    )
    # Two series of one info metric with one identifying label set and one sample time.
    dup = tmpl(
        "SELECT 'existing ' || :a || ' @ ' || a.ts::VARCHAR || ', new ' || :b || ' @ ' || b.ts::VARCHAR "
        "FROM :i AS a JOIN :i AS b ON a.t = b.t AND a.name = b.name AND a.inst IS NOT DISTINCT FROM b.inst "
        "AND a.job IS NOT DISTINCT FROM b.job AND a.ts = b.ts AND a.sk < b.sk "
        "WHERE a.ts = (SELECT max(m.ts) FROM :i AS m WHERE m.t = a.t AND m.name = a.name "
        "AND m.inst IS NOT DISTINCT FROM a.inst AND m.job IS NOT DISTINCT FROM a.job) LIMIT 1",
        a=_labels_text(exp.column("labels", "a")), b=_labels_text(exp.column("labels", "b")), i=table(ipoints),
    )  # fmt: skip
    c.assertions.append((dup, "found duplicate series for info metric: {}"))
    newest = tmpl(
        "SELECT sk, t, inst, job FROM :i QUALIFY row_number() OVER (PARTITION BY t, name, inst, job ORDER BY ts DESC) = 1",
        i=table(ipoints),
    )
    # Per base point: the info series matched at its step (none for info series themselves).
    combos = c.cte(
        tmpl(
            "SELECT x.sk, x.t, any_value(x.v) AS v, any_value(b.ignored) AS ignored, "
            "coalesce(list(i.sk ORDER BY i.sk) FILTER (WHERE i.sk IS NOT NULL), []::BIGINT[]) AS isks "
            "FROM :x AS x JOIN :bs AS b ON b.sk = x.sk LEFT JOIN :n AS i ON NOT b.ignored AND i.t = x.t "
            "AND i.inst IS NOT DISTINCT FROM b.inst AND i.job IS NOT DISTINCT FROM b.job GROUP BY x.sk, x.t",
            x=table(base.points),
            bs=table(bs),
            n=newest.subquery(),
        ),
        "info_combos",
    )
    return _enriched(c, node, bs, iseries, combos)


def _enriched(c: Compiler, node: p.Info, bs: str, iseries: str, combos: str) -> Vec:
    distinct = c.cte(tmpl("SELECT DISTINCT sk, isks FROM :c", c=table(combos)), "info_distinct")
    # The labels each matched info series contributes: not the name, only selected data
    # labels, and none the base series already has.
    wanted = exp.Array(expressions=[exp.Literal.string(n) for n in node.data_labels])
    keep = tmpl(
        "e.key <> '__name__' AND (len(:w) = 0 OR list_contains(:w, e.key)) AND NOT map_contains(blabels, e.key)",
        w=wanted,
    )
    unnested = tmpl(
        "SELECT d.sk, d.isks, b.labels AS blabels, unnest(map_entries(s.labels)) AS e "
        "FROM (SELECT sk, isks, unnest(isks) AS isk FROM :d) AS d "
        "JOIN :s AS s ON s.sk = d.isk JOIN :bs AS b ON b.sk = d.sk",
        d=table(distinct), s=table(iseries), bs=table(bs),
    )  # fmt: skip
    entries = c.cte(
        tmpl(
            "SELECT sk, isks, e.key AS key, e.value AS value FROM :u WHERE :keep",
            u=unnested.subquery(),
            keep=keep,
        ),
        "info_labels",
    )
    c.assertions.append((
        tmpl("SELECT key FROM :e GROUP BY sk, isks, key HAVING count(DISTINCT value) > 1 LIMIT 1", e=table(entries)),
        "conflicting label: {}",
    ))  # fmt: skip
    added = tmpl(
        "SELECT sk, isks, list(DISTINCT {'key': key, 'value': value}) AS extra FROM :e GROUP BY sk, isks",
        e=table(entries),
    )
    relabeled = c.cte(
        tmpl(
            "SELECT d.sk AS old, d.isks, hash(:labels) AS sk, :labels AS labels, b.drop_name FROM :d AS d "
            "JOIN :bs AS b ON b.sk = d.sk LEFT JOIN :a AS a ON a.sk = d.sk AND a.isks = d.isks",
            labels=tmpl(
                "map_from_entries(list_sort(list_concat(map_entries(b.labels), coalesce(a.extra, []))))"
            ),
            d=table(distinct),
            bs=table(bs),
            a=added.subquery(),
        ),
        "info_relabel",
    )
    # A point no info series matched is dropped when a data matcher rejects the empty value.
    points = c.cte(
        tmpl(
            "SELECT r.sk, x.t, x.v FROM :c AS x JOIN :r AS r ON r.old = x.sk AND r.isks = x.isks "
            "WHERE x.ignored OR len(x.isks) > 0 OR NOT :drop",
            c=table(combos),
            r=table(relabeled),
            drop=exp.Boolean(this=node.drop_unmatched),
        ),
        "info",
    )
    c.assertions.append((
        tmpl("SELECT 1 FROM :p GROUP BY sk, t HAVING count(*) > 1 LIMIT 1", p=table(points)),
        "vector cannot contain metrics with the same labelset",
    ))  # fmt: skip
    series = c.cte(
        tmpl(
            "SELECT sk, any_value(labels) AS labels, bool_and(drop_name) AS drop_name FROM :r GROUP BY sk",
            r=table(relabeled),
        ),
        "series",
    )
    return Vec(points, series)
