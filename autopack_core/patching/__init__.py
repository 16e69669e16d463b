"""Governed apply of Builder replies: parse → govern → apply, all or nothing.

The executor parses a Builder reply once (``parse_reply``), records
``proposed_event`` from the text and the edits, calls ``governed_apply`` with
the edits, and records ``refused_event`` or ``applied_event`` from its result.
"""

from autopack_core.patching.apply import ApplyResult, governed_apply, protect_config
from autopack_core.patching.governance import DEFAULT_POLICY, RULES, GovernancePolicy
from autopack_core.patching.parse import Block, FileEdit, Hunk, parse_reply
from autopack_core.patching.records import applied_event, proposed_event, refused_event

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
