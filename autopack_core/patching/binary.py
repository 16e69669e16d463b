"""git's binary patches (``GIT binary patch``): base85 lines, zlib, and
git's delta format. Used only when the policy allows binary patches."""

from __future__ import annotations

import base64
import hashlib
import zlib

# git's base85 alphabet is RFC 1924's, which is Python's b85 alphabet.
_LEN_CHARS = {c: i + 1 for i, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")} | {
    c: i + 27 for i, c in enumerate(b"abcdefghijklmnopqrstuvwxyz")
}


def decode_lines(lines: list[bytes], size: int) -> bytes:
    """Inflate the base85 lines of one ``literal``/``delta`` block; raise
    ValueError when they are corrupt or do not inflate to ``size`` bytes."""
    raw = bytearray()
    for line in lines:
        line = line.rstrip(b"\r\n")
        n = _LEN_CHARS.get(line[0]) if line else None
        body = line[1:]
        if n is None or len(body) % 5 or len(body) * 4 // 5 < n:
            raise ValueError("corrupt binary patch line")
        raw += base64.b85decode(body)[:n]
    data = zlib.decompress(bytes(raw))
    if len(data) != size:
        raise ValueError(f"binary data inflates to {len(data)} bytes, expected {size}")
    return data


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def apply_delta(src: bytes, delta: bytes) -> bytes:
    """Apply a git delta (patch-delta.c) to ``src``; ValueError if it does not fit."""
    try:
        src_size, i = _varint(delta, 0)
        dst_size, i = _varint(delta, i)
        if src_size != len(src):
            raise ValueError("delta was made for a different preimage")
        out = bytearray()
        while i < len(delta):
            cmd = delta[i]
            i += 1
            if cmd & 0x80:
                off = size = 0
                for bit, shift in ((0x01, 0), (0x02, 8), (0x04, 16), (0x08, 24)):
                    if cmd & bit:
                        off |= delta[i] << shift
                        i += 1
                for bit, shift in ((0x10, 0), (0x20, 8), (0x40, 16)):
                    if cmd & bit:
                        size |= delta[i] << shift
                        i += 1
                size = size or 0x10000
                if off + size > len(src):
                    raise ValueError("delta copies beyond the preimage")
                out += src[off : off + size]
            elif cmd:
                out += delta[i : i + cmd]
                i += cmd
            else:
                raise ValueError("delta has a zero opcode")
    except IndexError:
        raise ValueError("delta is truncated") from None
    if len(out) != dst_size:
        raise ValueError("delta result has the wrong size")
    return bytes(out)


def blob_id(data: bytes) -> str:
    """git's object id of a blob with this content (SHA-1 repositories)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
