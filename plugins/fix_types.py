"""The built-in fix types (``git``, ``file``, ``python``, ``docker``, ``shell``) as a plugin.

The allowlists and their parsers live in ``fix_allowlists.py``; they are
imported when the fix types are first asked for, not when the plugin loads,
because every ``autopack`` start (``--help`` included) loads this module.
"""

from __future__ import annotations

from collections.abc import Callable

from autopack_core.hookspecs import hookimpl


@hookimpl
def register_fix_types(register: Callable[..., None]) -> None:
    from autopack_plugins.fix_allowlists import fix_types

    for t in fix_types():
        register(t.name, t)  # type: ignore[attr-defined]
