"""The read side: what the listing commands ask of the event store.

The one place that reads the store for listings (``runs``, ``show``,
``events``), so a read-only way of opening it, an index or a cache needs to
change only here. Folding is ``projections``; output is ``views``.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import attrs

from autopack_core.errors import AutopackError, BrokenLog
from autopack_core.events import is_run_stream
from autopack_core.projections import RunView, fold_run, phases_done
from autopack_core.store import EventStore, RawRow


@attrs.frozen
class RunSummary:
    run_id: str
    status: str
    goal: str
    events: int
    phases_done: int
    phases_total: int
    created_ts: str


def summarize_runs(store: EventStore) -> list[RunSummary]:
    """One line per run, newest first (run ids are ULIDs, so they sort by time)."""
    out = []
    for run_id in store.run_ids():
        if not is_run_stream(run_id):
            continue
        try:
            view = fold_run(store.iter_events(run_id))
        except BrokenLog as exc:
            # One bad log does not hide the others; `show` and `verify` name the event.
            out.append(RunSummary(run_id, "broken", f"(seq {exc.seq}: {exc.message})", 0, 0, 0, ""))
            continue
        out.append(
            RunSummary(run_id, view.status, view.goal, view.seq, phases_done(view), len(view.phases), view.created_ts)
        )
    out.sort(key=lambda s: (s.created_ts, s.run_id), reverse=True)
    return out


def run_view(store: EventStore, ref: str) -> RunView:
    """The projection of the run ``ref`` names (a run id or a unique prefix)."""
    return fold_run(store.iter_events(store.resolve_run(ref)))


def check_types(known: Iterable[str], wanted: Iterable[str]) -> frozenset[str]:
    """``wanted`` if every tag is a known event type; else bad input (exit 2) naming the known ones."""
    known_set = set(known)
    unknown = sorted(set(wanted) - known_set)
    if unknown:
        names = ", ".join(repr(t) for t in unknown)
        raise AutopackError(f"unknown event type {names} for --type (known: {', '.join(sorted(known_set))})")
    return frozenset(wanted)


def event_rows(store: EventStore, ref: str, types: Iterable[str] = ()) -> Iterator[RawRow]:
    """The rows of run ``ref`` in order, only those of ``types`` when given.

    The type filter is checked before anything is read: a typo is an error,
    not an empty listing.
    """
    wanted = check_types(store.codec.types, types)
    run_id = store.resolve_run(ref)
    for row in store.iter_raw(run_id):
        if not wanted or row.type in wanted:
            yield row
