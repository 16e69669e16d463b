"""The ``autopack`` command line.

Start-up stays light: this module imports click and the plugin loader only;
each command imports what it needs when it runs. User errors
(``AutopackError``) become one line on stderr and an exit code; tracebacks
appear only with ``AUTOPACK_RAISE_ERRORS=1``.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import click

from autopack_core import __version__
from autopack_core.errors import EXIT_BAD_INPUT, AutopackError

if TYPE_CHECKING:
    from autopack_core.plugins import PluginSet
    from autopack_core.store import EventStore

DEFAULT_DB = Path(".autopack") / "autopack.db"


class AppContext:
    """What every command shares: the loaded plugins and how to open the store."""

    def __init__(self, plugins: "PluginSet") -> None:
        self.plugins = plugins

    def open_store(self, db: Path, *, create: bool = False, durable: bool = True) -> "EventStore":
        from autopack_core.store import EventStore

        if not create and not db.exists():
            raise AutopackError(f"no event store at {db} (pass --db PATH or set AUTOPACK_DB)")
        return EventStore(db, self.plugins.codec, durable=durable, observers=[self._notify], create=create)

    def _notify(self, envelopes: Sequence[Any]) -> None:
        self.plugins.hook.event_appended(envelopes=envelopes)


def db_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db",
        "db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=DEFAULT_DB,
        envvar="AUTOPACK_DB",
        show_default=True,
        help="Event store (SQLite). Also AUTOPACK_DB.",
    )(f)


pass_app = click.make_pass_decorator(AppContext)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="autopack")
@click.option(
    "--disable-plugin",
    multiple=True,
    metavar="NAME",
    help="Do not load this plugin (repeatable).",
)
def cli(disable_plugin: tuple[str, ...]) -> None:
    """Autopack: autonomous build runs recorded in a replayable event log."""


@cli.command()
@db_option
@pass_app
def runs(app: AppContext, db: Path) -> None:
    """List runs in the store, newest first."""
    from autopack_core.projections import summarize_runs

    with app.open_store(db) as store:
        rows = summarize_runs(store)
    if not rows:
        click.echo("no runs")
        return
    click.echo(f"{'RUN':<28} {'STATUS':<12} {'PHASES':>7} {'EVENTS':>7}  GOAL")
    for r in rows:
        click.echo(f"{r.run_id:<28} {r.status:<12} {r.phases_done:>3}/{r.phases_total:<3} {r.events:>7}  {r.goal[:60]}")


@cli.command()
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Print the projection as JSON.")
@db_option
@pass_app
def show(app: AppContext, run: str, as_json: bool, db: Path) -> None:
    """Show a run's state: status, phases, attempts, budgets, tokens and cost."""
    from autopack_core.projections import fold_run, view_to_dict

    with app.open_store(db) as store:
        run_id = store.resolve_run(run)
        view = fold_run(store.iter_events(run_id))
    if as_json:
        import orjson

        click.echo(orjson.dumps(view_to_dict(view), option=orjson.OPT_INDENT_2).decode())
        return
    from autopack_core.projections import render_view

    click.echo(render_view(view))


@cli.command()
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (envelope + payload).")
@click.option("--type", "types", multiple=True, help="Only events of this type (repeatable).")
@db_option
@pass_app
def events(app: AppContext, run: str, as_json: bool, types: tuple[str, ...], db: Path) -> None:
    """List a run's events in order."""
    from autopack_core.jsonl import event_line, summarize_payload

    wanted = set(types)
    with app.open_store(db) as store:
        run_id = store.resolve_run(run)
        out = click.get_text_stream("stdout")
        for row in store.iter_raw(run_id):
            if wanted and row.type not in wanted:
                continue
            if as_json:
                out.write(event_line(row, with_run=True) + "\n")
            else:
                out.write(f"{row.seq:>6}  {row.ts}  {row.type:<22} {summarize_payload(row.payload)}\n")


@cli.command(name="export")
@click.argument("run")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
@db_option
@pass_app
def export_cmd(app: AppContext, run: str, output: Path | None, db: Path) -> None:
    """Write a run's events as JSON Lines."""
    from autopack_core.jsonl import export_run

    with app.open_store(db) as store:
        run_id = store.resolve_run(run)
        if output is None:
            export_run(store, run_id, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            tmp = output.with_name(output.name + ".part")
            with open(tmp, "wb") as fh:
                export_run(store, run_id, fh)
            os.replace(tmp, output)


@cli.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@db_option
@pass_app
def import_cmd(app: AppContext, file: Path, db: Path) -> None:
    """Read a run exported as JSON Lines (FILE or - for stdin) into the store."""
    from autopack_core.jsonl import import_run

    with app.open_store(db, create=True) as store:
        if str(file) == "-":
            run_id, count = import_run(store, sys.stdin.buffer, "<stdin>")
        else:
            try:
                fh = open(file, "rb")
            except OSError as exc:
                raise AutopackError(f"{file}: {exc.strerror}") from exc
            with fh:
                run_id, count = import_run(store, fh, str(file))
    click.echo(f"imported run {run_id} ({count} events)")


@cli.command()
@click.argument("run", required=False)
@db_option
@pass_app
def verify(app: AppContext, run: str | None, db: Path) -> None:
    """Check the hash chain of one run (or all) and report the first bad event."""
    from autopack_core.integrity import verify_store

    with app.open_store(db) as store:
        run_ids = [store.resolve_run(run)] if run else None
        problems, checked = verify_store(store, run_ids)
    for p in problems:
        click.echo(p.line(), err=True)
    if problems:
        sys.exit(1)
    click.echo(f"ok: {checked} run(s) verified")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def plugins(app: AppContext, as_json: bool) -> None:
    """List loaded plugins with their distribution, version and hooks."""
    ps = app.plugins
    if as_json:
        import orjson

        data = {
            "plugins": [
                {"name": i.name, "distribution": i.distribution, "version": i.version, "module": i.module, "hooks": list(i.hooks)}
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


def _add_builtin_commands() -> None:
    from autopack_core.commands.models import models, prompt
    from autopack_core.commands.fix import fix_group
    from autopack_core.commands.patch import patch_group
    from autopack_core.commands.roles import roles_group

    cli.add_command(prompt)
    cli.add_command(models)
    cli.add_command(patch_group)
    cli.add_command(roles_group)
    cli.add_command(fix_group)


_add_builtin_commands()


def _disabled_from_argv(argv: Sequence[str]) -> list[str]:
    # Plugins add commands, so they load before click parses; read the one
    # option that affects loading straight from argv.
    out = []
    for i, arg in enumerate(argv):
        if arg == "--disable-plugin" and i + 1 < len(argv):
            out.append(argv[i + 1])
        elif arg.startswith("--disable-plugin="):
            out.append(arg.split("=", 1)[1])
    return out


def _raise_errors() -> bool:
    return os.environ.get("AUTOPACK_RAISE_ERRORS", "") not in ("", "0")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``autopack`` command."""
    from autopack_core.plugins import load_plugins

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        plugin_set = load_plugins(disabled=_disabled_from_argv(args))
    except AutopackError as exc:
        click.echo(f"autopack: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    for failure in plugin_set.failures:
        click.echo(failure.line(), err=True)
    plugin_set.hook.register_commands(cli=cli)
    app = AppContext(plugin_set)
    try:
        rv = cli.main(args=args, prog_name="autopack", standalone_mode=False, obj=app)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_BAD_INPUT if isinstance(exc, click.UsageError) else exc.exit_code)
    except AutopackError as exc:
        if _raise_errors():
            raise
        click.echo(f"autopack: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except sqlite3.DatabaseError as exc:
        # Corruption inside an SQLite file shows only when a page is read.
        if _raise_errors():
            raise
        click.echo(f"autopack: error: the event store is damaged or unreadable: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
