"""A testing kit for Autopack and its plugin authors (a ``pytest11`` plugin).

- ``ScriptedServer`` / the ``scripted_server`` fixture: a real aiohttp server
  on 127.0.0.1 (random port, its own thread and loop) that answers POSTs from
  a script of responses, with faults (status codes, ``Retry-After``, delays,
  bodies cut off mid-transfer), and keeps every request it received. Point a
  provider's ``base_url`` at ``server.url``.
- ``FakeProvider`` / the ``fake_provider`` fixture: a provider kind answering
  from ``enqueue()``d replies, recording each request in ``history``.

Heavy imports happen inside functions: pytest loads this module in every run.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Any, Iterator

import attrs
import pytest


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
            Received(method=request.method, path=request.path, query=request.query_string, headers=dict(request.headers), body=body)
        )
        item = self.script.popleft() if self.script else (self.default or Scripted(status=500, json={"error": "script exhausted"}))
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

        item = text if isinstance(text, BaseException) else ModelReply(text=text, input_tokens=input_tokens, output_tokens=output_tokens)
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


__all__: list[str] = ["ScriptedServer", "Scripted", "Received", "FakeProvider", "scripted_server", "fake_provider"]
