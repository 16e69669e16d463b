"""Regenerate docs/state-machines.md from autopack_core/machines.py."""

from pathlib import Path

from autopack_core.machines import diagrams_markdown

target = Path(__file__).resolve().parent.parent / "docs" / "state-machines.md"
target.write_text(diagrams_markdown())
print(f"wrote {target}")
