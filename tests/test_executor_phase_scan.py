"""The executor finds the active phase and the next pending one without scanning the plan each
step; for any scripted run (retries, skips, re-plans, rollbacks) both answers equal the scans."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_executor_property import AUDITOR, BUILDER, DOCTOR, Capture, Plugin, Script, template  # noqa: F401

from autopack_core.executor.loop import Executor
from autopack_core.executor.runner import start_run
from autopack_core.plugins import load_plugins

THREE_PHASES = """goal: g
phases:
  - {id: fix-add, goal: fix add, category: bugfix, complexity: low, scope: [app/core.py], checks: [flaky]}
  - {id: extra, goal: optional extra, category: feature, complexity: low, scope: [app/core.py],
     checks: [flaky], optional: true}
  - {id: last, goal: last one, category: feature, complexity: low, scope: [app/core.py],
     checks: [flaky], optional: true}
"""


@settings(max_examples=20, deadline=None)
@given(
    builder=st.lists(BUILDER, max_size=6),
    auditor=st.lists(AUDITOR, max_size=4),
    doctor_replies=st.lists(DOCTOR, max_size=5),
    checks=st.lists(st.booleans(), max_size=5),
)
def test_active_and_next_pending_equal_the_scans(
    template: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
    builder: list[str],
    auditor: list[str],
    doctor_replies: list[str],
    checks: list[bool],
) -> None:
    work = tmp_path_factory.mktemp("scan")
    shutil.copytree(template / "ws", work / "ws", symlinks=True)
    (work / "plan.yaml").write_text(THREE_PHASES)
    script = Script({"builder": builder, "auditor": auditor, "doctor": doctor_replies}, checks)
    compared = {"active": 0, "pending": 0}
    real_active, real_pending = Executor._active_phase, Executor._next_pending

    def active(self: Executor) -> str | None:
        got = real_active(self)
        assert got == self.session.active_phase()
        compared["active"] += 1
        return got

    def pending(self: Executor) -> str | None:
        got = real_pending(self)
        assert got == self.session.next_pending_phase()
        compared["pending"] += 1
        return got

    Executor._active_phase, Executor._next_pending = active, pending  # type: ignore[method-assign]
    try:
        asyncio.run(
            start_run(
                plugins=load_plugins(extra=[("scripted-models", Plugin(script))]),
                plan_path=work / "plan.yaml",
                workspace=work / "ws",
                config_path=template / "models.yaml",
                db=work / "events.db",
                progress_factory=lambda codec: Capture(),
            )
        )
    finally:
        Executor._active_phase, Executor._next_pending = real_active, real_pending  # type: ignore[method-assign]
    assert compared["active"] > 0 and compared["pending"] > 0
    shutil.rmtree(work)
