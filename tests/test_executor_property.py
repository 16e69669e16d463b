"""Property: for any scripted sequence of role replies and check outcomes, the run ends
(completed, failed or rolled back) within its budgets, and folding its log gives exactly
the state the live run held.

Real parts throughout (a git repository, the event store, governed apply, the
executor); the models answer from hypothesis-drawn scripts per role and the
one quality check passes or fails as drawn.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from executor_support import APPROVE, FILES, GOOD_ADD, STALE_ADD, WRONG_ADD, doctor
from hypothesis import given, settings
from hypothesis import strategies as st

from autopack_core.errors import NoRecordedAnswer
from autopack_core.executor.progress import Progress
from autopack_core.executor.runner import start_run
from autopack_core.hookspecs import hookimpl
from autopack_core.plugins import load_plugins
from autopack_core.projections import fold_run
from autopack_core.providers import ModelReply
from autopack_core.store import EventStore
from autopack_core.testing import make_git_workspace
from autopack_core.views import view_to_dict

BUILDER = st.sampled_from([GOOD_ADD, STALE_ADD, WRONG_ADD, "no edits in this reply"])
AUDITOR = st.sampled_from([APPROVE, json.dumps({"verdict": "reject", "issues": ["no"]}), "maybe?"])
REVISED = [
    {
        "id": "redo",
        "goal": "Redo it",
        "category": "bugfix",
        "complexity": "low",
        "scope": ["app/core.py"],
        "checks": ["flaky"],
    }
]
DOCTOR = st.sampled_from(
    [
        doctor("retry_with_fix", "again"),
        doctor("retry_with_fix", "unsure", confidence=0.2),
        doctor("skip_phase"),
        doctor("mark_fatal"),
        doctor("rollback_run"),
        doctor("execute_fix", fix_type="git", fix_commands=["git status"]),
        doctor("replan", revised_phases=REVISED),
        "I am not sure what went wrong.",
    ]
)


DEFAULTS = {"builder": GOOD_ADD, "auditor": APPROVE, "doctor": doctor("retry_with_fix", "again")}


class Script:
    """The models and the check of one example."""

    def __init__(self, replies: dict[str, list[str]], checks: list[bool]) -> None:
        self.replies = {role: deque(texts) for role, texts in replies.items()}
        self.checks = deque(checks)

    def factory(self, name: str, config: Any, context: Any) -> Script:
        return self

    async def complete(self, request: Any) -> ModelReply:
        queue = self.replies.get(request.role)
        if queue:
            text = queue.popleft()
        elif request.role in DEFAULTS:
            # Past the drawn script every role behaves, so runs also reach their later steps.
            text = DEFAULTS[request.role]
        else:
            raise NoRecordedAnswer(f"script: no reply for {request.role}")
        return ModelReply(text=text, input_tokens=10, output_tokens=5)

    async def run(self, workspace: Path, options: Any) -> Any:
        from autopack_core.contracts import CheckOutcome

        passed = self.checks.popleft() if self.checks else True
        return CheckOutcome(passed=passed, output="check " + ("passed" if passed else "failed: 1 error"))


class Plugin:
    def __init__(self, script: Script) -> None:
        self.script = script

    @hookimpl
    def register_providers(self, register: Any) -> None:
        register("scripted", self.script.factory)

    @hookimpl
    def register_quality_checks(self, register: Any) -> None:
        register("flaky", self.script)


class Capture(Progress):
    live: Any = None

    def update(self, envelopes: Any, view: Any) -> None:
        pass

    def close(self, view: Any) -> None:
        self.live = view


CONFIG = """providers:
  s: {kind: scripted}
models:
  cheap-m: {provider: s, tier: cheap}
  strong-m: {provider: s, tier: strong}
routing:
  default: {cheap: cheap-m, strong: strong-m}
health_budget:
  max_total_failures: 6
"""

PLAN = """goal: g
phases:
  - {id: fix-add, goal: fix add, category: bugfix, complexity: low, scope: [app/core.py], checks: [flaky]}
  - {id: extra, goal: optional extra, category: feature, complexity: low, scope: [app/core.py],
     checks: [flaky], optional: true}
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("prop")
    make_git_workspace(root / "ws", FILES)
    (root / "models.yaml").write_text(CONFIG)
    (root / "plan.yaml").write_text(PLAN)
    return root


@settings(max_examples=25, deadline=None)
@given(
    builder=st.lists(BUILDER, max_size=8),
    auditor=st.lists(AUDITOR, max_size=6),
    doctor_replies=st.lists(DOCTOR, max_size=6),
    checks=st.lists(st.booleans(), max_size=6),
)
def test_any_script_ends_within_budgets_and_the_log_folds_to_the_live_state(
    template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    builder: list[str],
    auditor: list[str],
    doctor_replies: list[str],
    checks: list[bool],
) -> None:
    work = tmp_path_factory.mktemp("ex")
    ws = work / "ws"
    shutil.copytree(template / "ws", ws, symlinks=True)
    script = Script({"builder": builder, "auditor": auditor, "doctor": doctor_replies}, checks)
    plugins = load_plugins(extra=[("scripted-models", Plugin(script))])
    capture = Capture()
    code, run_id, db = asyncio.run(
        start_run(
            plugins=plugins,
            plan_path=template / "plan.yaml",
            workspace=ws,
            config_path=template / "models.yaml",
            db=work / "events.db",
            progress_factory=lambda codec: capture,
        )
    )
    live = capture.live
    assert live.status in ("completed", "failed", "rolled_back")
    assert code == (0 if live.status == "completed" else 1)
    with EventStore(db, plugins.codec) as store:
        folded = fold_run(store.iter_events(run_id))
    assert view_to_dict(folded) == view_to_dict(live)
    # Within budgets: the Doctor's (2 per phase, 10 per run) and the health budget's.
    assert live.doctor_calls <= 10
    assert all(p.doctor_calls <= 2 for p in live.phases.values())
    assert live.total_failures <= 6
    assert all(
        p.status in ("completed", "failed", "skipped", "fatal", "rolled_back", "superseded", "pending")
        for p in live.phases.values()
    )
    if live.status == "completed":
        assert all(p.status in ("completed", "skipped", "superseded") for p in live.phases.values())
    shutil.rmtree(work)
