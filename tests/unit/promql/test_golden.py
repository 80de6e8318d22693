"""Golden files per compiler layer: PromQL -> plan (``explain``) and PromQL -> pretty SQL.

The cases live in ``golden/cases.yml``; each has a checked-in ``golden/plan/<id>.plan`` and
``golden/sql/<id>.sql``. A test fails with a unified diff when the output changes; run with
``--update-golden`` (or ``PROMLAKE_UPDATE_GOLDEN=1``) to rewrite the files, then review the
diff. See ``golden/README.md``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import sqlglot
import yaml

import promlake
from promlake.engine import SeriesBatch
from promlake.lake import Lake

GOLDEN = Path(__file__).parent / "golden"
REPO = Path(__file__).parents[3]
CASES_FILE = GOLDEN / "cases.yml"
LAKE_PLACEHOLDER = "<lake>"
UPDATE_ENV = "PROMLAKE_UPDATE_GOLDEN"
_ID = re.compile(r"^[a-z0-9_]+$")


@dataclass(frozen=True)
class Case:
    id: str
    query: str
    start_ms: int
    end_ms: int
    step_ms: int  # 0: an instant query at start_ms
    lake: str = "one_block"
    layers: tuple[str, ...] = ("plan", "sql")


@dataclass(frozen=True)
class Layer:
    name: str  # also the folder under golden/
    suffix: str
    render: Callable[[Lake, Case], str]


def _plan(lake: Lake, case: Case) -> str:
    return lake.engine.explain(case.query, case.start_ms, case.end_ms, case.step_ms)


def _sql(lake: Lake, case: Case) -> str:
    """The SQL ``translate`` prints, as if the lake's root were ``<lake>``.

    The lake lives in a temporary directory whose name differs per run and machine; so does
    its length, and the pretty printer wraps lines by width. So the root is replaced and the
    SQL printed again (sqlglot reprints its own pretty DuckDB SQL unchanged, so the result
    is what translate prints for a lake at ``<lake>``).
    """
    sql = lake.engine.translate(case.query, case.start_ms, case.end_ms, case.step_ms)
    root = lake.storage.root
    for path in sorted({str(root.resolve()), str(root)}, key=len, reverse=True):
        sql = sql.replace(path, LAKE_PLACEHOLDER)
    return sqlglot.parse_one(sql, read="duckdb").sql("duckdb", pretty=True)


LAYERS = {layer.name: layer for layer in (Layer("plan", ".plan", _plan), Layer("sql", ".sql", _sql))}


# --- the cases file ----------------------------------------------------------------------------
def _ms(seconds: object) -> int:
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        raise ValueError(f"times are numbers of seconds, not {seconds!r}")
    return round(seconds * 1000)


def _case(raw: object) -> Case:
    if not isinstance(raw, dict):
        raise ValueError(f"a case is a mapping, not {raw!r}")
    options = {k: raw[k] for k in ("lake", "layers") if k in raw}
    timing = set(raw) - {"id", "query", *options}
    if timing == {"time"}:
        start = end = _ms(raw["time"])
        step = 0
    elif timing == {"start", "end", "step"}:
        start, end, step = _ms(raw["start"]), _ms(raw["end"]), _ms(raw["step"])
    else:
        raise ValueError(f"case {raw!r}: needs id, query and either time or start, end, step")
    lake = str(options.get("lake", "one_block"))
    if lake not in LAKES:
        raise ValueError(f"case {raw.get('id')!r}: unknown lake {lake!r} (one of {sorted(LAKES)})")
    layers = tuple(options.get("layers", LAYERS))
    if not layers or not set(layers) <= set(LAYERS):
        raise ValueError(f"case {raw.get('id')!r}: layers must be a non-empty subset of {sorted(LAYERS)}")
    return Case(str(raw["id"]), str(raw["query"]), start, end, step, lake, layers)


def load_raw_cases() -> list[object]:
    data = yaml.safe_load(CASES_FILE.read_text())
    if not isinstance(data, list):
        raise ValueError(f"{CASES_FILE} must be a list of cases")
    return data


def golden_path(layer: Layer, case_id: str) -> Path:
    return GOLDEN / layer.name / f"{case_id}{layer.suffix}"


def update_requested(config: pytest.Config) -> bool:
    flag = bool(config.getoption("--update-golden", default=False))
    return flag or os.environ.get(UPDATE_ENV, "") not in ("", "0")


# --- the lakes the cases compile against -------------------------------------------------------
# Fixed data, fixed timestamps, no randomness: block file names are a function of the data.
STEP_MS = 15_000
POINTS = 121  # 0s .. 1800s


def _series() -> list[dict[str, str]]:
    sets: list[dict[str, str]] = [
        {"__name__": "http_requests_total", "job": job, "instance": inst, "code": code}
        for job in ("api", "batch") for inst in ("a", "b") for code in ("200", "500")
    ]  # fmt: skip
    sets += [
        {"__name__": "http_request_duration_seconds_bucket", "job": "api", "instance": "a", "le": le}
        for le in ("0.1", "0.5", "1", "+Inf")
    ]
    sets += [{"__name__": "node_temperature_celsius", "instance": inst} for inst in ("a", "b")]
    sets += [
        {"__name__": "up", "job": job, "instance": inst} for job in ("api", "batch") for inst in ("a", "b")
    ]
    sets += [{"__name__": "target_info", "job": "api", "instance": "a", "version": "1.2.3"}]
    return sets


def _write(lake: Lake, points: range, bump: float = 0.0) -> None:
    sets = _series()
    batch = SeriesBatch.from_dicts(sets)
    n = len(sets)
    app = lake.appender()
    for i in points:
        # Counters grow by a per-series amount; (i % 7) adds a deterministic wiggle.
        values = np.arange(1, n + 1, dtype=np.float64) * i + (i % 7) + bump
        app.append(batch, np.arange(n), np.full(n, i * STEP_MS), values)
    app.commit()
    lake.flush()


def _one_block(lake: Lake) -> None:
    _write(lake, range(POINTS))


def _overlapping(lake: Lake) -> None:
    """A second block rewriting the newer half: readers keep the newest write per sample."""
    _write(lake, range(POINTS))
    _write(lake, range(POINTS // 2, POINTS), bump=0.5)


LAKES: dict[str, Callable[[Lake], None]] = {"one_block": _one_block, "overlapping": _overlapping}
CASES = [_case(raw) for raw in load_raw_cases()]


@pytest.fixture(scope="module")
def golden_lakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Lake]]:
    base = tmp_path_factory.mktemp("golden")
    lakes: dict[str, Lake] = {}
    for name, fill in LAKES.items():
        with promlake.open(base / name) as lake:
            fill(lake)
        lakes[name] = promlake.open(base / name, readonly=True)
    assert [len(lake.storage.blocks) for lake in lakes.values()] == [1, 2]
    yield lakes
    for lake in lakes.values():
        lake.close()


# --- the tests ---------------------------------------------------------------------------------
def _unified_diff(expected: str, actual: str, path: Path) -> str:
    name = str(path.relative_to(REPO))
    lines = difflib.unified_diff(
        expected.splitlines(keepends=True),
        actual.splitlines(keepends=True),
        f"{name} (golden)",
        f"{name} (current)",
    )
    return "".join(lines)


PARAMS = [pytest.param(case, LAYERS[name], id=f"{case.id}-{name}") for case in CASES for name in case.layers]


@pytest.mark.parametrize(("case", "layer"), PARAMS)
def test_golden(
    golden_lakes: dict[str, Lake],
    case: Case,
    layer: Layer,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    actual = layer.render(golden_lakes[case.lake], case) + "\n"
    assert str(tmp_path_factory.getbasetemp()) not in actual, "a temporary path leaked into the output"
    path = golden_path(layer, case.id)
    if update_requested(request.config):
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != actual:
            path.write_text(actual)
        return
    if not path.exists():
        pytest.fail(f"{path.relative_to(REPO)} is missing: run pytest with --update-golden to create it")
    expected = path.read_text()
    if actual != expected:
        pytest.fail(
            f"the {layer.name} of {case.query!r} differs from its golden file "
            f"(if that is intended, rerun with --update-golden and review the diff):\n"
            f"{_unified_diff(expected, actual, path)}",
            pytrace=False,
        )


def test_case_ids_unique_and_file_safe() -> None:
    ids = [str(raw.get("id")) if isinstance(raw, dict) else repr(raw) for raw in load_raw_cases()]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"case ids used twice in {CASES_FILE.name}: {duplicates}"
    bad = [i for i in ids if not _ID.match(i)]
    assert not bad, f"case ids must match {_ID.pattern}: {bad}"


def test_no_stale_golden_files(request: pytest.FixtureRequest) -> None:
    """Every file under golden/<layer>/ belongs to a case; --update-golden deletes the rest."""
    wanted = {golden_path(LAYERS[name], case.id) for case in CASES for name in case.layers}
    stale = [
        path
        for layer in LAYERS.values()
        if (GOLDEN / layer.name).is_dir()
        for path in sorted((GOLDEN / layer.name).iterdir())
        if path not in wanted
    ]
    if update_requested(request.config):
        for path in stale:
            path.unlink()
        return
    if stale:
        names = ", ".join(str(path.relative_to(REPO)) for path in stale)
        pytest.fail(
            f"golden files without a case (rerun with --update-golden to delete them): {names}", pytrace=False
        )
