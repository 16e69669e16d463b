"""Verifying a run's log: the first changed, removed, inserted or reordered event, then the run's rules.

The hash chain shows what was changed after the fact; anyone can write a
fresh chain, so a run's events are also held to the rules a live run's are
(``projections.fold_checked``).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import attrs

from autopack_core.errors import BrokenLog, EventDecodeError, UnknownEventType
from autopack_core.events import Envelope, is_run_stream
from autopack_core.projections import apply_checked
from autopack_core.store import GENESIS_HASH, EventStore, RawRow, chain_hash


@attrs.frozen
class Problem:
    run_id: str
    seq: int
    kind: str
    message: str

    def line(self) -> str:
        return f"run {self.run_id} seq {self.seq}: {self.kind}: {self.message}"


def verify_rows(run_id: str, rows: Iterable[RawRow]) -> Problem | None:
    """The first break in one run's chain, or None when every event verifies."""
    prev = GENESIS_HASH
    expected = 1
    it = iter(rows)
    row = next(it, None)
    while row is not None:
        nxt = next(it, None)
        if row.seq != expected:
            return Problem(
                run_id, expected, "removed", f"seq {expected} is missing (the next stored event is seq {row.seq})"
            )
        if chain_hash(prev, run_id, row.seq, row.ts, row.type, row.payload) != row.hash:
            # Edited in place, the event keeps its original hash, so the next
            # event still chains from it. Inserted, renumbered or moved events
            # break the chain on both sides.
            edited = (
                nxt is not None
                and nxt.seq == row.seq + 1
                and (chain_hash(row.hash, run_id, nxt.seq, nxt.ts, nxt.type, nxt.payload) == nxt.hash)
            )
            if edited or nxt is None:
                return Problem(run_id, row.seq, "changed", "content does not match its hash (edited outside Autopack)")
            return Problem(
                run_id,
                row.seq,
                "inserted or reordered",
                "the hash chain breaks here (events were inserted, renumbered or moved)",
            )
        prev = row.hash
        expected += 1
        row = nxt
    return None


def verify_store(store: EventStore, run_ids: Sequence[str] | None = None) -> tuple[list[Problem], int]:
    """Verify the given runs (default: all); returns (problems, runs checked)."""
    ids = list(run_ids) if run_ids is not None else store.run_ids()
    problems = []
    for run_id in ids:
        p = verify_rows(run_id, store.iter_raw(run_id))
        if p is None and is_run_stream(run_id):
            p = verify_rules(store, run_id)
        if p is not None:
            problems.append(p)
    return problems, len(ids)


def verify_rules(store: EventStore, run_id: str) -> Problem | None:
    """The first event of a run that does not decode or that its rules do not allow, or None.

    A run holding an event type of a plugin that is not loaded cannot be
    judged past that event and passes (its chain was checked).
    """
    view = None
    codec = store.codec
    for row in store.iter_raw(run_id):
        try:
            event = codec.decode(row.type, row.payload)
        except UnknownEventType:
            return None
        except EventDecodeError as exc:
            return Problem(run_id, row.seq, "undecodable", str(exc))
        try:
            view = apply_checked(view, Envelope(run_id, row.seq, row.ts, event, row.hash))
        except BrokenLog as exc:
            return Problem(run_id, exc.seq, "breaks the run's rules", exc.message)
    return None
