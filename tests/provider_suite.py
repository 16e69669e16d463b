"""Fault tests every HTTP provider kind must pass, against a real scripted server.

Each ``test_provider_<kind>.py`` defines a ``wire`` fixture and star-imports
these tests, so every kind runs the same faults in its own wire format.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import attrs

from autopack_core import events as ev
from autopack_core.errors import (
    MalformedReply,
    MissingCredentials,
    ProviderHTTPError,
    ProviderTimeout,
    ProviderUnreachable,
)
from conftest import call_model, config_for


@attrs.frozen
class Wire:
    kind: str
    ok: Callable[[str, int, int], Any]  # (text, input_tokens, output_tokens) -> reply body
    path: Callable[[str], str]  # wire model -> request path
    wrong_shape: Any  # a valid JSON body that is not the documented shape


def test_success_reads_text_and_usage_and_records_events(scripted_server, provider_kinds, wire):
    scripted_server.enqueue(json=wire.ok("hello there", 12, 34))
    cfg = config_for(wire.kind, scripted_server.url)
    result, events = call_model(cfg, provider_kinds, "m1", "say hi", system="be brief")
    assert not isinstance(result, Exception), result
    assert (result.text, result.input_tokens, result.output_tokens, result.attempts) == ("hello there", 12, 34, 1)
    assert result.cost_usd == (12 * 2.0 + 34 * 10.0) / 1e6
    assert [type(e) for e in events] == [ev.ModelCallRequested, ev.ModelCallAnswered]
    req, ans = events
    assert (req.prompt, req.system, req.role, req.model, req.provider, req.phase_id) == (
        "say hi",
        "be brief",
        "builder",
        "m1",
        "srv",
        "p1",
    )
    assert ans.call_id == req.call_id and ans.text == "hello there" and ans.cost_usd == result.cost_usd
    assert ans.latency_ms > 0
    assert ans.finish_reason == result.finish_reason != ""
    assert scripted_server.requests[0].path == wire.path("m1")


def test_429_retry_after_is_waited_out(scripted_server, provider_kinds, wire):
    scripted_server.enqueue(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "1"})
    scripted_server.enqueue(json=wire.ok("ok", 1, 1))
    cfg = config_for(wire.kind, scripted_server.url)
    t0 = time.monotonic()
    result, events = call_model(cfg, provider_kinds, "m1", "p")
    waited = time.monotonic() - t0
    assert not isinstance(result, Exception), result
    assert result.attempts == 2 and events[-1].attempts == 2
    assert waited >= 1.0, waited
    assert len(scripted_server.requests) == 2


def test_repeated_500_end_after_configured_attempts(scripted_server, provider_kinds, wire):
    for _ in range(5):
        scripted_server.enqueue(500, {"error": {"message": "boom"}})
    cfg = config_for(wire.kind, scripted_server.url)
    exc, events = call_model(cfg, provider_kinds, "m1", "p")
    assert isinstance(exc, ProviderHTTPError) and exc.status == 500 and exc.transient
    assert len(scripted_server.requests) == 3  # retries.max_attempts
    assert "HTTP 500" in str(exc) and "boom" in str(exc) and "3 attempts" in str(exc)
    failed = events[-1]
    assert isinstance(failed, ev.ModelCallFailed)
    assert (failed.status, failed.attempts, failed.category) == (500, 3, "server_error")


def test_529_overloaded_is_retried(scripted_server, provider_kinds, wire):
    scripted_server.enqueue(529, {"error": {"type": "overloaded_error", "message": "Overloaded"}})
    scripted_server.enqueue(json=wire.ok("fine", 1, 2))
    result, _ = call_model(config_for(wire.kind, scripted_server.url), provider_kinds, "m1", "p")
    assert not isinstance(result, Exception), result
    assert result.attempts == 2 and result.text == "fine"


def test_read_timeout_is_retried_then_reported(scripted_server, provider_kinds, wire):
    scripted_server.enqueue(json=wire.ok("late", 1, 1), delay=1.0)
    scripted_server.enqueue(json=wire.ok("on time", 1, 1))
    cfg = config_for(wire.kind, scripted_server.url, read_timeout=0.2)
    result, _ = call_model(cfg, provider_kinds, "m1", "p")
    assert not isinstance(result, Exception), result
    assert (result.text, result.attempts) == ("on time", 2)
    for _ in range(3):
        scripted_server.enqueue(json=wire.ok("late", 1, 1), delay=1.0)
    exc, events = call_model(cfg, provider_kinds, "m1", "p")
    assert isinstance(exc, ProviderTimeout) and "timed out" in str(exc)
    assert events[-1].category == "timeout" and events[-1].attempts == 3


def test_connection_refused_is_retried_then_reported(provider_kinds, wire, unused_port):
    cfg = config_for(wire.kind, f"http://127.0.0.1:{unused_port}")
    exc, events = call_model(cfg, provider_kinds, "m1", "p")
    assert isinstance(exc, ProviderUnreachable) and "cannot reach" in str(exc)
    assert events[-1].attempts == 3 and events[-1].category == "connection"


def test_truncated_json_is_malformed_and_not_retried(scripted_server, provider_kinds, wire):
    import orjson

    full = orjson.dumps(wire.ok("hello", 1, 1))
    scripted_server.enqueue(body=full[: len(full) // 2])
    exc, events = call_model(config_for(wire.kind, scripted_server.url), provider_kinds, "m1", "p")
    assert isinstance(exc, MalformedReply) and "malformed reply" in str(exc) and "truncated" in str(exc)
    assert len(scripted_server.requests) == 1
    assert events[-1].category == "malformed_reply"


def test_body_cut_off_mid_transfer_is_malformed(scripted_server, provider_kinds, wire):
    import orjson

    full = orjson.dumps(wire.ok("hello", 1, 1))
    scripted_server.enqueue(body=full, cut_after=10)
    exc, _ = call_model(config_for(wire.kind, scripted_server.url), provider_kinds, "m1", "p")
    assert isinstance(exc, MalformedReply), exc
    assert len(scripted_server.requests) == 1


def test_wrong_shape_is_malformed(scripted_server, provider_kinds, wire):
    scripted_server.enqueue(json=wire.wrong_shape)
    exc, _ = call_model(config_for(wire.kind, scripted_server.url), provider_kinds, "m1", "p")
    assert isinstance(exc, MalformedReply) and "malformed reply" in str(exc), exc
    scripted_server.enqueue(json=[1, 2, 3])
    exc, _ = call_model(config_for(wire.kind, scripted_server.url), provider_kinds, "m1", "p")
    assert isinstance(exc, MalformedReply), exc


def test_client_errors_are_not_retried_and_say_why(scripted_server, provider_kinds, wire):
    cfg = config_for(wire.kind, scripted_server.url)
    expected = {400: "invalid", 401: "TEST_API_KEY", 403: "not allowed", 404: "base_url"}
    for status, words in expected.items():
        scripted_server.requests.clear()
        scripted_server.enqueue(status, {"error": {"message": f"nope {status}"}})
        exc, events = call_model(cfg, provider_kinds, "m1", "p")
        assert isinstance(exc, ProviderHTTPError) and exc.status == status and not exc.transient
        assert words in str(exc) and f"nope {status}" in str(exc)
        assert len(scripted_server.requests) == 1
        assert events[-1].attempts == 1


def test_missing_key_names_the_variable_and_sends_nothing(scripted_server, provider_kinds, wire):
    cfg = config_for(wire.kind, scripted_server.url)
    exc, events = call_model(cfg, provider_kinds, "m1", "p", env={})
    assert isinstance(exc, MissingCredentials) and "TEST_API_KEY" in str(exc) and exc.exit_code == 2
    assert scripted_server.requests == []
    assert events[-1].category == "missing_credentials"


def test_no_key_configured_sends_no_auth_header(scripted_server, provider_kinds, wire):
    scripted_server.enqueue(json=wire.ok("local", 1, 1))
    cfg = config_for(wire.kind, scripted_server.url, key_env=None)
    result, _ = call_model(cfg, provider_kinds, "m1", "p", env={})
    assert not isinstance(result, Exception), result
    headers = {k.lower() for k in scripted_server.requests[0].headers}
    assert not headers & {"authorization", "x-api-key", "x-goog-api-key"}
