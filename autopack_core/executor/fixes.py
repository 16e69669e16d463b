"""execute_fix, the running half: the Doctor's infrastructure fix, one command per step.

Every decision is taken from the log (a fold of the run's events, ``fix_state``),
so a resumed run takes the path the interrupted one would have taken:

1. **Gate** (phase ``diagnosing``, the Doctor answered ``execute_fix``): refused
   unless ``doctor.allow_execute_fix_global``, the type is in
   ``allowed_fix_types`` and installed, the phase has an execute_fix left
   (``max_execute_fix_per_phase``, counted from ``action_taken`` events), the
   same fix was not already tried for the same error signature, and every
   command and the verify command pass their type's check now. A refusal is a
   ``fix_refused`` event and the fallback follows; nothing runs.
2. **Checkpoint**: the phase's last checkpoint commit is where the fix returns to
   on failure; uncommitted work (the attempt's patch, anything else) is also
   saved on branch ``autopack/fix-{run}-{phase}-{n}`` (``GitWorkspace.rescue``)
   without moving HEAD or the index, so git commands still see the failing
   state (an unmerged index stays unmerged for ``git checkout --theirs``).
   Then ``action_taken(execute_fix)`` moves the phase to ``fixing``.
3. **Fixing**, one command per step: checked again by its ``FixType`` right
   before it runs (an earlier command may have planted a link), then
   ``fix_started`` (intent, with the argv), the run (``procs.run_argv``: no
   shell, the workspace as cwd, a timeout, an output cap, a scrubbed
   environment, its own process group), ``fix_executed`` (outcome). The
   ``verify_command`` goes the same way last.
4. **Success**: ``step_retried`` back to the step that failed (``checking`` or
   ``auditing``; otherwise ``building``, after a checkpoint commit of the fixed
   worktree so the new attempt starts from it).
5. **Failure** (a refusal, a non-zero exit, a timeout, a command whose intent
   is in the log without its outcome): ``error_classified`` (step ``fixing``).
   The phase's next failure while the fix is open, this one or the retried
   step's, gets the fallback instead of the Doctor: the workspace back to the
   checkpoint, then ``doctor.execute_fix_fallback`` (``retry_with_fix`` with the
   Doctor's hint, or ``mark_fatal``).

A command whose ``fix_started`` has no ``fix_executed`` (the process was killed
while it ran) is never run again: it is recorded as refused (rule
``interrupted``) and the fix fails, which resets to the checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from autopack_core import events as ev
from autopack_core.errors import WorkspaceError
from autopack_core.executor import recovery

if TYPE_CHECKING:
    from autopack_core.contracts import FixVerdict
    from autopack_core.executor.loop import Executor

#: The only directories fix programs are looked up in (never the workspace, never the user's PATH).
FIX_PATH = "/usr/local/bin:/usr/bin:/bin"
#: Characters of a command's output kept (its tail) in ``fix_executed``.
FIX_OUTPUT_LIMIT = 8000
FALLBACKS = ("retry_with_fix", "mark_fatal")
#: The trailer of the checkpoint commit made after a fix when the Builder's step is retried.
FIX_TRAILER = "Autopack-Fix"
#: The label ending of that checkpoint.
_AFTER = "after execute_fix"
# The phase's end closes its fix.
_CLOSING = (
    ev.PhaseCompleted,
    ev.PhaseFailed,
    ev.PhaseMarkedFatal,
    ev.PhaseSkipped,
    ev.PhaseSuperseded,
    ev.RollbackPerformed,
)

# Config git reads from the command line (GIT_CONFIG_COUNT) wins over every file. These switch
# off what runs programs or reaches out: hooks, fsmonitor, pagers, editors, credential helpers,
# ssh, every transport, signing, background maintenance.
GIT_CONFIG_OVERRIDES: tuple[tuple[str, str], ...] = (
    ("core.hooksPath", "/dev/null"),
    ("core.fsmonitor", "false"),
    ("core.pager", "cat"),
    ("core.editor", "true"),
    ("core.sshCommand", "false"),
    ("core.askPass", ""),
    ("core.attributesFile", "/dev/null"),
    ("credential.helper", ""),
    ("protocol.allow", "never"),
    ("safe.bareRepository", "explicit"),
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
    ("gpg.program", "false"),
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    ("submodule.recurse", "false"),
)
# Drivers the workspace's own .git/config may define run on add/checkout/diff/merge:
# each is replaced by a harmless one (filters pass data through unchanged).
_DRIVER_OVERRIDES: dict[bytes, tuple[tuple[str, str], ...]] = {
    b"filter": (("clean", "cat"), ("smudge", "cat"), ("process", ""), ("required", "false")),
    b"diff": (("textconv", "cat"), ("command", "true")),
    b"merge": (("driver", "false"),),
}


@attrs.define
class OpenFix:
    """The phase's execute_fix in progress, folded from the log."""

    phase_id: str
    number: int
    diag: ev.DoctorDiagnosed
    error: ev.ErrorClassified
    base: str  # the checkpoint the fix returns to
    started: set[tuple[str, int]] = attrs.Factory(set)
    outcomes: dict[tuple[str, int], ev.Event] = attrs.Factory(dict)
    retried: bool = False
    failed: bool = False
    committed: str = ""


@attrs.define
class FixHistory:
    open: dict[str, OpenFix] = attrs.Factory(dict)
    tried: set[tuple[str, str]] = attrs.Factory(set)  # (error signature, fix key)
    count: dict[str, int] = attrs.Factory(dict)


def fix_key(fix_type: str, commands: tuple[str, ...], verify: str) -> str:
    """Identifies "the same fix": type, commands and verify command."""
    raw = json.dumps([fix_type, list(commands), verify]).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def _key_of(d: ev.DoctorDiagnosed) -> str:
    return fix_key(d.fix_type, tuple(d.fix_commands), d.verify_command)


def fix_state(x: Executor) -> FixHistory:
    """Fold the run's log into the fixes tried and each phase's open fix (pure over the events)."""
    h = FixHistory()
    errors: dict[str, ev.ErrorClassified] = {}
    diags: dict[str, ev.DoctorDiagnosed] = {}
    checkpoint = ""
    for env in x.session.store.iter_events(x.session.run_id):
        e = env.event
        cls = type(e)
        pid = getattr(e, "phase_id", None)
        fix = h.open.get(pid) if pid else None
        if cls is ev.RunStarted:
            checkpoint = e.base_commit
        elif cls is ev.CheckpointCreated:
            checkpoint = e.commit
            if fix is not None and e.label.endswith(_AFTER):
                fix.committed = e.commit
        elif cls is ev.ErrorClassified:
            errors[e.phase_id] = e
            if fix is not None:
                fix.failed = True
        elif cls is ev.DoctorDiagnosed:
            diags[e.phase_id] = e
        elif cls is ev.ActionTaken:
            if e.action == "execute_fix" and e.phase_id in diags and e.phase_id in errors:
                n = h.count[e.phase_id] = h.count.get(e.phase_id, 0) + 1
                d, err = diags[e.phase_id], errors[e.phase_id]
                h.open[e.phase_id] = OpenFix(e.phase_id, n, d, err, checkpoint)
                h.tried.add((err.signature, _key_of(d)))
            else:
                h.open.pop(e.phase_id, None)
        elif fix is None:
            continue
        elif cls is ev.FixStarted:
            fix.started.add((e.stage, e.index))
        elif cls is ev.FixExecuted or (cls is ev.FixRefused and e.stage != "action"):
            fix.outcomes[(e.stage, e.index)] = e
        elif cls is ev.StepRetried:
            fix.retried = True
        elif cls in _CLOSING:
            h.open.pop(pid, None)  # type: ignore[arg-type]
    return h


def open_fix(x: Executor, pid: str) -> OpenFix | None:
    if not x.view.phases[pid].execute_fixes:
        return None
    return fix_state(x).open.get(pid)


# --- checking and running one command ---------------------------------------------------------


def _fix_types(x: Executor) -> dict[str, Any]:
    # Set by the runner from the plugin registry (the executor does not load plugins itself).
    return getattr(x, "fix_types", None) or {}


def check_command(x: Executor, fix_type: str, command: str) -> FixVerdict:
    """The type's verdict on ``command`` against the workspace as it is now; a check that breaks refuses."""
    from autopack_core.contracts import FixContext, FixTypeSettings, FixVerdict

    doctor = x.config.doctor
    context = FixContext(
        workspace=x.root.resolve(),
        protected=x.config.governance,
        run_commits=tuple(x.view.checkpoints),
        settings=doctor.fix_types.get(fix_type, FixTypeSettings()),
    )
    try:
        verdict = _fix_types(x)[fix_type].check(command, context)
        if not isinstance(verdict, FixVerdict):
            raise TypeError(f"check() returned {type(verdict).__name__}, not FixVerdict")
    except Exception as exc:  # noqa: BLE001 - a fix type's check that breaks fails closed
        return FixVerdict(
            allowed=False,
            rule="check-error",
            reason=f"fix type {fix_type!r} could not check the command ({type(exc).__name__}: {exc}); refused",
        )
    if verdict.allowed and not verdict.argv:
        return FixVerdict(allowed=False, rule="check-error", reason=f"fix type {fix_type!r} allowed an empty argv")
    return verdict


def resolve_program(argv: tuple[str, ...]) -> list[str] | None:
    """``argv`` with its program looked up on ``FIX_PATH`` (``python`` is Autopack's interpreter)."""
    prog = argv[0]
    if not prog or "/" in prog or os.sep in prog:
        return None  # the checks refuse program paths; never run one from the workspace
    if prog in ("python", "python3"):
        exe: str | None = sys.executable
    else:
        exe = shutil.which(prog, path=FIX_PATH)
    if not exe or not os.path.isabs(exe):
        return None
    return [exe, *argv[1:]]


def _repo_driver_overrides(workspace: Path) -> list[tuple[str, str]]:
    from dulwich.config import ConfigFile

    path = workspace / ".git" / "config"
    try:
        cfg = ConfigFile.from_path(str(path))
    except (OSError, ValueError):
        return []
    out: list[tuple[str, str]] = []
    for section in cfg.sections():
        if len(section) != 2 or section[0].lower() not in _DRIVER_OVERRIDES:
            continue
        kind, name = section[0].lower(), section[1].decode("utf-8", "replace")
        for key, value in _DRIVER_OVERRIDES[kind]:
            out.append((f"{kind.decode()}.{name}.{key}", value))
    return out


def fix_environment(workspace: Path, home: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(base environment, git config variables) for a fix command.

    Nothing is inherited from Autopack's own environment: no credentials, no
    ``GIT_DIR``, no ``LD_PRELOAD``, no ``PYTHONPATH``. The git variables are
    passed apart because their names (``GIT_CONFIG_KEY_n``) look like
    credentials to the runner's scrubber.
    """
    base = {
        "PATH": FIX_PATH,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "TMPDIR": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_PAGER": "cat",
        "PAGER": "cat",
        "GIT_EDITOR": "true",
        "EDITOR": "true",
        "VISUAL": "true",
        "GIT_SEQUENCE_EDITOR": "true",
        "GIT_SSH_COMMAND": "false",
        "GIT_PROTOCOL_FROM_USER": "0",
        "GIT_NO_REPLACE_OBJECTS": "1",
        "GIT_LITERAL_PATHSPECS": "1",
        "GIT_CEILING_DIRECTORIES": str(workspace.parent),
        "GIT_AUTHOR_NAME": "Autopack",
        "GIT_AUTHOR_EMAIL": "autopack@localhost",
        "GIT_COMMITTER_NAME": "Autopack",
        "GIT_COMMITTER_EMAIL": "autopack@localhost",
    }
    pairs = [*GIT_CONFIG_OVERRIDES, *_repo_driver_overrides(workspace)]
    git = {"GIT_CONFIG_COUNT": str(len(pairs))}
    for i, (key, value) in enumerate(pairs):
        git[f"GIT_CONFIG_KEY_{i}"] = key
        git[f"GIT_CONFIG_VALUE_{i}"] = value
    return base, git


async def run_fix_argv(argv: list[str], workspace: Path, timeout_s: float) -> Any:
    """Run one resolved fix argv: no shell, cwd the workspace, scrubbed environment, own process group."""
    from autopack_core import procs

    home = Path(tempfile.mkdtemp(prefix="autopack-fix-"))
    try:
        base, git = fix_environment(workspace, home)
        return await procs.run_argv(
            argv, workspace, timeout_s=timeout_s, env=base, extra_env=git, path=FIX_PATH, output_limit=FIX_OUTPUT_LIMIT
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)


# --- the gate ---------------------------------------------------------------------------------


def _items(d: ev.DoctorDiagnosed) -> list[tuple[str, int, str]]:
    items = [("command", i, c) for i, c in enumerate(d.fix_commands)]
    if d.verify_command.strip():
        items.append(("verify", 0, d.verify_command))
    return items


def _joined(d: ev.DoctorDiagnosed) -> str:
    return " && ".join(d.fix_commands)


def _refusal_reason(v: FixVerdict) -> str:
    text = f"{v.rule}: {v.reason}"
    return f"requires manual intervention (never run): {text}" if v.manual else text


def gate(x: Executor, pid: str, d: ev.DoctorDiagnosed) -> tuple[str, list[ev.Event]]:
    """Why execute_fix may not run now ("" when it may), and the refusal events."""
    doctor = x.config.doctor
    if not doctor.allow_execute_fix_global:
        return "execute_fix is off: doctor.allow_execute_fix_global is false", []
    allowed = ", ".join(doctor.allowed_fix_types) or "none"
    if d.fix_type not in doctor.allowed_fix_types:
        return f"fix type {d.fix_type!r} is not in doctor.allowed_fix_types ({allowed})", []
    types = _fix_types(x)
    if d.fix_type not in types:
        return f"no fix type {d.fix_type!r} is installed (installed: {', '.join(sorted(types)) or 'none'})", []
    used = x.view.phases[pid].execute_fixes
    if used >= doctor.max_execute_fix_per_phase:
        return f"doctor.max_execute_fix_per_phase ({doctor.max_execute_fix_per_phase}) reached in phase {pid}", []
    c = x.cursor.phase(pid)
    assert c.diagnosis is not None
    signature = c.diagnosis.error.signature
    if (signature, _key_of(d)) in fix_state(x).tried:
        return f"this fix was already tried for the same failure (signature {signature})", []
    refusals: list[ev.Event] = []
    for stage, index, command in _items(d):
        v = check_command(x, d.fix_type, command)
        if not v.allowed:
            refusals.append(
                ev.FixRefused(
                    phase_id=pid,
                    fix_type=d.fix_type,
                    command=command,
                    reason=_refusal_reason(v),
                    requires_manual=v.manual,
                    rule=v.rule,
                    stage=stage,
                    index=index,
                )
            )
    if refusals:
        first = refusals[0]
        assert isinstance(first, ev.FixRefused)
        return f"{first.command!r} refused: {first.reason}", refusals
    return "", []


async def begin(x: Executor, pid: str, d: ev.DoctorDiagnosed) -> None:
    """Carry out the Doctor's execute_fix: the gate, the checkpoint, then the phase is ``fixing``."""
    reason, refusals = gate(x, pid, d)
    if reason:
        events = refusals or [
            ev.FixRefused(phase_id=pid, fix_type=d.fix_type, command=_joined(d), reason=reason, stage="action")
        ]
        refused = ev.ActionRefused(phase_id=pid, action="execute_fix", reason=reason)
        apply_fallback(x, pid, d, f"execute_fix refused: {reason}", [*events, refused], refused=True)
        return
    n = x.view.phases[pid].execute_fixes + 1
    name = f"autopack/fix-{x.session.run_id}-{pid}-{n}"
    note = _save_worktree(x, name, f"autopack: {pid}: the worktree before execute_fix {n}")
    x.crash("fix_checkpoint")
    detail = (
        f"{d.fix_type}: {len(d.fix_commands)} command(s)"
        + (f", then verify {d.verify_command!r}" if d.verify_command.strip() else "")
        + f"; on failure back to checkpoint {x.cursor.checkpoint[:12]}; {note}"
    )
    x.record(ev.ActionTaken(phase_id=pid, action="execute_fix", detail=detail))


def _save_worktree(x: Executor, name: str, message: str) -> str:
    if x.ws.branch_commit(name) is not None:
        return f"the worktree before the fix is on branch {name}"  # saved before an interruption
    try:
        sha = x.ws.rescue(name, message)
    except WorkspaceError as exc:
        return f"the worktree could not be saved ({exc})"
    if sha is None:
        return "nothing uncommitted to save"
    return f"the worktree before the fix is on branch {name}"


# --- the fixing steps -------------------------------------------------------------------------


def _failed(pid: str, fix: OpenFix, what: str) -> ev.ErrorClassified:
    message = f"execute_fix {fix.number} ({fix.diag.fix_type}) did not cure the failure: {what}"
    return recovery.classified(pid, recovery.INFRASTRUCTURE, message, "fixing")


def _retry_step(error_step: str) -> str:
    return error_step if error_step in ("checking", "auditing") else "building"


async def step(x: Executor, pid: str) -> None:
    """One step of a phase that is ``fixing``: the next command, or the end of the fix."""
    fix = open_fix(x, pid)
    if fix is None:  # defensive: "fixing" always follows an execute_fix action in the log
        x.record(ev.StepRetried(phase_id=pid, step="building"))
        return
    d = fix.diag
    for stage, index, command in _items(d):
        key = (stage, index)
        if key in fix.outcomes:
            continue
        if key in fix.started:
            refusal = ev.FixRefused(
                phase_id=pid,
                fix_type=d.fix_type,
                command=command,
                reason="the run stopped while this command ran; its outcome is unknown, so it is not run again",
                rule="interrupted",
                stage=stage,
                index=index,
            )
            x.record(refusal, _failed(pid, fix, f"{command!r} was interrupted"))
            return
        await _run_one(x, pid, fix, stage, index, command)
        return
    _succeeded(x, pid, fix)


async def _run_one(x: Executor, pid: str, fix: OpenFix, stage: str, index: int, command: str) -> None:
    d = fix.diag
    verdict = check_command(x, d.fix_type, command)
    argv = resolve_program(verdict.argv) if verdict.allowed else None
    if verdict.allowed and argv is None:
        verdict = attrs.evolve(
            verdict, allowed=False, rule="program-not-found", reason=f"{verdict.argv[0]!r} is not on {FIX_PATH}"
        )
    if not verdict.allowed or argv is None:
        refusal = ev.FixRefused(
            phase_id=pid,
            fix_type=d.fix_type,
            command=command,
            reason=_refusal_reason(verdict),
            requires_manual=verdict.manual,
            rule=verdict.rule,
            stage=stage,
            index=index,
        )
        x.record(refusal, _failed(pid, fix, f"{command!r} refused: {refusal.reason}"))
        return
    x.record(
        ev.FixStarted(
            phase_id=pid, fix_type=d.fix_type, command=command, argv=tuple(verdict.argv), stage=stage, index=index
        )
    )
    result = await run_fix_argv(argv, x.root, x.config.doctor.fix_timeout_seconds)
    x.crash("fix")
    code = result.returncode if result.returncode is not None else -1
    output = result.output if not result.error else (result.error + ("\n" + result.output if result.output else ""))
    done = ev.FixExecuted(
        phase_id=pid,
        fix_type=d.fix_type,
        command=command,
        exit_code=code,
        output=output[-FIX_OUTPUT_LIMIT:],
        duration_ms=result.duration_ms,
        stage=stage,
        index=index,
        argv=tuple(verdict.argv),
        timed_out=result.timed_out,
    )
    if code == 0 and not result.timed_out:
        x.record(done)
        return
    if result.timed_out:
        what = f"{command!r} timed out after {x.config.doctor.fix_timeout_seconds:g}s (its process group was killed)"
    elif result.error:
        what = f"{command!r} could not start: {result.error}"
    else:
        tail = output.strip()[-1500:]
        what = f"{command!r} exited with {code}" + (f":\n{tail}" if tail else "")
    if stage == "verify":
        what = "the verify command failed: " + what
    x.record(done, _failed(pid, fix, what))


def _succeeded(x: Executor, pid: str, fix: OpenFix) -> None:
    step_name = _retry_step(fix.error.step)
    events: list[ev.Event] = []
    if step_name == "building":
        # A new attempt starts from the phase's checkpoint: commit the fixed worktree as one,
        # or the reset before the Builder's next patch would undo the fix.
        tag = f"{x.session.run_id}/{pid}/{fix.number}"
        found = x.ws.find_commit_by_trailer(FIX_TRAILER, tag, since=fix.base) if x.resumed else None
        if found is None:
            try:
                found = x.ws.checkpoint(
                    f"autopack: {pid}: after execute_fix {fix.number}",
                    trailers={"Autopack-Run": x.session.run_id, FIX_TRAILER: tag},
                )
            except WorkspaceError as exc:
                x.record(_failed(pid, fix, f"the fixed workspace cannot be committed: {exc}"))
                return
            x.crash("fix_commit")
        events.append(
            ev.CheckpointCreated(
                commit=found, label=f"phase {pid} {_AFTER} {fix.number}", phase_id=pid, branch=x.cursor.branch
            )
        )
    events.append(ev.StepRetried(phase_id=pid, step=step_name))
    x.record(*events)


# --- the fallback -----------------------------------------------------------------------------


def fallback_due(x: Executor, pid: str) -> OpenFix | None:
    """The open fix when the phase's current failure came after it (the fix did not cure it)."""
    fix = open_fix(x, pid)
    return fix if fix is not None and fix.failed else None


def fallback(x: Executor, pid: str, fix: OpenFix) -> None:
    """Back to the checkpoint before the fix, then ``doctor.execute_fix_fallback``."""
    base = fix.base
    reset = x.ws.head() != base or not x.ws.worktree_matches(base)
    if reset:
        x.ws.reset_hard(base)
        x.crash("fix_reset")
    events: list[ev.Event] = []
    label = f"back to the checkpoint before execute_fix {fix.number}"
    if x.cursor.checkpoint != base:
        events.append(
            ev.CheckpointCreated(commit=base, label=f"phase {pid} {label}", phase_id=pid, branch=x.cursor.branch)
        )
    elif reset or x.cursor.unclean:
        events.append(ev.WorkspaceReconciled(action="reset", commit=base, detail=label, phase_id=pid))
    c = x.cursor.phase(pid)
    assert c.diagnosis is not None
    apply_fallback(x, pid, fix.diag, c.diagnosis.error.message, events)


def apply_fallback(
    x: Executor, pid: str, d: ev.DoctorDiagnosed, reason: str, events: list[ev.Event], *, refused: bool = False
) -> None:
    """``retry_with_fix`` with the Doctor's hint, or ``mark_fatal``, after a refused or failed fix."""
    short = reason.splitlines()[0][:300] if reason else "execute_fix did not help"
    if x.config.doctor.execute_fix_fallback == "mark_fatal":
        why = f"fallback after execute_fix: {short}"
        x.record(
            *events,
            ev.ActionTaken(phase_id=pid, action="mark_fatal", detail=why),
            ev.PhaseMarkedFatal(phase_id=pid, reason=why),
            ev.RunFailed(reason=f"phase {pid} marked fatal: {why}"),
        )
        return
    c = x.cursor.phase(pid)
    assert c.diagnosis is not None
    hint = d.hint.strip()
    out = list(events)
    if hint:
        out.append(ev.HintRecorded(phase_id=pid, category=c.diagnosis.error.category, hint=hint))
    verb = "refusing" if refused else "a failed"
    detail = f"fallback after {verb} execute_fix: {hint or d.rationale or short}"
    out.append(ev.ActionTaken(phase_id=pid, action="retry_with_fix", detail=detail))
    out.append(ev.StepRetried(phase_id=pid, step="building"))
    x.record(*out)


# --- resume and rollback ----------------------------------------------------------------------


def reconcile(x: Executor, pid: str) -> bool:
    """On resume, a phase with a fix under way keeps its worktree (the log says which commands
    ran); True when this phase was handled here. HEAD must be where the fix left it."""
    fix = open_fix(x, pid)
    status = x.view.phases[pid].status
    if fix is None or (status != "fixing" and not fix.failed):
        return False
    allowed = {x.cursor.checkpoint, fix.base}
    if status == "fixing":
        found = x.ws.find_commit_by_trailer(FIX_TRAILER, f"{x.session.run_id}/{pid}/{fix.number}", since=fix.base)
        if found is not None:
            allowed.add(found)
    head = x.ws.head()
    if head not in allowed:
        from autopack_core.executor.resume import WorkspaceMoved

        raise WorkspaceMoved(
            f"{x.root}: HEAD is {str(head)[:12]} but run {x.session.run_id}'s execute_fix started at "
            f"{fix.base[:12]}: the workspace changed since the run stopped; move it back "
            f"(git reset --hard {fix.base[:12]}) or start a new run"
        )
    return True


def save_uncommitted(x: Executor) -> str:
    """Save uncommitted changes on ``autopack/rescue-{run}`` before a rollback; the branch name or "".

    Raises ``WorkspaceError`` when they cannot be saved (unmerged paths): the
    rollback must then not reset, or they would be lost.
    """
    name = f"autopack/rescue-{x.session.run_id}"
    if x.ws.branch_commit(name) is not None:
        return name  # saved before an interruption
    sha = x.ws.rescue(name, f"autopack: uncommitted changes found at the rollback of run {x.session.run_id}")
    return name if sha is not None else ""


__all__ = [
    "FALLBACKS",
    "FIX_PATH",
    "GIT_CONFIG_OVERRIDES",
    "begin",
    "check_command",
    "fallback",
    "fallback_due",
    "fix_environment",
    "fix_key",
    "fix_state",
    "reconcile",
    "resolve_program",
    "run_fix_argv",
    "save_uncommitted",
    "step",
]
