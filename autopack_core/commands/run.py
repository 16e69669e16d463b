"""``autopack run``, ``autopack resume`` and ``autopack demo``.

Only click is imported at start-up; the executor is imported when a command runs.
Exit codes: 0 the run completed, 1 it failed (or was rolled back), 2 bad
input (plan, config, workspace refused), 130 interrupted (resumable).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from autopack_core.commands.options import config_option, workspace_db_option


def _output_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--json", "as_json", is_flag=True, help="One JSON object per event on stdout (for scripts).")(f)
    f = click.option(
        "--plain", is_flag=True, help="key=value lines instead of the live display (the default without a terminal)."
    )(f)
    return f


def _progress_factory(as_json: bool, plain: bool) -> Callable[[Any], Any]:
    from autopack_core.executor.progress import configure_logging, make_progress

    mode = "json" if as_json else ("plain" if plain else "auto")
    configure_logging(mode)
    return lambda codec: make_progress(mode, codec)


def _run_async(coro: Any) -> tuple[int, str, Path]:
    import asyncio

    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        click.echo("autopack: interrupted; the run can be continued with autopack resume", err=True)
        sys.exit(130)


def _run_and_exit(coro: Any) -> NoReturn:
    """Drive a run (start or resume) to its end, say where its log is, and exit with its code."""
    code, run_id, db = _run_async(coro)
    click.echo(
        f"run {run_id}: exit {code}. Look at it with: autopack show {run_id} --db {db}   "
        f"autopack events {run_id} --db {db}"
        + (f"   (resume: autopack resume {run_id} --db {db})" if code not in (0, 1) else ""),
        err=True,
    )
    sys.exit(code)


@click.command()
@click.argument("plan", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--workspace",
    "-w",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The git repository the run works in.",
)
@config_option
@workspace_db_option
@_output_options
@click.pass_obj
def run(
    app: Any, plan: Path, workspace: Path, config_path: Path | None, db: Path | None, as_json: bool, plain: bool
) -> None:
    """Run PLAN (a YAML plan file) against a git workspace, phase by phase.

    Exit 0 when every phase completed, 1 when the run failed or was rolled
    back, 2 on a bad plan, config or workspace (nothing written), 130 when
    interrupted (continue with autopack resume).
    """
    from autopack_core.executor.runner import start_run

    _run_and_exit(
        start_run(
            plugins=app.plugins,
            plan_path=plan,
            workspace=workspace,
            config_path=config_path,
            db=db,
            progress_factory=_progress_factory(as_json, plain),
        )
    )


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option(
    "--workspace",
    "-w",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The run's workspace (default: the one recorded in the run; its .autopack/autopack.db is the default store).",
)
@config_option
@workspace_db_option
@_output_options
@click.pass_obj
def resume(
    app: Any,
    run_ref: str,
    workspace: Path | None,
    config_path: Path | None,
    db: Path | None,
    as_json: bool,
    plain: bool,
) -> None:
    """Continue RUN from its event log after a crash, kill -9 or Ctrl-C.

    The workspace is reconciled with the log first; no patch is applied twice,
    no checkpoint committed twice, and no model asked again for an answer the
    log holds. Exit codes as for run.
    """
    from autopack_core.executor.runner import resume_run

    _run_and_exit(
        resume_run(
            plugins=app.plugins,
            run=run_ref,
            workspace=workspace,
            config_path=config_path,
            db=db,
            progress_factory=_progress_factory(as_json, plain),
        )
    )


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to create the demo workspace in (must not exist or be empty). Default: a new temporary folder.",
)
@_output_options
@click.pass_obj
def demo(app: Any, directory: Path | None, as_json: bool, plain: bool) -> None:
    """Copy a small example project with a failing test and fix it, offline.

    The models are played by the recorded provider (a bundled cassette): the
    Builder's first patch does not apply, the Doctor answers retry_with_fix,
    the second patch applies, the Auditor approves and pytest passes; a second
    phase shows a failing check fed back to the Builder and fixed.
    """
    from autopack_core.demo import prepare_demo

    target, plan, config = prepare_demo(directory)
    from autopack_core.executor.runner import start_run

    click.echo(f"demo workspace: {target}", err=True)
    code, run_id, db_path = _run_async(
        start_run(
            plugins=app.plugins,
            plan_path=plan,
            workspace=target,
            config_path=config,
            db=None,
            progress_factory=_progress_factory(as_json, plain),
        )
    )
    click.echo(
        "\nLook at the run:\n"
        f"  autopack show {run_id} --db {db_path}\n"
        f"  autopack events {run_id} --db {db_path}\n"
        f"  autopack verify {run_id} --db {db_path}\n"
        f"  git -C {target} log --oneline",
        err=as_json,
    )
    sys.exit(code)


COMMANDS = [run, resume, demo]
