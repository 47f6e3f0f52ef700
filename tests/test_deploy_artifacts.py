"""The deployment artefacts, checked without a Docker engine (issue 7, items 2 to 4).

- the one Dockerfile (deploy/Dockerfile, a build arg per service) passes hadolint and keeps
  the image rules for every service (pinned bases, locked uv sync,
  non-root user, exec-form CMD, HEALTHCHECK, OCI labels), and .dockerignore lets in what it
  copies;
- deploy/compose.yaml validates against the vendored Compose Specification schema, raw and
  interpolated with deploy/.env.example, which lists exactly the variables it uses;
- every kustomize overlay renders with `kubectl kustomize`, and every rendered manifest
  validates strictly (no unknown field) against the pinned Kubernetes versions' schemas
  (the Prometheus Operator's objects against its CRDs: tests/test_k8s_monitoring.py;
  the network policies: tests/test_k8s_network_policies.py);
- Deployments have probes, resources, a non-root read-only security context; consumers'
  autoscalers stop at the partition count; the setup Job provisions, creates topics, migrates;
- docs/operations.md lists every environment variable the code reads, with its default.

The tools come from the dev dependency group; a missing one fails these tests, never skips them.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, cast

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from retour_contracts import CATALOG
from retour_kit.provision import SERVICES
from retour_kit.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
COMPOSE_SCHEMA = DEPLOY / "schemas" / "compose-spec.json"
COMPOSE_SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"
OPERATIONS_DOC = ROOT / "docs" / "operations.md"
KUSTOMIZATIONS = ("base", "overlays/dev", "overlays/production")
# The oldest Kubernetes minor we support and the newest whose schemas kubernetes-validate has.
KUBERNETES_VERSIONS = ("1.33.0", "1.37.0")
# Custom resources, which kubernetes-validate has no schema for: tests/test_k8s_monitoring.py
# validates them against the Prometheus Operator's CRDs.
CUSTOM_RESOURCES = frozenset(
    {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule")}
)
CONSUMERS = ("reintegration", "notifications", "reporting")
PARTITIONS = min(spec.default_partitions for spec in CATALOG)
PLACEHOLDER = "REPLACE_ME"


def _tool(name: str) -> str:
    """The dev environment's copy of a command-line tool; fails the test when it is missing."""
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} is not installed: it comes from the dev dependency group "
            "(`make setup`, i.e. uv sync --all-packages --locked)"
        )
    return found


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)


def _settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"retour_{service}.settings")
    return cast(type[ServiceSettings], module.Settings)


def _http_port(service: str) -> int:
    return cast(int, _settings_class(service).model_fields["http_port"].default)


# ---------------------------------------------------------------------------------------------
# Dockerfiles


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    stage: int


DOCKERFILE = DEPLOY / "Dockerfile"


def _build_args(service: str) -> dict[str, str]:
    """The build args Compose gives the Dockerfile for ``service``."""
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    args: dict[str, str] = compose[f"x-build-{service}"]["args"]
    return args


def _instructions(dockerfile: Path, args: dict[str, str] | None = None) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped; stage = FROM index.
    ``args`` are substituted for ``${NAME}`` as the builder would."""
    instructions: list[Instruction] = []
    stage = -1
    pending = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        for name, value in (args or {}).items():
            arguments = arguments.replace("${" + name + "}", value)
        pending = ""
        if keyword.upper() == "FROM":
            stage += 1
        instructions.append(Instruction(keyword.upper(), arguments.strip(), stage))
    return instructions


def _flags_and_words(arguments: str) -> tuple[dict[str, str], list[str]]:
    words = arguments.split()
    flags = dict(w[2:].partition("=")[::2] for w in words if w.startswith("--"))
    return flags, [w for w in words if not w.startswith("--")]


def _workspace_members() -> list[Path]:
    root = _toml(ROOT / "pyproject.toml")
    members: list[Path] = []
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        members.extend(sorted(p.parent for p in ROOT.glob(f"{pattern}/pyproject.toml")))
    return members


def _toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as file:
        return tomllib.load(file)


def _makefile_uv_version() -> str:
    found = re.search(r"^UV_VERSION\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert found, "Makefile: UV_VERSION not found"
    return found.group(1)


def test_one_dockerfile_builds_every_service() -> None:
    # The repository's own files: .venv and .local hold what tools downloaded (Toxiproxy's Go
    # module cache carries Dockerfiles of its dependencies).
    generated = {".venv", ".local", "node_modules"}
    copies = [
        s
        for s in ROOT.glob("**/Dockerfile")
        if not generated.intersection(s.relative_to(ROOT).parts) and s != DOCKERFILE
    ]
    assert DOCKERFILE.is_file()
    assert copies == [], f"one Dockerfile for all services, not copies: {copies}"
    for service in SERVICES:
        args = _build_args(service)
        assert args["SERVICE"] == service
        assert args["HTTP_PORT"] == str(_http_port(service))
        assert args["DESCRIPTION"], f"{service}: a description for its image's label"


def test_hadolint_passes_on_the_dockerfile() -> None:
    dockerfile = str(DOCKERFILE.relative_to(ROOT))
    result = _run(_tool("hadolint"), "--config", ".hadolint.yaml", "--no-color", dockerfile)
    assert result.returncode == 0, f"hadolint:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_builds_the_service_the_agreed_way(service: str) -> None:
    instructions = _instructions(DOCKERFILE, _build_args(service))
    by_keyword: dict[str, list[Instruction]] = {}
    for instruction in instructions:
        by_keyword.setdefault(instruction.keyword, []).append(instruction)
    last_stage = max(i.stage for i in instructions)
    final = [i for i in instructions if i.stage == last_stage]

    images = [_flags_and_words(i.arguments)[1][0] for i in by_keyword["FROM"]]
    assert len(images) >= 3, "multi-stage: uv, build and runtime stages"
    for image in images:
        name, _, tag = image.partition("@")[0].rpartition(":")
        assert name and tag and tag != "latest", f"{image}: pin an exact tag"
    pythons = [image for image in images if image.startswith("python:")]
    assert pythons, "the build and runtime stages start from the official python image"
    for image in pythons:
        assert re.fullmatch(r"python:3\.\d+\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", image), (
            f"{image}: pin the patch release, e.g. python:3.11.17-slim-bookworm"
        )
    assert f"ghcr.io/astral-sh/uv:{_makefile_uv_version()}" in images, (
        "uv in the image must be the Makefile's UV_VERSION (the one that wrote uv.lock)"
    )

    syncs = [s for i in by_keyword["RUN"] for s in re.findall(r"uv sync [^&;|]*", i.arguments)]
    assert syncs, "dependencies are installed with uv sync"
    for sync in syncs:
        assert "--locked" in sync and "--no-dev" in sync, sync
        assert f'--package "retour-{service}"' in sync, sync
    assert any("--no-editable" in sync for sync in syncs), "install the service non-editable"

    copied = {
        _flags_and_words(i.arguments)[1][0]
        for i in by_keyword["COPY"]
        if "from" not in _flags_and_words(i.arguments)[0]
    }
    for member in _workspace_members():
        pyproject = str((member / "pyproject.toml").relative_to(ROOT))
        assert pyproject in copied, f"{pyproject}: uv sync --locked needs every member's"

    env = " ".join(i.arguments for i in by_keyword["ENV"])
    for variable in ("UV_COMPILE_BYTECODE=1", "PYTHONDONTWRITEBYTECODE=1", "HTTP_HOST=0.0.0.0"):
        assert variable in env, f"ENV {variable}"

    users = [i.arguments for i in final if i.keyword == "USER"]
    assert users, "the runtime stage sets USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {users[-1]}: a numeric non-root uid"

    exec_form = {}
    for keyword in ("CMD", "ENTRYPOINT"):
        found = [i.arguments for i in final if i.keyword == keyword]
        assert found, f"the runtime stage sets {keyword}"
        exec_form[keyword] = json.loads(found[-1])  # shell form is not JSON: fails here
    # Every image's entrypoint is a link to the service's own console script.
    linked = f'ln -s "retour-{service}" /app/.venv/bin/retour-service'
    assert any(linked in i.arguments for i in by_keyword["RUN"]), linked
    assert exec_form["ENTRYPOINT"] == ["retour-service"]
    assert exec_form["CMD"] == ["serve"]

    healthchecks = [i.arguments for i in final if i.keyword == "HEALTHCHECK"]
    assert healthchecks and "/healthz" in healthchecks[-1], "HEALTHCHECK on /healthz"
    exposed = [i.arguments for i in final if i.keyword == "EXPOSE"]
    assert exposed == [str(_http_port(service))], "EXPOSE the settings' default HTTP port"


OCI_LABELS = ("title", "description", "version", "source", "licenses")


def _image_labels(service: str) -> tuple[dict[str, str], set[str]]:
    """The runtime image's LABELs as docker build would set them with Compose's build args
    for ``service`` (over the ARG defaults), and the variables the labels read."""
    instructions = _instructions(DOCKERFILE)
    final = [i for i in instructions if i.stage == max(i.stage for i in instructions)]
    values: dict[str, str] = {}
    for instruction in final:
        if instruction.keyword == "ARG":
            name, _, default = shlex.split(instruction.arguments)[0].partition("=")
            values[name] = default
    declared = set(values)
    values.update(_build_args(service))
    labels: dict[str, str] = {}
    used: set[str] = set()
    for instruction in final:
        if instruction.keyword != "LABEL":
            continue
        for word in shlex.split(instruction.arguments):
            key, _, value = word.partition("=")
            names = re.findall(r"\$\{(\w+)\}", value)
            used.update(names)
            labels[key] = re.sub(r"\$\{(\w+)\}", lambda m: values.get(m[1], ""), value)
    # A label may only read an ARG of its own stage: any other expands to nothing.
    assert used <= declared, f"LABEL reads {sorted(used - declared)}: declare them in the stage"
    return labels, used


@pytest.mark.parametrize("service", SERVICES)
def test_images_carry_the_oci_labels(service: str) -> None:
    labels, used = _image_labels(service)
    oci = {key.removeprefix("org.opencontainers.image."): v for key, v in labels.items()}
    assert set(OCI_LABELS) <= set(oci), f"missing: {sorted(set(OCI_LABELS) - set(oci))}"
    assert oci["title"] == f"retour-{service}"
    assert _build_args(service)["DESCRIPTION"] in oci["description"]
    # Version, source and licences are build args a release build sets; their defaults must
    # still be true: the service's own version, no invented URL or licence.
    assert {"VERSION", "SOURCE_URL", "LICENSES"} <= used
    project = _toml(ROOT / "services" / service / "pyproject.toml")["project"]
    assert oci["version"] == project["version"], "ARG VERSION's default: the services' version"
    assert oci["source"] == "" or oci["source"].startswith("https://")
    assert oci["licenses"] == project.get("license", "NOASSERTION")
    # hadolint (strict-labels) refuses labels its schema does not list: the two stay in step.
    schema = yaml.safe_load((ROOT / ".hadolint.yaml").read_text())["label-schema"]
    assert set(schema) == set(labels)


def test_the_label_check_sees_a_label_reading_an_undeclared_arg(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Guards the test above: a label reading an ARG of another stage is caught."""
    broken = tmp_path / "Dockerfile"
    broken.write_text(DOCKERFILE.read_text().replace("ARG VERSION=", "ARG UNUSED_VERSION=", 1))
    monkeypatch.setitem(globals(), "DOCKERFILE", broken)
    with pytest.raises(AssertionError, match="VERSION"):
        _image_labels("intake")


def _dockerignore_rules() -> list[tuple[re.Pattern[str], bool]]:
    rules: list[tuple[re.Pattern[str], bool]] = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex, i = regex + pattern[i : end + 1], end + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((re.compile(f"^{regex}$"), negated))
    return rules


def _in_build_context(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for regex, negated in _dockerignore_rules():
        if regex.match(path) or any(regex.match(c) for c in candidates):
            excluded = not negated
    return not excluded


def test_dockerignore_lets_in_exactly_what_the_dockerfiles_copy() -> None:
    needed: set[str] = set()
    for dockerfile, args in ((DOCKERFILE, _build_args(s)) for s in SERVICES):
        for instruction in _instructions(dockerfile, args):
            flags, words = _flags_and_words(instruction.arguments)
            if instruction.keyword != "COPY" or "from" in flags:
                continue
            for source in words[:-1]:
                path = ROOT / source
                assert path.exists(), f"{dockerfile}: COPY {source}: no such path"
                files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
                needed.update(
                    str(f.relative_to(ROOT)) for f in files if "__pycache__" not in f.parts
                )
    left_out = sorted(p for p in needed if not _in_build_context(p))
    assert not left_out, f".dockerignore excludes files the Dockerfiles copy: {left_out[:10]}"
    for private in (".venv/bin/python", ".local/env", ".git/config", "deploy/.env", "tests/x.py"):
        assert not _in_build_context(private), f"{private} must stay out of the build context"


# ---------------------------------------------------------------------------------------------
# Compose

_COMPOSE_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


def _env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in ENV_EXAMPLE.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f"{ENV_EXAMPLE.name}: not NAME=value: {line!r}"
            value = value.strip()
            if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[name.strip()] = value
    return values


def _interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's interpolation of ${VAR}, ${VAR:-default}, ${VAR:?error}, ${VAR:+alt}, $$."""
    if isinstance(value, dict):
        return {key: _interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["plain"]
        op, arg = match["op"] or "", match["arg"] or ""
        current = env.get(name)
        unset = current is None or (op.startswith(":") and current == "")
        if op.endswith("-"):
            return arg if unset else cast(str, current)
        if op.endswith("?"):
            assert not unset, f"${{{name}}} is required: {arg}"
            return cast(str, current)
        if op.endswith("+"):
            return "" if unset else arg
        return current or ""

    return _COMPOSE_VARIABLE.sub(substitute, value)


@cache
def _compose_raw() -> dict[str, Any]:
    return cast(dict[str, Any], yaml.safe_load(COMPOSE_FILE.read_text()))


def _compose_services() -> dict[str, Any]:
    return cast(dict[str, Any], _interpolate(_compose_raw(), _env_example())["services"])


def test_the_vendored_compose_schema_is_the_recorded_one() -> None:
    digest = hashlib.sha256(COMPOSE_SCHEMA.read_bytes()).hexdigest()
    assert digest == COMPOSE_SCHEMA_SHA256, "deploy/schemas/README.md says how to update it"
    assert (DEPLOY / "schemas" / "LICENSE.compose-spec").is_file()


def test_compose_file_validates_against_the_compose_specification() -> None:
    result = _run(
        _tool("check-jsonschema"),
        "--schemafile",
        str(COMPOSE_SCHEMA.relative_to(ROOT)),
        str(COMPOSE_FILE.relative_to(ROOT)),
    )
    assert result.returncode == 0, f"check-jsonschema:\n{result.stdout}{result.stderr}"


def test_compose_file_interpolated_with_the_env_example_still_validates() -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    document = _interpolate(_compose_raw(), _env_example())
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(document), key=lambda e: e.path
    )
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_env_example_lists_exactly_the_variables_compose_uses() -> None:
    used = {
        match["braced"] or match["plain"]
        for match in _COMPOSE_VARIABLE.finditer(COMPOSE_FILE.read_text())
        if not match["escaped"]
    }
    listed = set(_env_example())
    assert used - listed == set(), "add them to deploy/.env.example"
    assert listed - used == set(), "deploy/.env.example lists variables compose does not use"


def test_compose_runs_kafka_kraft_postgres_setup_migrations_and_the_services() -> None:
    services = _compose_services()
    for name, service in services.items():
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image tag"
    kafka = services["kafka"]
    assert re.fullmatch(r"apache/kafka:4\.1\.\d+", kafka["image"])
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"], "KRaft mode"
    assert re.fullmatch(r"postgres:\d+\.\d+(-\w+)?", services["postgres"]["image"])
    for dependency in ("postgres", "kafka"):
        assert "healthcheck" in services[dependency]
        condition = services["setup"]["depends_on"][dependency]["condition"]
        assert condition == "service_healthy"
    setup_command = " ".join(services["setup"]["command"])
    assert "retour_kit.provision" in setup_command and "retour_kit.topics" in setup_command
    for service in SERVICES:
        migrate = services[f"migrate-{service}"]
        assert migrate["command"] == ["migrate"]
        assert migrate["image"] == services[service]["image"]
        assert migrate["depends_on"]["setup"]["condition"] == "service_completed_successfully"
        app = services[service]
        assert app["build"]["context"] == ".."
        assert app["build"]["dockerfile"] == "deploy/Dockerfile"
        assert app["build"]["args"]["SERVICE"] == service
        assert app["depends_on"][f"migrate-{service}"]["condition"] == (
            "service_completed_successfully"
        )
        assert app["healthcheck"]["test"], f"{service}: healthcheck"
        assert app["environment"]["DATABASE_URL"].startswith(f"postgresql://{service}:")
        assert app["read_only"] is True and app["cap_drop"] == ["ALL"]
        assert any(f":{_http_port(service)}:" in port for port in app["ports"])


def test_compose_kafka_requires_sasl_and_acls_and_each_service_is_its_own_principal() -> None:
    services = _compose_services()
    kafka = services["kafka"]["environment"]
    assert set(kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")) == {
        "INTERNAL:SASL_PLAINTEXT",
        "CONTROLLER:SASL_PLAINTEXT",
        "HOST:SASL_PLAINTEXT",
    }
    assert kafka["KAFKA_LISTENER_NAME_HOST_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert kafka["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
    assert kafka["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    principals = services["kafka-principals"]
    assert "kafka-configs.sh" in " ".join(principals["command"])
    setup = services["setup"]
    assert "retour_kit.kafka_acls" in " ".join(setup["command"])
    assert setup["environment"]["KAFKA_SASL_USERNAME"] == "retour-operator"
    assert setup["depends_on"]["kafka-principals"]["condition"] == (
        "service_completed_successfully"
    )
    for service in SERVICES:
        for name in (service, f"migrate-{service}"):
            env = services[name]["environment"]
            assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
            assert env["KAFKA_SASL_USERNAME"] == f"retour-{service}"
        # The service and its migrations, each with the service's own password only.
        own_password = f"KAFKA_SASL_PASSWORD: ${{{service.upper()}_KAFKA_PASSWORD}}"
        assert COMPOSE_FILE.read_text().count(own_password) == 2


# ---------------------------------------------------------------------------------------------
# Kubernetes


@cache
def _rendered(kustomization: str) -> tuple[dict[str, Any], ...]:
    result = _run(_tool("kubectl"), "kustomize", str(DEPLOY / "k8s" / kustomization))
    assert result.returncode == 0, f"kubectl kustomize {kustomization}:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def _of_kind(kustomization: str, kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _rendered(kustomization) if d["kind"] == kind}


def _pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return cast(dict[str, Any], workload["spec"]["template"]["spec"])


def _retour_containers(workload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    pod = _pod_spec(workload)
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        if "retour-" in container["image"]:
            yield container


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_rendered_manifests_validate_strictly(kustomization: str, version: str) -> None:
    documents = _rendered(kustomization)
    assert documents
    failures = []
    for document in documents:
        if (document["apiVersion"], document["kind"]) in CUSTOM_RESOURCES:
            continue
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            failures.append(f"{document['kind']}/{document['metadata']['name']}: {error}")
    assert not failures, "\n".join(failures)


def test_the_kubernetes_validator_rejects_an_unknown_field() -> None:
    """Guards the test above against validating nothing (a schema set that accepts all)."""
    deployment = json.loads(json.dumps(_of_kind("base", "Deployment")["retour-intake"]))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_deployments_have_probes_resources_and_a_locked_down_context(kustomization: str) -> None:
    deployments = _of_kind(kustomization, "Deployment")
    assert {name for name in deployments if name.startswith("retour-")} == {
        f"retour-{s}" for s in SERVICES
    }
    for service in SERVICES:
        deployment = deployments[f"retour-{service}"]
        pod = _pod_spec(deployment)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        [container] = pod["containers"]
        port = _http_port(service)
        assert container["image"].split("/")[-1].startswith(f"retour-{service}:")
        assert [p["containerPort"] for p in container["ports"]] == [port]
        env = {e["name"]: e for e in container.get("env", [])}
        assert env["HTTP_PORT"]["value"] == str(port)
        assert env["DATABASE_URL"]["value"].startswith(f"postgresql://{service}:")
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][bound]), bound
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_deployment_has_a_service_and_a_disruption_budget(kustomization: str) -> None:
    for kind in ("Service", "PodDisruptionBudget"):
        objects = _of_kind(kustomization, kind)
        for service in SERVICES:
            selector = objects[f"retour-{service}"]["spec"]["selector"]
            labels = selector.get("matchLabels", selector)
            assert labels == {"app.kubernetes.io/name": f"retour-{service}"}, kind


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_consumers_autoscale_up_to_the_partition_count(kustomization: str) -> None:
    autoscalers = _of_kind(kustomization, "HorizontalPodAutoscaler")
    deployments = _of_kind(kustomization, "Deployment")
    assert set(autoscalers) == {f"retour-{s}" for s in CONSUMERS}
    for name, autoscaler in autoscalers.items():
        spec = autoscaler["spec"]
        assert spec["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert 1 <= spec["minReplicas"] <= spec["maxReplicas"] <= PARTITIONS, (
            f"{name}: a consumer beyond the {PARTITIONS} partitions would sit idle"
        )
        assert "replicas" not in deployments[name]["spec"], f"{name}: the autoscaler owns replicas"


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_setup_job_provisions_creates_topics_then_migrates_every_service(
    kustomization: str,
) -> None:
    job = _of_kind(kustomization, "Job")["retour-setup"]
    pod = _pod_spec(job)
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    steps = [" ".join([*c.get("command", []), *c.get("args", [])]) for c in _retour_containers(job)]
    expected = [
        "retour_kit.provision",
        "retour_kit.topics",
        "retour_kit.kafka_acls",
        *(["migrate"] * len(SERVICES)),
    ]
    assert len(steps) == len(expected)
    for step, wanted in zip(steps, expected, strict=True):
        assert wanted in step, f"{step!r} should run {wanted}"
    migrating = [c["image"] for c in _retour_containers(job) if c.get("args") == ["migrate"]]
    assert sorted(i.split("/")[-1].split(":")[0] for i in migrating) == sorted(
        f"retour-{s}" for s in SERVICES
    )
    for container in _retour_containers(job):
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_shared_configmap_holds_no_per_service_setting(kustomization: str) -> None:
    [config] = [
        d
        for d in _rendered(kustomization)
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("retour-config")
    ]
    shared = set(ServiceSettings.model_fields)
    per_service = {"SERVICE_NAME", "HTTP_PORT", "DATABASE_URL"} | {
        name.upper()
        for service in SERVICES
        for name in _settings_class(service).model_fields
        if name not in shared
    }
    assert not per_service & set(config["data"]), "set these in the service's Deployment"


def test_production_keeps_no_secret_in_git_and_pins_its_images() -> None:
    documents = _rendered("overlays/production")
    assert not [d for d in documents if d["kind"] == "Secret"], "Secrets are managed outside Git"
    assert PLACEHOLDER not in yaml.safe_dump_all(documents)
    for workload in [
        *_of_kind("overlays/production", "Deployment").values(),
        *_of_kind("overlays/production", "Job").values(),
    ]:
        for container in _retour_containers(workload):
            registry, _, rest = container["image"].partition("/")
            assert "." in registry, f"{container['image']}: push to and pull from a registry"
            assert not rest.endswith(":latest") and ":" in rest
    config = next(
        d
        for d in documents
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("retour-config-")
    )["data"]
    assert config["PGSSLMODE"] == "verify-full"
    assert config["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert "AUTH_JWKS_URL" in config


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_each_pod_mounts_only_its_own_kafka_principal(kustomization: str) -> None:
    for name, deployment in _of_kind(kustomization, "Deployment").items():
        if not name.startswith("retour-"):
            continue
        service = name.removeprefix("retour-")
        for container in _retour_containers(deployment):
            kafka_secrets = [
                ref["secretRef"]["name"]
                for ref in container.get("envFrom", [])
                if "secretRef" in ref and ref["secretRef"]["name"].startswith("retour-kafka")
            ]
            assert kafka_secrets == [f"retour-kafka-{service}"], name
    job = _of_kind(kustomization, "Job")["retour-setup"]
    for container in _retour_containers(job):
        refs = [r["secretRef"]["name"] for r in container.get("envFrom", []) if "secretRef" in r]
        wanted = (
            "retour-kafka-operator"
            if container["name"] in ("topics", "kafka-acls")
            else f"retour-kafka-{container['name'].removeprefix('migrate-')}"
        )
        if container["name"] != "provision":
            assert wanted in refs, container["name"]


def test_dev_kafka_requires_sasl_and_creates_the_principals() -> None:
    kafka = _of_kind("overlays/dev", "StatefulSet")["kafka"]
    env = {e["name"]: e.get("value") for e in _pod_spec(kafka)["containers"][0]["env"]}
    assert (
        "PLAINTEXT"
        not in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
        .replace("SASL_PLAINTEXT", "")
        .split(":")[1:]
    )
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    principals = _of_kind("overlays/dev", "Job")["kafka-principals"]
    assert "kafka-configs.sh" in " ".join(_pod_spec(principals)["containers"][0]["args"])


def test_production_refuses_to_run_on_unsafe_topics() -> None:
    config = next(d for d in _rendered("overlays/production") if d["kind"] == "ConfigMap")
    assert config["data"]["KAFKA_TOPIC_CHECK"] == "enforce"


def test_dev_overlay_replaces_every_placeholder() -> None:
    assert PLACEHOLDER in yaml.safe_dump_all(_rendered("base")), "the base keeps placeholders"
    assert PLACEHOLDER not in yaml.safe_dump_all(_rendered("overlays/dev"))


# ---------------------------------------------------------------------------------------------
# Operator documentation


@cache
def _documented() -> dict[str, list[str]]:
    """Rows of docs/operations.md tables whose first cell is a `VARIABLE`: name -> cells."""
    rows: dict[str, list[str]] = {}
    for line in OPERATIONS_DOC.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        found = re.fullmatch(r"`([A-Z][A-Z0-9_]*)`", cells[0]) if line.startswith("|") else None
        if found:
            rows[found.group(1)] = cells
    return rows


def _rendered_default(field: FieldInfo) -> str | None:
    """What the doc's default cell must show: `value` in backticks, or a plain word; None
    when the default is computed (default_factory) and the doc describes it in words."""
    value = field.default
    if field.default_factory is not None:
        return None
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Decimal):
        return f"`{value:f}`"
    if isinstance(value, SecretStr):
        return f"`{value.get_secret_value()}`"
    if isinstance(value, Path):
        return f"`{value.name}`"  # a file of the installed package: its name, not its path
    return f"`{value}`"


def test_operations_doc_lists_every_setting_with_its_default() -> None:
    problems = []
    for service in SERVICES:
        for name, field in _settings_class(service).model_fields.items():
            variable = name.upper()
            row = _documented().get(variable)
            if row is None:
                problems.append(f"{variable} ({service}) is not in a table")
                continue
            default = _rendered_default(field)
            if len(row) < 2 or not row[1] or (default is not None and default not in row[1]):
                problems.append(f"{variable}: default cell should show {default} ({service})")
    assert not problems, "docs/operations.md:\n" + "\n".join(problems)


_ENVIRON_READ = re.compile(
    r"""os\.(?:environ\.get|getenv|environ\.setdefault)\(\s*["']([A-Z][A-Z0-9_]*)["']"""
    r"""|os\.environ\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\]"""
)


def test_operations_doc_lists_every_variable_the_code_reads() -> None:
    read: set[str] = set()
    for source in [*ROOT.glob("kit/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]:
        for match in _ENVIRON_READ.finditer(source.read_text()):
            read.add(match.group(1) or match.group(2))
    assert read, "the scan found no os.environ read at all"
    assert sorted(read - set(_documented())) == []


def test_operations_doc_lists_every_variable_the_deployment_files_set() -> None:
    compose = _compose_services()
    names: set[str] = set()
    for service in compose.values():
        if "retour-" in service.get("image", ""):
            names.update(service.get("environment", {}))
    for kustomization in KUSTOMIZATIONS:
        # The ConfigMaps pods take their environment from (not, e.g., the Grafana dashboard).
        environments = {
            source["configMapRef"]["name"]
            for document in _rendered(kustomization)
            if document["kind"] in ("Deployment", "Job")
            for container in _retour_containers(document)
            for source in container.get("envFrom", [])
            if "configMapRef" in source
        }
        for document in _rendered(kustomization):
            if document["kind"] == "ConfigMap" and document["metadata"]["name"] in environments:
                names.update(document["data"])
            if document["kind"] == "Secret":
                names.update(k for k in document.get("stringData", {}) if k.isupper())
            if document["kind"] in ("Deployment", "Job"):
                for container in _retour_containers(document):
                    names.update(e["name"] for e in container.get("env", []))
    assert sorted(names - set(_documented())) == []


def test_operations_doc_lists_every_topic_with_its_partitions() -> None:
    text = OPERATIONS_DOC.read_text()
    for spec in CATALOG:
        for topic in (spec.topic, spec.dlq_topic):
            lines = text.splitlines()
            row = next((line for line in lines if line.startswith(f"| `{topic}` |")), None)
            assert row, f"{topic} is not in the topics table"
            assert f"| {spec.default_partitions} |" in row, f"{topic}: partitions"
    assert "retention.ms=-1" in text
