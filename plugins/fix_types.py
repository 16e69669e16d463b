"""The built-in fix types: ``git``, ``file``, ``python``; ``docker`` and ``shell`` (off unless configured).

Each allowlist is data (``Program`` / ``Cmd`` / ``Opt`` from
``autopack_core.fixrules``); docs/execute-fix.md shows them as tables and says
why each refused option is refused. Anything not listed here is refused.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import attrs

from autopack_core.contracts import FixContext
from autopack_core.fixrules import (
    FixRefused,
    AllowlistFixType,
    Cmd,
    ConfiguredFixType,
    Opt,
    Parsed,
    Program,
    check_commit,
    refuse,
)
from autopack_core.hookspecs import hookimpl
from autopack_core.patching.governance import matches_any

Q = Opt(long="quiet", short="q")

# --- git -------------------------------------------------------------------------

_CODE = "runs a program or loads code named in the command"
# Options git accepts that execute code, read config from elsewhere, reach
# another repository or the network, or write outside the workspace.
GIT_REFUSED_OPTIONS: dict[str, tuple[str, str]] = {
    "-c": (
        "git-config-override",
        "sets any config for this command (core.pager, core.sshCommand, core.fsmonitor, ...)",
    ),
    "--config-env": ("git-config-override", "sets config from the environment"),
    "--exec-path": ("git-exec-path", "changes where git finds its sub-programs"),
    "--git-dir": ("git-repository-override", "points git at another repository"),
    "--work-tree": ("git-repository-override", "points git at another working tree"),
    "--namespace": ("git-repository-override", "switches the ref namespace"),
    "--bare": ("git-repository-override", "treats a folder as a bare repository"),
    "--super-prefix": ("git-repository-override", "internal option"),
    "-p": ("git-pager", "runs the pager (core.pager, which config can make any program)"),
    "--paginate": ("git-pager", "runs the pager (core.pager, which config can make any program)"),
    "-P": ("option-not-allowed", "--no-pager is spelled out"),
    "--html-path": ("option-not-allowed", "not needed"),
}
# Options of subcommands that run code, reach out, ask a person, or sign.
GIT_SUB_REFUSED: dict[str, tuple[str, str]] = {
    "--upload-pack": ("git-remote-exec", _CODE + " on the remote side"),
    "--receive-pack": ("git-remote-exec", _CODE + " on the remote side"),
    "--exec": ("git-remote-exec", _CODE),
    "--config": ("git-config-override", "sets config for the new repository"),
    "--textconv": ("git-external-diff", "runs the textconv filter programs of the attributes"),
    "--open-files-in-pager": ("git-pager", "runs a pager on the matching files"),
    "--recurse-submodules": ("git-submodule", "acts on submodules, whose config and hooks are not the workspace's"),
    "--template": ("git-hooks", "copies hooks from a template folder"),
    "--interactive": ("interactive", "opens an editor"),
    "-i": ("interactive", "opens an editor"),
    "--edit": ("interactive", "opens an editor"),
    "-e": ("interactive", "opens an editor"),
    "--patch": ("interactive", "asks questions on the terminal"),
    "-p": ("interactive", "asks questions on the terminal"),
    "--no-verify": ("git-hooks", "commands that would need it are not allowed"),
    "--gpg-sign": ("git-signing", "runs gpg.program"),
    "-S": ("git-signing", "runs gpg.program"),
    "--no-index": ("path-outside-workspace", "compares files outside the repository"),
    "--ext-diff": ("git-external-diff", "runs the external diff program of diff.external / GIT_EXTERNAL_DIFF"),
}
_REMOTE = ("remote-transport", "reaches another repository or the network (remote transports run ssh, ext:: commands)")
_REWRITE = ("history-rewrite", "rewrites or expires history the run does not own")
_CONFIG = ("git-config", "changes config (core.*, alias.*, *.hooksPath, filter.*, diff.*.textconv, credential.*)")
GIT_REFUSED_SUBCOMMANDS: dict[str, tuple[str, str]] = {
    **dict.fromkeys(
        [
            "fetch",
            "pull",
            "push",
            "clone",
            "ls-remote",
            "remote",
            "submodule",
            "archive",
            "bundle",
            "send-pack",
            "fetch-pack",
            "upload-pack",
            "receive-pack",
            "upload-archive",
            "daemon",
            "http-backend",
            "request-pull",
            "send-email",
            "imap-send",
        ],
        _REMOTE,
    ),
    **dict.fromkeys(["config", "credential", "credential-store", "credential-cache"], _CONFIG),
    **dict.fromkeys(
        [
            "rebase",
            "filter-branch",
            "filter-repo",
            "update-ref",
            "reflog",
            "gc",
            "prune",
            "replace",
            "commit-tree",
            "am",
            "notes",
            "fast-import",
            "symbolic-ref",
            "repack",
            "prune-packed",
            "pack-refs",
        ],
        _REWRITE,
    ),
    **dict.fromkeys(
        ["difftool", "mergetool", "web--browse", "instaweb", "bisect", "var", "help"], ("git-runs-program", _CODE)
    ),
    "commit": ("git-commit", "commits run hooks and signing; the executor makes the checkpoint commits"),
    "worktree": ("git-repository-override", "creates working trees outside the workspace"),
    "init": ("git-repository-override", "creates a repository (with template hooks)"),
    "hook": ("git-hooks", "runs hooks"),
    "grep": ("git-pager", "grep -O runs a pager; not needed for fixes"),
}

_DIFF_OPTS = (
    Opt(long="stat"),
    Opt(long="name-only"),
    Opt(long="name-status"),
    Opt(long="no-ext-diff"),
    Opt(long="no-textconv"),
    Opt(long="no-color"),
    Opt(long="unified", short="U", value="int"),
    Opt(long="output", value="path"),
    Opt(long="quiet"),
    Opt(long="exit-code"),
    Opt(long="check"),
    Opt(long="ignore-all-space", short="w"),
    Opt(short="R"),
    Opt(long="diff-filter", value="text"),
)
_LOG_OPTS = (
    Opt(long="oneline"),
    Opt(long="max-count", short="n", value="int"),
    Opt(long="graph"),
    Opt(long="decorate"),
    Opt(long="all"),
    Opt(long="format", value="text"),
    Opt(long="pretty", value="text", optional=True),
    Opt(long="patch", short="p"),
    Opt(long="stat"),
    Opt(long="name-only"),
    Opt(long="name-status"),
    Opt(long="no-ext-diff"),
    Opt(long="no-textconv"),
    Opt(long="no-color"),
    Opt(long="output", value="path"),
    Opt(long="since", value="text"),
    Opt(long="until", value="text"),
    Opt(long="author", value="text"),
    Opt(long="grep", value="text"),
    Opt(long="merges"),
    Opt(long="no-merges"),
    Opt(long="first-parent"),
    Opt(long="reverse"),
)


def _reset_check(p: Parsed, ctx: FixContext) -> None:
    # `git reset [<mode>] [<commit>]` moves the branch: only to HEAD or a
    # commit of the run. `git reset [<commit>] -- <paths>` only touches the index.
    # Without "--", git takes the first operand as the commit if it names one
    # and otherwise reads every operand as a path (it refuses a name that is
    # both). So an existing file that is not a run commit is a path to unstage.
    mode = any(p.has(s) for s in ("--soft", "--mixed", "--hard", "--keep", "--merge"))
    target, paths = (p.before[0], p.before[1:] + p.after) if p.before else ("HEAD", p.after)
    try:
        check_commit(target, ctx, "git reset")
    except FixRefused:
        if mode or p.dashdash or not os.path.lexists(os.path.join(ctx.workspace, target)):
            raise
        target, paths = "HEAD", p.before
    if paths and mode:
        raise refuse("option-not-allowed", "git reset: a mode option cannot be combined with paths")


_STASH_REF = re.compile(r"^(?:stash@\{[0-9]{1,4}\}|[0-9]{1,4})$")


def _stash_ref(p: Parsed, ctx: FixContext) -> None:
    for ref in p.operands:
        if not _STASH_REF.match(ref):
            raise refuse("revision", f"{p.name}: {ref!r} is not a stash entry (stash@{{N}} or N)")


def _clean_excludes(p: Parsed, ctx: FixContext) -> list[str]:
    """Keep every protected path: each pattern becomes an exclude (files it
    matches count as ignored, which clean without -x never deletes). Letters
    become [aA] classes because protection ignores case and git does not."""
    out = []
    for pattern in (*ctx.protected.protected_paths, *ctx.protected.exec_protected_paths):
        out.append(f"--exclude=/{_any_case(pattern.lstrip('/'))}")
    return out


def _any_case(glob: str) -> str:
    def bracket(m: re.Match[str]) -> str:
        neg, body = m.group(1), m.group(2)
        return f"[{neg}{body}{body.swapcase()}]" if body.swapcase() != body else m.group(0)

    parts = re.split(r"(\[!?[^\]]*\])", glob)
    return "".join(
        re.sub(r"^\[(!?)([^\]]*)\]$", bracket, part)
        if part.startswith("[")
        else "".join(f"[{c.lower()}{c.upper()}]" if c.isascii() and c.isalpha() else c for c in part)
        for part in parts
    )


def _branch_check(p: Parsed, ctx: FixContext) -> None:
    deleting = p.has("--delete", "-d", "-D")
    forcing = p.has("--force", "-f")
    listing = p.has("--list", "--all", "--remotes", "--show-current", "--verbose")
    names = p.before
    if deleting:
        if not names:
            raise refuse("missing-argument", "git branch -d needs a branch name")
        for n in names:
            _own_branch(n, ctx, "git branch -d")
        return
    if listing:
        if names:
            raise refuse("unexpected-argument", "git branch listing takes no names")
        return
    if len(names) > 2:
        raise refuse("too-many-operands", "git branch NAME [START]")
    if forcing:
        if not names:
            raise refuse("missing-argument", "git branch -f needs a branch name")
        _own_branch(names[0], ctx, "git branch -f")
    if len(names) == 2:
        from autopack_core.fixrules import _REV

        if not _REV.match(names[1]):
            raise refuse("revision", f"git branch: {names[1]!r} is not a revision name")


def _own_branch(name: str, ctx: FixContext, label: str) -> None:
    if name not in ctx.run_branches:
        raise refuse(
            "history-rewrite", f"{label}: {name!r} is not a branch this run created; deleting or moving it is refused"
        )


def _abort_only(what: str) -> Cmd:
    return Cmd(
        options=(Opt(long="abort"),),
        args="revs",
        check=_require("--abort", f"git {what}"),
        refused={"--continue": ("git-commit", "continuing commits (hooks, editor)"), "--skip": _REWRITE},
        summary="--abort only",
    )


def _require(spelling: str, label: str) -> Callable[[Parsed, FixContext], None]:
    def check(p: Parsed, ctx: FixContext) -> None:
        if not p.has(spelling) or p.operands:
            raise refuse("history-rewrite", f"{label}: only '{label} {spelling}' is allowed")

    return check


# diff.external and textconv drivers from config or attributes run on plain
# `git diff` too; these switch them off whatever the config says.
_NO_EXT = ("--no-ext-diff", "--no-textconv")
_SUB_REFUSED = GIT_SUB_REFUSED


def _dest_check(p: Parsed, ctx: FixContext) -> None:
    """cp/mv/git mv into an existing folder write DEST/basename(SOURCE): check that too."""
    from autopack_core.fixpaths import check_path, is_dir

    *sources, dest = p.operands
    dest_rel = check_path(dest, ctx)
    landing = [dest_rel]
    if is_dir(dest_rel, ctx):
        for s in sources:
            base = s.rstrip("/").rsplit("/", 1)[-1]
            landing.append(check_path(f"{dest_rel}/{base}" if dest_rel != "." else base, ctx, root_ok=False))
    for rel in landing:
        # cp and mv keep the executable bit: a file landing in a hooks folder
        # (governance.exec_protected_paths) could become a hook that runs.
        hit = matches_any(rel, ctx.protected.exec_protected_paths)
        if hit:
            raise refuse("exec-bit", f"{p.name}: {rel!r} is in {hit!r}, where executable files become hooks")


GIT_SUBCOMMANDS: dict[str, Cmd] = {
    "status": Cmd(
        options=(
            Opt(long="short", short="s"),
            Opt(long="branch", short="b"),
            Opt(long="porcelain", value="choice", choices=("v1", "v2"), optional=True),
            Opt(long="untracked-files", value="choice", choices=("no", "normal", "all"), optional=True),
            Opt(long="ignored"),
            Opt(short="z"),
            Opt(long="verbose", short="v"),
        ),
        args="paths",
    ),
    "diff": Cmd(
        options=(*_DIFF_OPTS, Opt(long="cached"), Opt(long="staged")),
        forced=_NO_EXT,
        args="rev-or-path",
    ),
    "log": Cmd(options=_LOG_OPTS, args="rev-or-path", numeric="max-count", forced=_NO_EXT),
    "show": Cmd(options=_LOG_OPTS, args="rev-or-path", forced=_NO_EXT),
    "add": Cmd(
        options=(
            Opt(long="all", short="A"),
            Opt(long="update", short="u"),
            Opt(long="intent-to-add", short="N"),
            Opt(long="dry-run", short="n"),
            Opt(long="verbose", short="v"),
        ),
        args="paths",
    ),
    "rm": Cmd(
        options=(Opt(long="cached"), Opt(short="r"), Opt(long="force", short="f"), Q, Opt(long="dry-run", short="n")),
        args="paths",
        min_args=1,
        root_ok=False,
    ),
    "mv": Cmd(
        options=(
            Opt(long="force", short="f"),
            Opt(short="k"),
            Opt(long="dry-run", short="n"),
            Opt(long="verbose", short="v"),
        ),
        args="paths",
        min_args=2,
        root_ok=False,
        check=_dest_check,
    ),
    "restore": Cmd(
        options=(
            Opt(long="staged", short="S"),
            Opt(long="worktree", short="W"),
            Opt(long="source", short="s", value="rev"),
            Opt(long="ours"),
            Opt(long="theirs"),
            Opt(long="merge", short="m"),
            Q,
        ),
        args="paths",
        min_args=1,
    ),
    "checkout": Cmd(
        options=(
            Opt(short="b", value="branch"),
            Opt(long="force", short="f"),
            Opt(long="ours"),
            Opt(long="theirs"),
            Opt(long="merge", short="m"),
            Opt(long="detach"),
            Q,
        ),
        args="rev-or-path",
        dash_operand=True,
        refused={**_SUB_REFUSED, "-B": ("history-rewrite", "resets an existing branch"), "--orphan": _REWRITE},
    ),
    "switch": Cmd(
        options=(
            Opt(long="create", short="c", value="branch"),
            Opt(long="detach", short="d"),
            Opt(long="discard-changes"),
            Opt(long="force", short="f"),
            Q,
        ),
        args="revs",
        max_args=1,
        dash_operand=True,
        refused={**_SUB_REFUSED, "-C": ("history-rewrite", "resets an existing branch"), "--orphan": _REWRITE},
    ),
    "stash": Cmd(
        subcommands={
            "push": Cmd(
                options=(
                    Opt(long="include-untracked", short="u"),
                    Opt(long="keep-index", short="k"),
                    Opt(long="message", short="m", value="text"),
                    Q,
                ),
                args="paths",
                # -a/--all stashes ignored files: Autopack's own .autopack/ state.
                refused={
                    **_SUB_REFUSED,
                    "--all": ("autopack-dir", "would stash ignored files, .autopack/ among them"),
                    "-a": ("autopack-dir", "would stash ignored files, .autopack/ among them"),
                },
            ),
            # The old spelling of push: its operands are the message, not paths.
            "save": Cmd(
                options=(Opt(long="include-untracked", short="u"), Opt(long="keep-index", short="k"), Q),
                args="text",
                refused={
                    **_SUB_REFUSED,
                    "--all": ("autopack-dir", "would stash ignored files, .autopack/ among them"),
                    "-a": ("autopack-dir", "would stash ignored files, .autopack/ among them"),
                },
            ),
            "pop": Cmd(options=(Opt(long="index"), Q), args="revs", max_args=1, check=_stash_ref),
            "apply": Cmd(options=(Opt(long="index"), Q), args="revs", max_args=1, check=_stash_ref),
            "drop": Cmd(options=(Q,), args="revs", max_args=1, check=_stash_ref),
            "list": Cmd(),
            "show": Cmd(
                options=(
                    Opt(long="stat"),
                    Opt(long="patch", short="p"),
                    Opt(long="no-ext-diff"),
                    Opt(long="no-textconv"),
                ),
                args="revs",
                max_args=1,
                forced=_NO_EXT,
                check=_stash_ref,
            ),
        },
        default_subcommand="push",
        refused_subcommands={"clear": ("history-rewrite", "drops every stash"), "create": _REWRITE, "store": _REWRITE},
    ),
    "reset": Cmd(
        options=(
            Opt(long="soft"),
            Opt(long="mixed"),
            Opt(long="hard"),
            Opt(long="keep"),
            Opt(long="merge"),
            Q,
        ),
        args="rev-or-path",
        check=_reset_check,
    ),
    "merge": _abort_only("merge"),
    "rebase": _abort_only("rebase"),
    "cherry-pick": _abort_only("cherry-pick"),
    "revert": _abort_only("revert"),
    "clean": Cmd(
        extra=_clean_excludes,
        options=(
            Opt(long="force", short="f", once=True),
            Opt(short="d"),
            Opt(long="dry-run", short="n"),
            Q,
        ),
        args="paths",
        refused={
            **_SUB_REFUSED,
            "-x": ("git-clean-ignored", "would delete ignored files, .autopack/ and caches among them"),
            "-X": ("git-clean-ignored", "would delete ignored files, .autopack/ and caches among them"),
            "--exclude": ("option-not-allowed", "the protected paths are excluded already"),
        },
        summary=(
            "never -x/-X (ignored files hold .autopack/); -f at most once (-ff deletes nested repositories); "
            "every protected path is passed as --exclude, so clean keeps it"
        ),
    ),
    "rev-parse": Cmd(
        options=(
            Opt(long="abbrev-ref"),
            Opt(long="short", value="int", optional=True),
            Opt(long="verify"),
            Opt(long="quiet", short="q"),
            Opt(long="show-toplevel"),
        ),
        args="rev-or-path",  # rev-parse also accepts paths (to check them)
    ),
    "ls-files": Cmd(
        options=(
            Opt(long="cached", short="c"),
            Opt(long="modified", short="m"),
            Opt(long="deleted", short="d"),
            Opt(long="others", short="o"),
            Opt(long="unmerged", short="u"),
            Opt(long="stage", short="s"),
            Opt(long="exclude-standard"),
            Opt(short="z"),
        ),
        args="paths",
    ),
    "branch": Cmd(
        options=(
            Opt(long="list"),
            Opt(long="all", short="a"),
            Opt(long="remotes", short="r"),
            Opt(long="verbose", short="v"),
            Opt(long="show-current"),
            Opt(long="delete", short="d"),
            Opt(short="D"),
            Opt(long="force", short="f"),
        ),
        args="revs",
        check=_branch_check,
        refused={
            **_SUB_REFUSED,
            "-m": ("history-rewrite", "renames branches"),
            "-M": ("history-rewrite", "renames branches"),
            "-c": ("option-not-allowed", "copies branches"),
            "-C": ("option-not-allowed", "copies branches"),
            "-u": ("git-config", "writes upstream config"),
            "--set-upstream-to": ("git-config", "writes upstream config"),
            "--edit-description": ("interactive", "opens an editor"),
        },
    ),
}
# Every subcommand knows the dangerous options by name, so a refusal says why.


def _with_refused(cmd: Cmd) -> Cmd:
    subs = {k: _with_refused(v) for k, v in cmd.subcommands.items()}
    return attrs.evolve(cmd, subcommands=subs, refused={**_SUB_REFUSED, **cmd.refused})


GIT_SUBCOMMANDS = {k: _with_refused(v) for k, v in GIT_SUBCOMMANDS.items()}

GIT = Program(
    names=("git",),
    command=Cmd(
        options=(
            Opt(long="no-pager"),
            Opt(short="C", value="root"),
            Opt(long="literal-pathspecs"),
            Opt(long="no-optional-locks"),
        ),
        abbrev=False,  # git.c matches its own options exactly
        forced=("--no-pager", "--literal-pathspecs"),
        subcommands=GIT_SUBCOMMANDS,
        refused=GIT_REFUSED_OPTIONS,
        refused_subcommands=GIT_REFUSED_SUBCOMMANDS,
    ),
)

# --- file ------------------------------------------------------------------------

_V = Opt(long="verbose", short="v")
FILE_PROGRAMS = (
    Program(
        names=("mkdir",),
        command=Cmd(options=(Opt(long="parents", short="p"), _V), args="paths", min_args=1, root_ok=False),
    ),
    Program(
        names=("touch",),
        command=Cmd(
            options=(Opt(long="no-create", short="c"), Opt(short="a"), Opt(short="m")),
            args="paths",
            min_args=1,
            root_ok=False,
        ),
    ),
    Program(
        names=("cp",),
        command=Cmd(
            options=(
                Opt(long="recursive", short="r"),
                Opt(short="R"),
                # -a is -dR --preserve=all: recursive, copies links as links.
                Opt(long="archive", short="a"),
                Opt(short="p"),
                Opt(long="force", short="f"),
                Opt(long="no-clobber", short="n"),
                _V,
            ),
            args="paths",
            min_args=2,
            root_ok=False,
            recursive=("--recursive", "-r", "-R", "--archive", "-a"),
            refused={
                "-L": ("symlink-follow", "follows symlinks to wherever they lead"),
                "--dereference": ("symlink-follow", "follows symlinks to wherever they lead"),
                "-s": ("symlink-write", "creates symlinks"),
                "--symbolic-link": ("symlink-write", "creates symlinks"),
                "-t": ("option-not-allowed", "name the destination last instead"),
            },
        ),
    ),
    Program(
        names=("mv",),
        command=Cmd(
            options=(Opt(long="force", short="f"), Opt(long="no-clobber", short="n"), _V),
            args="paths",
            min_args=2,
            root_ok=False,
            recursive=("*",),
        ),
    ),
    Program(
        names=("rm",),
        command=Cmd(
            options=(
                Opt(long="recursive", short="r"),
                Opt(short="R"),
                Opt(long="force", short="f"),
                Opt(long="dir", short="d"),
                _V,
            ),
            args="paths",
            min_args=1,
            root_ok=False,
            recursive=("--recursive", "-r", "-R"),
            refused={
                "--no-preserve-root": ("workspace-root", "removes /"),
                "--preserve-root": ("option-not-allowed", "not needed"),
            },
        ),
    ),
)


FILE_PROGRAMS = tuple(
    attrs.evolve(prog, command=attrs.evolve(prog.command, check=_dest_check)) if prog.names[0] in ("cp", "mv") else prog
    for prog in FILE_PROGRAMS
)

# --- python ----------------------------------------------------------------------

PYTHON = Program(
    names=("python", "python3"),
    subcommand_flag="-m",
    command=Cmd(
        # Isolated mode: the workspace is not on sys.path, so a compileall.py
        # planted there cannot shadow the standard library's; PYTHON* variables
        # are ignored.
        forced=("-I",),
        subcommands={
            "compileall": Cmd(
                options=(
                    Opt(short="q"),
                    Opt(short="f"),
                    Opt(short="l"),
                    Opt(short="j", value="int"),
                    Opt(short="r", value="int"),
                    Opt(short="o", value="int"),
                    Opt(short="x", value="text"),
                ),
                abbrev=False,
                args="paths",
                min_args=1,  # without paths it compiles sys.path, outside the workspace
                recursive=("*",),
                tree_suffixes=(".py", "__pycache__"),
                summary="compiles the named files and folders (never sys.path)",
            ),
            "py_compile": Cmd(options=(Opt(short="q"),), abbrev=False, args="paths", min_args=1),
        },
        refused={
            "-c": ("python-code", "runs code given on the command line"),
            "-X": ("python-option", "interpreter options are refused"),
            "-W": ("python-option", "interpreter options are refused"),
            "-i": ("interactive", "opens an interactive interpreter"),
        },
        refused_subcommands={
            **dict.fromkeys(
                ("pip", "ensurepip", "venv"),
                (
                    "python-pip",
                    "installing runs the workspace's build backend code (setup.py) and reaches the network; refused",
                ),
            ),
            **dict.fromkeys(
                (
                    "http.server",
                    "smtpd",
                    "ftplib",
                    "webbrowser",
                    "pydoc",
                    "code",
                    "pdb",
                    "runpy",
                    "timeit",
                    "cProfile",
                    "profile",
                    "trace",
                    "doctest",
                    "unittest",
                    "pytest",
                ),
                ("module-not-allowed", "runs code or serves the network; only compileall and py_compile are allowed"),
            ),
        },
    ),
)


def fix_types() -> list[object]:
    return [
        AllowlistFixType(
            "git", "git working-tree, index, stash and branch fixes; no remotes, config or rewrites", [GIT]
        ),
        AllowlistFixType("file", "mkdir, touch, cp, mv, rm of paths inside the workspace", FILE_PROGRAMS),
        AllowlistFixType("python", "python -m compileall / py_compile of workspace paths", [PYTHON]),
        ConfiguredFixType(
            "docker", "docker commands listed exactly in doctor.fix_types.docker.allow", programs=("docker",)
        ),
        ConfiguredFixType("shell", "any command listed exactly in doctor.fix_types.shell.allow"),
    ]


@hookimpl
def register_fix_types(register: Callable[..., None]) -> None:
    for t in fix_types():
        register(t.name, t)  # type: ignore[attr-defined]
