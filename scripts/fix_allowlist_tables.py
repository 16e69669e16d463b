"""Print the built-in fix types' allowlists as the Markdown tables of docs/execute-fix.md.

The tables in the docs are generated from the data, and tests/test_fix_docs.py checks that
they still match it: `python scripts/fix_allowlist_tables.py` prints what belongs between the
`<!-- allowlist tables -->` markers.
"""

from __future__ import annotations

from collections.abc import Iterator

from autopack_plugins.fix_types import FILE_PROGRAMS, GIT, PYTHON

from autopack_core.fixrules import Cmd, Opt

OPERANDS = {
    "none": "none",
    "paths": "paths",
    "rev-or-path": "revisions or paths (paths after `--`)",
    "revs": "revisions",
    "branches": "branch names",
    "text": "free text",
}
HEADER = "| command | options | operands | notes |\n|---|---|---|---|"


def _opt(o: Opt) -> str:
    names = " ".join(n for n in (f"-{o.short}" if o.short else "", f"--{o.long}" if o.long else "") if n)
    if o.value:
        v = "\\|".join(o.choices) if o.choices else o.value.upper()
        names += f"[={v}]" if o.optional else f" {v}"
    if o.once:
        names += " (once)"
    return f"`{names}`"


def _operands(c: Cmd) -> str:
    a = OPERANDS[c.args]
    if c.min_args:
        a += f" (at least {c.min_args})"
    if c.max_args is not None:
        a += f" (at most {c.max_args})"
    if not c.root_ok and c.args == "paths":
        a += "; never the workspace root"
    return a


def _notes(c: Cmd) -> str:
    notes = []
    if c.forced:
        notes.append("always gets " + " ".join(f"`{f}`" for f in c.forced))
    if c.recursive:
        notes.append("recursive: the whole tree is checked")
    if c.summary:
        notes.append(c.summary)
    return "; ".join(notes)


def _row(name: str, c: Cmd) -> str:
    return f"| `{name}` | {', '.join(_opt(o) for o in c.options) or 'none'} | {_operands(c)} | {_notes(c)} |"


def _rows(prefix: str, cmd: Cmd) -> Iterator[str]:
    for name, sub in cmd.subcommands.items():
        if sub.subcommands:
            yield from _rows(f"{prefix} {name}", sub)
        else:
            yield _row(f"{prefix} {name}", sub)


def tables() -> str:
    top = GIT.command
    git = [
        HEADER,
        f"| `git` (before the subcommand) | {', '.join(_opt(o) for o in top.options)} | "
        f"| {_notes(top)}; `-C` only the workspace root |",
    ]
    git += list(_rows("git", top))
    files = [HEADER] + [_row(p.names[0], p.command) for p in FILE_PROGRAMS]
    python = [HEADER] + list(_rows("python -m", PYTHON.command))
    return "\n".join(
        [
            "#### `git`",
            "",
            *git,
            "",
            "#### `file`",
            "",
            *files,
            "",
            "#### `python` (also spelled `python3`)",
            "",
            *python,
        ]
    )


if __name__ == "__main__":
    print(tables())
