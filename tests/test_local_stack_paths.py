"""deploy/local/postgres.sh runs wherever the checkout is: as root, PostgreSQL runs as the
`postgres` account, which cannot enter a private folder (root's home is mode 700); the cluster
then lives in a folder of its own that the checkout links to, and `clean` removes it.

Each test starts a throwaway cluster on a free port from copies of the two scripts, and stops
and removes it: the shared stack's cluster is never touched.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = ("postgres.sh", "lib.sh")

pytestmark = [
    pytest.mark.skipif(
        os.geteuid() != 0,
        reason="only root runs PostgreSQL as the `postgres` account; another user's cluster"
        " is always in its own checkout",
    ),
    pytest.mark.skipif(
        not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")),
        reason="no PostgreSQL binaries under /usr/lib/postgresql (the stack installs them)",
    ),
]


class Checkout:
    """A checkout's copy of the PostgreSQL script, with its own .local and port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.local = root / ".local"
        self.port = _free_port()
        scripts = root / "deploy" / "local"
        scripts.mkdir(parents=True)
        for name in SCRIPTS:
            shutil.copy2(REPO / "deploy" / "local" / name, scripts / name)

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(self.script), command],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    @property
    def script(self) -> Path:
        return self.root / "deploy" / "local" / "postgres.sh"

    @property
    def environment(self) -> dict[str, str]:
        environment = {
            key: value for key, value in os.environ.items() if key != "RETOUR_PG_ADMIN_DSN"
        }
        return environment | {"RETOUR_LOCAL": str(self.local), "RETOUR_PG_PORT": str(self.port)}

    def admin_dsn(self) -> str:
        return self.run("admin-dsn").stdout.strip()

    @property
    def link(self) -> Path:
        return self.local / "pg" / "cluster"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def private_checkout() -> Iterator[Checkout]:
    # mkdtemp makes a folder of mode 700 owned by root: the `postgres` account cannot enter
    # it, exactly as with a clone in /root.
    root = Path(tempfile.mkdtemp(prefix="retour-private-"))
    checkout = Checkout(root / "repo")
    try:
        yield checkout
    finally:
        checkout.run("clean")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def open_checkout() -> Iterator[Checkout]:
    root = Path(tempfile.mkdtemp(prefix="retour-open-"))
    root.chmod(0o755)
    checkout = Checkout(root / "repo")
    try:
        yield checkout
    finally:
        checkout.run("clean")
        shutil.rmtree(root, ignore_errors=True)


def _data_directory(dsn: str) -> str:
    """The server's data directory, asked over TCP with the admin password: a connection
    that only the cluster made for this checkout accepts."""
    answer = subprocess.run(
        ["psql", dsn, "-Atc", "SELECT current_setting('data_directory')"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr
    return answer.stdout.strip()


def _started(checkout: Checkout) -> None:
    started = checkout.run("start")
    assert started.returncode == 0, started.stderr


def test_a_checkout_postgres_cannot_enter_gets_its_cluster_outside(
    private_checkout: Checkout,
) -> None:
    _started(private_checkout)

    cluster = Path(os.readlink(private_checkout.link))
    data_directory = _data_directory(private_checkout.admin_dsn())
    status = private_checkout.run("status").stdout

    assert data_directory == str(cluster / "data")
    assert not cluster.is_relative_to(private_checkout.root)
    assert cluster.stat().st_uid == _postgres_uid()
    assert "running" in status

    cleaned = private_checkout.run("clean")

    assert cleaned.returncode == 0, cleaned.stderr
    assert not cluster.exists()
    assert not private_checkout.link.is_symlink()


def test_a_cluster_orphaned_by_deleting_local_is_made_afresh(
    private_checkout: Checkout,
) -> None:
    _started(private_checkout)
    first = Path(os.readlink(private_checkout.link))
    assert private_checkout.run("stop").returncode == 0
    shutil.rmtree(private_checkout.local)  # what `make clean` does, the outside folder left

    _started(private_checkout)

    # A new admin password was written: connecting with it proves the cluster is new.
    assert _data_directory(private_checkout.admin_dsn()) == str(first / "data")


def test_a_checkout_postgres_can_enter_keeps_its_cluster_inside(
    open_checkout: Checkout,
) -> None:
    _started(open_checkout)

    data_directory = _data_directory(open_checkout.admin_dsn())

    assert data_directory == str(open_checkout.local / "pg" / "data")
    assert not open_checkout.link.exists()


def _postgres_uid() -> int:
    return pwd.getpwnam("postgres").pw_uid


# Run in a process of its own, made the "subreaper" of what it starts: the postmaster that
# pg_ctl leaves behind becomes its child, and stays a zombie after SIGKILL until it reaps it,
# as with an init that reaps orphans late (this machine's: up to two seconds, longer under
# load). Its own process, so that pytest never adopts anyone.
_RESTART_AFTER_A_LATE_REAP = """
import ctypes, json, os, signal, subprocess, sys, time
from pathlib import Path

script, local = sys.argv[1], Path(sys.argv[2])
PR_SET_CHILD_SUBREAPER = 36
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")
subprocess.run(["bash", script, "start"], check=True, capture_output=True, timeout=120)
pid_file = next(
    path
    for path in (local / "pg/data/postmaster.pid", local / "pg/cluster/data/postmaster.pid")
    if path.exists()
)
pid = int(pid_file.read_text().splitlines()[0])
os.kill(pid, signal.SIGKILL)
deadline = time.monotonic() + 30
while Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[0] != "Z":
    if time.monotonic() > deadline:
        sys.exit("the killed postmaster never became a zombie")
    time.sleep(0.05)
restart = subprocess.Popen(
    ["bash", script, "start"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
)
time.sleep(3)  # the late reaping
still_waiting = restart.poll() is None
os.waitpid(pid, 0)
_, stderr = restart.communicate(timeout=120)
print(json.dumps({"still_waiting": still_waiting, "code": restart.returncode, "stderr": stderr}))
"""


def test_start_after_a_kill_waits_for_the_dead_postmaster_to_be_reaped(
    open_checkout: Checkout,
) -> None:
    """The postgres-kill drill restarts the server two seconds after SIGKILL. `kill -0` (and
    `pg_ctl status`) takes the zombie for a live server: `start` said "already running",
    started nothing, and every later test met a refused connection."""
    helper = subprocess.run(
        [
            sys.executable,
            "-c",
            _RESTART_AFTER_A_LATE_REAP,
            str(open_checkout.script),
            str(open_checkout.local),
        ],
        env=open_checkout.environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert helper.returncode == 0, helper.stderr
    restart = json.loads(helper.stdout)

    assert restart["still_waiting"], restart["stderr"]
    assert restart["code"] == 0, restart["stderr"]
    assert _data_directory(open_checkout.admin_dsn()) == str(open_checkout.local / "pg" / "data")
