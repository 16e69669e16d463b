"""Compare governed apply with ``git apply`` on real diffs.

Give pairs of trees (directories, or wheels/zips, e.g. two releases of a
package). For each pair, real ``git diff -M`` between the two trees is split
into one patch per file; each patch is applied to the file's real pre-image by
``git apply`` and by ``governed_apply`` — as is, and with three lines inserted
at the top of every file (git applies at an offset or refuses) — and the
outcomes (applies or refuses, every resulting byte, workspace untouched on
refusal) are compared. Both directions (old→new, new→old) are used.

    python scripts/patch_vs_git.py OLD NEW [OLD NEW ...]

Prints one JSON object: counts, the agreement rate and the first
disagreements. Exit 1 if any disagreement.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from autopack_core.errors import PatchError
from autopack_core.patching import governed_apply

ENV = {
    **os.environ,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "cmp",
    "GIT_AUTHOR_EMAIL": "cmp@autopack.invalid",
    "GIT_COMMITTER_NAME": "cmp",
    "GIT_COMMITTER_EMAIL": "cmp@autopack.invalid",
}
_NAME_RE = re.compile(rb"^(?:--- a/|\+\+\+ b/|rename from |rename to |copy from )(.+?)\s*$", re.M)


def git(cwd: Path, *args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    env = {**ENV, "GIT_CEILING_DIRECTORIES": str(cwd.parent)}
    return subprocess.run(["git", *args], cwd=cwd, input=input, env=env, capture_output=True, check=check)


def load_tree(src: str) -> dict[str, bytes]:
    p = Path(src)
    if p.is_dir():
        out = {}
        for f in p.rglob("*"):
            rel = f.relative_to(p).as_posix()
            if f.is_file() and not f.is_symlink() and not rel.startswith(".git/"):
                out[rel] = f.read_bytes()
        return out
    with zipfile.ZipFile(p) as z:
        return {n: z.read(n) for n in z.namelist() if not n.endswith("/")}


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)


def snapshot(root: Path) -> dict[str, tuple[str, bytes, bool]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            rel = os.path.relpath(full, root)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.fsencode(os.readlink(full)), False)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", b"", False)
            else:
                out[rel] = ("file", Path(full).read_bytes(), bool(st.st_mode & 0o100))
    return out


def file_patches(pre: dict[str, bytes], post: dict[str, bytes]) -> list[bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp, "repo")
        repo.mkdir()
        git(repo, "init", "-q")
        write_tree(repo, pre)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "--allow-empty", "-m", "pre")
        for rel in pre:
            if rel not in post:
                (repo / rel).unlink()
        write_tree(repo, post)
        git(repo, "add", "-A")
        full = git(repo, "diff", "--cached", "-M").stdout
    return [p for p in re.split(rb"(?m)^(?=diff --git )", full) if p.startswith(b"diff --git ")]


def compare(patch: bytes, tree: dict[str, bytes]) -> tuple[bool, bool, str]:
    """(agree, git applied, detail)."""
    with tempfile.TemporaryDirectory() as tmp:
        ours, theirs = Path(tmp, "ours"), Path(tmp, "theirs")
        for d in (ours, theirs):
            d.mkdir()
            write_tree(d, tree)
        before = snapshot(ours)
        g = git(theirs, "apply", "--whitespace=nowarn", "-", input=patch, check=False)
        try:
            result = governed_apply(patch, ours)
            ok, detail = result.ok, "; ".join(f"{r.path}: {r.rule}" for r in result.refusals)
        except PatchError as exc:
            ok, detail = False, str(exc)
        git_ok = g.returncode == 0
        if ok != git_ok:
            return (
                False,
                git_ok,
                f"ours {'applied' if ok else 'refused: ' + detail}; git: {g.stderr.decode(errors='replace')}",
            )
        if ok and snapshot(ours) != snapshot(theirs):
            return False, git_ok, "different bytes"
        if not ok and snapshot(ours) != before:
            return False, git_ok, "workspace changed after refusal"
        return True, git_ok, ""


def main(argv: list[str]) -> int:
    if len(argv) < 2 or len(argv) % 2:
        print(__doc__, file=sys.stderr)
        return 2
    counts = {"patches": 0, "agree": 0, "git_applied": 0, "git_refused": 0}
    bad: list[dict[str, str]] = []
    for old_src, new_src in zip(argv[::2], argv[1::2], strict=True):
        old, new = load_tree(old_src), load_tree(new_src)
        for pre, post, label in (
            (old, new, f"{old_src} -> {new_src}"),
            (new, old, f"{new_src} -> {old_src}"),
        ):
            for patch in file_patches(pre, post):
                names = {m.group(1).decode(errors="surrogateescape") for m in _NAME_RE.finditer(patch)}
                tree = {n: pre[n] for n in names if n in pre}
                shifted = {n: (b"# inserted\n" * 3 + d if b"\0" not in d else d) for n, d in tree.items()}
                for variant, t in (("exact", tree), ("shifted", shifted)):
                    agree, git_ok, detail = compare(patch, t)
                    counts["patches"] += 1
                    counts["agree"] += agree
                    counts["git_applied" if git_ok else "git_refused"] += 1
                    if not agree and len(bad) < 20:
                        bad.append(
                            {
                                "pair": label,
                                "variant": variant,
                                "detail": detail,
                                "patch_head": patch[:300].decode(errors="replace"),
                            }
                        )
    counts["agreement"] = round(counts["agree"] / counts["patches"], 5) if counts["patches"] else 1.0
    print(json.dumps({**counts, "disagreements": bad}, indent=2))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
