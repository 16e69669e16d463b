"""``autopack patch check|apply``: governed apply alone, for people writing
config and plugins.

Only click and the standard library are imported here; the patch machinery is
imported when a command runs, so ``autopack --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import click

from autopack_core.commands.options import config_option
from autopack_core.errors import EXIT_FAILED, AutopackError


@click.group(name="patch")
def patch_group() -> None:
    """Parse, check and apply a Builder reply under governance, as a run would."""


def _patch_options(f: Callable[..., Any]) -> Callable[..., Any]:
    decorators = [
        click.argument("patchfile", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path)),
        click.option(
            "--workspace",
            "-w",
            type=click.Path(exists=True, file_okay=False, path_type=Path),
            default=Path("."),
            show_default=True,
            help="Directory the patch applies to.",
        ),
        click.option(
            "--protect",
            multiple=True,
            metavar="GLOB",
            help="Extra protected path pattern (repeatable); .git/ and .autopack/ always are.",
        ),
        click.option("--allow-binary", is_flag=True, help="Do not refuse binary patches (overrides the config)."),
        click.option(
            "--fuzz",
            type=click.IntRange(0, 3),
            default=None,
            help="Context lines a hunk may lose at each end when it does not match exactly (default: the config's, 0).",
        ),
        config_option,
    ]
    for d in reversed(decorators):
        f = d(f)
    return f


def _run(
    patchfile: Path,
    workspace: Path,
    protect: tuple[str, ...],
    allow_binary: bool,
    fuzz: int | None,
    config_path: Path | None,
    *,
    dry_run: bool,
) -> None:
    from autopack_core.config_load import default_config_path, load_config
    from autopack_core.patching import governed_apply, protect_config

    # The same policy a run in this workspace would use: its config's
    # governance section, with the command-line flags on top.
    base = load_config(config_path, workspace=workspace).governance

    if str(patchfile) == "-":
        data = click.get_binary_stream("stdin").read()
    else:
        try:
            data = patchfile.read_bytes()
        except OSError as exc:
            raise AutopackError(f"{patchfile}: {exc.strerror}") from exc
    import attrs

    policy = attrs.evolve(
        base,
        protected_paths=base.protected_paths + tuple(protect),
        allow_binary_patches=allow_binary or base.allow_binary_patches,
        fuzz=base.fuzz if fuzz is None else fuzz,
    )
    # The config that governs this apply must not be rewritten by it.
    policy = protect_config(policy, config_path or default_config_path(workspace), workspace)
    result = governed_apply(data, workspace, policy, dry_run=dry_run)
    if result.refusals:
        for r in result.refusals:
            click.echo(f"autopack: refused: {r.path}: {r.rule}: {r.message}", err=True)
        click.echo(
            f"autopack: patch refused ({len(result.refusals)} reason(s)); nothing was written", err=True
        )
        sys.exit(EXIT_FAILED)
    verb = "would change" if dry_run else "changed"
    click.echo(f"{verb} {len(result.files)} file(s)")
    for f in result.files:
        click.echo(f"  {f}")


@patch_group.command()
@_patch_options
def check(
    patchfile: Path, workspace: Path, protect: tuple[str, ...], allow_binary: bool, fuzz: int | None, config_path: Path | None
) -> None:
    """Say whether PATCHFILE (or - for stdin) would apply; write nothing.

    Exit 0 if it would apply, 1 if refused or it does not fit (reasons on
    stderr), 2 on bad usage.
    """
    _run(patchfile, workspace, protect, allow_binary, fuzz, config_path, dry_run=True)


@patch_group.command()
@_patch_options
def apply(
    patchfile: Path, workspace: Path, protect: tuple[str, ...], allow_binary: bool, fuzz: int | None, config_path: Path | None
) -> None:
    """Apply PATCHFILE (or - for stdin) to the workspace, all files or none.

    Exit 0 when applied, 1 if refused or it does not fit (reasons on stderr;
    the workspace is left untouched), 2 on bad usage.
    """
    _run(patchfile, workspace, protect, allow_binary, fuzz, config_path, dry_run=False)
