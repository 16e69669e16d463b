"""The phase loop runs with the run's set-up frozen out of the cyclic collector's full passes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_executor_repo_map import FILES, Scripted, diff_for, run

from autopack_core.testing import make_git_workspace


def test_the_setup_is_frozen_for_the_loop_and_thawed_after(tmp_path: Path) -> None:
    import gc

    from autopack_core.executor.runner import _setup_frozen

    seen: list[int] = []

    class Counting(Scripted):
        async def run(self, workspace: Path, options: Any) -> Any:
            seen.append(gc.get_freeze_count())
            return await super().run(workspace, options)

    make_git_workspace(tmp_path / "ws", FILES)
    assert gc.get_freeze_count() == 0
    assert run(tmp_path, Counting([diff_for("mod0.py", "VALUE = 0", "VALUE = 1")]), [("p1", "mod0.py", True)]) == 0
    assert seen and seen[0] > 0 and gc.get_freeze_count() == 0
    # Thawed however the loop ends; a process that froze objects itself is left to its own policy.
    try:
        with _setup_frozen():
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        with _setup_frozen():
            assert gc.get_freeze_count() == before
        assert gc.get_freeze_count() == before
    finally:
        gc.unfreeze()
