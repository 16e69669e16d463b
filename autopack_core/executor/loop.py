"""The phase loop: Builder → governed apply → Auditor → quality gate → checkpoint.

``Executor.drive`` repeats one step at a time until the run ends. Each step
looks only at the log (the session's ``RunView`` and the executor's
``Cursor``, both folds of the same events) to decide what to do next, does at
most one effect (a model call, a patch apply, a check, a git operation) and
records its outcome. Intent is recorded before an effect whose outcome could
be lost (``PatchProposed`` before the apply, ``ActionTaken`` before a
rollback, the last passing ``CheckResult`` before the checkpoint commit, whose
trailers name the run), so ``resume`` can tell what happened.

Every attempt of a phase starts from the phase's checkpoint: the Builder
proposes the whole change against it, and the workspace is reset to it
before the patch is applied. That keeps each attempt's result a function of
the log alone.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from autopack_core import events as ev
from autopack_core.config import AutopackConfig
from autopack_core.errors import AutopackError, ConfigError, ProviderError, QuotaExhausted
from autopack_core.executor import recovery
from autopack_core.executor.attempt import Cursor, RoleStep
from autopack_core.executor.crashpoints import EffectCrash
from autopack_core.machines import PHASE_ACTIVE, RUN_TERMINAL
from autopack_core.modelcall import ModelCaller
from autopack_core.plan import CheckSpec, PhaseSpec
from autopack_core.roles import FileExcerpt, RoleContext, prompt_budget, template_for
from autopack_core.router import Router
from autopack_core.session import RunSession
from autopack_core.store import Envelope

log = structlog.get_logger("autopack.executor")

#: A role's malformed reply is asked again this many times within one step.
MAX_REASKS = 2
#: Characters of a failure's text kept in ``ErrorClassified`` (the tail holds what matters).
FAILURE_TEXT_LIMIT = 6000
SCOPE_FILE_LIMIT = 200_000


_O_READ = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
_CHUNK = 1 << 16


def read_bytes(path: str, limit: int | None = None) -> bytes:
    """A file's bytes, or its first ``limit`` bytes, read through its descriptor.

    Files are read several times a phase (scope, before and after the patch); a buffered
    file object for each read cost more than the read itself.
    """
    fd = os.open(path, _O_READ)
    try:
        parts: list[bytes] = []
        left = -1 if limit is None else limit
        while left:
            chunk = os.read(fd, _CHUNK if left < 0 else min(left, _CHUNK))
            if not chunk:
                break
            parts.append(chunk)
            if left > 0:
                left -= len(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


def check_label(check: CheckSpec) -> str:
    """The name a check's results are recorded under (commands are told apart by what they run)."""
    run = dict(check.options).get("run")
    return f"{check.name}: {run}" if run else check.name


def _tail(text: str, limit: int = FAILURE_TEXT_LIMIT) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


class Executor:
    """Drives one run to its end. Build it with ``executor.runner``."""

    def __init__(
        self,
        *,
        session: RunSession,
        cursor: Cursor,
        workspace: Any,  # gitops.GitWorkspace
        config: AutopackConfig,
        roles: dict[str, Any],
        checks: dict[str, Any],
        caller: ModelCaller,
        resumed: bool = False,
        observer: Callable[[list[Envelope], Any], None] | None = None,
    ) -> None:
        self.session = session
        self.cursor = cursor
        self.ws = workspace
        self.root = Path(workspace.path)
        self._root_str = str(self.root)
        self.config = config
        self.roles = roles
        self.checks = checks
        self.caller = caller
        self.router = Router(config)
        self.resumed = resumed
        self.observer = observer
        self.crash = EffectCrash()
        # Parsed Builder edits by reply text: a reply is parsed once per process.
        self._parsed: dict[str, tuple] = {}
        # The touched files' contents before the current patch (by PatchProposed text), so the
        # Auditor's diff needs no scan of the whole worktree; after a resume it is recomputed.
        self._before: tuple[str, dict[str, bytes | None]] | None = None
        # The repository map (tracked paths) at the last checkpoint: listed once per checkpoint. The
        # workspace carries its listing across its own checkpoints, so that listing is cheap too.
        self._map: tuple[str, tuple[str, ...]] | None = None
        # The active phase without scanning the plan each step: a phase becomes active only by
        # PhaseStarted, and every event of the run passes through ``record``, so after one scan
        # (a resumed run may be mid-phase) the last phase started is the only candidate.
        self._last_active: str | None = None
        self._scanned = False
        # Phases before this position of the plan are not pending (none ever returns to pending);
        # the position belongs to one phases table (a revised plan is a new table).
        self._pending_from: tuple[dict, list[str], int] | None = None
        self.started = time.perf_counter()

    # -- recording -----------------------------------------------------------

    def record(self, *events: ev.Event) -> list[Envelope]:
        envs = self.session.record(*events)
        for env in envs:
            self.cursor.apply(env)
            if type(env.event) is ev.PhaseStarted:
                self._last_active = env.event.phase_id
        if self.observer is not None:
            self.observer(envs, self.session.view)
        return envs

    @property
    def view(self):
        return self.session.view

    # -- the loop ------------------------------------------------------------

    async def drive(self) -> str:
        """Run steps until the run ends; returns the run's final status."""
        while True:
            status = self.view.status
            if status in RUN_TERMINAL:
                break
            if status == "created":
                self.start()
                continue
            pid = self._active_phase()
            if pid is None:
                nxt = self._next_pending()
                if nxt is None:
                    self.record(ev.RunCompleted(summary=self.summary_line()))
                    break
                self.record(ev.PhaseStarted(phase_id=nxt))
                continue
            await self.step(pid)
        self.finish()
        return self.view.status

    def _active_phase(self) -> str | None:
        last = self._last_active
        if last is not None:
            phase = self.view.phases.get(last)
            if phase is not None and phase.status in PHASE_ACTIVE:
                return last
        if self._scanned:
            return None
        self._scanned = True
        self._last_active = self.session.active_phase()
        return self._last_active

    def _next_pending(self) -> str | None:
        """``session.next_pending_phase()``, resuming the scan where the last one stopped."""
        phases = self.view.phases
        at = self._pending_from
        if at is None or at[0] is not phases:
            at = (phases, list(phases), 0)
        ids = at[1]
        for i in range(at[2], len(ids)):
            p = phases.get(ids[i])
            if p is not None and p.status == "pending":
                self._pending_from = (phases, ids, i)
                return ids[i]
        self._pending_from = (phases, ids, len(ids))
        return None

    def start(self) -> None:
        """Create the pre-run branch at the starting commit and record the start."""
        head = self.ws.head()
        branch = f"autopack/pre-run-{self.session.run_id}"
        self.ws.create_branch(branch, head)
        self.crash("branch")
        self.record(ev.RunStarted(base_commit=head, pre_run_branch=branch, branch=self.ws.current_branch() or ""))

    def finish(self) -> None:
        """After a successful run the pre-run branch is removed (idempotent on resume)."""
        pre = self.cursor.pre_run_branch
        if self.view.status == "completed" and pre and self.ws.branch_commit(pre) is not None:
            self.ws.delete_branch(pre)

    def summary_line(self) -> str:
        v = self.view
        done = sum(1 for p in v.phases.values() if p.status == "completed")
        return f"{done}/{len(v.phases)} phases completed, {v.usage.calls} model calls, ${v.usage.cost_usd:.4f}"

    async def step(self, pid: str) -> None:
        status = self.view.phases[pid].status
        if status == "building":
            await self.build(pid)
        elif status == "applying":
            self.apply(pid)
        elif status == "auditing":
            await self.audit(pid)
        elif status == "checking":
            await self.run_checks(pid)
        elif status == "diagnosing":
            await self.diagnose(pid)
        else:  # "fixing": the Doctor's execute_fix, one command per step
            from autopack_core.executor import fixes

            await fixes.step(self, pid)

    # -- helpers -------------------------------------------------------------

    def spec(self, pid: str) -> PhaseSpec:
        return self.view.phases[pid].spec

    def fail_run(self, pid: str | None, reason: str, *first: ev.Event) -> None:
        events: list[ev.Event] = list(first)
        if pid is not None and self.view.phases[pid].status not in ("completed", "failed", "skipped"):
            events.append(ev.PhaseFailed(phase_id=pid, reason=reason))
        events.append(ev.RunFailed(reason=reason))
        self.record(*events)
        log.warning("run_failed", run=self.session.run_id, reason=reason)

    def ensure_at_checkpoint(self, pid: str, why: str) -> None:
        """Make the worktree equal the phase's checkpoint (reset if it is not)."""
        if not self.cursor.unclean and not self.resumed:
            return  # no patch was applied since the last checkpoint committed everything
        target = self.cursor.checkpoint
        if self.ws.worktree_matches(target):
            return
        self.ws.reset_hard(target)
        self.crash("reset")
        self.record(ev.WorkspaceReconciled(action="reset", commit=target, detail=why, phase_id=pid))

    def context_tokens(self, model: str) -> int:
        return prompt_budget(self.config, model)

    def scope_files(self, spec: PhaseSpec) -> tuple:
        out = []
        for rel in spec.scope:
            try:
                data = read_bytes(os.path.join(self._root_str, rel), SCOPE_FILE_LIMIT)
            except OSError:
                out.append(FileExcerpt(path=rel, text="(this file does not exist yet)"))
                continue
            out.append(FileExcerpt(path=rel, text=data.decode("utf-8", "replace")))
        return tuple(out)

    def repo_map(self) -> tuple[str, ...]:
        at = self.cursor.checkpoint
        if self._map is None or self._map[0] != at:
            self._map = (at, tuple(sorted(self.ws.tracked_paths())))
        return self._map[1]

    def hints(self) -> tuple[str, ...]:
        return tuple(h for _cat, h, _pid in self.view.hints)

    def role(self, name: str) -> Any:
        try:
            return self.roles[name]
        except KeyError:
            raise AutopackError(
                f"no role {name!r} is registered (installed roles: {', '.join(sorted(self.roles)) or 'none'})"
            ) from None

    async def ask(self, role_name: str, pid: str, context: Any, failed_attempts: int) -> None:
        """Route, build the prompt and call the model; the outcome lands in the log."""
        spec = self.spec(pid)
        c = self.cursor.phase(pid)
        if role_name == "doctor":
            d = c.diagnosis
            model = d.invoked.model if d is not None and d.invoked is not None else self.config.doctor_models()[0]
        else:
            route = self.router.route(
                role_name,
                category=spec.category,
                complexity=spec.complexity,
                failed_attempts=failed_attempts,
                phase_id=pid,
            )
            model = route.model
            if route.escalation is not None and role_name not in c.escalated_roles:
                self.record(route.escalation)
        role = self.role(role_name)
        prompt = role.build_prompt(
            context, context_tokens=self.context_tokens(model), template=template_for(self.config, role_name, role)
        )
        before = self.view.seq
        try:
            await self.caller.call(model, prompt.user, system=prompt.system, role=role_name, phase_id=pid)
        except QuotaExhausted as exc:
            self.fail_run(pid, recovery.budget_reason(exc.event), exc.event)  # type: ignore[arg-type]
        except (ProviderError, ConfigError) as exc:
            if self.view.seq == before:
                # Refused before anything was sent or recorded (unknown provider kind, bad settings):
                # asking again would fail the same way.
                self.fail_run(pid, f"cannot call model {model!r}: {exc}")
            # Otherwise ModelCallFailed is in the log; the next step classifies it.

    def malformed(self, pid: str, role_name: str, step: RoleStep, exc: Exception, where: str) -> bool:
        """Record a malformed reply; True when the role may be asked again."""
        assert step.answer is not None
        e = ev.RoleReplyMalformed(phase_id=pid, role=role_name, call_id=step.answer.call_id, reason=str(exc)[:2000])
        if step.malformed < MAX_REASKS:
            self.record(e)
            return True
        self.record(
            e,
            recovery.classified(
                pid, recovery.MALFORMED_OUTPUT, f"the {role_name}'s reply did not follow its protocol: {exc}", where
            ),
        )
        return False

    def call_failed(self, pid: str, failed: ev.ModelCallFailed, where: str) -> None:
        self.record(recovery.classified(pid, recovery.call_failure_category(failed), failed.message, where))

    # -- building ------------------------------------------------------------

    def parse_builder(self, text: str) -> tuple:
        edits = self._parsed.get(text)
        if edits is None:
            reply = self.role("builder").parse_reply(text)
            edits = tuple(reply.edits)
            self._parsed = {text: edits}
        return edits

    async def build(self, pid: str) -> None:
        c = self.cursor.phase(pid)
        b = c.builder
        answer = b.fresh_answer()
        if answer is not None:
            try:
                edits = self.parse_builder(answer.text)
            except AutopackError as exc:
                self.malformed(pid, "builder", b, exc, "building")
                return
            files = sorted({p for e in edits for p in (e.old_path, e.new_path) if p})
            blocks = [bool(e.blocks) for e in edits]
            fmt = "search-replace" if all(blocks) else ("mixed" if any(blocks) else "diff")
            self.record(ev.PatchProposed(phase_id=pid, text=answer.text, format=fmt, files=tuple(files)))
            return
        if b.failed is not None:
            self.call_failed(pid, b.failed, "building")
            return
        self.ensure_at_checkpoint(pid, f"attempt {c.attempt} starts from the phase's checkpoint")
        spec = self.spec(pid)
        context = RoleContext(
            goal=self.view.goal,
            phase=spec,
            attempt=c.attempt,
            files=self.scope_files(spec),
            repo_map=self.repo_map(),
            previous_failure=c.last_failure if c.attempt > 1 else "",
            hints=self.hints(),
            rules=(),
        )
        await self.ask("builder", pid, context, failed_attempts=c.attempt - 1)

    # -- applying ------------------------------------------------------------

    def apply(self, pid: str) -> None:
        from autopack_core.patching import governed_apply

        c = self.cursor.phase(pid)
        proposed = c.proposed
        assert proposed is not None
        self.ensure_at_checkpoint(pid, "the patch applies to the phase's checkpoint")
        self._before = (proposed.text, {f: self._read(f) for f in proposed.files})
        try:
            # Parsed once: the Builder step's edits (or, after a resume, the recorded text parsed again).
            result = governed_apply(self.parse_builder(proposed.text), self.root, self.config.governance)
        except AutopackError as exc:  # PatchError, or the reply no longer parses
            refusal = ev.Refusal(path=getattr(exc, "path", "") or "", rule="does-not-apply", message=str(exc))
            self.record(
                ev.PatchRefused(phase_id=pid, reasons=(refusal,)),
                recovery.classified(pid, recovery.PATCH_APPLY, f"the patch does not apply: {exc}", "applying"),
            )
            return
        if result.refusals:
            lines = "\n".join(f"{r.path}: {r.rule}: {r.message}" for r in result.refusals)
            self.record(
                ev.PatchRefused(phase_id=pid, reasons=result.refusals),
                recovery.classified(pid, recovery.PATCH_APPLY, f"governance refused the patch:\n{lines}", "applying"),
            )
            return
        self.crash("apply")
        self.record(ev.PatchApplied(phase_id=pid, files=result.files))

    # -- auditing ------------------------------------------------------------

    async def audit(self, pid: str) -> None:
        c = self.cursor.phase(pid)
        if c.verdict is not None:  # a reject recorded without its classification cannot happen (one batch)
            return
        a = c.auditor
        answer = a.fresh_answer()
        if answer is not None:
            try:
                reply = self.role("auditor").parse_reply(answer.text)
            except AutopackError as exc:
                self.malformed(pid, "auditor", a, exc, "auditing")
                return
            verdict = ev.AuditVerdict(
                phase_id=pid, verdict=reply.verdict, issues=tuple(reply.issues), model=answer.model
            )
            if reply.verdict == "approve":
                self.record(verdict)
            else:
                issues = "\n".join(f"- {i}" for i in reply.issues) or "- (no issues given)"
                self.record(
                    verdict,
                    recovery.classified(
                        pid, recovery.AUDIT_REJECTION, f"the Auditor rejected the patch:\n{issues}", "auditing"
                    ),
                )
            return
        if a.failed is not None:
            self.call_failed(pid, a.failed, "auditing")
            return
        spec = self.spec(pid)
        context = RoleContext(
            goal=self.view.goal,
            phase=spec,
            attempt=c.attempt,
            files=self.scope_files(spec),
            diff=self.applied_diff(pid),
            hints=self.hints(),
        )
        # The Auditor escalates on its own failures (malformed verdicts), not on the Builder's.
        await self.ask("auditor", pid, context, failed_attempts=a.malformed)

    def _read(self, rel: str) -> bytes | None:
        try:
            return read_bytes(os.path.join(self._root_str, rel))
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def applied_diff(self, pid: str) -> str:
        """The diff of the applied patch against the checkpoint, for the Auditor."""
        c = self.cursor.phase(pid)
        before = self._before
        if before is None or c.proposed is None or before[0] != c.proposed.text:
            return self.ws.diff(self.cursor.checkpoint)
        import difflib

        parts: list[str] = []
        for rel, old in sorted(before[1].items()):
            new = self._read(rel)
            if old == new:
                continue
            a = (old or b"").decode("utf-8", "replace").splitlines(keepends=True)
            b = (new or b"").decode("utf-8", "replace").splitlines(keepends=True)
            parts.append(f"diff --git a/{rel} b/{rel}\n")
            parts.extend(
                difflib.unified_diff(
                    a, b, "/dev/null" if old is None else f"a/{rel}", "/dev/null" if new is None else f"b/{rel}"
                )
            )
            if parts and not parts[-1].endswith("\n"):
                parts[-1] += "\n\\ No newline at end of file\n"
        return "".join(parts)

    # -- quality gate and checkpoint -----------------------------------------

    async def run_checks(self, pid: str) -> None:
        c = self.cursor.phase(pid)
        spec = self.spec(pid)
        for check in spec.checks:
            label = check_label(check)
            if label in c.checks:
                continue
            plugin = self.checks.get(check.name)
            if plugin is None:
                known = ", ".join(sorted(self.checks)) or "none"
                self.record(
                    ev.CheckResult(
                        phase_id=pid,
                        check=label,
                        passed=False,
                        output=f"no quality check {check.name!r} is installed (installed: {known})",
                    ),
                    recovery.classified(
                        pid, recovery.INFRASTRUCTURE, f"no quality check {check.name!r} is installed", "checking"
                    ),
                )
                return
            try:
                outcome = await plugin.run(self.root, dict(check.options))
            except Exception as exc:  # noqa: BLE001 - a check plugin's crash is a failed check, named
                self.record(
                    ev.CheckResult(
                        phase_id=pid,
                        check=label,
                        passed=False,
                        output=f"the check crashed: {type(exc).__name__}: {exc}",
                    ),
                    recovery.classified(
                        pid,
                        recovery.INFRASTRUCTURE,
                        f"the quality check {label!r} crashed: {type(exc).__name__}: {exc}",
                        "checking",
                    ),
                )
                return
            result = ev.CheckResult(
                phase_id=pid,
                check=label,
                passed=outcome.passed,
                output=_tail(outcome.output),
                duration_ms=outcome.duration_ms,
            )
            if outcome.passed:
                self.record(result)
            else:
                message = f"the quality check {label!r} failed; the end of its output:\n{_tail(outcome.output, 4000)}"
                self.record(
                    result, recovery.classified(pid, recovery.check_failure_category(check.name), message, "checking")
                )
            return
        self.checkpoint(pid)

    def checkpoint(self, pid: str) -> None:
        run_id = self.session.run_id
        found = None
        if self.resumed:
            # Committed before a crash but not recorded: use it, never commit twice.
            found = self.ws.find_commit_by_trailer("Autopack-Phase", f"{run_id}/{pid}", since=self.cursor.checkpoint)
        events: list[ev.Event] = []
        if found is not None:
            commit = found
            events.append(
                ev.WorkspaceReconciled(
                    action="checkpoint_found", commit=found, detail="committed before the interruption", phase_id=pid
                )
            )
        else:
            spec = self.spec(pid)
            commit = self.ws.checkpoint(
                f"autopack: {pid}: {spec.goal}",
                trailers={
                    "Autopack-Run": run_id,
                    "Autopack-Phase": f"{run_id}/{pid}",
                    "Autopack-Seq": str(self.view.seq),
                },
            )
            self.crash("checkpoint")
        events.append(
            ev.CheckpointCreated(commit=commit, label=f"phase {pid}", phase_id=pid, branch=self.cursor.branch)
        )
        events.append(ev.PhaseCompleted(phase_id=pid, commit=commit))
        self.record(*events)

    # -- recovery -----------------------------------------------------------

    async def diagnose(self, pid: str) -> None:
        from autopack_core.executor import doctor

        await doctor.diagnose(self, pid)


__all__ = ["MAX_REASKS", "Executor", "check_label"]
