"""``autopack plugins``: what is loaded, from which distribution, with which hooks."""

from __future__ import annotations

import click

from autopack_core.commands.options import AppContext, pass_app


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def plugins(app: AppContext, as_json: bool) -> None:
    """List loaded plugins with their distribution, version and hooks."""
    ps = app.plugins
    if as_json:
        import orjson

        data = {
            "plugins": [
                {
                    "name": i.name,
                    "distribution": i.distribution,
                    "version": i.version,
                    "module": i.module,
                    "hooks": list(i.hooks),
                }
                for i in ps.infos
            ],
            "failures": [{"name": f.name, "distribution": f.distribution, "error": f.error} for f in ps.failures],
        }
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    if not ps.infos:
        click.echo("no plugins loaded")
    for i in ps.infos:
        click.echo(f"{i.name}  ({i.distribution} {i.version})  {i.module}")
        for h in i.hooks:
            click.echo(f"    {h}")


COMMANDS = (plugins,)
