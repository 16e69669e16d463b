"""Built-in T0 health checks: workspace, event store, environment."""

from __future__ import annotations

import os
import sqlite3
from typing import Callable

from autopack_core.contracts import HealthContext, HealthOutcome
from autopack_core.hookspecs import hookimpl


class WorkspaceIsGitRepo:
    tier = "t0"
    description = "the workspace exists and is a git repository"

    async def run(self, context: HealthContext) -> HealthOutcome:
        ws = context.workspace
        if not ws.is_dir():
            return HealthOutcome(ok=False, detail=f"{ws}: no such directory")
        if not (ws / ".git").exists():
            return HealthOutcome(ok=False, detail=f"{ws}: not a git repository (no .git)")
        return HealthOutcome(ok=True, detail=str(ws))


class EventStoreReachable:
    tier = "t0"
    description = "the event store's folder is writable and SQLite opens it"

    async def run(self, context: HealthContext) -> HealthOutcome:
        folder = context.db_path.parent
        if folder.exists() and not os.access(folder, os.W_OK):
            return HealthOutcome(ok=False, detail=f"{folder}: not writable")
        if context.db_path.exists():
            try:
                with sqlite3.connect(f"file:{context.db_path}?mode=ro", uri=True) as conn:
                    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.DatabaseError as exc:
                return HealthOutcome(ok=False, detail=f"{context.db_path}: {exc}")
        return HealthOutcome(ok=True, detail=str(context.db_path))


class RequiredEnvironment:
    tier = "t0"
    description = "the environment variables the configured providers need are set"

    async def run(self, context: HealthContext) -> HealthOutcome:
        missing = [name for name in context.required_env if not os.environ.get(name)]
        if missing:
            return HealthOutcome(ok=False, detail="missing: " + ", ".join(missing))
        return HealthOutcome(ok=True, detail=f"{len(context.required_env)} set")


@hookimpl
def register_health_checks(register: Callable[[str, object], None]) -> None:
    register("workspace_git", WorkspaceIsGitRepo())
    register("event_store", EventStoreReachable())
    register("environment", RequiredEnvironment())
