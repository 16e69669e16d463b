"""Governed apply of Builder replies: parse → govern → apply, all or nothing.

The executor records ``proposed_event`` for a Builder reply, calls
``governed_apply``, and records ``refused_event`` or ``applied_event`` from its
result.
"""

from autopack_core.patching.apply import (
    ApplyResult,
    applied_event,
    governed_apply,
    proposed_event,
    refused_event,
)
from autopack_core.patching.governance import DEFAULT_POLICY, RULES, GovernancePolicy
from autopack_core.patching.parse import Block, FileEdit, Hunk, parse_reply

__all__ = [
    "ApplyResult",
    "Block",
    "DEFAULT_POLICY",
    "FileEdit",
    "GovernancePolicy",
    "Hunk",
    "RULES",
    "applied_event",
    "governed_apply",
    "proposed_event",
    "parse_reply",
    "refused_event",
]
