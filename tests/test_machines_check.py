"""``machines.check`` is the one statement of legality; the ``transitions`` machines never disagree with it."""

from __future__ import annotations

import copy
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_replay_property import candidates

from autopack_core import events as ev
from autopack_core.errors import IllegalTransition
from autopack_core.machines import PhaseModel, RunModel, check, phase_machine, phase_trigger, run_machine, run_trigger
from autopack_core.plan import PhaseSpec
from autopack_core.projections import RunView
from autopack_core.session import RunSession
from autopack_core.store import Envelope


def _view(*phases: PhaseSpec, started: bool = True) -> RunView:
    view = RunView("r")
    view.apply(Envelope("r", 1, "t", ev.RunCreated(goal="g", phases=phases), "h"))
    if started:
        view.apply(Envelope("r", 2, "t", ev.RunStarted(), "h"))
    return view


class Machines:
    """Real ``transitions`` machines kept in step with a run, as the session used to."""

    def __init__(self, view: RunView) -> None:
        self.run = RunModel()
        self.run_machine = run_machine(self.run, initial=view.status)
        self.phase_machine = phase_machine()
        self.phases: dict[str, PhaseModel] = {}
        self.sync(view)

    def sync(self, view: RunView) -> None:
        for pid in list(self.phases):
            if pid not in view.phases:
                self.phase_machine.remove_model(self.phases.pop(pid))
        for pid, p in view.phases.items():
            if pid not in self.phases:
                self.phases[pid] = PhaseModel(pid)
                self.phase_machine.add_model(self.phases[pid], initial=p.status)

    def fire(self, e: ev.Event) -> None:
        trig = run_trigger(e)
        if trig is not None:
            self.run_machine.fire(self.run, trig)
        pt = phase_trigger(e)
        if pt is not None:
            self.phase_machine.fire(self.phases[pt[0]], pt[1])


_RUN_IDS = itertools.count()


# One store for all examples: each example records a run of its own.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_phases=st.integers(1, 3), optional=st.booleans(), data=st.data())
def test_whatever_check_accepts_the_machines_accept_and_they_end_in_the_views_states(store, n_phases, optional, data):
    run_id = f"r{next(_RUN_IDS)}"
    phases = tuple(PhaseSpec(id=f"p{i}", goal="g", optional=optional and i % 2 == 0) for i in range(n_phases))
    session = RunSession.create(store, run_id, ev.RunCreated(goal="g", phases=phases))
    machines = Machines(session.view)
    for _ in range(data.draw(st.integers(1, 40))):
        legal = []
        for e in candidates(session.view):
            before = copy.deepcopy(session.view)
            try:
                check(session.view, [e])
            except IllegalTransition:
                pass
            else:
                legal.append(e)
            assert session.view == before, "check must not change the view"
        if not legal:
            break
        event = data.draw(st.sampled_from(legal))
        machines.fire(event)  # raises MachineError if a machine refuses what check allowed
        session.record(event)
        machines.sync(session.view)
        assert machines.run.state == session.view.status
        assert {pid: m.state for pid, m in machines.phases.items()} == {
            pid: p.status for pid, p in session.view.phases.items()
        }


def test_check_refuses_with_the_reason():
    view = _view(PhaseSpec(id="a", goal="A"), PhaseSpec(id="b", goal="B", optional=True))
    cases = [
        ([ev.PhaseCompleted(phase_id="a")], "phase 'a' cannot complete while pending"),
        ([ev.PhaseStarted(phase_id="zzz")], "no phase 'zzz' in the plan"),
        ([ev.RunCompleted()], "phases not finished: a, b"),
        ([ev.RunStarted()], "cannot start a run that is running"),
        ([ev.RunCreated(goal="x", phases=())], "the run already exists"),
        ([ev.RuleRejected(rule_id="x")], "belong to the _rules stream"),
        ([ev.PhaseStarted(phase_id="a"), ev.PhaseSkipped(phase_id="a", reason="r")], "cannot skip while building"),
        ([ev.PhaseSkipped(phase_id="a", reason="r")], "'a' is not optional"),
        (
            [ev.RunAborted(reason="r"), ev.HintRecorded(phase_id="a", category="c", hint="h")],
            "the run is aborted, not running",
        ),
    ]
    for events, message in cases:
        with pytest.raises(IllegalTransition, match=message):
            check(view, events)
    check(view, [ev.PhaseSkipped(phase_id="b", reason="r"), ev.PhaseStarted(phase_id="a")])
    assert view.phases["b"].status == "pending"


def test_check_follows_a_plan_revision_inside_the_batch():
    view = _view(PhaseSpec(id="a", goal="A"), PhaseSpec(id="b", goal="B"))
    revise = ev.PlanRevised(revision=1, reason="r", phases=(PhaseSpec(id="c", goal="C", optional=True),))
    # Pending phases not in the revision are gone; new ones exist, with their own optional flag.
    with pytest.raises(IllegalTransition, match="no phase 'a'"):
        check(view, [revise, ev.PhaseStarted(phase_id="a")])
    check(view, [revise, ev.PhaseSkipped(phase_id="c", reason="r"), ev.RunCompleted()])
    # A phase that started is kept by a revision that leaves it out, and still blocks completion.
    with pytest.raises(IllegalTransition, match="phases not finished: a$"):
        check(
            view, [ev.PhaseStarted(phase_id="a"), revise, ev.PhaseSkipped(phase_id="c", reason="r"), ev.RunCompleted()]
        )
    # A started phase keeps its old spec: not optional, even if the revision lists it as optional.
    again = ev.PlanRevised(revision=1, reason="r", phases=(PhaseSpec(id="a", goal="A", optional=True),))
    with pytest.raises(IllegalTransition, match="'a' is not optional"):
        check(
            view,
            [
                ev.PhaseStarted(phase_id="a"),
                again,
                ev.ErrorClassified(phase_id="a", category="c", signature="s", message="m"),
                ev.PhaseSkipped(phase_id="a", reason="r"),
            ],
        )
    # A pending phase re-listed as optional takes the new spec.
    check(view, [again, ev.PhaseSkipped(phase_id="a", reason="r")])


def test_the_session_has_no_rules_of_its_own(store):
    # RunSession._check is machines.check: the same refusals, word for word.
    session = RunSession.create(store, "r", ev.RunCreated(goal="g", phases=(PhaseSpec(id="a", goal="A"),)))
    for event in candidates(session.view):
        try:
            check(session.view, [event])
        except IllegalTransition as exc:
            with pytest.raises(IllegalTransition) as info:
                session.record(event)
            assert str(info.value) == str(exc)
        else:
            session._check([event])


@pytest.mark.parametrize("seed", range(6))
def test_the_folds_table_steps_equal_its_general_path(seed):
    # RunView.apply has a path made per event class for the tables, and the
    # general path any other transition function takes: they must agree.
    import random

    from autopack_core.projections import table_transition
    from autopack_core.scenarios import run_events

    fast, general = RunView("r"), RunView("r")
    moves = []

    def traced(scope, pid, state, trigger):
        moves.append((scope, pid, state, trigger))
        return table_transition(scope, pid, state, trigger)

    for seq, e in enumerate(run_events(random.Random(seed)), start=1):
        env = Envelope("r", seq, f"t{seq}", e, "h")
        fast.apply(env)
        general.apply(env, traced)
        assert fast == general
    assert moves and fast.status in {"completed", "failed"}
