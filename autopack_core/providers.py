"""The provider contract: what a provider plugin registers, receives and returns.

A plugin registers a *kind* with a factory::

    @hookimpl
    def register_providers(register):
        register("mykind", make_provider)

    def make_provider(name: str, config: ProviderConfig, context: ProviderContext) -> Provider:
        ...

The factory runs once per configured provider, the first time a model of that
provider is called, and should fail fast (``context.api_key`` raises
``MissingCredentials`` before any request). ``Provider.complete`` makes *one*
attempt and either returns a ``ModelReply`` or raises a ``ProviderError``:
retries, timing, cost, quotas and events are the core's job
(``autopack_core.modelcall``), so a plugin holds only its wire format.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

import attrs

from autopack_core.errors import MalformedReply, MissingCredentials

if TYPE_CHECKING:
    from autopack_core.config import AutopackConfig, ProviderConfig
    from autopack_core.http import HttpClient


@attrs.frozen(kw_only=True)
class ModelRequest:
    """One prompt to one model.

    ``model`` is the configured name (for matching and events); ``wire_model``
    is the id to send to the server.
    """

    model: str
    wire_model: str
    prompt: str
    max_tokens: int  # from the model's max_output_tokens, or the caller
    system: str = ""
    role: str = "prompt"
    temperature: float | None = None


@attrs.frozen(kw_only=True)
class ModelReply:
    """What one successful attempt returned. Token counts are the provider's own."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reason: str = ""


class Provider(Protocol):
    async def complete(self, request: ModelRequest) -> ModelReply: ...


ProviderFactory = Callable[[str, "ProviderConfig", "ProviderContext"], Provider]


@attrs.frozen(kw_only=True)
class ProviderContext:
    """What the core hands every provider factory."""

    config: "AutopackConfig"
    http: "HttpClient"
    env: Mapping[str, str] = attrs.field(factory=lambda: os.environ)

    def api_key(self, name: str, provider: "ProviderConfig") -> str | None:
        """The provider's key from its ``api_key_env`` variable; None if it names none."""
        var = provider.api_key_env
        if not var:
            return None
        key = self.env.get(var, "")
        if not key:
            raise MissingCredentials(
                f"provider {name!r}: environment variable {var} is not set "
                f"(providers.{name}.api_key_env in {self.config.source}); no request was sent"
            )
        return key


# --- reading documented reply shapes --------------------------------------


def _describe(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def dig(data: Any, *path: str | int, expect: type | tuple[type, ...], where: str) -> Any:
    """``data[path...]`` checked against ``expect``, else ``MalformedReply``.

    :param where: who answered (``"provider 'openai'"``), for the message.
    """
    node = data
    walked = ""
    for step in path:
        walked += f"[{step}]" if isinstance(step, int) else (f".{step}" if walked else step)
        if isinstance(step, int):
            ok = isinstance(node, list) and -len(node) <= step < len(node)
        else:
            ok = isinstance(node, dict) and step in node
        if not ok:
            raise MalformedReply(f"{where}: malformed reply: no {walked} in the body ({_describe(data)})")
        node = node[step]
    if isinstance(node, bool) and expect is int or not isinstance(node, expect):
        raise MalformedReply(f"{where}: malformed reply: {walked} is {_describe(node)}, not the documented type")
    return node


def usage_int(data: Any, *path: str, where: str) -> int:
    """A token count that the provider may leave out (0 then), but not mistype."""
    node = data
    for step in path:
        if not isinstance(node, dict) or step not in node:
            return 0
        node = node[step]
    if node is None:
        return 0
    if isinstance(node, bool) or not isinstance(node, int) or node < 0:
        raise MalformedReply(f"{where}: malformed reply: {'.'.join(path)} is {_describe(node)}, not a token count")
    return node
