"""Events: every type round-trips through the tagged union as JSON."""

from __future__ import annotations

import math

import attrs
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autopack_core import events as ev
from autopack_core.codec import EventCodec
from autopack_core.errors import EventDecodeError, PluginError, UnknownEventType

CODEC = EventCodec()
finite = st.floats(allow_nan=False, allow_infinity=False)
st.register_type_strategy(float, finite)
# JSON integers as SQLite and orjson hold them: signed 64-bit.
st.register_type_strategy(int, st.integers(min_value=-(2**63), max_value=2**63 - 1))


def test_every_core_event_has_a_unique_tag():
    tags = [cls.type for cls in ev.CORE_EVENT_TYPES]
    assert all(tags)
    assert len(tags) == len(set(tags))


def test_lifecycle_facts_are_covered():
    # The list of facts, by tag: a missing one fails here.
    required = {
        "run_created",
        "phase_started",
        "model_call_requested",
        "model_call_answered",
        "patch_proposed",
        "patch_refused",
        "patch_applied",
        "audit_verdict",
        "check_result",
        "error_classified",
        "doctor_invoked",
        "doctor_diagnosed",
        "action_taken",
        "hint_recorded",
        "model_escalated",
        "plan_revised",
        "fix_refused",
        "fix_executed",
        "checkpoint_created",
        "rollback_performed",
        "budget_exhausted",
        "phase_completed",
        "phase_failed",
        "phase_skipped",
        "run_completed",
        "run_failed",
        "run_aborted",
        "rule_approved",
        "rule_rejected",
    }
    assert required <= {cls.type for cls in ev.CORE_EVENT_TYPES}


@pytest.mark.parametrize("cls", ev.CORE_EVENT_TYPES, ids=lambda c: c.type)
@given(data=st.data())
def test_round_trip(cls, data):
    event = data.draw(st.builds(cls))
    raw = CODEC.encode(event)
    decoded = CODEC.decode(cls.type, raw)
    assert decoded == event
    assert type(decoded) is cls
    assert orjson.loads(raw)["type"] == cls.type
    # Canonical: encoding the decoded event gives the same bytes.
    assert CODEC.encode(decoded) == raw
    # The store's fast path gives the same event.
    assert CODEC.decode_stored(cls.type, raw) == event


def test_events_are_frozen():
    e = ev.PhaseStarted(phase_id="a")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        e.phase_id = "b"  # type: ignore[misc]


def test_unknown_tag_names_the_plugin():
    with pytest.raises(UnknownEventType) as info:
        CODEC.decode("acme.widget_built", b'{"type": "acme.widget_built"}', "run r seq 3")
    msg = str(info.value)
    assert "acme.widget_built" in msg and "'acme'" in msg and "run r seq 3" in msg


def test_bad_payload_is_a_clear_error():
    with pytest.raises(EventDecodeError, match="phase_started.*phase_id"):
        CODEC.decode("phase_started", b'{"type": "phase_started"}')
    with pytest.raises(EventDecodeError, match="phase_started"):
        CODEC.decode("phase_started", b'{"type": "phase_started", "phase_id": "a", "extra": 1}')
    with pytest.raises(EventDecodeError):
        CODEC.decode("phase_started", b'{"type": "phase_st')


def test_no_silent_coercion():
    with pytest.raises(EventDecodeError):
        CODEC.decode("run_resumed", b'{"type": "run_resumed", "from_seq": "3"}')


@ev.event_type("acme.widget_built")
class WidgetBuilt(ev.Event):
    name: str
    size: int = 0


def test_plugin_event_types_join_the_union():
    codec = EventCodec([WidgetBuilt])
    raw = codec.encode(WidgetBuilt(name="w", size=3))
    assert orjson.loads(raw) == {"type": "acme.widget_built", "name": "w", "size": 3}
    assert codec.decode("acme.widget_built", raw) == WidgetBuilt(name="w", size=3)


def test_a_tag_registered_twice_is_refused():
    @ev.event_type("phase_started")
    class Impostor(ev.Event):
        x: int = 0

    with pytest.raises(PluginError, match="registered twice"):
        EventCodec([Impostor])


def test_encoding_refuses_unregistered_types():
    with pytest.raises(UnknownEventType):
        CODEC.encode(WidgetBuilt(name="w"))


def test_float_fields_stay_finite_in_json():
    raw = CODEC.encode(ev.BudgetExhausted(scope="run", budget="cost", used=1.5, limit=2.0))
    assert math.isclose(orjson.loads(raw)["used"], 1.5)


def test_integers_beyond_64_bits_are_a_clear_error():
    with pytest.raises(EventDecodeError, match="run_resumed"):
        CODEC.encode(ev.RunResumed(from_seq=2**70))


def test_bool_is_not_an_int():
    with pytest.raises(EventDecodeError):
        CODEC.decode("run_resumed", b'{"type": "run_resumed", "from_seq": true}')
