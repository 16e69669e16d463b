"""A live run: its state machines, bound to the event store.

``RunSession.record`` is the only way the executor changes a run. It checks
the batch with ``machines.check`` (and refuses it, appending nothing, if any
event is not a legal transition), appends durably at the expected sequence
number, then folds each event into the run's view with the same
``RunView.apply`` that replay uses. States move by the transition tables
compiled from the ``transitions`` machine definitions; a test checks the
tables against the machines for every state and trigger, so once ``check``
has passed a batch no machine could refuse it.
"""

from __future__ import annotations

from typing import Sequence

from autopack_core import events as ev
from autopack_core.errors import RunNotFound
from autopack_core.machines import PHASE_ACTIVE, check
from autopack_core.plan import Plan
from autopack_core.projections import RunView, fold_run
from autopack_core.store import Envelope, EventStore


class RunSession:
    def __init__(self, store: EventStore, view: RunView) -> None:
        self.store = store
        self.view = view

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

    # -- checking ------------------------------------------------------------

    def _check(self, events: Sequence[ev.Event]) -> None:
        """Refuse the batch unless every event is legal after the ones before it."""
        check(self.view, events)

    # -- recording -----------------------------------------------------------

    def record(self, *events: ev.Event) -> list[Envelope]:
        """Append ``events`` (one durable transaction) and apply them."""
        check(self.view, events)
        envs = self.store.append(self.run_id, events, expected_seq=self.view.seq)
        apply = self.view.apply
        for env in envs:
            apply(env)
        return envs

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
