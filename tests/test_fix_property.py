"""Property: whatever argv is generated (option soup, abbreviations, bundles, paths with '..',
symlinks planted in the workspace, Unicode, quoting), an allowed command never names a path
outside the workspace or in a protected path, and never carries an option its allowlist lacks.

The oracle reads the allowed argv independently of the parser: the argv a fix type returns is
canonical (long options as ``--name`` or ``--name=value``, short options alone with any value
in the next word, ``--`` before operands), so a simple walk can classify every word.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
from autopack_plugins.fix_types import FILE_PROGRAMS, GIT, PYTHON, fix_types
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autopack_core.contracts import FixContext
from autopack_core.fixrules import Cmd, Program
from autopack_core.patching.governance import GovernancePolicy
from autopack_core.testing import make_git_workspace

PROTECTED = ("secrets/",)
PROGRAMS = {"git": [GIT], "file": list(FILE_PROGRAMS), "python": [PYTHON]}
TYPES = {t.name: t for t in fix_types()}


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("prop")
    root = make_git_workspace(base / "ws", {"src/a.py": "x\n", "secrets/k.txt": "k\n", "README.md": "r\n"})
    (root / ".autopack").mkdir()
    outside = base / "outside"
    outside.mkdir()
    os.symlink(outside, root / "link_out")
    os.symlink(".git", root / "link_git")
    os.symlink("secrets", root / "link_secret")
    os.symlink("src", root / "link_src")
    return root


# --- generation ------------------------------------------------------------------------

PATH_POOL = [
    "src/a.py",
    "src",
    ".",
    "./src",
    "..",
    "../x",
    "../ws/src",
    "/tmp/x",
    "/etc/passwd",
    "/",
    "link_out",
    "link_out/v.txt",
    "link_git/config",
    "link_secret/k.txt",
    "link_src/a.py",
    "link_src/../..",
    ".git",
    ".git/config",
    ".GIT/hooks/x",
    ".git./x",
    ".Git /x",
    "GIT~1/x",
    ".autopack",
    ".AUTOPACK/db",
    "secrets/k.txt",
    "SECRETS/k.txt",
    "secrets",
    "src/../secrets/k.txt",
    "src/../..",
    "src/../README.md",
    "planted",
    "planted/x",
    "new/dir",
    "-rf",
    "caf\u00e9.py",
    ".g\u200cit/x",
    "a b",
    "x'y",
    'x"y',
]
PLANT_TARGETS = ["/", "..", ".git", ".autopack", "secrets", "src", "link_out", "{outside}"]
DANGEROUS = [
    "-c",
    "core.pager=id",
    "--config-env=x=y",
    "--exec-path=/tmp",
    "--git-dir=/tmp",
    "--work-tree=/",
    "-p",
    "--paginate",
    "--output=/tmp/x",
    "--output=../x",
    "--output=link_out/x",
    "--output=src/x.txt",
    "--ext-diff",
    "--textconv",
    "--upload-pack=id",
    "-x",
    "-X",
    "-a",
    "--all",
    "-f",
    "-ff",
    "-D",
    "-B",
    "-C",
    "/tmp",
    "-L",
    "--no-preserve-root",
    "-i",
    "-e",
    "--exec=id",
    "--hard",
    "HEAD~3",
    "main",
    "--",
    "-",
    "-m",
    "-mpip",
    "pip",
    "-W",
]
path_text = st.text(alphabet="ab./-~_", min_size=1, max_size=12)
unicode_text = st.text(min_size=1, max_size=6)


def option_words(cmd: Cmd) -> list[str]:
    """Every spelling the tool would accept for the allowlist's options, including abbreviations."""
    out = []
    for o in cmd.options:
        if o.long:
            out += [f"--{o.long}", f"--{o.long[: max(1, len(o.long) - 2)]}"]
            if o.value:
                out += [f"--{o.long}=src/a.py", f"--{o.long}=3", f"--{o.long}=../x", f"--{o.long}=v2"]
        if o.short:
            out += [f"-{o.short}", f"-{o.short}3", f"-{o.short}src"]
    return out


def commands_of(program: Program) -> list[tuple[list[str], Cmd]]:
    """(words, cmd) for the program and every subcommand level, depth first."""
    out = []

    def walk(words: list[str], cmd: Cmd) -> None:
        out.append((words, cmd))
        for name, sub in cmd.subcommands.items():
            walk([*words, name], sub)

    walk([program.names[0]], program.command)
    return out


@st.composite
def commands(draw: st.DrawFn) -> tuple[str, str, str | None]:
    type_name = draw(st.sampled_from(sorted(PROGRAMS)))
    program = draw(st.sampled_from(PROGRAMS[type_name]))
    words, cmd = draw(st.sampled_from(commands_of(program)))
    if program.subcommand_flag and len(words) > 1:
        words = [words[0], draw(st.sampled_from(["-m"] * 9 + ["-W"])), *words[1:]]
    words = [draw(st.sampled_from([w] * 9 + [w.upper()])) if i == 0 else w for i, w in enumerate(words)]
    listed = option_words(cmd) + option_words(program.command)
    word = st.one_of(
        *[st.sampled_from(listed)] * 4 if listed else [],
        *[st.sampled_from(PATH_POOL)] * 3,
        st.sampled_from(DANGEROUS),
        path_text,
        unicode_text if draw(st.integers(0, 9)) == 0 else path_text,
    )
    soup = draw(st.lists(word, max_size=6))
    argv = words + soup
    quoting = draw(st.sampled_from(["shlex", "plain", "double"]))
    if quoting == "shlex":
        text = shlex.join(argv)
    elif quoting == "plain":
        text = " ".join(argv)
    else:
        text = " ".join(f'"{a}"' if " " in a else a for a in argv)
    plant = draw(st.one_of(st.none(), st.sampled_from(PLANT_TARGETS)))
    return type_name, text, plant


# --- the oracle --------------------------------------------------------------------------


def _is_protected_name(part: str) -> bool:
    p = part.casefold().rstrip(" .")
    return p in (".git", ".autopack", "git~1", "autopa~1") or not part.isascii()


def escapes(token: str, root: Path) -> bool:
    """True if ``token``, read as a path, leaves the workspace or touches a protected path."""
    if any(_is_protected_name(p) for p in token.split("/")):
        return True
    real = os.path.realpath(os.path.join(root, token))
    if real != str(root) and not real.startswith(str(root) + os.sep):
        return True
    rel = os.path.relpath(real, root).casefold()
    parts = rel.split(os.sep)
    return any(_is_protected_name(p) for p in parts) or rel == "secrets" or rel.startswith("secrets" + os.sep)


def allowed_spellings(cmd: Cmd) -> tuple[set[str], dict[str, str]]:
    """Flags, and valued options with the kind of their value."""
    flags = {f"--{o.long}" for o in cmd.options if o.long and not o.value}
    flags |= {f"-{o.short}" for o in cmd.options if o.short and not o.value}
    flags |= {f"--{o.long}" for o in cmd.options if o.long and o.value and o.optional}
    valued = {f"--{o.long}": o.value for o in cmd.options if o.long and o.value}
    valued |= {f"-{o.short}": o.value for o in cmd.options if o.short and o.value}
    return flags | set(cmd.forced), valued


# Values of these kinds are read as paths by the tool; the others (text, int, choice,
# revisions, branch names) are not.
PATH_KINDS = ("path", "root")


def audit(argv: tuple[str, ...], type_name: str, root: Path, ctx: FixContext) -> None:
    programs = {n: p for p in PROGRAMS[type_name] for n in p.names}
    program = programs[argv[0]]
    cmd = program.command
    rest = list(argv[1:])
    if program.subcommand_flag:
        while rest[0] in cmd.forced:
            rest = rest[1:]
        assert rest[0] == program.subcommand_flag
        rest = rest[1:]
    operands: list[str] = []
    values: list[str] = []  # every option value, path or not (for reading argv only)
    path_values: list[str] = []
    i, ended = 0, False
    while i < len(rest):
        word = rest[i]
        i += 1
        if ended:
            operands.append(word)
            continue
        if word == "--":
            ended = True
            continue
        flags, valued = allowed_spellings(cmd)
        if cmd.extra is not None and word in cmd.extra(None, ctx):  # type: ignore[arg-type]
            continue  # added by the fix type itself (git clean's excludes)
        if word.startswith("-"):
            name, eq, value = word.partition("=")
            if eq:
                assert name in valued, f"{argv}: {name} is not an allowed valued option"
                if valued[name] in PATH_KINDS:
                    operands.append(value)
                    path_values.append(value)
                values.append(value)
            elif word in flags:
                pass
            else:
                assert word in valued and not word.startswith("--"), f"{argv}: {word} is not in the allowlist"
                if valued[word] in PATH_KINDS:
                    operands.append(rest[i])
                    path_values.append(rest[i])
                values.append(rest[i])
                i += 1
            continue
        if cmd.subcommands and word in cmd.subcommands:
            cmd = cmd.subcommands[word]
            continue
        assert not cmd.subcommands or cmd.default_subcommand, f"{argv}: {word} is not a subcommand"
        operands.append(word)
    if cmd.args not in ("paths", "rev-or-path"):  # messages, revisions, branch names: never read as paths
        operands = [o for o in operands if o in path_values]
    for token in operands:
        assert not escapes(token, root), f"{argv}: {token!r} leaves the workspace or is protected"


@settings(
    max_examples=int(os.environ.get("FIX_PROPERTY_EXAMPLES", "400")),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    deadline=None,
)
@given(case=commands())
def test_an_allowed_command_never_escapes_and_never_carries_an_unlisted_option(ws, case):
    type_name, text, plant = case
    link = ws / "planted"
    if plant is not None:
        os.symlink(plant.format(outside=ws.parent / "outside"), link)
    try:
        ctx = FixContext(workspace=ws, protected=GovernancePolicy(protected_paths=(".git/", ".autopack/", *PROTECTED)))
        verdict = TYPES[type_name].check(text, ctx)
        if verdict.allowed:
            audit(verdict.argv, type_name, ws, ctx)
        else:
            assert verdict.rule and verdict.reason and not verdict.argv
    finally:
        if link.is_symlink():
            link.unlink()


def test_the_generator_reaches_allowed_commands(ws):
    """The property is not vacuous: ordinary words from the same pools are allowed."""
    ctx = FixContext(workspace=ws)
    assert TYPES["git"].check("git diff --stat src/a.py", ctx).allowed
    assert TYPES["file"].check("rm -rf new/dir", ctx).allowed
    assert TYPES["python"].check("python -m compileall -q src", ctx).allowed
