"""Projections: the state Autopack shows, as pure folds over events.

``RunView.apply`` is the one place an event changes a run's state. Replay
(``fold_run``) moves statuses with the compiled transition tables; the live
session moves them with real ``transitions`` machines and then calls the same
``apply``, so the two can be compared (the hypothesis test does).
"""

from __future__ import annotations

from typing import Callable, Iterable

import attrs

from autopack_core import events as ev
from autopack_core.events import Envelope
from autopack_core.machines import PHASE_TABLE, PHASE_TERMINAL, RUN_TABLE, phase_trigger, run_trigger
from autopack_core.plan import PhaseSpec

# (scope "run" | "phase", phase id or "", current state, trigger) -> new state
Transition = Callable[[str, str, str, str], str]


def table_transition(scope: str, phase_id: str, state: str, trigger: str) -> str:
    table = RUN_TABLE if scope == "run" else PHASE_TABLE
    return table[(state, trigger)]


@attrs.define
class Usage:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, e: ev.ModelCallAnswered) -> None:
        self.calls += 1
        self.input_tokens += e.input_tokens
        self.output_tokens += e.output_tokens
        self.cost_usd += e.cost_usd


@attrs.define
class PhaseView:
    spec: PhaseSpec
    status: str = "pending"
    attempts: int = 0
    errors: dict[str, int] = attrs.Factory(dict)
    last_signature: str = ""
    doctor_calls: int = 0
    execute_fixes: int = 0
    usage: Usage = attrs.Factory(Usage)

    @property
    def id(self) -> str:
        return self.spec.id


@attrs.define
class RunView:
    run_id: str
    status: str = "created"
    goal: str = ""
    seq: int = 0
    created_ts: str = ""
    last_ts: str = ""
    workspace: str = ""
    phases: dict[str, PhaseView] = attrs.Factory(dict)
    plan_revision: int = 0
    usage: Usage = attrs.Factory(Usage)
    usage_by_model: dict[str, Usage] = attrs.Factory(dict)
    usage_by_role: dict[str, Usage] = attrs.Factory(dict)
    failures: dict[str, int] = attrs.Factory(dict)
    http_5xx: int = 0
    patch_failures: int = 0
    doctor_calls: int = 0
    escalations: int = 0
    resumes: int = 0
    hints: list[tuple[str, str, str]] = attrs.Factory(list)
    exhausted: list[str] = attrs.Factory(list)
    end_reason: str = ""
    malformed_replies: int = 0
    refused_actions: int = 0
    reconciliations: int = 0
    checkpoints: list[str] = attrs.Factory(list)
    base_commit: str = ""
    # execute_fix commands: run (with their outcome), refused, and refused as needing a person.
    fix_commands_run: int = 0
    fix_commands_failed: int = 0
    fix_commands_refused: int = 0
    fix_commands_manual: int = 0

    @property
    def total_failures(self) -> int:
        return sum(self.failures.values())

    def apply(self, env: Envelope, transition: Transition = table_transition) -> None:
        """Fold one event into this view (the only place state changes)."""
        e = env.event
        self.seq = env.seq
        self.last_ts = env.ts
        if isinstance(e, ev.RunCreated):
            self.goal = e.goal
            self.created_ts = env.ts
            self.workspace = e.workspace
            self.phases = {p.id: PhaseView(p) for p in e.phases}
            return
        trig = run_trigger(e)
        if trig is not None:
            self.status = transition("run", "", self.status, trig)
        pt = phase_trigger(e)
        if pt is not None:
            pid, ptrig = pt
            phase = self.phases[pid]
            phase.status = transition("phase", pid, phase.status, ptrig)
            if ptrig == "start" or ptrig == "retry_building":
                phase.attempts += 1
        self._data(e)

    def _data(self, e: ev.Event) -> None:
        cls = type(e)
        if cls is ev.ModelCallAnswered:
            self.usage.add(e)
            self.usage_by_model.setdefault(e.model, Usage()).add(e)
            self.usage_by_role.setdefault(e.role, Usage()).add(e)
            if e.phase_id in self.phases:
                self.phases[e.phase_id].usage.add(e)
        elif cls is ev.ModelCallFailed:
            if e.status is not None and e.status >= 500:
                self.http_5xx += 1
        elif cls is ev.PatchRefused:
            self.patch_failures += 1
        elif cls is ev.ErrorClassified:
            self.failures[e.category] = self.failures.get(e.category, 0) + 1
            phase = self.phases[e.phase_id]
            phase.errors[e.category] = phase.errors.get(e.category, 0) + 1
            phase.last_signature = e.signature
        elif cls is ev.DoctorInvoked:
            self.doctor_calls += 1
            self.phases[e.phase_id].doctor_calls += 1
        elif cls is ev.ActionTaken:
            if e.action == "execute_fix":
                self.phases[e.phase_id].execute_fixes += 1
        elif cls is ev.HintRecorded:
            self.hints.append((e.category, e.hint, e.phase_id))
        elif cls is ev.ModelEscalated:
            self.escalations += 1
        elif cls is ev.RunResumed:
            self.resumes += 1
        elif cls is ev.BudgetExhausted:
            self.exhausted.append(e.budget)
        elif cls is ev.PlanRevised:
            self.plan_revision = e.revision
            # Phases that already started keep their history; the rest of the
            # plan is replaced by the revision.
            kept = {pid: p for pid, p in self.phases.items() if p.status != "pending"}
            for spec in e.phases:
                if spec.id not in kept:
                    kept[spec.id] = PhaseView(spec)
            self.phases = kept
        elif cls in (ev.RunFailed, ev.RunAborted):
            self.end_reason = e.reason
        elif cls is ev.RollbackPerformed:
            self.end_reason = e.reason
        elif cls is ev.RoleReplyMalformed:
            self.malformed_replies += 1
        elif cls is ev.ActionRefused:
            self.refused_actions += 1
        elif cls is ev.WorkspaceReconciled:
            self.reconciliations += 1
        elif cls is ev.CheckpointCreated:
            self.checkpoints.append(e.commit)
        elif cls is ev.RunStarted:
            self.base_commit = e.base_commit
        elif cls is ev.FixExecuted:
            self.fix_commands_run += 1
            if e.exit_code != 0 or e.timed_out:
                self.fix_commands_failed += 1
        elif cls is ev.FixRefused:
            self.fix_commands_refused += 1
            if e.requires_manual:
                self.fix_commands_manual += 1


def fold_run(envelopes: Iterable[Envelope], run_id: str | None = None) -> RunView:
    """Rebuild a run's view from its events (a pure function of the log)."""
    view: RunView | None = None
    for env in envelopes:
        if view is None:
            view = RunView(env.run_id)
        view.apply(env)
    if view is None:
        return RunView(run_id or "")
    return view


def phases_done(view: RunView) -> int:
    return sum(1 for p in view.phases.values() if p.status in PHASE_TERMINAL)
