"""Scripted, legal event sequences of realistic runs.

Used by the event-store benchmark and by tests that need long, varied logs
without driving models. Every sequence here is accepted by ``RunSession``; the
tests check that.
"""

from __future__ import annotations

import random
from typing import Iterator

from autopack_core import events as ev
from autopack_core.plan import CheckSpec, PhaseSpec

CATEGORIES = ("feature", "bugfix", "tests", "docs", "refactor", "infra")
_WORDS = "the of patch test phase model file error fix build check run audit diff line value".split()


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


def _diff(rng: random.Random, path: str) -> str:
    lines = [f"--- a/{path}", f"+++ b/{path}", "@@ -1,4 +1,5 @@"]
    lines += [f" {_text(rng, 6)}" for _ in range(3)]
    lines += [f"+{_text(rng, 8)}", f"-{_text(rng, 7)}"]
    return "\n".join(lines) + "\n"


def plan_phases(rng: random.Random, count: int) -> tuple[PhaseSpec, ...]:
    return tuple(
        PhaseSpec(
            id=f"phase-{i + 1}",
            goal=_text(rng, 8),
            category=rng.choice(CATEGORIES),
            complexity=rng.choice(("low", "medium", "high")),
            scope=(f"src/mod_{i}.py",),
            checks=(CheckSpec(name="pytest"),),
            optional=rng.random() < 0.2,
        )
        for i in range(count)
    )


def _call(rng: random.Random, n: int, role: str, phase_id: str, reply: str) -> list[ev.Event]:
    model = rng.choice(("glm-4.6", "claude-sonnet", "gpt-mini"))
    call_id = f"{phase_id}-{role}-{n}"
    tin, tout = rng.randint(500, 8000), rng.randint(50, 1500)
    return [
        ev.ModelCallRequested(
            call_id=call_id, role=role, provider="recorded", model=model, prompt=_text(rng, 60), phase_id=phase_id
        ),
        ev.ModelCallAnswered(
            call_id=call_id,
            role=role,
            provider="recorded",
            model=model,
            text=reply,
            input_tokens=tin,
            output_tokens=tout,
            cost_usd=round((tin * 0.6 + tout * 2.2) / 1e6, 6),
            latency_ms=round(rng.uniform(200, 9000), 1),
            phase_id=phase_id,
        ),
    ]


def run_events(rng: random.Random, phases: int | None = None) -> Iterator[ev.Event]:
    """One run from ``RunCreated`` to its end, with failures, Doctor calls and retries."""
    specs = plan_phases(rng, phases if phases is not None else rng.randint(3, 12))
    yield ev.RunCreated(
        goal=_text(rng, 10), phases=specs, workspace="/work/example", config_digest="sha256:" + "0" * 64
    )
    yield ev.RunStarted(base_commit="a" * 40, pre_run_branch="autopack/pre-run")
    n = 0
    for spec in specs:
        pid = spec.id
        yield ev.PhaseStarted(phase_id=pid)
        attempts = 0
        while True:
            attempts += 1
            n += 1
            diff = _diff(rng, spec.scope[0])
            yield from _call(rng, n, "builder", pid, diff)
            yield ev.PatchProposed(phase_id=pid, text=diff, files=spec.scope)
            roll = rng.random()
            failed_category = ""
            if roll < 0.1:
                yield ev.PatchRefused(
                    phase_id=pid,
                    reasons=(ev.Refusal(path=spec.scope[0], rule="context_mismatch", message="hunk 1 does not apply"),),
                )
                failed_category = "patch_apply_failure"
            else:
                yield ev.PatchApplied(phase_id=pid, files=spec.scope, commit="")
                yield from _call(rng, n, "auditor", pid, '{"verdict": "approve", "issues": []}')
                if roll < 0.15:
                    yield ev.AuditVerdict(phase_id=pid, verdict="reject", issues=(_text(rng, 6),))
                    failed_category = "audit_rejection"
                else:
                    yield ev.AuditVerdict(phase_id=pid, verdict="approve")
                    passed = roll >= 0.3 or attempts >= 3
                    yield ev.CheckResult(
                        phase_id=pid, check="pytest", passed=passed, output=_text(rng, 40), duration_ms=1234.5
                    )
                    if passed:
                        yield ev.PhaseCompleted(phase_id=pid, commit="b" * 40)
                        yield ev.CheckpointCreated(commit="c" * 40, label=f"phase {pid} completed", phase_id=pid)
                        break
                    failed_category = "test_failure"
            yield ev.ErrorClassified(
                phase_id=pid,
                category=failed_category,
                signature=f"{failed_category}:{attempts}",
                message=_text(rng, 12),
            )
            if attempts >= 4:
                yield ev.PhaseFailed(phase_id=pid, reason="attempts exhausted")
                yield ev.RunFailed(reason=f"phase {pid} failed")
                return
            if attempts >= 2:
                yield ev.DoctorInvoked(phase_id=pid, model="glm-4.6", reason=failed_category)
                yield from _call(rng, n, "doctor", pid, '{"action": "retry_with_fix"}')
                yield ev.DoctorDiagnosed(
                    phase_id=pid, action="retry_with_fix", confidence=0.7, rationale=_text(rng, 15), hint=_text(rng, 10)
                )
                yield ev.HintRecorded(phase_id=pid, category=spec.category, hint=_text(rng, 10))
            yield ev.ActionTaken(phase_id=pid, action="retry_with_fix" if attempts >= 2 else "retry")
            yield ev.StepRetried(phase_id=pid, step="building")
    yield ev.RunCompleted(summary=f"{len(specs)} phases completed")
