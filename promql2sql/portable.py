"""A querier whose SQL needs nothing but DuckDB and the lake's files (``promlake translate``).

The engine normally answers label matchers from the in-memory series index and reads the
head from Arrow tables; translated SQL instead selects series from ``series/`` files with the
matchers as SQL predicates and reads samples from ``samples/`` files only, so it runs in a
plain DuckDB shell. DuckDB's regular expressions are RE2, the engine Prometheus's syntax
follows, and are fully anchored here as in Prometheus (``^(?s:...)$``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import sqlglot.expressions as exp

from .ast import Matcher
from .duckdb.context import tmpl


class PortableQuerier:
    def __init__(self, root: Path, dedup: bool) -> None:
        self.root = root.resolve()
        self.dedup = dedup

    def _files(self, kind: str) -> exp.Expression:
        return exp.Literal.string(str(self.root / kind / "*" / "*.parquet"))

    def series(self, matchers: Sequence[Matcher]) -> exp.Query:
        conds = [_predicate(m) for m in matchers]
        query = (
            exp.select(
                exp.column("series_id").as_("sk"), exp.func("any_value", exp.column("labels")).as_("labels")
            )
            .from_(exp.func("read_parquet", self._files("series")))
            .group_by("series_id")
        )
        return query.having(exp.and_(*conds)) if conds else query

    def has_start_timestamps(self, mint: int, maxt: int) -> bool:
        # Translated SQL reads no st (the Querier protocol allows leaving it out then): files
        # written before the column lack it, and union_by_name would read every file's footer.
        return False

    def samples(self, mint: int, maxt: int) -> exp.Query:
        src = exp.func(
            "read_parquet", self._files("samples"), exp.Kwarg(this=exp.var("filename"), expression=exp.true())
        )
        cols: list[str | exp.Expr] = [
            exp.column("series_id").as_("sk"),
            "ts",
            exp.column("value").as_("v"),
            "stale",
        ]
        if not self.dedup:
            return exp.select(*cols).from_(src)
        from promlake.engine.catalog import newest_write_only

        seq = tmpl("parse_filename(filename)[1:12]::BIGINT")
        rows = exp.select("series_id", "ts", "value", "stale", seq.as_("seq")).from_(src)
        return exp.select(*cols).from_(
            newest_write_only(rows, ["series_id", "ts", "value", "stale"]).subquery()
        )


def _predicate(m: Matcher) -> exp.Expr:
    value = tmpl("coalesce(any_value(labels)[:n], '')", n=exp.Literal.string(m.name))
    if m.op in ("=", "!="):
        eq = exp.EQ(this=value, expression=exp.Literal.string(m.value))
        return eq if m.op == "=" else exp.Not(this=eq)
    match = exp.func("regexp_full_match", value, exp.Literal.string(f"(?s:{m.value})"))
    return match if m.op == "=~" else exp.Not(this=match)
