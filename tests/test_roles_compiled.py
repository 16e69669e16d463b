"""Templates are split and compiled once per text: a different text (a config override) is its own entry."""

from __future__ import annotations

from autopack_core.plan import PhaseSpec
from autopack_core.roles import RoleContext, _compiled, _lines, assemble_prompt

PHASE = PhaseSpec(id="p1", goal="do it", category="feature", complexity="low", scope=("a.py",))
CTX = RoleContext(goal="the goal", phase=PHASE, repo_map=tuple(f"d/f{i}.py" for i in range(30)))


def test_each_template_text_gives_its_own_prompt() -> None:
    a = "[system]\nsys A $phase_id\n[user]\nuser A $goal\n$repo_map"
    b = "[system]\nsys B\n[user]\nuser B $goal $omitted"
    first = assemble_prompt(CTX, a, context_tokens=10_000)
    assert first.system == "sys A p1" and first.user.startswith("user A the goal\nd/f0.py\nd/f1.py")
    second = assemble_prompt(CTX, b, context_tokens=10_000)
    assert (second.system, second.user) == ("sys B", "user B the goal ")
    # The same text again: the same compiled parts, the same prompt.
    assert _compiled(a) is _compiled(a)
    assert assemble_prompt(CTX, a, context_tokens=10_000) == first


def test_where_omitted_goes_is_known_per_template() -> None:
    with_slot = "[user]\n$goal\n$repo_map\n[$omitted]"
    without = "[user]\n$goal\n$repo_map"
    small = 40
    placed = assemble_prompt(CTX, with_slot, context_tokens=small)
    appended = assemble_prompt(CTX, without, context_tokens=small)
    assert placed.omitted and placed.omitted == appended.omitted
    assert "[Note: to fit" in placed.user
    assert appended.user.endswith("paths.") and "\n\nNote: to fit" in appended.user
    assert _compiled(with_slot)[2] and not _compiled(without)[2]


def test_lines_without_a_bullet_are_the_items_as_they_are() -> None:
    assert _lines(("a", "b c", "- d")) == "- a\n- b c\n- - d"
    assert _lines(("a", "b c", "- d"), "") == "a\nb c\n- d"
    assert _lines((), "", had=3) == "(left out to fit the context)" and _lines(()) == "(none)"
