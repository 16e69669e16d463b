"""A live run: its state machines, bound to the event store.

``RunSession.record`` is the only way the executor changes a run. It checks
that each event is a legal transition (and refuses it, appending nothing, if
not), appends durably at the expected sequence number, then moves the
``transitions`` machines and folds the event into the run's view with the same
``RunView.apply`` that replay uses.
"""

from __future__ import annotations

from typing import Sequence

from autopack_core import events as ev
from autopack_core.errors import IllegalTransition, RunNotFound
from autopack_core.machines import (
    PHASE_ACTIVE,
    PHASE_TABLE,
    PHASE_TERMINAL,
    RUN_TABLE,
    PhaseModel,
    RunModel,
    phase_machine,
    phase_trigger,
    run_machine,
    run_trigger,
)
from autopack_core.plan import Plan
from autopack_core.projections import RunView, fold_run
from autopack_core.store import Envelope, EventStore



class RunSession:
    def __init__(self, store: EventStore, view: RunView) -> None:
        self.store = store
        self.view = view
        self.run_model = RunModel()
        self.run_machine = run_machine(self.run_model, initial=view.status)
        self.phase_machine = phase_machine()
        self.phase_models: dict[str, PhaseModel] = {}
        for pid, phase in view.phases.items():
            self._add_phase(pid, phase.status)

    @property
    def run_id(self) -> str:
        return self.view.run_id

    @classmethod
    def create(cls, store: EventStore, run_id: str, created: ev.RunCreated) -> "RunSession":
        """Start a new run's log with its ``RunCreated`` event."""
        envs = store.append(run_id, [created], expected_seq=0)
        view = RunView(run_id)
        view.apply(envs[0])
        return cls(store, view)

    @classmethod
    def start_new(
        cls,
        store: EventStore,
        plan: Plan,
        *,
        plugins: Sequence[tuple[str, str, str]] = (),
        workspace: str = "",
        config_digest: str = "",
        run_id: str | None = None,
    ) -> "RunSession":
        """Create a run with a new sortable id; its first event records the
        plugins (name, distribution, version) and the Autopack it ran with."""
        from ulid import ULID

        from autopack_core import __version__

        created = ev.RunCreated(
            goal=plan.goal,
            phases=plan.phases,
            workspace=workspace,
            config_digest=config_digest,
            plugins=tuple(ev.PluginVersion(name=n, distribution=d, version=v) for n, d, v in plugins),
            autopack_version=__version__,
        )
        return cls.create(store, run_id or str(ULID()), created)

    @classmethod
    def open(cls, store: EventStore, run_id: str) -> "RunSession":
        """Rebuild a run from its log (after a crash, or to continue it)."""
        view = fold_run(store.iter_events(run_id), run_id)
        if view.seq == 0:
            raise RunNotFound(f"no run {run_id!r} in {store.path}")
        return cls(store, view)

    def _add_phase(self, pid: str, state: str) -> None:
        model = PhaseModel(pid)
        self.phase_machine.add_model(model, initial=state)
        self.phase_models[pid] = model

    # -- checking ------------------------------------------------------------

    def _check(self, events: Sequence[ev.Event]) -> None:
        """Refuse the batch unless every event is legal after the ones before it."""
        phases = self.view.phases
        run_state = self.view.status
        # States this batch would reach, layered over the view: the common
        # one-event append then costs no copy of the phase table.
        moved: dict[str, str] = {}
        added: dict[str, bool] = {}
        removed: set[str] = set()

        def state_of(pid: str) -> str | None:
            if pid in moved:
                return moved[pid]
            if pid in removed:
                return None
            if pid in added:
                return "pending"
            p = phases.get(pid)
            return p.status if p is not None else None

        for e in events:
            where = f"run {self.run_id}: {e.type}"
            if isinstance(e, (ev.RunCreated, ev.RuleApproved, ev.RuleRejected)):
                raise IllegalTransition(
                    f"{where}: the run already exists" if isinstance(e, ev.RunCreated)
                    else f"{where}: rule decisions belong to the {ev.RULES_STREAM} stream"
                )
            pid = getattr(e, "phase_id", None)
            if pid is not None and state_of(pid) is None:
                raise IllegalTransition(f"{where}: no phase {pid!r} in the plan")
            trig = run_trigger(e)
            if trig is None:
                if run_state != "running":
                    raise IllegalTransition(f"{where}: the run is {run_state}, not running")
            else:
                nxt = RUN_TABLE.get((run_state, trig))
                if nxt is None:
                    raise IllegalTransition(f"{where}: cannot {trig} a run that is {run_state}")
                if trig == "complete":
                    ids = (set(phases) | set(added)) - removed
                    open_phases = sorted(p for p in ids if state_of(p) not in PHASE_TERMINAL)
                    if open_phases:
                        raise IllegalTransition(f"{where}: phases not finished: {', '.join(open_phases)}")
                run_state = nxt
            pt = phase_trigger(e)
            if pt is not None:
                pid, ptrig = pt
                state = state_of(pid)
                nxt = PHASE_TABLE.get((state, ptrig))  # type: ignore[arg-type]
                if nxt is None:
                    raise IllegalTransition(f"{where}: phase {pid!r} cannot {ptrig} while {state}")
                if ptrig == "skip" and not (added[pid] if pid in added else phases[pid].spec.optional):
                    raise IllegalTransition(f"{where}: phase {pid!r} is not optional and cannot be skipped")
                moved[pid] = nxt
            if isinstance(e, ev.PlanRevised):
                new_ids = {spec.id for spec in e.phases}
                for p in (set(phases) | set(added)) - removed:
                    if state_of(p) == "pending" and p not in new_ids:
                        removed.add(p)
                        moved.pop(p, None)
                for spec in e.phases:
                    if state_of(spec.id) in (None, "pending"):
                        removed.discard(spec.id)
                        added[spec.id] = spec.optional

    # -- recording -----------------------------------------------------------

    def record(self, *events: ev.Event) -> list[Envelope]:
        """Append ``events`` (one durable transaction) and apply them."""
        self._check(events)
        envs = self.store.append(self.run_id, events, expected_seq=self.view.seq)
        for env in envs:
            self.view.apply(env, self._fire)
            if isinstance(env.event, ev.PlanRevised):
                self._sync_phase_models()
        return envs

    def _fire(self, scope: str, phase_id: str, state: str, trigger: str) -> str:
        if scope == "run":
            return self.run_machine.fire(self.run_model, trigger)
        return self.phase_machine.fire(self.phase_models[phase_id], trigger)

    def _sync_phase_models(self) -> None:
        for pid in list(self.phase_models):
            if pid not in self.view.phases:
                self.phase_machine.remove_model(self.phase_models.pop(pid))
        for pid, phase in self.view.phases.items():
            if pid not in self.phase_models:
                self._add_phase(pid, phase.status)

    # -- queries -------------------------------------------------------------

    def active_phase(self) -> str | None:
        for pid, p in self.view.phases.items():
            if p.status in PHASE_ACTIVE:
                return pid
        return None

    def next_pending_phase(self) -> str | None:
        for pid, p in self.view.phases.items():
            if p.status == "pending":
                return pid
        return None
