"""prometheus.yml: strict loading with Prometheus's defaults and error style.

Like Prometheus, unknown keys are errors (with the line they are on), durations use its
grammar, and a config that fails to load leaves the running one in place. Sections owned by
later subsystems (alerting, remote_write, ...) are kept as plain data and validated as far
as their keys; their subsystems read them from ``Config.raw``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from promlake.promql2sql.durations import DurationError, parse_duration

TOP_LEVEL = {
    "global", "runtime", "rule_files", "scrape_config_files", "scrape_configs", "alerting",
    "remote_write", "remote_read", "otlp", "storage", "tracing",
}  # fmt: skip
GLOBAL_KEYS = {
    "scrape_interval", "scrape_timeout", "scrape_protocols", "evaluation_interval",
    "rule_query_offset", "external_labels", "query_log_file", "scrape_failure_log_file",
    "body_size_limit", "sample_limit", "label_limit", "label_name_length_limit",
    "label_value_length_limit", "target_limit", "keep_dropped_targets",
    "metric_name_validation_scheme", "metric_name_escaping_scheme", "scrape_native_histograms",
    "convert_classic_histograms_to_nhcb", "always_scrape_classic_histograms", "extra_scrape_metrics",
}  # fmt: skip
SCRAPE_KEYS = {
    "job_name", "scrape_interval", "scrape_timeout", "scrape_protocols", "fallback_scrape_protocol",
    "metrics_path", "honor_labels", "honor_timestamps", "track_timestamps_staleness", "scheme",
    "params", "enable_compression", "scrape_failure_log_file", "basic_auth", "authorization",
    "oauth2", "follow_redirects", "enable_http2", "tls_config", "proxy_url", "no_proxy",
    "proxy_from_environment", "proxy_connect_header", "http_headers", "static_configs",
    "file_sd_configs", "http_sd_configs", "dns_sd_configs", "kubernetes_sd_configs",
    "consul_sd_configs", "ec2_sd_configs", "relabel_configs", "metric_relabel_configs",
    "body_size_limit", "sample_limit", "label_limit", "label_name_length_limit",
    "label_value_length_limit", "target_limit", "keep_dropped_targets",
    "metric_name_validation_scheme", "metric_name_escaping_scheme", "native_histogram_bucket_limit",
    "native_histogram_min_bucket_factor", "scrape_native_histograms",
    "convert_classic_histograms_to_nhcb", "always_scrape_classic_histograms", "extra_scrape_metrics",
}  # fmt: skip
STATIC_KEYS = {"targets", "labels"}


class ConfigError(ValueError):
    """The configuration cannot be used; the message says where and why."""


@dataclass(frozen=True)
class ScrapeConfig:
    job_name: str
    scrape_interval_ms: int
    scrape_timeout_ms: int
    metrics_path: str = "/metrics"
    scheme: str = "http"
    honor_labels: bool = False
    honor_timestamps: bool = True
    static_configs: tuple[tuple[tuple[str, ...], dict[str, str]], ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    scrape_interval_ms: int = 60_000
    scrape_timeout_ms: int = 10_000
    evaluation_interval_ms: int = 60_000
    external_labels: dict[str, str] = field(default_factory=dict)
    rule_files: tuple[str, ...] = ()
    scrape_configs: tuple[ScrapeConfig, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)
    text: str = ""  # the YAML as loaded, for /api/v1/status/config
    source: str = ""


def load_file(path: str | Path) -> Config:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"error loading config from {str(p)!r}: {exc.strerror or exc}") from exc
    try:
        return load(text, source=str(p))
    except ConfigError as exc:
        raise ConfigError(f"error loading config from {str(p)!r}: {exc}") from exc


def default_config_text() -> str:
    """The embedded configuration ``promlake serve`` uses without --config.file."""
    return resources.files("promlake").joinpath("default.yml").read_text()


def load(text: str, source: str = "<string>") -> Config:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"parsing YAML file {source}: {exc}") from exc
    if root is None:
        return Config(text=text, source=source)
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError("yaml: the configuration must be a mapping")
    _strict(root, TOP_LEVEL, "config.plain")
    data: dict[str, Any] = yaml.safe_load(text) or {}
    g_node = _child(root, "global")
    if g_node is not None:
        _strict(g_node, GLOBAL_KEYS, "config.GlobalConfig")
    glob = data.get("global") or {}
    interval = _duration(glob, "scrape_interval", 60_000)
    timeout = _duration(glob, "scrape_timeout", min(10_000, interval))
    if timeout > interval:
        raise ConfigError(
            f"global scrape timeout greater than scrape interval ({glob.get('scrape_timeout')} > {glob.get('scrape_interval', '1m')})"
        )
    scrape_configs = []
    jobs: set[str] = set()
    sc_node = _child(root, "scrape_configs")
    for i, sc in enumerate(data.get("scrape_configs") or []):
        if sc_node is not None and isinstance(sc_node, yaml.SequenceNode):
            _strict(sc_node.value[i], SCRAPE_KEYS, "config.ScrapeConfig")
        scrape_configs.append(_scrape_config(sc, interval, timeout, jobs))
    return Config(
        scrape_interval_ms=interval,
        scrape_timeout_ms=timeout,
        evaluation_interval_ms=_duration(glob, "evaluation_interval", 60_000),
        external_labels={str(k): str(v) for k, v in (glob.get("external_labels") or {}).items()},
        rule_files=tuple(data.get("rule_files") or ()),
        scrape_configs=tuple(scrape_configs),
        raw=data,
        text=text,
        source=source,
    )


def _scrape_config(sc: dict[str, Any], g_interval: int, g_timeout: int, jobs: set[str]) -> ScrapeConfig:
    name = sc.get("job_name")
    if not name:
        raise ConfigError("job_name is empty")
    if name in jobs:
        raise ConfigError(f"found multiple scrape configs with job name {name!r}")
    jobs.add(name)
    interval = _duration(sc, "scrape_interval", g_interval)
    timeout = _duration(sc, "scrape_timeout", min(g_timeout, interval))
    if timeout > interval:
        raise ConfigError(
            f"scrape timeout greater than scrape interval for scrape config with job name {name!r}"
        )
    statics = []
    for st in sc.get("static_configs") or []:
        extra = set(st) - STATIC_KEYS
        if extra:
            raise ConfigError(f"field {sorted(extra)[0]} not found in type targetgroup.plain")
        targets = tuple(str(t) for t in st.get("targets") or ())
        labels = {str(k): str(v) for k, v in (st.get("labels") or {}).items()}
        statics.append((targets, labels))
    return ScrapeConfig(
        job_name=str(name),
        scrape_interval_ms=interval,
        scrape_timeout_ms=timeout,
        metrics_path=str(sc.get("metrics_path", "/metrics")),
        scheme=str(sc.get("scheme", "http")),
        honor_labels=bool(sc.get("honor_labels", False)),
        honor_timestamps=bool(sc.get("honor_timestamps", True)),
        static_configs=tuple(statics),
        raw=sc,
    )


def _duration(section: dict[str, Any], key: str, default: int) -> int:
    if key not in section or section[key] is None:
        return default
    try:
        return parse_duration(str(section[key]))
    except DurationError as exc:
        raise ConfigError(f"{key}: {exc}") from exc


def _child(node: yaml.MappingNode, key: str) -> yaml.Node | None:
    for k, v in node.value:
        if k.value == key:
            return v
    return None


def _strict(node: yaml.Node, allowed: set[str], type_name: str) -> None:
    """Refuse unknown keys the way Go's strict YAML decoding does, with line numbers."""
    if not isinstance(node, yaml.MappingNode):
        return
    unknown = [
        f"  line {k.start_mark.line + 1}: field {k.value} not found in type {type_name}"
        for k, _v in node.value
        if k.value not in allowed
    ]
    if unknown:
        raise ConfigError("yaml: unmarshal errors:\n" + "\n".join(unknown))
