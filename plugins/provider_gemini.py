"""The ``gemini`` provider kind: Google's generateContent API.

POST ``{base_url}/v1beta/models/{model}:generateContent`` with the key in the
``x-goog-api-key`` header (never in the URL, so it stays out of logs); the
system prompt goes in ``systemInstruction``. The reply's text is
``candidates[0].content.parts[].text`` joined; usage is
``usageMetadata.promptTokenCount`` / ``candidatesTokenCount``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import quote

from autopack_core.errors import MalformedReply
from autopack_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from autopack_core.providers import ModelReply, ModelRequest, ProviderContext
    from autopack_core.config import ProviderConfig


class GeminiProvider:
    def __init__(self, name: str, config: ProviderConfig, context: ProviderContext) -> None:
        self.who = f"provider {name!r}"
        self.base = config.base_url.rstrip("/")
        key = context.api_key(name, config)
        self.headers = {**config.headers, **({"x-goog-api-key": key} if key else {})}
        self.http = context.http

    def url(self, request: ModelRequest) -> str:
        return f"{self.base}/v1beta/models/{quote(request.wire_model, safe='')}:generateContent"

    def body(self, request: ModelRequest) -> dict[str, Any]:
        generation: dict[str, Any] = {"maxOutputTokens": request.max_tokens}
        if request.temperature is not None:
            generation["temperature"] = request.temperature
        body: dict[str, Any] = {
            "contents": [{"role": "user", "parts": [{"text": request.prompt}]}],
            "generationConfig": generation,
        }
        if request.system:
            body["systemInstruction"] = {"parts": [{"text": request.system}]}
        return body

    async def complete(self, request: ModelRequest) -> ModelReply:
        # Imported here: every autopack start loads this plugin, few calls a model.
        from autopack_core.providers import ModelReply, dig, usage_int

        data = await self.http.post_json(self.url(request), self.body(request), headers=self.headers, who=self.who)
        candidate = dig(data, "candidates", 0, expect=dict, where=self.who)
        parts = dig(data, "candidates", 0, "content", "parts", expect=list, where=self.who)
        texts = []
        for i, part in enumerate(parts):
            if not isinstance(part, dict):
                raise MalformedReply(f"{self.who}: malformed reply: candidates[0].content.parts[{i}] is not an object")
            # "thought" parts are the model's reasoning, not its answer.
            if "text" in part and not part.get("thought"):
                texts.append(dig(part, "text", expect=str, where=self.who))
        if not texts:
            raise MalformedReply(f"{self.who}: malformed reply: no text in candidates[0].content.parts")
        return ModelReply(
            text="".join(texts),
            input_tokens=usage_int(data, "usageMetadata", "promptTokenCount", where=self.who),
            output_tokens=usage_int(data, "usageMetadata", "candidatesTokenCount", where=self.who),
            finish_reason=candidate.get("finishReason") or "",
        )


@hookimpl
def register_providers(register: Callable[..., None]) -> None:
    register("gemini", GeminiProvider)
