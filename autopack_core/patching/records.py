"""The events a governed apply is recorded by: ``PatchProposed`` before it,
``PatchRefused`` or ``PatchApplied`` after.

The executor parses a Builder reply once (``parse_reply``), records
``proposed_event`` from the text and those edits, passes the same edits to
``governed_apply`` and records the outcome.
"""

from __future__ import annotations

from collections.abc import Sequence

from autopack_core.errors import PatchError
from autopack_core.events import PatchApplied, PatchProposed, PatchRefused, Refusal
from autopack_core.patching.apply import ApplyResult, format_of
from autopack_core.patching.parse import FileEdit, parse_reply


def proposed_event(phase_id: str, reply: str | bytes, edits: Sequence[FileEdit] | None = None) -> PatchProposed:
    """The ``PatchProposed`` event for a Builder reply: its text, format and
    the files it names. ``edits`` are the reply's parsed edits; without them
    the reply is parsed here (raising ``PatchParseError`` like ``parse_reply``)."""
    if edits is None:
        edits = parse_reply(reply)
    text = reply if isinstance(reply, str) else reply.decode("utf-8", "surrogateescape")
    files = sorted({p for e in edits for p in (e.old_path, e.new_path) if p is not None})
    return PatchProposed(phase_id=phase_id, text=text, format=format_of(edits), files=tuple(files))


def refused_event(phase_id: str, result: ApplyResult | PatchError | Sequence[Refusal]) -> PatchRefused:
    """The ``PatchRefused`` event for a refusal (an ``ApplyResult``, a
    ``PatchRefusedError`` or the refusals themselves)."""
    if isinstance(result, ApplyResult):
        reasons = result.refusals
    elif isinstance(result, PatchError):
        reasons = tuple(getattr(result, "refusals", ()))
    else:
        reasons = tuple(result)
    return PatchRefused(phase_id=phase_id, reasons=tuple(reasons))


def applied_event(phase_id: str, result: ApplyResult, commit: str = "") -> PatchApplied:
    """The ``PatchApplied`` event for a successful apply."""
    return PatchApplied(phase_id=phase_id, files=result.files, commit=commit)
