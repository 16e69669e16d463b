"""A testing kit for Autopack and its plugin authors (a ``pytest11`` plugin).

Fixtures:

- ``autopack_workspace``: a temporary git repository with one commit
  (``make_git_workspace`` builds one anywhere).
- ``autopack_store``: a temporary event store using the loaded plugins' event types.
- ``autopack_register``: ``autopack_register(module_or_object, name=...)`` loads
  the installed plugins plus yours, for one test, and returns the ``PluginSet``.
- ``scripted_server`` (``ScriptedServer``): a real aiohttp server on 127.0.0.1
  (random port, its own thread and loop) that answers POSTs from a script of
  responses, with faults (status codes, ``Retry-After``, delays, bodies cut off
  mid-transfer), and keeps every request it received. Point a provider's
  ``base_url`` at ``server.url``.
- ``fake_provider`` (``FakeProvider``): a provider kind answering from
  ``enqueue()``d replies, recording each request in ``history``.

Heavy imports happen inside functions: pytest loads this module in every test
session of every project that has Autopack installed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from collections import deque
from pathlib import Path
from typing import Any, Callable, Iterator

import attrs
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


@attrs.frozen(kw_only=True)
class Scripted:
    """One scripted response. ``cut_after`` sends only that many body bytes, then hangs up."""

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = attrs.field(factory=dict)
    delay: float = 0.0
    cut_after: int | None = None


@attrs.frozen(kw_only=True)
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        import orjson

        return orjson.loads(self.body)


class ScriptedServer:
    """An HTTP server on 127.0.0.1 answering from a queue of ``Scripted`` responses.

    When the queue is empty it answers ``default`` (if set) or HTTP 500 with
    ``{"error": "script exhausted"}`` so an unexpected extra request shows up.
    """

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: deque[Scripted] = deque()
        self.default: Scripted | None = None
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def enqueue(self, status: int = 200, json: Any = None, **kw: Any) -> "ScriptedServer":
        self.script.append(Scripted(status=status, json=json, **kw))
        return self

    async def _handle(self, request: Any) -> Any:
        from aiohttp import web

        body = await request.read()
        self.requests.append(
            Received(
                method=request.method,
                path=request.path,
                query=request.query_string,
                headers=dict(request.headers),
                body=body,
            )
        )
        item = (
            self.script.popleft()
            if self.script
            else (self.default or Scripted(status=500, json={"error": "script exhausted"}))
        )
        if item.delay:
            await asyncio.sleep(item.delay)
        if item.body is not None:
            payload = item.body
        else:
            import orjson

            payload = orjson.dumps(item.json if item.json is not None else {})
        headers = {"Content-Type": "application/json", **item.headers}
        if item.cut_after is None:
            return web.Response(status=item.status, body=payload, headers=headers)
        resp = web.StreamResponse(status=item.status, headers=headers)
        resp.content_length = len(payload)
        await resp.prepare(request)
        await resp.write(payload[: item.cut_after])
        assert request.transport is not None
        request.transport.close()
        return resp

    def start(self) -> "ScriptedServer":
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            from aiohttp import web

            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                app = web.Application()
                app.router.add_route("*", "/{tail:.*}", self._handle)
                self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
                loop.run_until_complete(self._runner.setup())
                site = web.TCPSite(self._runner, "127.0.0.1", 0)
                loop.run_until_complete(site.start())
                self.port = self._runner.addresses[0][1]
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="scripted-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = None
        self._thread = None

    def __enter__(self) -> "ScriptedServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def scripted_server() -> Iterator[ScriptedServer]:
    """A started ``ScriptedServer``; stopped after the test."""
    with ScriptedServer() as server:
        yield server


class FakeProvider:
    """A provider kind for tests: ``enqueue`` replies (or exceptions); ``history`` holds requests."""

    def __init__(self) -> None:
        self.queue: deque[Any] = deque()
        self.history: list[Any] = []

    def enqueue(self, text: str | BaseException, *, input_tokens: int = 0, output_tokens: int = 0) -> "FakeProvider":
        from autopack_core.providers import ModelReply

        item = (
            text
            if isinstance(text, BaseException)
            else ModelReply(text=text, input_tokens=input_tokens, output_tokens=output_tokens)
        )
        self.queue.append(item)
        return self

    def factory(self, name: str, config: Any, context: Any) -> "FakeProvider":
        return self

    async def complete(self, request: Any) -> Any:
        from autopack_core.errors import NoRecordedAnswer

        self.history.append(request)
        if not self.queue:
            raise NoRecordedAnswer(f"fake provider: nothing enqueued for {request.model}")
        item = self.queue.popleft()
        if isinstance(item, BaseException):
            raise item
        return item


@pytest.fixture
def fake_provider() -> FakeProvider:
    """A ``FakeProvider``; pass ``{"fake": fake_provider.factory}`` as a ``ModelCaller`` kind."""
    return FakeProvider()


__all__: list[str] = [
    "make_git_workspace",
    "autopack_workspace",
    "autopack_register",
    "autopack_store",
    "ScriptedServer",
    "Scripted",
    "Received",
    "FakeProvider",
    "scripted_server",
    "fake_provider",
]
