"""Helpers shared by the patch tests: snapshots of a directory and real git."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from autopack_core.testing import GIT_ENV


def git(
    cwd: str | os.PathLike[str], *args: str, input: bytes | None = None, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    """Run git in ``cwd`` with the test kit's isolated environment; never
    wander up into an enclosing repository."""
    env = {**os.environ, **GIT_ENV, "GIT_CEILING_DIRECTORIES": str(Path(cwd).resolve().parent)}
    return subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, check=check, env=env)


__all__ = ["git", "snapshot", "git_apply", "write_tree", "git_diff_between"]


def snapshot(root: Path) -> dict[str, tuple[str, bytes, bool]]:
    """Every entry under ``root`` (files, links, dirs) with its bytes and
    executable bit; ``.git`` is skipped only at the top (the workspace's own)."""
    out: dict[str, tuple[str, bytes, bool]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.fsencode(os.readlink(full)), False)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", b"", False)
            else:
                out[rel] = ("file", Path(full).read_bytes(), bool(st.st_mode & 0o100))
    return out


def write_tree(root: Path, files: dict[str, bytes], exec_paths: frozenset[str] = frozenset()) -> None:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.chmod(p, 0o755 if rel in exec_paths else 0o644)


def git_apply(root: Path, patch: bytes, *extra: str) -> subprocess.CompletedProcess[bytes]:
    """``git apply`` in a plain directory (not a repository), as a user would."""
    return git(root, "apply", "--whitespace=nowarn", *extra, "-", input=patch, check=False)


def git_diff_between(
    repo: Path, before: dict[str, bytes], after: dict[str, bytes], exec_after: frozenset[str] = frozenset()
) -> bytes:
    """The patch real ``git diff --cached`` writes for ``before`` → ``after``."""
    for rel in list(before):
        (repo / rel).unlink(missing_ok=True)
    write_tree(repo, before)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", "before")
    for rel in before:
        if rel not in after:
            (repo / rel).unlink()
    write_tree(repo, after, exec_after)
    git(repo, "add", "-A")
    return git(repo, "diff", "--cached", "-M").stdout
