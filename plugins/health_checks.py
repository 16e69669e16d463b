"""Built-in T0 health checks: workspace, event store, environment."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable

from autopack_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from autopack_core.contracts import HealthContext, HealthOutcome


def _outcome(ok: bool, detail: str) -> "HealthOutcome":
    # Imported on use: every ``autopack`` start loads this module.
    from autopack_core.contracts import HealthOutcome

    return HealthOutcome(ok=ok, detail=detail)


class WorkspaceIsGitRepo:
    tier = "t0"
    description = "the workspace exists and is a git repository"

    async def run(self, context: "HealthContext") -> "HealthOutcome":
        ws = context.workspace
        if not ws.is_dir():
            return _outcome(False, f"{ws}: no such directory")
        if not (ws / ".git").exists():
            return _outcome(False, f"{ws}: not a git repository (no .git)")
        return _outcome(True, str(ws))


class EventStoreReachable:
    tier = "t0"
    description = "the event store's folder is writable and SQLite opens it"

    async def run(self, context: "HealthContext") -> "HealthOutcome":
        folder = context.db_path.parent
        if folder.exists() and not os.access(folder, os.W_OK):
            return _outcome(False, f"{folder}: not writable")
        if context.db_path.exists():
            import sqlite3  # here, not at the top: every autopack start loads this plugin

            try:
                with sqlite3.connect(f"file:{context.db_path}?mode=ro", uri=True) as conn:
                    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.DatabaseError as exc:
                return _outcome(False, f"{context.db_path}: {exc}")
        return _outcome(True, str(context.db_path))


class RequiredEnvironment:
    tier = "t0"
    description = "the environment variables the configured providers need are set"

    async def run(self, context: "HealthContext") -> "HealthOutcome":
        missing = [name for name in context.required_env if not os.environ.get(name)]
        if missing:
            return _outcome(False, "missing: " + ", ".join(missing))
        return _outcome(True, f"{len(context.required_env)} set")


@hookimpl
def register_health_checks(register: Callable[[str, object], None]) -> None:
    register("workspace_git", WorkspaceIsGitRepo())
    register("event_store", EventStoreReachable())
    register("environment", RequiredEnvironment())
