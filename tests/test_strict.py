"""The strict structuring kernel: no coercion, unknown keys refused, every problem at file:line: key.path."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autopack_core import strict
from autopack_core.errors import ConfigError, PlanError


@attrs.frozen(kw_only=True)
class Step:
    name: str
    tries: int = 1


@attrs.frozen(kw_only=True)
class Doc:
    title: str
    ratio: float = 0.5
    steps: tuple[Step, ...] = ()
    tags: dict[str, str] = attrs.field(factory=dict)


def refused(text: str, error=ConfigError) -> str:
    with pytest.raises(error) as info:
        strict.load_yaml(text, "d.yaml", Doc, error=error, noun="doc")
    return str(info.value)


def test_a_good_file_structures():
    doc = strict.load_yaml("title: t\nratio: 1\nsteps:\n  - {name: a}\n  - {name: b, tries: 3}\n", "d.yaml", Doc)
    assert doc == Doc(title="t", ratio=1.0, steps=(Step(name="a"), Step(name="b", tries=3)))
    assert type(doc.ratio) is float


def test_each_problem_names_file_line_and_key_path():
    assert refused("title: t\nsteps:\n  - {name: a}\n  - {name: b, tries: '3'}\n") == (
        "d.yaml:4: steps[1].tries: expected an integer, got string '3'"
    )
    assert refused("title: 7\n") == "d.yaml:1: title: expected a string, got number 7"
    assert refused("title: t\ncolour: red\n") == (
        "d.yaml:2: colour: unknown key (expected one of: title, ratio, steps, tags)"
    )
    assert refused("ratio: 1\n") == "d.yaml:1: title: required key missing"
    assert refused("title: t\nratio: true\n") == "d.yaml:2: ratio: expected a number, got boolean true"


def test_several_problems_are_all_reported_in_file_order():
    out = refused("tags: {a: 1}\ntitle: 2\n")
    assert out.splitlines() == [
        "2 problems in doc:",
        "  d.yaml:1: tags.a: expected a string, got number 1",
        "  d.yaml:2: title: expected a string, got number 2",
    ]


def test_the_error_class_is_the_callers():
    assert "d.yaml:1: title" in refused("title: [1]\n", PlanError)
    with pytest.raises(PlanError, match=r"d.yaml:2: invalid YAML"):
        strict.load_yaml("title: t\ntitle: u\n", "d.yaml", Doc, error=PlanError)
    with pytest.raises(PlanError, match=r"d.yaml:1: \(top level\): expected a mapping, got a list"):
        strict.load_yaml("- 1\n", "d.yaml", Doc, error=PlanError)


def test_codec_config_and_cassettes_share_one_converter_base():
    from autopack_core.codec import strict_converter
    from autopack_core.config_load import make_converter
    from autopack_plugins.recorded_answers import _converter

    for conv in (strict_converter(), make_converter(), _converter()):
        with pytest.raises(Exception) as info:
            conv.structure({"name": "a", "tries": "3"}, Step)
        leaves = [leaf for _, leaf, _ in strict.walk(info.value)]
        assert [type(x) for x in leaves] == [strict.WrongType]


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5))


@given(scalars)
def test_no_scalar_is_ever_coerced(value):
    conv = strict.converter()
    for target in (str, int, float, bool):
        ok = type(value) is target or (target is float and type(value) is int)
        if ok:
            assert conv.structure(value, target) == value
        else:
            with pytest.raises(strict.WrongType):
                conv.structure(value, target)


def test_fixed_and_open_tuples():
    conv = strict.converter()
    assert conv.structure([["a", "b"], ["c", "d"]], tuple[tuple[str, str], ...]) == (("a", "b"), ("c", "d"))
    assert conv.structure(["a", 1], tuple[str, int]) == ("a", 1)
    with pytest.raises(Exception) as info:
        conv.structure(["a", "b"], tuple[str, int])
    assert [(p, strict.message(x)) for p, x, _ in strict.walk(info.value)] == [
        ((1,), "expected an integer, got string 'b'")
    ]
    with pytest.raises(TypeError, match="expected a list of 2 items, got 1"):
        conv.structure(["a"], tuple[str, int])
