"""Loading plugins from entry points, and the registries they fill.

Built-in plugins (the ``autopack_plugins`` package) load through the same
entry-point group as third-party ones. Each entry point loads in its own
``try``: a broken plugin becomes a ``PluginFailure`` (printed as one warning
line by the CLI) and the rest still load, unless ``AUTOPACK_STRICT_PLUGINS=1``.
``AUTOPACK_LOAD_PLUGINS=a,b`` loads only the named entry points.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, NamedTuple

import pluggy

from autopack_core import hookspecs
from autopack_core.entrypoints import find_entry_points
from autopack_core.errors import PluginError

ENTRY_POINT_GROUP = "autopack"
REGISTRY_HOOKS = {
    "providers": "register_providers",
    "roles": "register_roles",
    "quality_checks": "register_quality_checks",
    "health_checks": "register_health_checks",
    "fix_types": "register_fix_types",
}


# NamedTuples rather than attrs classes: this module is on every command's
# start-up path, and attrs costs several milliseconds to import.
class PluginInfo(NamedTuple):
    name: str
    distribution: str
    version: str
    module: str
    hooks: tuple[str, ...]


class PluginFailure(NamedTuple):
    name: str
    distribution: str
    error: str

    def line(self) -> str:
        return f"autopack: warning: plugin {self.name!r} ({self.distribution}) failed to load: {self.error}"


class Registered(NamedTuple):
    """Something a plugin registered, and which plugin it came from."""

    name: str
    obj: Any
    plugin: str


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _allowlist_from_env() -> set[str] | None:
    raw = os.environ.get("AUTOPACK_LOAD_PLUGINS")
    if raw is None:
        return None
    return {p.strip() for p in raw.split(",") if p.strip()}


class PluginSet:
    """A loaded plugin manager plus what its plugins registered."""

    def __init__(self, pm: pluggy.PluginManager, infos: list[PluginInfo], failures: list[PluginFailure]):
        self.pm = pm
        self.infos = infos
        self.failures = failures
        # Names given to ``disabled`` that no entry point has (a typo, usually).
        self.unknown_disabled: list[str] = []
        self._registries: dict[str, dict[str, Registered]] = {}
        self._codec: Any = None

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def registry(self, kind: str) -> dict[str, Registered]:
        """Everything registered through one ``register_*`` hook, by name."""
        if kind not in self._registries:
            self._registries[kind] = self._collect(REGISTRY_HOOKS[kind], kind)
        return self._registries[kind]

    def _collect(self, hook_name: str, kind: str) -> dict[str, Registered]:
        found: dict[str, Registered] = {}
        caller = getattr(self.pm.hook, hook_name)
        for impl in caller.get_hookimpls():
            owner = impl.plugin_name

            def register(name: str, obj: Any, _owner: str = owner) -> None:
                if not isinstance(name, str) or not name:
                    raise PluginError(f"plugin {_owner!r} registered a {kind} entry without a name")
                if name in found:
                    raise PluginError(
                        f"{kind} {name!r} is registered by both {found[name].plugin!r} and {_owner!r}; "
                        f"uninstall one or disable it with --disable-plugin"
                    )
                found[name] = Registered(name, obj, _owner)

            impl.function(register)
        return found

    def event_types(self) -> list[type]:
        out: list[type] = []
        for impl in self.pm.hook.register_event_types.get_hookimpls():
            impl.function(out.append)
        return out

    @property
    def codec(self) -> Any:
        if self._codec is None:
            from autopack_core.codec import EventCodec

            self._codec = EventCodec(self.event_types())
        return self._codec

    def versions(self) -> list[tuple[str, str, str]]:
        return [(i.name, i.distribution, i.version) for i in self.infos]


def _hooks_of(pm: pluggy.PluginManager, plugin: object) -> tuple[str, ...]:
    return tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or ()))


def make_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("autopack")
    pm.add_hookspecs(hookspecs)
    return pm


def load_plugins(
    *,
    strict: bool | None = None,
    allowlist: Iterable[str] | None = None,
    disabled: Iterable[str] = (),
    extra: Iterable[tuple[str, object]] = (),
    entry_point_source: Callable[[], Iterable[Any]] | None = None,
) -> PluginSet:
    """Load every ``autopack`` entry point (each in its own try) into a new manager.

    :param strict: make a broken plugin fatal; default from ``AUTOPACK_STRICT_PLUGINS``.
    :param allowlist: load only these entry-point names; default from ``AUTOPACK_LOAD_PLUGINS``.
    :param disabled: entry-point names to skip (``--disable-plugin``).
    :param extra: ``(name, module_or_object)`` pairs registered after the entry points (tests).
    """
    strict = _env_flag("AUTOPACK_STRICT_PLUGINS") if strict is None else strict
    allow = _allowlist_from_env() if allowlist is None else set(allowlist)
    skip = set(disabled)
    seen: set[str] = set()
    pm = make_plugin_manager()
    infos: list[PluginInfo] = []
    failures: list[PluginFailure] = []
    eps = entry_point_source() if entry_point_source else find_entry_points(ENTRY_POINT_GROUP)
    for ep in sorted(eps, key=lambda e: e.name):
        seen.add(ep.name)
        if (allow is not None and ep.name not in allow) or ep.name in skip:
            continue
        dist = ep.dist.name if ep.dist else "?"
        version = ep.dist.version if ep.dist else "?"
        try:
            plugin = ep.load()
            if pm.get_plugin(ep.name) is not None:
                raise PluginError(f"a plugin named {ep.name!r} is already loaded")
            pm.register(plugin, name=ep.name)
            try:
                pm.check_pending()
            except pluggy.PluginValidationError:
                pm.unregister(name=ep.name)
                raise
        except Exception as exc:  # noqa: BLE001 - any failure of third-party code is reported
            failure = PluginFailure(ep.name, dist, f"{type(exc).__name__}: {exc}")
            if strict:
                raise PluginError(failure.line().removeprefix("autopack: warning: ")) from exc
            failures.append(failure)
            continue
        infos.append(
            PluginInfo(ep.name, dist, version, getattr(plugin, "__name__", repr(plugin)), _hooks_of(pm, plugin))
        )
    for name, plugin in extra:
        pm.register(plugin, name=name)
        infos.append(
            PluginInfo(
                name, "(registered in process)", "", getattr(plugin, "__name__", repr(plugin)), _hooks_of(pm, plugin)
            )
        )
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"a plugin implements a hook that does not exist: {exc}") from exc
    plugin_set = PluginSet(pm, infos, failures)
    plugin_set.unknown_disabled = sorted(skip - seen)
    return plugin_set
