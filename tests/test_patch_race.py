"""Issue 7 item 3: a folder swapped for a link leading outside while a large
patch is being applied must not redirect a write, a temporary file or the
rollback, and "workspace restored" must be true when it is said.

The swapping is done by a real process (``renameat2`` with
``RENAME_EXCHANGE`` through ctypes where the C library has it, else a loop of
renames and symlinks), and once deterministically at chosen moments inside the
apply, through the OS calls it makes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from autopack_core.errors import PatchApplyError
from autopack_core.patching import governed_apply, parse_reply

CANARY = b"CANARY\n"
FILES = 1000
ROUNDS = 6

SWAPPER = r"""
import ctypes, ctypes.util, os, sys, time
ws, how, trigger, stop = sys.argv[1:5]
src, door = os.path.join(ws, "src"), os.path.join(ws, "door")
libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
exchange = getattr(libc, "renameat2", None)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
state = 0

def swap():
    global state
    if how == "exchange":
        # src (the real folder) and door (a link to the canary) trade places.
        if exchange(AT_FDCWD, src.encode(), AT_FDCWD, door.encode(), RENAME_EXCHANGE) != 0:
            raise OSError(ctypes.get_errno(), "renameat2")
    elif state == 0:
        os.rename(src, src + ".real")
        os.symlink(os.readlink(door), src)
    else:
        os.unlink(src)
        os.rename(src + ".real", src)
    state ^= 1

print("ready", flush=True)
n = 0
if trigger == "watch":
    # Wait for the writes to begin (temporary files appear), then start.
    while not os.path.exists(stop) and not any(n.startswith(".autopack-") for n in os.listdir(src)):
        pass
while not os.path.exists(stop):
    # Mostly a folder, now and then briefly a link, so the checks usually
    # pass; and as soon as temporary files show up (the writes have begun), a
    # link for a good while, as an attacker watching the folder would.
    staging = state == 0 and any(n.startswith(".autopack-") for n in os.listdir(src))
    swap()
    time.sleep(0.02 if staging else 0.0003 if state else 0.002)
    n += 1
if state:
    swap()
print(n, flush=True)
"""


def _has_renameat2() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    return hasattr(libc, "renameat2")


def _tree(root: Path) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            rel = os.path.relpath(full, root)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir",)
            else:
                with open(full, "rb") as fh:
                    out[rel] = ("file", stat.S_IMODE(st.st_mode), hashlib.sha256(fh.read()).hexdigest())
    return out


def _temps(root: Path) -> list[str]:
    return [os.path.join(d, n) for d, _, names in os.walk(root) for n in names if n.startswith(".autopack-")]


def _setup(base: Path) -> tuple[Path, Path]:
    ws, canary = base / "ws", base / "canary"
    (canary / "src").mkdir(parents=True)
    (ws / "src").mkdir(parents=True)
    for i in range(FILES):
        # The same names outside: a redirected write would replace these.
        (canary / "src" / f"f{i}.txt").write_bytes(CANARY)
        (ws / "src" / f"f{i}.txt").write_bytes(b"v0\n")
    os.symlink(os.path.join("..", "canary", "src"), ws / "door")
    return ws, canary


PATCH = "".join(f"--- a/src/f{i}.txt\n+++ b/src/f{i}.txt\n@@ -1 +1 @@\n-v0\n+v1\n" for i in range(FILES)) + "".join(
    f"--- /dev/null\n+++ b/src/new/n{i}.txt\n@@ -0,0 +1 @@\n+n\n" for i in range(50)
)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["exchange", "rename"])
def test_folder_swapped_for_an_outward_link_during_large_applies(tmp_path: Path, how: str) -> None:
    if how == "exchange" and not _has_renameat2():
        pytest.skip("renameat2 is not available; the rename loop covers this")
    if os.access("/dev/shm", os.W_OK):
        # Thousands of files per round: a memory file system keeps it quick.
        tmp_path = Path(tempfile.mkdtemp(dir="/dev/shm"))
        own_dir = tmp_path
    else:
        own_dir = None
    try:
        _race(tmp_path, how)
    finally:
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)


def _race(tmp_path: Path, how: str) -> None:
    edits = parse_reply(PATCH)
    outcomes: Counter[str] = Counter()
    swaps = 0
    for k in range(ROUNDS):
        # Half the rounds swap from the start (the checks race too), half only
        # once the writes have begun (the writes and the rollback race).
        trigger = "loop" if k % 2 else "watch"
        base = tmp_path / f"r{k}"
        ws, canary = _setup(base)
        ws_before, canary_before = _tree(ws), _tree(canary)
        stop = base / "stop"
        proc = subprocess.Popen(
            [sys.executable, "-c", SWAPPER, str(ws), how, trigger, str(stop)], stdout=subprocess.PIPE, text=True
        )
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            try:
                # Refused when src was a link at the moment it was checked.
                outcome = "applied" if governed_apply(edits, ws).ok else "refused"
            except PatchApplyError as exc:
                msg = str(exc)
                outcome = "not-restored" if "NOT restored" in msg else "restored" if "restored" in msg else "failed"
        finally:
            stop.touch()
            out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        swaps += int(out.strip())
        stop.unlink()
        outcomes[f"{trigger}:{outcome}"] += 1
        # Nothing outside changed, no temporary file anywhere, whatever happened.
        assert _tree(canary) == canary_before, outcome
        assert sorted(os.listdir(base)) == ["canary", "ws"]
        assert _temps(base) == [], outcome
        # The swapper put src back; now check what the apply said was true.
        after = _tree(ws)
        if outcome == "applied":
            assert all((ws / "src" / f"f{i}.txt").read_bytes() == b"v1\n" for i in range(FILES))
            assert len(list((ws / "src" / "new").iterdir())) == 50
        elif outcome in ("restored", "refused", "failed"):
            assert after == ws_before, outcome
    print(f"\n{how}: {dict(outcomes)} in {ROUNDS} rounds, {swaps} swaps")
    assert swaps > 0


# --- deterministic: the swap happens at a chosen OS call inside the apply ---------------


def _exchange(ws: Path) -> None:
    # Without renameat2: two renames (not atomic, but the apply is paused here).
    os.rename(ws / "src", ws / "tmp-real")
    os.rename(ws / "door", ws / "src")
    os.rename(ws / "tmp-real", ws / "door")


@pytest.mark.parametrize("at", ["stage", "replace", "unlink"])
def test_swap_at_a_chosen_moment_is_caught_and_undone(tmp_path: Path, monkeypatch, at: str) -> None:
    ws, canary = tmp_path / "ws", tmp_path / "canary"
    (canary / "src").mkdir(parents=True)
    (ws / "src").mkdir(parents=True)
    for i in range(5):
        (canary / "src" / f"f{i}.txt").write_bytes(CANARY)
        (ws / "src" / f"f{i}.txt").write_bytes(b"v0\n")
    (ws / "src" / "gone.txt").write_bytes(b"bye\n")
    (canary / "src" / "gone.txt").write_bytes(CANARY)
    os.symlink("../canary/src", ws / "door")
    ws_before, canary_before = _tree(ws), _tree(canary)
    patch = "".join(f"--- a/src/f{i}.txt\n+++ b/src/f{i}.txt\n@@ -1 +1 @@\n-v0\n+v1\n" for i in range(5))
    patch += "--- a/src/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n"
    patch += "--- /dev/null\n+++ b/src/new/n.txt\n@@ -0,0 +1 @@\n+n\n"
    real = {"stage": os.open, "replace": os.replace, "unlink": os.unlink}[at]
    swapped: list[bool] = []

    def swap_then(*args, **kw):
        if (at != "stage" or args[1] & os.O_CREAT) and not swapped:
            swapped.append(True)
            _exchange(ws)
        return real(*args, **kw)

    monkeypatch.setattr(os, {"stage": "open", "replace": "replace", "unlink": "unlink"}[at], swap_then)
    with pytest.raises(PatchApplyError) as ei:
        governed_apply(patch, ws)
    monkeypatch.undo()
    assert swapped
    # Honest: src is not where it was, so the workspace is not as before.
    assert "NOT restored" in str(ei.value) and "src (moved or replaced" in str(ei.value), str(ei.value)
    assert _tree(canary) == canary_before
    assert _temps(tmp_path) == []
    _exchange(ws)  # undo the attacker's swap: our own undo went into the real folder
    assert _tree(ws) == ws_before


def _hook_first_read(monkeypatch, name: str, swap) -> list[bool]:
    """Run ``swap`` just before the apply opens file ``name`` for reading
    (after it was looked at with lstat)."""
    real_open = os.open
    done: list[bool] = []

    def hooked(path, flags, *args, **kw):
        if not done and path == name and not flags & (os.O_CREAT | os.O_WRONLY | os.O_DIRECTORY):
            done.append(True)
            swap()
        return real_open(path, flags, *args, **kw)

    monkeypatch.setattr(os, "open", hooked)
    return done


def test_file_swapped_for_a_link_before_it_is_read(tmp_path: Path, monkeypatch) -> None:
    ws, canary = tmp_path / "ws", tmp_path / "canary"
    ws.mkdir()
    canary.mkdir()
    (canary / "secret.txt").write_bytes(CANARY)
    (ws / "a.txt").write_bytes(b"a\n")

    def swap() -> None:
        os.unlink(ws / "a.txt")
        os.symlink("../canary/secret.txt", ws / "a.txt")

    done = _hook_first_read(monkeypatch, "a.txt", swap)
    patch = "diff --git a/a.txt b/b.txt\nsimilarity index 100%\ncopy from a.txt\ncopy to b.txt\n"
    with pytest.raises(PatchApplyError):
        governed_apply(patch, ws)
    monkeypatch.undo()
    assert done and not (ws / "b.txt").exists()
    assert (canary / "secret.txt").read_bytes() == CANARY


def test_file_swapped_for_a_fifo_before_it_is_read(tmp_path: Path, monkeypatch) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.txt").write_bytes(b"")

    def swap() -> None:
        os.unlink(ws / "a.txt")
        os.mkfifo(ws / "a.txt")

    done = _hook_first_read(monkeypatch, "a.txt", swap)
    with pytest.raises(PatchApplyError, match="not a regular file"):
        governed_apply("diff --git a/a.txt b/b.txt\nsimilarity index 100%\ncopy from a.txt\ncopy to b.txt\n", ws)
    monkeypatch.undo()
    assert done and not (ws / "b.txt").exists()


def test_temp_file_that_cannot_be_removed_is_reported(tmp_path: Path, monkeypatch) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    for i in range(3):
        (ws / f"f{i}.txt").write_bytes(b"v0\n")
    patch = "".join(f"--- a/f{i}.txt\n+++ b/f{i}.txt\n@@ -1 +1 @@\n-v0\n+v1\n" for i in range(3))
    real_replace, real_unlink = os.replace, os.unlink

    def failing_replace(src, dst, **kw):
        if dst == "f2.txt":
            raise OSError(5, "Input/output error", dst)
        return real_replace(src, dst, **kw)

    def stubborn_unlink(path, **kw):
        if str(path).startswith(".autopack-"):
            raise OSError(1, "Operation not permitted", path)
        return real_unlink(path, **kw)

    monkeypatch.setattr(os, "replace", failing_replace)
    monkeypatch.setattr(os, "unlink", stubborn_unlink)
    with pytest.raises(PatchApplyError) as ei:
        governed_apply(patch, ws)
    monkeypatch.undo()
    # The files were put back, but a temporary file stayed: say so.
    assert "NOT restored" in str(ei.value) and ".autopack-" in str(ei.value), str(ei.value)
    assert all((ws / f"f{i}.txt").read_bytes() == b"v0\n" for i in range(3))
