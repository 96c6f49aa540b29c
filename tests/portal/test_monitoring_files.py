"""docs/monitoring/: the alert rules and the Grafana dashboard load, and every expression
names only series that /metrics exports (a renamed series breaks this test, not 3 a.m.)."""

import json
import re
import time
from pathlib import Path

import pytest
import redis
import yaml
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

from portal import beat

MONITORING = Path(__file__).resolve().parents[2] / "docs" / "monitoring"
SERIES = re.compile(r"\b(leadportal_[a-z_]+)")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
}
# Written by Prometheus itself about each scrape, not by the application.
PROMETHEUS_OWN = {"up"}


@pytest.fixture
def exported(client, db) -> set[str]:
    """Every sample name a scrape can hold, from the families' types (a labelled series
    with no sample yet still has its family)."""
    heartbeat = redis.Redis.from_url(settings.REDIS_URL)
    heartbeat.set(beat.HEARTBEAT_KEY, str(time.time()))
    try:
        text = client.get("/metrics").content.decode()
    finally:
        heartbeat.delete(beat.HEARTBEAT_KEY)
        heartbeat.close()
    names = set()
    for family in text_string_to_metric_families(text):
        if family.name.startswith("leadportal_"):
            names.update(family.name + suffix for suffix in SUFFIXES[family.type])
    return names


def _rules() -> list[dict]:
    groups = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_every_alert_rule_names_exported_series(exported):
    rules = _rules()

    assert len(rules) >= 10
    for rule in rules:
        assert set(rule) >= {"alert", "expr", "labels", "annotations"}, rule
        names = set(SERIES.findall(rule["expr"]))
        assert names or PROMETHEUS_OWN & set(re.findall(r"\w+", rule["expr"])), rule["alert"]
        assert names <= exported, (rule["alert"], names - exported)


def test_the_dashboard_is_grafana_json_whose_every_expr_names_exported_series(exported):
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs = _dashboard_exprs()

    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 30
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    assert exprs
    for expr in exprs:
        names = set(SERIES.findall(expr))
        assert names, expr
        assert names <= exported, (expr, names - exported)


def test_every_application_series_is_on_the_dashboard(exported):
    shown = {name for expr in _dashboard_exprs() for name in SERIES.findall(expr)}
    families = {name.removesuffix("_total").removesuffix("_bucket") for name in shown}

    missing = {
        name
        for name in exported
        if not name.endswith(("_created", "_count", "_sum"))
        and name.removesuffix("_total").removesuffix("_bucket") not in families
    }
    assert missing == set()
