"""Meta-tests: every hook is documented (with its signature) and has a test."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from autopack_core import hookspecs

ROOT = Path(__file__).resolve().parent.parent
HOOKS = [name for name, obj in vars(hookspecs).items() if callable(obj) and hasattr(obj, "autopack_spec")]


def test_hook_list_is_complete():
    assert sorted(HOOKS) == sorted(hookspecs.HOOK_NAMES)
    assert len(HOOKS) >= 8


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented_with_its_signature(name):
    doc = (ROOT / "docs" / "plugin-hooks.md").read_text()
    params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
    assert f"### `{name}({params})`" in doc


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_docstring_saying_when_and_what(name):
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert "Called" in doc and ":param" in doc and (":return" in doc)


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_test(name):
    sources = "\n".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    assert re.search(rf"def test_hook_{name}\b", sources), f"write test_hook_{name}"
