"""The register_providers hook: a third-party kind loads like a built-in one."""

from __future__ import annotations

import asyncio
import sys
import types

import pytest

from autopack_core.config_load import load_config_text
from autopack_core.errors import PluginError
from autopack_core.hookspecs import hookimpl
from autopack_core.modelcall import ModelCaller
from autopack_core.plugins import load_plugins
from autopack_core.providers import ModelReply


class Shouty:
    def __init__(self, name, config, context):
        self.suffix = config.options.get("suffix", "!")

    async def complete(self, request):
        return ModelReply(text=request.prompt.upper() + self.suffix, input_tokens=len(request.prompt), output_tokens=1)


def plugin_module(kind: str) -> types.ModuleType:
    mod = types.ModuleType(f"shouty_{kind}")

    @hookimpl
    def register_providers(register):
        register(kind, Shouty)

    mod.register_providers = register_providers
    return mod


def test_hook_register_providers_adds_a_kind():
    plugins = load_plugins(extra=[("shouty", plugin_module("shouty"))])
    kinds = plugins.registry("providers")
    assert kinds["shouty"].plugin == "shouty"
    assert {"openai", "anthropic", "gemini", "recorded"} <= set(kinds)
    cfg = load_config_text(
        "providers:\n  s: {kind: shouty, options: {suffix: '?!'}}\nmodels:\n  m: {provider: s, tier: cheap}\n"
    )

    async def go():
        async with ModelCaller(cfg, kinds) as c:
            return await c.call("m", "hello")

    assert asyncio.run(go()).text == "HELLO?!"


def test_two_plugins_registering_one_kind_is_an_error():
    plugins = load_plugins(extra=[("again", plugin_module("openai"))])
    with pytest.raises(PluginError, match="providers 'openai' is registered by both"):
        plugins.registry("providers")


def test_builtin_kinds_come_from_entry_points():
    plugins = load_plugins(strict=True)
    kinds = plugins.registry("providers")
    assert {k: v.plugin for k, v in kinds.items() if k in ("openai", "anthropic", "gemini", "recorded")} == {
        "openai": "provider_openai",
        "anthropic": "provider_anthropic",
        "gemini": "provider_gemini",
        "recorded": "provider_recorded",
    }
    assert sys.modules["autopack_plugins.provider_openai"]
