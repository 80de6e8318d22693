"""Every eval of the promqltest corpus as one pytest case with id ``<file>:<line>``.

The cases run in file order against one :class:`Runner`, which keeps each file's storage alive
from ``clear`` to ``clear``. Known gaps come from ``gaps.yml`` and run as strict xfail. Without
``promlake.promql2sql.engine`` this module fails to collect, on purpose: a missing engine must
not look like a green run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .gaps import load_gaps
from .promqltest import CORPUS_DIR, Eval, ScriptFile, corpus_files, parse_file
from .runner import Runner, extra_checks_enabled
from .seam import promlake_storage

if not CORPUS_DIR.is_dir():
    raise RuntimeError(f"the promqltest corpus is missing: no directory {CORPUS_DIR} (set PROMQLTEST_CORPUS)")

try:
    STORAGE = promlake_storage()
except ImportError as err:
    raise RuntimeError(f"cannot run the conformance corpus: {err}") from err

EXTRA_CHECKS = extra_checks_enabled()


def _cases() -> list[object]:
    gaps = load_gaps()
    params: list[object] = []
    for path in corpus_files():
        script = parse_file(path)
        for ev in script.evals:
            gap = gaps.lookup(ev.id)
            # Gaps are recorded in the default (main) mode, where they are strict.
            marks = (
                [pytest.mark.xfail(strict=True, reason=f"[{gap.category}] {gap.reason}")]
                if gap
                else []
            )
            params.append(pytest.param(script, ev, id=ev.id, marks=marks))
    return params


@pytest.fixture(scope="module")
def runner() -> Iterator[Runner]:
    r = Runner(STORAGE, extra_checks=EXTRA_CHECKS)
    yield r
    r.close()


@pytest.mark.parametrize(("script", "ev"), _cases())
def test_eval(runner: Runner, script: ScriptFile, ev: Eval) -> None:
    outcome = runner.run(script, ev)
    if not outcome.passed:
        pytest.fail(outcome.report(), pytrace=False)
