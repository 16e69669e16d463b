"""Loading plugins from entry points: broken ones warn, strict mode, allowlist, a real install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from plugin_install import install_plugin_package


def fake_distribution(root: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> Path:
    """A minimal installed distribution (dist-info + modules) on a folder for PYTHONPATH."""
    root.mkdir(parents=True, exist_ok=True)
    info = root / f"{dist}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    eps = "[autopack]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(eps)
    for name, src in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(src))
    return root


GOOD = """
    import click
    from autopack_core.hookspecs import hookimpl

    @hookimpl
    def register_commands(cli):
        @cli.command(name="greet")
        def greet():
            '''Greet.'''
            click.echo("greetings from goodplug")
"""


@pytest.fixture
def plugin_path(tmp_path):
    return fake_distribution(
        tmp_path / "site",
        "acme-plugins",
        {"goodplug": "goodplug_mod", "brokenplug": "brokenplug_mod"},
        {"goodplug_mod": GOOD, "brokenplug_mod": "raise ImportError('missing dependency frobnicate')\n"},
    )


def env_with(path: Path, **extra: str) -> dict[str, str]:
    return {"PYTHONPATH": str(path) + os.pathsep + os.environ.get("PYTHONPATH", ""), **extra}


def test_a_broken_plugin_is_one_warning_and_the_rest_load(cli, plugin_path):
    res = cli("greet", env=env_with(plugin_path))
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"greetings from goodplug\n"
    assert res.stderr.decode().splitlines() == [
        "autopack: warning: plugin 'brokenplug' (acme-plugins) failed to load: "
        "ImportError: missing dependency frobnicate"
    ]


def test_strict_mode_makes_it_fatal(cli, plugin_path):
    res = cli("plugins", env=env_with(plugin_path, AUTOPACK_STRICT_PLUGINS="1"))
    assert res.returncode == 2
    err = res.stderr.decode().strip().splitlines()
    assert len(err) == 1 and "brokenplug" in err[0] and "frobnicate" in err[0]


def test_allowlist_loads_only_the_named(cli, plugin_path):
    res = cli("plugins", "--json", env=env_with(plugin_path, AUTOPACK_LOAD_PLUGINS="goodplug,quality_checks"))
    assert res.returncode == 0
    data = json.loads(res.stdout)
    assert sorted(p["name"] for p in data["plugins"]) == ["goodplug", "quality_checks"]
    assert data["failures"] == [] and res.stderr == b""


def test_disable_plugin_option(cli, plugin_path):
    res = cli("--disable-plugin", "brokenplug", "plugins", "--json", env=env_with(plugin_path))
    assert res.returncode == 0 and res.stderr == b""
    names = {p["name"] for p in json.loads(res.stdout)["plugins"]}
    assert "brokenplug" not in names and "goodplug" in names


def test_plugins_lists_distribution_version_and_hooks(cli, plugin_path):
    res = cli("plugins", "--json", env=env_with(plugin_path))
    data = json.loads(res.stdout)
    good = next(p for p in data["plugins"] if p["name"] == "goodplug")
    assert (good["distribution"], good["version"], good["hooks"]) == ("acme-plugins", "1.2.3", ["register_commands"])
    assert data["failures"][0]["name"] == "brokenplug"
    builtin = {p["name"]: p for p in data["plugins"]}
    assert builtin["quality_checks"]["distribution"] == "autopack"
    text = cli("plugins", env=env_with(plugin_path)).stdout.decode()
    assert "goodplug  (acme-plugins 1.2.3)  goodplug_mod" in text and "    register_commands" in text


def test_a_plugin_with_an_unknown_hook_is_reported(cli, tmp_path):
    path = fake_distribution(
        tmp_path / "s2",
        "typo-plug",
        {"typo": "typo_mod"},
        {
            "typo_mod": (
                "from autopack_core.hookspecs import hookimpl\n@hookimpl\ndef register_provider(register):\n    pass\n"
            )
        },
    )
    res = cli("plugins", env=env_with(path))
    assert res.returncode == 0
    assert "plugin 'typo' (typo-plug) failed to load" in res.stderr.decode()
    assert "register_provider" in res.stderr.decode()


PLUGIN_PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "autopack-hello"
version = "0.4.2"

[project.entry-points.autopack]
hello = "autopack_hello"
"""

PLUGIN_MODULE = """
import asyncio
import click
from autopack_core.contracts import CheckOutcome
from autopack_core.hookspecs import hookimpl


class AlwaysGreen:
    description = "passes"

    async def run(self, workspace, options):
        return CheckOutcome(passed=True, output="green from autopack-hello")


@hookimpl
def register_quality_checks(register):
    register("always-green", AlwaysGreen())


@hookimpl
def register_commands(cli):
    @cli.command(name="hello")
    def hello():
        '''Run the always-green check.'''
        from autopack_core.plugins import load_plugins
        check = load_plugins().registry("quality_checks")["always-green"].obj
        click.echo(asyncio.run(check.run(".", {})).output)
"""


@pytest.mark.slow
def test_a_separately_installed_plugin_package_is_used(tmp_path):
    vpy = install_plugin_package(
        tmp_path, "autopack-hello", {"pyproject.toml": PLUGIN_PYPROJECT, "autopack_hello.py": PLUGIN_MODULE}
    )

    def run(*a: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(vpy), "-m", "autopack_core.cli", *a], capture_output=True, text=True, timeout=120)

    listed = run("plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    hello = next(p for p in json.loads(listed.stdout)["plugins"] if p["name"] == "hello")
    assert (hello["distribution"], hello["version"]) == ("autopack-hello", "0.4.2")
    assert hello["hooks"] == ["register_commands", "register_quality_checks"]
    called = run("hello")
    assert called.returncode == 0, called.stderr
    assert called.stdout == "green from autopack-hello\n"
    # The outer environment does not see it: the install really went into the venv.
    assert (
        "autopack-hello"
        not in subprocess.run(
            [sys.executable, "-m", "autopack_core.cli", "plugins"], capture_output=True, text=True
        ).stdout
    )
