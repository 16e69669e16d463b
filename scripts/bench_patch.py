"""Patches applied per second: ``autopack patch apply`` (in process) vs ``git apply``.

Builds a 1,000-file git repository in a temp directory, makes a 3-file and a
50-file patch with real ``git diff`` (plus their reverses, so each run can
undo the last), then applies forward/reverse pairs through the click command
in process and through ``git apply`` as a subprocess (process start included,
as a user or executor would pay it). The two are interleaved pair by pair
so both see the same machine load; per-patch figures are medians (means
are given too). Prints one JSON object.

    python scripts/bench_patch.py [--iterations N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV = {
    **os.environ,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@autopack.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@autopack.invalid",
}


def git(cwd: Path, *args: str, input: bytes | None = None) -> bytes:
    return subprocess.run(["git", *args], cwd=cwd, input=input, env=ENV, check=True, capture_output=True).stdout


def make_workspace(root: Path, files: int = 1000) -> list[str]:
    names = []
    for i in range(files):
        rel = f"pkg{i % 20:02d}/module_{i:04d}.py"
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        lines = [f"def function_{i}_{j}(x):\n    return x * {j} + {i}\n\n" for j in range(40)]
        p.write_text("".join(lines))
        names.append(rel)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "workspace")
    return names


def make_patch(root: Path, names: list[str]) -> tuple[bytes, bytes]:
    for rel in names:
        p = root / rel
        text = p.read_text()
        text = text.replace("return x * 3 +", "return x * 3 - ", 1).replace("return x * 30 +", "return x // 30 +", 1)
        p.write_text(text + "# edited by the benchmark\n")
    forward = git(root, "diff")
    reverse = git(root, "diff", "-R")
    git(root, "checkout", "-q", "--", ".")
    return forward, reverse


def measure(ws: Path, fwd: Path, rev: Path, iterations: int) -> tuple[list[float], list[float]]:
    """Seconds per patch for each forward+reverse pair, ours and git's,
    interleaved so that both see the same machine load."""
    from autopack_core.commands.patch import patch_group

    def ours(p: Path) -> None:
        patch_group.main(["apply", str(p), "--workspace", str(ws)], prog_name="autopack patch", standalone_mode=False)

    def theirs(p: Path) -> None:
        subprocess.run(["git", "apply", str(p)], cwd=ws, env=ENV, check=True, capture_output=True)

    samples: tuple[list[float], list[float]] = ([], [])
    with contextlib.redirect_stdout(io.StringIO()):
        for k in range(iterations + 1):
            for fn, out in ((ours, samples[0]), (theirs, samples[1])):
                start = time.perf_counter()
                fn(fwd)
                fn(rev)
                if k:  # the first round warms caches and imports
                    out.append((time.perf_counter() - start) / 2)
    return samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=50, help="forward+reverse pairs per measurement")
    args = ap.parse_args()
    out: dict[str, object] = {
        "workspace_files": 1000,
        "iterations": args.iterations,
        "python": platform.python_version(),
        "git": git(Path("."), "--version").decode().strip(),
        "cases": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp, "ws")
        ws.mkdir()
        names = make_workspace(ws)
        for count in (3, 50):
            forward, reverse = make_patch(ws, names[7 : 7 + count * 19 : 19])
            fwd, rev = Path(tmp, f"fwd{count}.patch"), Path(tmp, f"rev{count}.patch")
            fwd.write_bytes(forward)
            rev.write_bytes(reverse)
            ours_s, git_s = measure(ws, fwd, rev, args.iterations)
            ours, theirs = statistics.median(ours_s), statistics.median(git_s)
            if git(ws, "status", "--porcelain"):
                raise SystemExit("benchmark left the workspace modified")
            out["cases"][f"{count}_files"] = {  # type: ignore[index]
                "patch_bytes": len(forward),
                "autopack_patches_per_s": round(1 / ours, 1),
                "git_apply_patches_per_s": round(1 / theirs, 1),
                "autopack_ms_per_patch": round(ours * 1000, 3),
                "git_apply_ms_per_patch": round(theirs * 1000, 3),
                "autopack_mean_ms_per_patch": round(statistics.fmean(ours_s) * 1000, 3),
                "git_apply_mean_ms_per_patch": round(statistics.fmean(git_s) * 1000, 3),
                "speedup_vs_git_apply": round(theirs / ours, 2),
            }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
