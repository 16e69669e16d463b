"""Test-only switches that kill the process at chosen points, to prove resume works.

``AUTOPACK_TEST_CRASH_AFTER_EVENTS=N``: ``os._exit(137)`` right after the
append that brings the events this process wrote to ``N`` or more (no
``finally`` block, no ``atexit``: like kill -9). ``AUTOPACK_TEST_CRASH_AT=name``
(optionally ``name:k`` for the k-th time): exit right after the named effect
(``apply``, ``checkpoint``, ``reset``, ``rollback``, ``branch``) and before its
outcome is recorded. Unset, both cost one dictionary lookup at start.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

CRASH_EXIT_CODE = 137


#: Appends that do not move a resumed run forward (for ``AUTOPACK_TEST_CRASH_AFTER_STEPS``).
_OVERHEAD = frozenset({"run_resumed", "workspace_reconciled", "model_call_requested"})


def event_counter_observer() -> Callable[[Sequence[Any]], None] | None:
    raw = os.environ.get("AUTOPACK_TEST_CRASH_AFTER_EVENTS")
    steps = os.environ.get("AUTOPACK_TEST_CRASH_AFTER_STEPS")
    if not raw and not steps:
        return None
    limit = int(raw or 0)
    step_limit = int(steps or 0)
    seen = [0, 0]

    def observe(envelopes: Sequence[Any]) -> None:
        seen[0] += len(envelopes)
        if any(env.event.type not in _OVERHEAD for env in envelopes):
            seen[1] += 1
        if (limit and seen[0] >= limit) or (step_limit and seen[1] >= step_limit):
            os._exit(CRASH_EXIT_CODE)

    return observe


class EffectCrash:
    def __init__(self) -> None:
        raw = os.environ.get("AUTOPACK_TEST_CRASH_AT", "")
        name, _, nth = raw.partition(":")
        self.name = name
        self.nth = int(nth) if nth else 1
        self.count = 0

    def __call__(self, effect: str) -> None:
        if effect == self.name:
            self.count += 1
            if self.count >= self.nth:
                os._exit(CRASH_EXIT_CODE)
