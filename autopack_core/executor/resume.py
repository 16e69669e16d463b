"""Bringing the workspace back in line with the log before a run continues.

The log is the truth; the workspace is made to agree with it:

- a checkpoint commit that was made but not recorded (kill between the commit
  and its event) is found by its ``Autopack-Phase`` trailer and recorded, not
  committed again (``Executor.checkpoint`` with ``resumed``);
- if the current attempt's patch is recorded as applied, the worktree is reset
  to the last checkpoint and that recorded patch re-applied, so it holds
  exactly checkpoint + patch whatever the interruption left behind;
- otherwise the worktree must equal the last checkpoint: a patch written but
  not recorded is discarded by resetting to it before the step is redone;
- a HEAD that moved to a commit the run did not make is refused: someone
  else changed the workspace, and Autopack will not guess.

While a run is unfinished the workspace belongs to it (README: "Resuming").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from autopack_core import events as ev
from autopack_core.errors import AutopackError, PatchError

if TYPE_CHECKING:
    from autopack_core.executor.loop import Executor


class WorkspaceMoved(AutopackError):
    """The workspace's HEAD is not where the run left it."""


def reconcile(x: Executor) -> None:
    view = x.view
    if view.status in ("created", "completed", "failed", "rolled_back"):
        return
    cursor = x.cursor
    run_id = view.run_id
    target = cursor.checkpoint
    pid = x.session.active_phase()
    c = cursor.phase(pid) if pid is not None else None
    d = c.diagnosis if c is not None else None
    if d is not None and d.action is not None and d.action.action == "rollback_run":
        return  # the rollback is redone from its recorded intent
    if pid is not None and view.phases[pid].execute_fixes:
        from autopack_core.executor import fixes

        if fixes.reconcile(x, pid):
            return  # a fix under way: the log says which commands ran; their results stay
    head = x.ws.head()
    if head != target:
        found = None
        if pid is not None:
            found = x.ws.find_commit_by_trailer("Autopack-Phase", f"{run_id}/{pid}", since=target)
        if found is None or found != head:
            raise WorkspaceMoved(
                f"{x.root}: HEAD is {str(head)[:12]} but run {run_id}'s last checkpoint is {target[:12]}: "
                f"the workspace changed since the run stopped; move it back "
                f"(git reset --hard {target[:12]}) or start a new run"
            )
        return  # the unrecorded checkpoint is recorded by the checkpoint step
    if c is not None and c.applied is not None and c.proposed is not None:
        from autopack_core.patching import governed_apply

        x.ws.reset_hard(target)
        try:
            governed_apply(c.proposed.text, x.root, x.config.governance)
        except PatchError as exc:  # it applied to this very commit before; only tampering gets here
            raise WorkspaceMoved(f"{x.root}: the recorded patch no longer applies to {target[:12]}: {exc}") from exc
        x.record(
            ev.WorkspaceReconciled(
                action="reapplied",
                commit=target,
                detail=f"reset to the checkpoint and re-applied the recorded patch of attempt {c.attempt}",
                phase_id=pid,
            )
        )
        return
    if not x.ws.worktree_matches(target):
        x.ws.reset_hard(target)
        x.record(
            ev.WorkspaceReconciled(
                action="reset",
                commit=target,
                detail="changes not in the log were discarded (a patch written but not recorded)",
                phase_id=pid,
            )
        )
