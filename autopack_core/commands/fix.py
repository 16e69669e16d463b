"""``autopack fix check``: would a fix type let a Doctor's command run?

The command is given exactly as the Doctor sends it in ``fix_commands``, as
one argument. Nothing is ever executed: the check reads the command and the
workspace's file system (to resolve paths) and prints its verdict.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from autopack_core.commands.options import config_option
from autopack_core.errors import EXIT_BAD_INPUT, EXIT_FAILED, AutopackError


@click.group(name="fix")
def fix_group() -> None:
    """Check Doctor fix commands (execute_fix) against their fix type's allowlist."""


@fix_group.command(name="check")
@click.option(
    "--type", "type_name", required=True, metavar="TYPE", help="Fix type: git, file, python, ... (autopack plugins)."
)
@click.option(
    "--workspace",
    "-w",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Workspace the command would run in; paths must stay inside it.",
)
@click.option(
    "--run-commit",
    "run_commits",
    multiple=True,
    metavar="SHA",
    help="A commit of the run (repeatable): an allowed target for git reset.",
)
@click.option(
    "--run-branch",
    "run_branches",
    multiple=True,
    metavar="NAME",
    help="A branch the run created (repeatable): it may be deleted or force-moved.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as a JSON object.")
@config_option
@click.argument("command", metavar="-- 'COMMAND'")
@click.pass_obj
def check(
    app: object,
    type_name: str,
    workspace: Path,
    run_commits: tuple[str, ...],
    run_branches: tuple[str, ...],
    as_json: bool,
    config_path: Path | None,
    command: str,
) -> None:
    """Say whether COMMAND would be allowed; never run it.

    Exit 0 if allowed (the argv that would run is printed), 1 if refused
    ("rule: reason" on stderr), 2 on bad usage (an unknown type lists the
    known ones).
    """
    from autopack_core.config_load import load_config
    from autopack_core.contracts import FixContext, FixTypeSettings, FixVerdict

    plugins = getattr(app, "plugins", None)
    if plugins is None:
        from autopack_core.plugins import load_plugins

        plugins = load_plugins()
    types = plugins.registry("fix_types")
    if type_name not in types:
        known = ", ".join(sorted(types)) or "none"
        raise AutopackError(f"unknown fix type {type_name!r} (known: {known})")
    config = load_config(config_path, workspace=workspace)
    doctor = config.doctor
    context = FixContext(
        workspace=workspace.resolve(),
        protected=config.governance,
        run_commits=run_commits,
        run_branches=run_branches,
        settings=doctor.fix_types.get(type_name, FixTypeSettings()),
    )
    fix_type = types[type_name].obj
    try:
        verdict = fix_type.check(command, context)
        if not isinstance(verdict, FixVerdict):
            raise TypeError(f"check() returned {type(verdict).__name__}, not FixVerdict")
    except Exception as exc:  # noqa: BLE001 - a plugin's broken check fails closed
        verdict = FixVerdict(
            allowed=False,
            rule="check-error",
            reason=(
                f"fix type {type_name!r} ({types[type_name].plugin}) could not check the command: "
                f"{type(exc).__name__}: {exc}"
            ),
        )
    if type_name not in doctor.allowed_fix_types:
        click.echo(
            f"autopack: note: {type_name!r} is not in doctor.allowed_fix_types of {config.source}; "
            "a run would not use it",
            err=True,
        )
    if as_json:
        import orjson

        data = {
            "allowed": verdict.allowed,
            "rule": verdict.rule,
            "reason": verdict.reason,
            "argv": list(verdict.argv),
            "manual": verdict.manual,
        }
        click.echo(orjson.dumps(data).decode())
    if not verdict.allowed:
        manual = " (requires manual intervention; never run)" if verdict.manual else ""
        click.echo(f"autopack: refused: {verdict.rule}: {verdict.reason}{manual}", err=True)
        sys.exit(EXIT_FAILED)
    if not as_json:
        click.echo(verdict.line())


__all__ = ["EXIT_BAD_INPUT", "fix_group"]
