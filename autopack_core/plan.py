"""The plan's data: a goal and an ordered list of phases.

These classes are also carried inside events (``RunCreated``, ``PlanRevised``),
so they are frozen and use tuples.
"""

from __future__ import annotations

import attrs

COMPLEXITIES = ("low", "medium", "high")


@attrs.frozen(kw_only=True)
class CheckSpec:
    """A quality check by plugin name, with plugin-specific string options."""

    name: str
    options: tuple[tuple[str, str], ...] = ()


@attrs.frozen(kw_only=True)
class PhaseSpec:
    id: str
    goal: str
    category: str = "feature"
    complexity: str = "medium"
    scope: tuple[str, ...] = ()
    checks: tuple[CheckSpec, ...] = ()
    optional: bool = False


@attrs.frozen(kw_only=True)
class Plan:
    goal: str
    phases: tuple[PhaseSpec, ...]
