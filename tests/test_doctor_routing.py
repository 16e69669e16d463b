"""The Doctor's routing rules of SPEC section 4: every listed case, plus properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autopack_core import events as ev
from autopack_core.config import DoctorConfig, HealthBudgetConfig
from autopack_core.config_load import load_config_text
from autopack_core.router import (
    choose_doctor_model,
    doctor_budget_exhausted,
    health_ratio,
    is_complex_failure,
    should_escalate_doctor_model,
)

CFG = load_config_text(
    "models:\n  cheap-doc: {provider: recorded, tier: cheap}\n  strong-doc: {provider: recorded, tier: strong}\n"
    "doctor:\n  cheap_model: cheap-doc\n  strong_model: strong-doc\n"
)
CHEAP, STRONG = "cheap-doc", "strong-doc"
ROUTINE = dict(
    error_categories=["test_failure"], patch_errors=0, attempts=1, health_ratio=0.1, prior_escalated_action=False
)


# --- is_complex_failure -----------------------------------------------------


def test_single_category_one_attempt_healthy_is_not_complex():
    assert is_complex_failure(**ROUTINE) is False


def test_repeats_of_one_category_are_not_complex():
    assert is_complex_failure(**{**ROUTINE, "error_categories": ["test_failure"] * 3}) is False


@pytest.mark.parametrize(
    "change",
    [
        {"error_categories": ["test_failure", "lint_failure"]},  # 2+ distinct categories
        {"error_categories": {"test_failure": 1, "patch_apply": 2}},
        {"patch_errors": 2},  # 2+ patch errors
        {"attempts": 4},  # 4+ attempts
        {"health_ratio": 0.8},  # health ratio >= 0.8
        {"health_ratio": 1.0},
        {"prior_escalated_action": True},  # a prior escalated action
    ],
)
def test_each_complex_condition(change):
    assert is_complex_failure(**{**ROUTINE, **change}) is True


@pytest.mark.parametrize(
    "change",
    [
        {"patch_errors": 1},
        {"attempts": 3},
        {"health_ratio": 0.79},
        {"error_categories": {"test_failure": 3, "lint_failure": 0}},
    ],
)
def test_just_below_each_threshold_is_routine(change):
    assert is_complex_failure(**{**ROUTINE, **change}) is False


def test_thresholds_come_from_config():
    d = DoctorConfig(
        complex_min_attempts=10, complex_min_patch_errors=5, complex_min_categories=3, health_ratio_strong=0.95
    )
    assert (
        is_complex_failure(
            **{**ROUTINE, "attempts": 9, "patch_errors": 4, "health_ratio": 0.9, "error_categories": ["a", "b"]},
            doctor=d,
        )
        is False
    )
    assert is_complex_failure(**{**ROUTINE, "attempts": 10}, doctor=d) is True


# --- choose_doctor_model ----------------------------------------------------


def test_unhealthy_run_always_gets_strong():
    assert choose_doctor_model(CFG, health_ratio=0.8, complex_failure=False) == STRONG
    assert choose_doctor_model(CFG, health_ratio=0.95, complex_failure=True) == STRONG


def test_routine_gets_cheap_and_complex_gets_strong():
    assert choose_doctor_model(CFG, health_ratio=0.2, complex_failure=False) == CHEAP
    assert choose_doctor_model(CFG, health_ratio=0.2, complex_failure=True) == STRONG


def test_doctor_models_default_to_routing_of_role_doctor():
    cfg = load_config_text("")
    assert choose_doctor_model(cfg, health_ratio=0.0, complex_failure=False) == "recorded-cheap"
    assert choose_doctor_model(cfg, health_ratio=0.0, complex_failure=True) == "recorded-strong"


@given(ratio=st.floats(min_value=0.8, max_value=10, allow_nan=False), complex_failure=st.booleans())
def test_property_health_ratio_at_or_above_threshold_always_strong(ratio, complex_failure):
    assert choose_doctor_model(CFG, health_ratio=ratio, complex_failure=complex_failure) == STRONG


@given(ratio=st.floats(min_value=0, max_value=0.7999, allow_nan=False), complex_failure=st.booleans())
def test_property_below_threshold_strong_iff_complex(ratio, complex_failure):
    assert (choose_doctor_model(CFG, health_ratio=ratio, complex_failure=complex_failure) == STRONG) is complex_failure


@given(
    cats=st.lists(st.sampled_from(["a", "b", "c"]), max_size=5),
    patch_errors=st.integers(0, 10),
    attempts=st.integers(0, 10),
    ratio=st.floats(0, 2, allow_nan=False),
    prior=st.booleans(),
)
def test_property_complex_is_the_disjunction(cats, patch_errors, attempts, ratio, prior):
    got = is_complex_failure(
        error_categories=cats,
        patch_errors=patch_errors,
        attempts=attempts,
        health_ratio=ratio,
        prior_escalated_action=prior,
    )
    assert got == (len(set(cats)) >= 2 or patch_errors >= 2 or attempts >= 4 or ratio >= 0.8 or prior)
    # Complex or unhealthy never routes to the cheap model.
    if got:
        assert choose_doctor_model(CFG, health_ratio=ratio, complex_failure=got) == STRONG


# --- should_escalate_doctor_model -------------------------------------------


def test_cheap_low_confidence_two_attempts_escalates():
    assert should_escalate_doctor_model(CFG, current_model=CHEAP, confidence=0.3, attempts=2) is True


def test_already_strong_never_escalates():
    assert should_escalate_doctor_model(CFG, current_model=STRONG, confidence=0.0, attempts=9) is False


def test_high_confidence_does_not_escalate():
    assert should_escalate_doctor_model(CFG, current_model=CHEAP, confidence=0.9, attempts=5) is False


def test_one_attempt_does_not_escalate():
    assert should_escalate_doctor_model(CFG, current_model=CHEAP, confidence=0.1, attempts=1) is False


@given(confidence=st.floats(0, 1, allow_nan=False), attempts=st.integers(0, 20))
def test_property_escalation(confidence, attempts):
    assert should_escalate_doctor_model(CFG, current_model=STRONG, confidence=confidence, attempts=attempts) is False
    assert should_escalate_doctor_model(CFG, current_model=CHEAP, confidence=confidence, attempts=attempts) == (
        confidence < 0.6 and attempts >= 2
    )


# --- health ratio and Doctor budgets ----------------------------------------


def test_health_ratio_is_the_worst_kind():
    b = HealthBudgetConfig(max_http_5xx=10, max_patch_failures=4, max_total_failures=20)
    assert health_ratio(http_5xx=2, patch_failures=3, total_failures=5, budget=b) == 0.75
    assert health_ratio(budget=b) == 0.0


def test_doctor_call_budgets():
    d = DoctorConfig()
    assert doctor_budget_exhausted(calls_in_phase=1, calls_in_run=9, doctor=d) is None
    assert doctor_budget_exhausted(calls_in_phase=2, calls_in_run=2, doctor=d, phase_id="p") == ev.BudgetExhausted(
        scope="phase", budget="doctor.max_calls_per_phase", used=2, limit=2, phase_id="p"
    )
    assert doctor_budget_exhausted(calls_in_phase=0, calls_in_run=10, doctor=d).budget == "doctor.max_calls_per_run"


# --- gaps left by mutation testing ------------------------------------------

TIERS = load_config_text(
    "models:\n  cheap-doc: {provider: recorded, tier: cheap}\n  strong-doc: {provider: recorded, tier: strong}\n"
    "  big-other: {provider: recorded, tier: strong}\n  small-other: {provider: recorded, tier: cheap}\n"
    "doctor:\n  cheap_model: cheap-doc\n  strong_model: strong-doc\n"
)


@given(confidence=st.floats(0, 1, allow_nan=False), attempts=st.integers(0, 20))
def test_already_strong_is_judged_by_tier_not_by_name(confidence, attempts):
    # A strong-tier model that is not the Doctor's configured strong model still counts as strong.
    assert (
        should_escalate_doctor_model(TIERS, current_model="big-other", confidence=confidence, attempts=attempts)
        is False
    )
    # A cheap-tier model of another name escalates by the same rule as the configured cheap one.
    assert should_escalate_doctor_model(
        TIERS, current_model="small-other", confidence=confidence, attempts=attempts
    ) == (confidence < 0.6 and attempts >= 2)


def test_prior_escalated_action_defaults_to_false():
    routine = {k: v for k, v in ROUTINE.items() if k != "prior_escalated_action"}
    assert is_complex_failure(**routine) is False


def test_a_spent_run_budget_is_run_scoped_even_when_the_phase_budget_is_spent_too():
    d = DoctorConfig()
    assert doctor_budget_exhausted(calls_in_phase=0, calls_in_run=10, doctor=d, phase_id="p") == ev.BudgetExhausted(
        scope="run", budget="doctor.max_calls_per_run", used=10, limit=10, phase_id="p"
    )
    both = doctor_budget_exhausted(calls_in_phase=5, calls_in_run=12, doctor=d, phase_id="p")
    assert (both.scope, both.budget, both.used) == ("run", "doctor.max_calls_per_run", 12)
    phase_only = doctor_budget_exhausted(calls_in_phase=2, calls_in_run=9, doctor=d, phase_id="p")
    assert (phase_only.scope, phase_only.budget) == ("phase", "doctor.max_calls_per_phase")
