"""Shared fixtures and helpers. Hypothesis profiles: ``ci`` (default under CI=true) and ``dev`` (quick)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

import pytest
from hypothesis import HealthCheck, settings

from autopack_core.config import AutopackConfig
from autopack_core.config_load import load_config_text
from autopack_core.modelcall import ModelCaller
from autopack_core.plugins import load_plugins

settings.register_profile("ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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


def run_cli(
    *args: str, env: dict[str, str] | None = None, input: bytes | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
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


# --- providers (model calls against scripted servers) ---------------------

# Small waits so retry tests stay fast; timeouts short enough to hit.
RETRIES = """
retries:
  max_attempts: 3
  backoff_base_seconds: 0.01
  backoff_max_seconds: 0.05
  jitter_seconds: 0.01
  max_retry_after_seconds: 5
  connect_timeout_seconds: 2
  read_timeout_seconds: {read_timeout}
"""


def provider_config(
    kind: str,
    base_url: str,
    *,
    key_env: str | None = "TEST_API_KEY",
    model: str = "m1",
    api_model: str | None = None,
    read_timeout: float = 5.0,
    extra: str = "",
) -> str:
    key = f"    api_key_env: {key_env}\n" if key_env else ""
    api = f"    api_model: {api_model}\n" if api_model else ""
    return (
        f"providers:\n  srv:\n    kind: {kind}\n    base_url: {base_url}\n{key}"
        f"models:\n  {model}:\n    provider: srv\n    tier: cheap\n{api}"
        f"    price_per_mtok_in: 2.0\n    price_per_mtok_out: 10.0\n    max_output_tokens: 256\n"
        + RETRIES.format(read_timeout=read_timeout)
        + extra
    )


@pytest.fixture(scope="session")
def provider_kinds() -> dict[str, Any]:
    return load_plugins(strict=True).registry("providers")


def call_model(
    cfg: AutopackConfig,
    kinds: Any,
    model: str,
    prompt: str,
    *,
    system: str = "",
    env: dict[str, str] | None = None,
    **kw: Any,
) -> tuple[Any, list[Any]]:
    """One call through the real ModelCaller; (result or raised error, recorded events)."""
    events: list[Any] = []

    async def go() -> Any:
        async with ModelCaller(
            cfg, kinds, record=events.extend, env=env if env is not None else {"TEST_API_KEY": "sk-test"}, **kw
        ) as c:
            return await c.call(model, prompt, system=system, role="builder", phase_id="p1")

    try:
        return asyncio.run(go()), events
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return exc, events


def config_for(kind: str, url: str, **kw: Any) -> AutopackConfig:
    return load_config_text(provider_config(kind, url, **kw), "test.yaml")


def run_cli_text(
    args: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOPACK_")}
    full_env.update(env or {})
    return subprocess.run([AUTOPACK, *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout)


@pytest.fixture
def unused_port() -> int:
    """A port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
