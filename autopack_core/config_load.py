"""Reading ``models.yaml``: ruamel parse, strict cattrs structuring, line-numbered errors.

Kept apart from ``config.py`` so that importing the config classes (which
every part of the engine does) does not import ruamel.yaml and cattrs.
"""

from __future__ import annotations

import functools
import typing
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn

from autopack_core.config import BUILTIN_DEFAULTS, REGISTRY_SECTIONS, TIERS, AutopackConfig
from autopack_core.errors import ConfigError

PathT = tuple[Any, ...]


class _Problem(Exception):
    """A config problem found after structuring (cross-references, ranges)."""

    def __init__(self, path: PathT, message: str, *, at_key: bool = False):
        super().__init__(message)
        self.path = path
        self.message = message
        self.at_key = at_key


# --- the strict converter ---------------------------------------------------


def _kind(v: Any) -> str:
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


def _str(v: Any, _t: Any) -> str:
    if not isinstance(v, str):
        raise TypeError(f"expected a string, got {_kind(v)}")
    return v


def _int(v: Any, _t: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"expected an integer, got {_kind(v)}")
    return v


def _float(v: Any, _t: Any) -> float:
    # An integer is a number too (``price: 3``); a string never is.
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"expected a number, got {_kind(v)}")
    return float(v)


def _bool(v: Any, _t: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError(f"expected true or false, got {_kind(v)}")
    return v


def _any(v: Any, _t: Any) -> Any:
    return v


def _literal_hook(t: Any) -> Any:
    allowed = get_args(t)
    expected = " or ".join(str(a) for a in allowed)

    def structure(v: Any, _t: Any) -> Any:
        if isinstance(v, bool) or v not in allowed:
            raise ValueError(f"expected {expected}, got {_kind(v)}")
        return v

    return structure


def _is_tuple(t: Any) -> bool:
    return get_origin(t) is tuple


def _tuple_hook(converter: cattrs.Converter, t: Any) -> Any:
    inner = get_args(t)[0]
    item = converter.get_structure_hook(inner)

    def structure(v: Any, _t: Any) -> tuple[Any, ...]:
        if not isinstance(v, list):
            raise TypeError(f"expected a list, got {_kind(v)}")
        out, errors = [], []
        for i, x in enumerate(v):
            try:
                out.append(item(x, inner))
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
        if not isinstance(v, Mapping):
            raise TypeError(f"expected a mapping, got {_kind(v)}")
        return inner(v, cl)

    return structure


def _dict_hook(converter: cattrs.Converter, t: Any) -> Any:
    from cattrs.cols import mapping_structure_factory

    inner = mapping_structure_factory(t, converter)

    def structure(v: Any, _t: Any) -> Any:
        if not isinstance(v, Mapping):
            raise TypeError(f"expected a mapping, got {_kind(v)}")
        return inner(v, t)

    return structure


@functools.lru_cache(maxsize=1)
def make_converter() -> cattrs.Converter:
    c = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    c.register_structure_hook(str, _str)
    c.register_structure_hook(int, _int)
    c.register_structure_hook(float, _float)
    c.register_structure_hook(bool, _bool)
    c.register_structure_hook(typing.Any, _any)
    c.register_structure_hook_func(lambda t: get_origin(t) is Literal, lambda v, t: _literal_hook(t)(v, t))
    c.register_structure_hook_factory(_is_tuple, lambda t: _tuple_hook(c, t))
    c.register_structure_hook_factory(attrs.has, lambda cl: _attrs_hook(c, cl))
    c.register_structure_hook_factory(lambda t: get_origin(t) is dict, lambda t: _dict_hook(c, t))
    return c


# --- locating problems in the file ------------------------------------------


def _walk(exc: BaseException, path: PathT) -> Iterator[tuple[PathT, BaseException, bool]]:
    """Yield (path, leaf exception, is-a-mapping-key) triples, like cattrs ``transform_error``.

    ``transform_error`` flattens paths into strings; we need them as tuples to
    look up each key's line mark in the ruamel document.
    """
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            step: Any = note.name if isinstance(exc, ClassValidationError) else note.index
            if str(note).startswith("Structuring mapping key"):
                yield path + (step,), sub, True
            else:
                yield from _walk(sub, path + (step,))
        for sub in without:
            yield path, sub, False
    else:
        yield path, exc, False


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return "required key missing"
    if isinstance(exc, ForbiddenExtraKeysError):
        return ""  # handled by the caller, which knows the allowed keys
    if isinstance(exc, (TypeError, ValueError)) and exc.args:
        return str(exc.args[0])
    return f"{type(exc).__name__}: {exc}"


def _line(raw: Any, path: PathT, *, at_key: bool = True) -> int | None:
    """1-based line of the value (or key) at ``path`` in a ruamel document."""
    node = raw
    line: int | None = getattr(getattr(raw, "lc", None), "line", None)
    for i, step in enumerate(path):
        lc = getattr(node, "lc", None)
        last = i == len(path) - 1
        if isinstance(node, Mapping) and step in node:
            if lc is not None:
                try:
                    pos = lc.key(step) if (at_key or not last) else lc.value(step)
                    line = pos[0]
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


def _dotted(path: PathT, raw: Any = None) -> str:
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


def _unwrap_optional(t: Any) -> Any:
    if get_origin(t) is typing.Union or type(t).__name__ == "UnionType":
        return next((a for a in get_args(t) if a is not type(None)), t)
    return t


def _fields_of(model: type, path: PathT) -> list[str]:
    """The allowed keys of the attrs class found at ``path`` under ``model``."""
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
        return [f.name for f in attrs.fields(t) if not f.metadata.get("internal")]
    return []


def _errors_from(exc: BaseException, raw: Any, where: Any) -> list[str]:
    out: list[str] = []
    for path, leaf, is_key in _walk(exc, ()):
        if isinstance(leaf, ForbiddenExtraKeysError):
            allowed = ", ".join(_fields_of(AutopackConfig, path))
            for key in sorted(leaf.extra_fields, key=str):
                kp = path + (key,)
                out.append(f"{where(kp)}: {_dotted(kp, raw)}: unknown key (expected one of: {allowed})")
        elif isinstance(leaf, KeyError):
            out.append(f"{where(path[:-1])}: {_dotted(path, raw)}: {_message(leaf)}")
        else:
            what = f"key {path[-1]!r}: " if is_key else ""
            out.append(f"{where(path, at_key=is_key)}: {_dotted(path, raw)}: {what}{_message(leaf)}")
    return out


# --- parsing ----------------------------------------------------------------


def _plain(node: Any) -> Any:
    """ruamel's round-trip types (ScalarFloat, CommentedMap, ...) as plain Python."""
    if isinstance(node, Mapping):
        return {k if not isinstance(k, str) else str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _parse(text: str, name: str) -> Any:
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
        raise ConfigError(f"{name}:{line}: invalid YAML: {problem}") from None
    except YAMLError as exc:
        raise ConfigError(f"{name}: invalid YAML: {exc}") from None


@functools.lru_cache(maxsize=1)
def _builtin_raw() -> Any:
    return _parse(BUILTIN_DEFAULTS.read_text(encoding="utf-8"), str(BUILTIN_DEFAULTS))


def load_file(path: Path, display: str | None = None) -> AutopackConfig:
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{name}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: cannot read: {exc}") from None
    return load_text(text, name, builtin=path == BUILTIN_DEFAULTS)


def load_text(text: str, name: str, *, builtin: bool = False) -> AutopackConfig:
    raw = _parse(text, name)
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{name}:1: (top level): expected a mapping of sections, got {_kind(_plain(raw))}")
    data = _plain(raw)
    for internal in (f.name for f in attrs.fields(AutopackConfig) if f.metadata.get("internal")):
        if internal in data:
            allowed = ", ".join(_fields_of(AutopackConfig, ()))
            raise ConfigError(f"{name}:{_line(raw, (internal,))}: {internal}: unknown key (expected one of: {allowed})")
    # The built-in providers and models are always there (a file's own entry
    # of the same name wins); a file without ``routing`` gets the built-in one.
    builtin_raw = None if builtin else _builtin_raw()
    if builtin_raw is not None:
        for section in REGISTRY_SECTIONS:
            mine = data.get(section)
            theirs = _plain(builtin_raw[section])
            if section == "routing":
                data.setdefault(section, theirs)
            elif mine is None or isinstance(mine, dict):
                data[section] = {**theirs, **(mine or {})}

    def where(path: PathT, at_key: bool = True) -> str:
        if builtin_raw is not None and not _has(raw, path[:2]) and _has(builtin_raw, path[:2]):
            return f"{BUILTIN_DEFAULTS}:{_line(builtin_raw, path, at_key=at_key) or '?'}"
        return f"{name}:{_line(raw, path, at_key=at_key) or '?'}"

    try:
        cfg = make_converter().structure(data, AutopackConfig)
    except (ClassValidationError, IterableValidationError) as exc:
        raise ConfigError(_join(_errors_from(exc, raw, where))) from None
    cfg = attrs.evolve(cfg, source=name)
    problems = [f"{where(p.path, p.at_key)}: {_dotted(p.path, raw)}: {p.message}" for p in check_references(cfg)]
    if problems:
        raise ConfigError(_join(problems))
    if any(r.template for r in cfg.roles.values()):
        cfg = _with_role_templates(cfg, raw, name)
    return cfg


def _with_role_templates(cfg: AutopackConfig, raw: Any, name: str) -> AutopackConfig:
    """Find each ``roles.<name>.template`` (relative to the config file's folder) and read it."""
    base = Path.cwd() if name.startswith("<") else Path(name).parent
    paths: dict[str, tuple[str, int]] = {}
    for role, rc in cfg.roles.items():
        if rc.template:
            paths[role] = (str(base / rc.template), _line(raw, ("roles", role, "template"), at_key=False) or 0)
    return read_role_templates(attrs.evolve(cfg, role_template_paths=paths))


def read_role_templates(cfg: AutopackConfig) -> AutopackConfig:
    """``cfg`` with the text of each template in ``role_template_paths``, checked.

    ``load_config`` calls this again on a cached config: the cache is keyed by
    the config file's bytes, and an edited template must not be served stale.
    """
    from autopack_core.roles import template_problems

    texts: dict[str, str] = {}
    problems: list[str] = []
    for role, (path_s, line) in cfg.role_template_paths.items():
        at = f"{cfg.source}:{line}: roles.{role}.template"
        path = Path(path_s)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            problems.append(f"{at}: no such file {path}")
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{at}: cannot read {path}: {exc}")
            continue
        if not text.strip():
            problems.append(f"{at}: {path} is empty")
            continue
        problems += [f"{path}:{n}: {msg} (template of role {role!r}, {cfg.source}:{line})" for n, msg in template_problems(text)]
        texts[role] = text
    if problems:
        raise ConfigError(_join(problems))
    if texts == cfg.role_templates:
        return cfg
    return attrs.evolve(cfg, role_templates=texts)


def _has(raw: Any, path: PathT) -> bool:
    node = raw
    for step in path:
        if isinstance(node, Mapping) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
        else:
            return False
    return True


def _sort_key(message: str) -> tuple[str, int]:
    head = message.split(": ", 1)[0]
    file, _, line = head.rpartition(":")
    return (file, int(line) if line.isdigit() else 0)


def _join(messages: list[str]) -> str:
    # The CLI prints "autopack: error: " before the first line; indent the rest.
    messages = sorted(messages, key=_sort_key)
    if len(messages) == 1:
        return messages[0]
    return f"{len(messages)} problems in config:\n  " + "\n  ".join(messages)


# --- cross-references and ranges --------------------------------------------


def _ref(cfg: AutopackConfig, path: PathT, model: str | None) -> Iterator[_Problem]:
    if model is not None and model not in cfg.models:
        known = ", ".join(sorted(cfg.models)) or "none"
        yield _Problem(path, f"unknown model {model!r} (models defines: {known})")


def _positive(path: PathT, value: float | None, *, allow_zero: bool = False) -> Iterator[_Problem]:
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        yield _Problem(path, f"must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def check_references(cfg: AutopackConfig) -> Iterator[_Problem]:
    """Everything a type cannot say: names that must exist, numbers in range."""
    for name, p in cfg.providers.items():
        if p.kind == "recorded" and p.cassette and p.event_log:
            yield _Problem(("providers", name, "event_log"), "give either cassette or event_log, not both")
        if p.kind in ("openai", "anthropic", "gemini") and not p.base_url:
            yield _Problem(("providers", name), f"kind {p.kind} needs a base_url", at_key=True)
    for name, m in cfg.models.items():
        if m.provider not in cfg.providers:
            known = ", ".join(sorted(cfg.providers)) or "none"
            yield _Problem(("models", name, "provider"), f"unknown provider {m.provider!r} (providers defines: {known})")
        yield from _positive(("models", name, "price_per_mtok_in"), m.price_per_mtok_in, allow_zero=True)
        yield from _positive(("models", name, "price_per_mtok_out"), m.price_per_mtok_out, allow_zero=True)
        yield from _positive(("models", name, "max_output_tokens"), m.max_output_tokens)
        yield from _positive(("models", name, "context_tokens"), m.context_tokens)
    r = cfg.routing
    tier_sets = [(("routing", "default"), r.default)] + [(("routing", "roles", role), t) for role, t in r.roles.items()]
    for path, t in tier_sets:
        for tier in TIERS:
            model = getattr(t, tier)
            yield from _ref(cfg, path + (tier,), model)
            if model in cfg.models and cfg.models[model].tier != tier:
                yield _Problem(path + (tier,), f"model {model!r} is tier {cfg.models[model].tier}, not {tier}")
    if r.default.cheap is None and r.default.strong is None and cfg.models:
        yield _Problem(("routing", "default"), "name at least one of cheap or strong", at_key=True)
    for i, o in enumerate(r.overrides):
        yield from _ref(cfg, ("routing", "overrides", i, "model"), o.model)
        if o.model is None and o.tier is None:
            yield _Problem(("routing", "overrides", i), "an override needs a tier or a model")
    yield from _positive(("routing", "escalation", "after_failed_attempts"), r.escalation.after_failed_attempts)
    d = cfg.doctor
    yield from _ref(cfg, ("doctor", "cheap_model"), d.cheap_model)
    yield from _ref(cfg, ("doctor", "strong_model"), d.strong_model)
    for key in ("health_ratio_strong", "low_confidence"):
        v = getattr(d, key)
        if not 0.0 <= v <= 1.0:
            yield _Problem(("doctor", key), f"must be between 0 and 1, got {v!r}")
    for key in ("max_calls_per_phase", "max_calls_per_run", "max_execute_fix_per_phase", "escalate_min_attempts",
                "complex_min_categories", "complex_min_patch_errors", "complex_min_attempts"):
        yield from _positive(("doctor", key), getattr(d, key), allow_zero=True)
    yield from _positive(("doctor", "fix_timeout_seconds"), d.fix_timeout_seconds)
    for key in ("max_http_5xx", "max_patch_failures", "max_total_failures"):
        yield from _positive(("health_budget", key), getattr(cfg.health_budget, key))
    g = cfg.governance
    yield from _positive(("governance", "max_file_bytes"), g.max_file_bytes)
    yield from _positive(("governance", "max_hunk_lines"), g.max_hunk_lines)
    yield from _positive(("governance", "fuzz"), g.fuzz, allow_zero=True)
    for key in ("max_patch_bytes", "max_binary_bytes", "max_total_bytes"):
        yield from _positive(("governance", key), getattr(g, key))
    q = cfg.quotas
    yield from _positive(("quotas", "run", "max_tokens"), q.run.max_tokens)
    yield from _positive(("quotas", "run", "max_cost_usd"), q.run.max_cost_usd)
    for model, lim in q.per_model.items():
        if model not in cfg.models:
            yield _Problem(("quotas", "per_model", model), f"unknown model {model!r}", at_key=True)
        yield from _positive(("quotas", "per_model", model, "max_tokens"), lim.max_tokens)
        yield from _positive(("quotas", "per_model", model, "max_cost_usd"), lim.max_cost_usd)
    rt = cfg.retries
    if rt.max_attempts < 1:
        yield _Problem(("retries", "max_attempts"), f"must be >= 1, got {rt.max_attempts}")
    for key in ("backoff_base_seconds", "backoff_max_seconds", "jitter_seconds", "max_retry_after_seconds"):
        yield from _positive(("retries", key), getattr(rt, key), allow_zero=True)
    yield from _positive(("retries", "connect_timeout_seconds"), rt.connect_timeout_seconds)
    yield from _positive(("retries", "read_timeout_seconds"), rt.read_timeout_seconds)
    dp = cfg.discovery_promotion
    yield from _positive(("discovery_promotion", "min_runs"), dp.min_runs)
    yield from _positive(("discovery_promotion", "window_days"), dp.window_days)

