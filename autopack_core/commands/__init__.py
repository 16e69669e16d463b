"""Every built-in command, one module per family; each imports only click at top level.

``cli.py`` adds ``builtin_commands()`` to the group; plugins add theirs with
the ``register_commands`` hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import click


def builtin_commands() -> list["click.Command"]:
    from autopack_core.commands import fix, log, models, patch, plugins, roles, run

    return [
        *run.COMMANDS,
        *log.COMMANDS,
        models.prompt,
        models.models,
        patch.patch_group,
        roles.roles_group,
        fix.fix_group,
        *plugins.COMMANDS,
    ]
