"""The local stack a drill runs against: addresses from .local/env and the port variables,
and the processes it may stop, kill and start again through deploy/local's scripts and pid
files."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from retour_kit.kafka_security import adopt_principal

SERVICES = ("intake", "reintegration", "notifications", "reporting")
REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT_TIMEOUT_SECONDS = 300


def _env_file_values(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and not name.startswith("#"):
                values[name.strip()] = value.strip()
    return values


@dataclass(frozen=True)
class Stack:
    local: Path
    values: dict[str, str]
    port_offset: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls) -> Stack:
        local = Path(os.environ.get("RETOUR_LOCAL", REPO_ROOT / ".local"))
        values = _env_file_values(local / "env")
        if "AUTH_JWT_SECRET" not in values:
            raise SystemExit(f"no stack at {local}: start it with `make up` first")
        # The drills' own Kafka clients (backlogs, topic probes) act as the operator.
        adopt_principal(values, "operator")
        return cls(local, values, int(os.environ.get("RETOUR_PORT_OFFSET", "0")))

    def value(self, name: str) -> str:
        return os.environ.get(name) or self.values[name]

    @property
    def kafka(self) -> str:
        return self.value("KAFKA_BOOTSTRAP_SERVERS")

    @property
    def admin_dsn(self) -> str:
        return self.value("RETOUR_PG_ADMIN_DSN")

    def dsn(self, service: str) -> str:
        return self.value(f"{service.upper()}_DATABASE_URL")

    def http_port(self, service: str) -> int:
        return 8001 + SERVICES.index(service) + self.port_offset

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.http_port(service)}"

    @property
    def fakesmsc_log(self) -> Path:
        return self.local / "kannel" / "fakesmsc.log"

    @property
    def kannel_sendsms_url(self) -> str:
        port = os.environ.get("RETOUR_KANNEL_SENDSMS_PORT", "13013")
        return self.values.get("KANNEL_SENDSMS_URL", f"http://127.0.0.1:{port}/cgi-bin/sendsms")

    def script(self, name: str, *args: str) -> None:
        """deploy/local/<name>.sh with the drill's environment (ports moved like the stack's)."""
        subprocess.run(  # noqa: S603 (our own scripts, fixed arguments)
            ["/bin/bash", str(REPO_ROOT / "deploy" / "local" / f"{name}.sh"), *args],
            check=True,
            timeout=SCRIPT_TIMEOUT_SECONDS,
            env={**os.environ, **self.extra_env},
        )

    def pid(self, pid_file: str) -> int | None:
        path = self.local / pid_file
        try:
            pid = int(path.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self.running(pid) else None

    def service_pid(self, service: str, replica: str = "") -> int | None:
        return self.pid(f"services/{service}{replica}.pid")

    def broker_pid(self) -> int | None:
        """A running broker: the single node's, or the first live node of a cluster
        (`make up KAFKA_BROKERS=3`: one broker of three is the fault to survive)."""
        nodes = self.local.glob("kafka/brokers-*/node-*/kafka.pid")
        files = ["kafka/kafka.pid", *sorted(str(path.relative_to(self.local)) for path in nodes)]
        for file in files:
            pid = self.pid(file)
            if pid is not None:
                return pid
        return None

    def pg_port(self) -> int:
        return int(self.admin_dsn.rsplit(":", 1)[1].split("/", 1)[0])

    def postmaster_pid(self) -> int | None:
        # PostgreSQL's own pid file: its first line is the postmaster's pid.
        # In .local/pg, or behind .local/pg/cluster when the `postgres` account cannot enter
        # the checkout (deploy/local/postgres.sh keeps the cluster outside then).
        for data in ("pg/data", "pg/cluster/data"):
            path = self.local / data / "postmaster.pid"
            try:
                return int(path.read_text().splitlines()[0])
            except (OSError, ValueError, IndexError):
                continue
        return None

    def signal(self, pid: int, sig: signal.Signals) -> None:
        os.kill(pid, sig)

    def start_service(self, service: str, overrides: dict[str, str], *, replica: str = "") -> int:
        """Starts one service as services.sh does, with some of its addresses replaced (a
        proxy in front of Kafka or Postgres). services.sh reads them from .local/env itself,
        so a drill that needs other addresses starts the process the same way on its own.
        A `replica` suffix gives a second process of the service its own pid and log files."""
        services_dir = self.local / "services"
        env = {
            **os.environ,
            **self.values,
            "DATABASE_URL": self.dsn(service),
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(self.http_port(service)),
            "INTAKE_URL": self.url("intake"),
            "FOLLOW_UP_CHECK_SECONDS": os.environ.get("FOLLOW_UP_CHECK_SECONDS", "2"),
            **overrides,
        }
        if service != "intake":
            env.pop("MASTER_KEY", None)
            env.pop("PREVIOUS_MASTER_KEYS", None)
        # Its own Kafka principal, as services.sh gives it: the ACLs hold in the drills too.
        principal = f"{service.upper()}_KAFKA_SASL_"
        if f"{principal}USERNAME" in self.values:
            env["KAFKA_SASL_USERNAME"] = self.values[f"{principal}USERNAME"]
            env["KAFKA_SASL_PASSWORD"] = self.values[f"{principal}PASSWORD"]
        # No service holds another's credentials, nor the operator's or the brokers': every
        # <WHO>_KAFKA_SASL_PASSWORD goes, its own KAFKA_SASL_PASSWORD stays.
        for name in [n for n in env if n.endswith("_KAFKA_SASL_PASSWORD")]:
            del env[name]
        with open(services_dir / f"{service}{replica}.log", "ab") as log:
            process = subprocess.Popen(  # noqa: S603
                [str(REPO_ROOT / ".venv" / "bin" / f"retour-{service}"), "serve"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        (services_dir / f"{service}{replica}.pid").write_text(f"{process.pid}\n")
        return process.pid

    def running(self, pid: int) -> bool:
        """The process exists and has not exited (a child that exited stays a zombie until
        reaped: it still answers kill(pid, 0))."""
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"

    def rss_kib(self, pid: int) -> int:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0
