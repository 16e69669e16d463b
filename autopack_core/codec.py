"""JSON (un)structuring of events as one cattrs tagged union.

The union is built once the plugins have registered their event types, so a
codec belongs to a loaded plugin set, not to the module. The tag is written
under ``type``; an unknown tag is ``UnknownEventType``, never a ``KeyError``.
"""

from __future__ import annotations

import typing
from typing import Any, Callable, Iterable, Union

import attrs
import cattrs
import orjson
from cattrs.strategies import configure_tagged_union

from autopack_core import strict
from autopack_core.errors import EventDecodeError, PluginError, UnknownEventType
from autopack_core.events import CORE_EVENT_TYPES, Event
from autopack_core.slots import dict_builder


def _plugin_hint(tag: str) -> str | None:
    # Plugin tags are namespaced "plugin.event"; core tags have no dot.
    return tag.split(".", 1)[0] if "." in tag else None


class EventCodec:
    """Encodes events to canonical JSON bytes and decodes them back."""

    def __init__(self, extra_types: Iterable[type[Event]] = ()) -> None:
        types: list[type[Event]] = list(CORE_EVENT_TYPES)
        by_tag: dict[str, type[Event]] = {t.type: t for t in types}
        for cls in extra_types:
            if not cls.type:
                raise PluginError(f"event class {cls.__qualname__} has no type tag")
            known = by_tag.get(cls.type)
            if known is not None and known is not cls:
                raise PluginError(
                    f"event type {cls.type!r} is registered twice "
                    f"({known.__module__}.{known.__qualname__} and "
                    f"{cls.__module__}.{cls.__qualname__})"
                )
            if known is None:
                types.append(cls)
                by_tag[cls.type] = cls
        self.types: dict[str, type[Event]] = by_tag
        self.union: Any = Union[tuple(types)]  # noqa: UP007 - a runtime union object
        self.converter = strict_converter()
        configure_tagged_union(
            self.union,
            self.converter,
            tag_generator=lambda cl: cl.type,
            tag_name="type",
        )
        # Decoding looks the class up by the tag column, then structures with
        # that class's hook: the same result as the union's dispatch, minus one
        # dict copy per event on the replay hot path.
        self._structure = {tag: self.converter.get_structure_hook(cls) for tag, cls in by_tag.items()}
        self._unstructure_union = self.converter.get_unstructure_hook(self.union)
        # Rows this codec wrote itself are rebuilt by a function made once per
        # class (lists back to tuples, nested dicts to their classes) instead
        # of the converter's per-field checks; a class with a field type it
        # does not know keeps the converter.
        #: Tag -> function building the event from the dict of a stored row (``type`` key included).
        self.stored_builders: dict[str, Callable[[dict[str, Any]], Event]] = {
            tag: b for tag, cls in by_tag.items() if (b := _trusted_builder(cls, tag)) is not None
        }
        #: Class -> its encoder (event to JSON bytes, or ``EventDecodeError``); see _trusted_encoder.
        self.encoders: dict[type, Callable[[Event], bytes]] = {
            cls: _trusted_encoder(cls, tag, _converter_encoder(self.converter, cls, tag)) for tag, cls in by_tag.items()
        }

    def to_dict(self, event: Event) -> dict[str, Any]:
        return self._unstructure_union(event)

    def encode(self, event: Event) -> bytes:
        """Canonical JSON bytes: the class's fields in order, then its ``type`` tag (the union's layout)."""
        return self.encode_many((event,))[0]

    def encode_many(self, events: Iterable[Event]) -> list[bytes]:
        """``encode`` of each event."""
        return [self.encoder_of(event)(event) for event in events]

    def encoder_of(self, event: Event) -> Callable[[Event], bytes]:
        """The encoder of ``event``'s class (``encoders[type(event)]``); ``UnknownEventType`` if it has none.

        The store looks in ``encoders`` itself and hashes each payload as it is
        made: a payload let go before the next is made reuses its memory, which
        is measurably faster than holding a whole append's payloads at once.
        """
        cls = type(event)
        encoder = self.encoders.get(cls)
        if encoder is None:
            tag = getattr(cls, "type", None) or f"<not an event: {cls.__qualname__}>"
            raise UnknownEventType(tag, _plugin_hint(tag))
        return encoder

    def decode(self, tag: str, payload: bytes | str, where: str = "") -> Event:
        hook = self._structure.get(tag)
        if hook is None:
            raise UnknownEventType(tag, _plugin_hint(tag), where)
        try:
            data = orjson.loads(payload)
            data.pop("type", None)
            return hook(data, self.types[tag])
        except (orjson.JSONDecodeError, cattrs.BaseValidationError, TypeError, AttributeError) as exc:
            prefix = f"{where}: " if where else ""
            raise EventDecodeError(f"{prefix}payload of {tag!r} is invalid: {_describe(exc)}") from exc

    def decode_stored(self, tag: str, payload: bytes | str, where: str = "") -> Event:
        """Decode a payload this codec encoded (the store's own rows).

        Rows in the store were written by ``encode`` and are covered by the
        hash chain, so they skip the per-field type checks; anything that does
        not fit (and imports and everything else from outside, which go
        through ``decode``) gets the strict decoder and its error.
        """
        build = self.stored_builders.get(tag)
        if build is not None:
            try:
                return build(orjson.loads(payload))
            except (orjson.JSONDecodeError, TypeError, KeyError, AttributeError, ValueError):
                pass
        return self.decode(tag, payload, where)


_SCALARS = {str, int, float, bool, str | None, int | None, float | None}


def _converter_encoder(converter: cattrs.Converter, cls: type, tag: str) -> Callable[[Event], bytes]:
    """The converter's JSON of an event: its fields in order, then ``type`` (the tagged union's layout)."""
    hook = converter.get_unstructure_hook(cls)
    dumps = orjson.dumps

    def encode(event: Event) -> bytes:
        try:
            data = hook(event)
            data["type"] = tag
            return dumps(data)
        except (orjson.JSONEncodeError, TypeError) as exc:
            raise EventDecodeError(f"cannot store {tag!r} as JSON: {exc}") from exc

    return encode


def _trusted_encoder(cls: type, tag: str, fallback: Callable[[Event], bytes]) -> Callable[[Event], bytes]:
    """``fallback``'s bytes, made by one generated function where every field is a scalar or a tuple of scalars.

    Such fields need no unstructuring (orjson writes a tuple as the list the
    converter would make), so the dict is written as a literal and dumped in
    the same call. A value orjson cannot take (a tuple subclass, say) goes to
    ``fallback``, which makes the converter's bytes or its error.
    """
    fields = attrs.fields(attrs.resolve_types(cls))
    if not all(_plain_json(f.type) for f in fields) or not all(f.name.isidentifier() for f in fields):
        return fallback
    items = "".join(f"{f.name!r}: o.{f.name}, " for f in fields)
    source = (
        "def encode(o):\n"
        "    try:\n"
        f"        return dumps({{{items}'type': tag}})\n"
        "    except TypeError:\n"
        "        return fallback(o)\n"
    )
    env: dict[str, Any] = {"dumps": orjson.dumps, "tag": tag, "fallback": fallback}
    exec(source, env)  # noqa: S102 - source built above from attrs field names only
    return env["encode"]  # type: ignore[no-any-return]


def _plain_json(t: Any) -> bool:
    if t in _SCALARS:
        return True
    origin, args = typing.get_origin(t), typing.get_args(t)
    return origin is tuple and len(args) == 2 and args[1] is Ellipsis and args[0] in _SCALARS


def _trusted_builder(cls: type, tag: str | None = None) -> Callable[[dict[str, Any]], Any] | None:
    """A function that builds ``cls`` from the dict ``encode`` made of it, or None if a field type is not handled.

    ``tag``: the dict also holds the ``type`` key (an event's, not a nested class's).
    """
    convert: dict[str, Callable[[Any], Any]] = {}
    for f in attrs.fields(attrs.resolve_types(cls)):
        conv = _trusted_field(f.type)
        if conv is _UNHANDLED:
            return None
        if conv is not None:
            convert[f.name] = conv
    return dict_builder(cls, convert, tag=tag)


_UNHANDLED: Any = object()


def _trusted_field(t: Any) -> Callable[[Any], Any] | None:
    """How to turn the JSON of a field of type ``t`` back into it: None if as is."""
    if t in _SCALARS:
        return None
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        inner = _trusted_field(args[0])
        if inner is _UNHANDLED:
            return _UNHANDLED
        if inner is None:
            return _list_to_tuple

        def each(v: Any) -> tuple[Any, ...]:
            return tuple([inner(x) for x in _list(v)])  # type: ignore[misc]

        return each
    if origin is tuple and args and Ellipsis not in args and all(a in _SCALARS for a in args):
        n = len(args)
        return lambda v: _fixed_tuple(v, n)
    if isinstance(t, type) and attrs.has(t):
        build = _trusted_builder(t)
        if build is None:
            return _UNHANDLED

        def nested(v: Any) -> Any:
            if type(v) is not dict:
                raise TypeError(f"expected an object, got {type(v).__name__}")
            return build(v)  # type: ignore[misc]

        return nested
    return _UNHANDLED


def _list(v: Any) -> list[Any]:
    if type(v) is not list:
        raise TypeError(f"expected a list, got {type(v).__name__}")
    return v


def _list_to_tuple(v: Any) -> tuple[Any, ...]:
    if type(v) is not list:
        raise TypeError(f"expected a list, got {type(v).__name__}")
    return tuple(v)


def _fixed_tuple(v: Any, n: int) -> tuple[Any, ...]:
    if type(v) is not list or len(v) != n:
        raise TypeError(f"expected a list of {n}")
    return tuple(v)


def strict_converter() -> cattrs.Converter:
    """The shared strict converter (``strict.converter``) plus the codec's fast path."""
    conv = strict.converter()
    conv.register_structure_hook_func(lambda t: t == tuple[str, ...], _str_tuple)
    return conv


def _str_tuple(value: Any, _: Any) -> tuple[str, ...]:
    # The most common container in events; cattrs' generic tuple path costs
    # more than the rest of decoding such an event.
    if not isinstance(value, list) or not all(type(v) is str for v in value):
        raise TypeError(f"expected a list of strings, got {value!r}")
    return tuple(value)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(exc))
    return str(exc)
