"""The store's fast encode/decode paths give exactly what the cattrs union gives."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autopack_core import events as ev
from autopack_core.codec import EventCodec
from autopack_core.errors import EventDecodeError, UnknownEventType
from autopack_core.plan import CheckSpec, PhaseSpec

CODEC = EventCodec()
st.register_type_strategy(float, st.floats(allow_nan=False, allow_infinity=False))
st.register_type_strategy(int, st.integers(min_value=-(2**63), max_value=2**63 - 1))


@pytest.mark.parametrize("cls", ev.CORE_EVENT_TYPES, ids=lambda c: c.type)
@given(data=st.data())
def test_encode_is_the_union_layout_and_decode_stored_rebuilds_it(cls, data):
    event = data.draw(st.builds(cls))
    raw = CODEC.encode(event)
    assert raw == orjson.dumps(CODEC.converter.unstructure(event, CODEC.union))
    stored = CODEC.decode_stored(cls.type, raw)
    assert stored == event and type(stored) is cls
    assert stored == CODEC.decode(cls.type, raw)


def test_a_value_orjson_cannot_take_gets_the_converters_bytes_or_error():
    # The generated encoder hands a tuple subclass (a named tuple) to the
    # converter, which writes it as a list; a too-large int fails in both.
    from typing import NamedTuple

    class Pair(NamedTuple):
        a: str
        b: str

    event = ev.PatchApplied(phase_id="p", files=Pair("x", "y"))  # type: ignore[arg-type]
    assert CODEC.encode(event) == orjson.dumps(CODEC.converter.unstructure(event, CODEC.union))
    assert orjson.loads(CODEC.encode(event))["files"] == ["x", "y"]
    with pytest.raises(EventDecodeError, match="run_resumed"):
        CODEC.encode(ev.RunResumed(from_seq=2**70))
    with pytest.raises(UnknownEventType):
        CODEC.encode_many([ev.PhaseStarted(phase_id="a"), object()])  # type: ignore[list-item]


def test_nested_classes_and_tuples_come_back_as_themselves():
    spec = PhaseSpec(id="a", goal="g", scope=("x",), checks=(CheckSpec(name="pytest", options=(("k", "v"),)),))
    created = CODEC.decode_stored("run_created", CODEC.encode(ev.RunCreated(goal="g", phases=(spec,))))
    phase = created.phases[0]
    assert type(created.phases) is tuple and type(phase) is PhaseSpec
    assert type(phase.checks[0]) is CheckSpec and phase.checks[0].options == (("k", "v"),)
    assert type(phase.checks[0].options[0]) is tuple


@pytest.mark.parametrize(
    "tag, payload, message",
    [
        ("patch_applied", '{"phase_id": "a", "files": "abc", "type": "patch_applied"}', "files"),
        ("run_created", '{"goal": "g", "phases": [{"goal": "g"}], "type": "run_created"}', "phases"),
        ("run_created", '{"goal": "g", "phases": ["x"], "type": "run_created"}', "phases"),
        ("phase_started", '{"phase_id": "a", "extra": 1, "type": "phase_started"}', "extra"),
        ("phase_started", "not json", "phase_started"),
    ],
)
def test_a_row_that_does_not_fit_gets_the_strict_decoders_error(tag, payload, message):
    # A string is not silently a tuple of characters, nor a wrong nested shape a half-built class.
    with pytest.raises(EventDecodeError, match=message):
        CODEC.decode_stored(tag, payload, "run r seq 3")


def test_an_unknown_tag_is_still_unknown():
    with pytest.raises(UnknownEventType):
        CODEC.decode_stored("nosuch.event", "{}")
