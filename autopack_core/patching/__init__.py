"""Governed apply of Builder replies: parse → govern → apply, all or nothing.

The executor calls ``governed_apply``; ``refused_event`` / ``applied_event``
turn its result into the events the run records.
"""

from autopack_core.patching.apply import ApplyResult, applied_event, governed_apply, refused_event
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
    "parse_reply",
    "refused_event",
]
