"""Built-in quality checks: ``pytest`` and ``command``."""

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

from autopack_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from autopack_core.contracts import CheckOutcome

OUTPUT_LIMIT = 20_000  # characters kept for the Builder; the tail holds the failures


async def run_argv(argv: list[str], cwd: Path, timeout_s: float) -> CheckOutcome:
    """Run ``argv`` without a shell; pass when it exits 0."""
    # Imported here: every ``autopack`` start loads this module.
    import asyncio

    from autopack_core.contracts import CheckOutcome

    start = time.perf_counter()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=str(cwd),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
    except OSError as exc:
        return CheckOutcome(passed=False, output=f"cannot run {argv[0]!r}: {exc.strerror}")
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        return CheckOutcome(
            passed=False,
            output=f"{shlex.join(argv)} timed out after {timeout_s:g}s",
            duration_ms=(time.perf_counter() - start) * 1000,
        )
    text = out.decode(errors="replace")[-OUTPUT_LIMIT:]
    return CheckOutcome(passed=proc.returncode == 0, output=text, duration_ms=(time.perf_counter() - start) * 1000)


class PytestCheck:
    description = "runs the workspace's test suite with pytest (options: args, timeout)"

    async def run(self, workspace: Path, options: Mapping[str, str]) -> CheckOutcome:
        args = shlex.split(options.get("args", "-q"))
        return await run_argv([sys.executable, "-m", "pytest", *args], workspace, float(options.get("timeout", "600")))


class CommandCheck:
    description = "runs the command in option 'run' (no shell); passes on exit 0"

    async def run(self, workspace: Path, options: Mapping[str, str]) -> CheckOutcome:
        from autopack_core.contracts import CheckOutcome

        command = options.get("run", "").strip()
        if not command:
            return CheckOutcome(passed=False, output="the command check needs a 'run' option")
        return await run_argv(shlex.split(command), workspace, float(options.get("timeout", "600")))


@hookimpl
def register_quality_checks(register: Callable[[str, object], None]) -> None:
    register("pytest", PytestCheck())
    register("command", CommandCheck())
