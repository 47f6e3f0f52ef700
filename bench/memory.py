"""Peak resident memory (RSS) of each running service while the benchmark runs.

Linux keeps each process's peak, ``VmHWM`` in ``/proc/<pid>/status``; a process restarted
during the run (the intake figure stops and starts the downstream services) loses its
predecessor's, so the pid files of ``deploy/local/services.sh`` are read again at every sample
and the peak is the highest seen for any of the service's processes.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

SERVICES = ("intake", "reintegration", "notifications", "reporting")
SAMPLE_SECONDS = 0.5


class PeakMemory:
    def __init__(self, pid_files: Path = Path(".local/services")) -> None:
        self._pid_files = pid_files
        self._peaks: dict[str, int] = {}
        self._sampling: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PeakMemory:
        self._sample()
        self._sampling = asyncio.create_task(self._keep_sampling())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._sampling is not None:
            self._sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampling
        self._sample()

    def peaks_mib(self) -> dict[str, float]:
        """Per service seen running: its highest peak, in MiB."""
        return {service: kib / 1024 for service, kib in sorted(self._peaks.items())}

    async def _keep_sampling(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_SECONDS)
            self._sample()

    def _sample(self) -> None:
        for service in SERVICES:
            peak = _peak_kib(self._pid_files / f"{service}.pid")
            if peak is not None:
                self._peaks[service] = max(peak, self._peaks.get(service, 0))


def _peak_kib(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
        status = Path(f"/proc/{pid}/status").read_text()
    except (OSError, ValueError):
        return None  # not running (stopped for a figure, or never started)
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None
