"""docs/execute-fix.md stays true to the code: its allowlist tables are generated from the
built-in fix types' data, and every rule a refusal can name is documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "execute-fix.md"
SOURCES = [
    ROOT / "autopack_core" / "fixtext.py",
    ROOT / "autopack_core" / "fixrules.py",
    ROOT / "autopack_core" / "fixpaths.py",
    ROOT / "plugins" / "fix_types.py",
]


def test_the_allowlist_tables_match_the_data():
    text = DOC.read_text()
    start = text.index("<!-- allowlist tables -->\n") + len("<!-- allowlist tables -->\n")
    end = text.index("\n<!-- end allowlist tables -->")
    generated = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fix_allowlist_tables.py")], capture_output=True, text=True, check=True
    ).stdout.rstrip("\n")
    assert text[start:end] == generated, "run scripts/fix_allowlist_tables.py and paste its output into the docs"


def rule_names() -> set[str]:
    found: set[str] = set()
    for path in SOURCES:
        src = path.read_text()
        found |= set(re.findall(r'(?:refuse|FixRefused)\(\s*"([a-z-]+)"', src))
        found |= set(re.findall(r'\(\s*"([a-z][a-z-]+)",\s*(?:"[^"]* |_CODE|f")', src))
    found |= {"git-dir", "autopack-dir", "protected-path"}  # governance's, raised by name
    return found


def test_every_rule_is_documented():
    text = DOC.read_text()
    names = rule_names()
    assert len(names) > 40
    missing = sorted(n for n in names if f"`{n}`" not in text and not (n.startswith(("git-", "python-", "symlink-"))))
    assert not missing, f"rules not in docs/execute-fix.md: {missing}"
    for n in names:
        assert f"`{n}`" in text or f"`{n.split('-')[0]}-*`" in text, n
