"""The network policies (deploy/k8s/base/network-policies.yaml and the overlays' patches),
read from the rendered manifests of each kustomization (issue 18, item 6):

- every retour pod is denied by default, in and out;
- each pod may open exactly the connections listed in EGRESS below, at the ports its own
  configuration names (retour-config, retour-notifications): a port moved in a ConfigMap and
  not in the policies, or a new destination, fails here, so a change is a conscious one;
- each service's HTTP port, and nothing else, is open to its namespace, the ingress
  controller and Prometheus;
- on the dev overlay, where PostgreSQL, Kafka and Mailpit run in the namespace, every
  connection the pods make is allowed at both ends, and others are not.

Policies are additive: a pod may do what any policy selecting it allows.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import urlsplit

import pytest
from test_deploy_artifacts import KUSTOMIZATIONS, _http_port, _of_kind, _pod_spec, _rendered

from retour_kit.provision import SERVICES

Labels = dict[str, str]
# (who, protocol, port): who is "anywhere" or a description of a pod/namespace selector.
Rule = tuple[str, str, int]

ANYWHERE = "anywhere"
DNS = "namespace kubernetes.io/metadata.name=kube-system, pods k8s-app=kube-dns"
INGRESS_CONTROLLER = "namespace kubernetes.io/metadata.name=ingress-nginx"
PROMETHEUS = (
    "namespace kubernetes.io/metadata.name=monitoring, pods app.kubernetes.io/name=prometheus"
)
SAME_NAMESPACE = "this namespace"
WORKLOADS = ("retour-setup", *(f"retour-{s}" for s in SERVICES))

# What each retour pod may reach. "identity provider" only where tokens are verified with
# AUTH_JWKS_URL (production); the setup Job verifies no token.
EGRESS: dict[str, tuple[str, ...]] = {
    "retour-setup": ("dns", "postgresql", "kafka"),
    "retour-intake": ("dns", "postgresql", "kafka", "identity provider"),
    "retour-reintegration": ("dns", "postgresql", "kafka", "identity provider"),
    "retour-notifications": (
        "dns",
        "postgresql",
        "kafka",
        "identity provider",
        "intake's key store",
        "kannel",
        "smtp relay",
    ),
    "retour-reporting": ("dns", "postgresql", "kafka", "identity provider"),
}


def _config(kustomization: str, prefix: str) -> dict[str, str]:
    [config] = [
        d["data"]
        for d in _rendered(kustomization)
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith(f"{prefix}-")
    ]
    return dict(config)


def _url_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or {"http": 80, "https": 443}[parts.scheme]


def _destinations(kustomization: str) -> dict[str, set[Rule]]:
    """Each name of EGRESS -> the rules it means, from the overlay's own configuration."""
    config = _config(kustomization, "retour-config")
    notifications = _config(kustomization, "retour-notifications")
    intake = urlsplit(notifications["INTAKE_URL"])
    # Notifications reaches intake through its Service: the rule names the Service's pods.
    selector = _of_kind(kustomization, "Service")[str(intake.hostname)]["spec"]["selector"]
    intake_pods = "pods " + ", ".join(f"{k}={v}" for k, v in sorted(selector.items()))
    brokers = config["KAFKA_BOOTSTRAP_SERVERS"].split(",")
    jwks = config.get("AUTH_JWKS_URL")
    return {
        "dns": {(DNS, "UDP", 53), (DNS, "TCP", 53)},
        "postgresql": {(ANYWHERE, "TCP", int(config["RETOUR_PG_PORT"]))},
        "kafka": {(ANYWHERE, "TCP", int(b.rpartition(":")[2])) for b in brokers},
        "identity provider": {(ANYWHERE, "TCP", _url_port(jwks))} if jwks else set(),
        "intake's key store": {(intake_pods, "TCP", _url_port(notifications["INTAKE_URL"]))},
        "kannel": {(ANYWHERE, "TCP", _url_port(notifications["KANNEL_SENDSMS_URL"]))},
        "smtp relay": {(ANYWHERE, "TCP", int(notifications["SMTP_PORT"]))},
    }


# ---------------------------------------------------------------------------------------------
# Reading the policies


def _selects(selector: dict[str, Any], labels: Labels) -> bool:
    """Kubernetes' label selector semantics; {} selects everything."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        present = key in labels
        if operator == "In":
            matched = present and labels[key] in expression["values"]
        elif operator == "NotIn":
            matched = not present or labels[key] not in expression["values"]
        else:
            assert operator in ("Exists", "DoesNotExist"), operator
            matched = present == (operator == "Exists")
        if not matched:
            return False
    return True


def _describe(selector: dict[str, Any]) -> str:
    assert set(selector) <= {"matchLabels"}, f"describe only matchLabels: {selector}"
    return ", ".join(f"{k}={v}" for k, v in sorted(selector.get("matchLabels", {}).items()))


def _who(peer: dict[str, Any]) -> str:
    assert "ipBlock" not in peer, "extend the test to read ipBlocks"
    parts = []
    if "namespaceSelector" in peer:
        parts.append(f"namespace {_describe(peer['namespaceSelector'])}")
    if peer.get("podSelector"):
        parts.append(f"pods {_describe(peer['podSelector'])}")
    return ", ".join(parts) or SAME_NAMESPACE


def _policies(kustomization: str, direction: str, labels: Labels) -> list[dict[str, Any]]:
    return [
        policy["spec"]
        for policy in _of_kind(kustomization, "NetworkPolicy").values()
        if direction in policy["spec"]["policyTypes"]
        and _selects(policy["spec"]["podSelector"], labels)
    ]


def _rules(kustomization: str, direction: str, labels: Labels) -> set[Rule] | None:
    """What the policies selecting a pod with ``labels`` allow it in ``direction`` (Ingress:
    from whom, Egress: to whom), or None when no policy isolates it (everything allowed)."""
    policies = _policies(kustomization, direction, labels)
    if not policies:
        return None
    peers_key = "from" if direction == "Ingress" else "to"
    allowed: set[Rule] = set()
    for spec in policies:
        for rule in spec.get(direction.lower(), []):
            # A rule without ports opens every port: none of ours may.
            assert rule.get("ports"), f"{direction} rule without ports: {rule}"
            for port in rule["ports"]:
                # Numbers only: a named port would mean another thing on each destination.
                assert isinstance(port["port"], int), port
                for peer in rule.get(peers_key) or [{"everywhere": True}]:
                    who = ANYWHERE if "everywhere" in peer else _who(peer)
                    allowed.add((who, port.get("protocol", "TCP"), port["port"]))
    return allowed


@cache
def _pods(kustomization: str) -> dict[str, Labels]:
    """Workload name -> its pods' labels, for every workload of the kustomization."""
    return {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in _rendered(kustomization)
        if d["kind"] in ("Deployment", "StatefulSet", "Job")
    }


# ---------------------------------------------------------------------------------------------
# What each retour pod may do


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_retour_pod_is_denied_by_default(kustomization: str) -> None:
    retour = {name for name, labels in _pods(kustomization).items() if "retour" in labels.values()}
    assert retour == set(WORKLOADS)
    defaults = [
        p["spec"]
        for p in _of_kind(kustomization, "NetworkPolicy").values()
        if set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and "ingress" not in p["spec"]
        and "egress" not in p["spec"]
    ]
    for name in WORKLOADS:
        labels = _pods(kustomization)[name]
        assert labels["app.kubernetes.io/part-of"] == "retour", name
        assert any(_selects(d["podSelector"], labels) for d in defaults), f"{name}: default deny"


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
@pytest.mark.parametrize("workload", WORKLOADS)
def test_each_pod_reaches_exactly_what_it_needs(kustomization: str, workload: str) -> None:
    destinations = _destinations(kustomization)
    expected = set().union(*(destinations[name] for name in EGRESS[workload]))
    allowed = _rules(kustomization, "Egress", _pods(kustomization)[workload])
    assert allowed is not None, f"{workload} in {kustomization}: no policy restricts it"
    assert allowed == expected, (
        f"{workload} in {kustomization}: allowed beyond its needs {allowed - expected}, "
        f"needed but not allowed {expected - allowed}"
    )


def test_production_reaches_the_managed_services_at_their_own_ports() -> None:
    """The overlay's patches follow its configuration: not the base's ports."""
    destinations = _destinations("overlays/production")
    assert destinations["kafka"] == {(ANYWHERE, "TCP", 9096)}
    assert destinations["kannel"] == {(ANYWHERE, "TCP", 443)}
    assert destinations["identity provider"] == {(ANYWHERE, "TCP", 443)}
    assert _destinations("overlays/dev")["smtp relay"] == {(ANYWHERE, "TCP", 1025)}


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
@pytest.mark.parametrize("workload", WORKLOADS)
def test_only_the_http_port_is_open_and_only_to_the_namespace_ingress_and_prometheus(
    kustomization: str, workload: str
) -> None:
    allowed = _rules(kustomization, "Ingress", _pods(kustomization)[workload])
    if workload == "retour-setup":
        assert allowed == set(), "the setup Job serves nothing"
        return
    port = _http_port(workload.removeprefix("retour-"))
    assert allowed == {
        (who, "TCP", port) for who in (SAME_NAMESPACE, INGRESS_CONTROLLER, PROMETHEUS)
    }
    [container] = _pod_spec(_of_kind(kustomization, "Deployment")[workload])["containers"]
    assert [p["containerPort"] for p in container["ports"]] == [port]


# ---------------------------------------------------------------------------------------------
# The dev overlay: its in-cluster PostgreSQL, Kafka and Mailpit


DEV = "overlays/dev"


def _reaches(source: str, service: str, port: int) -> bool:
    """Whether a pod of workload ``source`` may connect to the Service ``service`` at
    ``port``, both ends' policies considered, all pods in the overlay's namespace."""
    target = _of_kind(DEV, "Service")[service]
    [service_port] = [p for p in target["spec"]["ports"] if p["port"] == port]
    destinations = [
        (name, labels)
        for name, labels in _pods(DEV).items()
        if _selects({"matchLabels": target["spec"]["selector"]}, labels)
    ]
    assert destinations, f"{service} selects no pod"
    [(workload, labels)] = destinations
    pod_port = _container_port(workload, service_port["targetPort"])
    return _allowed(_pods(DEV)[source], labels, pod_port, "Egress") and _allowed(
        labels, _pods(DEV)[source], pod_port, "Ingress"
    )


def _container_port(workload: str, target_port: int | str) -> int:
    for document in _rendered(DEV):
        if document["metadata"]["name"] == workload and "template" in document.get("spec", {}):
            for container in _pod_spec(document)["containers"]:
                for port in container.get("ports", []):
                    if target_port in (port["containerPort"], port.get("name")):
                        return int(port["containerPort"])
    raise AssertionError(f"{workload} has no port {target_port}")


def _allowed(pod: Labels, peer: Labels, port: int, direction: str) -> bool:
    rules = _rules(DEV, direction, pod)
    if rules is None:
        return True  # no policy isolates the pod in that direction
    namespace = f"namespace kubernetes.io/metadata.name={_namespace()}"
    for who, protocol, allowed_port in rules:
        if protocol != "TCP" or allowed_port != port:
            continue
        if who in (ANYWHERE, SAME_NAMESPACE, namespace):
            return True
        if who.startswith("pods "):
            wanted = dict(pair.split("=") for pair in who.removeprefix("pods ").split(", "))
            if _selects({"matchLabels": wanted}, peer):
                return True
    return False


@cache
def _namespace() -> str:
    [namespace] = [d["metadata"]["name"] for d in _rendered(DEV) if d["kind"] == "Namespace"]
    return str(namespace)


def _dev_connections() -> list[tuple[str, str, int]]:
    """(workload, Service, port) of every connection the dev pods make, from their settings."""
    config = _config(DEV, "retour-config")
    notifications = _config(DEV, "retour-notifications")
    postgres = (config["RETOUR_PG_HOST"], int(config["RETOUR_PG_PORT"]))
    brokers = [b.rpartition(":") for b in config["KAFKA_BOOTSTRAP_SERVERS"].split(",")]
    kafka = [(host, int(port)) for host, _, port in brokers]
    intake = urlsplit(notifications["INTAKE_URL"])
    connections = [
        (workload, host, port) for workload in WORKLOADS for host, port in [postgres, *kafka]
    ]
    connections += [
        ("retour-notifications", notifications["SMTP_HOST"], int(notifications["SMTP_PORT"])),
        ("retour-notifications", str(intake.hostname), _url_port(notifications["INTAKE_URL"])),
        # The Job that creates the Kafka principals, before the setup Job runs.
        ("kafka-principals", *kafka[0]),
    ]
    return connections


def test_the_dev_overlay_lets_every_connection_it_needs_through() -> None:
    refused = [c for c in _dev_connections() if not _reaches(*c)]
    assert refused == []


def test_the_dev_overlay_stops_what_nobody_needs() -> None:
    """Guards the test above: the same reading says no where a policy does."""
    unneeded = [
        ("retour-reporting", "mailpit", 1025),
        ("retour-intake", "retour-reporting", 8004),
        ("retour-setup", "retour-intake", 8001),
        ("retour-notifications", "mailpit", 8025),
    ]
    assert [c for c in unneeded if _reaches(*c)] == []
