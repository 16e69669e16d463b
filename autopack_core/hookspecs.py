"""Every hook a plugin can implement.

Hooks are synchronous and *register objects*; the objects carry the ``async``
methods that do the work (pluggy has no async hooks). A plugin module marks
its implementations with ``autopack_core.hookimpl`` and is exposed through an
entry point in group ``autopack``. ``docs/plugin-hooks.md`` documents each hook
with an example; ``tests/test_hookspecs.py`` checks that each is documented
and tested.

Registration order is never relied on: every registry refuses two plugins
registering the same name, and the one answer a lookup needs is chosen by
name from config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import pluggy

if TYPE_CHECKING:
    import click

    from autopack_core.events import Envelope

hookspec = pluggy.HookspecMarker("autopack")
hookimpl = pluggy.HookimplMarker("autopack")


@hookspec
def register_providers(register: Callable[..., None]) -> None:
    """Register model provider kinds.

    Called once when the plugin registry is built. A kind registered by two
    plugins is an error. The contract is in ``autopack_core/providers.py`` and
    ``docs/providers.md``.

    :param register: ``register(kind, factory)``. ``kind`` is the string a
        provider entry's ``kind:`` names in ``config/models.yaml``.
        ``factory(name, provider_config, context)`` is called once per
        configured provider of that kind, on first use: ``name`` is the
        entry's name, ``provider_config`` its ``ProviderConfig``, ``context``
        a ``ProviderContext`` (``http``: the shared aiohttp client;
        ``api_key(name, provider_config)``: the key, or ``MissingCredentials``
        naming the variable; ``config``: the whole config). It returns an
        object with ``async def complete(request: ModelRequest) -> ModelReply``
        that makes one attempt and raises ``ProviderError`` subclasses
        (``transient=True`` for what may be retried, ``MalformedReply`` for a
        body that is not the documented shape). Retries, timing, cost, quotas
        and events are done by the core.
    :return: nothing; registration is through ``register``.
    """


@hookspec
def register_roles(register: Callable[..., None]) -> None:
    """Register model roles (Builder, Auditor, Doctor, or new ones).

    Called once when the registry of roles is first needed. A name registered
    by two plugins is an error. The contract is ``contracts.Role``; the
    built-in roles are in ``autopack_plugins.roles``, and ``docs/roles.md``
    shows a whole third-party role.

    :param register: ``register(name, role)``. ``role`` is pure (no I/O):
        ``name``, ``description``, ``default_template``;
        ``build_prompt(context: RoleContext, *, context_tokens, template=None)
        -> Prompt`` fits the prompt to the model's context (what was cut is in
        ``Prompt.omitted``); ``parse_reply(text) -> object`` returns the
        role's result or raises ``MalformedOutput``, never anything else. The
        executor routes the role's model by ``name`` (``routing.roles``) and
        makes the call.
    :return: nothing; registration is through ``register``.
    """


@hookspec
def register_quality_checks(register: Callable[..., None]) -> None:
    """Register quality checks that a plan's ``checks:`` can name.

    Called once when the plugin registry is built.

    :param register: ``register(name, check)``. ``check`` has
        ``async def run(workspace, options) -> CheckOutcome``.
    :return: nothing.
    """


@hookspec
def register_health_checks(register: Callable[..., None]) -> None:
    """Register health checks run by ``autopack health`` and before a run.

    Called once when the plugin registry is built.

    :param register: ``register(name, check)``. ``check.tier`` is ``"t0"``
        (quick, always run) or ``"t1"`` (longer, run when configured);
        ``async def run(context) -> HealthOutcome``.
    :return: nothing.
    """


@hookspec
def register_fix_types(register: Callable[..., None]) -> None:
    """Register the typed fix categories the Doctor's ``execute_fix`` may use.

    Called once when the plugin registry is built. A name registered by two
    plugins is an error. The contract is ``contracts.FixType``; the rules and
    a worked plugin are in ``docs/execute-fix.md``.

    :param register: ``register(name, fix_type)``. ``name`` is what the
        Doctor's ``fix_type`` and ``doctor.allowed_fix_types`` name.
        ``fix_type`` has ``name``, ``description``, ``enabled_by_default`` and
        ``check(command, context: FixContext) -> FixVerdict``, which decides
        from the command string alone (and the workspace, read only) whether
        it may run and returns the argv to run; it never executes anything
        and refuses what it does not recognise. Build one from data with
        ``autopack_core.fixrules.AllowlistFixType`` (``Program`` / ``Cmd`` /
        ``Opt``): the shared rules (no shell syntax, paths inside the
        workspace, no privilege changes) then apply.
    :return: nothing; registration is through ``register``.
    """


@hookspec
def register_event_types(register: Callable[[type], None]) -> None:
    """Register a plugin's own event classes.

    Called once, before the event codec is built. Each class must be made with
    ``autopack_core.events.event_type("plugin.name")`` (a frozen attrs class
    with a namespaced ``type`` tag). A tag registered by two different classes
    is an error.

    :param register: ``register(event_class)``.
    :return: nothing.
    """


@hookspec
def register_commands(cli: "click.Group") -> None:
    """Add commands to the ``autopack`` command line.

    Called once while the CLI starts, after the built-in commands exist.
    Keep imports of heavy libraries inside the command functions: every
    ``autopack`` invocation pays for what this hook imports.

    :param cli: the top-level ``click.Group``; call ``cli.command()`` or
        ``cli.add_command``.
    :return: nothing.
    """


@hookspec
def event_appended(envelopes: "Sequence[Envelope]") -> None:
    """Observe events right after they are durably committed.

    Called after every successful append, with the envelopes of that append
    (one transaction) in sequence order. Observers must not append to the
    store themselves. An exception here is logged and kept in
    ``store.observer_errors``; it never undoes or hides the committed append.

    :param envelopes: the new ``Envelope`` objects (``run_id``, ``seq``,
        ``ts``, ``event``, ``hash``).
    :return: ignored.
    """


HOOK_NAMES: tuple[str, ...] = (
    "register_providers",
    "register_roles",
    "register_quality_checks",
    "register_health_checks",
    "register_fix_types",
    "register_event_types",
    "register_commands",
    "event_appended",
)

__all__ = ["hookspec", "hookimpl", "HOOK_NAMES", "Any"]
