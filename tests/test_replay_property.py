"""Property: folding the log always equals the live state, across crashes and reopenings."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from autopack_core import events as ev
from autopack_core.errors import IllegalTransition
from autopack_core.plan import PhaseSpec
from autopack_core.plugins import load_plugins
from autopack_core.projections import fold_checked, fold_run
from autopack_core.session import RunSession
from autopack_core.store import EventStore

CODEC = load_plugins().codec
RUN = "01PROPERTYRUN"
CATEGORIES = ["transient_provider", "malformed_output", "patch_apply_failure", "test_failure", "audit_rejection"]


def candidates(view) -> list[ev.Event]:
    """Every kind of event for every phase: most are illegal at any moment."""
    out: list[ev.Event] = [
        ev.RunStarted(),
        ev.RunResumed(from_seq=view.seq),
        ev.RunCompleted(),
        ev.RunFailed(reason="r"),
        ev.RunAborted(reason="r"),
        ev.RollbackPerformed(branch="b", commit="c"),
        ev.PlanRevised(
            revision=view.plan_revision + 1,
            reason="r",
            phases=(PhaseSpec(id=f"rev{view.plan_revision + 1}", goal="g", optional=True),),
        ),
        ev.BudgetExhausted(scope="run", budget="cost", used=2.0, limit=1.0),
        ev.ModelEscalated(role="builder", from_model="cheap", to_model="strong"),
    ]
    for pid in view.phases:
        out += [
            ev.PhaseStarted(phase_id=pid),
            ev.ModelCallAnswered(
                call_id="c",
                role="builder",
                provider="p",
                model="m",
                text="t",
                input_tokens=10,
                output_tokens=3,
                cost_usd=0.25,
                phase_id=pid,
            ),
            ev.ModelCallFailed(
                call_id="c",
                role="builder",
                provider="p",
                model="m",
                category="transient_provider",
                message="503",
                status=503,
                phase_id=pid,
            ),
            ev.PatchProposed(phase_id=pid, text="diff"),
            ev.PatchRefused(phase_id=pid, reasons=(ev.Refusal(path="../x", rule="outside_workspace", message="m"),)),
            ev.PatchApplied(phase_id=pid, files=("a.py",)),
            ev.AuditVerdict(phase_id=pid, verdict="approve"),
            ev.AuditVerdict(phase_id=pid, verdict="reject", issues=("i",)),
            ev.CheckResult(phase_id=pid, check="pytest", passed=True),
            ev.CheckResult(phase_id=pid, check="pytest", passed=False),
            ev.PhaseCompleted(phase_id=pid),
            ev.DoctorInvoked(phase_id=pid, model="cheap"),
            ev.DoctorDiagnosed(phase_id=pid, action="retry_with_fix", confidence=0.5),
            ev.ActionTaken(phase_id=pid, action="retry_with_fix"),
            ev.ActionTaken(phase_id=pid, action="execute_fix"),
            ev.FixExecuted(phase_id=pid, fix_type="git", command="git status", exit_code=0),
            ev.FixRefused(phase_id=pid, fix_type="git", command="sudo x", reason="admin", requires_manual=True),
            ev.HintRecorded(phase_id=pid, category="c", hint="h"),
            ev.StepRetried(phase_id=pid, step="building"),
            ev.StepRetried(phase_id=pid, step="checking"),
            ev.PhaseFailed(phase_id=pid, reason="r"),
            ev.PhaseSkipped(phase_id=pid, reason="r"),
            ev.PhaseMarkedFatal(phase_id=pid, reason="r"),
            ev.RollbackPerformed(branch="b", commit="c", phase_id=pid),
            ev.CheckpointCreated(commit="c", label="l", phase_id=pid),
        ]
        out += [ev.ErrorClassified(phase_id=pid, category=c, signature=c, message="m") for c in CATEGORIES]
    return out


def split(session: RunSession) -> tuple[list[ev.Event], list[ev.Event]]:
    legal, illegal = [], []
    for e in candidates(session.view):
        try:
            session._check([e])
        except IllegalTransition:
            illegal.append(e)
        else:
            legal.append(e)
    return legal, illegal


class LogMatchesLiveState(RuleBasedStateMachine):
    @initialize(n_phases=st.integers(1, 4), optional=st.lists(st.booleans(), min_size=4, max_size=4))
    def start(self, n_phases, optional):
        self.dir = Path(tempfile.mkdtemp(prefix="autopack-prop-"))
        self.db = self.dir / "e.db"
        self.store = EventStore(self.db, CODEC)
        phases = tuple(PhaseSpec(id=f"p{i}", goal="g", optional=optional[i]) for i in range(n_phases))
        self.session = RunSession.create(self.store, RUN, ev.RunCreated(goal="g", phases=phases))
        self.crashes = 0

    @rule(data=st.data())
    def record_legal(self, data):
        legal, _ = split(self.session)
        if not legal:
            return
        event = data.draw(st.sampled_from(legal))
        self.session.record(event)

    @rule(data=st.data())
    def record_legal_batch(self, data):
        events = []
        for _ in range(data.draw(st.integers(2, 4))):
            legal, _ = split(self.session)
            if not legal:
                break
            event = data.draw(st.sampled_from(legal))
            try:
                self.session._check(events + [event])
            except IllegalTransition:
                break
            events.append(event)
        if events:
            self.session.record(*events)

    @rule(data=st.data())
    def illegal_is_refused_and_appends_nothing(self, data):
        _, illegal = split(self.session)
        event = data.draw(st.sampled_from(illegal))
        head = self.store.head(RUN)
        try:
            self.session.record(event)
        except IllegalTransition:
            pass
        else:
            raise AssertionError(f"{event!r} was accepted")
        assert self.store.head(RUN) == head

    @precondition(lambda self: self.crashes < 3)
    @rule(leave_open_transaction=st.booleans())
    def crash_and_reopen(self, leave_open_transaction):
        live = self.session.view
        if leave_open_transaction:
            # A writer killed mid-transaction: its rows never commit.
            conn = sqlite3.connect(self.db)
            conn.execute("BEGIN IMMEDIATE")
            seq, h = self.store.head(RUN)
            conn.execute("INSERT INTO events VALUES (?, ?, 'ts', 'hint_recorded', '{}', 'h')", (RUN, seq + 1))
            conn.close()
        # Abandon the old objects without closing them, as a crash would.
        self.store = EventStore(self.db, CODEC)
        self.session = RunSession.open(self.store, RUN)
        assert self.session.view == live
        self.crashes += 1

    @invariant()
    def fold_equals_live(self):
        if hasattr(self, "session"):
            assert fold_run(self.store.iter_events(RUN)) == self.session.view
            # Every log a live run writes keeps the run's rules, event by event.
            assert fold_checked(self.store.iter_events(RUN)) == self.session.view

    def teardown(self):
        if hasattr(self, "store"):
            self.store.close()
            shutil.rmtree(self.dir, ignore_errors=True)


LogMatchesLiveState.TestCase.settings = settings(max_examples=40, stateful_step_count=40, deadline=None)
test_log_matches_live_state = LogMatchesLiveState.TestCase
