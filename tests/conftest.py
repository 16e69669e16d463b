from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

import pytest
from hypothesis import settings

from autopack_core.config import AutopackConfig, load_config_text
from autopack_core.modelcall import ModelCaller
from autopack_core.plugins import load_plugins

settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

AUTOPACK = Path(sys.executable).with_name("autopack")

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


def provider_config(kind: str, base_url: str, *, key_env: str | None = "TEST_API_KEY", model: str = "m1",
                    api_model: str | None = None, read_timeout: float = 5.0, extra: str = "") -> str:
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


def call_model(cfg: AutopackConfig, kinds: Any, model: str, prompt: str, *, system: str = "",
               env: dict[str, str] | None = None, **kw: Any) -> tuple[Any, list[Any]]:
    """One call through the real ModelCaller; (result or raised error, recorded events)."""
    events: list[Any] = []

    async def go() -> Any:
        async with ModelCaller(cfg, kinds, record=events.extend, env=env if env is not None else {"TEST_API_KEY": "sk-test"}, **kw) as c:
            return await c.call(model, prompt, system=system, role="builder", phase_id="p1")

    try:
        return asyncio.run(go()), events
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return exc, events


def config_for(kind: str, url: str, **kw: Any) -> AutopackConfig:
    return load_config_text(provider_config(kind, url, **kw), "test.yaml")


def run_cli(args: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOPACK_")}
    full_env.update(env or {})
    return subprocess.run([str(AUTOPACK), *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout)


@pytest.fixture
def unused_port() -> int:
    """A port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
