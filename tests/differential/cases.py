"""The query set (``queries.yml``), the known differences (``known_differences.yml``), the times.

Query times are whole seconds, 7 s past a multiple of 15 s: never on a sample of the ``demo_*`` series
(those lie 47-953 ms past a second) and never on a subquery step of 10 s, 15 s, 20 s, 30 s or
1 m: so neither a range selector, the lookback window nor a subquery has a point exactly on
its left edge, the one place where Prometheus 2.x and 3.x disagree by design.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .data import START_MS, expand

HERE = Path(__file__).resolve().parent
QUERIES_FILE = HERE / "queries.yml"
KNOWN_FILE = HERE / "known_differences.yml"

# Instant queries: mid-range (after restarts, while workers come and go), and 3 minutes after
# the last scrape (everything is still inside the 5m lookback, windows are partly empty).
INSTANT_TIMES: tuple[int, ...] = (START_MS + 5_107_000, START_MS + 7_387_000)
# Range queries (start, end, step in ms): the whole data and a bit beyond at 1m, and 20 minutes
# in the middle at the scrape interval.
RANGES: tuple[tuple[int, int, int], ...] = (
    (START_MS + 7_000, START_MS + 7_507_000, 60_000),
    (START_MS + 3_607_000, START_MS + 4_807_000, 15_000),
)

CATEGORIES = {
    "upstream-change": "Prometheus changed this after 2.42 (by 3.x at the latest); promlake follows current Prometheus",
    "promlake-bug": "promlake disagrees with Prometheus where no version difference explains it",
}
_QUERY_KEYS = {"id", "expr", "ordered", "range", "promlake_expr"}
_KNOWN_KEYS = {"ids", "category", "reason"}


@dataclass(frozen=True)
class Query:
    id: str
    expr: str  # with $T0 expanded
    ordered: bool = False  # compare the order of instant results too
    range: bool = True  # also run as range queries
    promlake_expr: str | None = None  # promlake's spelling, where 3.x renamed something

    @property
    def lake_expr(self) -> str:
        return self.promlake_expr if self.promlake_expr is not None else self.expr


@dataclass(frozen=True)
class KnownDifference:
    ids: tuple[str, ...]
    category: str
    reason: str


def _load(path: Path, key: str) -> list[dict[str, Any]]:
    doc = yaml.safe_load(path.read_text())
    items = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"{path.name}: expected a top-level list under {key!r}")
    return items


def load_queries(path: Path = QUERIES_FILE) -> list[Query]:
    out: list[Query] = []
    seen: set[str] = set()
    for item in _load(path, "queries"):
        unknown = set(item) - _QUERY_KEYS
        if unknown or not {"id", "expr"} <= set(item):
            raise ValueError(f"{path.name}: bad entry {item!r} (keys: {sorted(_QUERY_KEYS)})")
        qid = str(item["id"])
        if qid in seen:
            raise ValueError(f"{path.name}: duplicate id {qid}")
        seen.add(qid)
        lake = item.get("promlake_expr")
        out.append(
            Query(
                qid,
                expand(str(item["expr"])),
                ordered=bool(item.get("ordered", False)),
                range=bool(item.get("range", True)),
                promlake_expr=expand(str(lake)) if lake is not None else None,
            )
        )
    return out


def load_known(path: Path = KNOWN_FILE, queries: list[Query] | None = None) -> dict[str, KnownDifference]:
    """Known difference per query id; every id must name a query of the set, and only once."""
    ids = {q.id for q in (queries if queries is not None else load_queries())}
    out: dict[str, KnownDifference] = {}
    for item in _load(path, "differences"):
        if set(item) != _KNOWN_KEYS:
            raise ValueError(f"{path.name}: entry {item!r} needs exactly the keys {sorted(_KNOWN_KEYS)}")
        if item["category"] not in CATEGORIES:
            raise ValueError(
                f"{path.name}: unknown category {item['category']!r} (one of {sorted(CATEGORIES)})"
            )
        entry = KnownDifference(
            tuple(item["ids"]), str(item["category"]), " ".join(str(item["reason"]).split())
        )
        for qid in entry.ids:
            if qid not in ids:
                raise ValueError(f"{path.name}: {qid} is not a query of {QUERIES_FILE.name}")
            if qid in out:
                raise ValueError(f"{path.name}: {qid} is listed twice")
            out[qid] = entry
    return out
