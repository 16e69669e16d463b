"""Shared fixtures. Hypothesis profiles: ``ci`` (default under CI=true) and ``dev`` (quick)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

AUTOPACK = str(Path(sys.executable).with_name("autopack"))


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The state folder and plugin switches never leak in from the developer's shell.
    monkeypatch.setenv("AUTOPACK_DB", str(tmp_path / "state" / "autopack.db"))
    for var in ("AUTOPACK_LOAD_PLUGINS", "AUTOPACK_STRICT_PLUGINS", "AUTOPACK_RAISE_ERRORS"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def plugin_set():
    from autopack_core.plugins import load_plugins

    return load_plugins()


@pytest.fixture
def store(tmp_path: Path, plugin_set):
    from autopack_core.store import EventStore

    s = EventStore(tmp_path / "events.db", plugin_set.codec)
    yield s
    s.close()


def run_cli(*args: str, env: dict[str, str] | None = None, input: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the installed ``autopack`` command as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([AUTOPACK, *args], capture_output=True, env=full_env, input=input, cwd=cwd, timeout=120)


@pytest.fixture
def cli():
    return run_cli


def record_scenario(db: Path, run_id: str = "01JRUNAAAAAAAAAAAAAAAAAAAA", seed: int = 7, phases: int = 4) -> int:
    """Record one scripted run through the real machines; returns its event count."""
    import random

    from autopack_core.plugins import load_plugins
    from autopack_core.scenarios import run_events
    from autopack_core.session import RunSession
    from autopack_core.store import EventStore

    events = list(run_events(random.Random(seed), phases=phases))
    with EventStore(db, load_plugins().codec) as store:
        session = RunSession.create(store, run_id, events[0])
        for e in events[1:]:
            session.record(e)
    return len(events)


@pytest.fixture
def recorded_db(tmp_path: Path) -> tuple[Path, str, int]:
    db = tmp_path / "state" / "autopack.db"
    run_id = "01JRUNAAAAAAAAAAAAAAAAAAAA"
    return db, run_id, record_scenario(db, run_id)
