"""gitops against the real git CLI on real repositories."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autopack_core.errors import WorkspaceError
from autopack_core.gitops import AUTOPACK_AUTHOR, GitWorkspace
from autopack_core.testing import GIT_ENV, make_git_workspace

ENV = {**os.environ, **GIT_ENV}


def git(repo: Path, *args: str, check: bool = True) -> str:
    r = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, env=ENV, check=False)
    if check and r.returncode:
        raise AssertionError(f"git {args}: {r.stderr.decode()}")
    return r.stdout.decode("utf-8", "surrogateescape")


def status(repo: Path) -> list[str]:
    out = git(repo, "status", "--porcelain", "-uall", "-z", "--no-renames")
    return sorted(x for x in out.split("\0") if x)


def status_paths(repo: Path) -> list[str]:
    return sorted({x[3:] for x in status(repo)})


def ls_tree(repo: Path, rev: str = "HEAD") -> str:
    return git(repo, "ls-tree", "-r", "-z", "--full-tree", rev)


def twin(repo: Path, dest: Path) -> Path:
    shutil.copytree(repo, dest, symlinks=True)
    return dest


FILES = {
    "README.md": "hello\n",
    "src/app.py": "def main():\n    return 1\n",
    "src/util/helpers.py": "X = 1\n",
    "docs/guide.md": "guide\n",
    ".gitignore": "*.log\nbuild/\n",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_git_workspace(tmp_path / "ws", FILES)


def mess_up(repo: Path) -> None:
    """Every kind of change a run can make."""
    (repo / "README.md").write_text("changed\n")
    (repo / "src/util/helpers.py").unlink()
    (repo / "src/new_mod.py").write_text("NEW = 1\n")
    (repo / "deep/er/dir").mkdir(parents=True)
    (repo / "deep/er/dir/file.txt").write_text("deep\n")
    (repo / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(repo / "run.sh", 0o755)
    os.chmod(repo / "docs/guide.md", 0o755)
    os.symlink("src/app.py", repo / "link-to-app")
    (repo / "with space & 'quotes'.txt").write_text("odd\n")
    (repo / "caf\u00e9 \u2603.txt").write_text("unicode\n")
    (repo / "tab\there.txt").write_text("tab\n")
    (repo / "debug.log").write_text("ignored\n")
    (repo / "build").mkdir()
    (repo / "build/out.bin").write_bytes(b"\0\1\2")
    (repo / ".autopack").mkdir()
    (repo / ".autopack/autopack.db").write_bytes(b"SQLite format 3\0")
    (repo / "bin.dat").write_bytes(b"\0binary\xff")


# --- opening ---------------------------------------------------------------


def test_not_a_repository_is_a_workspace_error(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="not a git repository"):
        GitWorkspace(tmp_path)
    with pytest.raises(WorkspaceError, match="no such directory"):
        GitWorkspace(tmp_path / "missing")


def test_head_and_branch(repo: Path) -> None:
    ws = GitWorkspace(repo)
    assert ws.head() == git(repo, "rev-parse", "HEAD").strip()
    assert ws.current_branch() == "main"
    assert ws.start_point() == ("main", ws.head())
    assert ws.tracked_paths() == sorted(git(repo, "ls-files", "-z").split("\0")[:-1])


# --- checkpoint ------------------------------------------------------------


def test_checkpoint_stages_like_git_add_all(repo: Path, tmp_path: Path) -> None:
    mess_up(repo)
    other = twin(repo, tmp_path / "twin")
    ws = GitWorkspace(repo)
    ws.ensure_state_excluded()
    sha = ws.checkpoint("phase one done", trailers={"Autopack-Run": "r1", "Autopack-Phase": "p1"})
    git(other, "add", "-A")
    git(other, "reset", "-q", "--", ".autopack")  # git itself would commit it: autopack never does
    git(other, "commit", "-q", "-m", "x")
    assert ls_tree(repo) == ls_tree(other)
    assert sha == git(repo, "rev-parse", "HEAD").strip()
    assert status(repo) == []  # the index was rewritten and git trusts it
    git(repo, "fsck", "--strict", "--no-dangling")
    assert ".autopack/autopack.db" not in git(repo, "ls-files")
    fmt = git(repo, "log", "-1", "--format=%an <%ae>%n%cn <%ce>%n%P%n%B")
    author, committer, parent, *body = fmt.split("\n")
    assert author == committer == AUTOPACK_AUTHOR.decode()
    assert parent == git(repo, "rev-parse", "HEAD~1").strip()
    assert "phase one done" in body
    trailers = git(repo, "log", "-1", "--format=%(trailers:only,unfold)").strip().splitlines()
    assert trailers == ["Autopack-Run: r1", "Autopack-Phase: p1"]


def test_checkpoint_then_git_cli_keeps_working(repo: Path) -> None:
    # The index autopack writes must not carry a stale cache-tree: a later `git commit` builds the right tree.
    git(repo, "commit", "-q", "--allow-empty", "-m", "git writes a cache-tree")
    (repo / "src/app.py").write_text("changed by run\n")
    GitWorkspace(repo).checkpoint("cp")
    (repo / "docs/guide.md").write_text("changed by user\n")
    git(repo, "commit", "-q", "-am", "user")
    assert git(repo, "show", "HEAD:src/app.py") == "changed by run\n"
    assert git(repo, "show", "HEAD:docs/guide.md") == "changed by user\n"
    assert status(repo) == []


def test_checkpoint_with_nothing_changed_still_commits(repo: Path) -> None:
    ws = GitWorkspace(repo)
    before = ws.head()
    sha = ws.checkpoint("empty", trailers={"Autopack-Phase": "p0"})
    assert sha != before and git(repo, "rev-parse", "HEAD~1").strip() == before
    assert ls_tree(repo, "HEAD") == ls_tree(repo, "HEAD~1")


def test_hooks_never_run(repo: Path, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for name in ("pre-commit", "commit-msg", "prepare-commit-msg", "post-commit", "reference-transaction"):
        for folder in (hooks, repo / ".git" / "hooks"):
            h = folder / name
            h.write_text(f"#!/bin/sh\necho {name} >> {canary}\nexit 1\n")
            h.chmod(0o755)
    git(repo, "config", "core.hooksPath", str(hooks))
    (repo / "README.md").write_text("x\n")
    ws = GitWorkspace(repo)
    ws.checkpoint("cp")
    ws.rescue("autopack/rescue-x", "rescue") if ws.dirty() else None
    ws.create_branch("autopack/pre-run-x", ws.head())
    ws.reset_hard(git(repo, "rev-parse", "HEAD~1").strip())
    assert not canary.exists()
    # the hooks do fire for the git CLI, so the test would see them
    (repo / "README.md").write_text("y\n")
    git(repo, "commit", "-qam", "cli", check=False)
    assert canary.exists()


def test_gpgsign_config_neither_signs_nor_fails(repo: Path, tmp_path: Path) -> None:
    canary = tmp_path / "gpg-called"
    fake_gpg = tmp_path / "fake-gpg"
    fake_gpg.write_text(f"#!/bin/sh\ntouch {canary}\nexit 1\n")
    fake_gpg.chmod(0o755)
    git(repo, "config", "commit.gpgsign", "true")
    git(repo, "config", "gpg.program", str(fake_gpg))
    git(repo, "config", "user.signingkey", "DEADBEEF")
    (repo / "README.md").write_text("signed?\n")
    GitWorkspace(repo).checkpoint("cp")
    assert not canary.exists()
    assert "gpgsig" not in git(repo, "cat-file", "commit", "HEAD")


def test_only_changed_files_are_read(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Files older than the index are trusted from the stat cache; only edited ones are hashed.
    for i in range(50):
        (repo / f"f{i}.txt").write_text(f"{i}\n")
    old = 1_600_000_000
    for p in repo.rglob("*"):
        if ".git" not in p.parts and p.is_file():
            os.utime(p, (old, old))
    ws = GitWorkspace(repo)
    ws.checkpoint("all files")
    reads: list[bytes] = []
    real = GitWorkspace._read_blob

    def counting(self: GitWorkspace, rel: bytes, st: os.stat_result):
        reads.append(rel)
        return real(self, rel, st)

    monkeypatch.setattr(GitWorkspace, "_read_blob", counting)
    (repo / "f7.txt").write_text("seven\n")
    GitWorkspace(repo).checkpoint("one edit")  # a fresh object: the index file itself is trusted
    assert reads == [b"f7.txt"]
    assert git(repo, "show", "HEAD:f7.txt") == "seven\n"


def test_same_size_rewrites_in_quick_succession_are_seen(repo: Path) -> None:
    # "Racily clean" entries: same size, same coarse timestamp. Each must still be committed.
    ws = GitWorkspace(repo)
    for i in range(20):
        (repo / "README.md").write_text(f"v{i:02d}\n")
        ws.checkpoint(f"v{i}")
        assert git(repo, "show", "HEAD:README.md") == f"v{i:02d}\n"
        assert GitWorkspace(repo).dirty() == []


def test_unmerged_index_is_refused(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "other")
    (repo / "README.md").write_text("other\n")
    git(repo, "commit", "-qam", "other")
    git(repo, "checkout", "-q", "main")
    (repo / "README.md").write_text("main\n")
    git(repo, "commit", "-qam", "main")
    git(repo, "merge", "other", check=False)
    ws = GitWorkspace(repo)
    assert "README.md" in ws.dirty()
    with pytest.raises(WorkspaceError, match="unmerged paths"):
        ws.checkpoint("cp")


def test_invalid_trailer_is_refused(repo: Path) -> None:
    with pytest.raises(WorkspaceError, match="trailer"):
        GitWorkspace(repo).checkpoint("cp", trailers={"Bad Key": "v"})
    with pytest.raises(WorkspaceError, match="trailer"):
        GitWorkspace(repo).checkpoint("cp", trailers={"Key": "two\nlines"})


def test_find_commit_by_trailer(repo: Path) -> None:
    ws = GitWorkspace(repo)
    start = ws.head()
    a = ws.checkpoint("a", trailers={"Autopack-Run": "r1", "Autopack-Phase": "p1"})
    b = ws.checkpoint("b", trailers={"Autopack-Run": "r1", "Autopack-Phase": "p2"})
    assert ws.find_commit_by_trailer("Autopack-Phase", "p1") == a
    assert ws.find_commit_by_trailer("Autopack-Phase", "p2", since=start) == b
    assert ws.find_commit_by_trailer("Autopack-Phase", "p1", since=a) is None
    assert ws.find_commit_by_trailer("Autopack-Phase", "p3") is None
    assert ws.find_commit_by_trailer("Autopack-Phase", "p") is None  # whole values only


# --- dirty and the state folder ----------------------------------------------


def test_dirty_matches_git_status(repo: Path) -> None:
    ws = GitWorkspace(repo)
    assert ws.dirty() == []
    mess_up(repo)
    (repo / "docs/staged.md").write_text("staged\n")
    git(repo, "add", "docs/staged.md")
    expected = [p for p in status_paths(repo) if not p.startswith(".autopack")]
    assert ws.dirty() == expected
    assert "debug.log" not in ws.dirty() and "build/out.bin" not in ws.dirty()


def test_dirty_sees_staged_change_reverted_in_worktree(repo: Path) -> None:
    (repo / "README.md").write_text("staged\n")
    git(repo, "add", "README.md")
    (repo / "README.md").write_text("hello\n")
    assert GitWorkspace(repo).dirty() == ["README.md"]
    assert status_paths(repo) == ["README.md"]


def test_state_folder_excluded_through_info_exclude(repo: Path) -> None:
    ws = GitWorkspace(repo)
    (repo / ".autopack").mkdir()
    (repo / ".autopack/autopack.db").write_text("x")
    assert ws.dirty() == []  # never listed, even before the exclude is written
    assert status_paths(repo) == [".autopack/autopack.db"]
    tracked_before = git(repo, "ls-files", "-s")
    ws.ensure_state_excluded()
    ws.ensure_state_excluded()
    assert status_paths(repo) == []
    exclude = (repo / ".git/info/exclude").read_text()
    assert exclude.count("/.autopack/") == 1
    assert git(repo, "ls-files", "-s") == tracked_before
    assert git(repo, "check-ignore", ".autopack/autopack.db").strip() == ".autopack/autopack.db"


def test_state_folder_survives_reset_and_is_not_diffed(repo: Path) -> None:
    ws = GitWorkspace(repo)
    start = ws.head()
    (repo / ".autopack").mkdir()
    (repo / ".autopack/autopack.db").write_text("db")
    (repo / "new.txt").write_text("n\n")
    assert ".autopack" not in ws.diff()
    ws.checkpoint("cp")
    ws.reset_hard(start)
    assert (repo / ".autopack/autopack.db").read_text() == "db"
    assert not (repo / "new.txt").exists()


# --- branches ---------------------------------------------------------------


def test_branches(repo: Path) -> None:
    ws = GitWorkspace(repo)
    head = ws.head()
    assert ws.branch_commit("autopack/pre-run-r1") is None
    ws.create_branch("autopack/pre-run-r1", head)
    ws.create_branch("autopack/pre-run-r1", head)  # idempotent (resume)
    assert git(repo, "rev-parse", "autopack/pre-run-r1").strip() == head
    assert ws.branch_commit("autopack/pre-run-r1") == head
    ws.checkpoint("moves main")
    with pytest.raises(WorkspaceError, match="already exists"):
        ws.create_branch("autopack/pre-run-r1", ws.head())
    with pytest.raises(WorkspaceError, match="invalid branch name"):
        ws.create_branch("bad..name", head)
    with pytest.raises(WorkspaceError, match="no commit"):
        ws.create_branch("x", "0" * 40)
    with pytest.raises(WorkspaceError, match="checked-out"):
        ws.delete_branch("main")
    ws.delete_branch("autopack/pre-run-r1")
    ws.delete_branch("autopack/pre-run-r1")  # idempotent
    assert ws.branch_commit("autopack/pre-run-r1") is None
    assert "pre-run" not in git(repo, "branch", "--list")


def test_packed_refs(repo: Path) -> None:
    git(repo, "branch", "autopack/pre-run-r2")
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git/refs/heads/main").exists()
    ws = GitWorkspace(repo)
    head = ws.head()
    assert ws.branch_commit("autopack/pre-run-r2") == head
    ws.create_branch("autopack/pre-run-r2", head)
    (repo / "README.md").write_text("packed\n")
    sha = ws.checkpoint("on a packed branch")
    assert git(repo, "rev-parse", "main").strip() == sha
    assert "commit (autopack): on a packed branch" in git(repo, "reflog", "main")
    ws.delete_branch("autopack/pre-run-r2")
    assert git(repo, "branch", "--list").split() == ["*", "main"]
    ws.close()


# --- reset ------------------------------------------------------------------


def test_reset_hard_restores_everything(repo: Path, tmp_path: Path) -> None:
    os.chmod(repo / "src/app.py", 0o755)
    os.symlink("README.md", repo / "readme-link")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "exec bit and symlink")
    ws = GitWorkspace(repo)
    start = ws.head()
    pristine = ls_tree(repo)
    mess_up(repo)
    ws.checkpoint("phase 1")
    (repo / "readme-link").unlink()
    (repo / "readme-link").write_text("now a file\n")
    os.chmod(repo / "src/app.py", 0o644)
    shutil.rmtree(repo / "docs")
    (repo / "docs").write_text("a file where a folder was\n")
    (repo / "uncommitted.txt").write_text("patch applied, then rollback\n")
    ws.reset_hard(start)
    assert git(repo, "rev-parse", "HEAD").strip() == start
    assert git(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert status(repo) == ["?? .autopack/autopack.db"]  # not excluded in this test: git lists it, we don't
    assert ls_tree(repo) == pristine
    assert os.readlink(repo / "readme-link") == "README.md"
    assert os.access(repo / "src/app.py", os.X_OK)
    assert (repo / "src/util/helpers.py").read_text() == "X = 1\n"
    for gone in ("run.sh", "src/new_mod.py", "deep", "uncommitted.txt", "link-to-app", "bin.dat"):
        assert not os.path.lexists(repo / gone), gone
    # ignored files and the state folder stay
    assert (repo / "debug.log").exists() and (repo / "build/out.bin").exists()
    assert (repo / ".autopack/autopack.db").exists()
    # git agrees the index matches the worktree (no stale stat info)
    assert git(repo, "diff-files", "--name-only") == ""


def test_reset_does_not_write_through_a_symlink(repo: Path, tmp_path: Path) -> None:
    # The run replaced the folder src/ with a link to a folder outside the workspace.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "app.py").write_text("victim\n")
    ws = GitWorkspace(repo)
    start = ws.head()
    shutil.rmtree(repo / "src")
    os.symlink(outside, repo / "src")
    assert "src/app.py" in ws.dirty()
    ws.checkpoint("src is a link now")
    assert git(repo, "cat-file", "-t", "HEAD:src").strip() == "blob"  # a symlink, not the outside files
    ws.reset_hard(start)
    assert (outside / "app.py").read_text() == "victim\n"
    assert sorted(os.listdir(outside)) == ["app.py"]
    assert not os.path.islink(repo / "src") and (repo / "src/app.py").read_text() == FILES["src/app.py"]
    assert status(repo) == []


def test_reset_on_detached_head_moves_head(repo: Path) -> None:
    ws = GitWorkspace(repo)
    start = ws.head()
    git(repo, "checkout", "-q", "--detach")
    assert ws.current_branch() is None
    with pytest.raises(WorkspaceError, match="detached"):
        ws.start_point()
    (repo / "README.md").write_text("detached work\n")
    sha = ws.checkpoint("on detached head")
    assert git(repo, "rev-parse", "HEAD").strip() == sha
    assert git(repo, "rev-parse", "main").strip() == start  # no branch moved
    ws.reset_hard(start)
    assert git(repo, "rev-parse", "HEAD").strip() == start
    assert status(repo) == []


def test_unborn_branch(tmp_path: Path) -> None:
    repo = tmp_path / "empty"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    ws = GitWorkspace(repo)
    assert ws.head() is None and ws.current_branch() == "main"
    with pytest.raises(WorkspaceError, match="no commits yet"):
        ws.start_point()
    assert ws.dirty() == [] and ws.diff() == "" and ws.tracked_paths() == []
    assert ws.rescue("autopack/rescue", "nothing") is None
    assert ws.find_commit_by_trailer("A", "b") is None
    (repo / "a.txt").write_text("a\n")
    assert ws.dirty() == ["a.txt"]
    assert "new file mode 100644" in ws.diff()
    sha = ws.checkpoint("root")
    assert git(repo, "rev-list", "--parents", "HEAD").strip() == sha
    assert git(repo, "rev-parse", "main").strip() == sha
    assert status(repo) == []


# --- diff -------------------------------------------------------------------


def test_diff_applies_with_git_and_reproduces_the_worktree(repo: Path, tmp_path: Path) -> None:
    ws = GitWorkspace(repo)
    base = ws.head()
    pristine = twin(repo, tmp_path / "pristine")
    mess_up(repo)
    (repo / "empty.txt").write_text("")
    (repo / "src/app.py").write_text("def main():\n    return 2\n\n\ndef extra():\n    pass\n")
    (repo / "no-eol.txt").write_text("no newline at end")
    text = ws.diff()
    assert "debug.log" not in text and ".autopack" not in text and "build/" not in text
    # A binary file is the one thing a text diff cannot carry: apply the rest, copy it over.
    sections = text.split("diff --git ")
    assert [s for s in sections if "Binary files /dev/null and b/bin.dat differ" in s]
    patch = tmp_path / "p.diff"
    patch.write_text("diff --git ".join(s for s in sections if "Binary files" not in s), errors="surrogateescape")
    git(pristine, "apply", str(patch))
    (pristine / "bin.dat").write_bytes((repo / "bin.dat").read_bytes())
    git(pristine, "add", "-A")
    twin_repo = twin(repo, tmp_path / "twin")
    git(twin_repo, "add", "-A")
    git(twin_repo, "reset", "-q", "--", ".autopack")
    assert git(pristine, "write-tree") == git(twin_repo, "write-tree")
    assert git(pristine, "diff", "--cached", "--no-renames", base, "--name-status") == git(
        twin_repo, "diff", "--cached", "--no-renames", base, "--name-status"
    )


def test_diff_text_matches_git_on_simple_changes(repo: Path, tmp_path: Path) -> None:
    body = "".join(f"    def m{i}(self):\n        return {i}\n\n" for i in range(12))
    (repo / "src/app.py").write_text(f"import os\n\n\nclass App:\n{body}")
    git(repo, "commit", "-qam", "a class")
    ws = GitWorkspace(repo)
    # two hunks, each headed by the nearest line starting with a letter (git's default funcname)
    (repo / "src/app.py").write_text(
        f"import os\n\n\nclass App:\n{body}".replace("return 2\n", "return 'two'\n").replace(
            "return 10", "return 1 + 9"
        )
    )
    (repo / "README.md").write_text("hello\nworld\n")
    (repo / "src/util/helpers.py").unlink()
    (repo / "new file.txt").write_text("one\ntwo\n")
    (repo / "caf\u00e9.txt").write_text("x\n")
    (repo / "bin.dat").write_bytes(b"\0\1")
    (repo / "empty").write_text("")
    os.chmod(repo / "docs/guide.md", 0o755)
    os.symlink("README.md", repo / "ln")
    other = twin(repo, tmp_path / "twin")
    git(other, "add", "-A")
    expected = git(other, "diff", "--cached", "--no-renames", "--no-color", "HEAD")
    assert "@@ -9,7 +9,7 @@ class App:" in expected, expected
    assert ws.diff() == expected


def test_diff_against_an_older_base(repo: Path) -> None:
    ws = GitWorkspace(repo)
    base = ws.head()
    (repo / "README.md").write_text("phase 1\n")
    ws.checkpoint("p1")
    (repo / "docs/guide.md").write_text("phase 2\n")
    assert "README.md" not in ws.diff()
    both = ws.diff(base)
    assert "+phase 1" in both and "+phase 2" in both


# --- rescue and worktree_matches ----------------------------------------------


def test_rescue_keeps_changes_without_touching_anything(repo: Path) -> None:
    ws = GitWorkspace(repo)
    ws.ensure_state_excluded()
    assert ws.rescue("autopack/rescue-r1", "rescue") is None
    mess_up(repo)
    git(repo, "add", "src/new_mod.py")
    before_status, before_index = status(repo), git(repo, "ls-files", "-s", "--debug")
    head = ws.head()
    sha = ws.rescue("autopack/rescue-r1", "uncommitted changes before run r1")
    assert sha is not None
    assert status(repo) == before_status and git(repo, "ls-files", "-s", "--debug") == before_index
    assert ws.head() == head and ws.current_branch() == "main"
    assert git(repo, "rev-parse", "autopack/rescue-r1").strip() == sha
    assert git(repo, "rev-parse", "autopack/rescue-r1~1").strip() == head
    assert git(repo, "show", f"{sha}:README.md") == "changed\n"
    assert git(repo, "show", f"{sha}:run.sh") == "#!/bin/sh\necho hi\n"
    names = git(repo, "ls-tree", "-r", "--name-only", sha)
    assert "debug.log" not in names and ".autopack" not in names and "src/util/helpers.py" not in names
    with pytest.raises(WorkspaceError, match="already exists"):
        ws.rescue("autopack/rescue-r1", "again")
    # the usual sequence: rescue, then reset to HEAD; the changes are recoverable from the branch
    ws.reset_hard(head)
    assert status(repo) == []
    git(repo, "checkout", "-q", "autopack/rescue-r1", "--", ".")
    assert (repo / "README.md").read_text() == "changed\n"


def test_worktree_matches(repo: Path) -> None:
    ws = GitWorkspace(repo)
    head = ws.head()
    assert ws.worktree_matches(head)
    (repo / "README.md").write_text("edit\n")
    assert not ws.worktree_matches(head)
    sha = ws.checkpoint("cp")
    assert ws.worktree_matches(sha) and not ws.worktree_matches(head)
    (repo / "untracked.txt").write_text("u\n")
    assert not ws.worktree_matches(sha)
    (repo / "untracked.txt").unlink()
    (repo / "ignored.log").write_text("i\n")
    assert ws.worktree_matches(sha)


# --- a property: any sequence of edits checkpoints like git and resets back ------------

NAMES = st.sampled_from(["a.txt", "b.py", "sub/c.txt", "sub/deeper/d.md", "x y.txt", "sub/e.log"])
OPS = st.lists(
    st.tuples(
        st.sampled_from(["write", "delete", "chmod", "symlink"]),
        NAMES,
        st.text(alphabet="ab\n", max_size=8),
    ),
    max_size=12,
)


def _apply(repo: Path, ops: list[tuple[str, str, str]]) -> None:
    for op, name, text in ops:
        p = repo / name
        if op == "delete":
            if os.path.lexists(p):
                p.unlink()
            continue
        if not all(not os.path.lexists(q) or q.is_dir() and not q.is_symlink() for q in p.parents if repo in q.parents):
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(p) and (p.is_symlink() or not p.is_file()):
            if p.is_dir() and not p.is_symlink():
                continue
            p.unlink()
        if op == "write":
            p.write_text(text)
        elif op == "chmod":
            if p.exists():
                os.chmod(p, p.stat().st_mode ^ 0o111)
        else:
            if os.path.lexists(p):
                p.unlink()
            os.symlink(text or "target", p)


@settings(max_examples=25, deadline=None)
@given(first=OPS, second=OPS)
def test_property_checkpoint_equals_git_and_reset_restores(tmp_path_factory, first, second) -> None:
    base = tmp_path_factory.mktemp("prop")
    repo = make_git_workspace(base / "ws", {"a.txt": "a\n", "sub/c.txt": "c\n", ".gitignore": "*.log\n"})
    other = twin(repo, base / "twin")
    ws = GitWorkspace(repo)
    start = ws.head()
    pristine = ls_tree(repo)
    _apply(repo, first)
    _apply(other, first)
    ws.checkpoint("first")
    git(other, "add", "-A")
    git(other, "commit", "-q", "--allow-empty", "-m", "first")
    assert ls_tree(repo) == ls_tree(other)
    assert status(repo) == status(other) == []
    _apply(repo, second)
    assert ws.dirty() == status_paths(repo)
    ws.reset_hard(start)
    assert ls_tree(repo) == pristine
    assert status(repo) == []
    assert git(repo, "diff-files", "--name-only") == ""


def test_checkpoint_bench_reports_its_figures() -> None:
    script = Path(__file__).resolve().parent.parent / "scripts" / "bench_checkpoint.py"
    r = subprocess.run(
        [sys.executable, str(script), "--files", "200", "--rounds", "4"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["same_tree"] is True  # the same edits gave the same tree as the git CLI
    for key in ("checkpoint_ms", "checkpoint_fresh_instance_ms", "git_cli_ms", "ratio"):
        assert out[key] > 0, key


def _conflicted_merge(repo: Path) -> str:
    """A real merge stopped on a conflict in a.txt; returns the other branch's sha."""
    base = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "other")
    (repo / "a.txt").write_text("theirs\n")
    git(repo, "commit", "-qam", "theirs")
    other = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-")
    (repo / "a.txt").write_text("ours\n")
    git(repo, "commit", "-qam", "ours")
    assert base != other
    git(repo, "merge", "-q", "other", check=False)
    assert (repo / ".git" / "MERGE_HEAD").exists()
    return other


def test_checkpoint_concludes_a_resolved_merge_as_git_commit_does(tmp_path: Path) -> None:
    repo = make_git_workspace(tmp_path / "ws", {"a.txt": "base\n"})
    other = _conflicted_merge(repo)
    git(repo, "checkout", "--theirs", "a.txt")
    git(repo, "add", "a.txt")
    sha = GitWorkspace(repo).checkpoint("resolve")
    parents = git(repo, "log", "-1", "--format=%P", sha).split()
    assert parents[1:] == [other]
    assert not (repo / ".git" / "MERGE_HEAD").exists()
    assert not (repo / ".git" / "MERGE_MSG").exists()
    assert status(repo) == []
    # git agrees nothing is left to conclude
    assert "merge" not in git(repo, "status").lower()


def test_reset_hard_forgets_an_interrupted_merge_like_git(tmp_path: Path) -> None:
    ours = make_git_workspace(tmp_path / "ours", {"a.txt": "base\n"})
    _conflicted_merge(ours)
    theirs = twin(ours, tmp_path / "theirs")
    head = git(ours, "rev-parse", "HEAD").strip()
    GitWorkspace(ours).reset_hard(head)
    git(theirs, "reset", "-q", "--hard", head)
    for name in ("MERGE_HEAD", "MERGE_MSG", "MERGE_MODE", "AUTO_MERGE"):
        assert (ours / ".git" / name).exists() == (theirs / ".git" / name).exists(), name
    assert not (ours / ".git" / "MERGE_HEAD").exists()
    assert status(ours) == status(theirs) == []
