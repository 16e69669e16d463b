"""Placing hunks and search/replace blocks in file content, in memory.

Hunk placement follows ``git apply`` (apply.c: ``apply_one_fragment``,
``find_pos``, ``match_fragment``) so a Builder diff lands where git would put
it, or fails where git would refuse:

- the search starts at the hunk's *new* start line (earlier hunks have already
  shifted the content) and tries that line, then +1, -1, +2, -2, ...;
- a hunk starting at line 0 or 1 must match at the beginning, and a hunk with
  no trailing context must match at the end;
- lines produced by an earlier hunk of the same file are never matched again;
- with ``fuzz`` = 0 nothing else is tried; with ``fuzz`` = n the anchors are
  dropped and up to n context lines may be shed at each end, larger end first.
"""

from __future__ import annotations

from typing import Sequence

from autopack_core.errors import PatchApplyError
from autopack_core.patching.escape import shown
from autopack_core.patching.parse import Block, Hunk, split_lines


class _Image:
    """A file's lines while hunks are applied, with what a fast search needs.

    Each distinct line gets a five-byte token (0xFF, then four 7-bit digits),
    so a run of lines is a byte string and "where does this preimage occur"
    is ``bytes.find``: linear time in C (CPython's two-way search), not
    lines x context lines. 0xFF only starts a token, so a hit is always on a
    line boundary. ``patched`` marks lines written by earlier hunks, which
    git never matches again.
    """

    def __init__(self, content: bytes) -> None:
        self.lines = split_lines(content)
        self.patched = bytearray(len(self.lines))
        self._ids: dict[bytes, bytes] = {}
        self._toks: list[bytes] | None = None
        self._fwd: bytes | None = None
        self._rev: bytes | None = None

    def tok(self, line: bytes) -> bytes:
        t = self._ids.get(line)
        if t is None:
            k = len(self._ids)
            if k >= 1 << 28:
                raise PatchApplyError("too many distinct lines to place a hunk")
            t = bytes((0xFF, k >> 21 & 0x7F, k >> 14 & 0x7F, k >> 7 & 0x7F, k & 0x7F))
            self._ids[line] = t
        return t

    def toks(self) -> list[bytes]:
        if self._toks is None:
            tok = self.tok
            self._toks = [tok(x) for x in self.lines]
        return self._toks

    def forward(self) -> bytes:
        if self._fwd is None:
            self._fwd = b"".join(self.toks())
        return self._fwd

    def reverse(self) -> bytes:
        # Lines in reverse order (each token as is): the nearest match before
        # a line is the first match in this string, again a forward find.
        if self._rev is None:
            self._rev = b"".join(reversed(self.toks()))
        return self._rev

    def splice(self, at: int, old_len: int, new: list[bytes]) -> None:
        self.lines[at : at + old_len] = new
        self.patched[at : at + old_len] = b"\x01" * len(new)
        if self._toks is None:
            return
        new_toks = [self.tok(x) for x in new]
        self._toks[at : at + old_len] = new_toks
        # Splice the search strings too (a copy in C) rather than rebuild
        # them from the token list for the next hunk.
        if self._fwd is not None:
            self._fwd = self._fwd[: at * 5] + b"".join(new_toks) + self._fwd[(at + old_len) * 5 :]
        if self._rev is not None:
            end = len(self._rev) - at * 5
            self._rev = self._rev[: end - old_len * 5] + b"".join(reversed(new_toks)) + self._rev[end:]


def _matches(img: _Image, pre: list[bytes], at: int, match_end: bool) -> bool:
    lines = img.lines
    n = len(pre)
    if at < 0 or at + n > len(lines):
        return False
    if match_end and at + n != len(lines):
        return False
    if n == 0:
        return True
    if img.patched.find(1, at, at + n) >= 0:
        return False
    if lines[at : at + n - 1] != pre[:-1]:
        return False
    return _last_line_ok(pre[-1], lines[at + n - 1], match_end)


def _last_line_ok(last: bytes, have: bytes, match_end: bool) -> bool:
    if have == last:
        return True
    # git compares the preimage's bytes as one buffer: a last line that lost
    # its newline ("\ No newline") still matches a line that has one, when
    # what follows differs only in whitespace (git's line hash skips it).
    if match_end or last.endswith(b"\n") or not have.startswith(last):
        return False
    return have[len(last) :].isspace()


def _nearest_forward(img: _Image, pre: list[bytes], start: int) -> int:
    """First position >= ``start`` where ``pre`` matches and touches no
    patched line, or -1."""
    n = len(pre)
    pat = b"".join(img.tok(x) for x in pre)
    hay = img.forward()
    while True:
        k = hay.find(pat, start * 5)
        if k < 0:
            return -1
        at = k // 5
        q = img.patched.find(1, at, at + n)
        if q < 0:
            return at
        start = q + 1  # every window holding line q is out


def _nearest_backward(img: _Image, pre: list[bytes], start: int) -> int:
    """Last position <= ``start`` where ``pre`` matches and touches no
    patched line, or -1."""
    n = len(pre)
    total = len(img.lines)
    if start < 0 or total - n < 0:
        return -1
    start = min(start, total - n)
    pat = b"".join(img.tok(x) for x in reversed(pre))
    hay = img.reverse()
    while start >= 0:
        # A window at ``at`` covers reversed positions total-at-n .. total-at-1.
        k = hay.find(pat, (total - start - n) * 5)
        if k < 0:
            return -1
        at = total - k // 5 - n
        q = img.patched.rfind(1, at, at + n)
        if q < 0:
            return at
        start = q - n
    return -1


def _lenient_candidates(img: _Image, pre: list[bytes]) -> list[int]:
    """Every position where ``pre`` matches when its last line lost its
    newline (rare: only a "\\ No newline" hunk with trailing context). One
    KMP pass over the lines, so linear however repetitive the file is."""
    body, last = pre[:-1], pre[-1]
    m = len(body)
    fail = [0] * (m + 1)
    k = 0
    for i in range(1, m):
        while k and body[i] != body[k]:
            k = fail[k]
        if body[i] == body[k]:
            k += 1
        fail[i + 1] = k
    out = []
    lines = img.lines
    k = 0
    for j, line in enumerate(lines):
        if k == m:
            if _last_line_ok(last, line, False):
                out.append(j - m)
            k = fail[k] if m else 0
        if m:
            while k and line != body[k]:
                k = fail[k]
            if line == body[k]:
                k += 1
    return [c for c in out if img.patched.find(1, c, c + m + 1) < 0]


def _find(img: _Image, pre: list[bytes], line: int, match_beginning: bool, match_end: bool) -> int:
    nimg = len(img.lines)
    if match_beginning:
        line = 0
    elif match_end:
        line = nimg - len(pre)
    if line > nimg or line < 0:
        line = nimg
    if _matches(img, pre, line, match_end):
        return line
    if match_beginning or match_end or not pre:
        # Anchored: git keeps scanning, but no other position can match.
        return -1
    # git tries line+1, line-1, line+2, line-2, ...: the nearest match wins,
    # the later one on a tie.
    if pre[-1].endswith(b"\n"):
        fwd = _nearest_forward(img, pre, line + 1)
        back = _nearest_backward(img, pre, line - 1)
    else:
        cands = _lenient_candidates(img, pre)
        fwd = min((c for c in cands if c > line), default=-1)
        back = max((c for c in cands if c < line), default=-1)
    if fwd < 0:
        return back
    if back < 0 or fwd - line <= line - back:
        return fwd
    return back


def apply_hunks(content: bytes, hunks: Sequence[Hunk], *, path: str, fuzz: int = 0) -> bytes:
    """Apply ``hunks`` in order to ``content``; raise ``PatchApplyError`` naming
    the file and hunk that does not fit."""
    img = _Image(content)
    for h in hunks:
        pre = [c for op, c in h.lines if op != "+"]
        post = [c for op, c in h.lines if op != "-"]
        ops = [op for op, _ in h.lines]
        leading = next((k for k, op in enumerate(ops) if op != " "), len(ops))
        trailing = next((k for k, op in enumerate(reversed(ops)) if op != " "), len(ops))
        match_beginning = h.old_start == 0 or h.old_start == 1
        match_end = trailing == 0
        pos = h.new_start - 1 if h.new_start else 0
        shed = 0
        while True:
            at = _find(img, pre, pos, match_beginning, match_end)
            if at >= 0:
                break
            if fuzz <= 0 or shed >= fuzz or (leading == 0 and trailing == 0):
                raise PatchApplyError(
                    f"{shown(path)}: hunk {h.index} ({shown(h.header[:200])}) does not apply: "
                    "its context does not match the file",
                    path=path,
                    hunk=h.index,
                )
            if match_beginning or match_end:
                match_beginning = match_end = False
                continue
            shed += 1
            if leading >= trailing and leading > 0:
                pre.pop(0)
                post.pop(0)
                pos -= 1
                leading -= 1
            if trailing > leading and trailing > 0:
                pre.pop()
                post.pop()
                trailing -= 1
        img.splice(at, len(pre), post)
    return b"".join(img.lines)


def _find_all(content: bytes, needle: bytes, limit: int = 2) -> list[int]:
    out: list[int] = []
    start = 0
    while len(out) < limit:
        k = content.find(needle, start)
        if k < 0:
            break
        out.append(k)
        start = k + 1
    return out


# Each search/replace block scans and rebuilds the whole file, so a reply's work
# is about blocks x file size. Real replies stay far below this (50 blocks on a
# 1 MiB file are 50 MiB); a hostile one is refused before any work is done.
MAX_BLOCK_WORK_BYTES = 256 * 1024 * 1024


def apply_blocks(content: bytes | None, blocks: Sequence[Block], *, path: str) -> bytes:
    """Apply search/replace blocks in order. ``content`` None means the file
    does not exist: only an empty SEARCH (create the file) is then allowed."""
    largest = len(content or b"") + sum(len(b.replace) for b in blocks)
    if len(blocks) > 1 and len(blocks) * largest > MAX_BLOCK_WORK_BYTES:
        raise PatchApplyError(
            f"{shown(path)}: {len(blocks)} search/replace blocks on a file of up to {largest} bytes is more work "
            f"than allowed ({MAX_BLOCK_WORK_BYTES // (1024 * 1024)} MiB scanned); use fewer, larger blocks or a diff",
            path=path,
        )
    for b in blocks:
        where = f"{shown(path)}: search/replace block {b.index} (line {b.line_no})"
        if not b.search.strip():
            if content is not None and content.strip():
                raise PatchApplyError(
                    f"{where}: SEARCH is empty but the file already has content; quote the lines to replace",
                    path=path,
                    hunk=b.index,
                )
            content = b.replace
            continue
        if content is None:
            raise PatchApplyError(f"{where}: file does not exist", path=path, hunk=b.index)
        search, replace = b.search, b.replace
        hits = _find_all(content, search)
        if not hits and b"\r\n" in content and b"\r\n" not in search:
            # Chat transports drop carriage returns; a CRLF file still gets CRLF.
            search = search.replace(b"\n", b"\r\n")
            replace = replace.replace(b"\n", b"\r\n")
            hits = _find_all(content, search)
        elif not hits and b"\r\n" in search and b"\r\n" not in content:
            # ...and a reply typed on Windows still fits an LF file.
            search = search.replace(b"\r\n", b"\n")
            replace = replace.replace(b"\r\n", b"\n")
            hits = _find_all(content, search)
        if not hits:
            raise PatchApplyError(f"{where}: SEARCH text not found in the file", path=path, hunk=b.index)
        if len(hits) > 1:
            count = len(_find_all(content, search, limit=1_000_000))
            raise PatchApplyError(
                f"{where}: SEARCH text is ambiguous: it matches {count} times; include more lines to make it unique",
                path=path,
                hunk=b.index,
            )
        k = hits[0]
        content = content[:k] + replace + content[k + len(search) :]
    return content if content is not None else b""
