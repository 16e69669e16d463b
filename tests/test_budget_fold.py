"""Quotas and the health budget read the run's fold: the live run and its rebuilt log agree."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autopack_core import events as ev
from autopack_core.config_load import load_config_text
from autopack_core.errors import QuotaExhausted
from autopack_core.modelcall import ModelCaller
from autopack_core.plan import PhaseSpec
from autopack_core.plugins import load_plugins
from autopack_core.projections import fold_run
from autopack_core.router import QuotaTracker, doctor_budget_exhausted, health_ratio
from autopack_core.session import RunSession
from autopack_core.store import EventStore

CODEC = load_plugins().codec
CONFIG = load_config_text(
    """
providers:
  p: {kind: recorded}
models:
  c1: {provider: p, tier: cheap}
  s1: {provider: p, tier: strong}
quotas:
  run: {max_tokens: 5000}
  per_model:
    c1: {max_cost_usd: 1.5}
    s1: {max_tokens: 800}
health_budget: {max_http_5xx: 4, max_patch_failures: 3, max_total_failures: 6}
doctor: {max_calls_per_phase: 2, max_calls_per_run: 3}
"""
)
MODELS = ("c1", "s1", "other")
PHASES = ("a", "b")

answered = st.builds(
    lambda model, i, o, cost, pid: ("answered", model, i, o, cost, pid),
    st.sampled_from(MODELS),
    st.integers(0, 400),
    st.integers(0, 400),
    st.sampled_from([0.0, 0.1, 0.25, 0.7]),
    st.sampled_from([None, *PHASES]),
)
failed = st.builds(
    lambda status, pid: ("failed", status, pid),
    st.sampled_from([None, 429, 500, 503]),
    st.sampled_from([None, *PHASES]),
)
op = st.one_of(
    answered,
    failed,
    st.tuples(st.just("patch_refused"), st.sampled_from(PHASES)),
    st.tuples(
        st.just("failure"), st.sampled_from(PHASES), st.sampled_from(["test_failure", "lint_failure"]), st.booleans()
    ),
    st.tuples(st.just("resume")),
)


def _events(o: tuple) -> list[ev.Event]:
    kind = o[0]
    if kind == "answered":
        _, model, i, o_, cost, pid = o
        return [
            ev.ModelCallAnswered(
                call_id="c",
                role="builder",
                provider="p",
                model=model,
                text="t",
                input_tokens=i,
                output_tokens=o_,
                cost_usd=cost,
                phase_id=pid,
            )
        ]
    if kind == "failed":
        _, status, pid = o
        return [
            ev.ModelCallFailed(
                call_id="c",
                role="builder",
                provider="p",
                model="c1",
                category="x",
                message="m",
                status=status,
                phase_id=pid,
            )
        ]
    if kind == "patch_refused":
        return [ev.PatchRefused(phase_id=o[1], reasons=(ev.Refusal(path="x", rule="r", message="m"),))]
    _, pid, category, doctor = o
    out: list[ev.Event] = [ev.ErrorClassified(phase_id=pid, category=category, signature="s", message="m")]
    if doctor:
        out.append(ev.DoctorInvoked(phase_id=pid, model="c1"))
    return out + [ev.StepRetried(phase_id=pid, step="building")]


def figures(view) -> tuple:
    """Everything the router and the Doctor routing decide budgets from."""
    quotas = QuotaTracker(CONFIG, view)
    return (
        tuple(quotas.check(m, phase_id="a") for m in MODELS),
        health_ratio(view, budget=CONFIG.health_budget),
        tuple(doctor_budget_exhausted(view=view, doctor=CONFIG.doctor, phase_id=p) for p in PHASES),
    )


def expected_figures(ops: list[tuple]) -> tuple:
    """The same figures counted by hand from the operations (not from any view)."""
    tokens = {m: 0 for m in MODELS}
    cost = {m: 0.0 for m in MODELS}
    http_5xx = patch = failures = 0
    doctor = {p: 0 for p in PHASES}
    for o in ops:
        if o[0] == "answered":
            tokens[o[1]] += o[2] + o[3]
            cost[o[1]] += o[4]
        elif o[0] == "failed":
            http_5xx += o[1] is not None and o[1] >= 500
        elif o[0] == "patch_refused":
            patch += 1
        elif o[0] == "failure":
            failures += 1
            doctor[o[1]] += o[3]
    run_tokens = sum(tokens.values())

    def quota(m):
        if run_tokens >= 5000:
            return ev.BudgetExhausted(
                scope="run", budget="quotas.run.max_tokens", used=float(run_tokens), limit=5000.0, phase_id="a"
            )
        if m == "c1" and cost["c1"] >= 1.5:
            return ev.BudgetExhausted(
                scope="run", budget="quotas.per_model.c1.max_cost_usd", used=cost["c1"], limit=1.5, phase_id="a"
            )
        if m == "s1" and tokens["s1"] >= 800:
            return ev.BudgetExhausted(
                scope="run",
                budget="quotas.per_model.s1.max_tokens",
                used=float(tokens["s1"]),
                limit=800.0,
                phase_id="a",
            )
        return None

    def doc(p):
        run_calls = sum(doctor.values())
        if run_calls >= 3:
            return ev.BudgetExhausted(
                scope="run", budget="doctor.max_calls_per_run", used=float(run_calls), limit=3.0, phase_id=p
            )
        if doctor[p] >= 2:
            return ev.BudgetExhausted(
                scope="phase", budget="doctor.max_calls_per_phase", used=float(doctor[p]), limit=2.0, phase_id=p
            )
        return None

    ratio = max(http_5xx / 4, patch / 3, failures / 6)
    return tuple(quota(m) for m in MODELS), ratio, tuple(doc(p) for p in PHASES)


_RUN_IDS = itertools.count()


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(op, max_size=25))
def test_rebuilding_from_the_log_gives_the_figures_the_live_run_used(ops):
    folder = Path(tempfile.mkdtemp(prefix="autopack-budget-"))
    try:
        store = EventStore(folder / "e.db", CODEC)
        run_id = f"r{next(_RUN_IDS)}"
        session = RunSession.create(
            store, run_id, ev.RunCreated(goal="g", phases=tuple(PhaseSpec(id=p, goal="g") for p in PHASES))
        )
        session.record(ev.RunStarted(), *(ev.PhaseStarted(phase_id=p) for p in PHASES))
        used: list[tuple[int, tuple]] = [(session.view.seq, figures(session.view))]
        done: list[tuple] = []
        for o in ops:
            if o[0] == "resume":
                # A crash: the next writer starts from the log alone.
                store.close()
                store = EventStore(folder / "e.db", CODEC)
                session = RunSession.open(store, run_id)
                session.record(ev.RunResumed(from_seq=session.view.seq))
            else:
                session.record(*_events(o))
                done.append(o)
            live = figures(session.view)
            assert live == expected_figures(done)
            used.append((session.view.seq, live))
        for seq, live in used:
            rebuilt = fold_run(env for env in store.iter_events(run_id) if env.seq <= seq)
            assert figures(rebuilt) == live
        store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_tracker_on_the_run_view_counts_each_answer_once_and_survives_a_resume(tmp_path, provider_kinds):
    cass = tmp_path / "c.yaml"
    cass.write_text("answers:\n  - {text: hi, input_tokens: 300, output_tokens: 100, repeat: true}\n")
    cfg = load_config_text(
        f"providers:\n  p: {{kind: recorded, cassette: '{cass}'}}\nmodels:\n  c1: {{provider: p, tier: cheap}}\n"
        "quotas:\n  run: {max_tokens: 1000}\n"
    )
    db = tmp_path / "e.db"
    with EventStore(db, CODEC) as store:
        session = RunSession.create(store, "r", ev.RunCreated(goal="g", phases=()))
        session.record(ev.RunStarted())
        quotas = QuotaTracker(cfg, session.view)

        async def go():
            async with ModelCaller(cfg, provider_kinds, record=lambda evs: session.record(*evs), quotas=quotas) as c:
                await c.call("c1", "one")
                await c.call("c1", "two")
                with pytest.raises(QuotaExhausted) as info:
                    await c.call("c1", "three")
                    await c.call("c1", "four")
                return info.value.event

        stop = asyncio.run(go())
        # 3 calls of 400 tokens were made (the third crossed the line); the fourth was refused.
        assert session.view.usage.tokens == 1200 and quotas.run.tokens == 1200
    assert stop == ev.BudgetExhausted(scope="run", budget="quotas.run.max_tokens", used=1200.0, limit=1000.0)
    with EventStore(db, CODEC) as store:
        resumed = RunSession.open(store, "r")
        assert QuotaTracker(cfg, resumed.view).check("c1") == stop


def test_a_tracker_of_its_own_folds_what_it_observes():
    quotas = QuotaTracker(CONFIG)
    quotas.observe(
        [
            ev.ModelCallRequested(call_id="c", role="r", provider="p", model="s1", prompt="x"),
            ev.ModelCallAnswered(
                call_id="c", role="r", provider="p", model="s1", text="", input_tokens=500, output_tokens=300
            ),
            ev.ModelCallFailed(call_id="d", role="r", provider="p", model="s1", category="x", message="m", status=503),
        ]
    )
    assert quotas.run.tokens == 800 and quotas.per_model["s1"].tokens == 800
    assert quotas.check("s1").budget == "quotas.per_model.s1.max_tokens"
    assert quotas.view.http_5xx == 1 and quotas.view.seq == 0
