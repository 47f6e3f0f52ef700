"""The monitoring manifests (deploy/k8s/components/monitoring, in the production overlay),
checked without a cluster (issue 18, item 6):

- the ServiceMonitors and the PrometheusRule validate against the Prometheus Operator's own
  CRD schemas (openAPIV3Schema, made strict: an unknown field fails, as the API server's
  strict field validation would), and scrape each service's Service by its port's name;
- the rules pass what `promtool check rules` checks: tools/monitoring's promql-check parses
  them with Prometheus's rulefmt (unknown fields refused, every expression through the PromQL
  parser, every annotation template parsed);
- every metric an alert or a dashboard panel reads is one a service exposes at /metrics, read
  from the four apps built as tests/test_service_apps.py builds them;
- every alert has a severity, a summary, a description and a runbook section in
  docs/operations.md, and the dashboard shows every signal the alerts watch.

The CRDs and promql-check are installed into .local/monitoring by tools/monitoring/install.sh
(`make setup`); a missing one fails these tests, never skips them. Nothing here uses the network.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import subprocess
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from test_deploy_artifacts import OPERATIONS_DOC, ROOT, _of_kind, _rendered
from test_service_apps import settings_and_app

from retour_kit.provision import SERVICES

MONITORING = ROOT / "deploy" / "k8s" / "components" / "monitoring"
TOOLS = ROOT / "tools" / "monitoring"
INSTALLED = ROOT / ".local" / "monitoring"
PROMQL_CHECK = INSTALLED / "bin" / "promql-check"
CRDS = {
    "ServiceMonitor": "monitoring.coreos.com_servicemonitors.yaml",
    "PrometheusRule": "monitoring.coreos.com_prometheusrules.yaml",
}
# Where the operator's objects are deployed: the production overlay includes the component.
OVERLAY = "overlays/production"
SEVERITIES = ("critical", "warning")


def _installed(path: Path) -> Path:
    if not path.exists():
        pytest.fail(
            f"{path.relative_to(ROOT)} is missing: run `make setup` (tools/monitoring/install.sh,"
            " which needs Go)"
        )
    return path


# ---------------------------------------------------------------------------------------------
# The operator's CRDs


@cache
def _crd_schema(kind: str) -> dict[str, Any]:
    """The openAPIV3Schema of ``kind``'s CRD, v1, closed wherever the API server prunes."""
    crds = _installed(INSTALLED / "crds")
    # The files are the ones install.sh checked; check again, the schema is the test's oracle.
    for line in (TOOLS / "crds.sha256").read_text().splitlines():
        digest, name = line.split()
        actual = hashlib.sha256((crds / name).read_bytes()).hexdigest()
        assert actual == digest, f"{name} is not the pinned CRD: run `make setup`"
    crd = yaml.safe_load((crds / CRDS[kind]).read_text())
    assert crd["spec"]["names"]["kind"] == kind
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema: dict[str, Any] = _strict(version["schema"]["openAPIV3Schema"])
    return schema


def _strict(schema: Any) -> Any:
    """The schema with `additionalProperties: false` on every object that lists its
    properties and does not keep unknown fields: the API server drops such fields silently
    (or refuses them with strict field validation), so a typo in a manifest would be lost."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: _strict(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        closed["additionalProperties"] = False
    return closed


def _crd_errors(document: dict[str, Any]) -> list[str]:
    # OpenAPI 3.0 schemas are JSON Schema draft 4 in what CRDs use of them.
    validator = jsonschema.Draft4Validator(_crd_schema(document["kind"]))
    name = f"{document['kind']}/{document['metadata']['name']}"
    return [f"{name} {list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def _custom_resources() -> list[dict[str, Any]]:
    return [d for d in _rendered(OVERLAY) if d["apiVersion"] == "monitoring.coreos.com/v1"]


def test_production_gets_the_service_monitors_rules_and_dashboard() -> None:
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in _custom_resources())
    assert kinds == sorted(
        [("PrometheusRule", "retour")] + [("ServiceMonitor", f"retour-{s}") for s in SERVICES]
    )
    assert "retour-dashboard" in _of_kind(OVERLAY, "ConfigMap")
    # A local cluster rarely has the operator's CRDs: `kubectl apply` would refuse these objects.
    assert not [d for d in _rendered("overlays/dev") if "monitoring.coreos.com" in d["apiVersion"]]


def test_custom_resources_validate_strictly_against_the_operators_crds() -> None:
    errors = [error for document in _custom_resources() for error in _crd_errors(document)]
    assert not errors, "\n".join(errors)


def test_the_crd_validation_rejects_an_unknown_field_and_a_bad_duration() -> None:
    """Guards the test above against a schema that accepts anything."""
    monitor = json.loads(json.dumps(_of_kind(OVERLAY, "ServiceMonitor")["retour-intake"]))
    monitor["spec"]["endpoints"][0]["prot"] = "http"
    assert any("'prot' was unexpected" in e for e in _crd_errors(monitor))
    rule = json.loads(json.dumps(_of_kind(OVERLAY, "PrometheusRule")["retour"]))
    rule["spec"]["groups"][0]["rules"][0]["for"] = "two minutes"
    assert any("does not match" in e for e in _crd_errors(rule))


def test_each_service_monitor_scrapes_its_services_metrics_port() -> None:
    monitors = _of_kind(OVERLAY, "ServiceMonitor")
    services = _of_kind(OVERLAY, "Service")
    for service in SERVICES:
        spec = monitors[f"retour-{service}"]["spec"]
        target = services[f"retour-{service}"]
        labels = target["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items()
        selected = [
            s
            for s in services.values()
            if spec["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
        ]
        assert selected == [target], f"{service}: the ServiceMonitor selects one Service"
        port_names = {p["name"] for p in target["spec"]["ports"]}
        [endpoint] = spec["endpoints"]
        assert endpoint["port"] in port_names
        assert endpoint["path"] == "/metrics"


def test_the_dashboard_is_a_configmap_for_grafanas_sidecar() -> None:
    dashboard = _of_kind(OVERLAY, "ConfigMap")["retour-dashboard"]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    [(name, text)] = dashboard["data"].items()
    assert name.endswith(".json")
    assert text == (MONITORING / "dashboards" / "retour.json").read_text()


# ---------------------------------------------------------------------------------------------
# promql-check: rulefmt and the PromQL parser


def _promql_check(*arguments: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    binary = _installed(PROMQL_CHECK)
    sources = b"".join((TOOLS / name).read_bytes() for name in ("go.mod", "go.sum", "main.go"))
    built_from = Path(f"{binary}.sources").read_text().strip()
    assert built_from == hashlib.sha256(sources).hexdigest(), (
        "promql-check is older than tools/monitoring: run `make setup`"
    )
    return subprocess.run(
        [str(binary), *arguments], input=stdin, capture_output=True, text=True, timeout=60
    )


def _rules() -> dict[str, Any]:
    """The rule file the operator gives Prometheus: the PrometheusRule's spec."""
    return dict(_of_kind(OVERLAY, "PrometheusRule")["retour"]["spec"])


def _checked_rules(rule_file: dict[str, Any], directory: Path) -> dict[str, list[str]]:
    """rulefmt's verdict on ``rule_file``: rule name -> the metrics its expression reads."""
    path = directory / "rules.yaml"
    path.write_text(yaml.safe_dump(rule_file, sort_keys=False))
    result = _promql_check("rules", str(path))
    assert result.returncode == 0, f"promql-check rules:\n{result.stderr}"
    return {rule["name"]: rule["metrics"] for rule in json.loads(result.stdout)["rules"]}


def _expression_metrics(expressions: Iterable[str]) -> dict[str, list[str]]:
    """Each PromQL expression -> the metric names it reads, by Prometheus's parser."""
    result = _promql_check("exprs", stdin=json.dumps(list(expressions)))
    assert result.returncode == 0, f"promql-check exprs:\n{result.stderr}"
    return {found["expr"]: found["metrics"] for found in json.loads(result.stdout)}


def test_the_rules_pass_promtool_check_rules(tmp_path: Path) -> None:
    checked = _checked_rules(_rules(), tmp_path)
    alerts = [r["alert"] for g in _rules()["groups"] for r in g["rules"]]
    assert sorted(checked) == sorted(alerts)
    assert len(set(alerts)) == len(alerts), "alert names are unique"
    assert all(checked.values()), "every rule reads some metric"


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("expr", "sum by (job) (rate(http_requests_total[5m])", "could not parse expression"),
        ("fro", "5m", "field fro not found"),
        ("for", "5 minutes", 'in duration "5 minutes"'),
        ("annotations", {"summary": "{{ $labels.job "}, 'annotation "summary"'),
    ],
)
def test_promql_check_refuses_a_broken_rule(
    tmp_path: Path, field: str, value: Any, complaint: str
) -> None:
    """Guards the test above: what promtool refuses, promql-check refuses too."""
    broken = json.loads(json.dumps(_rules()))
    broken["groups"][0]["rules"][0][field] = value
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(broken, sort_keys=False))
    result = _promql_check("rules", str(path))
    assert result.returncode == 1
    assert complaint in result.stderr


def test_every_alert_says_how_urgent_it_is_what_it_means_and_where_the_runbook_is() -> None:
    headings = {
        match.lower()
        for match in re.findall(r"^#{2,4} (\S+)\s*$", OPERATIONS_DOC.read_text(), re.M)
    }
    problems = []
    for group in _rules()["groups"]:
        for rule in group["rules"]:
            name = rule["alert"]
            if rule.get("labels", {}).get("severity") not in SEVERITIES:
                problems.append(f"{name}: severity one of {SEVERITIES}")
            annotations = rule.get("annotations", {})
            if not annotations.get("summary") or len(annotations.get("description", "")) < 80:
                problems.append(f"{name}: a summary and a description of what to do")
            anchor = f"docs/operations.md#{name.lower()}"
            if anchor not in annotations.get("description", ""):
                problems.append(f"{name}: the description names its runbook, {anchor}")
            if name.lower() not in headings:
                problems.append(f"{name}: docs/operations.md has no section `#### {name}`")
            # A single scrape never pages: state alerts wait, counter alerts look back an hour.
            if "for" not in rule and "[1h]" not in rule["expr"]:
                problems.append(f"{name}: a `for:` duration")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# Metric names: only those the services expose


_SUFFIXES = {
    "counter": ("",),  # prometheus_client names counter families with their _total
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("", "_count", "_sum"),
    "info": ("",),
    "unknown": ("",),
}


def _series_names(exposition: str) -> set[str]:
    """The series names a Prometheus scraping this text can be queried for: every family
    (`# TYPE`), with its type's suffixes, even before a labelled family has a sample, and
    every sample's name (the `_created` companions)."""
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split()
            names.update(family + suffix for suffix in _SUFFIXES[kind])
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def test_series_names_follow_the_exposition_format() -> None:
    text = (
        "# TYPE consumer_lag gauge\n"
        "# TYPE http_requests_total counter\n"
        'http_requests_total{route="/healthz"} 1.0\n'
        "# TYPE http_requests_created gauge\n"
        'http_requests_created{route="/healthz"} 1.7e9\n'
        "# TYPE delay_seconds histogram\n"
    )
    assert _series_names(text) == {
        "consumer_lag",
        "http_requests_total",
        "http_requests_created",
        "delay_seconds_bucket",
        "delay_seconds_count",
        "delay_seconds_sum",
    }


@cache
def _exposed() -> dict[str, frozenset[str]]:
    """Service -> the series names its /metrics exposes, from the app built with settings
    that point at nothing (no I/O: tests/test_service_apps.py)."""

    async def scrape(app: Any) -> str:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/metrics")
        response.raise_for_status()
        return response.text

    exposed: dict[str, frozenset[str]] = {}
    # Its own event loop, in a thread: the test session's loop belongs to pytest-asyncio.
    with ThreadPoolExecutor(max_workers=1) as thread:
        for service in SERVICES:
            _, app = settings_and_app(service)
            text = thread.submit(asyncio.run, scrape(app)).result(timeout=60)
            exposed[service] = frozenset(_series_names(text))
    return exposed


def _unknown(used: dict[str, list[str]]) -> dict[str, list[str]]:
    known = frozenset().union(*_exposed().values())
    return {
        where: sorted(set(names) - known) for where, names in used.items() if set(names) - known
    }


_GRAFANA_VARIABLES = re.compile(r"\$(?:__rate_interval|__interval|__range)\b|\$\{?(\w+)\}?")


def _as_promql(grafana_expression: str) -> str:
    """A panel's query as Prometheus gets it: Grafana's interval variables are durations, the
    others (the namespace) label values."""
    return _GRAFANA_VARIABLES.sub(lambda m: "retour" if m[1] else "5m", grafana_expression)


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


@cache
def _dashboard() -> dict[str, Any]:
    text = _of_kind(OVERLAY, "ConfigMap")["retour-dashboard"]["data"]["retour.json"]
    dashboard: dict[str, Any] = json.loads(text)
    return dashboard


def _dashboard_expressions() -> dict[str, str]:
    """PromQL as Prometheus receives it -> where in the dashboard it comes from."""
    found: dict[str, str] = {}
    for panel in _panels(_dashboard()["panels"]):
        for target in panel.get("targets", []):
            found[_as_promql(target["expr"])] = f"panel {panel['title']!r}"
    for variable in _dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"]
            selector = re.fullmatch(r"label_values\((.+),\s*\w+\)", query)
            assert selector, f"variable {variable['name']}: label_values(selector, label)"
            found[_as_promql(selector[1])] = f"variable {variable['name']}"
    return found


def test_the_alerts_read_only_metrics_the_services_expose(
    tmp_path: Path, isolated_logging: None
) -> None:
    assert not _unknown(_checked_rules(_rules(), tmp_path))


def test_the_dashboard_reads_only_metrics_the_services_expose(isolated_logging: None) -> None:
    expressions = _dashboard_expressions()
    used = _expression_metrics(expressions)
    unknown = {expressions[expr]: names for expr, names in _unknown(used).items()}
    assert not unknown, unknown


def test_a_made_up_metric_name_is_caught(isolated_logging: None) -> None:
    """Guards the two tests above: the check can fail. A histogram is queried through its
    _bucket series, never by its family's name."""
    used = _expression_metrics(
        [
            "sum(rate(consumer_dead_lettered_total[5m]))",
            "rate(retour_cases_at_risk_total[5m]) > 0",
            "histogram_quantile(0.9, rate(http_request_duration_seconds[5m]))",
            'outbox_backlog_rows and {__name__="outbox_backlog_row"}',
        ]
    )
    assert sorted(_unknown(used).values()) == [
        ["http_request_duration_seconds"],
        ["outbox_backlog_row"],
        ["retour_cases_at_risk_total"],
    ]
    # A name chosen by a regular expression cannot be checked, so it is refused.
    refused = _promql_check("exprs", stdin=json.dumps(['{__name__=~"consumer_.+"}']))
    assert refused.returncode == 1
    assert "cannot be checked" in refused.stderr


def test_the_dashboard_shows_what_the_alerts_watch(tmp_path: Path) -> None:
    alerted = set().union(*_checked_rules(_rules(), tmp_path).values())
    shown = set().union(*_expression_metrics(_dashboard_expressions()).values())
    assert sorted(alerted - shown) == []


def test_the_dashboard_panels_are_well_formed() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] == "retour-operations"
    panels = list(_panels(dashboard["panels"]))
    assert len({p["id"] for p in panels}) == len(panels), "panel ids are unique"
    for panel in panels:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
        if panel["type"] == "row":
            continue
        # One data source variable, chosen once, for every panel and query.
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"] and panel.get("description"), panel["title"]
        for target in panel["targets"]:
            assert 'namespace="$namespace"' in target["expr"], panel["title"]
