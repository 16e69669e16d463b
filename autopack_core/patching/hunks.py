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
from autopack_core.patching.parse import Block, Hunk, split_lines


def _matches(img: list[bytes], patched: list[bool], pre: list[bytes], at: int, match_end: bool) -> bool:
    n = len(pre)
    if at + n > len(img):
        return False
    if match_end and at + n != len(img):
        return False
    if n == 0:
        return True
    if any(patched[at : at + n]):
        return False
    if img[at : at + n - 1] != pre[:-1]:
        return False
    last, have = pre[-1], img[at + n - 1]
    if have == last:
        return True
    # git compares the preimage's bytes as one buffer: a last line that lost
    # its newline ("\ No newline") still matches a line that has one, when
    # what follows differs only in whitespace (git's line hash skips it).
    if match_end or last.endswith(b"\n") or not have.startswith(last):
        return False
    return have[len(last) :].isspace()


def _find(
    img: list[bytes], patched: list[bool], pre: list[bytes], line: int, match_beginning: bool, match_end: bool
) -> int:
    if match_beginning:
        line = 0
    elif match_end:
        line = len(img) - len(pre)
    if line > len(img) or line < 0:
        line = len(img)
    nimg = len(img)
    first = pre[0] if pre else None
    backwards = forwards = line
    if _matches(img, patched, pre, line, match_end):
        return line
    if match_beginning or match_end:
        # Anchored: git keeps scanning, but no other position can match.
        return -1
    i = 0
    while True:
        if backwards == 0 and forwards == nimg:
            return -1
        if i & 1:
            if backwards == 0:
                i += 1
                continue
            backwards -= 1
            cur = backwards
        else:
            if forwards == nimg:
                i += 1
                continue
            forwards += 1
            cur = forwards
        i += 1
        # Cheap first-line test before the full comparison.
        if first is not None and cur < nimg and img[cur] != first and first.endswith(b"\n"):
            continue
        if _matches(img, patched, pre, cur, match_end):
            return cur


def apply_hunks(content: bytes, hunks: Sequence[Hunk], *, path: str, fuzz: int = 0) -> bytes:
    """Apply ``hunks`` in order to ``content``; raise ``PatchApplyError`` naming
    the file and hunk that does not fit."""
    img = split_lines(content)
    patched = [False] * len(img)
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
            at = _find(img, patched, pre, pos, match_beginning, match_end)
            if at >= 0:
                break
            if fuzz <= 0 or shed >= fuzz or (leading == 0 and trailing == 0):
                raise PatchApplyError(
                    f"{path}: hunk {h.index} ({h.header}) does not apply: its context does not match the file",
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
        img[at : at + len(pre)] = post
        patched[at : at + len(pre)] = [True] * len(post)
    return b"".join(img)


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


def apply_blocks(content: bytes | None, blocks: Sequence[Block], *, path: str) -> bytes:
    """Apply search/replace blocks in order. ``content`` None means the file
    does not exist: only an empty SEARCH (create the file) is then allowed."""
    for b in blocks:
        where = f"{path}: search/replace block {b.index} (line {b.line_no})"
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
