"""Building frozen, slotted attrs instances on the replay path without their ``__init__``.

attrs' frozen ``__init__`` sets each field through ``object.__setattr__``;
calling each slot's descriptor directly costs well under half as much. A replay
builds an event per stored row, so this is a large part of its time. Only for
classes whose ``__init__`` does nothing else (no validators, converters,
defaults factories run for given values, or init hooks: checked here, else the
class itself is used), and only where the input is trusted to
hold the class's own field values (the store's own rows).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Any

import attrs


def _plain(cls: type) -> list[str] | None:
    """The field names, in order, if ``cls`` can be built by setting its slots; else None."""
    if not attrs.has(cls) or hasattr(cls, "__attrs_pre_init__") or hasattr(cls, "__attrs_post_init__"):
        return None
    names = []
    for f in attrs.fields(cls):
        if not f.init or f.validator is not None or f.converter is not None or f.alias != f.name:
            return None
        if not isinstance(cls.__dict__.get(f.name), types.MemberDescriptorType):
            return None
        names.append(f.name)
    # Any other slot (attrs' cached hash, say) is one its __init__ fills too.
    slots = set()
    for c in cls.__mro__:
        declared = getattr(c, "__slots__", ())
        slots.update((declared,) if isinstance(declared, str) else declared)
    extra = slots - set(names) - {"__weakref__"}
    return None if extra else names


def dict_builder(
    cls: type, convert: Mapping[str, Callable[[Any], Any]] | None = None, *, tag: str | None = None
) -> Callable[[dict[str, Any]], Any]:
    """A function ``build(data)`` equal to ``cls(**{k: convert[k](v) ...})`` for a dict of ``cls``'s fields.

    With ``tag``, ``data`` also holds the key ``"type"`` with that value (the
    codec's tagged layout), which is not a field. A dict with fewer or more keys
    than that goes through ``cls`` itself (an old row missing a newer field
    takes its default; an unknown key is a ``TypeError``).
    """
    convert = dict(convert or {})
    steps = tuple(convert.items())

    def slow(data: dict[str, Any]) -> Any:
        if tag is not None and data.pop("type", tag) != tag:
            raise TypeError(f"the payload's type is not {tag!r}")
        for name, conv in steps:
            if name in data:
                data[name] = conv(data[name])
        return cls(**data)

    names = _plain(cls)
    if names is None:
        return slow
    n = len(names) + (tag is not None)
    env: dict[str, Any] = {"new": object.__new__, "cls": cls, "slow": slow, "n": n, "tag": tag}
    test = "len(data) != n" + (" or data['type'] != tag" if tag is not None else "")
    body = ["def build(data):", f"    if {test}:", "        return slow(data)", "    o = new(cls)"]
    for i, name in enumerate(names):
        env[f"set{i}"] = cls.__dict__[name].__set__
        value = f"data[{name!r}]"
        if name in convert:
            env[f"conv{i}"] = convert[name]
            value = f"conv{i}({value})"
        body.append(f"    set{i}(o, {value})")
    body.append("    return o")
    exec("\n".join(body), env)  # noqa: S102 - source built above from field names only
    return env["build"]  # type: ignore[no-any-return]
