"""The plan file loader: strict YAML, every error form, and a round trip."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autopack_core.errors import EXIT_BAD_INPUT, PlanError
from autopack_core.plan import COMPLEXITIES, CheckSpec, PhaseSpec, Plan
from autopack_core.planfile import dump_plan, load_plan, phases_from_data, plan_from_text

SPEC_EXAMPLE = """\
goal: Add a --json flag to the report command
phases:
  - id: add-flag
    goal: Add the flag and its output
    category: feature        # free text; routing may key on it
    complexity: medium       # low | medium | high
    scope: [src/report.py]   # optional: files the Builder is shown first
    checks:
      - pytest
      - {name: command, run: "python -m mypy src"}
    optional: false          # true allows skip_phase
  - id: docs
    goal: Document the flag
"""


def error(text: str, source: str = "plan.yaml") -> str:
    with pytest.raises(PlanError) as info:
        plan_from_text(text, source)
    assert info.value.exit_code == EXIT_BAD_INPUT
    return str(info.value)


def test_spec_example_loads_with_defaults() -> None:
    plan = plan_from_text(SPEC_EXAMPLE, "plan.yaml")
    assert plan == Plan(
        goal="Add a --json flag to the report command",
        phases=(
            PhaseSpec(
                id="add-flag",
                goal="Add the flag and its output",
                category="feature",
                complexity="medium",
                scope=("src/report.py",),
                checks=(CheckSpec(name="pytest"), CheckSpec(name="command", options=(("run", "python -m mypy src"),))),
                optional=False,
            ),
            PhaseSpec(id="docs", goal="Document the flag"),
        ),
    )
    docs = plan.phases[1]
    assert (docs.category, docs.complexity, docs.scope, docs.checks, docs.optional) == (
        "feature",
        "medium",
        (),
        (),
        False,
    )


def test_load_plan_reads_the_file_and_names_it(tmp_path: Path) -> None:
    p = tmp_path / "plan.yaml"
    p.write_text(SPEC_EXAMPLE)
    assert load_plan(p).phases[0].id == "add-flag"
    p.write_text(SPEC_EXAMPLE.replace("complexity: medium", "complexity: hard"))
    with pytest.raises(
        PlanError,
        match=rf"^{p}:6: phases\[0\]\.complexity: expected low, medium or high, got "
        r"string 'hard'$",
    ):
        load_plan(p)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.yaml", "no such plan file"),
        (lambda d: d, "is a directory"),
    ],
)
def test_unreadable_files(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        load_plan(make(tmp_path))


def test_not_utf8(tmp_path: Path) -> None:
    p = tmp_path / "plan.yaml"
    p.write_bytes(b"goal: \xff\n")
    with pytest.raises(PlanError, match=r"not UTF-8 text"):
        load_plan(p)


# Each case: the plan text and the exact one-line error.
CASES = [
    ("", "plan.yaml:1: (top level): expected a mapping with goal and phases, got an empty file"),
    ("- a\n", "plan.yaml:1: (top level): expected a mapping with goal and phases, got a list"),
    ("goal: x\n", "plan.yaml:1: phases: required key missing"),
    ("phases: [{id: a, goal: b}]\n", "plan.yaml:1: goal: required key missing"),
    ("goal: ''\nphases: [{id: a, goal: b}]\n", "plan.yaml:1: goal: must not be empty"),
    ("goal: 3\nphases: [{id: a, goal: b}]\n", "plan.yaml:1: goal: expected a string, got number 3"),
    ("goal: x\nphases: []\n", "plan.yaml:2: phases: expected at least one phase"),
    ("goal: x\nphases: {a: 1}\n", "plan.yaml:2: phases: expected a list of phases, got a mapping"),
    (
        "goal: x\nphases:\n  - just text\n",
        "plan.yaml:3: phases[0]: expected a phase (a mapping with id and goal), got string 'just text'",
    ),
    ("goal: x\nphases:\n  - goal: g\n", "plan.yaml:3: phases[0].id: required key missing"),
    ("goal: x\nphases:\n  - id: a\n", "plan.yaml:3: phases[0].goal: required key missing"),
    (
        "goal: x\nphases:\n  - id: 7\n    goal: g\n",
        "plan.yaml:3: phases[0].id: expected a string (the phase id), got number 7",
    ),
    (
        "goal: x\nphases:\n  - id: a b\n    goal: g\n",
        (
            "plan.yaml:3: phases[0].id: 'a b' is not a valid id (letters, digits, '-', '_' and '.', "
            "starting with a letter or digit, at most 100 characters)"
        ),
    ),
    (
        "goal: x\nphases:\n  - id: a\n    goal: g\n  - id: a\n    goal: h\n",
        "plan.yaml:5: phases[1].id: duplicate phase id 'a' (also phases[0])",
    ),
    (
        "goal: x\nphases:\n  - id: a\n    goal: g\n    category: 5\n",
        "plan.yaml:5: phases[0].category: expected a string, got number 5",
    ),
    (
        "goal: x\nphases:\n  - id: a\n    goal: g\n    complexity: extreme\n",
        "plan.yaml:5: phases[0].complexity: expected low, medium or high, got string 'extreme'",
    ),
    (
        "goal: x\nphases:\n  - id: a\n    goal: g\n    scope: src/a.py\n",
        "plan.yaml:5: phases[0].scope: expected a list of paths, got string 'src/a.py'",
    ),
    (
        "goal: x\nphases:\n  - id: a\n    goal: g\n    scope:\n      - ok.py\n      - /etc/passwd\n",
        "plan.yaml:7: phases[0].scope[1]: '/etc/passwd' is absolute: scope paths are relative to the workspace",
    ),
    (
        "goal: x\nphases:\n  - id: a\n    goal: g\n    scope: [src/../../etc]\n",
        "plan.yaml:5: phases[0].scope[0]: 'src/../../etc' leaves the workspace ('..' is not allowed)",
    ),
    (
        'goal: x\nphases:\n  - id: a\n    goal: g\n    scope: ["a\\0b"]\n',
        "plan.yaml:5: phases[0].scope[0]: a path cannot hold a NUL character",
    ),
    (
        "goal: x\nphases:\n  - id: a\n    goal: g\n    scope: [.git/config]\n",
        "plan.yaml:5: phases[0].scope[0]: '.git/config' is inside .git",
    ),
    (
        "goal: x\nphases:\n  - id: a\n    goal: g\n    scope: [3]\n",
        "plan.yaml:5: phases[0].scope[0]: expected a path relative to the workspace, got number 3",
    ),
    (
        "goal: x\nphases:\n  - id: a\n    goal: g\n    checks: pytest\n",
        "plan.yaml:5: phases[0].checks: expected a list of checks, got string 'pytest'",
    ),
    (
        "goal: x\nphases:\n  - id: a\n    goal: g\n    checks: [[pytest]]\n",
        "plan.yaml:5: phases[0].checks[0]: expected a check name or a mapping with name, got a list",
    ),
    (
        "goal: x\nphases:\n  - id: a\n    goal: g\n    checks:\n      - run: make\n",
        "plan.yaml:6: phases[0].checks[0].name: required key missing",
    ),
    (
        "goal: x\nphases:\n  - id: a\n    goal: g\n    checks:\n      - name: command\n        timeout: 30\n",
        "plan.yaml:7: phases[0].checks[0].timeout: expected a string, got number 30",
    ),
    (
        "goal: x\nphases:\n  - id: a\n    goal: g\n    optional: yes\n",
        "plan.yaml:5: phases[0].optional: expected true or false, got string 'yes'",
    ),
    (
        "goal: x\nphases:\n  - id: a\n    goal: g\n    optional: 1\n",
        "plan.yaml:5: phases[0].optional: expected true or false, got number 1",
    ),
    (
        "goal: x\nphases:\n  - id: a\n    goal: g\n    colour: red\n",
        (
            "plan.yaml:5: phases[0].colour: unknown key "
            "(expected one of: id, goal, category, complexity, scope, checks, optional)"
        ),
    ),
    (
        "goal: x\nphases: [{id: a, goal: b}]\nauthor: me\n",
        "plan.yaml:3: author: unknown key (expected one of: goal, phases)",
    ),
    (
        "goal: x\ngoal: y\n",
        'plan.yaml:2: invalid YAML: found duplicate key "goal" with value "y" (original value: "x")',
    ),
    ("goal: [x\n", "plan.yaml:2: invalid YAML: expected ',' or ']', but got '<stream end>'"),
    (
        "goal: x\nphases:\n  - id: 2024-01-01\n    goal: g\n",
        "plan.yaml:3: phases[0].id: expected a string (the phase id), got a date",
    ),
]


@pytest.mark.parametrize(("text", "message"), CASES, ids=[m.split(": ", 1)[1][:50] for _, m in CASES])
def test_error_forms(text: str, message: str) -> None:
    assert error(text) == message


def test_all_problems_reported_at_once_in_file_order() -> None:
    text = "goal: x\nphases:\n  - id: a\n    goal: g\n    optional: 'no'\n  - id: a\n    complexity: 3\nextra: 1\n"
    assert error(text) == (
        "5 problems in plan:\n"
        "  plan.yaml:5: phases[0].optional: expected true or false, got string 'no'\n"
        "  plan.yaml:6: phases[1].goal: required key missing\n"
        "  plan.yaml:6: phases[1].id: duplicate phase id 'a' (also phases[0])\n"
        "  plan.yaml:7: phases[1].complexity: expected low, medium or high, got number 3\n"
        "  plan.yaml:8: extra: unknown key (expected one of: goal, phases)"
    )


def test_check_options_keep_their_order_and_values() -> None:
    plan = plan_from_text(
        "goal: x\nphases:\n  - id: a\n    goal: g\n    checks:\n"
        "      - {name: command, run: 'make test', cwd: sub}\n      - pytest\n",
        "p.yaml",
    )
    assert plan.phases[0].checks == (
        CheckSpec(name="command", options=(("run", "make test"), ("cwd", "sub"))),
        CheckSpec(name="pytest"),
    )


# --- a Doctor's revised phases ---------------------------------------------------


def test_phases_from_data_accepts_json_shapes() -> None:
    phases = phases_from_data(
        [{"id": "fix-1", "goal": "g", "checks": ["pytest", {"name": "command", "run": "make"}], "optional": True}],
        "doctor reply",
    )
    assert phases == (
        PhaseSpec(
            id="fix-1",
            goal="g",
            checks=(CheckSpec(name="pytest"), CheckSpec(name="command", options=(("run", "make"),))),
            optional=True,
        ),
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "doctor reply: revised_phases: expected a list of phases, got null"),
        ([], "doctor reply: revised_phases: expected at least one phase"),
        (
            [{"id": "a", "goal": "g"}, {"id": "a", "goal": "h"}],
            "doctor reply: revised_phases[1].id: duplicate phase id 'a' (also revised_phases[0])",
        ),
        (
            [{"id": "a", "goal": "g"}, {"id": "b", "goal": "g"}, {"id": "../x", "goal": "g"}],
            (
                "doctor reply: revised_phases[2].id: '../x' is not a valid id "
                "(letters, digits, '-', '_' and '.', starting with a letter or digit, at most 100 characters)"
            ),
        ),
        (
            [{"id": "a", "goal": "g", "optional": "yes"}],
            "doctor reply: revised_phases[0].optional: expected true or false, got string 'yes'",
        ),
        (
            [{"id": "a", "goal": "g", "scope": ["/abs"]}],
            "doctor reply: revised_phases[0].scope[0]: '/abs' is absolute: scope paths are relative to the workspace",
        ),
        (
            [{"id": "a", "goal": "g", "why": "x"}],
            (
                "doctor reply: revised_phases[0].why: unknown key "
                "(expected one of: id, goal, category, complexity, scope, checks, optional)"
            ),
        ),
        (
            [{"id": "a", "goal": "g", "checks": [{"name": "command", "run": ["x"]}]}],
            "doctor reply: revised_phases[0].checks[0].run: expected a string, got a list",
        ),
    ],
)
def test_phases_from_data_errors(data: object, message: str) -> None:
    with pytest.raises(PlanError) as info:
        phases_from_data(data, "doctor reply")
    assert str(info.value) == message


# --- round trip --------------------------------------------------------------------

SAFE_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30).filter(
    lambda s: s.strip() != ""
)
IDS = st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=20).filter(
    lambda s: s[0].isalnum()
)
SEGMENT = st.text(alphabet=string.ascii_letters + string.digits + "_-. ", min_size=1, max_size=8).filter(
    lambda s: s not in (".", "..", ".git") and s.strip() == s and s
)
SCOPE = st.lists(SEGMENT, min_size=1, max_size=3).map("/".join)
CHECKS = st.builds(
    CheckSpec,
    name=SAFE_TEXT,
    options=st.lists(
        st.tuples(
            st.text(string.ascii_lowercase, min_size=1, max_size=8).filter(lambda k: k != "name"),
            st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20),
        ),
        max_size=2,
        unique_by=lambda t: t[0],
    ).map(tuple),
)


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    ids = draw(st.lists(IDS, min_size=1, max_size=4, unique=True))
    phases = tuple(
        PhaseSpec(
            id=pid,
            goal=draw(SAFE_TEXT),
            category=draw(SAFE_TEXT),
            complexity=draw(st.sampled_from(COMPLEXITIES)),
            scope=tuple(draw(st.lists(SCOPE, max_size=3))),
            checks=tuple(draw(st.lists(CHECKS, max_size=3))),
            optional=draw(st.booleans()),
        )
        for pid in ids
    )
    return Plan(goal=draw(SAFE_TEXT), phases=phases)


@given(plans())
def test_round_trip(plan: Plan) -> None:
    assert plan_from_text(dump_plan(plan), "round.yaml") == plan


@given(plans())
def test_revised_phases_round_trip_through_json_shapes(plan: Plan) -> None:
    import json

    from autopack_core.planfile import phase_to_data

    data = json.loads(json.dumps([phase_to_data(p) for p in plan.phases]))
    assert phases_from_data(data, "doctor reply") == plan.phases
