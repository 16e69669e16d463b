"""Model routing by role, category and complexity; escalation; quotas."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autopack_core import events as ev
from autopack_core.config_load import load_config_text
from autopack_core.errors import QuotaExhausted
from autopack_core.modelcall import ModelCaller
from autopack_core.router import QuotaTracker, Router

CONFIG = """
providers:
  p: {kind: recorded}
models:
  c1: {provider: p, tier: cheap, price_per_mtok_in: 1000000, price_per_mtok_out: 0}
  c2: {provider: p, tier: cheap}
  s1: {provider: p, tier: strong}
  s2: {provider: p, tier: strong}
routing:
  default: {cheap: c1, strong: s1}
  roles:
    auditor: {cheap: c2, strong: s2}
    planner: {strong: s2, start: strong}
    lonely: {cheap: c2}
  overrides:
    - {role: builder, category: docs, model: c2}
    - {complexity: high, tier: strong}
    - {category: tests, tier: cheap}
  escalation: {after_failed_attempts: 2}
"""


@pytest.fixture
def router():
    return Router(load_config_text(CONFIG))


def test_role_models_and_default(router):
    assert router.route("builder").model == "c1"
    assert router.route("auditor").model == "c2"
    assert router.route("planner").model == "s2"
    assert router.route("unknown-role").model == "c1"


def test_overrides_by_category_and_complexity_first_match_wins(router):
    assert router.route("builder", category="docs", complexity="high").model == "c2"
    assert router.route("auditor", category="docs").model == "c2"  # the docs rule is builder-only
    assert router.route("builder", complexity="high").model == "s1"
    assert router.route("auditor", complexity="high").model == "s2"
    assert router.route("builder", category="tests").model == "c1"


def test_escalates_cheap_to_strong_after_configured_failures(router):
    routes = [router.route("builder", failed_attempts=n, phase_id="p1") for n in range(5)]
    assert [r.model for r in routes] == ["c1", "c1", "s1", "s1", "s1"]
    events = [r.escalation for r in routes if r.escalation]
    assert events == [
        ev.ModelEscalated(
            role="builder",
            from_model="c1",
            to_model="s1",
            reason="2 failed attempts (routing.escalation.after_failed_attempts: 2)",
            phase_id="p1",
        )
    ]


def test_override_model_escalates_to_role_strong(router):
    r = router.route("builder", category="docs", failed_attempts=2)
    assert (r.model, r.escalation.from_model, r.escalation.to_model) == ("s1", "c2", "s1")


def test_no_escalation_when_already_strong_or_no_strong_model(router):
    assert router.route("planner", failed_attempts=2).escalation is None
    assert router.route("builder", complexity="high", failed_attempts=9).model == "s1"
    # lonely has no strong model of its own: the default's strong model is used.
    assert router.route("lonely", failed_attempts=2).model == "s1"


def test_escalation_disabled():
    r = Router(load_config_text(CONFIG.replace("after_failed_attempts: 2", "after_failed_attempts: null")))
    assert r.route("builder", failed_attempts=50).model == "c1"


@given(
    st.integers(min_value=0, max_value=100),
    st.sampled_from(["builder", "auditor", "doctor", "x"]),
    st.sampled_from([None, "docs", "tests", "feature"]),
    st.sampled_from([None, "low", "medium", "high"]),
)
def test_route_properties(failed, role, category, complexity):
    router = Router(load_config_text(CONFIG))
    r = router.route(role, category=category, complexity=complexity, failed_attempts=failed)
    assert r.model in router.config.models
    assert r.tier == router.config.models[r.model].tier
    if failed >= 2:
        assert r.tier == "strong"
    # An escalation event is only ever returned at the threshold itself.
    assert (r.escalation is not None) <= (failed == 2)


# --- quotas -----------------------------------------------------------------

QUOTA = (
    CONFIG
    + """
quotas:
  run: {max_tokens: 1000}
  per_model:
    c1: {max_cost_usd: 0.5}
"""
)


def answered(model, i, o, cost):
    return ev.ModelCallAnswered(
        call_id="x", role="builder", provider="p", model=model, text="", input_tokens=i, output_tokens=o, cost_usd=cost
    )


def test_quota_tracker_run_tokens_and_model_cost():
    q = QuotaTracker(load_config_text(QUOTA))
    assert q.check("c1") is None
    q.observe([answered("c1", 0, 0, 0.5)])
    over = q.check("c1", phase_id="p")
    assert over == ev.BudgetExhausted(
        scope="run", budget="quotas.per_model.c1.max_cost_usd", used=0.5, limit=0.5, phase_id="p"
    )
    assert q.check("c2") is None
    q.observe([answered("c2", 600, 400, 0)])
    assert q.check("c2").budget == "quotas.run.max_tokens"


def test_exhausted_quota_is_a_clean_stop_with_an_event(tmp_path, provider_kinds):
    cass = tmp_path / "c.yaml"
    cass.write_text("answers:\n  - {text: hi, input_tokens: 1, output_tokens: 0, repeat: true}\n")
    cfg = load_config_text(QUOTA.replace("p: {kind: recorded}", f"p: {{kind: recorded, cassette: '{cass}'}}"))
    quotas = QuotaTracker(cfg)
    events: list = []

    async def go():
        async with ModelCaller(cfg, provider_kinds, record=events.extend, quotas=quotas) as c:
            first = await c.call("c1", "x")  # costs 1 token * $1/token-million*1e6 = $1
            with pytest.raises(QuotaExhausted) as info:
                await c.call("c1", "y")
            again = await c.call("c2", "z")  # other models still have room
            return first, info.value, again

    first, stop, again = asyncio.run(go())
    assert first.cost_usd == 1.0 and again.text == "hi"
    assert stop.exit_code == 1 and isinstance(stop.event, ev.BudgetExhausted)
    assert stop.event.budget == "quotas.per_model.c1.max_cost_usd"
    # Nothing was requested for the refused call.
    assert [e.type for e in events] == ["model_call_requested", "model_call_answered"] * 2
