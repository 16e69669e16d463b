"""The layers hold: lower modules do not load higher ones, and the import contracts are kept."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def loaded_after(statement: str) -> set[str]:
    """The autopack modules a fresh interpreter has loaded after ``statement``."""
    code = (
        f"import sys, json\n{statement}\nprint(json.dumps(sorted(m for m in sys.modules if m.startswith('autopack'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out))


def test_importing_the_router_does_not_load_patching():
    mods = loaded_after("import autopack_core.router")
    assert "autopack_core.router" in mods
    assert not {m for m in mods if m.startswith("autopack_core.patching")}, mods


@pytest.mark.parametrize(
    "module, never",
    [
        ("autopack_core.http", "autopack_core.patching"),
        ("autopack_core.config", "autopack_core.config_load"),
        ("autopack_core.projections", "autopack_core.store"),
        ("autopack_core.patching.governance", "autopack_core.patching.apply"),
        ("autopack_core.events", "autopack_core.store"),
    ],
)
def test_a_lower_module_does_not_load_a_higher_one(module, never):
    assert never not in loaded_after(f"import {module}")


def test_the_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


def test_every_module_has_a_layer():
    import re
    import tomllib

    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["id"] == "layers")["layers"]
    listed = {m.strip() for line in layers for m in re.split(r"[|:]", line)}
    core = REPO / "autopack_core"
    modules = {f"autopack_core.{p.stem}" for p in core.glob("*.py") if p.stem != "__init__"}
    modules |= {f"autopack_core.{p.name}" for p in core.iterdir() if (p / "__init__.py").is_file()}
    missing = sorted(modules - listed)
    assert not missing, f"add {missing} to a layer in pyproject.toml [tool.importlinter] and docs/architecture.md"
    assert not listed - modules, f"the layers name modules that do not exist: {sorted(listed - modules)}"
