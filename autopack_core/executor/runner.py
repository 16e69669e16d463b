"""Starting and resuming runs: everything between the command line and ``Executor.drive``.

Order at start (nothing is written to the workspace before step 4):

1. the plan and the config are loaded strictly (``file:line`` errors, exit 2);
   every check the plan names must be installed, and the three roles;
2. the T0 health checks run (a failure is exit 2, nothing written);
3. the workspace must have a commit and no uncommitted changes: a dirty
   workspace is refused with the files named (exit 2), never changed;
4. ``.autopack/`` is excluded through ``.git/info/exclude``, the store opened
   (default ``.autopack/autopack.db`` in the workspace), the run created, the
   pre-run branch made, and the phase loop driven to the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import structlog

from autopack_core import events as ev
from autopack_core.config import AutopackConfig
from autopack_core.config_load import default_config_path, load_config
from autopack_core.errors import EXIT_BAD_INPUT, EXIT_FAILED, AutopackError, PlanError
from autopack_core.executor.attempt import Cursor
from autopack_core.executor.crashpoints import event_counter_observer
from autopack_core.executor.loop import Executor
from autopack_core.executor.progress import Progress
from autopack_core.modelcall import ModelCaller
from autopack_core.plan import Plan
from autopack_core.router import QuotaTracker
from autopack_core.session import RunSession
from autopack_core.store import Envelope, EventStore

log = structlog.get_logger("autopack.executor")

STATE_FOLDER = ".autopack"
REQUIRED_ROLES = ("builder", "auditor", "doctor")
EXIT_ABORTED = 130


class WorkspaceRefused(AutopackError):
    """The workspace cannot be used as it is (dirty, no commit, health check failed)."""

    exit_code = EXIT_BAD_INPUT


def default_db(workspace: Path) -> Path:
    return workspace / STATE_FOLDER / "autopack.db"


def config_digest(config: AutopackConfig) -> str:
    src = Path(config.source)
    data = src.read_bytes() if src.is_file() else b"<built-in defaults>"
    return hashlib.sha256(data).hexdigest()[:16]


def check_plan(plan: Plan, plugins: Any, source: str) -> None:
    checks = plugins.registry("quality_checks")
    for i, phase in enumerate(plan.phases):
        for j, check in enumerate(phase.checks):
            if check.name not in checks:
                known = ", ".join(sorted(checks)) or "none"
                raise PlanError(
                    f"{source}: phases[{i}].checks[{j}]: no quality check {check.name!r} is installed "
                    f"(installed: {known})"
                )
    roles = plugins.registry("roles")
    missing = [r for r in REQUIRED_ROLES if r not in roles]
    if missing:
        raise AutopackError(f"no {', '.join(missing)} role installed (a plugin registering roles is missing)")


async def health_t0(plugins: Any, workspace: Path, db: Path, config: AutopackConfig) -> list[str]:
    from autopack_core.contracts import HealthContext

    ctx = HealthContext(workspace=workspace, db_path=db, required_env=config.required_env())
    failures = []
    for name, reg in sorted(plugins.registry("health_checks").items()):
        if getattr(reg.obj, "tier", "t0") != "t0":
            continue
        try:
            outcome = await reg.obj.run(ctx)
        except Exception as exc:  # noqa: BLE001 - a plugin's crash is a failed check, named
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        if not outcome.ok:
            failures.append(f"{name}: {outcome.detail}")
    return failures


def open_workspace(path: Path) -> Any:
    from autopack_core.gitops import GitWorkspace

    return GitWorkspace(path)


def open_store(db: Path, plugins: Any, *, create: bool) -> EventStore:
    observers = [lambda envs: plugins.hook.event_appended(envelopes=envs)]
    crash = event_counter_observer()
    if crash is not None:
        observers.append(crash)
    return EventStore(db, plugins.codec, observers=observers, create=create)


def _roles(plugins: Any) -> dict[str, Any]:
    return {name: reg.obj for name, reg in plugins.registry("roles").items()}


def _checks(plugins: Any) -> dict[str, Any]:
    return {name: reg.obj for name, reg in plugins.registry("quality_checks").items()}


@contextlib.contextmanager
def _check_env() -> Iterator[None]:
    """Checks run in the workspace: keep their caches (bytecode, pytest's) out of the checkpoint
    commits. The check plugins pass on this process's environment; it is restored after the run."""
    saved = {k: os.environ.get(k) for k in ("PYTHONDONTWRITEBYTECODE", "PYTEST_ADDOPTS")}
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    addopts = os.environ.get("PYTEST_ADDOPTS", "")
    if "cacheprovider" not in addopts:
        os.environ["PYTEST_ADDOPTS"] = (addopts + " -p no:cacheprovider").strip()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _setup_frozen() -> Iterator[None]:
    """The objects made before the phase loop (modules, plugins, config, plan, the folded log) live
    as long as the run: kept out of the cyclic collector's full passes while it runs, so that each
    pass looks only at what the loop made (one full pass over them cost ~45 ms per 200 phases).
    A process that froze objects itself keeps its own policy: nothing is frozen or unfrozen then."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def _drive(
    *,
    session: RunSession,
    store: EventStore,
    workspace: Any,
    config: AutopackConfig,
    plugins: Any,
    progress: Progress,
    resumed: bool,
    prior: Sequence[Envelope] = (),
) -> int:
    cursor = Cursor()
    for env in prior:
        cursor.apply(env)
    quotas = QuotaTracker(config)
    quotas.observe(env.event for env in prior)
    with _check_env():
        return await _drive_with(session, cursor, quotas, workspace, config, plugins, progress, resumed)


async def _drive_with(
    session: RunSession,
    cursor: Cursor,
    quotas: QuotaTracker,
    workspace: Any,
    config: AutopackConfig,
    plugins: Any,
    progress: Progress,
    resumed: bool,
) -> int:
    async with ModelCaller(config, plugins.registry("providers"), quotas=quotas) as caller:
        x = Executor(
            session=session,
            cursor=cursor,
            workspace=workspace,
            config=config,
            roles=_roles(plugins),
            checks=_checks(plugins),
            caller=caller,
            resumed=resumed,
            observer=progress.update,
        )
        x.fix_types = {name: reg.obj for name, reg in plugins.registry("fix_types").items()}
        record = x.record
        caller.record = lambda evs: record(*evs)
        try:
            if resumed:
                from autopack_core.executor.resume import reconcile

                if session.view.status in ("running", "aborted"):
                    record(ev.RunResumed(from_seq=session.view.seq, reason="continued from the log"))
                reconcile(x)
            with _setup_frozen():
                status = await x.drive()
        except asyncio.CancelledError:
            _abort(session, record, "interrupted (Ctrl-C); continue with autopack resume")
            progress.close(session.view)
            return EXIT_ABORTED
        except BaseException:
            progress.close(session.view)
            raise
    progress.close(session.view)
    return 0 if status == "completed" else EXIT_FAILED


def _abort(session: RunSession, record: Any, reason: str) -> None:
    """Record ``run_aborted`` if the log can take it; the run stays resumable either way."""
    if session.view.status not in ("created", "running"):
        return
    try:
        record(ev.RunAborted(reason=reason))
    except Exception as exc:  # noqa: BLE001 - the store may be the reason we stopped; resume works without it
        log.warning("run_aborted_not_recorded", run=session.run_id, error=str(exc))


async def start_run(
    *,
    plugins: Any,
    plan_path: Path,
    workspace: Path,
    config_path: Path | None,
    db: Path | None,
    progress_factory: Any,
) -> tuple[int, str, Path]:
    """Run a plan from the start; returns (exit code, run id, db path)."""
    from autopack_core.planfile import load_plan

    workspace = workspace.resolve()
    plan = load_plan(plan_path)
    config = load_config(config_path, workspace=workspace)
    check_plan(plan, plugins, str(plan_path))
    db = (db or default_db(workspace)).resolve()
    failures = await health_t0(plugins, workspace, db, config)
    if failures:
        raise WorkspaceRefused("T0 health checks failed, nothing was written: " + "; ".join(failures))
    ws = open_workspace(workspace)
    ws.start_point()  # refuses an unborn branch and a detached HEAD, with what to do
    dirty = ws.dirty()
    if dirty:
        shown = ", ".join(dirty[:10]) + (f" and {len(dirty) - 10} more" if len(dirty) > 10 else "")
        raise WorkspaceRefused(
            f"{workspace}: uncommitted changes in {shown}; commit or stash them first "
            "(Autopack never changes a dirty workspace)"
        )
    ws.ensure_state_excluded(STATE_FOLDER)
    store = open_store(db, plugins, create=True)
    with store, ws:
        session = RunSession.start_new(
            store, plan, plugins=plugins.versions(), workspace=str(workspace), config_digest=config_digest(config)
        )
        progress = _progress(progress_factory, plugins, config)
        prior = list(store.iter_events(session.run_id))
        progress.update(prior, session.view)
        code = await _drive(
            session=session,
            store=store,
            workspace=ws,
            config=config,
            plugins=plugins,
            progress=progress,
            resumed=False,
            prior=prior,
        )
        return code, session.run_id, db


def _progress(progress_factory: Any, plugins: Any, config: Any) -> Any:
    """The run's progress display, told each model's tier (for the per-call lines)."""
    progress = progress_factory(plugins.codec)
    progress.tiers = {name: m.tier for name, m in config.models.items()}
    return progress


async def resume_run(
    *,
    plugins: Any,
    run: str,
    workspace: Path | None,
    config_path: Path | None,
    db: Path | None,
    progress_factory: Any,
) -> tuple[int, str, Path]:
    """Continue a run from its log; returns (exit code, run id, db path)."""
    if db is None:
        db = default_db((workspace or Path.cwd()).resolve())
    if not db.exists():
        raise AutopackError(f"no event store at {db} (pass --db PATH or --workspace DIR)")
    store = open_store(db, plugins, create=False)
    with store:
        run_id = store.resolve_run(run)
        session = RunSession.open(store, run_id)
        view = session.view
        ws_path = (workspace or Path(view.workspace)).resolve()
        config = load_config(config_path, workspace=ws_path)
        started_with = store.first_event(run_id).event.config_digest  # type: ignore[union-attr]
        if started_with and started_with != config_digest(config):
            where = config_path or default_config_path(ws_path) or "the built-in defaults"
            raise AutopackError(
                f"run {run_id} was started with a different config than {where}; pass the same --config"
            )
        progress = _progress(progress_factory, plugins, config)
        if view.status in ("completed", "failed", "rolled_back"):
            cursor = Cursor()
            for env in store.iter_events(run_id):
                cursor.apply(env)
            with open_workspace(ws_path) as ws:
                if view.status == "completed" and cursor.pre_run_branch and ws.branch_commit(cursor.pre_run_branch):
                    ws.delete_branch(cursor.pre_run_branch)
            progress.message(
                f"run {run_id} already ended: {view.status}" + (f" ({view.end_reason})" if view.end_reason else "")
            )
            progress.close(view)
            return (0 if view.status == "completed" else EXIT_FAILED), run_id, db
        failures = await health_t0(plugins, ws_path, db, config)
        if failures:
            raise WorkspaceRefused("T0 health checks failed: " + "; ".join(failures))
        prior = list(store.iter_events(run_id))
        with open_workspace(ws_path) as ws:
            code = await _drive(
                session=session,
                store=store,
                workspace=ws,
                config=config,
                plugins=plugins,
                progress=progress,
                resumed=True,
                prior=prior,
            )
        return code, run_id, db
