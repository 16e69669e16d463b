"""Recovering from a classified failure: self-healing, budgets, the Doctor and its actions.

One call of ``diagnose`` takes one step of a phase that is ``diagnosing``:

1. a transient provider failure self-heals (the step is retried, no Doctor);
   a provider that refuses for good ends the run;
2. an exhausted health budget or Doctor budget ends the run cleanly
   (``BudgetExhausted`` then ``run_failed`` naming the budget);
3. otherwise the Doctor is invoked (model chosen by ``doctor_routing``), asked,
   possibly escalated to the strong model, and its action carried out:

- ``retry_with_fix``: the hint becomes a Stage 0A hint (``HintRecorded``) that
  every later Builder prompt of the run carries; the phase is built again.
- ``replan``: the reply's revised phases (validated like a plan file) replace
  the rest of the plan (``PlanRevised``); the current phase is ``superseded``.
- ``skip_phase``: optional phases only; on a required phase it is refused.
- ``rollback_run``: the run's work is kept on ``autopack/rolled-back-{run}``,
  the workspace is reset to the pre-run branch, and the run ends rolled back.
- ``mark_fatal``: the phase and the run end.
- ``execute_fix``: the Doctor's fix commands run (``executor/fixes.py``), when the
  config enables it; refused or failed, its fallback follows.

A refused action falls back to ``retry_with_fix`` with the Doctor's hint. The
same error signature seen again in a phase is sent to the Doctor as a
recurring failure (strong model, and the message says the approach keeps
failing the same way, which is when ``replan`` fits).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from autopack_core import events as ev
from autopack_core.doctor_routing import (
    choose_doctor_model,
    doctor_budget_exhausted,
    is_complex_failure,
    should_escalate_doctor_model,
)
from autopack_core.errors import AutopackError
from autopack_core.executor import recovery

if TYPE_CHECKING:
    from autopack_core.executor.loop import Executor


def _recurring(x: Executor, pid: str) -> int:
    c = x.cursor.phase(pid)
    assert c.diagnosis is not None
    return c.signatures.count(c.diagnosis.error.signature)


def _budget_check(x: Executor, pid: str) -> bool:
    """End the run if a health or Doctor budget is used up; True if it ended."""
    view = x.view
    phase = view.phases[pid]
    spent = recovery.health_exhausted(view, x.config.health_budget, pid) or doctor_budget_exhausted(
        calls_in_phase=phase.doctor_calls, calls_in_run=view.doctor_calls, doctor=x.config.doctor, phase_id=pid
    )
    if spent is None:
        return False
    x.fail_run(pid, recovery.budget_reason(spent), spent)
    return True


async def diagnose(x: Executor, pid: str) -> None:
    c = x.cursor.phase(pid)
    d = c.diagnosis
    if d is None:  # defensive: a diagnosing phase always has its ErrorClassified in the log
        x.record(
            ev.ActionTaken(phase_id=pid, action="retry", detail="no diagnosis in the log"),
            ev.StepRetried(phase_id=pid, step="building"),
        )
        return
    err = d.error
    if d.action is not None:
        # Only rollback_run has an effect after its ActionTaken; the others end in the same batch.
        if d.action.action == "rollback_run":
            rollback(x, pid, d.action.detail)
        return
    if d.diagnosed is not None:
        await act(x, pid)
        return
    if d.invoked is not None:
        step = d.doctor
        if step.fresh_answer() is None:
            if step.failed is not None:
                x.fail_run(pid, f"the Doctor could not be asked: {step.failed.message}")
                return
            await ask_doctor(x, pid)
            return
        try:
            resp = x.role("doctor").parse_reply(step.fresh_answer().text)  # type: ignore[union-attr]
        except AutopackError as exc:
            if step.malformed < 2:
                x.record(
                    ev.RoleReplyMalformed(
                        phase_id=pid, role="doctor", call_id=step.answer.call_id, reason=str(exc)[:2000]
                    )
                )  # type: ignore[union-attr]
            else:
                x.fail_run(
                    pid,
                    f"the Doctor's replies did not follow its protocol: {exc}",
                    ev.RoleReplyMalformed(
                        phase_id=pid, role="doctor", call_id=step.answer.call_id, reason=str(exc)[:2000]
                    ),
                )  # type: ignore[union-attr]
            return
        x.record(
            ev.DoctorDiagnosed(
                phase_id=pid,
                action=resp.action,
                confidence=float(resp.confidence),
                rationale=resp.rationale,
                hint=resp.hint,
                fix_type=resp.fix_type,
                fix_commands=tuple(resp.fix_commands),
                verify_command=resp.verify_command,
                model=d.invoked.model,
            )
        )
        return
    # A new failure: self-heal, stop, or call the Doctor.
    if err.category == recovery.TRANSIENT_PROVIDER:
        if _budget_check_health_only(x, pid):
            return
        step = err.step if err.step in ("building", "auditing") else "building"
        x.record(
            ev.ActionTaken(
                phase_id=pid, action="self_heal", detail=f"retry the {step} step after a transient provider error"
            ),
            ev.StepRetried(phase_id=pid, step=step),
        )
        return
    if err.category == recovery.PROVIDER_ERROR:
        x.fail_run(pid, f"the model provider failed: {err.message}")
        return
    if x.view.phases[pid].execute_fixes:
        from autopack_core.executor import fixes

        fix = fixes.fallback_due(x, pid)
        if fix is not None:  # an execute_fix did not cure it: its fallback, not the Doctor again
            if not _budget_check_health_only(x, pid):
                fixes.fallback(x, pid, fix)
            return
    if _budget_check(x, pid):
        return
    view = x.view
    phase = view.phases[pid]
    ratio = recovery.health_ratio(view, x.config.health_budget)
    recurring = _recurring(x, pid) > 1
    complex_failure = is_complex_failure(
        error_categories=phase.errors,
        patch_errors=c.patch_errors,
        attempts=phase.attempts,
        health_ratio=ratio,
        prior_escalated_action=c.escalated_action or recurring,
        doctor=x.config.doctor,
    )
    model = choose_doctor_model(x.config, health_ratio=ratio, complex_failure=complex_failure)
    reason = f"{err.category} in {err.step or 'phase'}" + (" (the same failure again)" if recurring else "")
    x.record(ev.DoctorInvoked(phase_id=pid, model=model, reason=reason))


def _budget_check_health_only(x: Executor, pid: str) -> bool:
    spent = recovery.health_exhausted(x.view, x.config.health_budget, pid)
    if spent is None:
        return False
    x.fail_run(pid, recovery.budget_reason(spent), spent)
    return True


def doctor_request(x: Executor, pid: str):
    from autopack_core.roles import DoctorContextSummary, DoctorRequest

    view = x.view
    phase = view.phases[pid]
    c = x.cursor.phase(pid)
    assert c.diagnosis is not None
    err = c.diagnosis.error
    times = _recurring(x, pid)
    message = err.message
    if times > 1:
        message = (
            f"This is the same failure (signature {err.signature}) for the {times}th time in this phase: "
            f"the approach looks flawed; consider replan.\n\n{message}"
        )
    return DoctorRequest(
        run_id=view.run_id,
        phase_id=pid,
        error_category=err.category,
        error_message=message,
        signature=err.signature,
        attempts=phase.attempts,
        health_ratio=recovery.health_ratio(view, x.config.health_budget),
        categories_seen=tuple(sorted(phase.errors)),
        patch_errors=c.patch_errors,
        prior_escalated_action=c.escalated_action,
        optional_phase=phase.spec.optional,
        context=DoctorContextSummary(
            goal=view.goal,
            phase_goal=phase.spec.goal,
            recent_failures=tuple(recovery.normalise(s)[:200] for s in [err.message]),
            hints=x.hints(),
            files_in_scope=phase.spec.scope,
        ),
    )


async def ask_doctor(x: Executor, pid: str) -> None:
    from autopack_core.roles import RoleContext

    c = x.cursor.phase(pid)
    spec = x.spec(pid)
    request = doctor_request(x, pid)
    context = RoleContext(
        goal=x.view.goal,
        phase=spec,
        attempt=c.attempt,
        previous_failure=request.error_message,
        hints=x.hints(),
        doctor_request=request,
    )
    await x.ask("doctor", pid, context, failed_attempts=0)


async def act(x: Executor, pid: str) -> None:
    c = x.cursor.phase(pid)
    d = c.diagnosis
    assert d is not None and d.diagnosed is not None and d.invoked is not None
    diag = d.diagnosed
    phase = x.view.phases[pid]
    if not d.escalated and should_escalate_doctor_model(
        x.config, current_model=d.invoked.model, confidence=diag.confidence, attempts=phase.attempts
    ):
        _, strong = x.config.doctor_models()
        spent = doctor_budget_exhausted(
            calls_in_phase=phase.doctor_calls, calls_in_run=x.view.doctor_calls, doctor=x.config.doctor, phase_id=pid
        )
        if spent is None and strong != d.invoked.model:
            x.record(
                ev.ModelEscalated(
                    role="doctor",
                    from_model=d.invoked.model,
                    to_model=strong,
                    reason=f"low confidence {diag.confidence:g} after {phase.attempts} attempts",
                    phase_id=pid,
                ),
                ev.DoctorInvoked(phase_id=pid, model=strong, reason="escalated: the cheap Doctor was unsure"),
            )
            return
    action = diag.action
    spec = phase.spec
    rationale = diag.rationale or action
    if action == "retry_with_fix":
        retry(x, pid, diag)
    elif action == "skip_phase":
        if spec.optional:
            x.record(
                ev.ActionTaken(phase_id=pid, action="skip_phase", detail=rationale),
                ev.PhaseSkipped(phase_id=pid, reason=f"skipped on the Doctor's advice: {rationale}"),
            )
        else:
            retry(
                x,
                pid,
                diag,
                refused=ev.ActionRefused(phase_id=pid, action="skip_phase", reason=f"phase {pid!r} is not optional"),
            )
    elif action == "mark_fatal":
        reason = f"phase {pid} marked fatal by the Doctor: {rationale}"
        x.record(
            ev.ActionTaken(phase_id=pid, action="mark_fatal", detail=rationale),
            ev.PhaseMarkedFatal(phase_id=pid, reason=rationale),
            ev.RunFailed(reason=reason),
        )
    elif action == "rollback_run":
        x.record(ev.ActionTaken(phase_id=pid, action="rollback_run", detail=rationale))
        rollback(x, pid, rationale)
    elif action == "replan":
        replan(x, pid, diag)
    elif action == "execute_fix":
        from autopack_core.executor import fixes

        await fixes.begin(x, pid, diag)
    else:
        retry(x, pid, diag, refused=ev.ActionRefused(phase_id=pid, action=action, reason=f"unknown action {action!r}"))


def retry(
    x: Executor,
    pid: str,
    diag: ev.DoctorDiagnosed,
    *,
    refused: ev.ActionRefused | None = None,
    extra: tuple[ev.Event, ...] = (),
) -> None:
    c = x.cursor.phase(pid)
    assert c.diagnosis is not None
    events: list[ev.Event] = [*extra]
    if refused is not None:
        events.append(refused)
    hint = diag.hint.strip()
    if hint:
        events.append(ev.HintRecorded(phase_id=pid, category=c.diagnosis.error.category, hint=hint))
    detail = hint or diag.rationale
    if refused is not None:
        detail = f"fallback after refusing {refused.action}: {detail}"
    events.append(ev.ActionTaken(phase_id=pid, action="retry_with_fix", detail=detail))
    events.append(ev.StepRetried(phase_id=pid, step="building"))
    x.record(*events)


def replan(x: Executor, pid: str, diag: ev.DoctorDiagnosed) -> None:
    c = x.cursor.phase(pid)
    d = c.diagnosis
    assert d is not None and d.doctor.answer is not None
    problem = ""
    phases = None
    try:
        # The revised phases are in the Doctor's answer, already in the log.
        resp = x.role("doctor").parse_reply(d.doctor.answer.text)
        phases = resp.revised_phases
    except AutopackError as exc:
        problem = str(exc)
    if not problem and not phases:
        problem = "the replan carries no revised phases"
    if not problem:
        started = {p for p, v in x.view.phases.items() if v.status != "pending"}
        clash = sorted({s.id for s in phases} & started)  # type: ignore[union-attr]
        ids = [s.id for s in phases]  # type: ignore[union-attr]
        if clash:
            problem = f"revised phase ids already ran: {', '.join(clash)}"
        elif len(ids) != len(set(ids)):
            problem = "revised phase ids repeat"
    if problem:
        retry(x, pid, diag, refused=ev.ActionRefused(phase_id=pid, action="replan", reason=problem))
        return
    revision = x.view.plan_revision + 1
    x.record(
        ev.ActionTaken(phase_id=pid, action="replan", detail=diag.rationale),
        ev.PlanRevised(revision=revision, reason=diag.rationale or "the Doctor replanned", phases=tuple(phases)),  # type: ignore[arg-type]
        ev.PhaseSuperseded(phase_id=pid, revision=revision, reason=diag.rationale),
    )


def rollback(x: Executor, pid: str, reason: str) -> None:
    """Keep the run's work on a branch, then reset the workspace to the pre-run branch."""
    pre = x.cursor.pre_run_branch
    target = x.ws.branch_commit(pre) if pre else None
    target = target or x.cursor.base_commit
    head = x.ws.head()
    name = f"autopack/rolled-back-{x.session.run_id}"
    kept = name if x.ws.branch_commit(name) is not None else ""
    if head is not None and head != target and not kept:
        kept = name
        x.ws.create_branch(kept, head)
    from autopack_core.errors import WorkspaceError
    from autopack_core.executor import fixes

    try:
        rescued = fixes.save_uncommitted(x)  # uncommitted changes are never lost to the reset
    except WorkspaceError as exc:
        x.fail_run(
            pid, f"rollback not done, the workspace is left as it is: uncommitted changes cannot be saved: {exc}"
        )
        return
    x.ws.reset_hard(target)
    x.crash("rollback")
    x.record(
        ev.RollbackPerformed(
            branch=pre,
            commit=target,
            reason=f"rolled back by the Doctor: {reason}",
            stashed_ref=kept,
            phase_id=pid,
            rescue_branch=rescued,
        )
    )
