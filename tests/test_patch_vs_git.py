"""Differential tests: our governed apply against real ``git apply``.

Hypothesis writes random text files into a temporary git repository, edits
them at random, and real ``git diff`` produces the patch. Both appliers get
the same pre-image (exact, shifted by inserted lines, or with a context line
changed) and must agree on whether the patch applies and on every byte of the
result; when ours fails, the workspace must be exactly as before.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autopack_core.errors import PatchApplyError
from autopack_core.patching import governed_apply
from patch_support import git, git_apply, git_diff_between, snapshot, write_tree

# A small vocabulary makes repeated lines common, so offset search has
# several candidate positions and must pick the one git picks.
WORDS = ["alpha", "beta", "gamma", "delta", "", "    indented", "}", "return x", "\t tab", "x = 1  "]

line_st = st.sampled_from(WORDS)


@st.composite
def text_file(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(line_st, min_size=0, max_size=25))
    eol = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    final_newline = draw(st.booleans()) if lines else True
    body = eol.join(lines)
    if lines and final_newline:
        body += eol
    return body.encode()


@st.composite
def edited(draw: st.DrawFn, data: bytes) -> bytes:
    eol = "\r\n" if b"\r\n" in data else "\n"
    lines = data.decode().split(eol)
    trailing = lines[-1] == ""
    if trailing:
        lines.pop()
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "toggle-eof"]))
        at = draw(st.integers(0, len(lines)))
        if op == "insert":
            lines[at:at] = draw(st.lists(line_st, min_size=1, max_size=3))
        elif op == "delete" and at < len(lines):
            del lines[at : at + draw(st.integers(1, 3))]
        elif op == "replace" and at < len(lines):
            lines[at] = draw(line_st) + "!"
        elif op == "toggle-eof":
            trailing = not trailing
    out = eol.join(lines)
    if lines and trailing:
        out += eol
    return out.encode()


@st.composite
def change_set(draw: st.DrawFn) -> tuple[dict[str, bytes], dict[str, bytes], frozenset[str]]:
    names = draw(
        st.lists(
            st.sampled_from(["a.txt", "b.txt", "src/c.py", "src/deep/d.md", "e f.txt"]),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    before = {n: draw(text_file()) for n in names}
    after: dict[str, bytes] = {}
    for n, data in before.items():
        fate = draw(st.sampled_from(["edit", "edit", "edit", "delete", "rename", "same"]))
        if fate == "edit":
            after[n] = draw(edited(data))
        elif fate == "rename":
            after["moved/" + n.replace("/", "_")] = data + b"tail\n" if data.endswith(b"\n") or not data else data
        elif fate == "same":
            after[n] = data
    if draw(st.booleans()):
        after["new/file.txt"] = draw(text_file())
    exec_after = frozenset(n for n in after if draw(st.integers(0, 9)) == 0)
    return before, after, exec_after


@st.composite
def shifted(draw: st.DrawFn, files: dict[str, bytes]) -> dict[str, bytes]:
    """The same files with lines inserted here and there (git applies at an offset)."""
    out = {}
    for n, data in files.items():
        lines = data.split(b"\n")
        eol = b"\r\n" if b"\r\n" in data else b"\n"
        for _ in range(draw(st.integers(0, 3))):
            at = draw(st.integers(0, max(0, len(lines) - 1)))
            word = draw(line_st).encode()
            lines.insert(at, word + (b"\r" if eol == b"\r\n" else b""))
        out[n] = b"\n".join(lines)
    return out


@st.composite
def context_changed(draw: st.DrawFn, files: dict[str, bytes]) -> dict[str, bytes]:
    """One line of one file changed, as if someone edited it after the diff."""
    out = dict(files)
    candidates = [n for n, d in files.items() if d.count(b"\n") >= 1]
    if not candidates:
        return out
    n = draw(st.sampled_from(sorted(candidates)))
    lines = out[n].split(b"\n")
    at = draw(st.integers(0, len(lines) - 2))
    lines[at] = b"changed " + lines[at]
    out[n] = b"\n".join(lines)
    return out


def _compare(patch: bytes, pre_image: dict[str, bytes], exec_before: frozenset[str] = frozenset()) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ours, theirs = Path(tmp, "ours"), Path(tmp, "theirs")
        ours.mkdir()
        theirs.mkdir()
        write_tree(ours, pre_image, exec_before)
        write_tree(theirs, pre_image, exec_before)
        before = snapshot(ours)
        git_result = git_apply(theirs, patch)
        try:
            result = governed_apply(patch, ours)
            ok = result.ok
        except PatchApplyError:
            ok = False
        assert ok == (git_result.returncode == 0), (
            f"ours {'applied' if ok else 'refused'}, git said {git_result.returncode}: "
            f"{git_result.stderr.decode(errors='replace')}\n{patch.decode(errors='replace')}"
        )
        if ok:
            assert snapshot(ours) == snapshot(theirs)
        else:
            assert snapshot(ours) == before


def _git_patch(change):
    """(pre-image files, the patch real ``git diff`` makes for the change)."""
    before, after, exec_after = change
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        git(repo, "init", "-q")
        return before, git_diff_between(repo, before, after, exec_after)


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(change=change_set(), data=st.data())
def test_random_edits_agree_with_git_apply(change, data) -> None:
    before, patch = _git_patch(change)
    if not patch:
        return
    _compare(patch, before)


@SETTINGS
@given(change=change_set(), data=st.data())
def test_shifted_files_agree_with_git_apply(change, data) -> None:
    before, patch = _git_patch(change)
    if not patch:
        return
    _compare(patch, data.draw(shifted(before)))


@SETTINGS
@given(change=change_set(), data=st.data())
def test_changed_context_agrees_with_git_apply(change, data) -> None:
    before, patch = _git_patch(change)
    if not patch:
        return
    _compare(patch, data.draw(context_changed(before)))


# Cases hypothesis finds only rarely, pinned as examples.
PINNED = [
    pytest.param({"a.txt": b"x\ny\nz"}, {"a.txt": b"x\ny\nz\n"}, {"a.txt": b"x\ny\nz"}, id="add-final-newline"),
    pytest.param({"a.txt": b"x\r\ny\r\n"}, {"a.txt": b"x\r\nY\r\n"}, {"a.txt": b"x\r\ny\r\n"}, id="crlf"),
    pytest.param(
        {"a.txt": b"1\n2\n3\n4\n5\n6\n7\n"},
        {"a.txt": b"1\n2\n3\nfour\n5\n6\n7\n"},
        {"a.txt": b"0\n0\n1\n2\n3\n4\n5\n6\n7\n"},
        id="offset-two",
    ),
    pytest.param(
        {"a.txt": b"1\n2\n3\n4\n5\n6\n7\n"},
        {"a.txt": b"1\n2\n3\nfour\n5\n6\n7\n"},
        {"a.txt": b"1\n2\n3\nFOUR\n5\n6\n7\n"},
        id="changed-line-refused",
    ),
    pytest.param(
        {"a.txt": b"a\nb\nc\nd\n"},
        {"a.txt": b"a\nb\nc\nd\ne\n"},
        {"a.txt": b"a\nb\nc\nd\nz\n"},
        id="end-anchor-refused",
    ),
    pytest.param(
        {"a.txt": b"a\nb\nc\nd\n"},
        {"a.txt": b"z\na\nb\nc\nd\n"},
        {"a.txt": b"y\na\nb\nc\nd\n"},
        id="start-anchor-refused",
    ),
    pytest.param({"a.txt": b""}, {"a.txt": b"content\n"}, {"a.txt": b""}, id="empty-file-filled"),
    pytest.param({"a.txt": b"x\n"}, {}, {"a.txt": b"x\n"}, id="delete"),
    pytest.param({"a.txt": b"x\n"}, {}, {"a.txt": b"x\ny\n"}, id="delete-stale-refused"),
    pytest.param({}, {"n.txt": b""}, {}, id="create-empty"),
    pytest.param({}, {"n.txt": b"x\n"}, {"n.txt": b"already\n"}, id="create-existing-refused"),
]


@pytest.mark.parametrize("before,after,target", PINNED)
def test_pinned_cases_agree_with_git_apply(before, after, target, autopack_workspace) -> None:
    patch = git_diff_between(autopack_workspace, before, after)
    assert patch
    _compare(patch, target)


def test_mode_change_and_rename_agree_with_git_apply(tmp_path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    body = b"".join(b"line %d\n" % i for i in range(20))
    patch = git_diff_between(
        repo,
        {"run.sh": body, "old/name.txt": body},
        {"run.sh": body, "new/name.txt": body + b"more\n"},
        frozenset({"run.sh"}),
    )
    assert b"new mode 100755" in patch and b"rename from" in patch
    _compare(patch, {"run.sh": body, "old/name.txt": body})


def test_symlink_changes_agree_with_git_apply(tmp_path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    write_tree(repo, {"a.txt": b"a\n", "b.txt": b"b\n", "sub/c.txt": b"c\n"})
    os.symlink("a.txt", repo / "link")
    os.symlink("../a.txt", repo / "sub" / "gone")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "before")
    os.unlink(repo / "link")
    os.symlink("b.txt", repo / "link")
    os.symlink("c.txt", repo / "sub" / "new")
    os.unlink(repo / "sub" / "gone")
    git(repo, "add", "-A")
    patch = git(repo, "diff", "--cached").stdout
    assert patch.count(b"120000") >= 3

    def pre_image(root: Path) -> None:
        root.mkdir()
        write_tree(root, {"a.txt": b"a\n", "b.txt": b"b\n", "sub/c.txt": b"c\n"})
        os.symlink("a.txt", root / "link")
        os.symlink("../a.txt", root / "sub" / "gone")

    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    pre_image(ours)
    pre_image(theirs)
    assert git_apply(theirs, patch).returncode == 0
    result = governed_apply(patch, ours)
    assert result.files == ("link", "sub/gone", "sub/new")
    assert snapshot(ours) == snapshot(theirs)
    assert os.readlink(ours / "link") == "b.txt"


@pytest.mark.parametrize("allowed", [True, False])
def test_binary_patches_follow_the_policy_and_match_git(tmp_path, allowed) -> None:
    from autopack_core.patching import GovernancePolicy

    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    blob = bytes(range(256)) * 40
    before = {"img.bin": blob, "gone.bin": b"\x00\x01" * 50}
    after = {"img.bin": blob[:5000] + b"\xff" * 10 + blob[5000:], "new.bin": b"\x00new\x00"}
    for rel, data in before.items():
        (repo / rel).write_bytes(data)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "before")
    (repo / "gone.bin").unlink()
    for rel, data in after.items():
        (repo / rel).write_bytes(data)
    git(repo, "add", "-A")
    patch = git(repo, "diff", "--cached", "--binary").stdout
    assert b"GIT binary patch" in patch and b"delta " in patch

    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    for d in (ours, theirs):
        d.mkdir()
        write_tree(d, before)
    assert git_apply(theirs, patch).returncode == 0
    result = governed_apply(patch, ours, GovernancePolicy(allow_binary_patches=allowed))
    if allowed:
        assert result.ok
        assert snapshot(ours) == snapshot(theirs)
    else:
        assert {r.rule for r in result.refusals} == {"binary-patch"}
        assert snapshot(ours) == {k: ("file", v, False) for k, v in before.items()}
    # Without --binary git writes no data: both refuse to guess.
    stub = git(repo, "diff", "--cached").stdout
    write_tree(ours, before)
    (ours / "new.bin").unlink(missing_ok=True)
    assert git_apply(theirs.parent / "ours", stub).returncode != 0
    with pytest.raises(PatchApplyError, match="without binary data"):
        governed_apply(stub, ours, GovernancePolicy(allow_binary_patches=True))
