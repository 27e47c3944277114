"""deploy/grafana-dashboard.json and deploy/prometheus-alerts.yml: they load, are shaped as Grafana and
Prometheus expect, and read only metrics the bot exports (taken from a real exposition of
bot/web/metrics.py, parsed with prometheus-client's parser)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from bot.web.metrics import PrometheusMetrics, StateSources

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
# Series Prometheus itself records for every scrape target.
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count"),
            "gauge": ("",), "info": ("_info",)}
PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def exported_names() -> set[str]:
    """Every series name the bot's /metrics can carry, by family type (a histogram nobody has observed yet
    still has its `_bucket` name)."""
    metrics = PrometheusMetrics(provider="sandbox")
    metrics.read_state_from(StateSources(queue_depth=lambda: 0, tracked=lambda: 0, gateway_up=lambda: True))
    text = metrics.exposition({}).decode()
    return {family.name + suffix for family in text_string_to_metric_families(text)
            for suffix in SUFFIXES[family.type]}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (what is left once strings, label matchers, ranges,
    groupings, Grafana variables, durations, numbers, functions and keywords are taken out)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\$\{?\w+\}?", "", expr)
    expr = re.sub(r"\b(?:\d+(?:ms|[smhdwy]))+\b", "", expr)  # durations (offset 5m)
    expr = re.sub(r"\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b", "", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        is_function = expr[match.end():].lstrip().startswith("(")
        if not is_function and match.group() not in PROMQL_WORDS:
            names.add(match.group())
    return names


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    return loaded


def dashboard_exprs() -> list[str]:
    return [target["expr"] for panel in dashboard()["panels"] for target in panel.get("targets", [])]


def alert_rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load((DEPLOY / "prometheus-alerts.yml").read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def test_metric_names_are_read_out_of_promql() -> None:
    expr = ('histogram_quantile(0.95, sum by (le, provider) (rate(kling_job_duration_seconds_bucket'
            '{job="$job", outcome="delivered"}[$__rate_interval]))) > 1e9 and on() absent(up{job="x"}) '
            'or sum without (instance) (kling_jobs{status=~"queued|failed"}) / ignoring(le) b_total offset 5m')
    assert metric_names(expr) == {"kling_job_duration_seconds_bucket", "up", "kling_jobs", "b_total"}


def test_the_bot_exports_what_the_dashboard_and_alerts_are_written_for() -> None:
    names = exported_names()
    assert {"kling_jobs", "kling_queue_depth", "kling_jobs_tracked", "kling_gateway_up", "kling_build_info",
            "kling_provider_calls_total", "kling_provider_call_seconds_bucket", "kling_callbacks_total",
            "kling_deliveries_total", "kling_job_duration_seconds_bucket", "kling_queue_wait_seconds_count",
            "kling_credits_total", "kling_provider_balance", "process_resident_memory_bytes",
            "process_cpu_seconds_total", "python_info"} <= names


def test_the_dashboard_is_a_grafana_dashboard_reading_only_exported_metrics() -> None:
    board = dashboard()
    assert board["uid"] == "kling-bot" and board["title"] and board["schemaVersion"] >= 36
    variables = {variable["name"]: variable["type"] for variable in board["templating"]["list"]}
    assert variables == {"datasource": "datasource", "job": "query"}
    panels = board["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    occupied: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                 for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & occupied, f"{panel['title']} overlaps another panel"
        occupied |= cells
        if panel["type"] != "row":
            assert panel["targets"] and panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert all('job="$job"' in target["expr"] for target in panel["targets"]), panel["title"]
    used = set().union(*(metric_names(expr) for expr in dashboard_exprs()))
    exported = exported_names() | PROMETHEUS_OWN
    assert used <= exported, used - exported
    # A panel for every family of the bot's own.
    assert {name for name in exported_names() if name.startswith("kling_")} - used <= {
        "kling_provider_call_seconds_sum", "kling_provider_call_seconds_count", "kling_job_duration_seconds_sum",
        "kling_queue_wait_seconds_sum", "kling_queue_wait_seconds_count",
    }


def test_the_alert_rules_parse_and_read_only_exported_metrics() -> None:
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} >= {
        "KlingBotDown", "KlingGatewayDown", "KlingProviderErrors", "KlingNoDeliveriesWhileJobsWait",
        "KlingJobsStuckInQueue", "KlingMemoryHigh",
    }
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "0s")), rule["alert"]
    used = set().union(*(metric_names(rule["expr"]) for rule in rules))
    exported = exported_names() | PROMETHEUS_OWN
    assert used <= exported, used - exported
    assert {"up", "kling_gateway_up", "kling_provider_calls_total", "kling_deliveries_total", "kling_jobs",
            "kling_queue_depth", "process_resident_memory_bytes"} <= used
