"""Query limits (promql2sql/limits.py, sample_count.py): --query.max-samples, --query.timeout,
cancellation and --query.max-concurrency, on a real lake and real DuckDB."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import promlake
from promlake import cli
from promlake.engine import SeriesBatch
from promlake.promql2sql.engine import Engine
from promlake.promql2sql.errors import CanceledError, PromQLError, QueryTimeoutError, TooManySamplesError
from promlake.promql2sql.limits import CancelToken, QueryLimits

N_SERIES = 10
STEP = 15_000
FLUSHED = 120  # samples k * STEP, k < FLUSHED, are in Parquet blocks; the next 20 in the head
T = 1_500_000  # k = 100: every series has the value 100

# No data needed, and far slower than any bound below (over a minute here): a max over
# 1-day windows of 8.64M inner points, at 3,600 steps of an outer subquery. (A plain
# count_over_time(vector(1)[1d:10ms]) is one GROUP BY now, well under a second.)
SLOW = "max_over_time(max_over_time(vector(1)[1d:10ms])[1h:1s])"
SLOW_AT = 100_000_000
SLOW_S = 2.0
TOO_MANY = "query processing would load too many samples into memory in query execution"


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    d = tmp_path_factory.mktemp("limits")
    sets = [{"__name__": "m", "i": str(i)} for i in range(N_SERIES)]
    batch = SeriesBatch.from_dicts(sets)

    def append(lk, ks):
        for k in ks:
            app = lk.appender()
            app.append(batch, np.arange(N_SERIES), np.full(N_SERIES, k * STEP), np.full(N_SERIES, float(k)))
            app.commit()

    first = promlake.open(d)
    append(first, range(FLUSHED))
    first.close()  # flushes: these samples are in blocks
    lk = promlake.open(d)
    append(lk, range(FLUSHED, FLUSHED + 20))  # these stay in the head
    yield lk
    lk.close(flush=False)


def engine(lake, **limits):
    return Engine(lake.storage, limits=QueryLimits(**limits))


def rows(res):
    labels = {r["series"]: tuple(sorted(r["labels"])) for r in res.series.to_pylist()}
    return sorted((labels[r["series"]], r["t"], r["v"]) for r in res.points.to_pylist())


def expected_m_at_t():
    return sorted(((("__name__", "m"), ("i", str(i))), T, 100.0) for i in range(N_SERIES))


# --- max samples --------------------------------------------------------------------------------
# (query, start, end, step or 0 for instant, the count: loaded samples + grid points)
COUNTS = [
    # 20 samples per series in the lookback (T - 5m, T], one grid point per series
    ("m", T, T, 0, 10 * 20 + 10 * 1),
    # the same window across the block/head boundary (k 114..133)
    ("m", 2_000_000, 2_000_000, 0, 10 * 20 + 10 * 1),
    # samples in (0 - 1m, 1200s]: k 0..80; 21 steps
    ("rate(m[1m])", 0, 1_200_000, 60_000, 10 * 81 + 10 * 21),
    # inner selector over (T - 10m - 5m, T] at 600 inner steps of 1s, and the outer grid
    ("max_over_time(m[10m:1s])", T, T, 0, 10 * 60 + 10 * 600 + 10 * 1),
    # one series, two selectors over 2 steps: k 73..96 (offset 1m) and k 77..100
    ('m{i="1"} offset 1m + m{i="1"}', T - 60_000, T, 60_000, 24 + 2 + 24 + 2),
]


def run(e, query, start, end, step, token=None):
    if step == 0:
        return e.instant(query, start, token=token)
    return e.range(query, start, end, step, token=token)


@pytest.mark.parametrize(("query", "start", "end", "step", "count"), COUNTS)
def test_max_samples_boundary(lake, query, start, end, step, count):
    run(engine(lake, max_samples=count), query, start, end, step)  # exactly at the limit: allowed
    with pytest.raises(TooManySamplesError) as info:
        run(engine(lake, max_samples=count - 1), query, start, end, step)
    assert str(info.value) == TOO_MANY
    assert (info.value.error_type, info.value.http_status) == ("execution", 422)


def test_max_samples_refuses_before_running(lake):
    # 10 series x 100001 steps: refused from the grid alone, long before DuckDB would finish.
    started = time.monotonic()
    with pytest.raises(TooManySamplesError, match=f"^{TOO_MANY}$"):
        engine(lake, max_samples=1_000_000).range("m", 0, 100_000_000, 1_000)
    assert time.monotonic() - started < 5


def test_small_query_passes_default_limits(lake):
    assert rows(Engine(lake.storage).instant("m", T)) == expected_m_at_t()
    # no selector, nothing counted
    assert engine(lake, max_samples=0).instant("1 + 1", T).points.column("v").to_pylist() == [2.0]


# --- timeout and cancellation --------------------------------------------------------------------
@pytest.fixture(scope="module")
def slow_query(lake):
    """SLOW, after checking it runs for more than SLOW_S (so faster answers prove interrupts)."""
    e = engine(lake, timeout_s=SLOW_S)
    started = time.monotonic()
    with pytest.raises(QueryTimeoutError, match=r"^query timed out in expression evaluation$"):
        e.instant(SLOW, SLOW_AT)
    assert time.monotonic() - started >= SLOW_S
    return SLOW


def test_timeout_flag(lake, slow_query):
    e = engine(lake, timeout_s=0.2)
    started = time.monotonic()
    with pytest.raises(QueryTimeoutError) as info:
        e.instant(slow_query, SLOW_AT)
    assert time.monotonic() - started < SLOW_S / 2
    assert str(info.value) == "query timed out in expression evaluation"
    assert (info.value.error_type, info.value.http_status) == ("timeout", 503)


def test_request_timeout_is_capped_by_the_flag(lake, slow_query):
    e = engine(lake, timeout_s=0.2)
    started = time.monotonic()
    with pytest.raises(QueryTimeoutError):
        e.instant(slow_query, SLOW_AT, token=CancelToken(timeout_s=60))
    assert time.monotonic() - started < SLOW_S / 2
    assert e.limits.timeout_for(60) == 0.2 and e.limits.timeout_for(0.1) == 0.1
    assert e.limits.timeout_for(None) == 0.2


def test_engine_answers_after_a_timeout(lake, slow_query):
    e = Engine(lake.storage)  # default limits; the request's own timeout stops the slow query
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(QueryTimeoutError):
            e.range(slow_query, SLOW_AT, SLOW_AT, 60_000, token=CancelToken(timeout_s=0.2))
        assert time.monotonic() - started < SLOW_S / 2
        assert rows(e.instant("m", T)) == expected_m_at_t()
    assert e.limits.active == 0


def test_cancel_from_another_thread(lake, slow_query):
    e = Engine(lake.storage)
    token = CancelToken()
    timer = threading.Timer(0.2, token.cancel)
    timer.start()
    started = time.monotonic()
    with pytest.raises(CanceledError) as info:
        e.instant(slow_query, SLOW_AT, token=token)
    assert time.monotonic() - started < SLOW_S / 2
    assert str(info.value) == "query was canceled in expression evaluation"
    assert (info.value.error_type, info.value.http_status) == ("canceled", 499)
    assert token.canceled
    # the same engine, a fresh token: nothing is left interrupted
    assert rows(e.instant("m", T, token=CancelToken())) == expected_m_at_t()
    # a canceled token cancels every later query that uses it, before it starts
    with pytest.raises(CanceledError, match=r"^query was canceled in query queue$"):
        e.instant("m", T, token=token)


def test_errors_other_than_limits_pass_through(lake):
    e = engine(lake, timeout_s=5)
    with pytest.raises(PromQLError) as info:
        e.instant('label_replace(m, "x", "$1", "i", "(")', T)
    assert not isinstance(info.value, QueryTimeoutError | CanceledError)
    assert e.limits.active == 0


# --- concurrency ---------------------------------------------------------------------------------
def _hold_slot(e, token):
    """Start the slow query on a thread; return it once it holds a slot, and its errors."""
    errors: list[BaseException] = []

    def hold():
        try:
            e.instant(SLOW, SLOW_AT, token=token)
        except BaseException as exc:
            errors.append(exc)

    before = e.limits.active
    th = threading.Thread(target=hold, daemon=True)
    th.start()
    deadline = time.monotonic() + 10
    while e.limits.active == before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert e.limits.active == before + 1
    return th, errors


def test_max_concurrency(lake, slow_query):
    limits = QueryLimits(max_concurrency=1)
    e = Engine(lake.storage, limits=limits)
    holder = CancelToken()
    th, errors = _hold_slot(e, holder)
    try:
        with pytest.raises(QueryTimeoutError, match=r"^query timed out in query queue$"):
            e.instant("m", T, token=CancelToken(timeout_s=0.2))
        waiting = CancelToken()
        threading.Timer(0.2, waiting.cancel).start()
        with pytest.raises(CanceledError, match=r"^query was canceled in query queue$"):
            e.instant("m", T, token=waiting)
        # another Engine on the same QueryLimits shares its slots (the API builds one per request)
        with pytest.raises(QueryTimeoutError, match=r"^query timed out in query queue$"):
            Engine(lake.storage, limits=limits).instant("m", T, token=CancelToken(timeout_s=0.2))
        # a different QueryLimits is a different pool
        assert rows(engine(lake).instant("m", T)) == expected_m_at_t()
    finally:
        holder.cancel()
        th.join(10)
    assert not th.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], CanceledError)
    assert limits.active == 0
    assert rows(e.instant("m", T)) == expected_m_at_t()  # the slot is free again


def test_queries_below_max_concurrency_run_side_by_side(lake, slow_query):
    e = engine(lake, max_concurrency=2)
    holder = CancelToken()
    th, _errors = _hold_slot(e, holder)
    try:
        assert rows(e.instant("m", T, token=CancelToken(timeout_s=30))) == expected_m_at_t()
    finally:
        holder.cancel()
        th.join(10)
    assert e.limits.active == 0


def test_limits_validation():
    assert (QueryLimits().timeout_s, QueryLimits().max_samples, QueryLimits().max_concurrency) == (
        120.0,
        50_000_000,
        20,
    )
    for bad in ({"timeout_s": 0}, {"max_samples": -1}, {"max_concurrency": 0}):
        with pytest.raises(ValueError):
            QueryLimits(**bad)


# --- flags ---------------------------------------------------------------------------------------
def test_query_flags():
    args = cli.build_parser().parse_args(
        [
            "serve",
            "--query.timeout=30s",
            "--query.max-samples=1000",
            "--query.max-concurrency=3",
            "--query.lookback-delta=1m",
        ]
    )
    limits = cli.query_limits(args)
    assert (limits.timeout_s, limits.max_samples, limits.max_concurrency) == (30.0, 1000, 3)
    assert args.query_lookback_delta == 60_000
    defaults = cli.build_parser().parse_args(["query", "instant", "up"])
    assert (defaults.query_timeout, defaults.query_max_samples) == (120_000, 50_000_000)
    assert (defaults.query_max_concurrency, defaults.query_lookback_delta) == (20, 300_000)
    for bad in ("--query.timeout=0s", "--query.max-concurrency=0", "--query.max-samples=-1"):
        with pytest.raises(SystemExit):
            cli.build_parser().parse_args(["serve", bad])


def test_query_command_applies_max_samples(lake, capsys):
    argv = ["query", "instant", f"--storage.path={lake.storage.root}", f"--time={T / 1000}", "m"]
    assert cli.main([*argv[:-1], "--query.max-samples=209", "m"]) == 1
    assert TOO_MANY in capsys.readouterr().err
    assert cli.main([*argv[:-1], "--query.max-samples=210", "m"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == N_SERIES


def test_server_engines_share_the_flags(tmp_path):
    from fastapi.testclient import TestClient

    from promlake.server import ServeOptions, Server

    opts = ServeOptions(
        config_file=None,
        storage_path=str(tmp_path),
        listen_address="127.0.0.1:0",
        retention_ms=None,
        retention_bytes=None,
        enable_lifecycle=False,
        enable_admin_api=False,
        flush_interval_ms=60_000,
        head_flush_min_bytes=1 << 20,
        compaction_interval_ms=60_000,
        wal_fsync="segment",
        record_self=False,
        flags={},
        query_limits=QueryLimits(max_samples=5),
        lookback_delta_ms=60_000,
    )
    server = Server(opts)
    try:
        engine = server.query_engine()
        assert engine.limits is server.query_limits and engine.lookback_delta_ms == 60_000
        assert server.query_engine(1_000).lookback_delta_ms == 1_000
        batch = SeriesBatch.from_dicts([{"__name__": "m", "i": str(i)} for i in range(3)])
        for k in range(10):
            app = server.lake.appender()
            app.append(batch, np.arange(3), np.full(3, k * STEP), np.ones(3))
            app.commit()
        server.ready = True
        client = TestClient(server.app)
        # at 100 s with a 1m lookback: 4 samples (k 3..6) and 1 grid point per series
        ok = client.get("/api/v1/query", params={"query": 'm{i="1"}', "time": "100"})
        assert ok.status_code == 200, ok.text
        refused = client.get("/api/v1/query", params={"query": "m", "time": "100"})
        assert refused.status_code == 422
        assert refused.json() == {"status": "error", "errorType": "execution", "error": TOO_MANY}
    finally:
        server.lake.close()
