"""A pytest plugin for plugin authors (loaded through the ``pytest11`` entry point).

Fixtures:

- ``autopack_workspace``: a temporary git repository with one commit.
- ``autopack_store``: a temporary event store using the loaded plugins' event types.
- ``autopack_register``: ``autopack_register(module_or_object, name=...)`` loads
  the installed plugins plus yours, for one test, and returns the ``PluginSet``.

Nothing here imports heavy libraries at import time: pytest loads this module
in every test session of every project that has Autopack installed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Autopack Test",
    "GIT_AUTHOR_EMAIL": "test@autopack.invalid",
    "GIT_COMMITTER_NAME": "Autopack Test",
    "GIT_COMMITTER_EMAIL": "test@autopack.invalid",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def make_git_workspace(path: Path, files: dict[str, str] | None = None) -> Path:
    """Create a git repository at ``path`` holding ``files`` in one commit."""
    import os

    path.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=env)
    for rel, text in (files or {"README.md": "example\n"}).items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(path), "commit", "-q", "-m", "initial"], check=True, env=env)
    return path


@pytest.fixture
def autopack_workspace(tmp_path: Path) -> Path:
    return make_git_workspace(tmp_path / "workspace")


@pytest.fixture
def autopack_register() -> Callable[..., Any]:
    from autopack_core.plugins import load_plugins

    def register(plugin: object, name: str = "under-test") -> Any:
        return load_plugins(extra=[(name, plugin)])

    return register


@pytest.fixture
def autopack_store(tmp_path: Path) -> Iterator[Any]:
    from autopack_core.plugins import load_plugins
    from autopack_core.store import EventStore

    store = EventStore(tmp_path / "autopack-test.db", load_plugins().codec)
    yield store
    store.close()
