"""The gemini kind against a scripted generateContent server."""

from __future__ import annotations

import pytest

from conftest import call_model, config_for
from provider_suite import *  # noqa: F401,F403 - the shared fault tests run for this kind
from provider_suite import Wire


def ok(text: str, i: int, o: int) -> dict:
    return {
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": i, "candidatesTokenCount": o, "totalTokenCount": i + o},
        "modelVersion": "gemini-x",
    }


GEMINI = Wire("gemini", ok, lambda m: f"/v1beta/models/{m}:generateContent", {"candidates": [{"content": {}}]})


@pytest.fixture
def wire() -> Wire:
    return GEMINI


def test_request_headers_and_body(scripted_server, provider_kinds):
    scripted_server.enqueue(json=ok("hi", 3, 4))
    cfg = config_for("gemini", scripted_server.url, api_model="gemini-2.5-flash")
    result, _ = call_model(cfg, provider_kinds, "m1", "the prompt", system="the system")
    assert not isinstance(result, Exception), result
    req = scripted_server.requests[0]
    assert req.method == "POST" and req.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert req.query == ""  # the key travels in a header, never in the URL
    assert req.headers["x-goog-api-key"] == "sk-test"
    assert req.json == {
        "contents": [{"role": "user", "parts": [{"text": "the prompt"}]}],
        "generationConfig": {"maxOutputTokens": 256},
        "systemInstruction": {"parts": [{"text": "the system"}]},
    }
    assert (result.text, result.input_tokens, result.output_tokens) == ("hi", 3, 4)


def test_parts_joined_and_thoughts_skipped(scripted_server, provider_kinds):
    body = ok("", 1, 2)
    body["candidates"][0]["content"]["parts"] = [{"text": "thinking...", "thought": True}, {"text": "a"}, {"text": "b"}]
    scripted_server.enqueue(json=body)
    result, _ = call_model(config_for("gemini", scripted_server.url), provider_kinds, "m1", "p")
    assert result.text == "ab"


def test_blocked_prompt_without_candidates_is_malformed(scripted_server, provider_kinds):
    scripted_server.enqueue(json={"promptFeedback": {"blockReason": "SAFETY"}})
    exc, _ = call_model(config_for("gemini", scripted_server.url), provider_kinds, "m1", "p")
    assert "candidates" in str(exc)
