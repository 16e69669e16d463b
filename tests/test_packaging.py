"""A non-editable install ships every package and the built-in defaults."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed_in_pyproject():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(data["tool"]["setuptools"]["packages"])
    for init in (ROOT / "autopack_core").rglob("__init__.py"):
        name = ".".join(init.parent.relative_to(ROOT).parts)
        assert name in listed, f"{name} is not in [tool.setuptools] packages: a wheel would leave it out"


def test_builtin_defaults_are_package_data():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "defaults/*.yaml" in data["tool"]["setuptools"]["package-data"]["autopack_core"]
    assert {p.name for p in (ROOT / "autopack_core" / "defaults").glob("*.yaml")} == {"models.yaml", "cassette.yaml"}


def test_every_provider_plugin_has_an_entry_point():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    eps = data["project"]["entry-points"]["autopack"]
    for module in (ROOT / "plugins").glob("provider_*.py"):
        assert eps.get(module.stem) == f"autopack_plugins.{module.stem}"
