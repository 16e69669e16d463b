"""``autopack patch check|apply``: governed apply alone, for people writing
config and plugins.

Only click and the standard library are imported here; the patch machinery is
imported when a command runs, so ``autopack --help`` stays fast.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any, Callable

import click

from autopack_core.commands.options import config_option
from autopack_core.errors import EXIT_FAILED, AutopackError, PatchError, PatchParseError


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
    import attrs

    from autopack_core.config_load import default_config_path, load_config
    from autopack_core.patching import governed_apply, protect_config
    from autopack_core.patching.escape import shown
    from autopack_core.patching.governance import check_patch_size

    # The same policy a run in this workspace would use: its config's
    # governance section, with the command-line flags on top.
    base = load_config(config_path, workspace=workspace).governance
    policy = attrs.evolve(
        base,
        protected_paths=base.protected_paths + tuple(protect),
        allow_binary_patches=allow_binary or base.allow_binary_patches,
        fuzz=base.fuzz if fuzz is None else fuzz,
    )
    # The config that governs this apply must not be rewritten by it.
    policy = protect_config(policy, config_path or default_config_path(workspace), workspace)
    name = "-" if str(patchfile) == "-" else str(patchfile)
    data = _read_capped(patchfile, policy.max_patch_bytes)
    if data is None:
        _refuse(check_patch_size(policy.max_patch_bytes + 1, policy, path=name))
    try:
        result = governed_apply(data, workspace, policy, dry_run=dry_run)
    except PatchParseError as exc:
        # Not a patch at all (empty, garbage, broken header): bad input.
        raise AutopackError(shown(str(exc))) from None
    except PatchError as exc:
        raise PatchError(shown(str(exc))) from None
    if result.refusals:
        _refuse(result.refusals)
    verb = "would change" if dry_run else "changed"
    click.echo(f"{verb} {len(result.files)} file(s)")
    for f in result.files:
        click.echo(f"  {shown(f)}")


def _refuse(refusals: Any) -> None:
    from autopack_core.patching.escape import shown

    for r in refusals:
        click.echo(f"autopack: refused: {shown(r.path)}: {r.rule}: {shown(r.message)}", err=True)
    click.echo(f"autopack: patch refused ({len(refusals)} reason(s)); nothing was written", err=True)
    sys.exit(EXIT_FAILED)


def _read_capped(patchfile: Path, limit: int) -> bytes | None:
    """The patch's bytes, or None when it holds more than ``limit``: never
    more than ``limit`` + 1 bytes are read (stdin, ``/dev/zero``, a FIFO)."""
    from autopack_core.patching.escape import shown

    if str(patchfile) == "-":
        return _read_stream(click.get_binary_stream("stdin"), limit)
    try:
        with open(patchfile, "rb") as fh:
            st = os.fstat(fh.fileno())
            if stat.S_ISREG(st.st_mode) and st.st_size > limit:
                return None
            return _read_stream(fh, limit)
    except OSError as exc:
        raise AutopackError(f"{shown(str(patchfile))}: {exc.strerror}") from None


def _read_stream(fh: Any, limit: int) -> bytes | None:
    # In chunks: read(limit + 1) would allocate the whole limit up front.
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = fh.read(min(1 << 20, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    return None


@patch_group.command()
@_patch_options
def check(
    patchfile: Path,
    workspace: Path,
    protect: tuple[str, ...],
    allow_binary: bool,
    fuzz: int | None,
    config_path: Path | None,
) -> None:
    """Say whether PATCHFILE (or - for stdin) would apply; write nothing.

    Exit 0 if it would apply, 1 if refused or it does not fit (reasons on
    stderr), 2 on bad usage.
    """
    _run(patchfile, workspace, protect, allow_binary, fuzz, config_path, dry_run=True)


@patch_group.command()
@_patch_options
def apply(
    patchfile: Path,
    workspace: Path,
    protect: tuple[str, ...],
    allow_binary: bool,
    fuzz: int | None,
    config_path: Path | None,
) -> None:
    """Apply PATCHFILE (or - for stdin) to the workspace, all files or none.

    Exit 0 when applied, 1 if refused or it does not fit (reasons on stderr;
    the workspace is left untouched), 2 on bad usage.
    """
    _run(patchfile, workspace, protect, allow_binary, fuzz, config_path, dry_run=False)
