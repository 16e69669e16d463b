"""End-to-end scenarios of SPEC section 6, with a real HTTP server playing every model.

Each test runs a plan through the executor against a real git repository; the
models are a ``ScriptedServer`` on 127.0.0.1 speaking the OpenAI wire format,
answering in the order the run asks (Builder, Auditor, Doctor...). The checks
are real subprocesses. Only the models' words are scripted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from executor_support import (
    run_against_server,
    ADD_GOAL,
    APPROVE,
    GOOD_ADD,
    GOOD_MUL,
    STALE_ADD,
    WRONG_ADD,
    doctor,
    git,
    make_project,
    plan_text,
)

from autopack_core.plugins import load_plugins
from autopack_core.projections import fold_run
from autopack_core.store import EventStore
from autopack_core.testing import ScriptedServer


@attrs.define
class Outcome:
    code: int
    run_id: str
    db: Path
    ws: Path
    events: list[Any]
    requests: list[dict[str, Any]]
    output: str

    def types(self) -> list[str]:
        return [e.type for e in self.events]

    def of(self, type_: str) -> list[Any]:
        return [e for e in self.events if e.type == type_]

    def request_roles(self) -> list[str]:
        return [r["messages"][0]["content"].split()[0] if r["messages"] else "" for r in self.requests]


def scenario(
    tmp_path: Path,
    server: ScriptedServer,
    replies: list[str | dict[str, Any]],
    *,
    plan: str | None = None,
    config: str = "",
    files: dict[str, str] | None = None,
) -> Outcome:
    ws = make_project(tmp_path, plan if plan is not None else plan_text(two_phases=False))
    for rel, text in (files or {}).items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text)
    code, run_id, db, events, output = run_against_server(ws, server, replies, config)
    return Outcome(code, run_id, db, ws, events, [r.json for r in server.requests], output)


def test_routing_sends_each_role_to_its_configured_model(tmp_path: Path, scripted_server: ScriptedServer) -> None:
    o = scenario(
        tmp_path,
        scripted_server,
        [GOOD_ADD, APPROVE, GOOD_MUL, APPROVE],
        plan=plan_text(two_phases=True),
        config="""  roles:
    auditor: {strong: strong-m, start: strong}
  overrides:
    - {role: builder, category: feature, model: strong-m}
""",
    )
    assert o.code == 0, o.output
    calls = [(e.role, e.phase_id, e.model) for e in o.of("model_call_requested")]
    assert calls == [
        ("builder", "fix-add", "cheap-m"),
        ("auditor", "fix-add", "strong-m"),
        ("builder", "add-mul", "strong-m"),  # category feature -> override
        ("auditor", "add-mul", "strong-m"),
    ]
    # The server saw the same models on the wire.
    assert [r["model"] for r in o.requests] == [m for _, _, m in calls]


def test_escalation_to_the_strong_model_when_a_phase_keeps_failing(
    tmp_path: Path, scripted_server: ScriptedServer
) -> None:
    o = scenario(
        tmp_path,
        scripted_server,
        [
            STALE_ADD,  # attempt 1: does not apply
            doctor("retry_with_fix", "use a and b"),
            WRONG_ADD,
            APPROVE,  # attempt 2: applies, the check fails
            doctor("retry_with_fix", "add, do not multiply"),
            GOOD_ADD,
            APPROVE,  # attempt 3: on the strong model
        ],
    )
    assert o.code == 0, o.output
    [esc] = o.of("model_escalated")
    assert (esc.role, esc.from_model, esc.to_model, esc.phase_id) == ("builder", "cheap-m", "strong-m", "fix-add")
    builder_models = [e.model for e in o.of("model_call_requested") if e.role == "builder"]
    assert builder_models == ["cheap-m", "cheap-m", "strong-m"]
    # Two failure categories make the second failure complex: the Doctor's strong model answers it.
    assert [e.model for e in o.of("doctor_invoked")] == ["cheap-m", "strong-m"]
    assert (o.ws / "app/core.py").read_text() == "def add(a, b):\n    return a + b\n"


def test_replanning_when_the_same_failure_recurs(tmp_path: Path, scripted_server: ScriptedServer) -> None:
    revised = [
        {
            "id": "fix-add-v2",
            "goal": "Rewrite add() from scratch as a + b",
            "category": "bugfix",
            "complexity": "low",
            "scope": ["app/core.py"],
            "checks": [{"name": "command", "run": "python check_add.py"}],
        }
    ]
    o = scenario(
        tmp_path,
        scripted_server,
        [
            WRONG_ADD,
            APPROVE,
            doctor("retry_with_fix", "try again"),
            WRONG_ADD,
            APPROVE,  # the same check failure: the same signature
            doctor("replan", confidence=0.8, revised_phases=revised),
            GOOD_ADD,
            APPROVE,
        ],
    )
    assert o.code == 0, o.output
    sigs = [e.signature for e in o.of("error_classified")]
    assert len(sigs) == 2 and sigs[0] == sigs[1]
    # The second Doctor call was told the failure recurs, and went to the strong model.
    second = o.of("doctor_invoked")[1]
    assert second.model == "strong-m" and "the same failure again" in second.reason
    assert "same failure" in json.dumps(o.requests[5])
    [rev] = o.of("plan_revised")
    assert rev.revision == 1 and [p.id for p in rev.phases] == ["fix-add-v2"]
    assert o.of("phase_superseded")[0].phase_id == "fix-add"
    view = fold_run_of(o)
    assert view.phases["fix-add"].status == "superseded"
    assert view.phases["fix-add-v2"].status == "completed"


def fold_run_of(o: Outcome) -> Any:
    plugins = load_plugins()
    with EventStore(o.db, plugins.codec) as store:
        return fold_run(store.iter_events(o.run_id))


def test_self_healing_a_429_then_200(tmp_path: Path, scripted_server: ScriptedServer) -> None:
    o = scenario(
        tmp_path,
        scripted_server,
        [
            {"status": 429, "json": {"error": "slow down"}, "headers": {"Retry-After": "0"}},
            GOOD_ADD,
            APPROVE,
        ],
    )
    assert o.code == 0, o.output
    assert len(scripted_server.requests) == 3
    builder = [e for e in o.of("model_call_answered") if e.role == "builder"]
    assert builder[0].attempts == 2
    assert not o.of("error_classified") and not o.of("doctor_invoked")


def test_self_healing_a_step_whose_retries_were_spent(tmp_path: Path, scripted_server: ScriptedServer) -> None:
    fail = {"status": 503, "json": {"error": "overloaded"}}
    o = scenario(tmp_path, scripted_server, [fail, fail, fail, fail, GOOD_ADD, APPROVE])
    assert o.code == 0, o.output
    [err] = o.of("error_classified")
    assert err.category == "transient_provider"
    [act] = o.of("action_taken")
    assert act.action == "self_heal"
    assert not o.of("doctor_invoked")
    assert fold_run_of(o).http_5xx == 1


def test_doctor_invocation_and_its_hint_reach_later_builders(tmp_path: Path, scripted_server: ScriptedServer) -> None:
    o = scenario(
        tmp_path,
        scripted_server,
        [
            STALE_ADD,
            doctor("retry_with_fix", "HINT-42: copy context lines from the file"),
            GOOD_ADD,
            APPROVE,
            GOOD_MUL,
            APPROVE,
        ],
        plan=plan_text(two_phases=True),
    )
    assert o.code == 0, o.output
    [inv] = o.of("doctor_invoked")
    assert inv.model == "cheap-m" and inv.reason.startswith("patch_apply")
    [diag] = o.of("doctor_diagnosed")
    assert diag.action == "retry_with_fix"
    [hint] = o.of("hint_recorded")
    assert hint.hint.startswith("HINT-42")
    later_builders = [json.dumps(r) for r in o.requests[2:] if r is not None]
    assert "HINT-42" in later_builders[0]  # the retried Builder of the same phase
    assert "HINT-42" in later_builders[2]  # and the next phase's Builder (Stage 0A)
    assert "does not apply" in later_builders[0]  # the apply error was fed back


def test_health_budget_stops_an_endless_failure(tmp_path: Path, scripted_server: ScriptedServer) -> None:
    replies: list[str | dict[str, Any]] = []
    for _ in range(10):
        replies += [STALE_ADD, doctor("retry_with_fix", "try again")]
    o = scenario(
        tmp_path,
        scripted_server,
        replies,
        config="""doctor:
  max_calls_per_phase: 50
  max_calls_per_run: 50
health_budget:
  max_patch_failures: 3
""",
    )
    assert o.code == 1
    [spent] = o.of("budget_exhausted")
    assert spent.budget == "health_budget.max_patch_failures" and spent.used == 3
    assert o.types()[-1] == "run_failed"
    assert "health_budget.max_patch_failures" in o.of("run_failed")[0].reason
    assert len(o.of("patch_refused")) == 3
    assert len(scripted_server.script) > 0  # it stopped; it did not use up the script


def test_doctor_budget_per_phase_ends_the_run(tmp_path: Path, scripted_server: ScriptedServer) -> None:
    o = scenario(
        tmp_path,
        scripted_server,
        [STALE_ADD, doctor("retry_with_fix"), STALE_ADD, doctor("retry_with_fix"), STALE_ADD],
    )
    assert o.code == 1
    [spent] = o.of("budget_exhausted")
    assert spent.budget == "doctor.max_calls_per_phase" and spent.scope == "phase"
    assert len(o.of("doctor_invoked")) == 2


def test_the_test_suite_runs_after_the_patch_and_its_failure_is_fed_back(
    tmp_path: Path, scripted_server: ScriptedServer
) -> None:
    tests = {"tests/test_core.py": "from app.core import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"}
    plan = plan_text(two_phases=False).replace(
        'checks: [{name: command, run: "python check_add.py"}]', "checks: [pytest]"
    )
    o = scenario(
        tmp_path,
        scripted_server,
        [WRONG_ADD, APPROVE, doctor("retry_with_fix", "the test wants a sum"), GOOD_ADD, APPROVE],
        plan=plan,
        files=tests,
    )
    assert o.code == 0, o.output
    types = o.types()
    applied = [i for i, t in enumerate(types) if t == "patch_applied"]
    checks = [i for i, t in enumerate(types) if t == "check_result"]
    assert len(applied) == 2 and len(checks) == 2 and all(a < c for a, c in zip(applied, checks, strict=True))
    first, second = o.of("check_result")
    assert first.check == "pytest" and not first.passed and "assert 6 == 5" in first.output
    assert second.passed
    assert "assert 6 == 5" in json.dumps(o.requests[3])  # the Builder saw pytest's output


def test_skip_phase_only_for_optional_phases(tmp_path: Path, scripted_server: ScriptedServer) -> None:
    o = scenario(
        tmp_path,
        scripted_server,
        [
            STALE_ADD,
            doctor("skip_phase"),
            GOOD_ADD,
            APPROVE,
            "no diff here",
            "still no diff",
            "nothing",
        ],
        plan=plan_text(two_phases=True, optional_second=True),
        config="doctor:\n  max_calls_per_phase: 1\n",
    )
    # fix-add is required: skip is refused and the phase retried; add-mul's Builder never answers
    # with a patch, so its malformed replies end in malformed_output and then the Doctor budget.
    [refused] = o.of("action_refused")
    assert refused.action == "skip_phase" and "not optional" in refused.reason
    assert fold_run_of(o).phases["fix-add"].status == "completed"
    assert len(o.of("role_reply_malformed")) == 3
    assert any(e.category == "malformed_output" for e in o.of("error_classified"))


def test_skip_phase_on_an_optional_phase(tmp_path: Path, scripted_server: ScriptedServer) -> None:
    o = scenario(
        tmp_path,
        scripted_server,
        [GOOD_ADD, APPROVE, STALE_ADD, doctor("skip_phase")],
        plan=plan_text(two_phases=True, optional_second=True).replace("app/mul.py]", "app/core.py]"),
    )
    assert o.code == 0, o.output
    view = fold_run_of(o)
    assert view.phases["add-mul"].status == "skipped" and view.status == "completed"


def test_rollback_run_keeps_the_work_on_a_branch(tmp_path: Path, scripted_server: ScriptedServer) -> None:
    o = scenario(
        tmp_path,
        scripted_server,
        [GOOD_ADD, APPROVE, STALE_ADD, doctor("rollback_run")],
        plan=plan_text(two_phases=True).replace("app/mul.py]", "app/core.py]"),
    )
    assert o.code == 1
    [rb] = o.of("rollback_performed")
    start = o.of("run_started")[0].base_commit
    assert rb.commit == start and git(o.ws, "rev-parse", "HEAD").strip() == start
    assert (o.ws / "app/core.py").read_text() == "def add(a, b):\n    return a - b\n"
    kept = git(o.ws, "log", "--format=%s", rb.stashed_ref).splitlines()[0]
    assert kept == f"autopack: fix-add: {ADD_GOAL}"
    assert fold_run_of(o).status == "rolled_back"


def test_mark_fatal_and_execute_fix_refused(tmp_path: Path, scripted_server: ScriptedServer) -> None:
    o = scenario(
        tmp_path,
        scripted_server,
        [
            STALE_ADD,
            doctor("execute_fix", fix_type="git", fix_commands=["git checkout -- app/core.py"]),
            STALE_ADD,
            doctor("mark_fatal"),
        ],
    )
    assert o.code == 1
    [fix] = o.of("fix_refused")
    assert "allow_execute_fix_global is false" in fix.reason and fix.command == "git checkout -- app/core.py"
    assert o.of("action_refused")[0].action == "execute_fix"
    assert o.of("phase_marked_fatal")[0].phase_id == "fix-add"
    assert fold_run_of(o).status == "failed"


def test_malformed_builder_output_is_asked_again(tmp_path: Path, scripted_server: ScriptedServer) -> None:
    o = scenario(tmp_path, scripted_server, ["Sure! I would change the minus to a plus.", GOOD_ADD, APPROVE])
    assert o.code == 0, o.output
    [bad] = o.of("role_reply_malformed")
    assert bad.role == "builder"
    assert not o.of("doctor_invoked")


def test_audit_rejection_goes_back_to_the_builder(tmp_path: Path, scripted_server: ScriptedServer) -> None:
    reject = json.dumps({"verdict": "reject", "issues": ["ISSUE-7: multiplying is not adding"]})
    o = scenario(tmp_path, scripted_server, [WRONG_ADD, reject, doctor("retry_with_fix"), GOOD_ADD, APPROVE])
    assert o.code == 0, o.output
    assert o.of("audit_verdict")[0].verdict == "reject"
    assert o.of("error_classified")[0].category == "audit_rejection"
    assert "ISSUE-7" in json.dumps(o.requests[3])
    # The rejected patch never reached the checks, and the retry started from the checkpoint.
    assert len(o.of("check_result")) == 1
    assert o.of("workspace_reconciled")[0].action == "reset"


@pytest.mark.parametrize("status", [401])
def test_a_provider_refusing_for_good_ends_the_run(
    tmp_path: Path, scripted_server: ScriptedServer, status: int
) -> None:
    o = scenario(tmp_path, scripted_server, [{"status": status, "json": {"error": "bad key"}}])
    assert o.code == 1
    assert o.of("error_classified")[0].category == "provider_error"
    assert "the model provider failed" in o.of("run_failed")[0].reason


def test_a_token_quota_ends_the_run_cleanly(tmp_path: Path, scripted_server: ScriptedServer) -> None:
    o = scenario(tmp_path, scripted_server, [GOOD_ADD, APPROVE], config="quotas:\n  run: {max_tokens: 100}\n")
    assert o.code == 1
    [spent] = o.of("budget_exhausted")
    assert spent.budget == "quotas.run.max_tokens" and spent.used == 120
    assert len(scripted_server.requests) == 1  # the second call was never sent
    assert o.types()[-2:] == ["phase_failed", "run_failed"]
