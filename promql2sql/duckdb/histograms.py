"""Classic histograms (``le`` buckets): histogram_quantile(s) and histogram_fraction.

The "histogram fold". Per series (label work, once): ``le`` is parsed the way Go's
``strconv.ParseFloat`` would, and the group key is every label but ``le`` (``__name__``
included: resetHistograms in engine.go; the name is dropped later, delayed). Per (group,
step), in SQL: buckets with one upper bound are summed (coalesceBuckets), sorted, made
monotonic (ensureMonotonicAndIgnoreSmallDeltas) and interpolated (BucketQuantile,
BucketFraction in quantile.go) with window functions and filtered aggregates.

Go's float comparisons are false for NaN while DuckDB orders NaN above everything, so the
comparisons that decide a bucket exclude NaN explicitly.
"""

from __future__ import annotations

import sqlglot.expressions as exp

from .. import plan as p
from ..gostr import format_float_g
from .context import Compiler, Scal, Timeline, Vec, handles, num, table, tmpl
from .gofloat import go_format_g

# strconv.ParseFloat's decimal syntax: DuckDB's cast alone also takes spaces, "1_0" and
# "+nan", which Go rejects. (Go's hexadecimal floats are not accepted here.)
_LE_SYNTAX = r"(?i)[+-]?(inf|infinity)|nan|[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?"
_INF_SPELLING = r"(?i).*inf.*"

_MONOTONICITY_INFO = (
    "PromQL info: input to histogram_quantile needed to be fixed for monotonicity "
    "(see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)"
)
# util/almost.Equal's tolerance used by ensureMonotonicAndIgnoreSmallDeltas.
_SMALL_DELTA = 1e-12


def _s(text: str) -> exp.Expression:
    return exp.Literal.string(text)


def go_quote_sql(x: exp.Expression) -> exp.Expression:
    """Go's ``%q`` for ordinary strings (quotes and backslashes escaped)."""
    return tmpl(
        "'\"' || replace(replace(:x, :bs, :bs2), :q, :bq) || '\"'",
        x=x, bs=_s("\\"), bs2=_s("\\\\"), q=_s('"'), bq=_s('\\"'),
    )  # fmt: skip


def go_g_sql(x: exp.Expression) -> exp.Expression:
    """Go's ``%g`` of a double (kept for modules importing it from here; see gofloat)."""
    return go_format_g(x)


def openmetrics_float(value: float) -> str:
    """labels.FormatOpenMetricsFloat: Go's shortest %g, with ``.0`` when it looks integral."""
    s = format_float_g(value)
    if s in ("NaN", "+Inf", "-Inf") or "e" in s or "." in s:
        return s
    return s + ".0"


def _with_metric_name(message: exp.Expression, name: exp.Expression) -> exp.Expression:
    """annotations.maybeAddMetricName: `` for metric name "x"`` unless the name is empty."""
    return tmpl(
        ":m || CASE WHEN :n = '' THEN '' ELSE ' for metric name ' || :qn END",
        m=message, n=name, qn=go_quote_sql(name),
    )  # fmt: skip


@handles(p.HistogramFold)
def histogram_fold(c: Compiler, node: p.HistogramFold, tl: Timeline) -> Vec:
    arg = c.compile(node.arg, tl)
    assert isinstance(arg, Vec), "histogram functions take an instant vector"
    parsed = _parse_le(c, node, arg)
    buckets = _buckets(c, arg, parsed)
    groups = c.cte(
        tmpl(
            "SELECT DISTINCT hash(glabels) AS gk, glabels, name FROM :p WHERE ub IS NOT NULL", p=table(parsed)
        ),
        "hgroups",
    )
    if node.func == "fraction":
        return _fraction(c, node, buckets, groups, tl)
    return _quantile(c, node, buckets, groups, tl)


def _parse_le(c: Compiler, node: p.HistogramFold, arg: Vec) -> str:
    """Per series: the upper bound (NULL when ``le`` is missing or malformed) and group labels."""
    raw = tmpl("coalesce(labels['le'], '')")
    value = tmpl("TRY_CAST(:raw AS DOUBLE)", raw=raw)
    # Go's ParseFloat fails on out-of-range values ("1e400") where DuckDB gives Inf.
    ub = tmpl(
        "CASE WHEN regexp_full_match(:raw, :syntax) AND NOT (isinf(:v) AND NOT regexp_full_match(:raw, :infs)) "
        "THEN :v END",
        raw=raw, v=value, syntax=_s(_LE_SYNTAX), infs=_s(_INF_SPELLING),
    )  # fmt: skip
    body = tmpl(
        "SELECT sk, :ub AS ub, :raw AS le, coalesce(labels['__name__'], '') AS name, "
        "map_from_entries(list_filter(map_entries(labels), lambda e: e.key <> 'le')) AS glabels FROM :s",
        ub=ub, raw=raw, s=table(arg.series),
    )  # fmt: skip
    parsed = c.cte(body, "le")
    # A warning per malformed series that has a sample (NewBadBucketLabelWarning).
    message = _with_metric_name(
        tmpl(
            "'bucket label \"le\" is missing or has a malformed value of ' || :q",
            q=go_quote_sql(exp.column("le")),
        ),
        exp.column("name"),
    )
    check = tmpl(
        "SELECT DISTINCT :m FROM :p WHERE ub IS NULL AND sk IN (SELECT sk FROM :x)",
        m=message, p=table(parsed), x=table(arg.points),
    )  # fmt: skip
    c.warnings.append((check, f"PromQL warning: {{}} ({node.arg_pos})"))
    return parsed


def _buckets(c: Compiler, arg: Vec, parsed: str) -> str:
    """(gk, t) buckets sorted by upper bound: raw count ``c`` and monotonic count ``env``.

    ``rn``/``n`` number them, ``pub``/``pc``/``penv`` are the previous bucket's bound and
    counts, ``top`` the highest bound, ``total`` the highest bucket's monotonic count.
    """
    coalesced = tmpl(
        "SELECT hash(s.glabels) AS gk, x.t, s.ub, sum(x.v) AS c FROM :x AS x JOIN :p AS s ON s.sk = x.sk "
        "WHERE s.ub IS NOT NULL GROUP BY hash(s.glabels), x.t, s.ub",
        x=table(arg.points), p=table(parsed),
    )  # fmt: skip
    # Go keeps the last accepted count and raises later ones to it; a NaN count is accepted
    # and restarts the envelope, so the running max runs per NaN-delimited segment.
    numbered = tmpl(
        "SELECT *, row_number() OVER (PARTITION BY gk, t ORDER BY ub) AS rn, "
        "count(*) OVER (PARTITION BY gk, t) AS n, max(ub) OVER (PARTITION BY gk, t) AS top, "
        "lag(ub) OVER (PARTITION BY gk, t ORDER BY ub) AS pub, lag(c) OVER (PARTITION BY gk, t ORDER BY ub) AS pc, "
        "sum(CASE WHEN isnan(c) THEN 1 ELSE 0 END) OVER (PARTITION BY gk, t ORDER BY ub "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS seg FROM :b",
        b=coalesced.subquery(),
    )  # fmt: skip
    enveloped = tmpl(
        "SELECT *, CASE WHEN isnan(c) THEN c ELSE max(CASE WHEN isnan(c) THEN NULL ELSE c END) OVER "
        "(PARTITION BY gk, t, seg ORDER BY ub ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) END AS env FROM :b",
        b=numbered.subquery(),
    )  # fmt: skip
    final = tmpl(
        "SELECT *, lag(env) OVER (PARTITION BY gk, t ORDER BY ub) AS penv, "
        "last_value(env) OVER (PARTITION BY gk, t ORDER BY ub "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS total FROM :b",
        b=enveloped.subquery(),
    )  # fmt: skip
    return c.cte(final, "buckets")


def _params(c: Compiler, node: p.HistogramFold, tl: Timeline) -> list[str]:
    rels = []
    for param in node.params:
        rel = c.compile(param, tl)
        assert isinstance(rel, Scal), "histogram function parameters are scalars"
        rels.append(rel.points)
    return rels


def _quantile_rows(c: Compiler, node: p.HistogramFold, tl: Timeline) -> str:
    """(qi, t, q, qstr): every quantile at every step, with its label value."""
    parts: list[exp.Expression] = []
    for i, (param, rel) in enumerate(zip(node.params, _params(c, node, tl), strict=True)):
        pos = node.param_pos[i] if i < len(node.param_pos) else ""
        if isinstance(param, p.Literal):
            label = _s(openmetrics_float(param.value))
            if param.value != param.value or not 0 <= param.value <= 1:
                # validateQuantile: a constant is formatted exactly, here.
                text = f"PromQL warning: quantile value should be between 0 and 1, got {format_float_g(param.value)} ({pos})"
                c.warnings.append((tmpl("SELECT 1"), text.replace("{", "{{").replace("}", "}}")))
        else:
            label = tmpl(
                "CASE WHEN v = 1 THEN '1.0' WHEN v = 0 THEN '0.0' WHEN v = -1 THEN '-1.0' "
                "WHEN isnan(v) OR isinf(v) OR contains(:g, '.') OR contains(:g, 'e') THEN :g ELSE :g || '.0' END",
                g=go_format_g(exp.column("v")),
            )  # fmt: skip
            check = tmpl(
                "SELECT DISTINCT :g FROM :q WHERE isnan(v) OR v < 0 OR v > 1",
                g=go_format_g(exp.column("v")),
                q=table(rel),
            )
            c.warnings.append(
                (check, f"PromQL warning: quantile value should be between 0 and 1, got {{}} ({pos})")
            )
        parts.append(
            tmpl("SELECT :i AS qi, t, v AS q, :label AS qstr FROM :q", i=num(i), label=label, q=table(rel))
        )
    union = parts[0]
    for part in parts[1:]:
        union = exp.union(union, part, distinct=False)
    return c.cte(union, "quantiles")


def _almost_equal(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    """util/almost.Equal(a, b, 1e-12) for non-NaN operands (zero needs an exact match)."""
    return tmpl(
        "(:a = :b OR (:a <> 0 AND :b <> 0 AND abs(:a - :b) / least(abs(:a) + abs(:b), :max) < :eps))",
        a=a, b=b, max=num(1.7976931348623157e308), eps=num(_SMALL_DELTA),
    )  # fmt: skip


def _quantile(c: Compiler, node: p.HistogramFold, buckets: str, groups: str, tl: Timeline) -> Vec:
    qrows = _quantile_rows(c, node, tl)
    # sort.Search over all buckets but the highest: the first whose count reaches the rank.
    candidates = tmpl(
        "SELECT b.*, q.qi, q.q, q.qstr, q.q * b.total AS rank, "
        "(NOT isnan(b.env) AND NOT isnan(q.q * b.total) AND b.env >= q.q * b.total AND b.rn < b.n) AS cand "
        "FROM :b AS b JOIN :q AS q ON q.t = b.t",
        b=table(buckets), q=table(qrows),
    )  # fmt: skip
    chosen = tmpl(
        "SELECT gk, t, qi, any_value(qstr) AS qstr, any_value(q) AS q, any_value(n) AS n, any_value(top) AS top, "
        "any_value(total) AS total, any_value(rank) AS rank, min(rn) FILTER (WHERE cand) AS brn, "
        "arg_min(ub, rn) FILTER (WHERE cand) AS bub, arg_min(coalesce(pub, 0), rn) FILTER (WHERE cand) AS bpub, "
        "arg_min(env, rn) FILTER (WHERE cand) AS bc, arg_min(coalesce(penv, 0), rn) FILTER (WHERE cand) AS bpc, "
        "max(pub) FILTER (WHERE rn = n) AS second FROM :x GROUP BY gk, t, qi",
        x=candidates.subquery(),
    )  # fmt: skip
    # BucketQuantile's special cases, then linear interpolation inside bucket b (from 0 for
    # a positive lowest bucket; the highest bucket answers the second-highest bound).
    value = tmpl(
        "CASE WHEN isnan(q) THEN 'nan'::DOUBLE WHEN q < 0 THEN '-inf'::DOUBLE WHEN q > 1 THEN 'inf'::DOUBLE "
        "WHEN isnan(top) OR top <> 'inf'::DOUBLE OR n < 2 OR total = 0 THEN 'nan'::DOUBLE "
        "WHEN brn IS NULL THEN second WHEN brn = 1 AND bub <= 0 THEN bub "
        "ELSE bpub + (bub - bpub) * ((rank - bpc) / (bc - bpc)) END"
    )
    if node.quantile_label is None:
        sk = exp.column("gk")
        labels = exp.column("glabels")
    else:
        sk = tmpl("hash(gk, qstr)")
        labels = tmpl(
            "map_from_entries(list_sort(list_concat(list_filter(map_entries(glabels), lambda e: e.key <> :l), "
            "[{'key': :l, 'value': qstr}])))",
            l=_s(node.quantile_label),
        )  # fmt: skip
    points = c.cte(exp.select(sk.as_("sk"), "t", value.as_("v")).from_(chosen.subquery()), "hquantile")
    series = c.cte(
        tmpl(
            "SELECT DISTINCT :sk AS sk, :labels AS labels, TRUE AS drop_name FROM :g CROSS JOIN "
            "(SELECT DISTINCT qstr FROM :q) AS q",
            sk=sk.copy(),
            labels=labels,
            g=table(groups),
            q=table(qrows),
        ),
        "series",
    )
    _monotonicity_info(c, node, buckets, groups, qrows)
    return Vec(points, series)


def _monotonicity_info(c: Compiler, node: p.HistogramFold, buckets: str, groups: str, qrows: str) -> None:
    """NewHistogramQuantileForcedMonotonicityInfo, merged per metric name over steps and series."""
    forced = tmpl(
        "SELECT gk, t, min(ub) AS lo, max(ub) AS hi, max(penv - c) AS diff FROM :b WHERE rn > 1 "
        "AND NOT isnan(c) AND NOT isnan(penv) AND c < penv AND NOT :same AND top = 'inf'::DOUBLE GROUP BY gk, t",
        b=table(buckets), same=_almost_equal(exp.column("penv"), exp.column("c")),
    )  # fmt: skip
    # Only where BucketQuantile got as far as fixing the buckets: a quantile in [0, 1].
    hits = tmpl(
        "SELECT g.name, f.t, f.lo, f.hi, f.diff FROM :f AS f JOIN :g AS g ON g.gk = f.gk "
        "JOIN :q AS q ON q.t = f.t WHERE NOT isnan(q.q) AND q.q >= 0 AND q.q <= 1",
        f=forced.subquery(), g=table(groups), q=table(qrows),
    )  # fmt: skip
    text = tmpl(
        ":head || ', from buckets ' || :lo || ' to ' || :hi || ', with a max diff of ' || printf('%.2g', max(diff)) "
        "|| ', over ' || count(*)::VARCHAR || ' samples from ' || :first || ' to ' || :last",
        head=_with_metric_name(_s(_MONOTONICITY_INFO), exp.column("name")),
        lo=go_format_g(tmpl("min(lo)")), hi=go_format_g(tmpl("max(hi)")),
        first=_rfc3339(tmpl("min(t)")), last=_rfc3339(tmpl("max(t)")),
    )  # fmt: skip
    query = exp.select(text).from_(hits.subquery()).group_by("name")
    c.infos.append((query, f"{{}} ({node.arg_pos})"))


def _rfc3339(ms: exp.Expression) -> exp.Expression:
    """time.Unix(ms/1000, 0).UTC().Format(time.RFC3339): seconds truncated toward zero."""
    return tmpl(
        "strftime(make_timestamp((trunc(:ms / 1000) * 1000000)::BIGINT), '%Y-%m-%dT%H:%M:%SZ')", ms=ms
    )


def _fraction(c: Compiler, node: p.HistogramFold, buckets: str, groups: str, tl: Timeline) -> Vec:
    lower, upper = _params(c, node, tl)
    # Each bucket's lower bound: the previous upper bound; for the lowest, 0 when it is
    # positive and -Inf otherwise. ``r0`` is the cumulative count below the bucket.
    rows = tmpl(
        "SELECT b.*, lo.v AS lower, hi.v AS upper, "
        "CASE WHEN b.rn = 1 THEN (CASE WHEN b.ub > 0 THEN 0.0 ELSE '-inf'::DOUBLE END) ELSE b.pub END AS lb, "
        "CASE WHEN b.rn = 1 THEN 0.0 ELSE b.pc END AS r0 "
        "FROM :b AS b JOIN :lo AS lo ON lo.t = b.t JOIN :hi AS hi ON hi.t = b.t",
        b=table(buckets), lo=table(lower), hi=table(upper),
    )  # fmt: skip

    lo, hi = exp.column("lower"), exp.column("upper")
    ranks = tmpl(
        "SELECT gk, t, any_value(lower) AS lower, any_value(upper) AS upper, any_value(top) AS top, "
        "max(c) FILTER (WHERE rn = n) AS cnt, arg_min(:rlo, rn) FILTER (WHERE :hlo) AS lr, "
        "arg_min(:rhi, rn) FILTER (WHERE :hhi) AS ur FROM :r GROUP BY gk, t",
        rlo=_rank_at(lo), hlo=_hit(lo), rhi=_rank_at(hi), hhi=_hit(hi), r=rows.subquery(),
    )  # fmt: skip
    value = tmpl(
        "CASE WHEN isnan(top) OR top <> 'inf'::DOUBLE THEN 'nan'::DOUBLE "
        "WHEN cnt = 0 OR isnan(lower) OR isnan(upper) THEN 'nan'::DOUBLE WHEN lower >= upper THEN 0.0 "
        "ELSE (:ur - :lr) / cnt END",
        ur=_capped(exp.column("ur")), lr=_capped(exp.column("lr")),
    )  # fmt: skip
    points = c.cte(
        exp.select(exp.column("gk").as_("sk"), "t", value.as_("v")).from_(ranks.subquery()), "hfraction"
    )
    series = c.cte(
        tmpl("SELECT gk AS sk, glabels AS labels, TRUE AS drop_name FROM :g", g=table(groups)), "series"
    )
    return Vec(points, series)


def _rank_at(v: exp.Expression) -> exp.Expression:
    """BucketFraction's rank of v in the current bucket (interpolateLinearly; none from -Inf)."""
    return tmpl(
        "CASE WHEN lb >= :v THEN r0 WHEN lb = '-inf'::DOUBLE THEN c ELSE r0 + (c - r0) * (:v - lb) / (ub - lb) END",
        v=v,
    )


def _hit(v: exp.Expression) -> exp.Expression:
    """The bucket BucketFraction settles v in: its lower bound reaches v, or it contains v."""
    return tmpl("(lb >= :v OR (lb < :v AND ub > :v))", v=v)


def _capped(r: exp.Expression) -> exp.Expression:
    """An unset rank, or one above the total count, is the total count (Go: NaN stays)."""
    return tmpl(
        "(CASE WHEN :r IS NULL OR (NOT isnan(:r) AND NOT isnan(cnt) AND :r > cnt) THEN cnt ELSE :r END)", r=r
    )
