"""Loading ``models.yaml``: find the file, parse it, structure it strictly, check it.

The config layer's upper half: ``config.py`` holds the schema (and imports
nothing of this), this module reads files into it. The generic machinery
(strict converter, line-numbered messages) is ``strict.py``; what is here is
particular to the config: merging the built-in defaults, the per-file cache,
and the checks a type cannot express.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Iterator, Mapping

import attrs

from autopack_core import strict
from autopack_core.config import (
    BUILTIN_DEFAULTS,
    DEFAULT_CONFIG_RELPATH,
    REGISTRY_SECTIONS,
    TIERS,
    AutopackConfig,
)
from autopack_core.errors import ConfigError
from autopack_core.strict import PathT, Problem

BUILTIN_NAME = "<built-in defaults>"


def default_config_path(workspace: Path | None = None) -> Path | None:
    """``config/models.yaml`` of the workspace (or cwd) if it exists, else None."""
    env = os.environ.get("AUTOPACK_CONFIG")
    if env:
        return Path(env)
    candidate = (workspace or Path.cwd()) / DEFAULT_CONFIG_RELPATH
    return candidate if candidate.is_file() else None


def load_config(path: Path | str | None = None, *, workspace: Path | None = None) -> AutopackConfig:
    """Load and check a config file; ``None`` means the default location or built-ins.

    Raises ``ConfigError`` (``file:line: path: problem``) on any problem.
    """
    if path is None:
        path = default_config_path(workspace)
    if path is None:
        return _load_cached(str(BUILTIN_DEFAULTS), _content(BUILTIN_DEFAULTS), BUILTIN_NAME)
    cfg = _load_cached(str(path), _content(Path(path)), None)
    if cfg.role_template_paths:  # templates are other files: read them fresh
        cfg = read_role_templates(cfg)
    return cfg


def load_config_text(text: str, name: str = "<string>") -> AutopackConfig:
    """Parse config from a string (tests, and configs embedded elsewhere)."""
    return load_text(text, name)


def _content(path: Path) -> bytes | None:
    # The cache is keyed by the file's bytes, not its mtime: file systems
    # stamp times coarsely, and a config rewritten within one tick must not
    # be served stale. A missing file falls through to the loader's error.
    try:
        return path.read_bytes()
    except OSError:
        return None


@functools.lru_cache(maxsize=16)
def _load_cached(path: str, content: bytes | None, display: str | None) -> AutopackConfig:
    # Parsing YAML costs milliseconds; an executor or a test process asks for
    # the same file many times. The result is frozen, so sharing it is safe,
    # and errors are not cached (lru_cache does not store exceptions).
    try:
        text = content.decode("utf-8") if content is not None else None
    except UnicodeDecodeError:
        text = None
    if text is None:  # unreadable: load_file says why, with the file's name
        return load_file(Path(path), display=display)
    return load_text(text, display or path, builtin=Path(path) == BUILTIN_DEFAULTS)


@functools.lru_cache(maxsize=1)
def make_converter() -> Any:
    # Nothing is added to it, so one instance serves every load.
    return strict.converter()


@functools.lru_cache(maxsize=1)
def _builtin_raw() -> Any:
    return strict.parse_yaml(BUILTIN_DEFAULTS.read_text(encoding="utf-8"), str(BUILTIN_DEFAULTS))


def load_file(path: Path, display: str | None = None) -> AutopackConfig:
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{name}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: cannot read: {exc}") from None
    return load_text(text, name, builtin=path == BUILTIN_DEFAULTS)


def _merge_builtin(data: dict[str, Any], builtin: Any) -> None:
    # The built-in providers and models are always there (a file's own entry
    # of the same name wins); a file without ``routing`` gets the built-in
    # one, and a ``routing`` without ``default`` the built-in default.
    for section in REGISTRY_SECTIONS:
        mine = data.get(section)
        theirs = strict.plain(builtin[section])
        if section == "routing":
            if mine is None:
                data[section] = theirs
            elif isinstance(mine, dict) and "default" not in mine:
                data[section] = {**mine, "default": theirs["default"]}
        elif mine is None or isinstance(mine, dict):
            data[section] = {**theirs, **(mine or {})}


def load_text(text: str, name: str, *, builtin: bool = False) -> AutopackConfig:
    raw = strict.parse_yaml(text, name)
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{name}:1: (top level): expected a mapping of sections, got {strict.kind(strict.plain(raw))}"
        )
    data = strict.plain(raw)
    for internal in (f.name for f in attrs.fields(AutopackConfig) if f.metadata.get("internal")):
        if internal in data:
            allowed = ", ".join(strict.fields_of(AutopackConfig, ()))
            raise ConfigError(
                f"{name}:{strict.line_of(raw, (internal,))}: {internal}: unknown key (expected one of: {allowed})"
            )
    if not builtin:
        _merge_builtin(data, _builtin_raw())

    def where(path: PathT, at_key: bool = True) -> str:
        # Always the user's file: a problem in a part taken from the built-in
        # defaults is one the user's file caused (say, by redefining a
        # built-in model), so point at the nearest key the user wrote.
        while path and not strict.has(raw, path):
            path, at_key = path[:-1], True
        return f"{name}:{strict.line_of(raw, path, at_key=at_key) or 1}"

    cfg = strict.structure(data, AutopackConfig, raw=raw, where=where, conv=make_converter())
    cfg = attrs.evolve(cfg, source=name)
    problems = [
        f"{where(p.path, p.at_key)}: {strict.dotted(p.path, raw)}: {p.message}{_origin(raw, p.path, builtin)}"
        for p in check_references(cfg)
    ]
    if problems:
        raise ConfigError(strict.join(problems))
    if any(r.template for r in cfg.roles.values()):
        cfg = _with_role_templates(cfg, raw, name)
    return cfg


def _origin(raw: Any, path: PathT, builtin: bool) -> str:
    # The line points at the nearest key the file has; say why the key itself is not there.
    if builtin or strict.has(raw, path):
        return ""
    return " (not in this file: from the built-in defaults)"


def _with_role_templates(cfg: AutopackConfig, raw: Any, name: str) -> AutopackConfig:
    """Find each ``roles.<name>.template`` (relative to the config file's folder) and read it."""
    base = Path.cwd() if name.startswith("<") else Path(name).parent
    paths: dict[str, tuple[str, int]] = {}
    for role, rc in cfg.roles.items():
        if rc.template:
            paths[role] = (str(base / rc.template), strict.line_of(raw, ("roles", role, "template"), at_key=False) or 0)
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
        problems += [
            f"{path}:{n}: {msg} (template of role {role!r}, {cfg.source}:{line})" for n, msg in template_problems(text)
        ]
        texts[role] = text
    if problems:
        raise ConfigError(strict.join(problems))
    if texts == cfg.role_templates:
        return cfg
    return attrs.evolve(cfg, role_templates=texts)


# --- cross-references and ranges --------------------------------------------


def _ref(cfg: AutopackConfig, path: PathT, model: str | None) -> Iterator[Problem]:
    if model is not None and model not in cfg.models:
        known = ", ".join(sorted(cfg.models)) or "none"
        yield Problem(path, f"unknown model {model!r} (models defines: {known})")


def _positive(path: PathT, value: float | None, *, allow_zero: bool = False) -> Iterator[Problem]:
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        yield Problem(path, f"must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def check_references(cfg: AutopackConfig) -> Iterator[Problem]:
    """Everything a type cannot say: names that must exist, numbers in range."""
    for name, p in cfg.providers.items():
        if p.kind == "recorded" and p.cassette and p.event_log:
            yield Problem(("providers", name, "event_log"), "give either cassette or event_log, not both")
        if p.kind in ("openai", "anthropic", "gemini") and not p.base_url:
            yield Problem(("providers", name), f"kind {p.kind} needs a base_url", at_key=True)
    for name, m in cfg.models.items():
        if m.provider not in cfg.providers:
            known = ", ".join(sorted(cfg.providers)) or "none"
            yield Problem(("models", name, "provider"), f"unknown provider {m.provider!r} (providers defines: {known})")
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
                yield Problem(path + (tier,), f"model {model!r} is tier {cfg.models[model].tier}, not {tier}")
    if r.default.cheap is None and r.default.strong is None and cfg.models:
        yield Problem(("routing", "default"), "name at least one of cheap or strong", at_key=True)
    for i, o in enumerate(r.overrides):
        yield from _ref(cfg, ("routing", "overrides", i, "model"), o.model)
        if o.model is None and o.tier is None:
            yield Problem(("routing", "overrides", i), "an override needs a tier or a model")
    yield from _positive(("routing", "escalation", "after_failed_attempts"), r.escalation.after_failed_attempts)
    d = cfg.doctor
    yield from _ref(cfg, ("doctor", "cheap_model"), d.cheap_model)
    yield from _ref(cfg, ("doctor", "strong_model"), d.strong_model)
    for key in ("health_ratio_strong", "low_confidence"):
        v = getattr(d, key)
        if not 0.0 <= v <= 1.0:
            yield Problem(("doctor", key), f"must be between 0 and 1, got {v!r}")
    for key in (
        "max_calls_per_phase",
        "max_calls_per_run",
        "max_execute_fix_per_phase",
        "escalate_min_attempts",
        "complex_min_categories",
        "complex_min_patch_errors",
        "complex_min_attempts",
    ):
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
            yield Problem(("quotas", "per_model", model), f"unknown model {model!r}", at_key=True)
        yield from _positive(("quotas", "per_model", model, "max_tokens"), lim.max_tokens)
        yield from _positive(("quotas", "per_model", model, "max_cost_usd"), lim.max_cost_usd)
    rt = cfg.retries
    if rt.max_attempts < 1:
        yield Problem(("retries", "max_attempts"), f"must be >= 1, got {rt.max_attempts}")
    for key in ("backoff_base_seconds", "backoff_max_seconds", "jitter_seconds", "max_retry_after_seconds"):
        yield from _positive(("retries", key), getattr(rt, key), allow_zero=True)
    yield from _positive(("retries", "connect_timeout_seconds"), rt.connect_timeout_seconds)
    yield from _positive(("retries", "read_timeout_seconds"), rt.read_timeout_seconds)
    dp = cfg.discovery_promotion
    yield from _positive(("discovery_promotion", "min_runs"), dp.min_runs)
    yield from _positive(("discovery_promotion", "window_days"), dp.window_days)
