"""Statements over one list of CTEs, with the results they share computed once.

A compiled query is answered by several statements over the same CTEs: the result's points
and series, the checks that raise Prometheus's errors (vector matching, ``info``, ...) and the
annotation queries. Each sent with the whole ``WITH`` list would recompute everything it
shares with the others: a vector-matching check re-ran the whole plan of both sides, up to
two thirds of a query's time. DuckDB shares a CTE between the consumers of one statement
only, so sharing across statements is done here: a CTE needed by several statements is
computed once into a temporary table, the others stay inline CTEs where DuckDB can stream
and push filters through them.

Only the frontier of sharing is materialized: a CTE is kept when more statements need it
than some statement or CTE that reads it directly (so nothing downstream of it is computed
twice), not every CTE on the way.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import sqlglot.expressions as exp


class SharedStatements:
    """Plan: which CTEs to materialize, and the SQL of each statement (roots in order)."""

    def __init__(self, ctes: Sequence[tuple[str, exp.Expr]], roots: Sequence[exp.Expr]) -> None:
        self._order = [name for name, _ in ctes]
        self._bodies = dict(ctes)
        known = set(self._order)
        self._deps = {name: _references(body, known) - {name} for name, body in ctes}
        root_deps = [_references(root, known) for root in roots]
        needed_by: dict[str, set[int]] = {name: set() for name in self._order}
        for i, direct in enumerate(root_deps):
            for name in self._closure(direct, stop=set()):
                needed_by[name].add(i)
        readers: dict[str, list[frozenset[int]]] = {name: [] for name in self._order}
        for name in self._order:
            for dep in self._deps[name]:
                readers[dep].append(frozenset(needed_by[name]))
        for i, direct in enumerate(root_deps):
            for dep in direct:
                readers[dep].append(frozenset({i}))
        self.materialized = [
            name
            for name in self._order
            if len(needed_by[name]) >= 2 and any(len(r) < len(needed_by[name]) for r in readers[name])
        ]
        stop = set(self.materialized)
        self._setup = {
            name: exp.Create(
                this=exp.to_table(name),
                kind="TABLE",
                expression=self._with_deps(self._bodies[name], self._deps[name], stop),
                properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
            ).sql("duckdb", copy=False)
            for name in self.materialized
        }
        # SQL text right away: bodies are attached without copying, so each statement is
        # printed before the next one re-parents them; printing without a copy of the tree
        # (sqlglot copies by default) saves ~0.1 s on a large plan.
        self.statements = [
            self._with_deps(root, deps, stop).sql("duckdb", copy=False)
            for root, deps in zip(roots, root_deps, strict=True)
        ]
        self._needs = [sorted(self._closure(deps, set()) & stop, key=self._order.index) for deps in root_deps]
        self._done: set[str] = set()

    def statement_sql(self, con: duckdb.DuckDBPyConnection, i: int) -> str:
        """Statement ``i``, after computing the shared tables it reads (once per plan).

        Tables are computed when first needed, so a check that fails stops the query before
        work only later statements need (and its error comes first, as in Prometheus).
        """
        for name in self._needs[i]:
            if name not in self._done:
                con.execute(self._setup[name])
                self._done.add(name)
        return self.statements[i]

    def _closure(self, names: set[str], stop: set[str]) -> set[str]:
        """``names`` and what they read, transitively, not looking past ``stop``."""
        seen: set[str] = set()
        todo = list(names)
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            if name not in stop:
                todo.extend(self._deps[name])
        return seen

    def _with_deps(self, body: exp.Expr, direct: set[str], stop: set[str]) -> exp.Expr:
        inline = {n for n in self._closure(direct, stop) if n not in stop}
        statement = body
        for name in self._order:
            if name in inline:
                # copy=False: copying the growing statement per CTE is quadratic.
                statement = statement.with_(name, as_=self._bodies[name], copy=False)  # type: ignore[attr-defined]
        return statement


def _references(body: exp.Expr, known: set[str]) -> set[str]:
    return {t.name for t in body.find_all(exp.Table) if not t.args.get("db") and t.name in known}
