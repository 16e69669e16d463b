"""Built-in quality checks: ``pytest`` and ``command``, run by the core's ``procs`` runner."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

from autopack_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from autopack_core.contracts import CheckOutcome


async def run_check(argv: list[str], cwd: Path, timeout_s: float) -> CheckOutcome:
    """Run ``argv`` (no shell, scrubbed environment, group killed on timeout); pass when it exits 0."""
    # Imported here: every ``autopack`` start loads this module.
    from autopack_core.contracts import CheckOutcome
    from autopack_core.procs import run_argv

    result = await run_argv(argv, cwd, timeout_s, extra_env={"PYTHONDONTWRITEBYTECODE": "1"})
    return CheckOutcome(passed=result.ok, output=result.error or result.output, duration_ms=result.duration_ms)


class PytestCheck:
    description = "runs the workspace's test suite with pytest (options: args, timeout)"

    async def run(self, workspace: Path, options: Mapping[str, str]) -> CheckOutcome:
        args = shlex.split(options.get("args", "-q"))
        return await run_check([sys.executable, "-m", "pytest", *args], workspace, float(options.get("timeout", "600")))


class CommandCheck:
    description = "runs the command in option 'run' (no shell); passes on exit 0"

    async def run(self, workspace: Path, options: Mapping[str, str]) -> CheckOutcome:
        from autopack_core.contracts import CheckOutcome

        command = options.get("run", "").strip()
        if not command:
            return CheckOutcome(passed=False, output="the command check needs a 'run' option")
        return await run_check(shlex.split(command), workspace, float(options.get("timeout", "600")))


@hookimpl
def register_quality_checks(register: Callable[[str, object], None]) -> None:
    register("pytest", PytestCheck())
    register("command", CommandCheck())
