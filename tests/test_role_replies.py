"""Role replies (SPEC 7): the built-in roles parse their protocols strictly, and never crash."""

from __future__ import annotations

import json

import pytest
from autopack_plugins.roles import Auditor, Builder, Doctor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autopack_core.errors import MalformedOutput
from autopack_core.plan import CheckSpec, PhaseSpec
from autopack_core.plugins import load_plugins
from autopack_core.roles import DOCTOR_ACTIONS, AuditReply, BuilderReply, DoctorResponse

builder, auditor, doctor = Builder(), Auditor(), Doctor()

DIFF = """Here is the fix:

```diff
--- a/src/report.py
+++ b/src/report.py
@@ -1,2 +1,3 @@
 import sys
+import json
 
```
"""
BLOCKS = """src/report.py
<<<<<<< SEARCH
def main():
=======
def main(json_output=False):
>>>>>>> REPLACE
"""


def test_the_plugin_registers_the_three_roles_through_its_entry_point():
    ps = load_plugins(strict=True, allowlist=["roles"])
    reg = ps.registry("roles")
    assert sorted(reg) == ["auditor", "builder", "doctor"]
    assert all(r.plugin == "roles" and r.obj.name == n for n, r in reg.items())


# --- Builder -----------------------------------------------------------------


def test_builder_parses_a_fenced_diff_once():
    reply = builder.parse_reply(DIFF)
    assert isinstance(reply, BuilderReply)
    assert [e.path for e in reply.edits] == ["src/report.py"] and reply.edits[0].hunks


def test_builder_parses_bare_diffs_and_search_replace_blocks():
    bare = builder.parse_reply(DIFF.split("```diff\n")[1].split("```")[0])
    assert bare.edits[0].hunks
    blocks = builder.parse_reply(BLOCKS)
    assert blocks.edits[0].path == "src/report.py" and blocks.edits[0].blocks[0].search == b"def main():\n"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n",
        "I could not find the file, sorry.",
        '{"edits": []}',
        "```python\nprint(1)\n```",
        "@@ -1 +1 @@\n-a\n+b\n",
        "<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n",
        "\x00\x01garbage\ud800",
    ],
)
def test_builder_refuses_replies_without_edits(text):
    with pytest.raises(MalformedOutput) as e:
        builder.parse_reply(text)
    assert e.value.role == "builder" and "\n" not in str(e.value) and e.value.exit_code == 1


# --- Auditor -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, verdict, issues",
    [
        ('{"verdict": "approve", "issues": []}', "approve", ()),
        ('{"verdict": "approve"}', "approve", ()),
        ('```json\n{"verdict": "reject", "issues": ["a.py: wrong"]}\n```', "reject", ("a.py: wrong",)),
        ('  ```\n{"verdict": "approve", "issues": ["nit"]}\n```\n', "approve", ("nit",)),
    ],
)
def test_auditor_reads_its_json(text, verdict, issues):
    assert auditor.parse_reply(text) == AuditReply(verdict=verdict, issues=issues)


@pytest.mark.parametrize(
    "text, why",
    [
        ("", "empty"),
        ("Looks good to me!", "expected a JSON object"),
        ('{"verdict": "approved"}', "verdict must be"),
        ('{"verdict": "reject", "issues": []}', "at least one issue"),
        ('{"verdict": "approve", "issues": "none"}', "list of strings"),
        ('{"verdict": "approve", "issues": [1]}', "list of strings"),
        ('{"issues": []}', "missing key 'verdict'"),
        ('{"verdict": "approve", "score": 3}', "unknown key 'score'"),
        ('["approve"]', "expected a JSON object"),
        ('{"verdict": "approve"', "invalid JSON"),
        ('Sure:\n```json\n{"verdict": "approve"}\n```', "expected a JSON object"),
    ],
)
def test_auditor_refuses_anything_else(text, why):
    with pytest.raises(MalformedOutput) as e:
        auditor.parse_reply(text)
    assert why in str(e.value) and e.value.role == "auditor"


# --- Doctor ------------------------------------------------------------------


def test_doctor_reads_each_action():
    r = doctor.parse_reply(
        '{"action": "retry_with_fix", "confidence": 0.8, "rationale": "stale", "hint": "copy exactly"}'
    )
    assert r == DoctorResponse(action="retry_with_fix", confidence=0.8, rationale="stale", hint="copy exactly")
    for action in ("skip_phase", "rollback_run", "mark_fatal"):
        assert doctor.parse_reply(json.dumps({"action": action, "confidence": 1})).action == action
    r = doctor.parse_reply(
        "```json\n"
        + json.dumps(
            {
                "action": "execute_fix",
                "confidence": 0,
                "fix_type": "git",
                "fix_commands": ["git checkout -- a.py"],
                "verify_command": "git status",
            }
        )
        + "\n```"
    )
    assert r.fix_commands == ("git checkout -- a.py",) and r.fix_type == "git" and r.confidence == 0.0


def test_doctor_replan_carries_validated_phases():
    r = doctor.parse_reply(
        json.dumps(
            {
                "action": "replan",
                "confidence": 0.7,
                "rationale": "flawed",
                "revised_phases": [
                    {
                        "id": "a",
                        "goal": "do a",
                        "complexity": "low",
                        "scope": ["x.py"],
                        "checks": ["pytest", {"name": "command", "run": "ruff ."}],
                    },
                    {"id": "b", "goal": "do b", "optional": True},
                ],
            }
        )
    )
    assert r.revised_phases == (
        PhaseSpec(
            id="a",
            goal="do a",
            complexity="low",
            scope=("x.py",),
            checks=(CheckSpec(name="pytest"), CheckSpec(name="command", options=(("run", "ruff ."),))),
        ),
        PhaseSpec(id="b", goal="do b", optional=True),
    )


@pytest.mark.parametrize(
    "data, why",
    [
        ({"action": "retry", "confidence": 0.5}, "action must be one of"),
        ({"action": "mark_fatal"}, "missing key 'confidence'"),
        ({"action": "mark_fatal", "confidence": 1.5}, "from 0 to 1"),
        ({"action": "mark_fatal", "confidence": -0.1}, "from 0 to 1"),
        ({"action": "mark_fatal", "confidence": "high"}, "a number"),
        ({"action": "mark_fatal", "confidence": True}, "a number"),
        ({"action": "execute_fix", "confidence": 0.5, "fix_type": "git"}, "needs fix_type and fix_commands"),
        (
            {"action": "execute_fix", "confidence": 0.5, "fix_type": "git", "fix_commands": "git reset"},
            "list of strings",
        ),
        ({"action": "replan", "confidence": 0.5}, "needs revised_phases"),
        ({"action": "replan", "confidence": 0.5, "revised_phases": [{"id": "a"}]}, "goal"),
        (
            {"action": "replan", "confidence": 0.5, "revised_phases": [{"id": "a", "goal": "g", "complexity": "huge"}]},
            "complexity",
        ),
        (
            {
                "action": "replan",
                "confidence": 0.5,
                "revised_phases": [{"id": "a", "goal": "g"}, {"id": "a", "goal": "h"}],
            },
            "duplicate",
        ),
        ({"action": "mark_fatal", "confidence": 0.5, "revised_phases": []}, "only to action replan"),
        ({"action": "mark_fatal", "confidence": 0.5, "fix_command": "x"}, "unknown key 'fix_command'"),
        ({"action": "mark_fatal", "confidence": 0.5, "hint": 3}, "hint must be a string"),
    ],
)
def test_doctor_refuses_what_breaks_the_protocol(data, why):
    with pytest.raises(MalformedOutput) as e:
        doctor.parse_reply(json.dumps(data))
    assert why in str(e.value) and e.value.role == "doctor"


def test_deeply_nested_json_is_malformed_not_a_crash():
    for role in (auditor, doctor):
        with pytest.raises(MalformedOutput):
            role.parse_reply('{"a": ' * 200_000 + "1" + "}" * 200_000)


def test_doctor_refuses_nan_and_infinity():
    for bad in ('{"action": "mark_fatal", "confidence": NaN}', '{"action": "mark_fatal", "confidence": Infinity}'):
        with pytest.raises(MalformedOutput):
            doctor.parse_reply(bad)


# --- fuzz: any text is a reply or MalformedOutput ---------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
_doctor_like = st.fixed_dictionaries(
    {"action": st.sampled_from(DOCTOR_ACTIONS + ("nope",)), "confidence": st.floats(allow_nan=False) | st.integers()},
    optional={
        "hint": st.text(max_size=20) | _json_values,
        "rationale": st.text(max_size=20),
        "fix_type": st.text(max_size=5) | _json_values,
        "fix_commands": st.lists(st.text(max_size=10), max_size=3) | _json_values,
        "verify_command": st.text(max_size=10),
        "revised_phases": st.lists(
            st.fixed_dictionaries(
                {"id": st.text(max_size=3) | _json_values, "goal": st.text(max_size=5) | _json_values},
                optional={
                    "complexity": st.sampled_from(["low", "medium", "high", "x"]) | _json_values,
                    "scope": _json_values,
                    "checks": _json_values,
                    "optional": _json_values,
                    "category": _json_values,
                },
            ),
            max_size=3,
        )
        | _json_values,
    },
)
_audit_like = st.fixed_dictionaries(
    {"verdict": st.sampled_from(["approve", "reject", "x"]) | _json_values},
    optional={"issues": st.lists(st.text(max_size=10), max_size=3) | _json_values},
)
_fragments = st.sampled_from(
    [
        "--- a/x.py\n",
        "+++ b/x.py\n",
        "@@ -1 +1 @@\n",
        "@@ -1,2 +1,3 @@\n",
        "-a\n",
        "+b\n",
        " c\n",
        "diff --git a/x b/x\n",
        "new file mode 100644\n",
        "x.py\n",
        "<<<<<<< SEARCH\n",
        "=======\n",
        ">>>>>>> REPLACE\n",
        "```diff\n",
        "```\n",
        "GIT binary patch\n",
        "literal 5\n",
        "\\ No newline at end of file\n",
        "rename from a\n",
        "rename to b\n",
    ]
)


def _replies():
    def as_json(s):
        return s.map(json.dumps)

    def fenced(s):
        return s.map(lambda t: f"```json\n{t}\n```")

    return (
        st.text()
        | as_json(_json_values)
        | as_json(_doctor_like)
        | fenced(as_json(_doctor_like))
        | as_json(_audit_like)
        | fenced(as_json(_audit_like))
        | st.lists(_fragments | st.text(max_size=8), max_size=25).map("".join)
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_replies())
def test_any_text_is_a_reply_or_malformed_output(text):
    for role, kind in ((builder, BuilderReply), (auditor, AuditReply), (doctor, DoctorResponse)):
        try:
            reply = role.parse_reply(text)
        except MalformedOutput as exc:
            assert exc.role == role.name and "\n" not in str(exc)
        else:
            assert isinstance(reply, kind)
            if isinstance(reply, DoctorResponse):
                assert reply.action in DOCTOR_ACTIONS and 0.0 <= reply.confidence <= 1.0
                assert (reply.revised_phases is not None) == (reply.action == "replan")
            if isinstance(reply, AuditReply):
                assert reply.verdict in ("approve", "reject") and all(isinstance(i, str) for i in reply.issues)
            if isinstance(reply, BuilderReply):
                assert reply.edits


def test_doctor_retry_without_hint_uses_rationale():
    from autopack_plugins.roles import Doctor

    reply = Doctor().parse_reply('{"action": "retry_with_fix", "confidence": 0.6, "rationale": "stale context"}')
    assert reply.action == "retry_with_fix"
    assert reply.hint == "stale context"
    bare = Doctor().parse_reply('{"action": "retry_with_fix", "confidence": 0.6}')
    assert bare.hint == ""
