"""The openai kind against a scripted OpenAI-compatible server."""

from __future__ import annotations

import pytest

from conftest import call_model, config_for
from provider_suite import *  # noqa: F401,F403 - the shared fault tests run for this kind
from provider_suite import Wire


def ok(text: str, i: int, o: int) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": i, "completion_tokens": o, "total_tokens": i + o},
    }


OPENAI = Wire("openai", ok, lambda m: "/chat/completions", {"choices": []})


@pytest.fixture
def wire() -> Wire:
    return OPENAI


def test_request_headers_and_body(scripted_server, provider_kinds):
    scripted_server.enqueue(json=ok("hi", 3, 4))
    cfg = config_for("openai", scripted_server.url + "/v1", api_model="gpt-wire", extra="")
    result, _ = call_model(cfg, provider_kinds, "m1", "the prompt", system="the system")
    assert not isinstance(result, Exception), result
    req = scripted_server.requests[0]
    assert req.method == "POST" and req.path == "/v1/chat/completions"
    assert req.headers["Authorization"] == "Bearer sk-test"
    assert req.headers["Content-Type"] == "application/json"
    assert req.json == {
        "model": "gpt-wire",
        "messages": [{"role": "system", "content": "the system"}, {"role": "user", "content": "the prompt"}],
        "max_tokens": 256,
    }


def test_no_system_message_when_none_given(scripted_server, provider_kinds):
    scripted_server.enqueue(json=ok("hi", 3, 4))
    call_model(config_for("openai", scripted_server.url), provider_kinds, "m1", "p")
    assert scripted_server.requests[0].json["messages"] == [{"role": "user", "content": "p"}]


def test_null_content_is_malformed(scripted_server, provider_kinds):
    body = ok("x", 1, 1)
    body["choices"][0]["message"]["content"] = None
    scripted_server.enqueue(json=body)
    exc, _ = call_model(config_for("openai", scripted_server.url), provider_kinds, "m1", "p")
    assert "choices[0].message.content" in str(exc)


def test_missing_usage_counts_zero(scripted_server, provider_kinds):
    body = ok("x", 1, 1)
    del body["usage"]
    scripted_server.enqueue(json=body)
    result, _ = call_model(config_for("openai", scripted_server.url), provider_kinds, "m1", "p")
    assert (result.input_tokens, result.output_tokens, result.cost_usd) == (0, 0, 0.0)


def test_string_token_count_is_malformed(scripted_server, provider_kinds):
    body = ok("x", 1, 1)
    body["usage"]["prompt_tokens"] = "12"
    scripted_server.enqueue(json=body)
    exc, _ = call_model(config_for("openai", scripted_server.url), provider_kinds, "m1", "p")
    assert "usage.prompt_tokens" in str(exc)


def test_extra_headers_from_config_are_sent(scripted_server, provider_kinds):
    scripted_server.enqueue(json=ok("x", 1, 1))
    text = (
        f"providers:\n  srv:\n    kind: openai\n    base_url: {scripted_server.url}\n"
        "    headers: {X-Team: builders}\n"
        "models:\n  m1: {provider: srv, tier: cheap, temperature: 0.25}\n"
    )
    from autopack_core.config_load import load_config_text

    result, _ = call_model(load_config_text(text), provider_kinds, "m1", "p")
    assert not isinstance(result, Exception), result
    req = scripted_server.requests[0]
    assert req.headers["X-Team"] == "builders"
    assert req.json["temperature"] == 0.25 and req.json["max_tokens"] == 4096
