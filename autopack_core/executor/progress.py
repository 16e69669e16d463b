"""What the user sees while a run goes: rich live progress, key=value lines, or JSON.

- ``rich`` (a terminal): a live panel with each phase's status, the current
  step, role, model and tier, attempt, tokens, cost and elapsed time; a summary
  table at the end.
- ``plain`` (no terminal): one ``key=value`` line per event (structlog's
  logfmt renderer), then the summary as ``key=value`` lines.
- ``json`` (``--json``): one JSON object per event on stdout (the same shape
  as ``autopack events --json``), nothing else.

Every renderer is fed the envelopes after the executor has folded them, so
what it shows is the projection, never a second bookkeeping.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import IO, Any

import orjson
import structlog

from autopack_core import events as ev
from autopack_core.projections import RunView
from autopack_core.store import Envelope


def _fields(e: ev.Event) -> dict[str, Any]:
    """The few fields of an event worth a line."""
    out: dict[str, Any] = {}
    pid = getattr(e, "phase_id", None)
    if pid:
        out["phase"] = pid
    if isinstance(e, ev.ModelCallRequested):
        out.update(role=e.role, model=e.model)
    elif isinstance(e, ev.ModelCallAnswered):
        out.update(
            role=e.role,
            model=e.model,
            tokens_in=e.input_tokens,
            tokens_out=e.output_tokens,
            cost_usd=round(e.cost_usd, 6),
            ms=round(e.latency_ms, 1),
            attempts=e.attempts,
        )
    elif isinstance(e, ev.ModelCallFailed):
        out.update(role=e.role, model=e.model, category=e.category, status=e.status, message=e.message[:200])
    elif isinstance(e, ev.PatchProposed):
        out.update(format=e.format, files=",".join(e.files))
    elif isinstance(e, ev.PatchApplied):
        out.update(files=",".join(e.files))
    elif isinstance(e, ev.PatchRefused):
        out.update(reasons="; ".join(f"{r.path}: {r.rule}" for r in e.reasons)[:200])
    elif isinstance(e, ev.AuditVerdict):
        out.update(verdict=e.verdict, issues=len(e.issues))
    elif isinstance(e, ev.CheckResult):
        out.update(check=e.check, passed=e.passed, ms=round(e.duration_ms, 1))
    elif isinstance(e, ev.ErrorClassified):
        out.update(category=e.category, signature=e.signature, step=e.step)
    elif isinstance(e, (ev.DoctorInvoked,)):
        out.update(model=e.model, reason=e.reason)
    elif isinstance(e, ev.DoctorDiagnosed):
        out.update(action=e.action, confidence=e.confidence, model=e.model)
    elif isinstance(e, ev.ActionTaken):
        out.update(action=e.action, detail=e.detail[:160])
    elif isinstance(e, ev.ModelEscalated):
        out.update(role=e.role, from_model=e.from_model, to_model=e.to_model)
    elif isinstance(e, ev.CheckpointCreated):
        out.update(commit=e.commit[:12])
    elif isinstance(e, ev.BudgetExhausted):
        out.update(budget=e.budget, used=e.used, limit=e.limit)
    elif isinstance(e, (ev.RunFailed, ev.RunAborted, ev.PhaseFailed, ev.PhaseSkipped, ev.PhaseMarkedFatal)):
        out.update(reason=e.reason[:200])
    elif isinstance(e, ev.StepRetried):
        out.update(step=e.step)
    elif isinstance(e, ev.WorkspaceReconciled):
        out.update(action=e.action, commit=e.commit[:12])
    elif isinstance(e, ev.RoleReplyMalformed):
        out.update(role=e.role, reason=e.reason[:160])
    elif isinstance(e, ev.ActionRefused):
        out.update(action=e.action, reason=e.reason[:160])
    elif isinstance(e, ev.RunStarted):
        out.update(base=e.base_commit[:12], pre_run_branch=e.pre_run_branch)
    elif isinstance(e, (ev.FixStarted, ev.FixExecuted, ev.FixRefused)):
        out.update(fix_type=e.fix_type, stage=e.stage, command=e.command[:160])
        if isinstance(e, ev.FixExecuted):
            out.update(exit=e.exit_code, timed_out=e.timed_out, ms=round(e.duration_ms, 1))
        elif isinstance(e, ev.FixRefused):
            out.update(rule=e.rule, manual=e.requires_manual, reason=e.reason[:160])
    return out


class Progress:
    """Base renderer: ``update`` after each recorded batch, ``close`` with the final view."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out or sys.stdout
        self.started = time.perf_counter()
        self.tiers: dict[str, str] = {}

    def update(self, envelopes: Sequence[Envelope], view: RunView) -> None:  # pragma: no cover - interface
        pass

    def close(self, view: RunView) -> None:
        pass

    def message(self, text: str) -> None:
        print(text, file=self.out, flush=True)


class JsonProgress(Progress):
    def __init__(self, codec: Any, out: IO[str] | None = None) -> None:
        super().__init__(out)
        self.codec = codec

    def update(self, envelopes: Sequence[Envelope], view: RunView) -> None:
        for env in envelopes:
            line = orjson.dumps(
                {
                    "run_id": env.run_id,
                    "seq": env.seq,
                    "ts": env.ts,
                    "type": env.event.type,
                    "hash": env.hash,
                    "payload": orjson.Fragment(self.codec.encode(env.event)),
                }
            )
            self.out.write(line.decode() + "\n")
        self.out.flush()

    def message(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)


class PlainProgress(Progress):
    def __init__(self, out: IO[str] | None = None) -> None:
        super().__init__(out)
        self.render = structlog.processors.LogfmtRenderer(key_order=["event", "run", "seq"], drop_missing=True)

    def line(self, event: str, **fields: Any) -> None:
        self.out.write(self.render(None, "info", {"event": event, **fields}) + "\n")

    def update(self, envelopes: Sequence[Envelope], view: RunView) -> None:
        for env in envelopes:
            self.line(env.event.type, run=env.run_id, seq=env.seq, **_fields(env.event))
        self.out.flush()

    def close(self, view: RunView) -> None:
        for p in view.phases.values():
            self.line(
                "summary_phase",
                phase=p.id,
                status=p.status,
                attempts=p.attempts,
                doctor_calls=p.doctor_calls,
                cost_usd=round(p.usage.cost_usd, 6),
            )
        self.line(
            "summary_run",
            run=view.run_id,
            status=view.status,
            reason=view.end_reason or None,
            calls=view.usage.calls,
            tokens_in=view.usage.input_tokens,
            tokens_out=view.usage.output_tokens,
            cost_usd=round(view.usage.cost_usd, 6),
            elapsed_s=round(time.perf_counter() - self.started, 2),
        )
        self.out.flush()


class RichProgress(Progress):
    """A live panel on a terminal: the run, the step under way, and one row per phase."""

    def __init__(self, out: IO[str] | None = None, *, console: Any = None) -> None:
        super().__init__(out)
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console(file=self.out)
        self.role = ""
        self.model = ""
        self.last = ""
        #: model name -> tier, set by the runner from the config.
        self.tiers: dict[str, str] = {}
        self.live = Live(console=self.console, refresh_per_second=8, transient=True)
        self.live.start()

    def update(self, envelopes: Sequence[Envelope], view: RunView) -> None:
        for env in envelopes:
            e = env.event
            if isinstance(e, ev.ModelCallRequested):
                self.role, self.model = e.role, e.model
            f = _fields(e)
            self.last = f"{e.type} " + " ".join(f"{k}={v}" for k, v in f.items() if k != "phase")
        self.live.update(self.render(view))

    def render(self, view: RunView) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table(show_header=True, header_style="bold", expand=False, box=None)
        for col in ("phase", "status", "attempt", "doctor", "tokens", "cost"):
            table.add_column(col)
        active = None
        for p in view.phases.values():
            style = _STYLE.get(p.status, "")
            if p.status in ("building", "applying", "auditing", "checking", "diagnosing", "fixing"):
                active, style = p, "bold yellow"
            table.add_row(
                p.id,
                Text(p.status, style=style),
                str(p.attempts),
                str(p.doctor_calls),
                str(p.usage.input_tokens + p.usage.output_tokens),
                f"${p.usage.cost_usd:.4f}",
            )
        elapsed = time.perf_counter() - self.started
        head = Text.assemble(
            ("autopack ", "bold"),
            f"run {view.run_id}  ",
            (view.status, "bold"),
            f"  tokens {view.usage.input_tokens + view.usage.output_tokens}  cost ${view.usage.cost_usd:.4f}  "
            f"elapsed {elapsed:.1f}s",
        )
        if active is not None:
            tier = self.tiers.get(self.model, "")
            now = Text.assemble(
                ("▶ ", "yellow"),
                f"{active.id}  step {active.status}  attempt {active.attempts}  role {self.role or '-'}  ",
                f"model {self.model or '-'}" + (f" ({tier})" if tier else ""),
            )
        else:
            now = Text("")
        return Group(head, now, table, Text(self.last[:160], style="dim"))

    def close(self, view: RunView) -> None:
        self.live.stop()
        from rich.table import Table

        title = f"run {view.run_id}: {view.status}" + (f" ({view.end_reason})" if view.end_reason else "")
        t = Table(title=title)
        for col in ("phase", "outcome", "attempts", "doctor calls", "tokens", "cost"):
            t.add_column(col)
        for p in view.phases.values():
            t.add_row(
                p.id,
                p.status,
                str(p.attempts),
                str(p.doctor_calls),
                str(p.usage.input_tokens + p.usage.output_tokens),
                f"${p.usage.cost_usd:.4f}",
            )
        t.add_row(
            "total",
            view.status,
            str(sum(p.attempts for p in view.phases.values())),
            str(view.doctor_calls),
            str(view.usage.input_tokens + view.usage.output_tokens),
            f"${view.usage.cost_usd:.4f}",
        )
        self.console.print(t)
        self.console.print(f"elapsed {time.perf_counter() - self.started:.1f}s, {view.usage.calls} model calls")


_STYLE = {
    "completed": "green",
    "failed": "red",
    "fatal": "red",
    "rolled_back": "red",
    "skipped": "dim",
    "superseded": "dim",
}


def make_progress(mode: str, codec: Any) -> Progress:
    if mode == "json":
        return JsonProgress(codec)
    if mode == "rich" or (mode == "auto" and sys.stdout.isatty()):
        return RichProgress()
    return PlainProgress()


def configure_logging(mode: str) -> None:
    """Structured logs: key=value lines on stderr (warnings and up unless AUTOPACK_LOG_LEVEL says otherwise)."""
    import logging
    import os

    level = getattr(logging, os.environ.get("AUTOPACK_LOG_LEVEL", "WARNING").upper(), logging.WARNING)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.LogfmtRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
