"""The run and phase lifecycles as ``transitions`` state machines.

The machines are pure and synchronous: their callbacks do no I/O. Each
transition is fired by exactly one event type (see ``run_trigger`` and
``phase_trigger``). ``RUN_TABLE`` and ``PHASE_TABLE`` are compiled from the
same definitions (``tests/test_machines.py`` checks them against the
``transitions`` machines for every state and trigger), so ``check`` (the one
statement of what is legal, which ``RunSession`` calls before it appends) and
the folds move states by table lookups instead of machine objects.
``docs/state-machines.md`` holds the mermaid diagrams generated from here.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence

from transitions import Machine

from autopack_core import events as ev
from autopack_core.errors import IllegalTransition

RUN_STATES = ("created", "running", "completed", "failed", "aborted", "rolled_back")
RUN_TERMINAL = frozenset({"completed", "failed", "aborted", "rolled_back"})

RUN_TRANSITIONS: tuple[dict[str, Any], ...] = (
    {"trigger": "start", "source": "created", "dest": "running"},
    # An aborted run (Ctrl-C) stays resumable.
    {"trigger": "resume", "source": ["running", "aborted"], "dest": "running"},
    {"trigger": "revise", "source": "running", "dest": "running"},
    {"trigger": "rollback", "source": "running", "dest": "rolled_back"},
    {"trigger": "complete", "source": "running", "dest": "completed"},
    {"trigger": "fail", "source": ["created", "running"], "dest": "failed"},
    {"trigger": "abort", "source": ["created", "running"], "dest": "aborted"},
)

PHASE_STATES = (
    "pending",
    "building",
    "applying",
    "auditing",
    "checking",
    "diagnosing",
    "fixing",
    "completed",
    "failed",
    "skipped",
    "fatal",
    "rolled_back",
    "superseded",
)
PHASE_ACTIVE = ("building", "applying", "auditing", "checking", "diagnosing", "fixing")
PHASE_TERMINAL = frozenset({"completed", "failed", "skipped", "fatal", "rolled_back", "superseded"})

PHASE_TRANSITIONS: tuple[dict[str, Any], ...] = (
    {"trigger": "start", "source": "pending", "dest": "building"},
    {"trigger": "propose", "source": "building", "dest": "applying"},
    {"trigger": "applied", "source": "applying", "dest": "auditing"},
    {"trigger": "approve", "source": "auditing", "dest": "checking"},
    {"trigger": "reject", "source": "auditing", "dest": "auditing"},
    {"trigger": "check_result", "source": "checking", "dest": "checking"},
    {"trigger": "complete", "source": "checking", "dest": "completed"},
    {"trigger": "error", "source": ["building", "applying", "auditing", "checking", "fixing"], "dest": "diagnosing"},
    {"trigger": "doctor", "source": "diagnosing", "dest": "diagnosing"},
    {"trigger": "diagnosed", "source": "diagnosing", "dest": "diagnosing"},
    {"trigger": "decide", "source": "diagnosing", "dest": "diagnosing"},
    {"trigger": "begin_fix", "source": "diagnosing", "dest": "fixing"},
    {"trigger": "fix_ran", "source": "fixing", "dest": "fixing"},
    {"trigger": "retry_building", "source": ["diagnosing", "fixing"], "dest": "building"},
    {"trigger": "retry_auditing", "source": ["diagnosing", "fixing"], "dest": "auditing"},
    {"trigger": "retry_checking", "source": ["diagnosing", "fixing"], "dest": "checking"},
    {"trigger": "fail", "source": list(PHASE_ACTIVE), "dest": "failed"},
    {"trigger": "skip", "source": ["pending", "diagnosing"], "dest": "skipped"},
    {"trigger": "mark_fatal", "source": "diagnosing", "dest": "fatal"},
    {"trigger": "rollback", "source": ["diagnosing", "fixing"], "dest": "rolled_back"},
    {"trigger": "supersede", "source": "diagnosing", "dest": "superseded"},
)

_RUN_TRIGGERS: dict[type, str] = {
    ev.RunStarted: "start",
    ev.RunResumed: "resume",
    ev.PlanRevised: "revise",
    ev.RollbackPerformed: "rollback",
    ev.RunCompleted: "complete",
    ev.RunFailed: "fail",
    ev.RunAborted: "abort",
}

_PHASE_TRIGGERS: dict[type, str] = {
    ev.PhaseStarted: "start",
    ev.PatchProposed: "propose",
    ev.PatchApplied: "applied",
    ev.CheckResult: "check_result",
    ev.PhaseCompleted: "complete",
    ev.ErrorClassified: "error",
    ev.DoctorInvoked: "doctor",
    ev.DoctorDiagnosed: "diagnosed",
    ev.FixExecuted: "fix_ran",
    ev.PhaseFailed: "fail",
    ev.PhaseSkipped: "skip",
    ev.PhaseMarkedFatal: "mark_fatal",
    ev.PhaseSuperseded: "supersede",
}


#: Event class -> the run trigger it fires / the phase trigger it always fires
#: (``phase_trigger`` also knows the events whose trigger depends on a field).
RUN_TRIGGERS: Mapping[type, str] = _RUN_TRIGGERS
PHASE_TRIGGERS: Mapping[type, str] = _PHASE_TRIGGERS
#: Event classes that fire a run trigger / may fire a phase trigger: a fold
#: asks ``run_trigger`` and ``phase_trigger`` about these alone.
RUN_EVENT_TYPES = frozenset(_RUN_TRIGGERS)
PHASE_EVENT_TYPES = frozenset(_PHASE_TRIGGERS) | {ev.AuditVerdict, ev.ActionTaken, ev.StepRetried, ev.RollbackPerformed}


def run_trigger(event: ev.Event) -> str | None:
    """The run-machine trigger an event fires, if any."""
    return _RUN_TRIGGERS.get(type(event))


def phase_trigger(event: ev.Event) -> tuple[str, str] | None:
    """(phase id, trigger) of the phase-machine transition an event fires, if any."""
    cls = type(event)
    trig = _PHASE_TRIGGERS.get(cls)
    if trig is not None:
        return event.phase_id, trig  # type: ignore[attr-defined]
    if cls is ev.AuditVerdict:
        return event.phase_id, "approve" if event.verdict == "approve" else "reject"  # type: ignore[attr-defined]
    if cls is ev.ActionTaken:
        return event.phase_id, "begin_fix" if event.action == "execute_fix" else "decide"  # type: ignore[attr-defined]
    if cls is ev.StepRetried:
        return event.phase_id, f"retry_{event.step}"  # type: ignore[attr-defined]
    if cls is ev.RollbackPerformed and event.phase_id:  # type: ignore[attr-defined]
        return event.phase_id, "rollback"  # type: ignore[attr-defined]
    return None


def _compile(transitions: tuple[dict[str, Any], ...]) -> dict[tuple[str, str], str]:
    table: dict[tuple[str, str], str] = {}
    for t in transitions:
        sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
        for s in sources:
            table[(s, t["trigger"])] = t["dest"]
    return table


RUN_TABLE = _compile(RUN_TRANSITIONS)
PHASE_TABLE = _compile(PHASE_TRANSITIONS)


# --- legality -----------------------------------------------------------------


class PhaseState(Protocol):
    """What ``check`` reads of a phase (``projections.PhaseView`` has it)."""

    status: str

    @property
    def spec(self) -> Any: ...  # a ``PhaseSpec``: only ``optional`` is read


class RunState(Protocol):
    """What ``check`` reads of a run (``projections.RunView`` has it)."""

    run_id: str
    status: str

    @property
    def phases(self) -> Mapping[str, PhaseState]: ...


_NOT_IN_A_RUN: dict[type, str] = {
    ev.RunCreated: "the run already exists",
    ev.RuleApproved: f"rule decisions belong to the {ev.RULES_STREAM} stream",
    ev.RuleRejected: f"rule decisions belong to the {ev.RULES_STREAM} stream",
}


def check(view: RunState, events: Sequence[ev.Event]) -> None:
    """Refuse the batch (``IllegalTransition``) unless every event is legal after the ones before it.

    The one statement of what a run may record: the run machine must allow
    each run trigger, every other event needs a running run, a phase event
    needs a phase of the current plan whose machine allows its trigger, only
    optional phases are skipped, and a run completes only when every phase is
    finished. Pure: ``view`` is read, never changed.
    """
    phases = view.phases
    run_state = view.status
    # States this batch would reach, layered over the view, so the common
    # one-event batch costs no copy of the phase table. ``plan`` (phase id ->
    # optional) replaces the view's phase list once the batch revises the plan.
    moved: dict[str, str] = {}
    plan: dict[str, bool] | None = None

    def state_of(pid: str) -> str | None:
        state = moved.get(pid)
        if state is not None:
            return state
        p = phases.get(pid)
        if plan is None:
            return p.status if p is not None else None
        if pid not in plan:
            return None
        return p.status if p is not None else "pending"

    for e in events:
        cls = type(e)
        if cls in _NOT_IN_A_RUN:
            raise IllegalTransition(f"run {view.run_id}: {e.type}: {_NOT_IN_A_RUN[cls]}")
        pid = getattr(e, "phase_id", None)
        state = None
        if pid is not None:
            state = moved.get(pid) or state_of(pid)
            if state is None:
                raise IllegalTransition(f"run {view.run_id}: {e.type}: no phase {pid!r} in the plan")
        trig = _RUN_TRIGGERS.get(cls)
        if trig is None:
            if run_state != "running":
                raise IllegalTransition(f"run {view.run_id}: {e.type}: the run is {run_state}, not running")
        else:
            nxt = RUN_TABLE.get((run_state, trig))
            if nxt is None:
                raise IllegalTransition(f"run {view.run_id}: {e.type}: cannot {trig} a run that is {run_state}")
            if trig == "complete":
                ids = phases if plan is None else plan
                open_phases = sorted(p for p in ids if state_of(p) not in PHASE_TERMINAL)
                if open_phases:
                    raise IllegalTransition(
                        f"run {view.run_id}: {e.type}: phases not finished: {', '.join(open_phases)}"
                    )
            run_state = nxt
        if cls in PHASE_EVENT_TYPES:
            ptrig = _PHASE_TRIGGERS.get(cls)
            if ptrig is None:
                pt = phase_trigger(e)
                ptrig = pt[1] if pt is not None else None
            if ptrig is not None:
                # A phase event's phase_id is set: ``state`` is its phase's, found above.
                nxt = PHASE_TABLE.get((state, ptrig))  # type: ignore[arg-type]
                if nxt is None:
                    raise IllegalTransition(f"run {view.run_id}: {e.type}: phase {pid!r} cannot {ptrig} while {state}")
                if ptrig == "skip" and not (plan[pid] if plan is not None else phases[pid].spec.optional):
                    raise IllegalTransition(
                        f"run {view.run_id}: {e.type}: phase {pid!r} is not optional and cannot be skipped"
                    )
                moved[pid] = nxt  # type: ignore[index]
        if cls is ev.PlanRevised:
            # As the fold does: phases that started stay, the pending rest is
            # replaced by the revision's list.
            current = plan if plan is not None else {p: v.spec.optional for p, v in phases.items()}
            revised = {p: opt for p, opt in current.items() if state_of(p) != "pending"}
            for spec in e.phases:  # type: ignore[attr-defined]
                if spec.id not in revised:
                    revised[spec.id] = spec.optional
            plan = revised


class RunModel:
    """The object the run machine moves; ``state`` is its status."""

    state: str


class PhaseModel:
    def __init__(self, phase_id: str) -> None:
        self.phase_id = phase_id

    state: str


class LeanMachine(Machine):
    """A ``Machine`` that binds no convenience methods onto its models.

    ``transitions`` normally sets ``is_<state>``, ``may_<trigger>`` and one
    method per trigger on every model it is given: about fifty bound
    partials per phase, which cost more than the transitions themselves when
    a run has many phases. Autopack fires triggers by name with ``fire``.
    """

    def _add_trigger_to_model(self, trigger: str, model: Any) -> None:
        pass

    def _add_model_to_state(self, state: Any, model: Any) -> None:
        pass

    def fire(self, model: Any, trigger: str) -> str:
        """Run one transition on ``model`` and return its new state."""
        self.events[trigger].trigger(model)
        return model.state


def _machine(states: tuple[str, ...], transitions: tuple[dict[str, Any], ...], initial: str, model: Any) -> LeanMachine:
    return LeanMachine(
        model=model,
        states=list(states),
        transitions=[dict(t) for t in transitions],
        initial=initial,
        auto_transitions=False,
        queued=True,
        send_event=True,
        ignore_invalid_triggers=False,
    )


def run_machine(model: RunModel, initial: str = "created") -> LeanMachine:
    return _machine(RUN_STATES, RUN_TRANSITIONS, initial, model)


def phase_machine() -> LeanMachine:
    """One machine for all phases of a run; add each phase with ``add_model``."""
    return _machine(PHASE_STATES, PHASE_TRANSITIONS, "pending", None)


def mermaid(
    states: tuple[str, ...], transitions: tuple[dict[str, Any], ...], initial: str, terminal: frozenset[str]
) -> str:
    """A mermaid ``stateDiagram-v2`` of a machine definition."""
    lines = ["stateDiagram-v2", f"    [*] --> {initial}"]
    for t in transitions:
        sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
        for s in sources:
            lines.append(f"    {s} --> {t['dest']}: {t['trigger']}")
    for s in states:
        if s in terminal:
            lines.append(f"    {s} --> [*]")
    return "\n".join(lines)


def diagrams_markdown() -> str:
    """The text of ``docs/state-machines.md`` (a test compares the file with this)."""
    trig_doc = (
        "\n".join(f"| `{cls.type}` | run | `{trig}` |" for cls, trig in _RUN_TRIGGERS.items())
        + "\n"
        + "\n".join(f"| `{cls.type}` | phase | `{trig}` |" for cls, trig in _PHASE_TRIGGERS.items())
    )
    return f"""# State machines

Generated from `autopack_core/machines.py` by `python scripts/gen_state_docs.py`;
`tests/test_machines.py` fails when this file and the code disagree.

Every transition is fired by appending exactly one event; an event that the
current state does not allow is refused (`IllegalTransition`) and nothing is
appended. Events not listed below (model calls, refusals, hints, escalations,
checkpoints, budgets) carry data and move no machine.

## Run

```mermaid
{mermaid(RUN_STATES, RUN_TRANSITIONS, "created", RUN_TERMINAL)}
```

## Phase

```mermaid
{mermaid(PHASE_STATES, PHASE_TRANSITIONS, "pending", PHASE_TERMINAL)}
```

## Which event fires which trigger

| event type | machine | trigger |
|---|---|---|
{trig_doc}
| `audit_verdict` | phase | `approve` when verdict is approve, else `reject` |
| `action_taken` | phase | `begin_fix` for execute_fix, else `decide` |
| `step_retried` | phase | `retry_building`, `retry_auditing` or `retry_checking` |
| `rollback_performed` (with `phase_id`) | phase | `rollback` |
"""
