"""Run the whole corpus outside pytest and summarise it; optionally rewrite ``gaps.yml``.

    python -m tests.conformance.report                 # pass counts per file, failures grouped
    python -m tests.conformance.report --file functions.test --show functions.test:123
    python -m tests.conformance.report --write-gaps    # record the current failures as gaps

Failing cases are grouped by their first error line (the sub-check and the problem), biggest
group first, so the most common causes are on top.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time
from collections import defaultdict

from .gaps import GAPS_FILE, load_gaps, updated_gaps, write_gaps
from .promqltest import corpus_files, parse_file
from .runner import CHECKS_ENV, Outcome, Runner, extra_checks_enabled
from .seam import promlake_storage


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.conformance.report", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--file", action="append", default=[], help="only this corpus file (repeatable)")
    parser.add_argument(
        "--checks", choices=("full", "main"), help=f"extra checks (default: ${CHECKS_ENV} or full)"
    )
    parser.add_argument(
        "--show", action="append", default=[], metavar="ID", help="print the full report of a case"
    )
    parser.add_argument("--write-gaps", action="store_true", help=f"rewrite {GAPS_FILE.name} from this run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if args.checks:
        os.environ[CHECKS_ENV] = args.checks
    wanted = {f if f.endswith(".test") else f + ".test" for f in args.file}
    paths = [p for p in corpus_files() if not wanted or p.name in wanted]
    if wanted - {p.name for p in paths}:
        print(f"no such corpus file: {', '.join(sorted(wanted - {p.name for p in paths}))}", file=sys.stderr)
        return 2
    gaps = load_gaps()
    runner = Runner(promlake_storage(), extra_checks=extra_checks_enabled())
    outcomes: list[Outcome] = []
    print(f"{'file':<28} {'pass':>5} / {'total':<5} {'gaps':>5} {'new':>5} {'fixed':>5} {'secs':>6}")
    totals = [0, 0, 0, 0, 0]
    try:
        for path in paths:
            script = parse_file(path)
            began = time.perf_counter()
            results = [runner.run(script, ev) for ev in script.evals]
            outcomes += results
            passed = sum(o.passed for o in results)
            listed = sum(gaps.lookup(o.eval.id) is not None for o in results)
            new = sum(not o.passed and gaps.lookup(o.eval.id) is None for o in results)
            fixed = sum(o.passed and gaps.lookup(o.eval.id) is not None for o in results)
            row = [passed, len(results), listed, new, fixed]
            totals = [a + b for a, b in zip(totals, row, strict=True)]
            secs = time.perf_counter() - began
            print(
                f"{path.name:<28} {passed:>5} / {len(results):<5} {listed:>5} {new:>5} {fixed:>5} {secs:>6.1f}",
                flush=True,
            )
    finally:
        runner.close()
    print(f"{'total':<28} {totals[0]:>5} / {totals[1]:<5} {totals[2]:>5} {totals[3]:>5} {totals[4]:>5}")
    _print_groups(outcomes)
    for case_id in args.show:
        found = [o for o in outcomes if o.eval.id == case_id]
        print(f"\n{found[0].report() if found else case_id + ': not run'}")
    if args.write_gaps:
        entries = updated_gaps(gaps, outcomes)
        write_gaps(entries)
        print(f"\nwrote {len(entries)} entries to {GAPS_FILE} (had {len(gaps.entries)})")
    return 0


def _print_groups(outcomes: list[Outcome]) -> None:
    groups: dict[str, list[str]] = defaultdict(list)
    for o in outcomes:
        if o.failure is not None:
            groups[o.failure.headline].append(o.eval.id)
    if not groups:
        return
    print(f"\nfailing cases by first error line ({len(groups)} groups):")
    for headline, ids in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])):
        print(f"\n{len(ids):>5}  {headline}")
        print(textwrap.fill(", ".join(ids), width=110, initial_indent=" " * 7, subsequent_indent=" " * 7))


if __name__ == "__main__":
    sys.exit(main())
