"""Loading plan files (SPEC 7) and validating a Doctor's revised phases.

Strict, like the config: unknown keys are refused, nothing is coerced (``"yes"``
is not a boolean, ``1`` is not an id), and every problem is reported as
``file:line: key.path: problem``; all problems of a file are reported at once.
A Doctor's ``revised_phases`` come from JSON and have no lines: their problems
read ``source: revised_phases[2].id: problem``. The format is documented in
docs/plan-file.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from autopack_core.errors import ConfigError, PlanError
from autopack_core.plan import COMPLEXITIES, CheckSpec, PhaseSpec, Plan

PLAN_KEYS = ("goal", "phases")
PHASE_KEYS = ("id", "goal", "category", "complexity", "scope", "checks", "optional")
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_ID_LENGTH = 100
REVISED = "revised_phases"

PathT = tuple[Any, ...]

# The YAML and key-path helpers are shared with the config loader (``strict``).
from autopack_core.strict import dotted, line_of, plain  # noqa: E402
from autopack_core.strict import kind as _kind_base  # noqa: E402
from autopack_core.strict import parse_yaml as _strict_parse  # noqa: E402


def _parse_yaml(text: str, source: str) -> Any:
    return _strict_parse(text, source, PlanError)


class _Problems:
    """Problems found so far, each at a key path (``at_key``: point at the key's line, not its value's)."""

    def __init__(self) -> None:
        self.items: list[tuple[PathT, str, bool]] = []

    def add(self, path: PathT, message: str, *, at_key: bool = True) -> None:
        self.items.append((path, message, at_key))


def _kind(v: Any) -> str:
    if isinstance(v, (str, int, float, bool, list, dict)) or v is None:
        return _kind_base(v)
    return f"a {type(v).__name__.lower()}"  # dates and timestamps YAML reads without quotes


def _text(node: Any, path: PathT, out: _Problems, *, what: str = "a string") -> str | None:
    if not isinstance(node, str):
        out.add(path, f"expected {what}, got {_kind(node)}", at_key=False)
        return None
    if not node.strip():
        out.add(path, "must not be empty", at_key=False)
        return None
    return str(node)


def _keys(node: Mapping[Any, Any], path: PathT, allowed: tuple[str, ...], out: _Problems) -> None:
    for key in node:
        if key not in allowed:
            out.add(path + (key,), f"unknown key (expected one of: {', '.join(allowed)})")


def _scope_path(node: Any, path: PathT, out: _Problems) -> str | None:
    text = _text(node, path, out, what="a path relative to the workspace")
    if text is None:
        return None
    if "\0" in text:
        out.add(path, "a path cannot hold a NUL character", at_key=False)
        return None
    if text.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", text):
        out.add(path, f"{text!r} is absolute: scope paths are relative to the workspace", at_key=False)
        return None
    parts = re.split(r"[/\\]", text)
    if ".." in parts:
        out.add(path, f"{text!r} leaves the workspace ('..' is not allowed)", at_key=False)
        return None
    if ".git" in parts:
        out.add(path, f"{text!r} is inside .git", at_key=False)
        return None
    return text


def _check(node: Any, path: PathT, out: _Problems) -> CheckSpec | None:
    if isinstance(node, str):
        name = _text(node, path, out, what="a check name")
        return CheckSpec(name=name) if name else None
    if not isinstance(node, Mapping):
        out.add(path, f"expected a check name or a mapping with name, got {_kind(node)}", at_key=False)
        return None
    if "name" not in node:
        out.add(path + ("name",), "required key missing")
        return None
    name = _text(node["name"], path + ("name",), out, what="a check name")
    options: list[tuple[str, str]] = []
    ok = name is not None
    for key, value in node.items():
        if key == "name":
            continue
        if not isinstance(key, str):
            out.add(path + (key,), f"option names are strings, got {_kind(key)}")
            ok = False
        elif not isinstance(value, str):
            out.add(path + (key,), f"expected a string, got {_kind(value)}", at_key=False)
            ok = False
        else:
            options.append((key, str(value)))
    return CheckSpec(name=name, options=tuple(options)) if ok and name else None


def _phase(node: Any, path: PathT, out: _Problems) -> PhaseSpec | None:
    if not isinstance(node, Mapping):
        out.add(path, f"expected a phase (a mapping with id and goal), got {_kind(node)}", at_key=False)
        return None
    before = len(out.items)
    _keys(node, path, PHASE_KEYS, out)
    values: dict[str, Any] = {}
    for key in ("id", "goal"):
        if key not in node:
            out.add(path + (key,), "required key missing")
    if "id" in node:
        pid = _text(node["id"], path + ("id",), out, what="a string (the phase id)")
        if pid is not None and (not ID_PATTERN.match(pid) or len(pid) > MAX_ID_LENGTH):
            out.add(
                path + ("id",),
                f"{pid!r} is not a valid id (letters, digits, '-', '_' and '.', starting with a letter or digit, "
                f"at most {MAX_ID_LENGTH} characters)",
                at_key=False,
            )
        values["id"] = pid
    if "goal" in node:
        values["goal"] = _text(node["goal"], path + ("goal",), out)
    if "category" in node:
        values["category"] = _text(node["category"], path + ("category",), out)
    if "complexity" in node:
        c = node["complexity"]
        if isinstance(c, str) and c in COMPLEXITIES:
            values["complexity"] = str(c)
        else:
            out.add(path + ("complexity",), f"expected low, medium or high, got {_kind(c)}", at_key=False)
    if "scope" in node:
        scope = node["scope"]
        if not isinstance(scope, list):
            out.add(path + ("scope",), f"expected a list of paths, got {_kind(scope)}", at_key=False)
        else:
            values["scope"] = tuple(_scope_path(p, path + ("scope", i), out) for i, p in enumerate(scope))
    if "checks" in node:
        checks = node["checks"]
        if not isinstance(checks, list):
            out.add(path + ("checks",), f"expected a list of checks, got {_kind(checks)}", at_key=False)
        else:
            values["checks"] = tuple(_check(c, path + ("checks", i), out) for i, c in enumerate(checks))
    if "optional" in node:
        opt = node["optional"]
        if isinstance(opt, bool):
            values["optional"] = opt
        else:
            out.add(path + ("optional",), f"expected true or false, got {_kind(opt)}", at_key=False)
    if len(out.items) != before:
        return None
    return PhaseSpec(**values)


def _phases(node: Any, path: PathT, out: _Problems) -> tuple[PhaseSpec, ...]:
    if not isinstance(node, list):
        out.add(path, f"expected a list of phases, got {_kind(node)}", at_key=False)
        return ()
    if not node:
        out.add(path, "expected at least one phase", at_key=False)
        return ()
    phases: list[PhaseSpec] = []
    first: dict[str, int] = {}
    for i, item in enumerate(node):
        phase = _phase(item, path + (i,), out)
        pid = item.get("id") if isinstance(item, Mapping) else None
        if isinstance(pid, str):
            if pid in first:
                out.add(
                    path + (i, "id"), f"duplicate phase id {pid!r} (also {dotted(path + (first[pid],))})", at_key=False
                )
            else:
                first[pid] = i
        if phase is not None:
            phases.append(phase)
    return tuple(phases)


def _join(messages: list[str]) -> str:
    if len(messages) == 1:
        return messages[0]
    return f"{len(messages)} problems in plan:\n  " + "\n  ".join(messages)


def _raise(out: _Problems, where: Callable[[PathT, bool], str], raw: Any) -> None:
    if out.items:
        # In file order: by line, then as found.
        lines = [(where(p, k), dotted(p, raw), m) for p, m, k in out.items]
        lines.sort(key=lambda t: _line_number(t[0]))
        raise PlanError(_join([f"{w}: {d}: {m}" for w, d, m in lines]))


def _line_number(where: str) -> int:
    tail = where.rpartition(":")[2]
    return int(tail) if tail.isdigit() else 0


def plan_from_text(text: str, source: str) -> Plan:
    """The plan in YAML ``text`` read from ``source`` (a file name, used in messages)."""
    try:
        raw = _parse_yaml(text, source)
    except ConfigError as exc:
        raise PlanError(str(exc)) from None
    out = _Problems()

    def where(path: PathT, at_key: bool = True) -> str:
        return f"{source}:{line_of(raw, path, at_key=at_key) or 1}"

    if not isinstance(raw, Mapping):
        got = "an empty file" if raw is None else _kind(plain(raw))
        raise PlanError(f"{source}:1: (top level): expected a mapping with goal and phases, got {got}")
    _keys(raw, (), PLAN_KEYS, out)
    goal = None
    phases: tuple[PhaseSpec, ...] = ()
    for key in PLAN_KEYS:
        if key not in raw:
            out.add((key,), "required key missing")
    if "goal" in raw:
        goal = _text(raw["goal"], ("goal",), out)
    if "phases" in raw:
        phases = _phases(raw["phases"], ("phases",), out)
    _raise(out, where, raw)
    assert goal is not None
    return Plan(goal=goal, phases=phases)


def load_plan(path: Path) -> Plan:
    """Read and validate the plan file at ``path``."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(f"{name}: no such plan file") from None
    except IsADirectoryError:
        raise PlanError(f"{name}: is a directory, not a plan file") from None
    except UnicodeDecodeError as exc:
        raise PlanError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise PlanError(f"{name}: cannot read: {exc.strerror or exc}") from None
    return plan_from_text(text, name)


def phases_from_data(data: object, source: str) -> tuple[PhaseSpec, ...]:
    """A Doctor's revised phases (JSON-decoded ``data``), validated like a plan file's ``phases``.

    Problems name their path from ``revised_phases``, for example
    ``doctor reply: revised_phases[2].id: duplicate phase id 'x' (also revised_phases[0])``.
    """
    out = _Problems()
    phases = _phases(data, (REVISED,), out)
    if out.items:
        raise PlanError(_join([f"{source}: {dotted(p)}: {m}" for p, m, _ in out.items]))
    return phases


# --- writing -------------------------------------------------------------------


_PLAIN_SAFE = re.compile(r"^[\x20-\x7e\n\u00a0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd]*$")


def _quoted(data: Any) -> Any:
    """Strings with characters YAML would fold or drop (NEL, LS, PS, CR, controls, BOM) forced into double quotes."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if isinstance(data, str):
        return data if _PLAIN_SAFE.match(data) and not data.endswith(" ") else DoubleQuotedScalarString(data)
    if isinstance(data, dict):
        return {k: _quoted(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_quoted(v) for v in data]
    return data


def plan_to_data(plan: Plan) -> dict[str, Any]:
    """The plan as plain data in the file's shape (defaults left out)."""
    return {"goal": plan.goal, "phases": [phase_to_data(p) for p in plan.phases]}


def phase_to_data(phase: PhaseSpec) -> dict[str, Any]:
    default = PhaseSpec(id=phase.id, goal=phase.goal)
    out: dict[str, Any] = {"id": phase.id, "goal": phase.goal}
    if phase.category != default.category:
        out["category"] = phase.category
    if phase.complexity != default.complexity:
        out["complexity"] = phase.complexity
    if phase.scope:
        out["scope"] = list(phase.scope)
    if phase.checks:
        out["checks"] = [c.name if not c.options else {"name": c.name, **dict(c.options)} for c in phase.checks]
    if phase.optional:
        out["optional"] = True
    return out


def dump_plan(plan: Plan) -> str:
    """The plan as YAML that ``plan_from_text`` reads back to an equal ``Plan``."""
    import io

    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")  # keeps the keys in the order written
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    yaml.width = 4096
    buf = io.StringIO()
    yaml.dump(_quoted(plan_to_data(plan)), buf)
    return buf.getvalue()
