"""The workspace's listing of tracked paths, carried across its own checkpoints.

``GitWorkspace.tracked_paths`` keeps the listing of the index it last read and,
when it writes a checkpoint over that index, updates the listing by the paths
the checkpoint deleted and added instead of listing the whole index again. These
tests hold it to a fresh instance (nothing remembered) and to ``git ls-files``
after every kind of change, including the git CLI changing the index behind it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from autopack_core.gitops import GitWorkspace
from autopack_core.testing import GIT_ENV, make_git_workspace

ENV = {**os.environ, **GIT_ENV}


def git(repo: Path, *args: str) -> str:
    r = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, env=ENV, check=True)
    return r.stdout.decode("utf-8", "surrogateescape")


def ls_files(repo: Path) -> list[str]:
    return sorted(p for p in git(repo, "ls-files", "-z").split("\0") if p and not p.startswith(".autopack/"))


def agrees(ws: GitWorkspace, repo: Path) -> list[str]:
    got = ws.tracked_paths()
    assert got == GitWorkspace(repo).tracked_paths() == ls_files(repo)
    return got


FILES = {"a.txt": "a\n", "sub/b.txt": "b\n", "sub/deep/c.txt": "c\n", ".gitignore": "*.log\n"}


def test_a_checkpoint_carries_the_listing_with_added_and_deleted_paths(tmp_path: Path) -> None:
    repo = make_git_workspace(tmp_path / "ws", FILES)
    ws = GitWorkspace(repo)
    ws.checkpoint("zero")  # from here on the workspace knows its index as the one it wrote
    assert agrees(ws, repo) == [".gitignore", "a.txt", "sub/b.txt", "sub/deep/c.txt"]
    (repo / "sub/b.txt").unlink()
    (repo / "new dir").mkdir()
    (repo / "new dir/n\u00e9.txt").write_text("n\n")
    (repo / "0first.txt").write_text("0\n")
    (repo / "skip.log").write_text("ignored\n")
    (repo / ".autopack").mkdir()
    (repo / ".autopack/autopack.db").write_text("state\n")
    ws.ensure_state_excluded()
    ws.checkpoint("one")
    # Carried, not listed again: the listing belongs to the index the checkpoint wrote.
    assert ws._tracked is not None and ws._tracked[0] is ws._read_index()[0]
    assert agrees(ws, repo) == [".gitignore", "0first.txt", "a.txt", "new dir/n\u00e9.txt", "sub/deep/c.txt"]


def test_the_listing_is_a_copy(tmp_path: Path) -> None:
    repo = make_git_workspace(tmp_path / "ws", FILES)
    ws = GitWorkspace(repo)
    ws.tracked_paths().append("not/tracked.txt")
    assert agrees(ws, repo) == [".gitignore", "a.txt", "sub/b.txt", "sub/deep/c.txt"]


def test_the_git_cli_changing_the_index_is_seen(tmp_path: Path) -> None:
    repo = make_git_workspace(tmp_path / "ws", FILES)
    ws = GitWorkspace(repo)
    ws.checkpoint("one")
    agrees(ws, repo)
    (repo / "staged.txt").write_text("s\n")
    git(repo, "add", "staged.txt")
    git(repo, "rm", "-q", "--cached", "a.txt")
    assert agrees(ws, repo) == [".gitignore", "staged.txt", "sub/b.txt", "sub/deep/c.txt"]


def test_a_checkpoint_after_the_git_cli_changed_the_index_lists_it_afresh(tmp_path: Path) -> None:
    repo = make_git_workspace(tmp_path / "ws", FILES)
    ws = GitWorkspace(repo)
    ws.checkpoint("one")
    agrees(ws, repo)
    (repo / "staged.txt").write_text("s\n")
    git(repo, "add", "staged.txt")
    (repo / "sub/deep/c.txt").unlink()
    # Not listed in between: the listing the workspace holds is of the index before git's change.
    ws.checkpoint("two")
    assert agrees(ws, repo) == [".gitignore", "a.txt", "staged.txt", "sub/b.txt"]


def test_reset_hard_lists_the_commit_again(tmp_path: Path) -> None:
    repo = make_git_workspace(tmp_path / "ws", FILES)
    ws = GitWorkspace(repo)
    start = ws.head()
    (repo / "x.txt").write_text("x\n")
    (repo / "a.txt").unlink()
    ws.checkpoint("one")
    assert "x.txt" in agrees(ws, repo)
    ws.reset_hard(start)
    assert agrees(ws, repo) == [".gitignore", "a.txt", "sub/b.txt", "sub/deep/c.txt"]


NAMES = ["a.txt", "sub/b.txt", "sub/deep/c.txt", "new.txt", "sub/new.txt", "z/y/x.txt", "x.log", "caf\u00e9.txt"]
OPS = st.lists(
    st.tuples(
        st.sampled_from(["write", "delete", "git-add", "git-rm-cached", "checkpoint", "reset"]),
        st.sampled_from(NAMES),
        st.booleans(),
    ),
    max_size=14,
)


@settings(max_examples=30, deadline=None)
@given(ops=OPS)
def test_property_listing_equals_a_fresh_workspace_and_git(tmp_path_factory, ops) -> None:
    repo = make_git_workspace(tmp_path_factory.mktemp("tracked") / "ws", FILES)
    ws = GitWorkspace(repo)
    commits = [ws.head()]
    agrees(ws, repo)
    for i, (op, name, look) in enumerate(ops):
        p = repo / name
        if op == "write":
            if not any(q.is_file() for q in p.parents if repo in q.parents):
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(f"{i}\n")
        elif op == "delete":
            if p.is_file():
                p.unlink()
        elif op == "git-add":
            if p.is_file():
                git(repo, "add", "-f", "--", name)
        elif op == "git-rm-cached":
            git(repo, "rm", "-q", "--cached", "--ignore-unmatch", "--", name)
        elif op == "checkpoint":
            commits.append(ws.checkpoint(f"step {i}"))
        else:
            ws.reset_hard(commits[i % len(commits)])
        if look:  # sometimes not: the next step then starts from a listing of an older index
            agrees(ws, repo)
    agrees(ws, repo)
