"""Where the run stands inside its active phase: a pure fold of the log.

The executor decides its next step from this fold and the ``RunView`` alone,
never from memory of what it did, so a run resumed from its log (after kill
-9, power loss or Ctrl-C) takes exactly the step the interrupted one would
have taken next: an answer already in the log is used, not asked for again; a
patch already recorded as applied is not applied again.
"""

from __future__ import annotations

import attrs

from autopack_core import events as ev
from autopack_core.store import Envelope


@attrs.define
class RoleStep:
    """One role's calls within the current step."""

    requested: ev.ModelCallRequested | None = None
    answer: ev.ModelCallAnswered | None = None
    failed: ev.ModelCallFailed | None = None
    malformed: int = 0
    # An answer whose reply was found malformed: the role must be asked again.
    spent: bool = False

    def fresh_answer(self) -> ev.ModelCallAnswered | None:
        return None if self.spent else self.answer

    def on_requested(self, e: ev.ModelCallRequested) -> None:
        self.requested, self.answer, self.failed, self.spent = e, None, None, False


@attrs.define
class Diagnosis:
    """The recovery of one failure: from ``ErrorClassified`` to the retry or the end of the phase."""

    error: ev.ErrorClassified
    invoked: ev.DoctorInvoked | None = None
    doctor: RoleStep = attrs.Factory(RoleStep)
    diagnosed: ev.DoctorDiagnosed | None = None
    escalated: bool = False
    action: ev.ActionTaken | None = None
    refused: ev.ActionRefused | None = None
    plan_revised: ev.PlanRevised | None = None


@attrs.define
class PhaseCursor:
    phase_id: str
    attempt: int = 0
    builder: RoleStep = attrs.Factory(RoleStep)
    auditor: RoleStep = attrs.Factory(RoleStep)
    proposed: ev.PatchProposed | None = None
    applied: ev.PatchApplied | None = None
    verdict: ev.AuditVerdict | None = None
    checks: dict[str, ev.CheckResult] = attrs.Factory(dict)
    diagnosis: Diagnosis | None = None
    # Across attempts of the phase:
    signatures: list[str] = attrs.Factory(list)
    patch_errors: int = 0
    escalated_action: bool = False
    last_failure: str = ""
    escalated_roles: set[str] = attrs.Factory(set)

    def new_attempt(self, step: str = "building") -> None:
        if step == "building":
            self.attempt += 1
            self.builder = RoleStep()
            self.proposed = None
            self.applied = None
        if step in ("building", "auditing"):
            self.auditor = RoleStep()
            self.verdict = None
        self.checks = {}
        self.diagnosis = None


@attrs.define
class Cursor:
    """The executor's fold: the last checkpoint and each phase's current attempt."""

    base_commit: str = ""
    pre_run_branch: str = ""
    branch: str = ""
    checkpoint: str = ""
    phases: dict[str, PhaseCursor] = attrs.Factory(dict)
    completed_phases: list[str] = attrs.Factory(list)
    rollback_requested: bool = False
    # A patch may be in the worktree that no checkpoint holds (applied since the last one).
    unclean: bool = False

    def phase(self, pid: str) -> PhaseCursor:
        c = self.phases.get(pid)
        if c is None:
            c = self.phases[pid] = PhaseCursor(pid)
        return c

    def _role(self, pid: str | None, role: str) -> RoleStep | None:
        if pid is None:
            return None
        c = self.phase(pid)
        if role == "builder":
            return c.builder
        if role == "auditor":
            return c.auditor
        if role == "doctor" and c.diagnosis is not None:
            return c.diagnosis.doctor
        return None

    def apply(self, env: Envelope) -> None:
        e = env.event
        cls = type(e)
        if cls is ev.RunStarted:
            self.base_commit = self.checkpoint = e.base_commit
            self.pre_run_branch = e.pre_run_branch
            self.branch = e.branch
        elif cls is ev.PhaseStarted:
            self.phase(e.phase_id).new_attempt()
        elif cls is ev.StepRetried:
            self.phase(e.phase_id).new_attempt(e.step)
        elif cls is ev.ModelCallRequested:
            r = self._role(e.phase_id, e.role)
            if r is not None:
                r.on_requested(e)
        elif cls is ev.ModelCallAnswered:
            r = self._role(e.phase_id, e.role)
            if r is not None:
                r.answer = e
        elif cls is ev.ModelCallFailed:
            r = self._role(e.phase_id, e.role)
            if r is not None:
                r.failed = e
        elif cls is ev.RoleReplyMalformed:
            r = self._role(e.phase_id, e.role)
            if r is not None:
                r.malformed += 1
                r.spent = True
        elif cls is ev.PatchProposed:
            self.phase(e.phase_id).proposed = e
        elif cls is ev.PatchApplied:
            self.phase(e.phase_id).applied = e
            self.unclean = True
        elif cls is ev.PatchRefused:
            self.phase(e.phase_id).patch_errors += 1
        elif cls is ev.AuditVerdict:
            self.phase(e.phase_id).verdict = e
        elif cls is ev.CheckResult:
            self.phase(e.phase_id).checks[e.check] = e
        elif cls is ev.ErrorClassified:
            c = self.phase(e.phase_id)
            c.diagnosis = Diagnosis(error=e)
            c.signatures.append(e.signature)
            c.last_failure = e.message
        elif cls is ev.DoctorInvoked:
            d = self.phase(e.phase_id).diagnosis
            if d is not None:
                if d.invoked is not None:
                    d.escalated = True
                d.invoked = e
                d.doctor = RoleStep()
                d.diagnosed = None
        elif cls is ev.DoctorDiagnosed:
            d = self.phase(e.phase_id).diagnosis
            if d is not None:
                d.diagnosed = e
        elif cls is ev.ActionTaken:
            c = self.phase(e.phase_id)
            if c.diagnosis is not None:
                c.diagnosis.action = e
            if e.action in ("replan", "rollback_run", "execute_fix"):
                c.escalated_action = True
            if e.action == "rollback_run":
                self.rollback_requested = True
        elif cls is ev.ActionRefused:
            d = self.phase(e.phase_id).diagnosis
            if d is not None:
                d.refused = e
        elif cls is ev.PlanRevised:
            for c in self.phases.values():
                if c.diagnosis is not None and c.diagnosis.action is not None and c.diagnosis.plan_revised is None:
                    c.diagnosis.plan_revised = e
        elif cls is ev.ModelEscalated:
            if e.phase_id is not None:
                self.phase(e.phase_id).escalated_roles.add(e.role)
                if e.role == "doctor":
                    self.phase(e.phase_id).escalated_action = True
        elif cls is ev.CheckpointCreated:
            self.checkpoint = e.commit
            self.unclean = False
        elif cls is ev.WorkspaceReconciled:
            self.unclean = e.action == "reapplied"
        elif cls is ev.PhaseCompleted:
            self.completed_phases.append(e.phase_id)
