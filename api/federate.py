"""``GET /federate``: the newest sample of every matching series, in the text exposition format.

Behaviour follows Prometheus 2.42's ``web/federate.go`` (checked against the real binary):

* ``match[]`` values are metric selectors, unioned; a bad one is a 400 with the parser's
  error in plain text (Go's ``http.Error``: newline-terminated, ``nosniff``). No ``match[]``
  at all is *not* an error upstream: the answer is an empty 200. ``{}`` (no matchers)
  selects nothing, because the TSDB intersects zero postings lists.
* The window is ``[now - lookback delta, now]``, both ends included (the TSDB querier's
  bounds; PromQL's left-open window is a Prometheus 3 change), ``now`` being the wall clock,
  not the lake's newest sample. A series whose newest sample in the window is a stale
  marker is left out (no earlier sample is taken instead).
* Families are grouped by metric name (byte order), series inside a family in label-set
  order. Upstream sorts the label-ordered series set by name alone with Go's unstable
  ``sort.Sort``; that keeps the input order whenever label-set order already is name order
  (no label name sorts before ``__name__``, e.g. an upper-case one) or there are at most 12
  series. Otherwise its order inside a family is an accident of pdqsort, which promlake
  does not imitate. Every family is ``# TYPE <name> untyped`` without HELP.
* A series line carries its labels in name order without ``__name__``, then the external
  labels (``global.external_labels``, plus ``instance=""``) it does not have itself, in name
  order; then the value (Go's ``%g``-like shortest spelling of ``expfmt``) and the sample's
  timestamp in ms. Series without a metric name are skipped.
* Only GET (405 otherwise, OPTIONS answers 200), 503 before the server is ready, gzip by
  the app's middleware.

Only the text format 0.0.4 is produced: a client asking for protobuf gets text with the text
Content-Type (which scrapers read to pick a parser). Native histograms, which upstream only
federates in protobuf, are therefore never part of the answer.

The work is a few column passes: one DuckDB aggregate picks each series' newest sample, the
label rows come from the series index, and the lines are built by Arrow string kernels
(``api/encode.py``'s approach) - no Python call per series or sample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import anyio
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot.expressions as exp
from fastapi import FastAPI, Request, Response

from promlake.api import encode
from promlake.api.params import Params, now_ms
from promlake.api.series import MatcherSet, label_set_order, parse_metric_selector
from promlake.engine import Lake
from promlake.engine.catalog import connect
from promlake.engine.matchers import MatcherError, compile_matcher
from promlake.promql2sql.errors import ParseError

if TYPE_CHECKING:
    from promlake.api.app import ServerState

TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
_PLAIN = "text/plain; charset=utf-8"
DEFAULT_LOOKBACK_MS = 300_000
_NAME = "__name__"
_lit = encode.lit


def install_federate_routes(app: FastAPI, state: ServerState) -> None:
    @app.api_route("/federate", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    async def federate(request: Request) -> Response:
        # Upstream registers GET only; its router answers OPTIONS and refuses the rest.
        if request.method == "OPTIONS":
            return Response(status_code=200, headers={"Allow": "GET, OPTIONS"})
        if request.method != "GET":
            return _http_error("Method Not Allowed", 405, {"Allow": "GET, OPTIONS"})
        if not state.ready:
            return Response(
                "Service Unavailable",
                status_code=503,
                media_type=_PLAIN,
                headers={"X-Prometheus-Stopping": "false"},
            )
        p = await Params.read(request)
        try:
            sets = parse_selectors(p.getlist("match[]"))
        except ValueError as exc:
            return _http_error(str(exc), 400)
        now = now_ms()
        lookback = getattr(getattr(state, "opts", None), "lookback_delta_ms", DEFAULT_LOOKBACK_MS)
        config = getattr(state, "config", None)
        external = dict(getattr(config, "external_labels", None) or {})
        body = await anyio.to_thread.run_sync(
            lambda: federate_text(state.lake, sets, now, lookback, external)
        )
        return Response(body, media_type=TEXT_FORMAT)


def _http_error(message: str, status: int, headers: Mapping[str, str] | None = None) -> Response:
    """Go's ``http.Error``: the message and a newline, plain text, ``nosniff``."""
    return Response(
        message + "\n",
        status_code=status,
        media_type=_PLAIN,
        headers={"X-Content-Type-Options": "nosniff", **(headers or {})},
    )


def parse_selectors(values: Sequence[str]) -> list[MatcherSet]:
    """Every ``match[]`` as compiled matchers; ``ValueError`` with the parser's text.

    Unlike the series endpoints, selectors whose matchers all match the empty string pass:
    federation has no such check upstream (``{job=~".*"}`` federates everything).
    """
    sets: list[MatcherSet] = []
    for text in values:
        try:
            sets.append([compile_matcher(m.name, m.op, m.value) for m in parse_metric_selector(text)])
        except (ParseError, MatcherError) as exc:
            raise ValueError(str(exc)) from None
    return sets


# --- selection ---------------------------------------------------------------------------


def latest_samples(lake: Lake, sets: Sequence[MatcherSet], mint: int, maxt: int) -> pa.Table:
    """``series_id``, ``ts``, ``v`` of each selected series' newest sample in ``[mint, maxt]``,
    series whose newest sample is a stale marker left out; sorted by ``series_id``."""
    # A selector without matchers selects nothing upstream (zero postings lists intersected),
    # where the index would answer "every series".
    picked = [lake.index.select(s) for s in sets if s]
    ids = np.unique(np.concatenate(picked)) if picked else np.zeros(0, np.int64)
    empty = pa.table(
        {
            "series_id": pa.array([], pa.int64()),
            "ts": pa.array([], pa.int64()),
            "v": pa.array([], pa.float64()),
        }
    )
    if len(ids) == 0:
        return empty
    snap = lake.snapshot().overlapping(mint, maxt)
    ts = exp.column("ts")
    newest = (
        exp.select(
            "series_id",
            exp.Max(this=ts).as_("ts"),
            exp.func("arg_max", exp.column("value"), ts).as_("v"),
            exp.func("arg_max", exp.column("stale"), ts).as_("stale"),
        )
        .from_("samples")
        .where(exp.Between(this=ts, low=exp.Literal.number(mint), high=exp.Literal.number(maxt)))
        .where(exp.column("series_id").isin(exp.select("series_id").from_("__federate_ids")))
        .group_by("series_id")
    )
    query = (
        exp.select("series_id", "ts", "v").from_(newest.subquery("n")).where(exp.not_(exp.column("stale")))
    )
    con = connect(snap, sandbox=False)
    try:
        con.register("__federate_ids", pa.table({"series_id": pa.array(ids, pa.int64())}))
        table = con.sql(query.order_by("series_id").sql("duckdb")).to_arrow_table()
    finally:
        con.close()
    return table.cast(empty.schema) if table.num_rows else empty


# --- encoding ----------------------------------------------------------------------------


def federate_text(
    lake: Lake, sets: Sequence[MatcherSet], now: int, lookback_ms: int, external: Mapping[str, str]
) -> bytes:
    """The whole ``/federate`` body for ``sets`` evaluated at ``now`` (ms)."""
    samples = latest_samples(lake, sets, now - lookback_ms, now)
    sids = samples.column("series_id").to_numpy()
    if len(sids) == 0:
        return b""
    rows = lake.index.labels_of(sids)
    rows = rows.filter(pc.not_equal(rows.column("value"), ""))  # an empty value is an unset label
    owner = np.searchsorted(sids, rows.column("series_id").to_numpy())
    names = encode._strings(rows.column("name"))
    values = encode._strings(rows.column("value"))
    is_name = np.asarray(pc.equal(names, _NAME), dtype=bool)

    # The metric name of each series (null when it has none: upstream logs and skips those).
    n = len(sids)
    name_row = np.full(n, -1, np.int64)
    name_row[owner[is_name]] = np.flatnonzero(is_name)
    metric = values.take(pa.array(name_row, mask=name_row < 0))
    named = name_row >= 0

    # Output order: by name, then label set (see the module docstring).
    by_labels = label_set_order(owner, names, values, n)
    rank = np.empty(n, np.int64)
    rank[by_labels] = np.arange(n)
    keep = np.flatnonzero(named)
    keys = pa.table({"m": metric.take(pa.array(keep)), "r": rank[keep]})
    order = keep[np.asarray(pc.sort_indices(keys, [("m", "ascending"), ("r", "ascending")]))]
    if len(order) == 0:
        return b""
    position = np.full(n, -1, np.int64)
    position[order] = np.arange(len(order))

    label_text = _label_text(position, owner, names, values, is_name, external, len(order))
    name_out = metric.take(pa.array(order))
    ts_out = pc.cast(pa.array(samples.column("ts").to_numpy()[order]), encode.LARGE)
    value_out = go_floats(samples.column("v").to_numpy()[order])
    lines = pc.binary_join_element_wise(
        name_out, label_text, _lit(" "), value_out, _lit(" "), ts_out, _lit("\n"), _lit("")
    )
    # A family header before the first series of each name.
    first = np.ones(len(order), bool)
    if len(order) > 1:
        first[1:] = np.asarray(pc.not_equal(name_out.slice(1), name_out.slice(0, len(order) - 1)), dtype=bool)
    headers = pc.binary_join_element_wise(_lit("# TYPE "), name_out, _lit(" untyped\n"), _lit(""))
    lines = pc.if_else(pa.array(first), pc.binary_join_element_wise(headers, lines, _lit("")), lines)
    return encode.concat(lines)


def escape_label_values(values: pa.Array) -> pa.Array:
    """``expfmt``'s label value escaping: backslash, double quote and newline, nothing else."""
    text = pc.replace_substring(values, "\\", "\\\\")
    text = pc.replace_substring(text, "\n", "\\n")
    return pc.replace_substring(text, '"', '\\"')


def _label_text(
    position: np.ndarray,
    owner: np.ndarray,
    names: pa.Array,
    values: pa.Array,
    is_name: np.ndarray,
    external: Mapping[str, str],
    n_out: int,
) -> pa.Array:
    """``{a="x",b="y",instance="",region="eu"}`` per output series (``""`` without labels).

    The series' own labels come first in name order, then each external label it lacks (by
    name alone: upstream checks names, so an own ``instance`` keeps the external one out).
    """
    row_pos = position[owner]
    own = (row_pos >= 0) & ~is_name
    pos = row_pos[own]
    own_names = names.filter(pa.array(own))
    own_values = values.filter(pa.array(own))
    groups = [np.zeros(len(pos), np.int8)]
    positions, name_parts, value_parts = [pos], [own_names], [own_values]
    labels = {"instance": "", **external}  # upstream always adds an empty instance
    for ext_name in sorted(labels):
        has = np.zeros(n_out, bool)
        has[pos[np.asarray(pc.equal(own_names, ext_name), dtype=bool)]] = True
        lacking = np.flatnonzero(~has)
        positions.append(lacking)
        groups.append(np.ones(len(lacking), np.int8))
        name_parts.append(pa.repeat(_lit(ext_name), len(lacking)))
        value_parts.append(pa.repeat(_lit(labels[ext_name]), len(lacking)))
    all_pos = np.concatenate(positions)
    all_names = pa.concat_arrays([a.cast(encode.LARGE) for a in name_parts])
    all_values = pa.concat_arrays([a.cast(encode.LARGE) for a in value_parts])
    sort = pa.table({"p": all_pos, "g": np.concatenate(groups), "n": all_names})
    order = pc.sort_indices(sort, [("p", "ascending"), ("g", "ascending"), ("n", "ascending")])
    pairs = pc.binary_join_element_wise(
        all_names.take(order), _lit('="'), escape_label_values(all_values.take(order)), _lit('"'), _lit("")
    )
    counts = np.bincount(all_pos, minlength=n_out) if len(all_pos) else np.zeros(n_out, np.int64)
    joined = pc.binary_join_element_wise(
        _lit("{"), encode.join_groups(pairs, counts, ","), _lit("}"), _lit("")
    )
    return pc.if_else(pa.array(counts > 0), joined, _lit(""))


# --- values --------------------------------------------------------------------------------

_G_LOW = 1e-4  # %g switches to an exponent below 1e-4 (decimal exponent < -4) ...
_G_HIGH = 1e6  # ... and from 1e6 on (shortest formatting decides at precision 6)


def go_floats(values: np.ndarray) -> pa.Array:
    """``expfmt.writeFloat`` of every value: ``strconv.FormatFloat(v, 'g', -1, 64)`` with
    ``NaN``, ``+Inf``, ``-Inf``, and ``0`` for negative zero.

    Fixed notation is the JSON encoder's (shortest digits, all written out); values whose
    decimal exponent is below -4 or at least 6 get Go's ``d.ddde±XX`` form instead. The
    shortest digits preserve order, so comparing the float against 1e-4 and 1e6 decides the
    exponent exactly as Go's digit-based test does.
    """
    v = np.ascontiguousarray(values, dtype=np.float64)
    text = encode.floats(v)
    if len(v) == 0:
        return text
    a = np.abs(v)
    finite = np.isfinite(v)
    zero = a == 0
    want_e = finite & ~zero & ((a < _G_LOW) | (a >= _G_HIGH))
    if want_e.any():
        mask = pa.array(want_e)
        text = pc.replace_with_mask(text, mask, exponent_form(text.filter(mask)))
    if zero.any():
        text = pc.if_else(pa.array(zero), _lit("0"), text)
    return text


_NUMBER = r"^(?P<sign>-?)(?P<int>\d+)(?:\.(?P<frac>\d*))?(?:e(?P<exp>[+-]?\d+))?$"


def exponent_form(text: pa.Array) -> pa.Array:
    """Decimal numbers (fixed or exponent notation, nonzero) rewritten as Go's ``%e`` with the
    same digits: ``1234500`` -> ``1.2345e+06``, ``0.00001`` -> ``1e-05``."""
    parts = pc.extract_regex(text, _NUMBER)
    sign, whole, frac, exp10 = (pc.struct_field(parts, i) for i in range(4))
    digits_all = pc.binary_join_element_wise(whole, frac, _lit(""))
    stripped = pc.utf8_ltrim(digits_all, "0")
    lead = np.asarray(pc.subtract(pc.utf8_length(digits_all), pc.utf8_length(stripped)), np.int64)
    digits = pc.utf8_rtrim(stripped, "0")
    shift = pc.if_else(pc.equal(exp10, ""), _lit("0"), pc.utf8_ltrim(exp10, "+"))
    e10 = (
        np.asarray(pc.utf8_length(whole), np.int64)
        - 1
        - lead
        + np.asarray(pc.cast(shift, pa.int64()), np.int64)
    )
    head = pc.utf8_slice_codeunits(digits, 0, 1)
    tail = pc.utf8_slice_codeunits(digits, 1)
    mantissa = pc.if_else(pc.equal(tail, ""), head, pc.binary_join_element_wise(head, tail, _lit(".")))
    exp_sign = pa.array(np.where(e10 < 0, "e-", "e+"), encode.LARGE)
    exp_digits = pc.utf8_lpad(pc.cast(pa.array(np.abs(e10)), encode.LARGE), width=2, padding="0")
    return pc.binary_join_element_wise(sign, mantissa, exp_sign, exp_digits, _lit(""))
