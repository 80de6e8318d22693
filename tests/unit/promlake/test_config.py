"""prometheus.yml loading: Prometheus's defaults and strict errors."""

from __future__ import annotations

import pytest

from promlake import config as cfg


def test_embedded_default_records_promlake_itself():
    c = cfg.load(cfg.default_config_text())
    assert c.scrape_interval_ms == 15_000
    assert [s.job_name for s in c.scrape_configs] == ["promlake"]


def test_defaults_match_prometheus():
    c = cfg.load("scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['x:1']}]\n")
    assert (c.scrape_interval_ms, c.scrape_timeout_ms, c.evaluation_interval_ms) == (60_000, 10_000, 60_000)
    sc = c.scrape_configs[0]
    assert (sc.metrics_path, sc.scheme, sc.honor_labels, sc.static_configs) == ("/metrics", "http", False, ((("x:1",), {}),))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("globl:\n  scrape_interval: 1m\n", "line 1: field globl not found in type config.plain"),
        ("global:\n  scrape_intervall: 1m\n", "line 2: field scrape_intervall not found in type config.GlobalConfig"),
        ("global:\n  scrape_interval: 1.5m\n", 'scrape_interval: unknown unit "." in duration "1.5m"'),
        ("global:\n  scrape_interval: 5s\n  scrape_timeout: 10s\n", "global scrape timeout greater than scrape interval"),
        ("scrape_configs:\n  - job_name: a\n  - job_name: a\n", "found multiple scrape configs with job name 'a'"),
        ("scrape_configs:\n  - job_name: a\n    tragets: []\n", "line 3: field tragets not found in type config.ScrapeConfig"),
        ("global: [\n", "parsing YAML"),
    ],
)
def test_bad_config_gets_a_clear_error(text, message):
    with pytest.raises(cfg.ConfigError) as err:
        cfg.load(text)
    assert message in str(err.value)


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(cfg.ConfigError, match=r"error loading config from .*nope\.yml"):
        cfg.load_file(tmp_path / "nope.yml")
