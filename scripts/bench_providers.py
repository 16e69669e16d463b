"""Benchmark the provider call path against a local fake server that answers at once.

Prints one JSON object:
- calls/s through the full path (ModelCaller -> openai plugin -> shared aiohttp
  client -> parse -> cost -> ModelCallRequested/Answered events encoded by the
  event codec), sequential and with 32 concurrent calls;
- the same for a bare aiohttp POST + JSON decode to the same server;
- the per-call overhead of the full path over the bare request, in ms
  (median of interleaved per-call timings; the target is under 1 ms).

The server runs in its own process so it does not share the GIL with the
client being measured. Usage: python scripts/bench_providers.py [--calls N]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import sys
import time
from typing import Any

import orjson

REPLY = orjson.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok " * 50}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 50, "total_tokens": 170},
    }
)


def _serve(port: int, ready: Any) -> None:
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=REPLY, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _bench(url: str, calls: int) -> dict[str, Any]:
    import aiohttp

    from autopack_core.codec import EventCodec
    from autopack_core.config_load import load_config_text
    from autopack_core.modelcall import ModelCaller
    from autopack_core.plugins import load_plugins

    cfg = load_config_text(
        f"providers:\n  bench: {{kind: openai, base_url: '{url}/v1', api_key_env: BENCH_KEY}}\n"
        "models:\n  m: {provider: bench, tier: cheap, price_per_mtok_in: 1, price_per_mtok_out: 2}\n",
        "bench.yaml",
    )
    kinds = load_plugins().registry("providers")
    codec = EventCodec()
    encoded: list[bytes] = []

    def record(events: Any) -> None:
        # What the store does before its INSERT: encode each event to canonical JSON.
        encoded.extend(codec.encode(e) for e in events)

    body = {"model": "m", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 256}
    headers = {"Authorization": "Bearer k", "Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)
    out: dict[str, Any] = {}
    async with (
        aiohttp.ClientSession(timeout=timeout) as bare,
        ModelCaller(cfg, kinds, record=record, env={"BENCH_KEY": "k"}) as caller,
    ):
        target = f"{url}/v1/chat/completions"

        async def bare_call() -> None:
            async with bare.post(target, data=orjson.dumps(body), headers=headers) as r:
                orjson.loads(await r.read())

        async def full_call() -> None:
            await caller.call("m", "hello")

        for _ in range(200):  # warm both connection pools and code paths
            await bare_call()
            await full_call()

        bare_ms, full_ms = [], []
        for _ in range(calls):  # interleaved, so drift hits both alike
            t = time.perf_counter()
            await bare_call()
            bare_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            await full_call()
            full_ms.append((time.perf_counter() - t) * 1000)

        async def rate(fn: Any, n: int, concurrency: int) -> float:
            sem = asyncio.Semaphore(concurrency)

            async def one() -> None:
                async with sem:
                    await fn()

            t = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(n)))
            return n / (time.perf_counter() - t)

        out["sequential_calls_per_s"] = {
            "full_path": round(1000 / statistics.mean(full_ms), 1),
            "bare_aiohttp": round(1000 / statistics.mean(bare_ms), 1),
        }
        out["concurrent_32_calls_per_s"] = {
            "full_path": round(await rate(full_call, calls, 32), 1),
            "bare_aiohttp": round(await rate(bare_call, calls, 32), 1),
        }
        out["median_ms"] = {
            "full_path": round(statistics.median(full_ms), 4),
            "bare_aiohttp": round(statistics.median(bare_ms), 4),
        }
        out["p90_ms"] = {
            "full_path": round(statistics.quantiles(full_ms, n=10)[-1], 4),
            "bare_aiohttp": round(statistics.quantiles(bare_ms, n=10)[-1], 4),
        }
        out["overhead_ms_median"] = round(statistics.median(full_ms) - statistics.median(bare_ms), 4)
        out["overhead_ms_median_paired"] = round(
            statistics.median(f - b for f, b in zip(full_ms, bare_ms, strict=True)), 4
        )
        out["events_encoded"] = len(encoded)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per measurement (default 2000)")
    args = parser.parse_args(argv)
    port = _free_port()
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    server = ctx.Process(target=_serve, args=(port, ready), daemon=True)
    server.start()
    try:
        if not ready.wait(30):
            raise SystemExit("bench server did not start")
        result = asyncio.run(_bench(f"http://127.0.0.1:{port}", args.calls))
    finally:
        server.terminate()
        server.join(5)
    result = {"calls": args.calls, "python": sys.version.split()[0], **result, "target_overhead_ms": 1.0}
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
