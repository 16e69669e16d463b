"""Bounded work on hostile patches (issue 7 item 5 and 7): limits checked
before the work, bounded memory for zlib bombs, clean errors for absurd
numbers, and hunk placement that agrees with git's nearest-first search."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tracemalloc
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from patch_support import git_apply, snapshot

from autopack_core.errors import PatchApplyError, PatchParseError
from autopack_core.patching import GovernancePolicy, governed_apply, parse_reply
from autopack_core.patching.binary import TooLarge, apply_delta, blob_id, decode_lines
from autopack_core.patching.hunks import MAX_BLOCK_WORK_BYTES, apply_blocks, apply_hunks
from autopack_core.patching.parse import split_lines

AUTOPACK = str(Path(sys.executable).with_name("autopack"))
MiB = 1024 * 1024


def run(*args: str, stdin: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "AUTOPACK_RAISE_ERRORS"}
    return subprocess.run(
        [AUTOPACK, *args], check=False, input=stdin, capture_output=True, env=env, timeout=120, cwd=cwd
    )


def git_binary_lines(data: bytes) -> str:
    """``data`` (already deflated) as git's base85 binary-patch lines."""
    out = []
    for k in range(0, len(data), 52):
        chunk = data[k : k + 52]
        n = len(chunk)
        head = chr(ord("A") + n - 1) if n <= 26 else chr(ord("a") + n - 27)
        out.append(head + base64.b85encode(chunk, pad=True).decode())
    return "\n".join(out) + "\n"


def literal_patch(path: str, stated: int | str, deflated: bytes, new_oid: str = "1" * 40) -> str:
    return (
        f"diff --git a/{path} b/{path}\nnew file mode 100644\nindex {'0' * 40}..{new_oid}\n"
        f"GIT binary patch\nliteral {stated}\n{git_binary_lines(deflated)}\n"
    )


# --- zlib bombs and binary sizes ---------------------------------------------------


def test_a_zlib_bomb_never_inflates_past_its_stated_size() -> None:
    bomb = zlib.compress(b"\0" * (64 * MiB), 9)  # about 64 KB
    lines = [line.encode() for line in git_binary_lines(bomb).splitlines()]
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="more than the 1000 bytes"):
            decode_lines(lines, 1000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The compressed input is held once or twice; nothing near 64 MiB.
    assert peak < 2 * MiB, peak


def test_a_stated_size_over_the_cap_is_refused_without_inflating() -> None:
    bomb = zlib.compress(b"\0" * (8 * MiB), 9)
    lines = [line.encode() for line in git_binary_lines(bomb).splitlines()]
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge):
            decode_lines(lines, 8 * MiB, max_size=MiB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MiB // 2, peak
    # Exactly at the cap is fine.
    data = os.urandom(1000)
    ok = [line.encode() for line in git_binary_lines(zlib.compress(data)).splitlines()]
    assert decode_lines(ok, 1000, max_size=1000) == data
    with pytest.raises(TooLarge):
        decode_lines(ok, 1000, max_size=999)


def test_binary_too_large_is_a_refusal(tmp_path: Path) -> None:
    patch = literal_patch("big.bin", 10 * MiB, zlib.compress(b"\0" * (10 * MiB)))
    policy = GovernancePolicy(allow_binary_patches=True, max_binary_bytes=MiB)
    r = governed_apply(patch, tmp_path, policy)
    assert [(x.path, x.rule) for x in r.refusals] == [("big.bin", "binary-too-large")]
    assert list(tmp_path.iterdir()) == []


def test_a_bomb_behind_a_small_stated_size_is_an_apply_error(tmp_path: Path) -> None:
    patch = literal_patch("b.bin", 10, zlib.compress(b"\0" * (4 * MiB)))
    with pytest.raises(PatchApplyError, match="corrupt binary patch"):
        governed_apply(patch, tmp_path, GovernancePolicy(allow_binary_patches=True))


def test_a_valid_literal_still_applies(tmp_path: Path) -> None:
    data = bytes(range(256)) * 4
    patch = literal_patch("ok.bin", len(data), zlib.compress(data), blob_id(data))
    r = governed_apply(patch, tmp_path, GovernancePolicy(allow_binary_patches=True))
    assert r.ok and (tmp_path / "ok.bin").read_bytes() == data


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def test_delta_results_are_capped() -> None:
    src = b"x" * 0x10000
    # 64 copy commands of 64 KiB each: 4 MiB from a 200-byte delta.
    copy = bytes([0x80 | 0x10 | 0x20 | 0x40, 0x00, 0x00, 0x01])  # offset 0, size 0x10000
    with pytest.raises(TooLarge):
        apply_delta(src, _varint(len(src)) + _varint(64 * 0x10000) + copy * 64, max_size=MiB)
    # A delta that states a small result cannot copy more than that.
    with pytest.raises(ValueError, match="stated size"):
        apply_delta(src, _varint(len(src)) + _varint(10) + copy * 64)
    with pytest.raises(ValueError, match="stated size"):
        apply_delta(src, _varint(len(src)) + _varint(2) + b"\x03abc")
    with pytest.raises(ValueError, match="too long"):
        apply_delta(src, b"\xff" * 100_000)
    assert apply_delta(src, _varint(len(src)) + _varint(0x10000) + copy) == src
    assert apply_delta(src, _varint(len(src)) + _varint(3) + b"\x03abc") == b"abc"


def _git_delta_patch(tmp_path: Path, old: bytes, new: bytes) -> tuple[Path, str]:
    """A workspace holding ``old`` as big.bin, and git's own binary diff to ``new``."""
    ws = tmp_path / "ws"
    ws.mkdir()
    git = ["git", "-C", str(ws), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    (ws / "big.bin").write_bytes(old)
    subprocess.run([*git, "add", "big.bin"], check=True)
    subprocess.run([*git, "commit", "-qm", "old"], check=True)
    (ws / "big.bin").write_bytes(new)
    patch = subprocess.run([*git, "diff", "--binary"], check=True, capture_output=True, text=True).stdout
    subprocess.run([*git, "checkout", "-q", "big.bin"], check=True)
    return ws, patch


def test_a_delta_result_over_the_policys_cap_is_a_refusal(tmp_path: Path) -> None:
    # The delta's data is a few hundred bytes (under any cap); what it builds
    # is 512 KiB. The policy's max_binary_bytes caps the result, not only the
    # module's default.
    old = os.urandom(512 * 1024)
    new = old[:1000] + b"changed" + old[1007:]
    ws, patch = _git_delta_patch(tmp_path, old, new)
    assert "\ndelta " in patch and len(patch) < 4096
    before = snapshot(ws)
    r = governed_apply(patch, ws, GovernancePolicy(allow_binary_patches=True, max_binary_bytes=256 * 1024))
    assert [(x.path, x.rule) for x in r.refusals] == [("big.bin", "binary-too-large")]
    assert "524288 bytes is over the limit of 262144 (max_binary_bytes)" in r.refusals[0].message
    assert snapshot(ws) == before
    r = governed_apply(patch, ws, GovernancePolicy(allow_binary_patches=True, max_binary_bytes=MiB))
    assert r.ok and (ws / "big.bin").read_bytes() == new


# --- total bytes written and the patch's own size ----------------------------------


def test_many_copies_of_a_big_file_are_refused_before_writing(tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(b"y" * MiB)
    patch = "".join(
        f"diff --git a/big.bin b/c{i}.bin\nsimilarity index 100%\ncopy from big.bin\ncopy to c{i}.bin\n"
        for i in range(500)
    )
    assert len(patch) < 50_000
    before = snapshot(tmp_path)
    r = governed_apply(patch, tmp_path)
    assert [x.rule for x in r.refusals] == ["total-too-large"]
    assert snapshot(tmp_path) == before
    # Under the limit the same copies apply.
    r = governed_apply(patch, tmp_path, GovernancePolicy(max_total_bytes=501 * MiB), dry_run=True)
    assert r.ok and len(r.files) == 500


def test_total_limit_boundary(tmp_path: Path) -> None:
    patch = "--- /dev/null\n+++ b/a\n@@ -0,0 +1 @@\n+123456789\n--- /dev/null\n+++ b/b\n@@ -0,0 +1 @@\n+123456789\n"
    assert governed_apply(patch, tmp_path, GovernancePolicy(max_total_bytes=20), dry_run=True).ok
    r = governed_apply(patch, tmp_path, GovernancePolicy(max_total_bytes=19))
    assert [(x.path, x.rule) for x in r.refusals] == [("b", "total-too-large")]


def test_patch_size_limit(tmp_path: Path) -> None:
    patch = "--- /dev/null\n+++ b/a\n@@ -0,0 +1 @@\n+x\n"
    assert governed_apply(patch, tmp_path, GovernancePolicy(max_patch_bytes=len(patch)), dry_run=True).ok
    r = governed_apply(patch, tmp_path, GovernancePolicy(max_patch_bytes=len(patch) - 1))
    assert [x.rule for x in r.refusals] == ["patch-too-large"]


def test_cli_refuses_dev_zero_and_big_stdin_without_reading_them_all(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "config").mkdir()
    (ws / "config" / "models.yaml").write_text("governance:\n  max_patch_bytes: 1000\n")
    r = run("patch", "check", "/dev/zero", "-w", str(ws))
    assert r.returncode == 1, r.stderr
    assert b"autopack: refused: /dev/zero: patch-too-large:" in r.stderr
    r = run("patch", "apply", "-", "-w", str(ws), stdin=b"x" * 5000)
    assert r.returncode == 1 and b"patch-too-large" in r.stderr
    big = tmp_path / "big.patch"
    big.write_bytes(b"#" * 1001)
    r = run("patch", "check", str(big), "-w", str(ws))
    assert r.returncode == 1 and b"patch-too-large" in r.stderr
    assert sorted(p.name for p in ws.iterdir()) == ["config"]


# --- absurd numbers and garbage: clean errors, exit 2 ----------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "@@ -1," + "9" * 5000 + " +1 @@",
        "@@ -" + "1" * 5000 + " +1 @@",
        "@@ -1 +" + "7" * 16 + " @@",
    ],
)
def test_absurd_hunk_numbers_are_a_parse_error(header: str) -> None:
    with pytest.raises(PatchParseError) as info:
        parse_reply(f"--- a/x\n+++ b/x\n{header}\n-a\n+b\n")
    assert info.value.kind == "bad-hunk-header" and "absurd" in str(info.value)


def test_fifteen_digit_numbers_still_parse() -> None:
    (e,) = parse_reply("--- a/x\n+++ b/x\n@@ -999999999999999 +1 @@\n-a\n+b\n")
    assert e.hunks[0].old_start == 999_999_999_999_999


def test_absurd_binary_size_is_no_traceback(tmp_path: Path) -> None:
    patch = literal_patch("x.bin", "9" * 5000, zlib.compress(b"x"))
    with pytest.raises(PatchParseError, match="broken git diff header"):
        governed_apply(patch, tmp_path, GovernancePolicy(allow_binary_patches=True))


@pytest.mark.parametrize(
    "stdin",
    [
        b"",
        b"garbage\n",
        b"\x00\xff" * 100,
        ("--- a/a.txt\n+++ b/a.txt\n@@ -1," + "9" * 5000 + " +1 @@\n-one\n+two\n").encode(),
        b"@@ -1 +1 @@\n-a\n+b\n",
    ],
)
def test_cli_bad_input_exits_2_without_traceback(tmp_path: Path, stdin: bytes) -> None:
    (tmp_path / "a.txt").write_text("one\n")
    for cmd in ("check", "apply"):
        r = run("patch", cmd, "-", "-w", str(tmp_path), stdin=stdin)
        assert r.returncode == 2, r.stderr
        assert r.stderr.startswith(b"autopack: error: ") and b"Traceback" not in r.stderr
        assert r.stderr.count(b"\n") == 1


def test_cli_refused_valid_patch_stays_exit_1(tmp_path: Path) -> None:
    r = run("patch", "apply", "-", "-w", str(tmp_path), stdin=b"--- /dev/null\n+++ b/.git/x\n@@ -0,0 +1 @@\n+x\n")
    assert r.returncode == 1 and b"git-dir" in r.stderr


def test_binary_files_differ_is_a_binary_change_without_data(tmp_path: Path) -> None:
    (e,) = parse_reply("Binary files a/logo.png and b/logo.png differ\n")
    assert e.binary and e.binary_payload is None and e.old_path == e.new_path == "logo.png"
    (e,) = parse_reply("Binary files /dev/null and b/new file.png differ\n")
    assert e.is_new and e.new_path == "new file.png"
    (tmp_path / "logo.png").write_bytes(b"\x89PNG")
    r = run("patch", "check", "-", "-w", str(tmp_path), stdin=b"Binary files a/logo.png and b/logo.png differ\n")
    assert r.returncode == 1
    assert b"logo.png: binary-patch:" in r.stderr and b"without data" in r.stderr
    r = run(
        "patch", "check", "--allow-binary", "-", "-w", str(tmp_path),
        stdin=b"Binary files a/logo.png and b/logo.png differ\n",
    )  # fmt: skip
    assert r.returncode == 1 and b"without binary data" in r.stderr


# --- linear parsing -------------------------------------------------------------------


def test_diff_git_header_of_many_spaces_is_parsed_cleanly() -> None:
    for rest in (" " * 200_000, "a/" + " " * 200_000 + "/x", "a/x" + " b/" * 50_000):
        with pytest.raises(PatchParseError) as info:
            parse_reply(f"diff --git {rest}\nold mode 100644\nnew mode 100755\n")
        assert info.value.kind == "bad-header"
    (e,) = parse_reply("diff --git a/x y b/x y\nold mode 100644\nnew mode 100755\n")
    assert e.old_path == e.new_path == "x y"
    (e,) = parse_reply('diff --git a/x "b/x"\nold mode 100644\nnew mode 100755\n')
    assert e.path == "x"
    (e,) = parse_reply("diff --git a/a b/c b/a b/c\nold mode 100644\nnew mode 100755\n")
    assert e.path == "a b/c"


def test_many_search_replace_blocks_for_one_file_are_one_edit_in_order() -> None:
    n = 100_000
    reply = "f.txt\n" + "".join(f"<<<<<<< SEARCH\nl{i}\n=======\nL{i}\n>>>>>>> REPLACE\n" for i in range(n))
    (e,) = parse_reply(reply)
    assert len(e.blocks) == n
    assert [b.index for b in e.blocks[:3]] == [1, 2, 3] and e.blocks[-1].search == f"l{n - 1}\n".encode()


def test_search_replace_work_is_bounded_before_any_is_done() -> None:
    # 100k blocks on a 1 MiB file would scan and copy ~100 GiB one block at a time.
    content = b"".join(b"l%d\n" % i for i in range(120_000))
    assert len(content) > 2**20 // 2
    reply = "f.txt\n" + "".join(f"<<<<<<< SEARCH\nl{i}\n=======\nL{i}\n>>>>>>> REPLACE\n" for i in range(100_000))
    (e,) = parse_reply(reply)
    with pytest.raises(PatchApplyError, match="more work than allowed"):
        apply_blocks(content, e.blocks, path="f.txt")
    # Just under the bound, the same kind of reply applies, every block in order.
    n = 200
    small = b"".join(b"l%d\n" % i for i in range(n))
    assert n * (len(small) + 2 * n) < MAX_BLOCK_WORK_BYTES
    reply = "f.txt\n" + "".join(f"<<<<<<< SEARCH\nl{i}\n=======\nL{i}\n>>>>>>> REPLACE\n" for i in range(n))
    (e,) = parse_reply(reply)
    assert apply_blocks(small, e.blocks, path="f.txt") == b"".join(b"L%d\n" % i for i in range(n))


# --- hunk placement -------------------------------------------------------------------


def test_adversarial_identical_context_fails_or_lands_like_git(tmp_path: Path) -> None:
    ctx = 10_000
    body = " x\n" * ctx + "-y\n+z\n" + " x\n" * ctx
    patch = f"--- a/f\n+++ b/f\n@@ -100000,{2 * ctx + 1} +100000,{2 * ctx + 1} @@\n" + body
    (e,) = parse_reply(patch)
    with pytest.raises(PatchApplyError, match="does not apply"):
        apply_hunks(b"x\n" * 200_000, e.hunks, path="f")
    content = b"x\n" * 150_000 + b"y\n" + b"x\n" * 49_999
    out = apply_hunks(content, e.hunks, path="f")
    assert out == content.replace(b"y\n", b"z\n")


def _reference_find(img, patched, pre, line, match_beginning, match_end):
    """git's find_pos, one candidate at a time (the former implementation)."""

    def matches(at):
        n = len(pre)
        if at + n > len(img) or (match_end and at + n != len(img)):
            return False
        if n == 0:
            return True
        if any(patched[at : at + n]) or img[at : at + n - 1] != pre[:-1]:
            return False
        last, have = pre[-1], img[at + n - 1]
        if have == last:
            return True
        if match_end or last.endswith(b"\n") or not have.startswith(last):
            return False
        return have[len(last) :].isspace()

    if match_beginning:
        line = 0
    elif match_end:
        line = len(img) - len(pre)
    if line > len(img) or line < 0:
        line = len(img)
    if matches(line):
        return line
    if match_beginning or match_end:
        return -1
    for d in range(1, len(img) + 1):
        if line + d <= len(img) and matches(line + d):
            return line + d
        if line - d >= 0 and matches(line - d):
            return line - d
    return -1


def _reference_apply(content: bytes, hunks) -> bytes:
    img = split_lines(content)
    patched = [False] * len(img)
    for h in hunks:
        pre = [c for op, c in h.lines if op != "+"]
        post = [c for op, c in h.lines if op != "-"]
        trailing = next((k for k, op in enumerate(reversed([op for op, _ in h.lines])) if op != " "), len(h.lines))
        at = _reference_find(
            img, patched, pre, h.new_start - 1 if h.new_start else 0, h.old_start in (0, 1), trailing == 0
        )
        if at < 0:
            raise PatchApplyError("no")
        img[at : at + len(pre)] = post
        patched[at : at + len(pre)] = [True] * len(post)
    return b"".join(img)


_LINE = st.sampled_from([b"a\n", b"b\n", b"c\n", b"a", b"a \n"])


@settings(max_examples=300, deadline=None)
@given(
    content=st.lists(_LINE, max_size=30).map(b"".join),
    hunks=st.lists(
        st.tuples(
            st.integers(0, 35),
            st.integers(0, 35),
            st.lists(st.tuples(st.sampled_from(" -+"), _LINE), min_size=1, max_size=6),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_placement_agrees_with_the_reference_search(content: bytes, hunks) -> None:
    text = "--- a/f\n+++ b/f\n"
    for old_start, new_start, lines in hunks:
        old = sum(op != "+" for op, _ in lines)
        new = sum(op != "-" for op, _ in lines)
        body = "".join(
            op + c.decode() + ("" if c.endswith(b"\n") else "\n\\ No newline at end of file\n") for op, c in lines
        )
        text += f"@@ -{old_start},{old} +{new_start},{new} @@\n{body}"
    try:
        (e,) = parse_reply(text)
    except PatchParseError:
        return
    try:
        want = _reference_apply(content, e.hunks)
    except PatchApplyError:
        with pytest.raises(PatchApplyError):
            apply_hunks(content, e.hunks, path="f")
        return
    assert apply_hunks(content, e.hunks, path="f") == want


def test_nearest_match_and_ties_follow_git(tmp_path: Path) -> None:
    # "b" occurs 3 lines above and 3 lines below the stated line: git takes
    # the one below (it tries +d before -d).
    content = b"".join([b"b\n", b"x\n", b"x\n", b"x\n", b"x\n", b"x\n", b"b\n", b"x\n"])
    patch = b"--- a/f\n+++ b/f\n@@ -4,2 +4,2 @@\n-b\n+B\n x\n"
    (tmp_path / "f").write_bytes(content)
    assert git_apply(tmp_path, patch).returncode == 0
    want = (tmp_path / "f").read_bytes()
    (e,) = parse_reply(patch)
    assert apply_hunks(content, e.hunks, path="f") == want
