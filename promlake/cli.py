"""The ``promlake`` command: serve, sql, check (verbs mirror promtool where it has them)."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from promlake import __version__
from promlake import config as cfg
from promlake.promql2sql.durations import DurationError, parse_duration

if TYPE_CHECKING:
    from promlake.promql2sql.limits import QueryLimits

_SIZE = re.compile(r"^(\d+)(B|KB|MB|GB|TB|PB|EB)$")
_SIZE_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40, "PB": 1 << 50, "EB": 1 << 60}


def parse_size(text: str) -> int:
    """Prometheus's byte sizes (``512MB``, ``1GB``; powers of 1024)."""
    m = _SIZE.match(text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: want e.g. 512MB or 10GB")
    return int(m.group(1)) * _SIZE_UNITS[m.group(2)]


def duration_ms(text: str) -> int:
    try:
        return parse_duration(text)
    except DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


# dest -> flag name, so /api/v1/status/flags shows "web.listen-address", not "web.listen.address".
_FLAG_NAMES: dict[str, str] = {}


def _flag(p: argparse.ArgumentParser, name: str, **kw: object) -> None:
    dest = name.replace(".", "_").replace("-", "_")
    _FLAG_NAMES[dest] = name
    p.add_argument(f"--{name}", dest=dest, **kw)  # type: ignore[arg-type]


def _positive(parse: Callable[[str], int]) -> Callable[[str], int]:
    def check(text: str) -> int:
        value = parse(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
        return value

    return check


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text!r}")
    return value


def _query_flags(p: argparse.ArgumentParser) -> None:
    """Prometheus's --query.* flags (defaults are upstream's); see promql2sql/limits.py."""
    _flag(
        p,
        "query.timeout",
        type=_positive(duration_ms),
        default=duration_ms("2m"),
        help="maximum time a query may take before it is aborted",
    )
    _flag(
        p,
        "query.max-samples",
        type=_non_negative_int,
        default=50_000_000,
        help="maximum number of samples a single query may load into memory",
    )
    _flag(
        p,
        "query.max-concurrency",
        type=_positive(_non_negative_int),
        default=20,
        help="maximum number of queries executed concurrently",
    )
    _flag(
        p,
        "query.lookback-delta",
        type=_positive(duration_ms),
        default=duration_ms("5m"),
        help="how far back to look for a sample when evaluating an instant vector",
    )


def query_limits(args: argparse.Namespace) -> QueryLimits:
    from promlake.promql2sql.limits import QueryLimits

    return QueryLimits(
        timeout_s=args.query_timeout / 1000,
        max_samples=args.query_max_samples,
        max_concurrency=args.query_max_concurrency,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="promlake", description="A Prometheus-compatible server on an open Parquet lake.")
    parser.add_argument("--version", action="version", version=f"promlake {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    _flag(serve, "config.file", default=None, help="prometheus.yml (default: an embedded config that records promlake's own metrics)")
    _flag(serve, "storage.path", default="data/", help="the lake directory")
    # Prometheus's own name for the same thing, so existing unit files keep working.
    _flag(serve, "storage.tsdb.path", default=None, help=argparse.SUPPRESS)
    _flag(serve, "web.listen-address", default="0.0.0.0:9090")
    _flag(serve, "storage.retention.time", type=duration_ms, default=None, help="how long to keep samples (default 15d)")
    _flag(serve, "storage.tsdb.retention.time", type=duration_ms, default=None, help=argparse.SUPPRESS)
    _flag(serve, "storage.retention.size", type=parse_size, default=None, help="maximum bytes of blocks, e.g. 10GB")
    _flag(serve, "storage.tsdb.retention.size", type=parse_size, default=None, help=argparse.SUPPRESS)
    _flag(serve, "storage.head.flush-interval", type=duration_ms, default=duration_ms("2m"), help="how often the head is written to Parquet")
    _flag(serve, "storage.head.flush-min-bytes", type=parse_size, default=parse_size("4MB"),
          help="the head is written to Parquet once it holds this much (and 256 B per active series)")
    _flag(serve, "storage.compaction-interval", type=duration_ms, default=duration_ms("1m"))
    _flag(serve, "storage.wal.fsync", choices=["segment", "always"], default="segment", help="fsync on every commit, or when a WAL segment closes")
    _flag(serve, "web.enable-lifecycle", action="store_true", help="enable /-/reload and /-/quit")
    _flag(serve, "web.enable-admin-api", action="store_true")
    _flag(serve, "web.enable-remote-write-receiver", action="store_true", help="accepted for compatibility; remote write is always on")
    _flag(serve, "no-self-metrics", action="store_true", help="do not record promlake's own metrics into the lake")
    _flag(serve, "log.level", choices=["debug", "info", "warn", "error"], default="info")
    _query_flags(serve)

    sql = sub.add_parser("sql", help="run SQL over a lake (views: samples, series, metrics)")
    _flag(sql, "storage.path", default="data/")
    _flag(sql, "format", choices=["table", "csv", "json"], default="table")
    sql.add_argument("query")

    query = sub.add_parser("query", help="evaluate PromQL over a lake, offline (like promtool query)")
    qsub = query.add_subparsers(dest="kind", required=True)
    qi = qsub.add_parser("instant", help="at one time")
    _flag(qi, "storage.path", default="data/")
    _flag(qi, "time", default=None, help="Unix seconds or RFC 3339 (default: now)")
    _flag(qi, "format", choices=["promql", "json"], default="promql")
    _query_flags(qi)
    qi.add_argument("expr")
    qr = qsub.add_parser("range", help="over a time range")
    _flag(qr, "storage.path", default="data/")
    _flag(qr, "start", required=True)
    _flag(qr, "end", required=True)
    _flag(qr, "step", default="1m")
    _flag(qr, "format", choices=["promql", "json"], default="promql")
    _query_flags(qr)
    qr.add_argument("expr")

    tr = sub.add_parser("translate", help="print the DuckDB SQL (or plan) a PromQL query compiles to")
    _flag(tr, "storage.path", default="data/")
    _flag(tr, "time", default=None)
    _flag(tr, "start", default=None)
    _flag(tr, "end", default=None)
    _flag(tr, "step", default=None)
    _flag(tr, "plan", action="store_true", help="print the plan instead of SQL")
    tr.add_argument("expr")

    check = sub.add_parser("check", help="check configuration files")
    check_sub = check.add_subparsers(dest="what", required=True)
    check_config = check_sub.add_parser("config", help="check prometheus.yml files")
    check_config.add_argument("files", nargs="+")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "sql":
        return _sql(args)
    if args.command == "check":
        return _check_config(args.files)
    if args.command == "query":
        return _query(args)
    if args.command == "translate":
        return _translate(args)
    return 2


def _serve(args: argparse.Namespace) -> int:
    from promlake.engine.errors import StorageError
    from promlake.server import ServeOptions, Server

    logging.basicConfig(
        level=getattr(logging, args.log_level.upper().replace("WARN", "WARNING")),
        format="ts=%(asctime)s level=%(levelname)s caller=%(name)s msg=%(message)r",
    )
    retention_ms = args.storage_retention_time or args.storage_tsdb_retention_time
    retention_bytes = args.storage_retention_size or args.storage_tsdb_retention_size
    if retention_ms is None and retention_bytes is None:
        retention_ms = duration_ms("15d")  # Prometheus's default when neither is set
    opts = ServeOptions(
        config_file=args.config_file,
        storage_path=args.storage_tsdb_path or args.storage_path,
        listen_address=args.web_listen_address,
        retention_ms=retention_ms,
        retention_bytes=retention_bytes,
        enable_lifecycle=args.web_enable_lifecycle,
        enable_admin_api=args.web_enable_admin_api,
        flush_interval_ms=args.storage_head_flush_interval,
        head_flush_min_bytes=args.storage_head_flush_min_bytes,
        compaction_interval_ms=args.storage_compaction_interval,
        wal_fsync=args.storage_wal_fsync,
        record_self=not args.no_self_metrics,
        query_limits=query_limits(args),
        lookback_delta_ms=args.query_lookback_delta,
        flags={_FLAG_NAMES[k]: str(v) for k, v in vars(args).items() if k in _FLAG_NAMES},
    )
    try:
        server = Server(opts)
    except cfg.ConfigError as exc:
        print(f"promlake: error loading config: {exc}", file=sys.stderr)
        return 1
    except StorageError as exc:
        print(f"promlake: opening storage failed: {exc}", file=sys.stderr)
        return 1
    server.run()
    return 0


def _sql(args: argparse.Namespace) -> int:
    import promlake
    from promlake.engine.catalog import ReadOnlySQLError
    from promlake.engine.errors import StorageError

    try:
        lake = promlake.open(args.storage_path, readonly=True)
    except StorageError as exc:
        print(f"promlake sql: {exc}", file=sys.stderr)
        return 1
    try:
        df = lake.sql(args.query)
    except (ReadOnlySQLError, Exception) as exc:  # duckdb errors are plain Exceptions subclasses
        print(f"promlake sql: {exc}", file=sys.stderr)
        return 1
    finally:
        lake.close()
    if args.format == "csv":
        sys.stdout.write(df.write_csv())
    elif args.format == "json":
        sys.stdout.write(df.write_json() + "\n")
    else:
        import polars as pl

        with pl.Config(tbl_rows=50, tbl_cols=20, fmt_str_lengths=80):
            print(df)
    return 0


def _times(args: argparse.Namespace) -> tuple[int, int, int]:
    """(start, end, step) in ms from --time or --start/--end/--step; step 0 = instant."""
    import time as _time

    from promlake.lake import to_ms

    if getattr(args, "start", None) is not None:
        step = parse_duration(args.step) if not str(args.step).replace(".", "").isdigit() else int(float(args.step) * 1000)
        return to_ms(_num_or_str(args.start)), to_ms(_num_or_str(args.end)), step
    t = to_ms(_num_or_str(args.time)) if getattr(args, "time", None) else int(_time.time() * 1000)
    return t, t, 0


def _num_or_str(v: str) -> float | str:
    try:
        return float(v)
    except ValueError:
        return v


def _query(args: argparse.Namespace) -> int:
    import json

    import promlake
    from promlake.promql2sql.errors import PromQLError

    start, end, step = _times(args)
    lake = promlake.open(args.storage_path, readonly=True)
    lake.engine.limits = query_limits(args)
    lake.engine.lookback_delta_ms = args.query_lookback_delta
    try:
        res = lake.engine.instant(args.expr, start) if step == 0 else lake.engine.range(args.expr, start, end, step)
    except PromQLError as exc:
        print(f"promlake query: {exc}", file=sys.stderr)
        return 1
    finally:
        lake.close()
    from promlake.promql2sql.text import result_json, result_lines

    if args.format == "json":
        print(json.dumps(result_json(res)))
    else:
        for line in result_lines(res):
            print(line)
    return 0


def _translate(args: argparse.Namespace) -> int:
    import promlake
    from promlake.promql2sql.errors import PromQLError

    start, end, step = _times(args)
    lake = promlake.open(args.storage_path, readonly=True)
    try:
        out = lake.engine.explain(args.expr, start, end, step) if args.plan else lake.engine.translate(args.expr, start, end, step)
    except PromQLError as exc:
        print(f"promlake translate: {exc}", file=sys.stderr)
        return 1
    finally:
        lake.close()
    print(out)
    return 0


def _check_config(files: list[str]) -> int:
    status = 0
    for f in files:
        print(f"Checking {f}")
        try:
            c = cfg.load_file(f)
        except cfg.ConfigError as exc:
            print(f"  FAILED: {exc}")
            status = 1
            continue
        print(f"  SUCCESS: {len(c.rule_files)} rule files found")
    return status


if __name__ == "__main__":
    sys.exit(main())
