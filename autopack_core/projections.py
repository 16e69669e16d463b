"""Projections: the state Autopack shows, as pure folds over events.

``RunView.apply`` is the one place an event changes a run's state. Replay
(``fold_run``) and the live session (after ``machines.check`` has passed the
batch) both call it, moving statuses with the transition tables compiled from
the ``transitions`` machines, so rebuilding from the log gives the live state
(the hypothesis tests check both).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import attrs

from autopack_core import events as ev
from autopack_core.errors import BrokenLog, IllegalTransition
from autopack_core.events import Envelope
from autopack_core.machines import (
    PHASE_EVENT_TYPES,
    PHASE_TABLE,
    PHASE_TERMINAL,
    PHASE_TRIGGERS,
    RUN_EVENT_TYPES,
    RUN_TABLE,
    RUN_TRIGGERS,
    check,
    phase_trigger,
    run_trigger,
)
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

    @property
    def tokens(self) -> int:
        """Input and output tokens together (what token quotas count)."""
        return self.input_tokens + self.output_tokens

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
    patch_failures: int = 0

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
        cls = type(e)
        if cls is ev.RunCreated:
            self.goal = e.goal
            self.created_ts = env.ts
            self.workspace = e.workspace
            self.phases = {p.id: PhaseView(p) for p in e.phases}
            return
        if transition is table_transition:
            # The same steps as below, made once per event class (see ``_STEPS``).
            step = _STEPS.get(cls)
            if step is not None:
                step(self, e)
            return
        if cls in RUN_EVENT_TYPES:
            self.status = transition("run", "", self.status, run_trigger(e))  # type: ignore[arg-type]
        if cls in PHASE_EVENT_TYPES:
            pt = phase_trigger(e)
            if pt is not None:
                pid, ptrig = pt
                phase = self.phases[pid]
                phase.status = transition("phase", pid, phase.status, ptrig)
                if ptrig == "start" or ptrig == "retry_building":
                    phase.attempts += 1
        fold = _FOLDS.get(cls)
        if fold is not None:
            fold(self, e)


# --- what each kind of event adds to a view, beside its transition ----------


def _usage(table: dict[str, Usage], key: str) -> Usage:
    u = table.get(key)
    if u is None:
        u = table[key] = Usage()
    return u


def _model_call_answered(view: RunView, e: ev.ModelCallAnswered) -> None:
    view.usage.add(e)
    _usage(view.usage_by_model, e.model).add(e)
    _usage(view.usage_by_role, e.role).add(e)
    phase = view.phases.get(e.phase_id) if e.phase_id is not None else None
    if phase is not None:
        phase.usage.add(e)


def _model_call_failed(view: RunView, e: ev.ModelCallFailed) -> None:
    if e.status is not None and e.status >= 500:
        view.http_5xx += 1


def _patch_refused(view: RunView, e: ev.PatchRefused) -> None:
    view.patch_failures += 1
    phase = view.phases.get(e.phase_id)
    if phase is not None:
        phase.patch_failures += 1


def _error_classified(view: RunView, e: ev.ErrorClassified) -> None:
    view.failures[e.category] = view.failures.get(e.category, 0) + 1
    phase = view.phases[e.phase_id]
    phase.errors[e.category] = phase.errors.get(e.category, 0) + 1
    phase.last_signature = e.signature


def _doctor_invoked(view: RunView, e: ev.DoctorInvoked) -> None:
    view.doctor_calls += 1
    view.phases[e.phase_id].doctor_calls += 1


def _action_taken(view: RunView, e: ev.ActionTaken) -> None:
    if e.action == "execute_fix":
        view.phases[e.phase_id].execute_fixes += 1


def _hint_recorded(view: RunView, e: ev.HintRecorded) -> None:
    view.hints.append((e.category, e.hint, e.phase_id))


def _model_escalated(view: RunView, e: ev.ModelEscalated) -> None:
    view.escalations += 1


def _run_resumed(view: RunView, e: ev.RunResumed) -> None:
    view.resumes += 1


def _budget_exhausted(view: RunView, e: ev.BudgetExhausted) -> None:
    view.exhausted.append(e.budget)


def _plan_revised(view: RunView, e: ev.PlanRevised) -> None:
    view.plan_revision = e.revision
    # Phases that already started keep their history; the rest of the plan is
    # replaced by the revision.
    kept = {pid: p for pid, p in view.phases.items() if p.status != "pending"}
    for spec in e.phases:
        if spec.id not in kept:
            kept[spec.id] = PhaseView(spec)
    view.phases = kept


def _ended(view: RunView, e: ev.RunFailed | ev.RunAborted | ev.RollbackPerformed) -> None:
    view.end_reason = e.reason


def _role_reply_malformed(view: RunView, e: ev.RoleReplyMalformed) -> None:
    view.malformed_replies += 1


def _action_refused(view: RunView, e: ev.ActionRefused) -> None:
    view.refused_actions += 1


def _workspace_reconciled(view: RunView, e: ev.WorkspaceReconciled) -> None:
    view.reconciliations += 1


def _checkpoint_created(view: RunView, e: ev.CheckpointCreated) -> None:
    view.checkpoints.append(e.commit)


def _run_started(view: RunView, e: ev.RunStarted) -> None:
    view.base_commit = e.base_commit


def _fix_executed(view: RunView, e: ev.FixExecuted) -> None:
    view.fix_commands_run += 1
    if e.exit_code != 0 or e.timed_out:
        view.fix_commands_failed += 1


def _fix_refused(view: RunView, e: ev.FixRefused) -> None:
    view.fix_commands_refused += 1
    if e.requires_manual:
        view.fix_commands_manual += 1


_FOLDS: dict[type, Callable[[RunView, Any], None]] = {
    ev.ModelCallAnswered: _model_call_answered,
    ev.ModelCallFailed: _model_call_failed,
    ev.PatchRefused: _patch_refused,
    ev.ErrorClassified: _error_classified,
    ev.DoctorInvoked: _doctor_invoked,
    ev.ActionTaken: _action_taken,
    ev.HintRecorded: _hint_recorded,
    ev.ModelEscalated: _model_escalated,
    ev.RunResumed: _run_resumed,
    ev.BudgetExhausted: _budget_exhausted,
    ev.PlanRevised: _plan_revised,
    ev.RunFailed: _ended,
    ev.RunAborted: _ended,
    ev.RollbackPerformed: _ended,
    ev.RoleReplyMalformed: _role_reply_malformed,
    ev.ActionRefused: _action_refused,
    ev.WorkspaceReconciled: _workspace_reconciled,
    ev.CheckpointCreated: _checkpoint_created,
    ev.RunStarted: _run_started,
    ev.FixExecuted: _fix_executed,
    ev.FixRefused: _fix_refused,
}


def _step_for(cls: type) -> Callable[[RunView, Any], None] | None:
    """``RunView.apply`` for one event class with the tables: its transitions, then its fold."""
    run_trig = RUN_TRIGGERS.get(cls)
    static = PHASE_TRIGGERS.get(cls)
    dynamic = cls in PHASE_EVENT_TYPES and static is None
    fold = _FOLDS.get(cls)
    if run_trig is None and static is None and not dynamic:
        return fold
    if run_trig is None and static is not None:
        counts = static in ("start", "retry_building")

        def phase_step(view: RunView, e: Any) -> None:
            phase = view.phases[e.phase_id]
            phase.status = PHASE_TABLE[(phase.status, static)]
            if counts:
                phase.attempts += 1
            if fold is not None:
                fold(view, e)

        return phase_step

    def step(view: RunView, e: Any) -> None:
        if run_trig is not None:
            view.status = RUN_TABLE[(view.status, run_trig)]
        if dynamic:
            pt = phase_trigger(e)
            if pt is not None:
                pid, ptrig = pt
                phase = view.phases[pid]
                phase.status = PHASE_TABLE[(phase.status, ptrig)]
                if ptrig == "start" or ptrig == "retry_building":
                    phase.attempts += 1
        if fold is not None:
            fold(view, e)

    return step


_STEPS: dict[type, Callable[[RunView, Any], None]] = {
    cls: step for cls in ev.CORE_EVENT_TYPES if cls is not ev.RunCreated and (step := _step_for(cls)) is not None
}


# The events whose figures budgets and quotas are made of; ``count`` folds
# these alone, the same way ``apply`` does.
BUDGET_EVENTS = frozenset({ev.ModelCallAnswered, ev.ModelCallFailed, ev.PatchRefused})


def count(view: RunView, events: Iterable[ev.Event]) -> None:
    """Fold only the budget figures of ``events`` (usage, 5xx, patch failures) into ``view``.

    For model calls made outside a run (``autopack prompt``): there is no log,
    so no sequence numbers and no transitions, but the figures are added by the
    same code as a run's (``RunView.apply``).
    """
    for e in events:
        cls = type(e)
        if cls in BUDGET_EVENTS:
            _FOLDS[cls](view, e)


def fold_run(envelopes: Iterable[Envelope], run_id: str | None = None) -> RunView:
    """Rebuild a run's view from its events (a pure function of the log).

    The events are trusted to follow the run's rules, as every log Autopack
    writes does; one that does not fold (a phase that is not in the plan, a
    move its machine has no row for) is ``BrokenLog`` naming it, never a
    ``KeyError``. ``fold_checked`` checks every rule on the way.
    """
    it = iter(envelopes)
    env = next(it, None)
    if env is None:
        return RunView(run_id or "")
    view = RunView(env.run_id)
    apply = view.apply
    try:
        _expect_created(env)
        apply(env)
        for env in it:
            apply(env)
    except (KeyError, AttributeError, TypeError, ValueError) as exc:
        raise BrokenLog(
            env.run_id, env.seq, f"{env.event.type} does not fit the events before it ({type(exc).__name__}: {exc})"
        ) from exc
    return view


def fold_checked(envelopes: Iterable[Envelope], run_id: str | None = None) -> RunView:
    """``fold_run``, holding each event to the run's rules first (``machines.check``, as a live run does).

    Raises ``BrokenLog`` at the first event a live run could not have recorded.
    """
    view: RunView | None = None
    for env in envelopes:
        view = apply_checked(view, env)
    return view if view is not None else RunView(run_id or "")


def apply_checked(view: RunView | None, env: Envelope) -> RunView:
    """One step of ``fold_checked``: ``env`` held to the run's rules, then folded into ``view``.

    ``view`` is None before the first event; the view is returned (a new one
    for the first event). Raises ``BrokenLog`` if a live run could not have
    recorded ``env`` here.
    """
    if view is None:
        _expect_created(env)
        view = RunView(env.run_id)
    else:
        try:
            check(view, (env.event,))
        except IllegalTransition as exc:
            raise BrokenLog(env.run_id, env.seq, str(exc).removeprefix(f"run {env.run_id}: ")) from None
    view.apply(env)
    return view


def _expect_created(env: Envelope) -> None:
    if type(env.event) is not ev.RunCreated:
        raise BrokenLog(env.run_id, env.seq, f"a run's log starts with run_created, not {env.event.type}")


def phases_done(view: RunView) -> int:
    return sum(1 for p in view.phases.values() if p.status in PHASE_TERMINAL)
