"""The event-log commands: ``runs``, ``show``, ``events`` (read side), ``export``, ``import``, ``verify``.

click and the options module only at the top; each command imports what it
needs when it runs, so ``autopack --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from autopack_core.commands.options import AppContext, db_option, pass_app
from autopack_core.errors import EXIT_FAILED, AutopackError


@click.command()
@db_option
@pass_app
def runs(app: AppContext, db: Path) -> None:
    """List runs in the store, newest first."""
    from autopack_core.queries import summarize_runs
    from autopack_core.views import render_runs_table

    with app.open_store(db, readonly=True) as store:
        rows = summarize_runs(store)
    if not rows:
        click.echo("no runs")
        return
    click.echo("\n".join(render_runs_table(rows)))


@click.command()
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Print the projection as JSON.")
@db_option
@pass_app
def show(app: AppContext, run: str, as_json: bool, db: Path) -> None:
    """Show a run's state: status, phases, attempts, budgets, tokens and cost."""
    from autopack_core.queries import run_view
    from autopack_core.views import render_view, view_to_dict

    with app.open_store(db, readonly=True) as store:
        view = run_view(store, run)
    if as_json:
        import orjson

        click.echo(orjson.dumps(view_to_dict(view), option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(render_view(view))


@click.command()
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (envelope + payload).")
@click.option("--type", "types", multiple=True, help="Only events of this type (repeatable).")
@db_option
@pass_app
def events(app: AppContext, run: str, as_json: bool, types: tuple[str, ...], db: Path) -> None:
    """List a run's events in order."""
    from autopack_core.jsonl import event_line, summarize_payload
    from autopack_core.queries import event_rows

    with app.open_store(db, readonly=True) as store:
        out = click.get_text_stream("stdout")
        for row in event_rows(store, run, types):
            if as_json:
                out.write(event_line(row, with_run=True) + "\n")
            else:
                out.write(f"{row.seq:>6}  {row.ts}  {row.type:<22} {summarize_payload(row.payload)}\n")


@click.command(name="export")
@click.argument("run")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
@db_option
@pass_app
def export_cmd(app: AppContext, run: str, output: Path | None, db: Path) -> None:
    """Write a run's events as JSON Lines."""
    from autopack_core.jsonl import export_run

    with app.open_store(db, readonly=True) as store:
        run_id = store.resolve_run(run)
        if output is None:
            export_run(store, run_id, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            tmp = output.with_name(output.name + ".part")
            with open(tmp, "wb") as fh:
                export_run(store, run_id, fh)
            os.replace(tmp, output)


@click.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@db_option
@pass_app
def import_cmd(app: AppContext, file: Path, db: Path) -> None:
    """Read a run exported as JSON Lines (FILE or - for stdin) into the store."""
    from autopack_core.jsonl import import_run

    if str(file) == "-":
        src, name = sys.stdin.buffer, "<stdin>"
    else:
        try:
            src, name = open(file, "rb"), str(file)  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            raise AutopackError(f"{file}: {exc.strerror}") from exc
    # A refused import leaves no store behind if it was the one to create it.
    with src, app.open_store(db, create=True, discard_if_refused=True) as store:
        run_id, count = import_run(store, src, name)
    click.echo(f"imported run {run_id} ({count} events)")


@click.command()
@click.argument("run", required=False)
@db_option
@pass_app
def verify(app: AppContext, run: str | None, db: Path) -> None:
    """Check the hash chain and the rules of one run (or all); report the first bad event."""
    from autopack_core.integrity import verify_store

    with app.open_store(db, readonly=True) as store:
        run_ids = [store.resolve_run(run)] if run else None
        problems, checked = verify_store(store, run_ids)
    for p in problems:
        click.echo(p.line(), err=True)
    if problems:
        sys.exit(EXIT_FAILED)
    click.echo(f"ok: {checked} run(s) verified")


COMMANDS = (runs, show, events, export_cmd, import_cmd, verify)
