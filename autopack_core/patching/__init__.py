"""Governed apply of Builder replies: parse → govern → apply, all or nothing.

The executor parses a Builder reply once (``parse_reply``), records
``proposed_event`` from the text and the edits, calls ``governed_apply`` with
the edits, and records ``refused_event`` or ``applied_event`` from its result.

The names below are loaded on first use (PEP 562), so importing one
submodule (``patching.governance`` for the policy, say) does not import the
whole applier.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "ApplyResult": "apply",
    "governed_apply": "apply",
    "protect_config": "apply",
    "DEFAULT_POLICY": "governance",
    "RULES": "governance",
    "GovernancePolicy": "governance",
    "Block": "parse",
    "FileEdit": "parse",
    "Hunk": "parse",
    "parse_reply": "parse",
    "applied_event": "records",
    "proposed_event": "records",
    "refused_event": "records",
}

__all__ = [
    "DEFAULT_POLICY",
    "RULES",
    "ApplyResult",
    "Block",
    "FileEdit",
    "GovernancePolicy",
    "Hunk",
    "applied_event",
    "governed_apply",
    "parse_reply",
    "proposed_event",
    "protect_config",
    "refused_event",
]

if TYPE_CHECKING:
    from autopack_core.patching.apply import ApplyResult, governed_apply, protect_config
    from autopack_core.patching.governance import DEFAULT_POLICY, RULES, GovernancePolicy
    from autopack_core.patching.parse import Block, FileEdit, Hunk, parse_reply
    from autopack_core.patching.records import applied_event, proposed_event, refused_event


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
