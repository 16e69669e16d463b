"""Overriding a role's template from config, and ``autopack roles`` run as a user would."""

from __future__ import annotations

from pathlib import Path

import pytest
from autopack_plugins.roles import BUILTIN_ROLES, shipped_template
from conftest import run_cli_text

from autopack_core.config_load import load_config
from autopack_core.errors import ConfigError
from autopack_core.plan import PhaseSpec
from autopack_core.roles import RoleContext, template_for, template_source

ROLES = {r.name: r for r in BUILTIN_ROLES}
MINE = "[system]\nYou build things for $goal.\n[user]\nPhase $phase_id: $phase_goal\n$files\n$omitted"


def write_config(tmp_path: Path, roles_yaml: str) -> Path:
    cfg = tmp_path / "config" / "models.yaml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text("retries:\n  max_attempts: 2\n" + roles_yaml)
    return cfg


def test_a_template_file_next_to_the_config_replaces_the_shipped_one(tmp_path):
    path = write_config(tmp_path, "roles:\n  builder:\n    template: prompts/mine.txt\n")
    (tmp_path / "config" / "prompts").mkdir()
    (tmp_path / "config" / "prompts" / "mine.txt").write_text(MINE)
    cfg = load_config(path)
    builder = ROLES["builder"]
    assert template_for(cfg, "builder", builder) == MINE
    assert template_source(cfg, "builder") == str(tmp_path / "config" / "prompts" / "mine.txt")
    assert template_for(cfg, "auditor", ROLES["auditor"]) == shipped_template("auditor")
    assert template_source(cfg, "auditor") == "shipped"
    ctx = RoleContext(goal="speed", phase=PhaseSpec(id="p1", goal="cache it"))
    p = builder.build_prompt(ctx, context_tokens=1000, template=template_for(cfg, "builder", builder))
    assert p.system == "You build things for speed." and p.user.startswith("Phase p1: cache it\n(none)")


def test_a_missing_template_names_the_config_line(tmp_path):
    path = write_config(tmp_path, "roles:\n  builder:\n    template: nope.txt\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value).startswith(f"{path}:5: roles.builder.template: no such file ")
    assert "nope.txt" in str(e.value)


def test_an_unknown_placeholder_names_the_template_line(tmp_path):
    path = write_config(tmp_path, "roles:\n  auditor:\n    template: a.txt\n")
    (tmp_path / "config" / "a.txt").write_text("Review:\n$diff\n\nfor $gaol\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path / 'config' / 'a.txt'}:4: unknown placeholder $gaol (known: ")
    assert f"{path}:5" in msg and "\n" not in msg


def test_an_empty_template_and_unknown_keys_are_refused(tmp_path):
    path = write_config(tmp_path, "roles:\n  doctor:\n    template: e.txt\n")
    (tmp_path / "config" / "e.txt").write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        load_config(path)
    path = write_config(tmp_path, "roles:\n  doctor:\n    prompt: e.txt\n")
    with pytest.raises(
        ConfigError, match=r"models.yaml:5: roles.doctor.prompt: unknown key \(expected one of: template\)"
    ):
        load_config(path)
    path = write_config(tmp_path, "role_templates:\n  doctor: hi\n")
    with pytest.raises(ConfigError, match=r"models.yaml:3: role_templates: unknown key"):
        load_config(path)


def test_a_changed_template_is_read_again(tmp_path):
    # The config cache is keyed by the config's bytes; its path must make a new template file count too.
    path = write_config(tmp_path, "roles:\n  builder:\n    template: t.txt\n")
    (tmp_path / "config" / "t.txt").write_text("one $goal")
    assert load_config(path).role_templates["builder"] == "one $goal"
    (tmp_path / "config" / "t.txt").write_text("two $goal")
    assert load_config(path).role_templates["builder"] == "two $goal"
    (tmp_path / "config" / "t.txt").write_text("three $gaol")
    with pytest.raises(ConfigError, match="unknown placeholder"):
        load_config(path)


# --- the commands -------------------------------------------------------------


def test_roles_lists_each_role_with_its_plugin_and_template_source(tmp_path):
    write_config(tmp_path, "roles:\n  builder:\n    template: mine.txt\n  buidler:\n    template: mine.txt\n")
    (tmp_path / "config" / "mine.txt").write_text(MINE)
    r = run_cli_text(["roles"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ROLE", "PLUGIN", "TEMPLATE", "DESCRIPTION"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert sorted(rows) == ["auditor", "builder", "doctor"]
    assert rows["builder"][1:3] == ["roles", str(tmp_path / "config" / "mine.txt")]
    assert rows["auditor"][1:3] == ["roles", "shipped"]
    assert "search/replace" in r.stdout
    assert "roles.buidler: no plugin registers a role 'buidler' (registered: auditor, builder, doctor)" in r.stderr


def test_roles_with_a_bad_config_is_exit_2_with_one_line(tmp_path):
    path = write_config(tmp_path, "roles:\n  builder:\n    template: gone.txt\n")
    r = run_cli_text(["roles", "--config", str(path)])
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "roles.builder.template: no such file" in r.stderr


def test_roles_template_prints_the_shipped_template_exactly(tmp_path):
    for name in ROLES:
        r = run_cli_text(["roles", "template", name], cwd=tmp_path)
        assert r.returncode == 0 and r.stdout == shipped_template(name)


def test_roles_template_of_an_unknown_role_is_exit_2_naming_the_known(tmp_path):
    r = run_cli_text(["roles", "template", "reviewer"], cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == "autopack: error: no role 'reviewer' (known: auditor, builder, doctor)"


def test_roles_commands_have_help(tmp_path):
    for args in (["roles", "--help"], ["roles", "template", "--help"]):
        r = run_cli_text(args, cwd=tmp_path)
        assert r.returncode == 0 and "Usage: autopack roles" in r.stdout
