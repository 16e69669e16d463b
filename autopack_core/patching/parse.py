"""Builder replies → file edits.

A reply is free text holding unified diffs (git's ``diff --git`` form or plain
``---``/``+++``, fenced in ```diff or bare) and/or search/replace blocks. We
work on bytes end to end so CRLF files, files without a final newline and
non-UTF-8 content round-trip exactly: a hunk line keeps its own line ending,
which is how ``git diff`` writes CRLF files.

Paths are returned as ``str`` (bytes decoded as UTF-8 with surrogateescape, so
``os.fsencode`` gives the original bytes back). Nothing here looks at the
workspace; governance and application do.
"""

from __future__ import annotations

import re
import zlib

import attrs

from autopack_core.errors import PatchParseError
from autopack_core.patching.binary import DEFAULT_MAX_INFLATE, TooLarge, decode_lines
from autopack_core.patching.escape import shown

MODE_FILE = 0o100644
MODE_EXEC = 0o100755
MODE_LINK = 0o120000
MODE_GITLINK = 0o160000

_HUNK_RE = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_SEARCH_RE = re.compile(rb"^<{5,9} ?SEARCH\s*$")
_DIVIDER_RE = re.compile(rb"^={5,9}\s*$")
_REPLACE_RE = re.compile(rb"^>{5,9} ?REPLACE\s*$")
_FENCE_RE = re.compile(rb"^\s*(```|~~~)")
_INDEX_RE = re.compile(rb"^index [0-9a-fA-F]+\.\.[0-9a-fA-F]+(?: (\d+))?\s*$")
_BINARY_FILES_RE = re.compile(rb"^Binary files (.+) and (.+) differ\s*$")
# Line numbers and counts beyond this are absurd (no file has 10^15 lines);
# refusing them early also keeps int() away from huge digit strings.
_MAX_DIGITS = 15


@attrs.frozen
class Hunk:
    """One ``@@`` hunk. ``lines`` are ``(op, content)`` with op ``" "``, ``"-"``
    or ``"+"`` and content including its line ending (none after a
    ``\\ No newline at end of file`` marker)."""

    index: int
    old_start: int
    old_count: int
    new_start: int
    new_count: int
    lines: tuple[tuple[str, bytes], ...]
    header: str
    line_no: int


@attrs.frozen
class Block:
    """One search/replace block; ``index`` counts blocks across the reply."""

    index: int
    search: bytes
    replace: bytes
    line_no: int


@attrs.frozen
class FileEdit:
    """Everything one reply says about one file.

    ``old_path`` is None for a new file, ``new_path`` None for a deletion.
    Modes are git's octal file modes (``0o100644``...) or None when unstated.
    """

    old_path: str | None
    new_path: str | None
    hunks: tuple[Hunk, ...] = ()
    blocks: tuple[Block, ...] = ()
    old_mode: int | None = None
    new_mode: int | None = None
    is_rename: bool = False
    is_copy: bool = False
    binary: bool = False
    binary_payload: tuple[str, bytes] | None = None
    old_oid: str = ""
    new_oid: str = ""
    line_no: int = 0

    @property
    def path(self) -> str:
        """The path this edit is known by: the new name unless it is a deletion."""
        return self.new_path if self.new_path is not None else self.old_path or ""

    @property
    def is_new(self) -> bool:
        return self.old_path is None

    @property
    def is_delete(self) -> bool:
        return self.new_path is None


def split_lines(data: bytes) -> list[bytes]:
    """Split after each ``\\n`` only (``bytes.splitlines`` would split on ``\\r``
    and form feeds too, which git does not)."""
    parts = data.split(b"\n")
    out = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


def _text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _eol_strip(line: bytes) -> bytes:
    return line.rstrip(b"\r\n")


_C_ESCAPES = {
    ord("a"): 7,
    ord("b"): 8,
    ord("f"): 12,
    ord("n"): 10,
    ord("r"): 13,
    ord("t"): 9,
    ord("v"): 11,
    ord("\\"): 92,
    ord('"'): 34,
}


def _unquote(s: bytes) -> tuple[bytes, bytes]:
    """Read a C-quoted name as git writes it (``"a/caf\\303\\251"``); return the
    name and what follows the closing quote."""
    out = bytearray()
    i = 1
    while i < len(s):
        c = s[i]
        if c == 0x22:
            return bytes(out), s[i + 1 :]
        if c == 0x5C and i + 1 < len(s):
            n = s[i + 1]
            if 0x30 <= n <= 0x37:
                out.append(int(s[i + 1 : i + 4], 8) & 0xFF)
                i += 4
                continue
            out.append(_C_ESCAPES.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    raise ValueError("unterminated quoted name")


def _strip_component(name: bytes) -> bytes | None:
    # git apply's default -p1: drop everything up to the first slash.
    i = name.find(b"/")
    return name[i + 1 :] if i >= 0 else None


def _header_name(raw: bytes, *, git: bool) -> str | None:
    """Path of a ``---``/``+++`` line's remainder; None for /dev/null."""
    raw = _eol_strip(raw)
    if raw.startswith(b'"'):
        try:
            name, _ = _unquote(raw)
        except ValueError:
            return _text(raw)
    else:
        # Traditional diffs put a timestamp after a tab.
        name = raw.split(b"\t", 1)[0].rstrip(b" ")
    if name == b"/dev/null":
        return None
    if git:
        stripped = _strip_component(name)
        return _text(stripped if stripped is not None else name)
    # Models often omit prefixes; only strip the conventional a/ and b/.
    if name.startswith((b"a/", b"b/")):
        return _text(name[2:])
    return _text(name)


def _same_name_split(rest: bytes) -> tuple[bytes, bytes] | None:
    """Split unquoted ``a/X b/X`` where both halves name the same file after
    their first component, in one pass (as git's ``git_header_name``): for
    each space the only candidate is fixed by lengths, so at most one
    comparison is made however many spaces the line holds."""
    f = rest.find(b"/")
    if f < 0:
        return None
    name = rest[f + 1 :]
    slash = -1
    for m in re.finditer(rb"[ \t]", name):
        k = m.start()
        if slash <= k:
            slash = name.find(b"/", k + 1)
            if slash < 0:
                return None
        if k and len(name) - slash - 1 == k and name[slash + 1 :] == name[:k]:
            return rest[: f + 1 + k], name[k + 1 :]
    return None


def _git_header_names(rest: bytes) -> tuple[str, str] | None:
    """Names from ``diff --git a/X b/Y`` when no other line states them."""
    rest = _eol_strip(rest)
    try:
        if rest.startswith(b'"'):
            a, tail = _unquote(rest)
            tail = tail.lstrip(b" ")
            b = _unquote(tail)[0] if tail.startswith(b'"') else tail
        else:
            q = rest.find(b'"')
            if q > 0 and rest[q - 1 : q] in (b" ", b"\t"):
                # An unquoted first name and a quoted second one: the quote
                # starts the second (an unquoted name cannot hold one).
                a, b = rest[: q - 1], _unquote(rest[q:])[0]
                if _strip_component(a) != _strip_component(b):
                    return None
            else:
                split = _same_name_split(rest)
                if split is None:
                    return None
                a, b = split
    except ValueError:
        return None
    sa, sb = _strip_component(a), _strip_component(b)
    if not sa or not sb:
        return None
    return _text(sa), _text(sb)


class _Reader:
    def __init__(self, data: bytes, max_binary_bytes: int = DEFAULT_MAX_INFLATE) -> None:
        self.max_binary_bytes = max_binary_bytes
        self.lines = split_lines(data)
        self.i = 0
        self.block_count = 0
        self.last_block_path: str | None = None

    def peek(self, k: int = 0) -> bytes | None:
        j = self.i + k
        return self.lines[j] if j < len(self.lines) else None


def _parse_hunks(r: _Reader, path: str) -> list[Hunk]:
    hunks: list[Hunk] = []
    while True:
        line = r.peek()
        if line is None or not line.startswith(b"@@"):
            return hunks
        index = len(hunks) + 1
        line_no = r.i + 1
        m = _HUNK_RE.match(line)
        if not m:
            raise PatchParseError(
                f"{shown(path)}: hunk {index} (line {line_no}): broken hunk header "
                f"{shown(repr(_text(_eol_strip(line)[:200])))}",
                kind="bad-hunk-header",
                path=path,
                hunk=index,
                line=line_no,
            )
        if any(g is not None and len(g) > _MAX_DIGITS for g in m.groups()):
            raise PatchParseError(
                f"{shown(path)}: hunk {index} (line {line_no}): absurd line number or count in hunk header",
                kind="bad-hunk-header",
                path=path,
                hunk=index,
                line=line_no,
            )
        old_start, new_start = int(m.group(1)), int(m.group(3))
        old_count = int(m.group(2)) if m.group(2) is not None else 1
        new_count = int(m.group(4)) if m.group(4) is not None else 1
        lines, i, n = r.lines, r.i + 1, len(r.lines)
        body: list[tuple[str, bytes]] = []
        append = body.append
        old_left, new_left = old_count, new_count
        # Lines are never empty (split_lines keeps each "\n"), so cur[0] is safe.
        while old_left > 0 or new_left > 0:
            cur = lines[i] if i < n else b"\x00"
            c = cur[0]
            if c == 0x20:
                append((" ", cur[1:]))
                old_left -= 1
                new_left -= 1
            elif c == 0x2D:
                append(("-", cur[1:]))
                old_left -= 1
            elif c == 0x2B:
                append(("+", cur[1:]))
                new_left -= 1
            elif cur == b"\n":
                # An empty context line whose leading space was stripped
                # (newer GNU diff does this; so do editors and chat UIs).
                append((" ", b"\n"))
                old_left -= 1
                new_left -= 1
            elif c == 0x5C and body:
                body[-1] = _without_newline(body[-1])
            else:
                where = f"line {i + 1}" if i < n else "end of reply"
                raise PatchParseError(
                    f"{shown(path)}: hunk {index} (line {line_no}): header says -{old_count} +{new_count} lines "
                    f"but the hunk ends at {where} with {old_left} old and {new_left} new line(s) missing",
                    kind="hunk-count-mismatch",
                    path=path,
                    hunk=index,
                    line=line_no,
                )
            if old_left < 0 or new_left < 0:
                raise PatchParseError(
                    f"{shown(path)}: hunk {index} (line {line_no}): more lines than the header's "
                    f"-{old_count} +{new_count}",
                    kind="hunk-count-mismatch",
                    path=path,
                    hunk=index,
                    line=line_no,
                )
            i += 1
        if i < n and lines[i].startswith(b"\\") and body:
            body[-1] = _without_newline(body[-1])
            i += 1
        r.i = i
        hunks.append(
            Hunk(
                index=index,
                old_start=old_start,
                old_count=old_count,
                new_start=new_start,
                new_count=new_count,
                lines=tuple(body),
                header=_text(_eol_strip(line)),
                line_no=line_no,
            )
        )


def _without_newline(entry: tuple[str, bytes]) -> tuple[str, bytes]:
    # "\ No newline at end of file" removes exactly the "\n", like git; a CRLF
    # file's last line then keeps its "\r".
    op, content = entry
    return (op, content[:-1]) if content.endswith(b"\n") else entry


_MODE_RE = re.compile(rb"^[0-7]{6}$")


def _mode(value: bytes) -> int:
    value = value.strip()
    if not _MODE_RE.match(value):
        raise ValueError(f"bad file mode {_text(value)!r}")
    return int(value, 8)


def _parse_git_section(r: _Reader) -> FileEdit:
    start = r.i
    try:
        return _parse_git_section_at(r, start)
    except ValueError as exc:
        raise PatchParseError(
            f"line {r.i + 1}: broken git diff header ({exc})", kind="bad-header", line=r.i + 1
        ) from None


def _parse_git_section_at(r: _Reader, start: int) -> FileEdit:
    header = r.lines[r.i]
    r.i += 1
    fields: dict[str, object] = {}
    binary = False
    while True:
        line = r.peek()
        if line is None:
            break
        s = _eol_strip(line)
        if s.startswith(b"old mode "):
            fields["old_mode"] = _mode(s[9:])
        elif s.startswith(b"new mode "):
            fields["new_mode"] = _mode(s[9:])
        elif s.startswith(b"deleted file mode "):
            fields["old_mode"] = _mode(s[18:])
            fields["deleted"] = True
        elif s.startswith(b"new file mode "):
            fields["new_mode"] = _mode(s[14:])
            fields["new"] = True
        elif s.startswith((b"rename from ", b"copy from ", b"rename to ", b"copy to ")):
            word, direction, raw = s.split(b" ", 2)
            fields[_text(direction)] = _text(_unquote(raw)[0]) if raw.startswith(b'"') else _text(raw)
            fields[_text(word)] = True
        elif s.startswith((b"similarity index ", b"dissimilarity index ")):
            pass
        elif _INDEX_RE.match(s):
            m = _INDEX_RE.match(s)
            if m.group(1):
                fields["index_mode"] = _mode(m.group(1))
            fields["old_oid"], fields["new_oid"] = _text(s.split(b" ")[1]).split("..")
        elif s.startswith(b"Binary files "):
            binary = True
        elif s == b"GIT binary patch":
            binary = True
            r.i += 1
            payload = _read_binary_hunk(r)
            if payload is not None:
                fields["binary_payload"] = payload
            # A reverse hunk may follow; it is not needed to apply forwards.
            _read_binary_hunk(r)
            continue
        else:
            break
        r.i += 1

    old_path: str | None = fields.get("from")  # type: ignore[assignment]
    new_path: str | None = fields.get("to")  # type: ignore[assignment]
    line = r.peek()
    if line is not None and line.startswith(b"--- ") and (r.peek(1) or b"").startswith(b"+++ "):
        old_path_h = _header_name(line[4:], git=True)
        new_path_h = _header_name(r.peek(1)[4:], git=True)  # type: ignore[index]
        r.i += 2
        if old_path_h is None:
            fields["new"] = True
        else:
            old_path = old_path_h
        if new_path_h is None:
            fields["deleted"] = True
        else:
            new_path = new_path_h
    if (old_path is None and not fields.get("new")) or (new_path is None and not fields.get("deleted")):
        # Mode changes, pure renames and empty files name the file only here.
        names = _git_header_names(header[len(b"diff --git ") :])
        if names:
            old_path = old_path if old_path is not None else names[0]
            new_path = new_path if new_path is not None else names[1]
    if fields.get("new"):
        old_path = None
    if fields.get("deleted"):
        new_path = None
    if old_path is None and new_path is None:
        raise PatchParseError(
            f"line {start + 1}: git diff header lacks file name information",
            kind="bad-header",
            line=start + 1,
        )
    name = new_path if new_path is not None else old_path
    hunks = _parse_hunks(r, name or "")
    old_mode = fields.get("old_mode") or (fields.get("index_mode") if old_path is not None else None)
    new_mode = fields.get("new_mode") or (fields.get("index_mode") if new_path is not None else None)
    return FileEdit(
        old_path=old_path,
        new_path=new_path,
        hunks=tuple(hunks),
        old_mode=old_mode,
        new_mode=new_mode,  # type: ignore[arg-type]
        is_rename=bool(fields.get("rename")),
        is_copy=bool(fields.get("copy")),
        binary=binary,
        binary_payload=fields.get("binary_payload"),  # type: ignore[arg-type]
        old_oid=str(fields.get("old_oid", "")),
        new_oid=str(fields.get("new_oid", "")),
        line_no=start + 1,
    )


def _read_binary_hunk(r: _Reader) -> tuple[str, bytes] | None:
    """Read one ``literal N`` / ``delta N`` block of a binary patch."""
    head = r.peek()
    m = re.match(rb"^(literal|delta) (\d+)\s*$", head or b"")
    if not m:
        return None
    if len(m.group(2)) > _MAX_DIGITS:
        raise ValueError("absurd binary size")
    r.i += 1
    body: list[bytes] = []
    while r.peek() is not None and _eol_strip(r.peek()) != b"":  # type: ignore[arg-type]
        body.append(r.peek())  # type: ignore[arg-type]
        r.i += 1
    r.i += 1  # the blank line that ends the block
    try:
        return _text(m.group(1)), decode_lines(body, int(m.group(2)), r.max_binary_bytes)
    except TooLarge as exc:
        return "too-large", str(exc).encode()
    except (ValueError, zlib.error) as exc:
        # Reported when applying, so a policy refusal of binary patches
        # still comes first.
        return "corrupt", str(exc).encode()


def _parse_plain_section(r: _Reader) -> FileEdit:
    start = r.i
    old_path = _header_name(r.lines[r.i][4:], git=False)
    new_path = _header_name(r.lines[r.i + 1][4:], git=False)
    r.i += 2
    if old_path is None and new_path is None:
        raise PatchParseError(f"line {start + 1}: both file names are /dev/null", kind="bad-header", line=start + 1)
    if old_path is not None and new_path is not None and old_path != new_path:
        # Like git (find_name_traditional): differing names in a plain diff
        # are one file, not a rename; the new name, unless the old one is a
        # shorter prefix of it ("x.c" vs "x.c.orig" style backups).
        name = old_path if len(old_path) < len(new_path) and new_path.startswith(old_path) else new_path
        old_path = new_path = name
    hunks = _parse_hunks(r, new_path or old_path or "")
    return FileEdit(old_path=old_path, new_path=new_path, hunks=tuple(hunks), line_no=start + 1)


def _binary_files_names(line: bytes) -> tuple[str | None, str | None] | None:
    """Names from diff's ``Binary files X and Y differ`` (no data follows)."""
    s = _eol_strip(line).rstrip()
    head, tail = b"Binary files ", b" differ"
    if not s.startswith(head) or not s.endswith(tail) or len(s) < len(head) + len(tail) + 7:
        return None
    mid = s[len(head) : -len(tail)]
    # Names may hold " and ": prefer the split into two names of one length
    # (a/X and b/X), else the first.
    half = (len(mid) - 5) // 2
    k = half if mid[half : half + 5] == b" and " else mid.find(b" and ")
    if k <= 0:
        return None
    return _header_name(mid[:k], git=False), _header_name(mid[k + 5 :], git=False)


def _clean_path_line(line: bytes) -> str:
    s = _eol_strip(line).strip()
    # Models decorate the file name: "**src/x.py**", "`src/x.py`", "src/x.py:".
    s = s.strip(b"*`'\"").rstrip(b":").strip()
    for prefix in (b"# ", b"## ", b"### ", b"File: ", b"file: ", b"Path: ", b"path: "):
        if s.startswith(prefix):
            s = s[len(prefix) :].strip().strip(b"*`'\"")
    return _text(s)


def _block_path(r: _Reader) -> str | None:
    j = r.i - 1
    while j >= 0:
        s = _eol_strip(r.lines[j])
        if not s.strip() or _FENCE_RE.match(s):
            j -= 1
            continue
        if _REPLACE_RE.match(s):
            return r.last_block_path
        return _clean_path_line(s) or None
    return None


def _parse_block(r: _Reader) -> tuple[str, Block]:
    line_no = r.i + 1
    r.block_count += 1
    index = r.block_count
    path = _block_path(r)
    if path is None:
        raise PatchParseError(
            f"search/replace block {index} (line {line_no}): no file path line before <<<<<<< SEARCH",
            kind="bad-header",
            hunk=index,
            line=line_no,
        )
    r.i += 1
    search: list[bytes] = []
    replace: list[bytes] = []
    target = search
    while True:
        line = r.peek()
        if line is None:
            missing = "=======" if target is search else ">>>>>>> REPLACE"
            raise PatchParseError(
                f"{shown(path)}: search/replace block {index} (line {line_no}): missing {missing}",
                kind="unterminated-block",
                path=path,
                hunk=index,
                line=line_no,
            )
        s = _eol_strip(line)
        r.i += 1
        if target is search and _DIVIDER_RE.match(s):
            target = replace
            continue
        if target is replace and _REPLACE_RE.match(s):
            break
        target.append(line)
    r.last_block_path = path
    return path, Block(index=index, search=b"".join(search), replace=b"".join(replace), line_no=line_no)


def parse_reply(reply: str | bytes, *, max_binary_bytes: int = DEFAULT_MAX_INFLATE) -> list[FileEdit]:
    """Every file edit in a Builder reply, in reply order.

    Consecutive search/replace blocks for the same file become one edit.
    Raises ``PatchParseError`` (classified by ``kind``) when there is no edit,
    or when a hunk header is broken or its counts do not match its lines.
    Binary data is inflated up to ``max_binary_bytes``; larger data is kept
    as a ``("too-large", message)`` payload for governance to refuse.
    """
    data = reply.encode("utf-8", "surrogateescape") if isinstance(reply, str) else bytes(reply)
    r = _Reader(data, max_binary_bytes)
    edits: list[FileEdit] = []
    # Blocks of the edit at the end of ``edits``, gathered in a list and
    # frozen once: growing a tuple per block would be quadratic.
    blocks: list[Block] = []

    def flush() -> None:
        if blocks:
            edits[-1] = attrs.evolve(edits[-1], blocks=tuple(blocks))
            blocks.clear()

    while r.i < len(r.lines):
        line = r.lines[r.i]
        if line.startswith(b"Binary files ") and (names := _binary_files_names(line)) is not None:
            flush()
            old, new = names
            if old is not None or new is not None:
                edits.append(FileEdit(old_path=old, new_path=new, binary=True, line_no=r.i + 1))
            r.i += 1
            continue
        if line.startswith(b"diff --git "):
            flush()
            edits.append(_parse_git_section(r))
        elif (
            line.startswith(b"--- ") and (r.peek(1) or b"").startswith(b"+++ ") and (r.peek(2) or b"").startswith(b"@@")
        ):
            flush()
            edits.append(_parse_plain_section(r))
        elif _HUNK_RE.match(line):
            raise PatchParseError(
                f"line {r.i + 1}: hunk without a file header ({shown(repr(_text(_eol_strip(line)[:200])))})",
                kind="bad-header",
                line=r.i + 1,
            )
        elif _SEARCH_RE.match(_eol_strip(line)):
            path, block = _parse_block(r)
            if not (blocks and edits[-1].new_path == path):
                flush()
                edits.append(FileEdit(old_path=path, new_path=path, blocks=(block,), line_no=block.line_no))
            blocks.append(block)
        else:
            r.i += 1
    flush()
    if not edits:
        raise PatchParseError(
            "the reply holds no edits: expected a unified diff or search/replace blocks",
            kind="no-edits",
        )
    for e in edits:
        if (
            not e.hunks
            and not e.blocks
            and not e.binary
            and e.old_mode == e.new_mode
            and not (e.is_new or e.is_delete or e.is_rename or e.is_copy)
        ):
            raise PatchParseError(
                f"{shown(e.path)}: line {e.line_no}: file header without hunks or changes",
                kind="bad-header",
                path=e.path,
                line=e.line_no,
            )
    return edits
