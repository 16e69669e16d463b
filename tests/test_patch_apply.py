"""Applying edits to real files: placement, search/replace, atomicity."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autopack_core.errors import PatchApplyError, PatchRefusedError
from autopack_core.events import PatchApplied, PatchProposed, PatchRefused
from autopack_core.patching import (
    GovernancePolicy,
    applied_event,
    governed_apply,
    proposed_event,
    refused_event,
)
from patch_support import snapshot

BODY = "".join(f"line {i}\n" for i in range(1, 31))


def _ws(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    for rel, data in files.items():
        p = ws / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
    return ws


def test_search_replace_edits_in_place(tmp_path: Path) -> None:
    ws = _ws(tmp_path, {"calc.py": "def add(a, b):\n    return a - b\n\nVERSION = 1\n"})
    reply = (
        "calc.py\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n\n"
        "calc.py\n<<<<<<< SEARCH\nVERSION = 1\n=======\nVERSION = 2\n>>>>>>> REPLACE\n"
    )
    result = governed_apply(reply, ws)
    assert result.applied and result.files == ("calc.py",) and result.format == "search-replace"
    assert (ws / "calc.py").read_text() == "def add(a, b):\n    return a + b\n\nVERSION = 2\n"


def test_search_replace_keeps_crlf(tmp_path: Path) -> None:
    ws = _ws(tmp_path, {"w.txt": b"one\r\ntwo\r\nthree\r\n"})
    governed_apply("w.txt\n<<<<<<< SEARCH\ntwo\n=======\nTWO\n>>>>>>> REPLACE\n", ws)
    assert (ws / "w.txt").read_bytes() == b"one\r\nTWO\r\nthree\r\n"


def test_search_replace_ambiguous_names_block(tmp_path: Path) -> None:
    ws = _ws(tmp_path, {"a.py": "x = 1\ny = 2\nx = 1\n", "b.py": "keep\n"})
    before = snapshot(ws)
    reply = (
        "b.py\n<<<<<<< SEARCH\nkeep\n=======\nchanged\n>>>>>>> REPLACE\n"
        "a.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 3\n>>>>>>> REPLACE\n"
    )
    with pytest.raises(PatchApplyError, match=r"a\.py: search/replace block 2 .*matches 2 times") as ei:
        governed_apply(reply, ws)
    assert ei.value.hunk == 2
    assert snapshot(ws) == before


def test_search_replace_no_match_names_block(tmp_path: Path) -> None:
    ws = _ws(tmp_path, {"a.py": "x = 1\n"})
    with pytest.raises(PatchApplyError, match=r"a\.py: search/replace block 1 \(line 2\): SEARCH text not found"):
        governed_apply("a.py\n<<<<<<< SEARCH\nz = 1\n=======\nz = 2\n>>>>>>> REPLACE\n", ws)


def test_search_replace_creates_new_file(tmp_path: Path) -> None:
    ws = _ws(tmp_path, {})
    governed_apply("pkg/new.py\n<<<<<<< SEARCH\n=======\nprint('hi')\n>>>>>>> REPLACE\n", ws)
    assert (ws / "pkg" / "new.py").read_text() == "print('hi')\n"


def test_hunk_found_at_offset(tmp_path: Path) -> None:
    ws = _ws(tmp_path, {"f.txt": "extra\n" * 5 + BODY})
    reply = "--- a/f.txt\n+++ b/f.txt\n@@ -10,3 +10,3 @@\n line 10\n-line 11\n+LINE 11\n line 12\n"
    governed_apply(reply, ws)
    assert "LINE 11\n" in (ws / "f.txt").read_text()
    assert (ws / "f.txt").read_text().count("line 11") == 0


def test_nearest_offset_wins(tmp_path: Path) -> None:
    # The context occurs twice; git picks the candidate nearest the stated line.
    text = "a\nb\nc\n" + "x\n" * 10 + "a\nb\nc\n"
    ws = _ws(tmp_path, {"f.txt": text})
    governed_apply("--- a/f.txt\n+++ b/f.txt\n@@ -12,3 +12,3 @@\n a\n-b\n+B\n c\n", ws)
    assert (ws / "f.txt").read_text() == "a\nb\nc\n" + "x\n" * 10 + "a\nB\nc\n"


def test_changed_context_fails_without_fuzz_and_applies_with_it(tmp_path: Path) -> None:
    ws = _ws(tmp_path, {"f.txt": BODY.replace("line 9\n", "line nine\n")})
    reply = "--- a/f.txt\n+++ b/f.txt\n@@ -9,3 +9,3 @@\n line 9\n-line 10\n+LINE 10\n line 11\n"
    before = snapshot(ws)
    with pytest.raises(PatchApplyError, match=r"f\.txt: hunk 1 \(@@ -9,3 \+9,3 @@\) does not apply"):
        governed_apply(reply, ws)
    assert snapshot(ws) == before
    governed_apply(reply, ws, GovernancePolicy(fuzz=1))
    assert "line nine\nLINE 10\nline 11\n" in (ws / "f.txt").read_text()


def test_failure_in_last_file_leaves_first_untouched(tmp_path: Path) -> None:
    ws = _ws(tmp_path, {"a.txt": "a\n", "b.txt": "b\n"})
    before = snapshot(ws)
    reply = (
        "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-a\n+A\n"
        "--- /dev/null\n+++ b/new/dir/c.txt\n@@ -0,0 +1 @@\n+c\n"
        "--- a/b.txt\n+++ b/b.txt\n@@ -1 +1 @@\n-nope\n+B\n"
    )
    with pytest.raises(PatchApplyError, match="b.txt: hunk 1"):
        governed_apply(reply, ws)
    assert snapshot(ws) == before


def test_write_failure_rolls_back_files_already_replaced(tmp_path: Path) -> None:
    # A directory that cannot be written makes the last write fail after the
    # first file was already moved into place; the first must be restored.
    if os.geteuid() == 0:
        pytest.skip("root ignores directory permissions")
    ws = _ws(tmp_path, {"a.txt": "a\n", "locked/b.txt": "b\n"})
    before = snapshot(ws)
    reply = (
        "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-a\n+A\n--- a/locked/b.txt\n+++ b/locked/b.txt\n@@ -1 +1 @@\n-b\n+B\n"
    )
    os.chmod(ws / "locked", 0o555)
    try:
        with pytest.raises(PatchApplyError, match="workspace restored"):
            governed_apply(reply, ws)
        assert snapshot(ws) == before
    finally:
        os.chmod(ws / "locked", 0o755)


@pytest.mark.parametrize("fail_at", ["stage", "replace"])
def test_injected_io_failure_rolls_back(tmp_path: Path, monkeypatch, fail_at: str) -> None:
    # Fault injection at the OS boundary (works as root too): the third file
    # fails while being written, or while being moved into place after the
    # others were; every file, new directory and temporary file must go.
    ws = _ws(tmp_path, {f"f{i}.txt": f"{i}\n" for i in range(6)} | {"gone.txt": "bye\n"})
    before = snapshot(ws)
    reply = "".join(f"--- a/f{i}.txt\n+++ b/f{i}.txt\n@@ -1 +1 @@\n-{i}\n+{i}{i}\n" for i in range(6))
    reply += "--- /dev/null\n+++ b/new/dir/n.txt\n@@ -0,0 +1 @@\n+n\n"
    reply += "--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n"
    real_open, real_replace = os.open, os.replace
    failed = []

    def flaky_open(path, flags, mode=0o777, **kw):
        if fail_at == "stage" and flags & os.O_CREAT and not failed and len(calls) == 2:
            failed.append(path)
            raise OSError(28, "No space left on device", path)
        if flags & os.O_CREAT:
            calls.append(path)
        return real_open(path, flags, mode, **kw)

    def flaky_replace(src, dst, **kw):
        if fail_at == "replace" and str(dst).endswith("f2.txt") and not failed:
            failed.append(dst)
            raise OSError(5, "Input/output error", dst)
        return real_replace(src, dst, **kw)

    calls: list[str] = []
    monkeypatch.setattr(os, "open", flaky_open)
    monkeypatch.setattr(os, "replace", flaky_replace)
    with pytest.raises(PatchApplyError, match="workspace restored"):
        governed_apply(reply, ws)
    monkeypatch.undo()
    assert failed
    assert snapshot(ws) == before


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    ws = _ws(tmp_path, {"a.txt": "a\n"})
    before = snapshot(ws)
    result = governed_apply("--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-a\n+A\n", ws, dry_run=True)
    assert result.ok and not result.applied and result.files == ("a.txt",)
    assert snapshot(ws) == before


def test_successive_edits_to_one_file_chain(tmp_path: Path) -> None:
    ws = _ws(tmp_path, {"a.txt": BODY})
    reply = (
        "--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n-line 1\n+first\n line 2\n"
        "a.txt\n<<<<<<< SEARCH\nfirst\n=======\nFIRST\n>>>>>>> REPLACE\n"
    )
    result = governed_apply(reply, ws)
    assert result.format == "mixed"
    assert (ws / "a.txt").read_text().startswith("FIRST\nline 2\n")


def test_exec_bit_kept_on_plain_diff_and_permissions_preserved(tmp_path: Path) -> None:
    ws = _ws(tmp_path, {"run.sh": "echo a\n"})
    os.chmod(ws / "run.sh", 0o750)
    governed_apply("--- a/run.sh\n+++ b/run.sh\n@@ -1 +1 @@\n-echo a\n+echo b\n", ws)
    assert (ws / "run.sh").stat().st_mode & 0o777 == 0o750


def test_no_temp_files_left_behind(tmp_path: Path) -> None:
    ws = _ws(tmp_path, {"a.txt": "a\n"})
    governed_apply("--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-a\n+A\n", ws)
    assert sorted(os.listdir(ws)) == ["a.txt"]


def test_events_from_results(tmp_path: Path) -> None:
    ws = _ws(tmp_path, {"a.txt": "a\n"})
    ok = governed_apply("--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-a\n+A\n", ws)
    assert applied_event("p1", ok, commit="abc") == PatchApplied(phase_id="p1", files=("a.txt",), commit="abc")
    refused = governed_apply("--- /dev/null\n+++ b/.git/config\n@@ -0,0 +1 @@\n+x\n", ws)
    ev = refused_event("p1", refused)
    assert isinstance(ev, PatchRefused) and [(r.path, r.rule) for r in ev.reasons] == [(".git/config", "git-dir")]


def test_refusal_as_exception(tmp_path: Path) -> None:
    ws = _ws(tmp_path, {"a.txt": "a\n"})
    result = governed_apply("--- /dev/null\n+++ b/../x\n@@ -0,0 +1 @@\n+x\n", ws)
    with pytest.raises(PatchRefusedError, match=r"patch refused: \.\./x: parent-traversal") as ei:
        result.raise_for_refusals()
    assert ei.value.refusals == result.refusals and ei.value.exit_code == 1
    ok = governed_apply("--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-a\n+A\n", ws)
    assert ok.raise_for_refusals() is ok


def test_check_reports_a_file_in_the_way_of_a_directory(tmp_path: Path) -> None:
    ws = _ws(tmp_path, {"blocker": "file\n"})
    with pytest.raises(PatchApplyError, match="blocker/x.txt: blocker is not a directory"):
        governed_apply("--- /dev/null\n+++ b/blocker/x.txt\n@@ -0,0 +1 @@\n+x\n", ws, dry_run=True)


def test_proposed_event_lists_files_and_format() -> None:
    reply = (
        "Plan:\n--- a/a.txt\n+++ b/b.txt\n@@ -1 +1 @@\n-a\n+b\nc.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n"
    )
    ev = proposed_event("p1", reply)
    # A plain diff whose names differ is one file, the new name (as git apply reads it).
    assert ev == PatchProposed(phase_id="p1", text=reply, format="mixed", files=("b.txt", "c.py"))


def test_search_replace_from_a_crlf_reply_keeps_lf_file(tmp_path: Path) -> None:
    ws = _ws(tmp_path, {"u.txt": b"one\ntwo\n"})
    governed_apply(b"u.txt\r\n<<<<<<< SEARCH\r\ntwo\r\n=======\r\nTWO\r\n>>>>>>> REPLACE\r\n", ws)
    assert (ws / "u.txt").read_bytes() == b"one\nTWO\n"
