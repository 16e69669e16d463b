"""The shapes of the objects plugins register (quality and health checks).

Registered objects are duck-typed against these protocols; the outcome classes
are what their ``async`` methods return.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Protocol

import attrs


@attrs.frozen(kw_only=True)
class CheckOutcome:
    """A quality check's verdict; ``output`` is fed back to the Builder on retry."""

    passed: bool
    output: str = ""
    duration_ms: float = 0.0


class QualityCheck(Protocol):
    description: str

    async def run(self, workspace: Path, options: Mapping[str, str]) -> CheckOutcome: ...


@attrs.frozen(kw_only=True)
class HealthContext:
    workspace: Path
    db_path: Path
    required_env: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class HealthOutcome:
    ok: bool
    detail: str = ""


class HealthCheck(Protocol):
    tier: str  # "t0" or "t1"
    description: str

    async def run(self, context: HealthContext) -> HealthOutcome: ...
