"""Checkpoint commit time vs the git CLI on a 1,000-file repository.

Each round edits one file and adds one, then commits: once with
``GitWorkspace.checkpoint`` and once with ``git add -A && git commit`` (two
processes, as a user or a script would run them) in an identical copy.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autopack_core.gitops import GitWorkspace
from autopack_core.testing import GIT_ENV, make_git_workspace


def build(path: Path, files: int) -> Path:
    content = {f"pkg{i % 25}/mod{i}.py": f"# module {i}\n" + "x = 1\n" * (i % 40) for i in range(files)}
    content[".gitignore"] = "*.pyc\n"
    return make_git_workspace(path, content)


def edit(path: Path, rnd: int) -> None:
    target = path / f"pkg{rnd % 25}" / f"mod{rnd}.py"
    target.write_text(target.read_text() + f"y{rnd} = {rnd}\n")
    (path / "new" / f"f{rnd}.py").parent.mkdir(exist_ok=True)
    (path / "new" / f"f{rnd}.py").write_text(f"z = {rnd}\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=40)
    args = ap.parse_args()
    env = {**os.environ, **GIT_ENV}
    with tempfile.TemporaryDirectory() as tmp:
        ours = build(Path(tmp) / "ours", args.files)
        theirs = Path(tmp) / "theirs"
        shutil.copytree(ours, theirs, symlinks=True)
        subprocess.run(["git", "-C", str(theirs), "status", "-s"], check=True, env=env, capture_output=True)
        ws = GitWorkspace(ours)
        ws.checkpoint("warm")  # first refresh of the stat cache after the copy/commit
        subprocess.run(["git", "-C", str(theirs), "commit", "-q", "--allow-empty", "-m", "warm"], check=True, env=env)
        t_ours, t_fresh, t_git = [], [], []
        for rnd in range(args.rounds):
            edit(ours, rnd)
            t0 = time.perf_counter()
            if rnd % 2:
                # A new GitWorkspace reads the index file instead of reusing the entries it wrote.
                GitWorkspace(ours).checkpoint(f"round {rnd}", trailers={"Autopack-Phase": str(rnd)})
                t_fresh.append((time.perf_counter() - t0) * 1000)
            else:
                ws.checkpoint(f"round {rnd}", trailers={"Autopack-Phase": str(rnd)})
                t_ours.append((time.perf_counter() - t0) * 1000)
            edit(theirs, rnd)
            t0 = time.perf_counter()
            subprocess.run(["git", "-C", str(theirs), "add", "-A"], check=True, env=env)
            subprocess.run(
                ["git", "-C", str(theirs), "commit", "-q", "--no-verify", "-m", f"round {rnd}"], check=True, env=env
            )
            t_git.append((time.perf_counter() - t0) * 1000)
        ours_tree = subprocess.run(
            ["git", "-C", str(ours), "rev-parse", "HEAD^{tree}"], capture_output=True, text=True, env=env
        ).stdout
        theirs_tree = subprocess.run(
            ["git", "-C", str(theirs), "rev-parse", "HEAD^{tree}"], capture_output=True, text=True, env=env
        ).stdout
    result = {
        "files": args.files,
        "rounds": args.rounds,
        "checkpoint_ms": round(statistics.median(t_ours), 2),
        "checkpoint_fresh_instance_ms": round(statistics.median(t_fresh), 2),
        "git_cli_ms": round(statistics.median(t_git), 2),
        "ratio": round(statistics.median(t_ours) / statistics.median(t_git), 2),
        "same_tree": ours_tree == theirs_tree,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
