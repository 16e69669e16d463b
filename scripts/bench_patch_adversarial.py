"""Time and memory of governed apply on hostile patches, next to ``git apply``.

Each input of issue 7 item 5 (and a few of our own) is written to a temp
directory with a workspace; then, in a fresh child process each, Autopack
checks it (``governed_apply(..., dry_run=True)``, binary patches allowed, as
``autopack patch check --allow-binary`` would) and ``git apply --check``
checks the same file in the same workspace. For each side: wall time of the
child (process start included), peak RSS of the child (``wait4``), and for
Autopack the in-process seconds of reading and checking the patch and the
outcome (ok, refused with rules, or the error class). Prints one JSON object
as its last line.

    python scripts/bench_patch_adversarial.py [--scale 1.0] [--only NAME ...]

``--scale`` shrinks or grows every input (1.0 = the sizes in the issue, the
zlib bomb is 256 MiB inflated at 1.0 so git's side stays bearable).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

MiB = 1024 * 1024
ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def _b85_lines(data: bytes) -> bytes:
    import base64

    out = []
    for k in range(0, len(data), 52):
        chunk = data[k : k + 52]
        n = len(chunk)
        head = chr(ord("A") + n - 1) if n <= 26 else chr(ord("a") + n - 27)
        out.append(head.encode() + base64.b85encode(chunk, pad=True))
    return b"\n".join(out) + b"\n"


def _bomb(size: int) -> bytes:
    z = zlib.compressobj(9)
    chunk = b"\0" * MiB
    parts = [z.compress(chunk) for _ in range(size // MiB)]
    return b"".join(parts) + z.flush()


def _literal(stated: int, deflated: bytes) -> bytes:
    return (
        b"diff --git a/bomb.bin b/bomb.bin\nnew file mode 100644\nindex "
        + b"0" * 40
        + b".."
        + b"1" * 40
        + b"\nGIT binary patch\nliteral %d\n" % stated
        + _b85_lines(deflated)
        + b"\n"
    )


def build(name: str, d: Path, scale: float) -> tuple[Path, Path]:
    """Write case ``name`` under ``d``: returns (patch file, workspace)."""
    ws = d / "ws"
    ws.mkdir()
    patch = d / "patch"

    def n(k: float) -> int:
        return max(1, int(k * scale))

    if name == "dev_zero":
        return Path("/dev/zero"), ws
    if name in ("zlib_bomb", "zlib_bomb_small_stated"):
        size = n(256) * MiB
        data = _bomb(size)
        patch.write_bytes(_literal(size if name == "zlib_bomb" else 1000, data))
    elif name == "identical_context":
        lines = n(200_000)
        (ws / "f").write_bytes(b"x\n" * lines)
        ctx = n(10_000)
        body = b" x\n" * ctx + b"-y\n+z\n" + b" x\n" * ctx
        patch.write_bytes(
            b"--- a/f\n+++ b/f\n@@ -%d,%d +%d,%d @@\n" % (lines // 2, 2 * ctx + 1, lines // 2, 2 * ctx + 1) + body
        )
    elif name == "misplaced_hunks":
        lines = n(200_000)
        (ws / "f").write_bytes(b"".join(b"l%d\n" % i for i in range(lines)))
        step = 200
        out = [b"--- a/f\n+++ b/f\n"]
        for i in range(0, lines - 3, step):
            out.append(
                b"@@ -%d,3 +%d,3 @@\n l%d\n-l%d\n+L%d\n l%d\n" % (lines - 10, lines - 10, i, i + 1, i + 1, i + 2)
            )
        patch.write_bytes(b"".join(out))
    elif name == "header_spaces":
        patch.write_bytes(b"diff --git " + b" " * n(200_000) + b"\nold mode 100644\nnew mode 100755\n")
    elif name == "search_replace_blocks":
        # 100k blocks for one file of 2,000 lines: each block swaps a line
        # and the next one swaps it back, so every block must apply.
        keep = 2000
        (ws / "f.txt").write_bytes(b"".join(b"a%d\n" % i for i in range(keep)))
        blocks = [b"f.txt\n"]
        for j in range(n(100_000) // 2):
            k = j % keep
            blocks.append(b"<<<<<<< SEARCH\na%d\n=======\nb%d\n>>>>>>> REPLACE\n" % (k, k))
            blocks.append(b"<<<<<<< SEARCH\nb%d\n=======\na%d\n>>>>>>> REPLACE\n" % (k, k))
        patch.write_bytes(b"".join(blocks))
    elif name == "copies_500":
        (ws / "big.bin").write_bytes(b"y" * MiB)
        patch.write_bytes(
            b"".join(
                b"diff --git a/big.bin b/c%d.bin\nsimilarity index 100%%\ncopy from big.bin\ncopy to c%d.bin\n" % (i, i)
                for i in range(n(500))
            )
        )
    elif name == "absurd_number":
        (ws / "a.txt").write_bytes(b"one\n")
        patch.write_bytes(b"--- a/a.txt\n+++ b/a.txt\n@@ -1," + b"9" * 5000 + b" +1 @@\n-one\n+two\n")
    else:
        raise SystemExit(f"unknown case {name}")
    return patch, ws


CASES = [
    "dev_zero",
    "zlib_bomb",
    "zlib_bomb_small_stated",
    "identical_context",
    "misplaced_hunks",
    "header_spaces",
    "search_replace_blocks",
    "copies_500",
    "absurd_number",
]


def child(patch: str, ws: str) -> None:
    """Run in a fresh process: check one patch, print one JSON line."""
    import attrs

    from autopack_core.commands.patch import _read_capped
    from autopack_core.errors import AutopackError
    from autopack_core.patching import DEFAULT_POLICY, governed_apply

    policy = attrs.evolve(DEFAULT_POLICY, allow_binary_patches=True)
    t0 = time.perf_counter()
    try:
        data = _read_capped(Path(patch), policy.max_patch_bytes)
        if data is None:
            outcome = "refused: patch-too-large"
        else:
            r = governed_apply(data, ws, policy, dry_run=True)
            outcome = "ok" if r.ok else "refused: " + ",".join(sorted({x.rule for x in r.refusals}))
    except AutopackError as exc:
        outcome = f"{type(exc).__name__}: {str(exc)[:100]}"
    seconds = time.perf_counter() - t0
    # Peak RSS (measured by the parent with wait4) is the memory figure;
    # tracemalloc would slow the allocation-heavy cases several-fold.
    print(json.dumps({"seconds": round(seconds, 4), "outcome": outcome}))


def _measure(argv: list[str], cwd: Path | None = None, timeout: float = 600) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    deadline = t0 + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            return {"seconds": None, "timeout": timeout}
        time.sleep(0.005)
    wall = time.perf_counter() - t0
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    return {
        "wall_seconds": round(wall, 4),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "exit": os.waitstatus_to_exitcode(status),
        "stdout": out.decode("utf-8", "replace"),
        "stderr": err.decode("utf-8", "replace")[:160],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--build", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.build:
        patch, ws = build(args.build[0], Path(args.build[1]), args.scale)
        print(json.dumps([str(patch), str(ws)]))
        return
    results: dict[str, dict] = {}
    for name in args.only or CASES:
        with tempfile.TemporaryDirectory(prefix="autopack-adv-") as tmp:
            # Inputs are built in a child too: a child's peak RSS starts at its
            # parent's size at fork, so the parent must stay small.
            made = subprocess.run(
                [sys.executable, __file__, "--scale", str(args.scale), "--build", name, tmp],
                capture_output=True,
                check=True,
            )
            patch, ws = (Path(x) for x in json.loads(made.stdout))
            ours = _measure([sys.executable, __file__, "--child", str(patch), str(ws)])
            line = (ours.pop("stdout") or "{}").strip().splitlines()
            inner = json.loads(line[-1]) if line else {}
            ours.pop("stderr", None) if ours.get("exit") == 0 else None
            entry = {"autopack": {**ours, **inner}}
            if name == "dev_zero":
                entry["git"] = None  # git apply would read /dev/zero forever
            else:
                g = _measure(["git", "apply", "--check", "--whitespace=nowarn", str(patch)], cwd=ws)
                g.pop("stdout", None)
                g["accepts"] = g.get("exit") == 0
                entry["git"] = g
            results[name] = entry
            print(f"{name}: {json.dumps(entry)}", file=sys.stderr)
    print(
        json.dumps(
            {
                "bench": "patch_adversarial",
                "scale": args.scale,
                "python": platform.python_version(),
                "git": subprocess.run(["git", "--version"], capture_output=True, text=True, check=False).stdout.strip(),
                "cases": results,
            }
        )
    )


if __name__ == "__main__":
    main()
