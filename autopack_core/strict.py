"""Strict structuring of YAML and JSON into attrs classes, with ``file:line: key.path: problem`` errors.

One converter base for every file Autopack reads from people or from disk
(config, plan files, cassettes, stored events): unknown keys are refused, a
string is never turned into a number or the other way round, and each problem
is located in the source by its key path. ``config_load``, the plan loader,
the ``recorded`` provider and the event codec all start from ``converter()``.

Imports cattrs at module level: import this module only where a file is read,
never on the CLI's start-up path.
"""

from __future__ import annotations

import typing
from typing import Any, Callable, Iterator, Literal, Mapping, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn

from autopack_core.errors import AutopackError, ConfigError

PathT = tuple[Any, ...]
#: Given a key path (and whether the key or its value is meant), ``file:line``.
Where = Callable[..., str]


def kind(v: Any) -> str:
    """How a value read from a file is named in a message."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"boolean {str(v).lower()}"
    if isinstance(v, (int, float)):
        return f"number {v!r}"
    if isinstance(v, str):
        return f"string {v!r}"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a mapping"
    return type(v).__name__


class WrongType(TypeError):
    """A scalar of the wrong type. Keeps what was expected and what came, so a
    caller with an older message format can word it its own way."""

    def __init__(self, expected: type, wording: str, value: Any) -> None:
        super().__init__(f"expected {wording}, got {kind(value)}")
        self.expected = expected
        self.value = value


def _str(v: Any, _t: Any) -> str:
    if type(v) is not str and not isinstance(v, str):
        raise WrongType(str, "a string", v)
    return v


def _int(v: Any, _t: Any) -> int:
    if type(v) is not int and (isinstance(v, bool) or not isinstance(v, int)):
        raise WrongType(int, "an integer", v)
    return v


def _float(v: Any, _t: Any) -> float:
    # An integer is a number too (``price: 3``); a string or a boolean never is.
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise WrongType(float, "a number", v)
    return float(v)


def _bool(v: Any, _t: Any) -> bool:
    if not isinstance(v, bool):
        raise WrongType(bool, "true or false", v)
    return v


def _any(v: Any, _t: Any) -> Any:
    return v


def _literal_hook(t: Any) -> Any:
    allowed = get_args(t)
    expected = " or ".join(str(a) for a in allowed)

    def structure(v: Any, _t: Any) -> Any:
        if isinstance(v, bool) or v not in allowed:
            raise ValueError(f"expected {expected}, got {kind(v)}")
        return v

    return structure


def _tuple_hook(converter: cattrs.Converter, t: Any) -> Any:
    args = get_args(t)
    if len(args) == 2 and args[1] is Ellipsis:
        inners: tuple[Any, ...] | None = None  # tuple[X, ...]: any length
        inner = args[0]
    else:
        inners = args or None  # tuple[X, Y]: exactly these
        inner = typing.Any
    hooks = [converter.get_structure_hook(a) for a in inners] if inners else None
    item = converter.get_structure_hook(inner)

    def structure(v: Any, _t: Any) -> tuple[Any, ...]:
        if type(v) is not list and not isinstance(v, list):
            raise TypeError(f"expected a list, got {kind(v)}")
        if inners is not None and len(v) != len(inners):
            raise TypeError(f"expected a list of {len(inners)} items, got {len(v)}")
        try:
            if hooks is None:
                return tuple([item(x, inner) for x in v])
            return tuple([h(x, a) for h, x, a in zip(hooks, v, inners, strict=False)])
        except Exception:  # noqa: BLE001 - structured again below, item by item, to report every problem
            pass
        out, errors = [], []
        for i, x in enumerate(v):
            try:
                if hooks is None:
                    out.append(item(x, inner))
                else:
                    out.append(hooks[i](x, inners[i]))
            except Exception as exc:  # noqa: BLE001 - collected and re-raised as a group
                exc.__notes__ = [IterableValidationNote(f"Structuring iterable @ index {i}", i, inner)]
                errors.append(exc)
        if errors:
            raise IterableValidationError(f"While structuring {t!r}", errors, t)
        return tuple(out)

    return structure


def _attrs_hook(converter: cattrs.Converter, cl: type) -> Any:
    inner = make_dict_structure_fn(cl, converter, _cattrs_forbid_extra_keys=True)

    def structure(v: Any, _t: Any) -> Any:
        if type(v) is not dict and not isinstance(v, Mapping):
            raise TypeError(f"expected a mapping, got {kind(v)}")
        return inner(v, cl)

    return structure


def _dict_hook(converter: cattrs.Converter, t: Any) -> Any:
    from cattrs.cols import mapping_structure_factory

    inner = mapping_structure_factory(t, converter)

    def structure(v: Any, _t: Any) -> Any:
        if not isinstance(v, Mapping):
            raise TypeError(f"expected a mapping, got {kind(v)}")
        return inner(v, t)

    return structure


def converter() -> cattrs.Converter:
    """A new strict converter: no coercion, no unknown keys, every problem collected.

    A new instance each call, because users add hooks to theirs (the event
    codec adds its tagged union); callers that add nothing may cache one.
    """
    c = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    c.register_structure_hook(str, _str)
    c.register_structure_hook(int, _int)
    c.register_structure_hook(float, _float)
    c.register_structure_hook(bool, _bool)
    c.register_structure_hook(typing.Any, _any)
    c.register_structure_hook_func(lambda t: get_origin(t) is Literal, lambda v, t: _literal_hook(t)(v, t))
    c.register_structure_hook_factory(lambda t: get_origin(t) is tuple, lambda t: _tuple_hook(c, t))
    c.register_structure_hook_factory(attrs.has, lambda cl: _attrs_hook(c, cl))
    c.register_structure_hook_factory(lambda t: get_origin(t) is dict, lambda t: _dict_hook(c, t))
    return c


# --- locating problems -------------------------------------------------------


class Problem(Exception):
    """A problem found after structuring (cross-references, ranges), at a key path."""

    def __init__(self, path: PathT, message: str, *, at_key: bool = False):
        super().__init__(message)
        self.path = path
        self.message = message
        self.at_key = at_key


def walk(exc: BaseException, path: PathT = ()) -> Iterator[tuple[PathT, BaseException, bool]]:
    """(key path, leaf exception, is-a-mapping-key) for every problem in a cattrs error.

    Like cattrs' ``transform_error``, but keeps each path as a tuple so its
    line can be looked up in the parsed document.
    """
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            step: Any = note.name if isinstance(exc, ClassValidationError) else note.index
            if str(note).startswith("Structuring mapping key"):
                yield path + (step,), sub, True
            else:
                yield from walk(sub, path + (step,))
        for sub in without:
            yield path, sub, False
    else:
        yield path, exc, False


def message(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return "required key missing"
    if isinstance(exc, (TypeError, ValueError)) and exc.args:
        return str(exc.args[0])
    return f"{type(exc).__name__}: {exc}"


def line_of(raw: Any, path: PathT, *, at_key: bool = True) -> int | None:
    """1-based line of the key (or value) at ``path`` in a ruamel round-trip document."""
    node = raw
    line: int | None = getattr(getattr(raw, "lc", None), "line", None)
    for i, step in enumerate(path):
        lc = getattr(node, "lc", None)
        last = i == len(path) - 1
        if isinstance(node, Mapping) and step in node:
            if lc is not None:
                try:
                    line = (lc.key(step) if (at_key or not last) else lc.value(step))[0]
                except (KeyError, TypeError):
                    pass
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            if lc is not None:
                try:
                    line = lc.item(step)[0]
                except (KeyError, TypeError):
                    pass
            node = node[step]
        else:
            break
    return None if line is None else line + 1


def dotted(path: PathT, raw: Any = None) -> str:
    """``a.b[2].c``: list indexes in brackets, ``(top level)`` for the empty path."""
    out = ""
    node = raw
    for step in path:
        if isinstance(node, list) or (node is None and isinstance(step, int)):
            out += f"[{step}]"
        else:
            out += ("." if out else "") + str(step)
        try:
            node = node[step] if node is not None else None
        except (KeyError, IndexError, TypeError):
            node = None
    return out or "(top level)"


def has(raw: Any, path: PathT) -> bool:
    node = raw
    for step in path:
        if isinstance(node, Mapping) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
        else:
            return False
    return True


def _unwrap_optional(t: Any) -> Any:
    if get_origin(t) is typing.Union or type(t).__name__ == "UnionType":
        return next((a for a in get_args(t) if a is not type(None)), t)
    return t


def fields_of(model: type, path: PathT) -> list[str]:
    """The keys allowed for the attrs class found at ``path`` under ``model``."""
    t: Any = model
    for step in path:
        t = _unwrap_optional(t)
        if attrs.has(t) and isinstance(step, str):
            t = typing.get_type_hints(t).get(step)
        elif get_origin(t) is tuple:
            t = get_args(t)[0]
        elif get_origin(t) is dict:
            t = get_args(t)[1]
        else:
            return []
    t = _unwrap_optional(t)
    if attrs.has(t):
        return [f.name for f in attrs.fields(t) if f.init and not f.metadata.get("internal")]
    return []


def problems(
    exc: BaseException,
    raw: Any,
    model: type,
    where: Where,
    describe: Callable[[BaseException], str] = message,
) -> list[str]:
    """One ``where: key.path: problem`` line per problem in a cattrs error."""
    out: list[str] = []
    for path, leaf, is_key in walk(exc):
        if isinstance(leaf, ForbiddenExtraKeysError):
            allowed = ", ".join(fields_of(model, path))
            for key in sorted(leaf.extra_fields, key=str):
                kp = path + (key,)
                out.append(f"{where(kp)}: {dotted(kp, raw)}: unknown key (expected one of: {allowed})")
        elif isinstance(leaf, KeyError):
            out.append(f"{where(path[:-1])}: {dotted(path, raw)}: {describe(leaf)}")
        else:
            what = f"key {path[-1]!r}: " if is_key else ""
            out.append(f"{where(path, at_key=is_key)}: {dotted(path, raw)}: {what}{describe(leaf)}")
    return out


def _sort_key(line: str) -> tuple[str, int]:
    head = line.split(": ", 1)[0]
    file, _, num = head.rpartition(":")
    return (file, int(num) if num.isdigit() else 0)


def join(messages: list[str], noun: str = "config") -> str:
    """One message, or ``N problems in <noun>:`` and one indented line each (in file order)."""
    # The CLI prints "autopack: error: " before the first line; indent the rest.
    messages = sorted(messages, key=_sort_key)
    if len(messages) == 1:
        return messages[0]
    return f"{len(messages)} problems in {noun}:\n  " + "\n  ".join(messages)


# --- parsing -------------------------------------------------------------------


def plain(node: Any) -> Any:
    """ruamel's round-trip types (ScalarFloat, CommentedMap, ...) as plain Python."""
    if isinstance(node, Mapping):
        return {k if not isinstance(k, str) else str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def parse_yaml(text: str, name: str, error: type[AutopackError] = ConfigError) -> Any:
    """A round-trip YAML document (keys keep their line marks); duplicate keys refused."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else "?"
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        raise error(f"{name}:{line}: invalid YAML: {problem}") from None
    except YAMLError as exc:
        raise error(f"{name}: invalid YAML: {exc}") from None


def structure(
    data: Any,
    cls: type,
    *,
    raw: Any,
    where: Where,
    conv: cattrs.Converter,
    error: type[AutopackError] = ConfigError,
    noun: str = "config",
) -> Any:
    """``data`` (plain Python) as ``cls``, or ``error`` listing every problem located in ``raw``."""
    try:
        return conv.structure(data, cls)
    except (ClassValidationError, IterableValidationError) as exc:
        raise error(join(problems(exc, raw, cls, where), noun)) from None


def load_yaml(
    text: str,
    name: str,
    cls: type,
    *,
    error: type[AutopackError] = ConfigError,
    noun: str = "file",
    conv: cattrs.Converter | None = None,
) -> Any:
    """Parse YAML ``text`` (from file ``name``) strictly into ``cls``.

    Every problem is reported as ``name:line: key.path: problem`` and raised
    as ``error`` (exit 2).
    """
    raw = parse_yaml(text, name, error)
    if not isinstance(raw, Mapping):
        raise error(f"{name}:1: (top level): expected a mapping, got {kind(plain(raw))}")

    def where(path: PathT, at_key: bool = True) -> str:
        return f"{name}:{line_of(raw, path, at_key=at_key) or '?'}"

    return structure(plain(raw), cls, raw=raw, where=where, conv=conv or converter(), error=error, noun=noun)
