"""The facts of a run's lifecycle, one frozen class per fact.

Each class carries a class-level ``type`` tag, written into its JSON as the
``type`` key by the tagged-union converter (see ``codec.py``). Events hold only
domain facts; the store adds the envelope (run id, sequence number, timestamp,
hash). Plugins add their own classes through the ``register_event_types`` hook;
their tags should be namespaced ``plugin_name.event_name``.

Schema changes: add fields with defaults only, and bump ``SCHEMA_VERSION`` when
an old reader could misread a new payload.
"""

from __future__ import annotations

from typing import Callable, ClassVar, NamedTuple, TypeVar

import attrs

from autopack_core.plan import PhaseSpec

SCHEMA_VERSION = 1

# Streams that are not runs: their ids start with "_" (run ids are ULIDs).
RULES_STREAM = "_rules"  # approved and rejected learned rules
PROMPTS_STREAM = "_prompts"  # calls made with ``autopack prompt --db``
NON_RUN_STREAMS: tuple[str, ...] = (RULES_STREAM, PROMPTS_STREAM)


def is_run_stream(stream_id: str) -> bool:
    """False for the non-run streams (any id starting with ``_``)."""
    return not stream_id.startswith("_")


@attrs.frozen(kw_only=True)
class Event:
    """Base of every event. ``type`` is the tag written to JSON."""

    type: ClassVar[str] = ""


class Envelope(NamedTuple):
    """A stored event with its place in the log (the store adds all but ``event``).

    A named tuple rather than an attrs class: the store makes one per event
    written and per event replayed, and a tuple is built in one C call.
    """

    run_id: str
    seq: int
    ts: str
    event: Event
    hash: str


E = TypeVar("E", bound=type)

CORE_EVENT_TYPES: list[type[Event]] = []


def event_type(tag: str) -> Callable[[E], E]:
    """Make a class a frozen, keyword-only event with the given tag."""

    def wrap(cls: E) -> E:
        cls.type = tag  # type: ignore[attr-defined]
        return attrs.frozen(kw_only=True)(cls)  # type: ignore[return-value]

    return wrap


def _core(tag: str) -> Callable[[E], E]:
    def wrap(cls: E) -> E:
        out = event_type(tag)(cls)
        CORE_EVENT_TYPES.append(out)  # type: ignore[arg-type]
        return out

    return wrap


@attrs.frozen(kw_only=True)
class PluginVersion:
    name: str
    distribution: str
    version: str


@attrs.frozen(kw_only=True)
class Refusal:
    """Why governance refused one path of a patch or one fix command."""

    path: str
    rule: str
    message: str


# --- run lifecycle --------------------------------------------------------


@_core("run_created")
class RunCreated(Event):
    goal: str
    phases: tuple[PhaseSpec, ...]
    workspace: str = ""
    config_digest: str = ""
    plugins: tuple[PluginVersion, ...] = ()
    autopack_version: str = ""
    schema_version: int = SCHEMA_VERSION


@_core("run_started")
class RunStarted(Event):
    base_commit: str = ""
    pre_run_branch: str = ""
    # The branch the run commits its checkpoints on.
    branch: str = ""


@_core("run_resumed")
class RunResumed(Event):
    """A run was continued from its log after an interruption."""

    from_seq: int
    reason: str = ""


@_core("plan_revised")
class PlanRevised(Event):
    """The not-yet-started phases were replaced by ``phases``."""

    revision: int
    reason: str
    phases: tuple[PhaseSpec, ...]


@_core("rollback_performed")
class RollbackPerformed(Event):
    branch: str
    commit: str
    reason: str = ""
    stashed_ref: str = ""
    phase_id: str | None = None
    # Uncommitted changes found at the rollback, saved on this branch (never lost).
    rescue_branch: str = ""


@_core("run_completed")
class RunCompleted(Event):
    summary: str = ""


@_core("run_failed")
class RunFailed(Event):
    reason: str


@_core("run_aborted")
class RunAborted(Event):
    reason: str


@_core("budget_exhausted")
class BudgetExhausted(Event):
    """A budget ran out. ``scope`` is ``run`` or ``phase``."""

    scope: str
    budget: str
    used: float
    limit: float
    phase_id: str | None = None


@_core("checkpoint_created")
class CheckpointCreated(Event):
    commit: str
    label: str
    phase_id: str | None = None
    branch: str = ""


# --- phase lifecycle ------------------------------------------------------


@_core("phase_started")
class PhaseStarted(Event):
    phase_id: str


@_core("model_call_requested")
class ModelCallRequested(Event):
    call_id: str
    role: str
    provider: str
    model: str
    prompt: str
    system: str = ""
    phase_id: str | None = None


@_core("model_call_answered")
class ModelCallAnswered(Event):
    call_id: str
    role: str
    provider: str
    model: str
    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    attempts: int = 1
    phase_id: str | None = None
    # Why the model stopped, as the provider says it ("stop", "length", "end_turn", "MAX_TOKENS" ...).
    finish_reason: str = ""


@_core("model_call_failed")
class ModelCallFailed(Event):
    call_id: str
    role: str
    provider: str
    model: str
    category: str
    message: str
    status: int | None = None
    attempts: int = 1
    latency_ms: float = 0.0
    phase_id: str | None = None


@_core("patch_proposed")
class PatchProposed(Event):
    phase_id: str
    text: str
    format: str = "diff"
    files: tuple[str, ...] = ()


@_core("patch_refused")
class PatchRefused(Event):
    phase_id: str
    reasons: tuple[Refusal, ...]


@_core("patch_applied")
class PatchApplied(Event):
    phase_id: str
    files: tuple[str, ...]
    commit: str = ""


@_core("audit_verdict")
class AuditVerdict(Event):
    phase_id: str
    verdict: str
    issues: tuple[str, ...] = ()
    model: str = ""


@_core("check_result")
class CheckResult(Event):
    phase_id: str
    check: str
    passed: bool
    output: str = ""
    duration_ms: float = 0.0


@_core("error_classified")
class ErrorClassified(Event):
    """A step failed; ``category`` is one of ``recovery`` categories."""

    phase_id: str
    category: str
    signature: str
    message: str
    step: str = ""


@_core("doctor_invoked")
class DoctorInvoked(Event):
    phase_id: str
    model: str
    reason: str = ""


@_core("doctor_diagnosed")
class DoctorDiagnosed(Event):
    phase_id: str
    action: str
    confidence: float
    rationale: str = ""
    hint: str = ""
    fix_type: str = ""
    fix_commands: tuple[str, ...] = ()
    verify_command: str = ""
    model: str = ""


@_core("action_taken")
class ActionTaken(Event):
    """The executor carried out a recovery action (Doctor's or self-heal)."""

    phase_id: str
    action: str
    detail: str = ""


@_core("hint_recorded")
class HintRecorded(Event):
    phase_id: str
    category: str
    hint: str


@_core("model_escalated")
class ModelEscalated(Event):
    role: str
    from_model: str
    to_model: str
    reason: str = ""
    phase_id: str | None = None


@_core("fix_refused")
class FixRefused(Event):
    """An execute_fix command that was not run (``rule`` names why; ``stage`` is ``command``,
    ``verify`` or ``action`` for the whole fix; ``index`` is the command's place in ``fix_commands``)."""

    phase_id: str
    fix_type: str
    command: str
    reason: str
    requires_manual: bool = False
    rule: str = ""
    stage: str = "command"
    index: int = 0


@_core("fix_started")
class FixStarted(Event):
    """Intent: this fix command is about to run (``argv`` exactly as it will run). An intent
    without its ``fix_executed`` means the run stopped while it ran: it is never run again."""

    phase_id: str
    fix_type: str
    command: str
    argv: tuple[str, ...] = ()
    stage: str = "command"
    index: int = 0


@_core("fix_executed")
class FixExecuted(Event):
    phase_id: str
    fix_type: str
    command: str
    exit_code: int
    output: str = ""
    duration_ms: float = 0.0
    stage: str = "command"
    index: int = 0
    argv: tuple[str, ...] = ()
    timed_out: bool = False


@_core("step_retried")
class StepRetried(Event):
    """The phase goes back to ``step`` (``building`` or ``checking``)."""

    phase_id: str
    step: str


@_core("phase_completed")
class PhaseCompleted(Event):
    phase_id: str
    commit: str = ""


@_core("phase_failed")
class PhaseFailed(Event):
    phase_id: str
    reason: str


@_core("phase_skipped")
class PhaseSkipped(Event):
    phase_id: str
    reason: str


@_core("phase_marked_fatal")
class PhaseMarkedFatal(Event):
    phase_id: str
    reason: str


@_core("phase_superseded")
class PhaseSuperseded(Event):
    """A plan revision replaced the phase (and the rest of the plan) while it was being diagnosed."""

    phase_id: str
    revision: int
    reason: str = ""


@_core("role_reply_malformed")
class RoleReplyMalformed(Event):
    """A role's reply did not follow its protocol; the role is asked again within budget."""

    phase_id: str
    role: str
    call_id: str
    reason: str


@_core("action_refused")
class ActionRefused(Event):
    """The executor would not carry out a Doctor action (e.g. skip_phase on a required phase)."""

    phase_id: str
    action: str
    reason: str


@_core("workspace_reconciled")
class WorkspaceReconciled(Event):
    """The workspace was brought back in line with the log (reset to ``commit``, a patch re-applied,
    or a checkpoint found that was committed but not recorded)."""

    action: str
    commit: str = ""
    detail: str = ""
    phase_id: str | None = None


# --- learned rules (stream ``RULES_STREAM``) ---------------------------------


@_core("rule_approved")
class RuleApproved(Event):
    rule_id: str
    by: str = ""
    note: str = ""


@_core("rule_rejected")
class RuleRejected(Event):
    rule_id: str
    by: str = ""
    reason: str = ""
