"""JSON (un)structuring of events as one cattrs tagged union.

The union is built once the plugins have registered their event types, so a
codec belongs to a loaded plugin set, not to the module. The tag is written
under ``type``; an unknown tag is ``UnknownEventType``, never a ``KeyError``.
"""

from __future__ import annotations

from typing import Any, Iterable, Union

import cattrs
import orjson
from cattrs.strategies import configure_tagged_union

from autopack_core import strict
from autopack_core.errors import EventDecodeError, PluginError, UnknownEventType
from autopack_core.events import CORE_EVENT_TYPES, Event


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
        self._structure = {
            tag: self.converter.get_structure_hook(cls) for tag, cls in by_tag.items()
        }
        self._unstructure_union = self.converter.get_unstructure_hook(self.union)
        # Classes whose fields are all JSON scalars can be rebuilt from rows
        # this codec wrote itself by calling the class; the rest (tuples,
        # nested classes) need the converter to turn lists back into tuples.
        self._flat = {tag: cls for tag, cls in by_tag.items() if _is_flat(cls)}

    def to_dict(self, event: Event) -> dict[str, Any]:
        return self._unstructure_union(event)

    def encode(self, event: Event) -> bytes:
        """Canonical JSON bytes, ``type`` first (the union's tag)."""
        if type(event).type not in self.types:
            raise UnknownEventType(type(event).type, _plugin_hint(type(event).type))
        try:
            return orjson.dumps(self._unstructure_union(event))
        except (orjson.JSONEncodeError, TypeError) as exc:
            raise EventDecodeError(f"cannot store {type(event).type!r} as JSON: {exc}") from exc

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
        hash chain, so scalar-only events skip per-field type checks; imports
        and anything else from outside go through ``decode``.
        """
        cls = self._flat.get(tag)
        if cls is None:
            return self.decode(tag, payload, where)
        try:
            data = orjson.loads(payload)
            del data["type"]
            return cls(**data)
        except (orjson.JSONDecodeError, TypeError, KeyError) as exc:
            return self.decode(tag, payload, where)


_SCALARS = {str, int, float, bool, str | None, int | None, float | None}


def _is_flat(cls: type) -> bool:
    import attrs

    return all(f.type in _SCALARS for f in attrs.fields(attrs.resolve_types(cls)))


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
