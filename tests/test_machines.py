"""Run and phase state machines: legal paths, refusals that append nothing, docs."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from transitions import MachineError

from autopack_core import events as ev
from autopack_core.errors import IllegalTransition
from autopack_core.machines import (
    PHASE_STATES,
    PHASE_TABLE,
    PHASE_TRANSITIONS,
    RUN_STATES,
    RUN_TABLE,
    RUN_TRANSITIONS,
    PhaseModel,
    RunModel,
    diagrams_markdown,
    phase_machine,
    run_machine,
)
from autopack_core.plan import PhaseSpec
from autopack_core.projections import fold_run
from autopack_core.scenarios import run_events
from autopack_core.session import RunSession

DOCS = Path(__file__).resolve().parent.parent / "docs" / "state-machines.md"


def test_docs_diagrams_match_the_code():
    assert DOCS.read_text() == diagrams_markdown(), "run: python scripts/gen_state_docs.py"


def _triggers(transitions):
    return sorted({t["trigger"] for t in transitions})


@pytest.mark.parametrize("state", RUN_STATES)
@pytest.mark.parametrize("trigger", _triggers(RUN_TRANSITIONS))
def test_run_machine_and_table_agree(state, trigger):
    model = RunModel()
    machine = run_machine(model, initial=state)
    expected = RUN_TABLE.get((state, trigger))
    if expected is None:
        with pytest.raises(MachineError):
            machine.fire(model, trigger)
        assert model.state == state
    else:
        assert machine.fire(model, trigger) == expected


@pytest.mark.parametrize("state", PHASE_STATES)
@pytest.mark.parametrize("trigger", _triggers(PHASE_TRANSITIONS))
def test_phase_machine_and_table_agree(state, trigger):
    machine = phase_machine()
    model = PhaseModel("p")
    machine.add_model(model, initial=state)
    expected = PHASE_TABLE.get((state, trigger))
    if expected is None:
        with pytest.raises(MachineError):
            machine.fire(model, trigger)
        assert model.state == state
    else:
        assert machine.fire(model, trigger) == expected


def test_no_auto_transitions():
    machine = phase_machine()
    assert not any(name.startswith("to_") for name in machine.events)
    assert machine.has_queue


@pytest.mark.parametrize("seed", range(8))
def test_scripted_runs_are_legal_and_fold_to_the_live_state(store, seed):
    events = list(run_events(random.Random(seed)))
    session = RunSession.create(store, f"run-{seed}", events[0])
    for e in events[1:]:
        session.record(e)
    assert fold_run(store.iter_events(f"run-{seed}")) == session.view
    assert session.view.status in {"completed", "failed"}


def _new_run(store, *phases, run_id="r"):
    specs = phases or (PhaseSpec(id="a", goal="A"), PhaseSpec(id="b", goal="B", optional=True))
    session = RunSession.create(store, run_id, ev.RunCreated(goal="g", phases=specs))
    session.record(ev.RunStarted())
    return session


def _assert_refused(session, store, *events, match):
    before = store.head(session.run_id)
    view_before = fold_run(store.iter_events(session.run_id))
    with pytest.raises(IllegalTransition, match=match):
        session.record(*events)
    assert store.head(session.run_id) == before
    assert session.view == view_before


def test_illegal_transitions_append_nothing(store):
    s = _new_run(store)
    _assert_refused(s, store, ev.PhaseCompleted(phase_id="a"), match="cannot complete while pending")
    _assert_refused(s, store, ev.PhaseStarted(phase_id="zzz"), match="no phase 'zzz'")
    _assert_refused(s, store, ev.RunCompleted(), match="phases not finished: a, b")
    _assert_refused(s, store, ev.RunStarted(), match="cannot start a run that is running")
    _assert_refused(s, store, ev.RunCreated(goal="x", phases=()), match="already exists")
    _assert_refused(s, store, ev.RuleApproved(rule_id="x"), match="_rules")
    s.record(ev.PhaseStarted(phase_id="a"))
    _assert_refused(s, store, ev.PatchApplied(phase_id="a", files=()), match="cannot applied while building")
    # A batch is all or nothing: the legal first event is not appended either.
    _assert_refused(
        s,
        store,
        ev.PatchProposed(phase_id="a", text="d"),
        ev.PhaseCompleted(phase_id="a"),
        match="cannot complete while applying",
    )
    s.record(ev.ErrorClassified(phase_id="a", category="malformed_output", signature="s", message="m"))
    _assert_refused(s, store, ev.PhaseSkipped(phase_id="a", reason="r"), match="not optional")
    s.record(ev.PhaseMarkedFatal(phase_id="a", reason="broken"))
    s.record(ev.RunFailed(reason="fatal"))
    _assert_refused(s, store, ev.PhaseStarted(phase_id="b"), match="run is failed, not running")
    _assert_refused(s, store, ev.HintRecorded(phase_id="b", category="c", hint="h"), match="not running")


def test_data_events_need_a_running_run(store):
    session = RunSession.create(store, "r", ev.RunCreated(goal="g", phases=(PhaseSpec(id="a", goal="A"),)))
    _assert_refused(session, store, ev.PhaseStarted(phase_id="a"), match="run is created")
    session.record(ev.RunAborted(reason="user"))
    assert session.view.status == "aborted"


def test_plan_revision_replaces_pending_phases(store):
    s = _new_run(store, PhaseSpec(id="a", goal="A"), PhaseSpec(id="b", goal="B"), PhaseSpec(id="c", goal="C"))
    s.record(ev.PhaseStarted(phase_id="a"))
    s.record(ev.ErrorClassified(phase_id="a", category="test_failure", signature="x", message="m"))
    s.record(
        ev.PlanRevised(
            revision=1, reason="approach flawed", phases=(PhaseSpec(id="a", goal="A2"), PhaseSpec(id="b2", goal="B2"))
        )
    )
    assert list(s.view.phases) == ["a", "b2"]
    assert s.view.phases["a"].status == "diagnosing"
    s.record(ev.StepRetried(phase_id="a", step="building"))
    assert s.view.phases["a"].attempts == 2
    _assert_refused(s, store, ev.PhaseStarted(phase_id="b"), match="no phase 'b'")
    s.record(ev.PhaseStarted(phase_id="b2"))
    assert fold_run(store.iter_events("r")) == s.view


def test_execute_fix_path_and_phase_rollback(store):
    s = _new_run(store)
    s.record(ev.PhaseStarted(phase_id="a"), ev.PatchProposed(phase_id="a", text="d"))
    s.record(ev.ErrorClassified(phase_id="a", category="infrastructure", signature="x", message="merge conflict"))
    s.record(ev.DoctorInvoked(phase_id="a", model="cheap"))
    s.record(
        ev.DoctorDiagnosed(
            phase_id="a", action="execute_fix", confidence=0.9, fix_type="git", fix_commands=("git checkout -- a.py",)
        )
    )
    s.record(ev.ActionTaken(phase_id="a", action="execute_fix"))
    assert s.view.phases["a"].status == "fixing"
    s.record(ev.FixExecuted(phase_id="a", fix_type="git", command="git checkout -- a.py", exit_code=0))
    s.record(ev.StepRetried(phase_id="a", step="checking"))
    assert s.view.phases["a"].status == "checking"
    s.record(ev.ErrorClassified(phase_id="a", category="test_failure", signature="y", message="m"))
    s.record(ev.ActionTaken(phase_id="a", action="rollback_run"))
    s.record(ev.RollbackPerformed(branch="autopack/pre-run-r", commit="c" * 40, reason="doctor", phase_id="a"))
    assert (s.view.status, s.view.phases["a"].status) == ("rolled_back", "rolled_back")
    assert s.view.doctor_calls == 1 and s.view.phases["a"].execute_fixes == 1
    assert fold_run(store.iter_events("r")) == s.view


def test_reopen_continues_from_the_log(store):
    s = _new_run(store)
    s.record(ev.PhaseStarted(phase_id="a"))
    again = RunSession.open(store, "r")
    assert again.view == s.view
    again.record(ev.PatchProposed(phase_id="a", text="d"))
    assert again.view.phases["a"].status == "applying"
    # The first session is now stale: its append is a conflict, not a fork.
    from autopack_core.errors import ConcurrencyError

    with pytest.raises(ConcurrencyError):
        s.record(ev.PatchProposed(phase_id="a", text="d"))


def test_a_new_run_records_its_plugins_and_gets_a_sortable_id(store, plugin_set):
    from autopack_core import __version__
    from autopack_core.plan import Plan

    plan = Plan(goal="g", phases=(PhaseSpec(id="a", goal="A"),))
    first = RunSession.start_new(store, plan, plugins=plugin_set.versions(), workspace="/w", config_digest="d")
    second = RunSession.start_new(store, plan, plugins=plugin_set.versions())
    assert len(first.run_id) == 26 and first.run_id <= second.run_id
    created = store.first_event(first.run_id).event
    assert created.autopack_version == __version__
    assert {(p.name, p.distribution) for p in created.plugins} >= {
        ("quality_checks", "autopack"),
        ("health_checks", "autopack"),
    }
    assert created.workspace == "/w" and created.config_digest == "d"
