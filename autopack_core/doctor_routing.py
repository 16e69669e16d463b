"""The Doctor's model routing (SPEC section 4), as pure functions of counts and config.

- ``is_complex_failure``: false for one error category, one attempt and a
  healthy budget; true for 2+ distinct categories, 2+ patch errors, 4+
  attempts, a health ratio >= 0.8, or a prior escalated action (each
  threshold from the ``doctor:`` section).
- ``choose_doctor_model``: an unhealthy run (ratio >= 0.8) always gets the
  strong model; otherwise complex -> strong, routine -> cheap.
- ``should_escalate_doctor_model``: ask the strong model again only when the
  cheap one answered with low confidence after 2+ attempts.

The counts come from the run's projection (``RunView``): ``health_ratio`` and
``doctor_budget_exhausted`` take the view, so nothing here counts events itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Mapping

from autopack_core import events as ev
from autopack_core.config import AutopackConfig, DoctorConfig, HealthBudgetConfig

if TYPE_CHECKING:
    from autopack_core.projections import RunView

DEFAULT_DOCTOR = DoctorConfig()


def health_ratio(
    view: RunView | None = None,
    *,
    http_5xx: int = 0,
    patch_failures: int = 0,
    total_failures: int = 0,
    budget: HealthBudgetConfig | None = None,
) -> float:
    """The run's health ratio: the largest used/limit over the health budget's kinds.

    Pass the run's ``view``: its fold holds the counts (HTTP 5xx answers, refused
    patches, classified failures), so the live run and a run rebuilt from its log
    get the same ratio. The keyword counts are for figures from elsewhere and
    are ignored when a view is given.
    """
    b = budget or HealthBudgetConfig()
    if view is not None:
        http_5xx, patch_failures, total_failures = view.http_5xx, view.patch_failures, view.total_failures
    return max(http_5xx / b.max_http_5xx, patch_failures / b.max_patch_failures, total_failures / b.max_total_failures)


def is_complex_failure(
    *,
    error_categories: Iterable[str] | Mapping[str, int],
    patch_errors: int,
    attempts: int,
    health_ratio: float,
    prior_escalated_action: bool = False,
    doctor: DoctorConfig = DEFAULT_DOCTOR,
) -> bool:
    """Whether a phase's failure needs the strong Doctor model.

    :param error_categories: the categories of the phase's errors so far
        (repeats allowed; only distinct ones count), or category -> count.
    :param patch_errors: patch validation/apply failures in the phase.
    :param attempts: attempts of the phase so far.
    :param health_ratio: the run's health ratio (see ``health_ratio``).
    :param prior_escalated_action: an earlier Doctor action in the phase was
        escalated (strong model, replan, rollback or execute_fix).
    """
    distinct = (
        {c for c, n in error_categories.items() if n}
        if isinstance(error_categories, Mapping)
        else set(error_categories)
    )
    return (
        len(distinct) >= doctor.complex_min_categories
        or patch_errors >= doctor.complex_min_patch_errors
        or attempts >= doctor.complex_min_attempts
        or health_ratio >= doctor.health_ratio_strong
        or prior_escalated_action
    )


def choose_doctor_model(config: AutopackConfig, *, health_ratio: float, complex_failure: bool) -> str:
    """The Doctor model for this call: strong when the run is unhealthy or the failure complex."""
    cheap, strong = config.doctor_models()
    if health_ratio >= config.doctor.health_ratio_strong:
        return strong
    return strong if complex_failure else cheap


def should_escalate_doctor_model(
    config: AutopackConfig, *, current_model: str, confidence: float, attempts: int
) -> bool:
    """Whether to ask the strong model again after ``current_model`` diagnosed with ``confidence``."""
    _, strong = config.doctor_models()
    m = config.models.get(current_model)
    if current_model == strong or (m is not None and m.tier == "strong"):
        return False
    d = config.doctor
    return confidence < d.low_confidence and attempts >= d.escalate_min_attempts


def doctor_budget_exhausted(
    *,
    calls_in_phase: int = 0,
    calls_in_run: int = 0,
    doctor: DoctorConfig = DEFAULT_DOCTOR,
    phase_id: str | None = None,
    view: RunView | None = None,
) -> ev.BudgetExhausted | None:
    """The event to record instead of calling the Doctor again, or None if calls remain.

    The run's budget is checked first: once it is spent the event's scope is
    ``run`` (the run stops) even if the phase's budget is spent too. Given the
    run's ``view``, the call counts are its fold's (``phase_id`` names the phase).
    """
    if view is not None:
        calls_in_run = view.doctor_calls
        phase = view.phases.get(phase_id) if phase_id is not None else None
        calls_in_phase = phase.doctor_calls if phase is not None else 0
    if calls_in_run >= doctor.max_calls_per_run:
        return ev.BudgetExhausted(
            scope="run",
            budget="doctor.max_calls_per_run",
            used=float(calls_in_run),
            limit=float(doctor.max_calls_per_run),
            phase_id=phase_id,
        )
    if calls_in_phase >= doctor.max_calls_per_phase:
        return ev.BudgetExhausted(
            scope="phase",
            budget="doctor.max_calls_per_phase",
            used=float(calls_in_phase),
            limit=float(doctor.max_calls_per_phase),
            phase_id=phase_id,
        )
    return None
