"""The Builder's repository map is the true list of tracked paths at each phase's checkpoint.

The executor lists the map once per checkpoint (the workspace carries its
listing across its own checkpoints). These runs make a quality check add and
delete files outside the patch, a thing the patch alone cannot tell: the next
phase's Builder must still see exactly what ``git ls-files`` shows.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

from autopack_core.hookspecs import hookimpl
from autopack_core.testing import GIT_ENV, make_git_workspace

FILES = {"mod0.py": "VALUE = 0\n", "stale_module.py": "OLD = 1\n", "pkg/mod1.py": "VALUE = 1\n"}


def diff_for(path: str, old: str, new: str) -> str:
    return f"--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-{old}\n+{new}\n"


class Scripted:
    """A provider kind (instant replies, each request kept) and a check that edits the worktree."""

    description = "writes generated/out.txt and deletes stale_module.py, as a code generator might"

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.requests: list[Any] = []

    def factory(self, name: str, config: Any, context: Any) -> Scripted:
        return self

    async def complete(self, request: Any) -> Any:
        from autopack_core.providers import ModelReply

        self.requests.append(request)
        if request.role == "builder":
            return ModelReply(text=self.replies.pop(0), input_tokens=1, output_tokens=1)
        return ModelReply(text='{"verdict": "approve", "issues": []}', input_tokens=1, output_tokens=1)

    async def run(self, workspace: Path, options: Any) -> Any:
        from autopack_core.contracts import CheckOutcome

        (workspace / "generated").mkdir(exist_ok=True)
        (workspace / "generated" / "out.txt").write_text("made by the check\n")
        stale = workspace / "stale_module.py"
        if stale.exists():
            stale.unlink()
        return CheckOutcome(passed=True, output="ok")


def run(tmp_path: Path, scripted: Scripted, phases: list[tuple[str, str, bool]]) -> int:
    from autopack_core.executor import runner
    from autopack_core.executor.progress import Progress
    from autopack_core.plugins import load_plugins

    class Plugin:
        @hookimpl
        def register_providers(self, register: Any) -> None:
            register("scripted", scripted.factory)

        @hookimpl
        def register_quality_checks(self, register: Any) -> None:
            register("generate", scripted)

    ws = tmp_path / "ws"
    (tmp_path / "models.yaml").write_text(
        "providers:\n  s: {kind: scripted}\n"
        "models:\n  m: {provider: s, tier: cheap}\n  n: {provider: s, tier: strong}\n"
        "routing:\n  default: {cheap: m, strong: n}\n"
    )
    lines = ["goal: keep the map true", "phases:"]
    for pid, scope, generate in phases:
        checks = "[generate]" if generate else "[]"
        lines.append(f"  - {{id: {pid}, goal: change {scope}, scope: [{scope}], checks: {checks}}}")
    (tmp_path / "plan.yaml").write_text("\n".join(lines) + "\n")
    code, _run_id, _db = asyncio.run(
        runner.start_run(
            plugins=load_plugins(extra=[("scripted", Plugin())]),
            plan_path=tmp_path / "plan.yaml",
            workspace=ws,
            config_path=tmp_path / "models.yaml",
            db=tmp_path / "events.db",
            progress_factory=lambda codec: Progress(),
        )
    )
    return code


def repo_map_of(prompt: str) -> list[str]:
    start = prompt.index("Repository map")
    body = prompt[start:].split("\n", 1)[1]
    return body.split("\n\n", 1)[0].splitlines()


def ls_files(ws: Path) -> list[str]:
    out = subprocess.run(["git", "-C", str(ws), "ls-files"], capture_output=True, text=True, check=True, env=GIT_ENV)
    return sorted(out.stdout.splitlines())


def test_files_a_check_adds_or_deletes_reach_the_next_builders_map(tmp_path: Path) -> None:
    make_git_workspace(tmp_path / "ws", FILES)
    scripted = Scripted(
        [
            diff_for("mod0.py", "VALUE = 0", "VALUE = 10"),
            diff_for("pkg/mod1.py", "VALUE = 1", "VALUE = 11"),
            diff_for("mod0.py", "VALUE = 10", "VALUE = 20"),
        ]
    )
    code = run(tmp_path, scripted, [("p1", "mod0.py", True), ("p2", "pkg/mod1.py", False), ("p3", "mod0.py", False)])
    assert code == 0
    maps = [repo_map_of(r.prompt) for r in scripted.requests if r.role == "builder"]
    assert maps[0] == sorted(FILES)
    # The check's new file is tracked by p1's checkpoint and its deleted file is gone.
    after = sorted(["generated/out.txt", "mod0.py", "pkg/mod1.py"])
    assert maps[1] == maps[2] == after == ls_files(tmp_path / "ws")


def test_a_patch_adding_and_deleting_files_moves_the_map(tmp_path: Path) -> None:
    make_git_workspace(tmp_path / "ws", FILES)
    create = "--- /dev/null\n+++ b/new/made.py\n@@ -0,0 +1 @@\n+MADE = 1\n"
    delete = "--- a/stale_module.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-OLD = 1\n"
    scripted = Scripted([create + delete, diff_for("mod0.py", "VALUE = 0", "VALUE = 1")])
    assert run(tmp_path, scripted, [("p1", "new/made.py", False), ("p2", "mod0.py", False)]) == 0
    maps = [repo_map_of(r.prompt) for r in scripted.requests if r.role == "builder"]
    assert maps[0] == sorted(FILES)
    assert maps[1] == sorted(["mod0.py", "new/made.py", "pkg/mod1.py"]) == ls_files(tmp_path / "ws")
