"""Where a fix command's path arguments lead, decided with the OS.

A path is checked twice: as written (so ``.GIT``, ``.git.`` or ``.autopack``
spelled any way governed apply knows is refused even where the file system
would not fold it), and as the kernel would resolve it (``os.path.realpath``
follows symlinks and applies ``..`` after them, as path lookup does), so a
planted link cannot carry a command outside the workspace or into a protected
path. The matching itself is governed apply's (``patching.governance``): one
definition of "protected" for patches and commands.

This is a check, not a lock: the executor must validate each command right
before running it, not the whole list up front (an earlier command may plant
the link a later one would follow).
"""

from __future__ import annotations

import os
import posixpath
import stat

from autopack_core.contracts import FixContext
from autopack_core.fixtext import FixRefused
from autopack_core.patching import governance as gov

# A recursive command (rm -r, cp -r, compileall DIR) is refused when the tree
# it would touch holds more entries than this: the check must stay bounded.
MAX_TREE_ENTRIES = 20_000


def workspace_root(ctx: FixContext) -> str:
    return os.path.realpath(ctx.workspace)


def _governance(rel: str, ctx: FixContext, arg: str) -> None:
    for refusal in gov.check_path(rel, ctx.protected):
        if refusal.rule in (gov.GIT_DIR, gov.AUTOPACK_DIR, gov.PROTECTED_PATH):
            raise FixRefused(refusal.rule, f"{arg!r}: {refusal.message}")


def check_path(arg: str, ctx: FixContext, *, base: str = "", root_ok: bool = True) -> str:
    """Refuse ``arg`` unless it resolves inside the workspace and outside
    every protected path; return it relative to the workspace root ("." for
    the root itself). ``base`` is the folder (relative to the root) the
    program will run in."""
    if not arg:
        raise FixRefused("empty-argument", "a path argument is empty")
    parts = gov.components(arg)
    for p in parts:
        if gov.is_git_name(p):
            raise FixRefused(gov.GIT_DIR, f"{arg!r}: paths inside .git are never allowed")
        if gov.is_state_name(p):
            raise FixRefused(gov.AUTOPACK_DIR, f"{arg!r}: Autopack's own state folder .autopack/ is protected")
    root = workspace_root(ctx)
    start = os.path.join(root, base) if base else root
    lexical = posixpath.normpath(posixpath.join(start, arg))
    real = os.path.realpath(os.path.join(start, arg))
    for where, label in ((lexical, "climbs"), (real, "resolves")):
        if where != root and not where.startswith(root.rstrip(os.sep) + os.sep):
            how = "through a symlink " if label == "resolves" and lexical != real else ""
            raise FixRefused("path-outside-workspace", f"{arg!r} {label} {how}outside the workspace ({where})")
    for where in (lexical, real):
        rel = os.path.relpath(where, root)
        if rel != ".":
            _governance(rel.replace(os.sep, "/"), ctx, arg)
    rel = os.path.relpath(real, root).replace(os.sep, "/")
    try:
        st = os.lstat(real)
    except OSError:
        st = None
    if st is not None and stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
        # A hard link shares its content with a file that may live outside;
        # writing to it writes there, and no path resolution can tell.
        raise FixRefused("hard-link", f"{arg!r} is a hard link ({st.st_nlink} names); writing through it is refused")
    if rel == "." and not root_ok:
        raise FixRefused("workspace-root", f"{arg!r} is the workspace itself; this command may not act on it")
    return rel


def check_tree(rel: str, ctx: FixContext, arg: str, suffixes: tuple[str, ...] = ()) -> None:
    """For commands that recurse: nothing under ``rel`` may be protected, and
    no symlink under it may lead outside or into a protected path (a tool
    that follows links would go there). With ``suffixes``, the command only
    touches entries with those endings (``compileall`` writes into the
    ``__pycache__`` beside each ``.py`` and never follows a linked folder),
    so only those count."""
    root = workspace_root(ctx)
    top = os.path.join(root, rel)
    try:
        st = os.lstat(top)
    except OSError:
        return
    if not stat.S_ISDIR(st.st_mode):
        return
    seen = 0
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        for name in dirnames + filenames:
            seen += 1
            if seen > MAX_TREE_ENTRIES:
                raise FixRefused("tree-too-large", f"{arg!r} holds more than {MAX_TREE_ENTRIES} entries")
            full = os.path.join(dirpath, name)
            if suffixes and not name.endswith(suffixes):
                continue
            inner = os.path.relpath(full, root).replace(os.sep, "/")
            _governance(inner, ctx, arg)
            if os.path.islink(full):
                target = os.path.realpath(full)
                if target != root and not target.startswith(root.rstrip(os.sep) + os.sep):
                    raise FixRefused(
                        "path-outside-workspace", f"{arg!r} holds a symlink {inner!r} leading outside the workspace"
                    )
                if target != root:
                    _governance(os.path.relpath(target, root).replace(os.sep, "/"), ctx, arg)


def is_dir(rel: str, ctx: FixContext) -> bool:
    return os.path.isdir(os.path.join(workspace_root(ctx), rel))
