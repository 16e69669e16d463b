"""The anthropic kind against a scripted Messages API server."""

from __future__ import annotations

import pytest

from conftest import call_model, config_for
from provider_suite import *  # noqa: F401,F403 - the shared fault tests run for this kind
from provider_suite import Wire


def ok(text: str, i: int, o: int) -> dict:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": i, "output_tokens": o},
    }


ANTHROPIC = Wire("anthropic", ok, lambda m: "/v1/messages", {"type": "message", "completion": "old API"})


@pytest.fixture
def wire() -> Wire:
    return ANTHROPIC


def test_request_headers_and_body(scripted_server, provider_kinds):
    scripted_server.enqueue(json=ok("hi", 3, 4))
    cfg = config_for("anthropic", scripted_server.url, api_model="claude-wire")
    result, _ = call_model(cfg, provider_kinds, "m1", "the prompt", system="the system")
    assert not isinstance(result, Exception), result
    req = scripted_server.requests[0]
    assert req.method == "POST" and req.path == "/v1/messages"
    assert req.headers["x-api-key"] == "sk-test"
    assert req.headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in req.headers
    assert req.json == {
        "model": "claude-wire",
        "max_tokens": 256,
        "system": "the system",
        "messages": [{"role": "user", "content": "the prompt"}],
    }


def test_text_blocks_are_joined_and_others_skipped(scripted_server, provider_kinds):
    body = ok("", 5, 6)
    body["content"] = [
        {"type": "thinking", "thinking": "hmm", "signature": "x"},
        {"type": "text", "text": "part one, "},
        {"type": "text", "text": "part two"},
    ]
    scripted_server.enqueue(json=body)
    result, _ = call_model(config_for("anthropic", scripted_server.url), provider_kinds, "m1", "p")
    assert result.text == "part one, part two"
    assert (result.input_tokens, result.output_tokens) == (5, 6)


def test_no_system_field_without_system(scripted_server, provider_kinds):
    scripted_server.enqueue(json=ok("x", 1, 1))
    call_model(config_for("anthropic", scripted_server.url), provider_kinds, "m1", "p")
    assert "system" not in scripted_server.requests[0].json


def test_configured_version_header(scripted_server, provider_kinds):
    scripted_server.enqueue(json=ok("x", 1, 1))
    cfg = config_for("anthropic", scripted_server.url, extra="")
    from autopack_core.config_load import load_config_text

    text = (
        f"providers:\n  srv: {{kind: anthropic, base_url: '{scripted_server.url}', anthropic_version: '2099-01-01'}}\n"
        "models:\n  m1: {provider: srv, tier: strong}\n"
    )
    cfg = load_config_text(text)
    call_model(cfg, provider_kinds, "m1", "p")
    assert scripted_server.requests[0].headers["anthropic-version"] == "2099-01-01"
