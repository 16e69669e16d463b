"""The ``anthropic`` provider kind: the Anthropic Messages API.

POST ``{base_url}/v1/messages`` with ``x-api-key`` and ``anthropic-version``;
the system prompt is the top-level ``system`` field. The reply's text is the
concatenation of its ``content[]`` blocks of type ``text``; usage is
``usage.input_tokens`` / ``usage.output_tokens``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from autopack_core.errors import MalformedReply
from autopack_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from autopack_core.providers import ModelReply, ModelRequest, ProviderContext
    from autopack_core.config import ProviderConfig


class AnthropicProvider:
    def __init__(self, name: str, config: ProviderConfig, context: ProviderContext) -> None:
        self.who = f"provider {name!r}"
        self.url = config.base_url.rstrip("/") + "/v1/messages"
        key = context.api_key(name, config)
        self.headers = {
            **config.headers,
            "anthropic-version": config.anthropic_version,
            **({"x-api-key": key} if key else {}),
        }
        self.http = context.http

    def body(self, request: ModelRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.wire_model,
            "max_tokens": request.max_tokens,
            "messages": [{"role": "user", "content": request.prompt}],
        }
        if request.system:
            body["system"] = request.system
        if request.temperature is not None:
            body["temperature"] = request.temperature
        return body

    async def complete(self, request: ModelRequest) -> ModelReply:
        # Imported here: every autopack start loads this plugin, few calls a model.
        from autopack_core.providers import ModelReply, dig, usage_int

        data = await self.http.post_json(self.url, self.body(request), headers=self.headers, who=self.who)
        blocks = dig(data, "content", expect=list, where=self.who)
        texts = []
        for i, block in enumerate(blocks):
            if not isinstance(block, dict):
                raise MalformedReply(f"{self.who}: malformed reply: content[{i}] is not an object")
            if block.get("type") == "text":
                texts.append(dig(block, "text", expect=str, where=self.who))
        if blocks and not texts:
            raise MalformedReply(f"{self.who}: malformed reply: no text block in content")
        return ModelReply(
            text="".join(texts),
            input_tokens=usage_int(data, "usage", "input_tokens", where=self.who),
            output_tokens=usage_int(data, "usage", "output_tokens", where=self.who),
            finish_reason=data.get("stop_reason") or "",
        )


@hookimpl
def register_providers(register: Callable[..., None]) -> None:
    register("anthropic", AnthropicProvider)
