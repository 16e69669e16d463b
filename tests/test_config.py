"""Typed config: strict structuring, defaults, and file:line: path: problem errors."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from autopack_core import config as C
from autopack_core.config import AutopackConfig
from autopack_core.config_load import load_config, load_config_text
from autopack_core.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "config" / "models.yaml"


def refused(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "m.yaml")
    assert info.value.exit_code == 2
    return str(info.value)


def test_shipped_config_loads_and_matches_class_defaults():
    cfg = load_config(SHIPPED)
    # Every non-registry section of the shipped file shows exactly the defaults.
    for section in ("doctor", "health_budget", "governance", "quotas", "retries", "discovery_promotion"):
        assert getattr(cfg, section) == getattr(AutopackConfig(), section), section
    assert cfg.routing.escalation == C.EscalationConfig()


def test_shipped_config_sets_every_key():
    text = SHIPPED.read_text()

    def walk(cls):
        for f in attrs.fields(cls):
            if f.metadata.get("internal"):
                continue
            yield f.name
            t = f.type if not isinstance(f.type, str) else None
            if t is not None and attrs.has(t):
                yield from walk(t)

    hints = __import__("typing").get_type_hints
    for cls in (
        C.DoctorConfig,
        C.HealthBudgetConfig,
        C.GovernanceConfig,
        C.RetriesConfig,
        C.DiscoveryPromotionConfig,
        C.ModelConfig,
        C.ProviderConfig,
        C.TierModels,
        C.RouteOverride,
        C.EscalationConfig,
        C.Limit,
        C.QuotasConfig,
        C.RoutingConfig,
        C.RoleConfig,
        AutopackConfig,
    ):
        for f in attrs.fields(cls):
            if f.metadata.get("internal"):
                continue
            assert re.search(rf"\b{f.name}:", text), f"{cls.__name__}.{f.name} missing from config/models.yaml"
    assert hints  # keeps the import honest


def test_docs_describe_every_key():
    doc = (REPO / "docs" / "configuration.md").read_text()
    for cls in (
        C.DoctorConfig,
        C.HealthBudgetConfig,
        C.GovernanceConfig,
        C.RetriesConfig,
        C.DiscoveryPromotionConfig,
        C.ModelConfig,
        C.ProviderConfig,
        C.TierModels,
        C.RouteOverride,
        C.EscalationConfig,
        C.Limit,
        C.RoleConfig,
    ):
        for f in attrs.fields(cls):
            assert f"`{f.name}`" in doc, f"{cls.__name__}.{f.name} not in docs/configuration.md"


def test_builtin_defaults_work_offline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUTOPACK_CONFIG", raising=False)
    cfg = load_config()
    assert cfg.source == "<built-in defaults>"
    assert {p.kind for p in cfg.providers.values()} == {"recorded"}
    assert cfg.doctor_models() == ("recorded-cheap", "recorded-strong")
    assert cfg.doctor.allow_execute_fix_global is False
    assert cfg.doctor.max_execute_fix_per_phase == 1
    assert cfg.doctor.allowed_fix_types == ("git", "file")
    assert cfg.discovery_promotion == C.DiscoveryPromotionConfig(min_runs=3, window_days=30, require_approval=True)


def test_empty_file_gets_defaults():
    cfg = load_config_text("", "e.yaml")
    assert cfg.retries == C.RetriesConfig()
    assert "recorded-cheap" in cfg.models


def test_missing_keys_take_defaults():
    cfg = load_config_text("doctor:\n  max_calls_per_run: 3\nretries:\n  max_attempts: 7\n")
    assert cfg.doctor.max_calls_per_run == 3 and cfg.doctor.max_calls_per_phase == 2
    assert cfg.retries.max_attempts == 7 and cfg.retries.backoff_base_seconds == 0.5


def test_issue_example_entries_load():
    cfg = load_config_text(
        "providers:\n  local:\n    kind: openai            # comment\n    base_url: http://127.0.0.1:11434/v1\n"
        "    api_key_env: OPENAI_API_KEY\nmodels:\n  glm-4.6:\n    provider: local\n    tier: cheap\n"
        "    price_per_mtok_in: 0.6\n    price_per_mtok_out: 2.2\n"
    )
    assert cfg.models["glm-4.6"] == C.ModelConfig(
        provider="local", tier="cheap", price_per_mtok_in=0.6, price_per_mtok_out=2.2
    )
    assert cfg.providers["local"].api_key_env == "OPENAI_API_KEY"
    assert cfg.required_env() == ("OPENAI_API_KEY",)


def test_bad_tier_names_line_and_path():
    text = "models:\n  gpt-x:\n    provider: recorded\n    tier: medium\n"
    assert refused(text) == "m.yaml:4: models.gpt-x.tier: expected cheap or strong, got string 'medium'"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("retries:\n  max_attempts: '3'\n", "m.yaml:2: retries.max_attempts: expected an integer, got string '3'"),
        ("retries:\n  max_attempts: 3.5\n", "m.yaml:2: retries.max_attempts: expected an integer, got number 3.5"),
        ("retries:\n  max_attempts: true\n", "m.yaml:2: retries.max_attempts: expected an integer, got boolean true"),
        (
            "retries:\n  backoff_base_seconds: '0.5'\n",
            "m.yaml:2: retries.backoff_base_seconds: expected a number, got string '0.5'",
        ),
        (
            "providers:\n  p:\n    kind: openai\n    base_url: 3\n",
            "m.yaml:4: providers.p.base_url: expected a string, got number 3",
        ),
        (
            "doctor:\n  allow_execute_fix_global: 'yes'\n",
            "m.yaml:2: doctor.allow_execute_fix_global: expected true or false, got string 'yes'",
        ),
        (
            "doctor:\n  allowed_fix_types: git\n",
            "m.yaml:2: doctor.allowed_fix_types: expected a list, got string 'git'",
        ),
        (
            "governance:\n  protected_paths: ['a', 7]\n",
            "m.yaml:2: governance.protected_paths[1]: expected a string, got number 7",
        ),
        ("retries: 5\n", "m.yaml:1: retries: expected a mapping, got number 5"),
        ("models:\n  m:\n    tier: cheap\n", "m.yaml:2: models.m.provider: required key missing"),
        (
            "models:\n  1:\n    provider: recorded\n    tier: cheap\n",
            "m.yaml:2: models.1: key 1: expected a string, got number 1",
        ),
        (
            "providers:\n  p:\n    kind: openai\n    base_url: x\n    headers: {a: 1}\n",
            "m.yaml:5: providers.p.headers.a: expected a string, got number 1",
        ),
        (
            "routing:\n  overrides:\n    - {tier: cheap, colour: 1}\n",
            "m.yaml:3: routing.overrides[0].colour: unknown key "
            "(expected one of: role, category, complexity, tier, model)",
        ),
        (
            "routing:\n  overrides:\n    - {complexity: huge, tier: strong}\n",
            "m.yaml:3: routing.overrides[0].complexity: expected low or medium or high, got string 'huge'",
        ),
    ],
)
def test_type_errors_are_not_coerced(text, expected):
    assert refused(text) == expected


def test_unknown_key_points_at_the_key_and_lists_allowed():
    msg = refused("retries:\n  max_attempts: 2\n  max_atempts: 3\n")
    assert msg.startswith("m.yaml:3: retries.max_atempts: unknown key (expected one of: max_attempts,")
    assert refused("bogus: 1\n").startswith("m.yaml:1: bogus: unknown key (expected one of: providers, models,")
    assert "source: unknown key" in refused("source: x\n")


def test_several_problems_are_all_reported_in_line_order():
    msg = refused("retries:\n  max_attempts: 'x'\ndoctor:\n  low_confidence: 'y'\n  nope: 1\n")
    lines = msg.splitlines()
    assert lines[0] == "3 problems in config:"
    assert [re.match(r"\s*m\.yaml:(\d+):", ln).group(1) for ln in lines[1:]] == ["2", "4", "5"]


def test_cross_references_have_line_numbers():
    text = (
        "providers:\n  p:\n    kind: openai\n    base_url: http://x\n"
        "models:\n  a:\n    provider: nowhere\n    tier: cheap\n"
        "routing:\n  default:\n    cheap: a\n    strong: ghost\n"
        "doctor:\n  strong_model: phantom\n"
        "quotas:\n  per_model:\n    spectre: {max_tokens: 5}\n"
    )
    lines = refused(text).splitlines()[1:]
    assert [ln.strip() for ln in lines] == [
        "m.yaml:7: models.a.provider: unknown provider 'nowhere' (providers defines: p, recorded)",
        "m.yaml:12: routing.default.strong: unknown model 'ghost' (models defines: a, recorded-cheap, recorded-strong)",
        "m.yaml:14: doctor.strong_model: unknown model 'phantom' (models defines: a, recorded-cheap, recorded-strong)",
        "m.yaml:17: quotas.per_model.spectre: unknown model 'spectre'",
    ]


def test_range_and_consistency_checks():
    assert "doctor.health_ratio_strong: must be between 0 and 1" in refused("doctor:\n  health_ratio_strong: 1.5\n")
    assert "retries.max_attempts: must be >= 1" in refused("retries:\n  max_attempts: 0\n")
    assert "kind openai needs a base_url" in refused("providers:\n  p:\n    kind: openai\n")
    assert "is tier strong, not cheap" in refused("routing:\n  default:\n    cheap: recorded-strong\n")
    assert "needs a tier or a model" in refused("routing:\n  overrides:\n    - {role: builder}\n")
    assert "models.m.price_per_mtok_in: must be >= 0" in refused(
        "models:\n  m: {provider: recorded, tier: cheap, price_per_mtok_in: -1}\n"
    )


def test_invalid_yaml_has_line():
    assert re.match(r"m\.yaml:3: invalid YAML", refused("a:\n  b: 1\n c: [\n"))
    assert "m.yaml:1: (top level): expected a mapping" in refused("- 1\n")


def test_duplicate_keys_refused():
    assert "invalid YAML" in refused("retries:\n  max_attempts: 1\n  max_attempts: 2\n")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")


def test_config_env_var_and_cwd(tmp_path, monkeypatch):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "models.yaml").write_text("retries:\n  max_attempts: 9\n")
    monkeypatch.delenv("AUTOPACK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert load_config().retries.max_attempts == 9
    other = tmp_path / "other.yaml"
    other.write_text("retries:\n  max_attempts: 5\n")
    monkeypatch.setenv("AUTOPACK_CONFIG", str(other))
    assert load_config().retries.max_attempts == 5


def test_user_entry_wins_over_builtin_of_same_name():
    cfg = load_config_text(
        "models:\n  recorded-cheap:\n    provider: recorded\n    tier: cheap\n    price_per_mtok_in: 9\n"
    )
    assert cfg.models["recorded-cheap"].price_per_mtok_in == 9


# --- property: any mistyped key of the shipped file is refused at its own line ---

_LEAF = re.compile(r"^(\s*)([A-Za-z_][\w.-]*):\s+(?!#)(\S.*?)\s*(#.*)?$")
_LEAVES = [i for i, line in enumerate(SHIPPED.read_text().splitlines()) if _LEAF.match(line)]


@pytest.mark.parametrize("wrong", ["[[1]]", "{zz: 1}"])
def test_every_leaf_of_the_shipped_file_mistyped_is_refused_at_its_line(wrong):
    lines = SHIPPED.read_text().splitlines()
    assert len(_LEAVES) > 60
    for index in _LEAVES:
        m = _LEAF.match(lines[index])
        if m.group(2) == "options" and wrong.startswith("{"):
            continue  # plugin options are free-form: any mapping is valid
        broken = list(lines)
        broken[index] = f"{m.group(1)}{m.group(2)}: {wrong}"
        with pytest.raises(ConfigError) as info:
            load_config_text("\n".join(broken) + "\n", "s.yaml")
        found = [ln.strip() for ln in str(info.value).splitlines()]
        assert any(ln.startswith(f"s.yaml:{index + 1}: ") for ln in found), (lines[index], str(info.value))


def test_a_config_rewritten_at_once_is_read_again(tmp_path):
    from autopack_core.config_load import load_config

    path = tmp_path / "models.yaml"
    path.write_text("governance:\n  fuzz: 1\n")
    assert load_config(path).governance.fuzz == 1
    assert load_config(path) is load_config(path)  # parsed once
    path.write_text("governance:\n  fuzz: 2\n")  # same size, same clock tick
    assert load_config(path).governance.fuzz == 2
    path.write_text("governance:\n  fuzz: x\n")
    with pytest.raises(Exception, match="governance.fuzz"):
        load_config(path)


def test_routing_with_roles_but_no_default_falls_back_to_the_builtin_default():
    cfg = load_config_text("routing:\n  roles:\n    builder: {cheap: recorded-cheap}\n", "m.yaml")
    assert (cfg.routing.default.cheap, cfg.routing.default.strong) == ("recorded-cheap", "recorded-strong")
    assert cfg.routing.roles["builder"].cheap == "recorded-cheap"


def test_a_problem_in_merged_builtin_parts_names_the_users_file_and_line():
    # Redefining a built-in model's tier breaks the built-in routing that names it.
    text = "retries:\n  max_attempts: 2\nmodels:\n  recorded-cheap: {provider: recorded, tier: strong}\n"
    out = refused(text)
    assert "defaults/models.yaml" not in out
    assert out == (
        "m.yaml:1: routing.default.cheap: model 'recorded-cheap' is tier strong, not cheap"
        " (not in this file: from the built-in defaults)"
    )
    out = refused("routing:\n  roles:\n    builder: {cheap: nosuch}\n")
    assert "defaults/models.yaml" not in out and out.startswith("m.yaml:3: routing.roles.builder.cheap: unknown model")


def test_config_schema_does_not_import_its_loader():
    import subprocess
    import sys

    code = "import sys, autopack_core.config; print('autopack_core.config_load' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
