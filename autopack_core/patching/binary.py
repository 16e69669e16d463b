"""git's binary patches (``GIT binary patch``): base85 lines, zlib, and
git's delta format. Used only when the policy allows binary patches."""

from __future__ import annotations

import base64
import hashlib
import zlib

# What binary data may inflate to unless the caller says otherwise (the
# policy's ``max_binary_bytes``).
DEFAULT_MAX_INFLATE = 32 * 1024 * 1024

# git's base85 alphabet is RFC 1924's, which is Python's b85 alphabet.
_LEN_CHARS = {c: i + 1 for i, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")} | {
    c: i + 27 for i, c in enumerate(b"abcdefghijklmnopqrstuvwxyz")
}


class TooLarge(ValueError):
    """Binary data states or inflates to more than the cap."""


def decode_lines(lines: list[bytes], size: int, max_size: int = DEFAULT_MAX_INFLATE) -> bytes:
    """Inflate the base85 lines of one ``literal``/``delta`` block; raise
    ValueError when they are corrupt or do not inflate to ``size`` bytes, and
    ``TooLarge`` when ``size`` exceeds ``max_size``.

    Inflation is streamed and stops one byte past ``size``, so a zlib bomb
    never makes us allocate more than ``size`` + 1 bytes."""
    if size > max_size:
        raise TooLarge(f"binary data of {size} bytes is over the limit of {max_size} (max_binary_bytes)")
    raw = bytearray()
    for line in lines:
        line = line.rstrip(b"\r\n")
        n = _LEN_CHARS.get(line[0]) if line else None
        body = line[1:]
        if n is None or len(body) % 5 or len(body) * 4 // 5 < n:
            raise ValueError("corrupt binary patch line")
        raw += base64.b85decode(body)[:n]
    z = zlib.decompressobj()
    data = z.decompress(bytes(raw), size + 1)
    if len(data) > size or z.unconsumed_tail:
        raise ValueError(f"binary data inflates to more than the {size} bytes it states")
    if not z.eof:
        raise ValueError("binary data is truncated")
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
        if shift > 63:
            # git's sizes are 64-bit; a longer run is garbage, and an
            # unbounded one would build a huge integer.
            raise ValueError("delta size field is too long")


def apply_delta(src: bytes, delta: bytes, max_size: int = DEFAULT_MAX_INFLATE) -> bytes:
    """Apply a git delta (patch-delta.c) to ``src``; ValueError if it does not
    fit, ``TooLarge`` if its result would exceed ``max_size``. The result never
    grows past the size the delta states (a few copy commands could otherwise
    ask for terabytes)."""
    try:
        src_size, i = _varint(delta, 0)
        dst_size, i = _varint(delta, i)
        if src_size != len(src):
            raise ValueError("delta was made for a different preimage")
        if dst_size > max_size:
            raise TooLarge(f"delta result of {dst_size} bytes is over the limit of {max_size} (max_binary_bytes)")
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
                if off + size > len(src) or len(out) + size > dst_size:
                    raise ValueError("delta copies beyond the preimage or its stated size")
                out += src[off : off + size]
            elif cmd:
                if len(out) + cmd > dst_size:
                    raise ValueError("delta inserts beyond its stated size")
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
