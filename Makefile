# retour: the two commands a newcomer needs are `make demo` and `make test`.
# Everything else is installed by these targets: uv (from PyPI, into .local/), the Python
# environment (uv.lock), the offline registration form's bundle (npm, web/package-lock.json),
# Java/Maven/PostgreSQL when missing (Debian packages, as root), Apache Kafka's jars (Maven
# Central).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
UV := $(CURDIR)/.local/uv/bin/uv
ENV_FILE := $(CURDIR)/.local/env
export UV
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/.venv
# Run inside the stack's environment (DSNs, broker, dev JWT secret) without leaking it to make.
WITH_ENV := set -a && source $(ENV_FILE) && set +a &&

.PHONY: help setup up down status clean test lint contracts contracts-check forms token demo migrate bench drills dist

help:
	@echo "make demo       bring the stack up and play the demo scenario (DEMO_ARGS=--help for options)"
	@echo "make test       lint, type-check, check contracts, run every test against real Kafka and Postgres"
	@echo "make up / down  start / stop the local stack (PostgreSQL, Apache Kafka)"
	@echo "make clean      stop the stack and delete .local/ (data, logs, caches)"
	@echo "make contracts  regenerate contracts/schemas/*.json and docs/asyncapi.yaml"
	@echo "make forms      regenerate the registration XForm from its XLSForm (services/intake/forms)"
	@echo "make token ROLE=registrar [CENTRE=gao,kayes]   print a development JWT (no CENTRE: all)"
	@echo "make migrate    apply every service's migrations"
	@echo "make dist       the contracts wheel for partners and the SBOM, into dist/"
	@echo "make drills     fault drills against the running stack, then their table (DRILLS=steady,kafka-down)"

$(UV):
	@echo "[retour] installing uv $(UV_VERSION) into .local/uv"
	@python3 -m pip install --quiet --disable-pip-version-check --target $(CURDIR)/.local/uv uv==$(UV_VERSION)

setup: $(UV)
	@$(UV) sync --all-packages --locked --quiet
	@bash web/build.sh
	@bash tools/npm-ci.sh tools/api-lint
	@bash tools/npm-ci.sh tools/a11y
	@bash tools/monitoring/install.sh

up: setup
	@bash deploy/local/stack.sh up

down:
	@bash deploy/local/stack.sh down

status:
	@bash deploy/local/stack.sh status

clean:
	@bash deploy/local/stack.sh clean

lint: setup
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .
	$(UV) run --no-sync mypy contracts/src contracts/tests kit/src kit/tests services demo bench drills tests conftest.py examples/partner-consumer
	$(UV) run --no-sync lint-imports

contracts: setup
	$(UV) run --no-sync python -m retour_contracts.artefacts write

# The registration form: services/intake/forms/registration.md (XLSForm) -> its XForm, by pyxform.
forms: setup
	$(UV) run --no-sync python -m retour_intake.forms.build write

dist: setup
	@bash tools/dist.sh

contracts-check: setup
	$(UV) run --no-sync python -m retour_contracts.artefacts check

# The tests read the stack's addresses from .local/env themselves (tests/retour_test_infra.py):
# exporting them here would leak into the settings that unit tests build explicitly.
test: up lint contracts-check
	@bash deploy/local/chromium.sh
	@bash deploy/local/kcat.sh
	$(UV) run --no-sync pytest

token: setup
	@test -n "$(ROLE)" || { echo "usage: make token ROLE=registrar|case_worker|supervisor|analyst|admin|data_protection_officer [CENTRE=gao,kayes]" >&2; exit 2; }
	@$(WITH_ENV) $(UV) run --no-sync python -m retour_kit.token $(ROLE) --centres "$(CENTRE)"

migrate: up
	@for svc in intake reintegration notifications reporting; do \
	  $(WITH_ENV) var=$${svc^^}_DATABASE_URL && user=$${svc^^}_KAFKA_SASL_USERNAME && pw=$${svc^^}_KAFKA_SASL_PASSWORD && \
	    DATABASE_URL=$${!var} KAFKA_SASL_USERNAME=$${!user:-} KAFKA_SASL_PASSWORD=$${!pw:-} $(UV) run --no-sync retour-$$svc migrate; \
	done

# The main job. DEMO_ARGS changes the scenario, e.g. make demo DEMO_ARGS="--returnees 500 --seed 7"
demo: up
	@$(UV) run --no-sync retour-demo $(DEMO_ARGS)

# Speed figures, each beside a baseline measured in the same run (docs/performance.md).
bench: up
	bash deploy/local/wrk.sh
	$(UV) run --no-sync python -m bench.run $(BENCH_ARGS)

# Reliability drills (docs/drills.md): each injects a fault into the running stack under load and
# checks nothing was lost or applied twice; tens of minutes for all. DRILLS=a,b runs some.
drills: up
	@bash deploy/local/toxiproxy.sh ensure
	$(UV) run --no-sync python -m drills $(DRILLS)
