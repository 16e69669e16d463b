"""Typed configuration: ``config/models.yaml`` as frozen attrs classes.

The file is read with ruamel.yaml (round-trip, so every key keeps its line
mark) and structured by a strict cattrs converter: unknown keys are refused, a
string is never turned into a number or the other way round, and a missing key
takes the class default below. Every problem is reported as
``file:line: dotted.path: what is wrong`` and raised as ``ConfigError`` (exit
2) before anything runs.

The attrs defaults here are the only place a setting's default lives; the
shipped ``config/models.yaml`` repeats them with comments, and a test checks
the two agree. A file that omits a whole registry section (``providers``,
``models``, ``routing``) gets that section from the built-in defaults in
``autopack_core/defaults/models.yaml``, which work offline with the
``recorded`` provider.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import attrs

from autopack_core.errors import ConfigError

Tier = Literal["cheap", "strong"]
Complexity = Literal["low", "medium", "high"]
TIERS: tuple[str, ...] = ("cheap", "strong")

DEFAULT_CONFIG_RELPATH = Path("config") / "models.yaml"
BUILTIN_DEFAULTS = Path(__file__).parent / "defaults" / "models.yaml"
#: Sections taken whole from the built-in defaults when a file leaves them out.
REGISTRY_SECTIONS = ("providers", "models", "routing")


def _mapping(default: Mapping[str, Any] | None = None) -> Any:
    return attrs.field(factory=lambda: dict(default or {}))


@attrs.frozen(kw_only=True)
class ProviderConfig:
    """One entry of ``providers:``. Fields a kind does not use are ignored by it."""

    kind: str
    base_url: str = ""
    # The key is read from this environment variable, never from the file.
    api_key_env: str | None = None
    headers: dict[str, str] = _mapping()
    anthropic_version: str = "2023-06-01"
    # recorded: a cassette (YAML or JSONL) or an exported run (``autopack export``).
    cassette: str | None = None
    event_log: str | None = None
    match: Literal["sequence", "prompt"] = "sequence"
    # Free-form settings for provider kinds added by plugins.
    options: dict[str, Any] = _mapping()


@attrs.frozen(kw_only=True)
class ModelConfig:
    """One entry of ``models:``; the key is the name roles and routing use."""

    provider: str
    tier: Tier
    price_per_mtok_in: float = 0.0
    price_per_mtok_out: float = 0.0
    # The model id sent on the wire, when it differs from the config name.
    api_model: str | None = None
    context_tokens: int | None = None
    max_output_tokens: int = 4096
    temperature: float | None = None

    def wire_name(self, name: str) -> str:
        return self.api_model or name


@attrs.frozen(kw_only=True)
class TierModels:
    """The model a role uses at each tier, and the tier it starts at."""

    cheap: str | None = None
    strong: str | None = None
    start: Tier = "cheap"


@attrs.frozen(kw_only=True)
class RouteOverride:
    """First matching override wins (file order). Unset matchers match anything."""

    role: str | None = None
    category: str | None = None
    complexity: Complexity | None = None
    tier: Tier | None = None
    model: str | None = None


@attrs.frozen(kw_only=True)
class EscalationConfig:
    # cheap -> strong once this many attempts of a step have failed; null: never.
    after_failed_attempts: int | None = 2


@attrs.frozen(kw_only=True)
class RoutingConfig:
    default: TierModels = attrs.field(factory=TierModels)
    roles: dict[str, TierModels] = _mapping()
    overrides: tuple[RouteOverride, ...] = ()
    escalation: EscalationConfig = attrs.field(factory=EscalationConfig)


@attrs.frozen(kw_only=True)
class FixTypeSettings:
    """One fix type's section of ``doctor.fix_types`` in the config.

    ``enabled``: None keeps the type's ``enabled_by_default``; ``false`` turns a
    built-in type off; ``true`` turns on a type that is off by default.
    ``allow``: exact commands (compared after splitting) that a type without an
    allowlist of its own (``docker``, ``shell``) accepts; other types ignore it.
    """

    enabled: bool | None = None
    allow: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class DoctorConfig:
    # null: the tier models of routing.roles.doctor (or routing.default).
    cheap_model: str | None = None
    strong_model: str | None = None
    health_ratio_strong: float = 0.8
    low_confidence: float = 0.6
    escalate_min_attempts: int = 2
    complex_min_categories: int = 2
    complex_min_patch_errors: int = 2
    complex_min_attempts: int = 4
    max_calls_per_phase: int = 2
    max_calls_per_run: int = 10
    allow_execute_fix_global: bool = False
    max_execute_fix_per_phase: int = 1
    allowed_fix_types: tuple[str, ...] = ("git", "file")
    fix_timeout_seconds: float = 120.0
    # What follows an execute_fix that was refused or did not cure the failure (after the
    # workspace is back at the checkpoint): the Builder again with the Doctor's hint, or the end.
    execute_fix_fallback: Literal["retry_with_fix", "mark_fatal"] = "retry_with_fix"
    # Per fix type: enabled (null: the type's default) and, for docker/shell,
    # the exact commands allowed. docs/execute-fix.md.
    fix_types: dict[str, FixTypeSettings] = _mapping()


@attrs.frozen(kw_only=True)
class HealthBudgetConfig:
    max_http_5xx: int = 10
    max_patch_failures: int = 10
    max_total_failures: int = 25


@attrs.frozen(kw_only=True)
class GovernancePolicy:
    """Limits a patch must respect. ``.git`` and ``.autopack`` are refused
    whatever ``protected_paths`` says; the defaults list them so config that
    prints the policy shows them.

    - ``protected_paths``: glob patterns relative to the workspace. ``*``
      stays within one path component, ``**`` crosses them, a trailing ``/``
      means the directory and everything under it; a pattern that matches a
      parent directory protects everything below it. Matching ignores case, as
      case-insensitive file systems would.
    - ``exec_protected_paths``: globs where setting the executable bit is
      refused (hook directories that ``core.hooksPath`` commonly points at).
    - ``fuzz``: how many context lines a hunk may lose at each end when it
      does not match exactly (0 = as ``git apply`` by default).
    - ``max_patch_bytes``: the largest patch (reply) read at all.
    - ``max_binary_bytes``: what one binary patch's data may inflate to, and
      what a binary delta may build; inflation stops at this size, so a zlib
      bomb never allocates more.
    - ``max_total_bytes``: the total size of the files one patch writes
      (copies and renames count in full).
    """

    protected_paths: tuple[str, ...] = (".git/", ".autopack/")
    exec_protected_paths: tuple[str, ...] = (".githooks/", ".husky/")
    allow_binary_patches: bool = False
    max_file_bytes: int = 16 * 1024 * 1024
    max_hunk_lines: int = 100_000
    fuzz: int = 0
    max_patch_bytes: int = 32 * 1024 * 1024
    max_binary_bytes: int = 32 * 1024 * 1024
    max_total_bytes: int = 256 * 1024 * 1024


# The ``governance:`` section is governed apply's policy itself: one set of
# knobs and defaults, so the config and ``autopack patch`` cannot drift apart.
# It lives here, with the rest of the knobs; ``patching`` imports it.
GovernanceConfig = GovernancePolicy


@attrs.frozen(kw_only=True)
class Limit:
    """A token and/or cost ceiling; null means unlimited."""

    max_tokens: int | None = None
    max_cost_usd: float | None = None


@attrs.frozen(kw_only=True)
class QuotasConfig:
    run: Limit = attrs.field(factory=Limit)
    per_model: dict[str, Limit] = _mapping()


@attrs.frozen(kw_only=True)
class RetriesConfig:
    max_attempts: int = 4
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    jitter_seconds: float = 0.5
    # A Retry-After longer than this ends the call instead of waiting.
    max_retry_after_seconds: float = 120.0
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 300.0


@attrs.frozen(kw_only=True)
class DiscoveryPromotionConfig:
    min_runs: int = 3
    window_days: int = 30
    require_approval: bool = True


@attrs.frozen(kw_only=True)
class RoleConfig:
    """One entry of ``roles:``, keyed by role name (``autopack roles`` lists them)."""

    # A prompt template replacing the role's shipped one; relative to the config file's folder.
    template: str | None = None


@attrs.frozen(kw_only=True)
class AutopackConfig:
    providers: dict[str, ProviderConfig] = _mapping()
    models: dict[str, ModelConfig] = _mapping()
    routing: RoutingConfig = attrs.field(factory=RoutingConfig)
    doctor: DoctorConfig = attrs.field(factory=DoctorConfig)
    health_budget: HealthBudgetConfig = attrs.field(factory=HealthBudgetConfig)
    governance: GovernanceConfig = attrs.field(factory=GovernanceConfig)
    quotas: QuotasConfig = attrs.field(factory=QuotasConfig)
    retries: RetriesConfig = attrs.field(factory=RetriesConfig)
    discovery_promotion: DiscoveryPromotionConfig = attrs.field(factory=DiscoveryPromotionConfig)
    roles: dict[str, RoleConfig] = _mapping()
    # Where the file came from, for messages; not a key of the file.
    source: str = attrs.field(default="<built-in defaults>", metadata={"internal": True})
    # The text of each ``roles.<name>.template`` (checked when loaded) and (path, line of the key).
    role_templates: dict[str, str] = attrs.field(factory=dict, metadata={"internal": True})
    role_template_paths: dict[str, tuple[str, int]] = attrs.field(factory=dict, metadata={"internal": True})

    def model(self, name: str) -> ModelConfig:
        try:
            return self.models[name]
        except KeyError:
            known = ", ".join(sorted(self.models)) or "none"
            raise ConfigError(f"{self.source}: no model {name!r} in models (known: {known})") from None

    def provider_of(self, model_name: str) -> tuple[str, ProviderConfig]:
        m = self.model(model_name)
        return m.provider, self.providers[m.provider]

    def doctor_models(self) -> tuple[str, str]:
        """(cheap, strong) model names the Doctor uses."""
        tiers = self.routing.roles.get("doctor", self.routing.default)
        cheap = self.doctor.cheap_model or tiers.cheap or self.routing.default.cheap
        strong = self.doctor.strong_model or tiers.strong or self.routing.default.strong
        if cheap is None or strong is None:
            raise ConfigError(f"{self.source}: doctor: no cheap_model/strong_model and no routing for role doctor")
        return cheap, strong

    def required_env(self) -> tuple[str, ...]:
        return tuple(sorted({p.api_key_env for p in self.providers.values() if p.api_key_env}))


__all__: Sequence[str] = [
    "AutopackConfig",
    "ProviderConfig",
    "ModelConfig",
    "TierModels",
    "RouteOverride",
    "RoutingConfig",
    "EscalationConfig",
    "DoctorConfig",
    "HealthBudgetConfig",
    "GovernanceConfig",
    "Limit",
    "QuotasConfig",
    "RetriesConfig",
    "DiscoveryPromotionConfig",
    "RoleConfig",
    "GovernancePolicy",
    "FixTypeSettings",
]
