"""The shared call path: Retry-After, backoff bounds, classification, plugin contract."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time

import pytest

from autopack_core import events as ev
from autopack_core.config import RetriesConfig
from autopack_core.config_load import load_config_text
from autopack_core.errors import ConfigError, MalformedReply, ProviderError, ProviderHTTPError
from autopack_core.http import parse_retry_after
from autopack_core.modelcall import ModelCaller, _Backoff, cost_usd, error_category
from conftest import call_model, config_for
from test_provider_openai import ok


def test_parse_retry_after_seconds_and_http_date():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert 28 <= parse_retry_after(date, now=now) <= 31
    assert parse_retry_after(email.utils.formatdate(now - 100, usegmt=True), now=now) == 0.0


def test_retry_after_http_date_is_honoured(scripted_server, provider_kinds):
    date = email.utils.formatdate(time.time() + 2, usegmt=True)  # second resolution: waits 1-2 s
    scripted_server.enqueue(503, {"error": "busy"}, headers={"Retry-After": date})
    scripted_server.enqueue(json=ok("ok", 1, 1))
    t0 = time.monotonic()
    result, _ = call_model(config_for("openai", scripted_server.url), provider_kinds, "m1", "p")
    assert result.attempts == 2
    assert time.monotonic() - t0 >= 0.9


def test_retry_after_beyond_the_configured_limit_ends_the_call(scripted_server, provider_kinds):
    scripted_server.enqueue(429, {"error": {"message": "come back tomorrow"}}, headers={"Retry-After": "86400"})
    exc, events = call_model(config_for("openai", scripted_server.url), provider_kinds, "m1", "p")
    assert isinstance(exc, ProviderHTTPError) and not exc.transient
    assert "retry after 86400s, more than retries.max_retry_after_seconds (5s)" in str(exc)
    assert len(scripted_server.requests) == 1 and events[-1].category == "rate_limited"


class _State:
    def __init__(self, attempt, exc=None):
        self.attempt_number = attempt

        class Outcome:
            def exception(self_inner):
                return exc

        self.outcome = Outcome()


def test_backoff_is_exponential_capped_and_jittered():
    cfg = RetriesConfig(backoff_base_seconds=0.5, backoff_max_seconds=3.0, jitter_seconds=0.25)
    wait = _Backoff(cfg, random.Random(1))
    for attempt, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (10, 3.0)]:
        w = wait(_State(attempt, ProviderError("x", transient=True)))
        assert base <= w <= base + 0.25
    server_says = ProviderHTTPError("x", transient=True, status=429, retry_after=7.0)
    assert wait(_State(1, server_says)) == 7.0


def test_error_categories():
    assert error_category(MalformedReply("x")) == "malformed_reply"
    assert error_category(ProviderHTTPError("x", status=401)) == "auth"
    assert error_category(ProviderHTTPError("x", status=404)) == "client_error"
    assert error_category(ProviderHTTPError("x", status=529)) == "server_error"


def test_cost_from_config_prices():
    cfg = load_config_text(
        "models:\n  m: {provider: recorded, tier: cheap, price_per_mtok_in: 3, price_per_mtok_out: 15}\n"
    )
    assert cost_usd(cfg.models["m"], 1_000_000, 2_000_000) == 33.0


def test_unknown_provider_kind_is_a_config_error(provider_kinds):
    cfg = load_config_text("providers:\n  x: {kind: telepathy}\nmodels:\n  m: {provider: x, tier: cheap}\n", "k.yaml")
    events: list = []

    async def go():
        async with ModelCaller(cfg, provider_kinds, record=events.extend) as c:
            await c.call("m", "p")

    with pytest.raises(
        ConfigError, match=r"k\.yaml: providers\.x\.kind: no installed plugin provides kind 'telepathy'"
    ):
        asyncio.run(go())
    assert events == []  # refused before anything is recorded


def test_third_party_kind_through_the_contract(fake_provider):
    """A plugin kind gets (name, config, context) and only returns replies; the core does the rest."""
    cfg = load_config_text(
        "providers:\n  mine: {kind: fake, options: {colour: blue}}\n"
        "models:\n  m: {provider: mine, tier: cheap, price_per_mtok_in: 1, api_model: wire-m}\n"
        "retries: {max_attempts: 3, backoff_base_seconds: 0, jitter_seconds: 0}\n"
    )
    fake_provider.enqueue(ProviderError("flaky", transient=True)).enqueue("done", input_tokens=5, output_tokens=1)
    events: list = []

    async def go():
        async with ModelCaller(cfg, {"fake": fake_provider.factory}, record=events.extend) as c:
            return await c.call("m", "hello", system="s", role="auditor", phase_id="ph")

    result = asyncio.run(go())
    assert (result.text, result.attempts, result.cost_usd) == ("done", 2, 5 / 1e6)
    assert [r.wire_model for r in fake_provider.history] == ["wire-m", "wire-m"]
    assert fake_provider.history[0].role == "auditor" and fake_provider.history[0].system == "s"
    assert [type(e) for e in events] == [ev.ModelCallRequested, ev.ModelCallAnswered]
    assert events[1].attempts == 2 and events[1].phase_id == "ph"


def test_concurrent_calls_share_one_session(scripted_server, provider_kinds):
    scripted_server.default = None
    for i in range(20):
        scripted_server.enqueue(json=ok(f"r{i}", 1, 1))
    cfg = config_for("openai", scripted_server.url)

    async def go():
        async with ModelCaller(cfg, provider_kinds, env={"TEST_API_KEY": "k"}) as c:
            results = await asyncio.gather(*(c.call("m1", str(i)) for i in range(20)))
            return results, c.http.session

    results, session = asyncio.run(go())
    assert sorted(r.text for r in results) == sorted(f"r{i}" for i in range(20))
    assert session.closed


def _fake_config(max_attempts: int):
    return load_config_text(
        "providers:\n  mine: {kind: fake}\nmodels:\n  m: {provider: mine, tier: cheap}\n"
        f"retries: {{max_attempts: {max_attempts}, backoff_base_seconds: 0, jitter_seconds: 0}}\n"
    )


def _call_fake(fake_provider, max_attempts: int, waits: list | None = None):
    events: list = []

    async def go():
        async with ModelCaller(_fake_config(max_attempts), {"fake": fake_provider.factory}, record=events.extend) as c:
            if waits is not None:
                real = c._wait

                def recording(state):
                    waits.append((state.attempt_number, state.outcome.exception()))
                    return real(state)

                c._wait = recording
            try:
                return await c.call("m", "hello")
            except ProviderError as exc:
                return exc

    return asyncio.run(go()), events


@pytest.mark.parametrize("max_attempts", [1, 2, 4])
def test_transient_failures_use_every_attempt_and_no_more(fake_provider, max_attempts):
    """The first attempt runs outside tenacity; the retries after it still count it."""
    errors = [ProviderError(f"flaky {i}", transient=True) for i in range(max_attempts + 2)]
    for e in errors:
        fake_provider.enqueue(e)
    waits: list = []
    exc, events = _call_fake(fake_provider, max_attempts, waits)
    assert exc is errors[max_attempts - 1]
    assert len(fake_provider.history) == max_attempts
    failed = events[-1]
    assert isinstance(failed, ev.ModelCallFailed) and failed.attempts == max_attempts
    assert ("gave up after" in failed.message) == (max_attempts > 1)
    # tenacity asks the wait after each failed attempt (the last too) with that attempt's number and error.
    assert waits == [(i + 1, errors[i]) for i in range(max_attempts)]


def test_a_permanent_error_after_a_transient_one_ends_the_call(fake_provider):
    permanent = ProviderHTTPError("bad request", status=400)
    fake_provider.enqueue(ProviderError("flaky", transient=True)).enqueue(permanent).enqueue("never")
    exc, events = _call_fake(fake_provider, 4)
    assert exc is permanent and len(fake_provider.history) == 2
    assert events[-1].attempts == 2 and events[-1].category == "client_error"


def test_a_permanent_first_error_is_not_retried(fake_provider):
    fake_provider.enqueue(ProviderHTTPError("no key", status=401)).enqueue("never")
    exc, events = _call_fake(fake_provider, 4)
    assert isinstance(exc, ProviderHTTPError) and len(fake_provider.history) == 1
    assert events[-1].attempts == 1 and events[-1].category == "auth"


def test_an_answer_at_once_is_one_attempt(fake_provider):
    fake_provider.enqueue("hi", input_tokens=2, output_tokens=1)
    result, events = _call_fake(fake_provider, 4)
    assert result.text == "hi" and result.attempts == 1 and events[-1].attempts == 1
