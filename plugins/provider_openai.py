"""The ``openai`` provider kind: OpenAI chat completions and every compatible server.

One wire format serves OpenAI, GLM and local servers (Ollama, vLLM,
llama.cpp): POST ``{base_url}/chat/completions`` with a Bearer key (if any),
read ``choices[0].message.content`` and ``usage.prompt_tokens`` /
``usage.completion_tokens``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from autopack_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from autopack_core.providers import ModelReply, ModelRequest, ProviderContext
    from autopack_core.config import ProviderConfig


class OpenAIProvider:
    def __init__(self, name: str, config: ProviderConfig, context: ProviderContext) -> None:
        self.who = f"provider {name!r}"
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        key = context.api_key(name, config)
        self.headers = {**config.headers, **({"Authorization": f"Bearer {key}"} if key else {})}
        self.http = context.http

    def body(self, request: ModelRequest) -> dict[str, Any]:
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages.append({"role": "user", "content": request.prompt})
        body: dict[str, Any] = {"model": request.wire_model, "messages": messages, "max_tokens": request.max_tokens}
        if request.temperature is not None:
            body["temperature"] = request.temperature
        return body

    async def complete(self, request: ModelRequest) -> ModelReply:
        # Imported here: every autopack start loads this plugin, few calls a model.
        from autopack_core.providers import ModelReply, dig, usage_int

        data = await self.http.post_json(self.url, self.body(request), headers=self.headers, who=self.who)
        choice = dig(data, "choices", 0, expect=dict, where=self.who)
        # content is null when a model answers only with tool calls; we asked for text.
        text = dig(data, "choices", 0, "message", "content", expect=str, where=self.who)
        return ModelReply(
            text=text,
            input_tokens=usage_int(data, "usage", "prompt_tokens", where=self.who),
            output_tokens=usage_int(data, "usage", "completion_tokens", where=self.who),
            finish_reason=choice.get("finish_reason") or "",
        )


@hookimpl
def register_providers(register: Callable[..., None]) -> None:
    register("openai", OpenAIProvider)
