"""The drill framework: a registry of drills, the context each runs in, its one-line result,
the closing table, .local/drills/results.json, and the exit code.

A drill is `async def drill(ctx: Drill) -> Outcome`: it drives load through the services,
injects its fault, clears it, and hands back what it did and when the fault was cleared;
the framework then waits for every consumer to catch up and counts what was lost or
applied twice, and the SMS the network received twice.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from drills.observe import SmsLog, applied, caught_up
from drills.sabotage import SABOTAGES, Sabotaged
from drills.stack import Stack


@dataclass(frozen=True)
class Settings:
    """DRILL_* environment variables, read once at start."""

    kafka_down_seconds: float = 600.0
    backlog_events: int = 100_000
    wave_size: int = 415
    load_seconds: float = 60.0
    per_second: float = 5.0
    recovery_timeout_seconds: float = 600.0
    sabotage: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, *, quick: bool = False) -> Settings:
        base = QUICK if quick else cls()

        def number(name: str, default: float) -> float:
            raw = os.environ.get(name)
            try:
                return float(raw) if raw else default
            except ValueError:
                raise SystemExit(f"{name} must be a number, not {raw!r}") from None

        # One breakage or several, comma-separated (each shows a different counter failing).
        sabotage = tuple(n for n in os.environ.get("DRILL_SABOTAGE", "").split(",") if n)
        unknown = [name for name in sabotage if name not in SABOTAGES]
        if unknown:
            raise SystemExit(f"DRILL_SABOTAGE must be one of {sorted(SABOTAGES)}, not {unknown!r}")
        return cls(
            kafka_down_seconds=number("DRILL_KAFKA_DOWN_SECONDS", base.kafka_down_seconds),
            backlog_events=int(number("DRILL_BACKLOG_EVENTS", base.backlog_events)),
            wave_size=int(number("DRILL_WAVE_SIZE", base.wave_size)),
            load_seconds=number("DRILL_LOAD_SECONDS", base.load_seconds),
            per_second=number("DRILL_PER_SECOND", base.per_second),
            recovery_timeout_seconds=number(
                "DRILL_RECOVERY_TIMEOUT_SECONDS", base.recovery_timeout_seconds
            ),
            sabotage=sabotage,
        )


# The quick subset of `make test`: the same drills, short faults and small loads.
QUICK = Settings(
    kafka_down_seconds=15.0,
    backlog_events=20_000,
    wave_size=40,
    load_seconds=10.0,
    per_second=3.0,
    recovery_timeout_seconds=180.0,
)


@dataclass
class Outcome:
    """What a drill did: in words, the registrations intake acknowledged, and the moment its
    fault was cleared (time.monotonic()). `extra_*` carry a drill's own findings (order
    broken, memory unbounded), counted with the framework's."""

    action: str
    returnees: list[str]
    cleared_at: float
    extra_lost: int = 0
    extra_twice: int = 0
    broken: list[str] = field(default_factory=list)
    """Guarantees of the drill's own that did not hold (order, bounded memory, visible lag)."""
    recover_seconds: float | None = None
    """Set by a drill that measures recovery itself (the relay leader frozen: events must
    flow while the fault lasts); `nan` there means it did not recover in time."""
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    drill: str
    action: str
    lost: int
    applied_twice: int
    sms_twice: int
    recover_seconds: float | None
    skipped: str | None = None
    broken: list[str] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.skipped is None and (
            bool(self.broken)
            or self.lost > 0
            or self.applied_twice > 0
            or self.sms_twice > 0
            or self.recover_seconds is None
        )

    def line(self) -> str:
        if self.skipped:
            return f"[drill] {self.drill}: skipped, {self.skipped}"
        recovered = (
            "never recovered"
            if self.recover_seconds is None
            else f"recovered in {self.recover_seconds:.1f} s"
        )
        verdict = "FAILED" if self.failed else "ok"
        broken = "".join(f", BROKEN: {what}" for what in self.broken)
        return (
            f"[drill] {self.drill}: {self.action}; lost {self.lost}, applied twice "
            f"{self.applied_twice}, SMS twice {self.sms_twice}, {recovered}{broken} ({verdict})"
        )


@dataclass
class Drill:
    """What a drill runs with: the stack, the settings, and the sabotage hook."""

    stack: Stack
    settings: Settings
    sabotaged: Sabotaged = field(default_factory=Sabotaged)

    def sabotage(self, returnees: list[str]) -> None:
        """Breaks the guarantee the drill checks, on purpose, when DRILL_SABOTAGE names how:
        every drill calls this once its load is acknowledged (and may be in the middle of its
        fault), so each can be shown to fail. The breakage runs beside the drill."""
        for name in self.settings.sabotage:
            self.sabotaged.start(SABOTAGES[name](self.stack, returnees))


DrillFunction = Callable[[Drill], Awaitable[Outcome]]


@dataclass(frozen=True)
class Registered:
    name: str
    summary: str
    run: DrillFunction
    quick: bool
    needs: Callable[[Stack], str | None]


REGISTRY: dict[str, Registered] = {}


def _needs_nothing(_: Stack) -> str | None:
    return None


def drill(
    name: str,
    summary: str,
    *,
    quick: bool = False,
    needs: Callable[[Stack], str | None] = _needs_nothing,
) -> Callable[[DrillFunction], DrillFunction]:
    """Registers a drill. `needs` says why it cannot run on this stack yet ("needs ..."),
    or None; `quick` puts it in the subset of `make test`."""

    def register(run: DrillFunction) -> DrillFunction:
        REGISTRY[name] = Registered(name, summary, run, quick, needs)
        return run

    return register


async def run_one(registered: Registered, ctx: Drill) -> Result:
    missing = registered.needs(ctx.stack)
    if missing:
        return Result(registered.name, registered.summary, 0, 0, 0, None, skipped=missing)
    sms = SmsLog(ctx.stack.fakesmsc_log)
    outcome = await registered.run(ctx)
    await ctx.sabotaged.finished()
    remaining = ctx.settings.recovery_timeout_seconds - (time.monotonic() - outcome.cleared_at)
    recovered = await caught_up(ctx.stack, outcome.returnees, within=max(remaining, 1.0))
    recover_seconds = None if recovered is None else time.monotonic() - outcome.cleared_at
    if outcome.recover_seconds is not None:
        recover_seconds = None if math.isnan(outcome.recover_seconds) else outcome.recover_seconds
    counts = await applied(ctx.stack, outcome.returnees)
    # Every drill acts under registrations: with none acknowledged, nothing was checked.
    unproven = [] if outcome.returnees else ["no registration was acknowledged"]
    return Result(
        registered.name,
        outcome.action,
        lost=counts.lost + outcome.extra_lost,
        applied_twice=counts.applied_twice + outcome.extra_twice,
        sms_twice=sms.sent_twice(),
        recover_seconds=recover_seconds,
        broken=outcome.broken + unproven,
        notes=outcome.notes,
    )


def table(results: list[Result]) -> str:
    header = f"{'drill':<24} {'lost':>5} {'twice':>6} {'sms x2':>7} {'recover s':>10}  verdict"
    rows = [header, "-" * len(header)]
    for r in results:
        recover = "-" if r.recover_seconds is None else f"{r.recover_seconds:.1f}"
        verdict = "skipped" if r.skipped else ("FAILED" if r.failed else "ok")
        rows.append(
            f"{r.drill:<24} {r.lost:>5} {r.applied_twice:>6} {r.sms_twice:>7} {recover:>10}  "
            f"{verdict}"
        )
    return "\n".join(rows)


def write_results(stack: Stack, results: list[Result]) -> None:
    folder = stack.local / "drills"
    folder.mkdir(parents=True, exist_ok=True)
    payload = [{**asdict(r), "failed": r.failed} for r in results]
    (folder / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
