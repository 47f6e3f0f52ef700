"""`make dist` (tools/dist.sh): the contracts wheel a partner installs, and the SBOM.

The wheel is installed into a virtual environment of its own, from the file alone plus its
declared dependencies at the lock's versions (no workspace), and used there as a partner
would: an event built, enveloped, parsed back, and its JSON Schema read from the package. The
SBOM is checked against the CycloneDX 1.5 schema (strict) and against uv.lock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import cyclonedx.schema
import pytest
import referencing.jsonschema
from jsonschema import Draft7Validator, FormatChecker
from referencing import Registry, Resource
from rfc3986_validator import validate_rfc3986  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
UV = os.environ.get("UV", str(ROOT / ".local" / "uv" / "bin" / "uv"))

PARTNER_SCRIPT = """
import json
from importlib.resources import files

from retour_contracts import RETURNEE_REGISTERED_V2, build_envelope, parse_envelope
from retour_contracts.examples import example_returnee_registered_v2

event = example_returnee_registered_v2()
envelope = build_envelope(RETURNEE_REGISTERED_V2, event, source="/partner-test")
parsed = parse_envelope(envelope.topic, envelope.key, envelope.value, envelope.headers)
schema = json.loads(
    (files("retour_contracts") / "json_schemas" / "returnee.registered.v2.json").read_text()
)
print(json.dumps({
    "same_event": parsed.event == event,
    "event_id": parsed.event_id,
    "schema_id": schema["$id"],
    "module": __import__("retour_contracts").__file__,
}))
"""


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        ["bash", str(ROOT / "tools" / "dist.sh")],
        check=True,
        cwd=ROOT,
        env={**os.environ, "DIST_DIR": str(out), "UV": UV},
        timeout=300,
    )
    return out


def the_wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("retour_contracts-*-py3-none-any.whl")
    return wheel


def test_the_wheel_carries_the_typed_package_and_every_event_schema(dist: Path) -> None:
    names = set(zipfile.ZipFile(the_wheel(dist)).namelist())
    assert "retour_contracts/py.typed" in names
    assert "retour_contracts/envelope.py" in names
    shipped = {n.rsplit("/", 1)[1] for n in names if n.startswith("retour_contracts/json_schemas/")}
    assert shipped == {p.name for p in (ROOT / "contracts" / "schemas").glob("*.json")}
    with zipfile.ZipFile(the_wheel(dist)) as wheel:
        shipped_v2 = wheel.read("retour_contracts/json_schemas/returnee.registered.v2.json")
    assert (
        shipped_v2 == (ROOT / "contracts" / "schemas" / "returnee.registered.v2.json").read_bytes()
    )


def test_a_partner_installs_the_wheel_alone_and_parses_an_event(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "partner-venv"
    subprocess.run(
        [UV, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, timeout=60
    )
    python = venv / "bin" / "python"
    # The wheel's dependencies at the lock's versions and hashes, from the package index, as a
    # partner would install them (uv's cache serves most; the index is asked for the rest).
    pins = tmp_path / "pins.txt"
    subprocess.run(
        [
            *(UV, "export", "--quiet", "--locked", "--package", "retour-contracts", "--no-dev"),
            *("--no-emit-project", "--format", "requirements.txt", "-o", str(pins)),
        ],
        check=True,
        cwd=ROOT,
        timeout=60,
    )
    install = [UV, "pip", "install", "--quiet", "--python", str(python)]
    subprocess.run([*install, "-r", str(pins)], check=True, timeout=300)
    subprocess.run([*install, "--no-deps", str(the_wheel(dist))], check=True, timeout=60)
    answer = subprocess.run(
        [str(python), "-c", PARTNER_SCRIPT],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the repository: nothing of the workspace on the path
        timeout=60,
    )
    seen = json.loads(answer.stdout)
    assert seen["same_event"] is True
    assert seen["schema_id"] == "urn:retour:schema:returnee.registered:v2"
    assert str(venv) in seen["module"]  # the installed wheel's code, not the workspace's


def locked_runtime_packages() -> dict[str, str]:
    """uv.lock's registry packages that the services need (the development group excluded)."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    packages = {p["name"]: p for p in lock["package"]}
    wanted: set[str] = set()
    pending = [
        p["name"] for p in lock["package"] if p.get("source", {}).get("editable") is not None
    ]
    while pending:
        name = pending.pop()
        if name in wanted:
            continue
        wanted.add(name)
        pending.extend(d["name"] for d in packages[name].get("dependencies", []))
    return {
        name: packages[name]["version"]
        for name in wanted
        if "registry" in packages[name].get("source", {})
    }


def sbom(dist: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((dist / "retour.cdx.json").read_text())
    return document


def cyclonedx_1_5() -> Draft7Validator:
    """The CycloneDX project's JSON Schema of BOM 1.5 (as cyclonedx-python-lib ships it), with
    the SPDX and JSF schemas it refers to, and its formats checked."""
    schemas = Path(cyclonedx.schema.__file__).parent / "_res"

    def load(name: str) -> Any:
        return json.loads((schemas / name).read_text())

    registry: Registry[Any] = Registry().with_resources(
        (
            uri,
            Resource.from_contents(load(name), default_specification=referencing.jsonschema.DRAFT7),
        )
        for uri, name in (
            ("spdx.schema.json", "spdx.SNAPSHOT.schema.json"),
            ("jsf-0.82.schema.json", "jsf-0.82.SNAPSHOT.schema.json"),
        )
    )
    formats = FormatChecker(formats=["date-time", "idn-email"])

    @formats.checks("iri-reference")  # type: ignore[untyped-decorator]
    def iri_reference(value: object) -> bool:
        # jsonschema's IRI grammar takes about a minute over the SBOM's 2,000 file URLs. These
        # are ASCII, and an ASCII IRI reference is exactly a URI reference (RFC 3987, 2.2).
        return (
            isinstance(value, str)
            and value.isascii()
            and bool(validate_rfc3986(value, rule="URI_reference"))
        )

    return Draft7Validator(
        load("bom-1.5.SNAPSHOT.schema.json"), registry=registry, format_checker=formats
    )


def test_the_sbom_is_valid_cyclonedx_1_5(dist: Path) -> None:
    validator = cyclonedx_1_5()
    document = sbom(dist)
    assert [error.message for error in validator.iter_errors(document)] == []
    assert document["specVersion"] == "1.5"
    # The check can fail: a wrong format, a malformed URL.
    assert not validator.is_valid({**document, "bomFormat": "SPDX"})
    component = {**document["components"][0]}
    component["externalReferences"] = [{"type": "distribution", "url": "https://a b/c"}]
    assert not validator.is_valid({**document, "components": [component]})


def test_the_sbom_lists_every_locked_runtime_package_with_its_version_and_hashes(
    dist: Path,
) -> None:
    components = {c["name"]: c for c in sbom(dist)["components"]}
    expected = locked_runtime_packages()
    assert "fastapi" in expected and "asyncpg" in expected and "pytest" not in expected
    listed = {name: c["version"] for name, c in components.items() if name in expected}
    assert listed == expected
    for name, version in expected.items():
        component = components[name]
        assert component["purl"] == f"pkg:pypi/{name}@{version}"
        assert all(ref["hashes"] for ref in component["externalReferences"])
    assert "pytest" not in components  # a development tool is not in what runs
