"""Prompt assembly: templates, placeholders, and fitting a prompt to the model's context."""

from __future__ import annotations

import math
import re
from string import Template

import pytest
from autopack_plugins.roles import BUILTIN_ROLES, shipped_template
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autopack_core.errors import ContextTooSmall
from autopack_core.plan import CheckSpec, PhaseSpec
from autopack_core.roles import (
    CHARS_PER_TOKEN,
    DoctorContextSummary,
    DoctorRequest,
    FileExcerpt,
    RoleContext,
    assemble_prompt,
    estimate_tokens,
    split_template,
    template_problems,
)

ROLES = {r.name: r for r in BUILTIN_ROLES}
PROTOCOL_MARK = {"builder": "<<<<<<< SEARCH", "auditor": '"verdict": "approve"', "doctor": "execute_fix:"}

PHASE = PhaseSpec(
    id="add-flag",
    goal="Add the --json flag",
    category="feature",
    complexity="medium",
    scope=("src/report.py",),
    checks=(CheckSpec(name="pytest"), CheckSpec(name="command", options=(("run", "mypy src"),))),
)


def request(msg: str = "boom", recent: tuple[str, ...] = ()) -> DoctorRequest:
    return DoctorRequest(
        run_id="r1",
        phase_id="add-flag",
        error_category="patch_apply",
        error_message=msg,
        signature="abc123",
        attempts=3,
        health_ratio=0.25,
        categories_seen=("patch_apply",),
        patch_errors=2,
        context=DoctorContextSummary(
            goal="g", phase_goal="pg", recent_failures=recent, files_in_scope=("src/report.py",)
        ),
    )


def test_every_shipped_template_uses_only_known_placeholders_and_has_both_parts():
    for name in ROLES:
        text = shipped_template(name)
        assert template_problems(text) == [], name
        system, user = split_template(text)
        assert system and user


def test_builder_prompt_holds_every_part_of_the_context():
    ctx = RoleContext(
        goal="Add a --json flag to the report command",
        phase=PHASE,
        attempt=2,
        files=(FileExcerpt(path="src/report.py", text="def report():\n    return 1\n"),),
        repo_map=("README.md", "src/report.py", "tests/test_report.py"),
        previous_failure="patch refused: .git/config: protected",
        hints=("keep the output sorted",),
        rules=("never print to stderr",),
    )
    p = ROLES["builder"].build_prompt(ctx, context_tokens=100_000)
    text = p.system + p.user
    for part in (
        ctx.goal,
        "id: add-flag",
        "goal: Add the --json flag",
        "category: feature",
        "complexity: medium",
        "checks: pytest, command (run=mypy src)",
        "def report():\n    return 1\n",
        "tests/test_report.py",
        "patch refused: .git/config: protected",
        "- keep the output sorted",
        "- never print to stderr",
        "<<<<<<< SEARCH",
        ">>>>>>> REPLACE",
        "```diff",
        "attempt 2",
    ):
        assert part in text, part
    assert p.omitted == ()
    assert "leaves out" not in text
    assert p.estimated_tokens == math.ceil(len(text) / CHARS_PER_TOKEN)


def test_auditor_prompt_shows_the_phase_and_the_diff_in_a_fence_longer_than_any_inside():
    diff = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-```\n+````\n"
    p = ROLES["auditor"].build_prompt(RoleContext(goal="g", phase=PHASE, diff=diff), context_tokens=100_000)
    assert "id: add-flag" in p.user
    assert f"`````diff\n{diff}`````" in p.user


def test_doctor_prompt_shows_the_request_the_summary_and_every_action():
    ctx = RoleContext(goal="g", phase=PHASE, doctor_request=request("Traceback: KeyError 'x'", ("first", "second")))
    p = ROLES["doctor"].build_prompt(ctx, context_tokens=100_000)
    for part in (
        "error category: patch_apply",
        "attempts so far: 3",
        "health budget used: 25%",
        "KeyError 'x'",
        "- first\n- second",
        "files in scope: src/report.py",
        "merge conflict",
        "missing",
    ):
        assert part in p.system + p.user, part
    for action in ("retry_with_fix", "replan", "skip_phase", "rollback_run", "mark_fatal", "execute_fix"):
        assert f"- {action}:" in p.system
    assert "disabled unless" in p.system
    assert "$(" in p.system  # $$ in the template is a dollar sign


def test_template_problems_name_the_line():
    problems = template_problems("ok $goal\n\nbad $golas and ${phase}\ncost: 5 $ each\n")
    assert problems[0][0] == 3 and "unknown placeholder $golas" in problems[0][1]
    assert problems[1][0] == 4 and "$$" in problems[1][1]
    assert len(problems) == 2


def test_template_without_markers_is_all_user_and_missing_omitted_line_is_appended():
    ctx = RoleContext(goal="G", phase=PHASE, repo_map=tuple(f"dir/file{i}.py" for i in range(500)))
    p = assemble_prompt(ctx, "Goal: $goal\nMap:\n$repo_map", context_tokens=200)
    assert p.system == ""
    assert p.user.startswith("Goal: G\nMap:\n")
    assert p.omitted and p.omitted[0].startswith("repo map: ")
    assert p.user.rstrip().endswith(".") and "Note: to fit the model's context" in p.user


def test_context_too_small_says_what_it_needs():
    with pytest.raises(ContextTooSmall) as e:
        ROLES["builder"].build_prompt(RoleContext(goal="g", phase=PHASE), context_tokens=10)
    assert e.value.needed_tokens > 10 and e.value.budget_tokens == 10
    assert "context_tokens" in str(e.value) and e.value.exit_code == 2


def test_trimming_order_repo_map_before_hints_before_files():
    big = "line\n" * 400
    ctx = RoleContext(
        goal="g",
        phase=PHASE,
        files=(FileExcerpt(path="src/report.py", text=big), FileExcerpt(path="other.py", text=big)),
        repo_map=tuple(f"p{i}.py" for i in range(100)),
        hints=("h1", "h2", "h3"),
        previous_failure="F" * 500 + "TAIL",
    )
    full = ROLES["builder"].build_prompt(ctx, context_tokens=1_000_000).estimated_tokens
    # Just over by a little: only the repo map goes, and only its last paths.
    p = ROLES["builder"].build_prompt(ctx, context_tokens=full - 20)
    assert len(p.omitted) == 1 and re.fullmatch(r"repo map: \d+ of 100 paths", p.omitted[0])
    assert "p0.py" in p.user
    # Much tighter: the map, then the hints (newest last), then other.py before the scope file.
    p = ROLES["builder"].build_prompt(ctx, context_tokens=full - 450)
    kinds = [o.split(":")[0] for o in p.omitted]
    assert kinds[:2] == ["repo map", "hints"] and "file other.py" in kinds
    assert "file src/report.py" not in kinds and "previous failure" not in kinds
    assert big in p.user  # the scope file is whole
    assert "TAIL" in p.user


def test_failure_keeps_its_tail():
    ctx = RoleContext(goal="g", phase=PHASE, previous_failure="HEAD" + "x" * 5000 + "THE ERROR")
    full = ROLES["builder"].build_prompt(ctx, context_tokens=1_000_000).estimated_tokens
    p = ROLES["builder"].build_prompt(ctx, context_tokens=full - 500)
    assert "THE ERROR" in p.user and "HEAD" not in p.user
    assert p.omitted[0].startswith("previous failure: ")


# --- the property: any context, any budget from the floor up ----------------

_text = st.text(alphabet="abcdefghij \n{}$`", max_size=1500) | st.text(alphabet="ab\n", min_size=200, max_size=3000)
_names = st.from_regex(r"[a-z]{1,8}(/[a-z]{1,8}){0,2}\.py", fullmatch=True)


@st.composite
def contexts(draw):
    paths = draw(st.lists(_names, unique=True, max_size=5))
    scope = tuple(draw(st.lists(st.sampled_from(paths), unique=True, max_size=2))) if paths else ()
    phase = PhaseSpec(id="ph", goal=draw(st.text(alphabet="xyz ", min_size=1, max_size=80)), scope=scope)
    role = draw(st.sampled_from(sorted(ROLES)))
    req = None
    if role == "doctor":
        req = request(draw(_text), tuple(draw(st.lists(st.text(alphabet="qrs", max_size=40), max_size=4))))
    ctx = RoleContext(
        goal=draw(st.text(alphabet="GOAL ", min_size=1, max_size=120)),
        phase=phase,
        files=tuple(FileExcerpt(path=p, text=draw(_text)) for p in paths),
        repo_map=tuple(draw(st.lists(_names, max_size=60))),
        previous_failure=draw(_text),
        hints=tuple(draw(st.lists(st.text(alphabet="hint", max_size=60), max_size=5))),
        rules=tuple(draw(st.lists(st.text(alphabet="rule", max_size=60), max_size=5))),
        diff=draw(_text) if role == "auditor" else "",
        doctor_request=req,
    )
    return role, ctx


def _floor(role: str, ctx: RoleContext) -> int:
    with pytest.raises(ContextTooSmall) as e:
        ROLES[role].build_prompt(ctx, context_tokens=0)
    return e.value.needed_tokens


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contexts(), st.floats(min_value=0.0, max_value=1.2), st.integers(min_value=0, max_value=3))
def test_any_prompt_fits_any_budget_above_the_floor_and_says_what_it_left_out(case, share, extra):
    role, ctx = case
    floor = _floor(role, ctx)
    full = ROLES[role].build_prompt(ctx, context_tokens=10**9)
    # Budgets spread between the floor and the untrimmed size (and a little past it). The floor
    # (everything optional cut, plus the note saying so) can exceed a small untrimmed prompt.
    budget = floor + int((max(full.estimated_tokens, floor) - floor) * share) + extra
    p = ROLES[role].build_prompt(ctx, context_tokens=budget)
    text = p.system + "\n" + p.user
    shows = set(Template(shipped_template(role)).get_identifiers())
    # It fits, by the documented estimate.
    assert estimate_tokens(p.system + p.user) == p.estimated_tokens <= budget
    # The untrimmable parts are all there.
    goal = ctx.doctor_request.context.goal if role == "doctor" else ctx.goal
    assert goal in text and f"goal: {ctx.phase.goal}" in text and PROTOCOL_MARK[role] in text
    # Nothing is listed as omitted when everything fits.
    if full.estimated_tokens <= budget:
        assert p.omitted == () and p == full
    # The omitted list is accurate, and the note is in the prompt.
    omitted = {o.split(": ", 1)[0]: o.split(": ", 1)[1] for o in p.omitted}
    assert len(omitted) == len(p.omitted)
    assert bool(p.omitted) == ("Note: to fit the model's context" in p.user)
    for f in ctx.files:
        entry = omitted.get(f"file {f.path}")
        if entry is None:
            assert "files" not in shows or f.text in text
        else:
            cut, total = map(int, re.match(r"(\d+) of (\d+) characters \(its end\)$", entry).groups())
            assert total == len(f.text) and 0 < cut <= total
            assert "files" not in shows or f.text[: total - cut] in text
    if "repo map" in omitted:
        cut, total = map(int, re.match(r"(\d+) of (\d+) paths$", omitted["repo map"]).groups())
        assert total == len(ctx.repo_map) and 0 < cut <= total
        kept = ctx.repo_map[: total - cut]
    else:
        kept = ctx.repo_map
    if "repo_map" in shows:
        assert all(f"\n{path}\n" in text for path in kept)
    for label, items in (("hints", ctx.hints), ("rules", ctx.rules)):
        n = 0
        if label in omitted:
            n, total = map(int, re.match(r"the (\d+) oldest of (\d+)$", omitted[label]).groups())
            assert total == len(items) and 0 < n <= total
        if label in shows:
            assert all(f"- {item}\n" in text for item in items[n:]), label
    if "previous failure" in omitted:
        cut, total = map(
            int, re.match(r"(\d+) of (\d+) characters \(its start\)$", omitted["previous failure"]).groups()
        )
        assert total == len(ctx.previous_failure)
        if "previous_failure" in shows:
            assert ctx.previous_failure[cut:] in text
    elif "previous_failure" in shows:
        assert ctx.previous_failure in text
    # What matters least goes first: anything cut implies everything before it in the order is gone.
    order = ["repo map", "hints", "rules", "other files", "previous failure", "diff", "first files"]
    first = set(ctx.phase.scope) or ({ctx.files[0].path} if ctx.files else set())
    touched = set()
    for key in omitted:
        if key.startswith("file "):
            touched.add("first files" if key[5:] in first else "other files")
        elif key in order:
            touched.add(key)
    for later in touched:
        for earlier in order[: order.index(later)]:
            if earlier == "repo map" and ctx.repo_map:
                assert omitted.get("repo map", "").startswith(f"{len(ctx.repo_map)} of"), (later, p.omitted)
            if earlier in ("hints", "rules") and getattr(ctx, earlier):
                assert omitted.get(earlier, "").startswith(f"the {len(getattr(ctx, earlier))} oldest"), (
                    later,
                    p.omitted,
                )
            if earlier == "other files":
                for f in ctx.files:
                    if f.path not in first and f.text:
                        assert omitted.get(f"file {f.path}", "").startswith(f"{len(f.text)} of"), (later, p.omitted)


def test_docs_list_every_placeholder_and_action_and_their_example_role_works():
    from pathlib import Path

    from autopack_core.errors import MalformedOutput
    from autopack_core.roles import DOCTOR_ACTIONS, PLACEHOLDERS

    doc = (Path(__file__).resolve().parent.parent / "docs" / "roles.md").read_text()
    for name in PLACEHOLDERS:
        assert f"`${name}`" in doc or f"${name}`" in doc, name
    for action in DOCTOR_ACTIONS:
        assert f"`{action}`" in doc
    code = doc.split("# my_roles/hooks.py\n", 1)[1].split("```", 1)[0]
    ns: dict = {}
    exec(compile(code, "docs/roles.md", "exec"), ns)
    registered: dict = {}
    ns["register_roles"](lambda name, role: registered.setdefault(name, role))
    role = registered["goal_reviewer"]
    p = role.build_prompt(RoleContext(goal="ship", phase=PHASE), context_tokens=1000)
    assert "Run goal: ship" in p.user and "id: add-flag" in p.user and '{"clear": true}' in p.system
    assert role.parse_reply('```json\n{"clear": false, "question": "which format?"}\n```')["clear"] is False
    with pytest.raises(MalformedOutput):
        role.parse_reply("yes")
