"""The ``recorded`` provider kind: answers from a cassette or a past run's events.

No network: runs work offline and replays are deterministic. The answers come
from, in order of preference, ``event_log`` (a run exported with
``autopack export`` or listed with ``autopack events --json``: its
``model_call_answered`` events, in order), ``cassette`` (YAML or JSON Lines,
format in ``docs/providers.md``), or the built-in cassette
``autopack_core/defaults/cassette.yaml``.

A request takes the first answer, in file order, that is not used up and whose
matchers (``role``, ``model``, ``prompt``, ``prompt_contains``) all match. An
answer is used up once given unless it has ``repeat: true``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from autopack_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from autopack_core.config import ProviderConfig
    from autopack_core.providers import ProviderContext


def recorded_provider(name: str, config: ProviderConfig, context: ProviderContext) -> Any:
    """Make a ``RecordedProvider``; its cassette machinery loads only when one is asked for."""
    from autopack_plugins.recorded_answers import RecordedProvider

    return RecordedProvider(name, config, context)


@hookimpl
def register_providers(register: Callable[..., None]) -> None:
    register("recorded", recorded_provider)
