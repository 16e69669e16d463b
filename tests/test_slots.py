"""Building frozen attrs instances by their slots gives what calling the class gives."""

from __future__ import annotations

import attrs
import pytest

from autopack_core import events as ev
from autopack_core.slots import dict_builder
from autopack_core.store import Envelope


@attrs.frozen(kw_only=True)
class Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class Checked:
    x: int = attrs.field(validator=attrs.validators.gt(0))


@attrs.frozen(kw_only=True, cache_hash=True)
class Hashed:
    x: int


def test_a_full_dict_builds_the_same_object_with_conversions():
    build = dict_builder(Point, {"tags": tuple})
    p = build({"x": 1, "y": 2, "tags": ["a"]})
    assert p == Point(x=1, y=2, tags=("a",)) and type(p.tags) is tuple
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        p.x = 3  # type: ignore[misc]
    assert hash(p) == hash(Point(x=1, y=2, tags=("a",)))


def test_missing_keys_take_defaults_and_unknown_keys_are_refused():
    build = dict_builder(Point, {"tags": tuple})
    assert build({"x": 1}) == Point(x=1)
    with pytest.raises(TypeError):
        build({"x": 1, "y": 2, "tags": [], "z": 0})
    with pytest.raises(KeyError):
        build({"x": 1, "y": 2, "z": 0})  # right count, wrong names: no half-built object


def test_classes_whose_init_does_more_are_built_by_calling_them():
    with pytest.raises(ValueError):
        dict_builder(Checked)({"x": 0})
    h = dict_builder(Hashed)({"x": 1})
    assert hash(h) == hash(Hashed(x=1))


def test_the_store_builds_envelopes_as_the_class_does():
    # The store makes envelopes with tuple.__new__ (one C call); they must be
    # the very objects Envelope(...) makes.
    from autopack_core.store import _tuple_new

    e = ev.PhaseStarted(phase_id="a")
    built = _tuple_new(Envelope, ("r", 1, "t", e, "h"))
    assert type(built) is Envelope and built == Envelope("r", 1, "t", e, "h")
    assert (built.run_id, built.seq, built.ts, built.event, built.hash) == ("r", 1, "t", e, "h")


def test_a_tagged_builder_checks_and_drops_the_type_key():
    build = dict_builder(Point, {"tags": tuple}, tag="point")
    assert build({"x": 1, "y": 2, "tags": [], "type": "point"}) == Point(x=1, y=2)
    assert build({"x": 1, "type": "point"}) == Point(x=1)
    with pytest.raises(TypeError, match="not 'point'"):
        build({"x": 1, "y": 2, "tags": [], "type": "line"})
