"""``autopack roles``: the model roles, where their prompt templates come from, and the shipped templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from autopack_core.commands.options import config_option


@click.group("roles", invoke_without_command=True)
@config_option
@click.pass_context
def roles_group(ctx: click.Context, config_path: Path | None) -> None:
    """List the model roles: name, plugin, description, template source.

    The template source is "shipped" (the role's own template) or the file a
    config's roles.NAME.template names. `autopack roles template NAME` prints
    a shipped template to start your own from.
    """
    if ctx.invoked_subcommand is not None:
        return
    from autopack_core.config_load import load_config
    from autopack_core.roles import template_source

    registry = ctx.obj.plugins.registry("roles")
    cfg = load_config(config_path)
    if not registry:
        click.echo("no roles registered (is the built-in roles plugin disabled?)")
    rows = [(name, r.plugin, template_source(cfg, name), _description(r.obj)) for name, r in sorted(registry.items())]
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(("ROLE", "PLUGIN", "TEMPLATE"))]
    if rows:
        click.echo(f"{'ROLE':<{widths[0]}}  {'PLUGIN':<{widths[1]}}  {'TEMPLATE':<{widths[2]}}  DESCRIPTION")
    for row in rows:
        click.echo(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}")
    for name in sorted(set(cfg.roles) - set(registry)):
        click.echo(
            f"autopack: warning: {cfg.source}: roles.{name}: no plugin registers a role {name!r} "
            f"(registered: {', '.join(sorted(registry)) or 'none'})",
            err=True,
        )


def _description(role: Any) -> str:
    return str(getattr(role, "description", "")).splitlines()[0] if getattr(role, "description", "") else ""


@roles_group.command("template")
@click.argument("name")
@click.pass_obj
def template_cmd(app: Any, name: str) -> None:
    """Print the shipped prompt template of role NAME.

    Save it next to your config, edit it, and point roles.NAME.template at
    it (docs/roles.md lists the placeholders).
    """
    from autopack_core.errors import AutopackError

    registry = app.plugins.registry("roles")
    if name not in registry:
        known = ", ".join(sorted(registry)) or "none"
        raise AutopackError(f"no role {name!r} (known: {known})")
    text = registry[name].obj.default_template
    click.echo(text, nl=not text.endswith("\n"))
