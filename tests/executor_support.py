"""A small project, plans, patches and configs for the executor's tests.

The project is real (a git repository with Python code and a quick check
script); only the models are scripted: by a cassette for the ``recorded``
provider (restart-safe, matched on what the prompt says) or by a real HTTP
server on 127.0.0.1 speaking the OpenAI wire format.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from autopack_core.testing import make_git_workspace

AUTOPACK = str(Path(sys.executable).with_name("autopack"))

FILES = {
    "app/__init__.py": "",
    "app/core.py": "def add(a, b):\n    return a - b\n",
    "check_add.py": (
        "from app.core import add\n\nassert add(2, 3) == 5, f'add(2, 3) returned {add(2, 3)}'\nprint('add ok')\n"
    ),
    ".gitignore": "__pycache__/\n",
}

GOOD_ADD = """```diff
--- a/app/core.py
+++ b/app/core.py
@@ -1,2 +1,2 @@
 def add(a, b):
-    return a - b
+    return a + b
```
"""

STALE_ADD = """```diff
--- a/app/core.py
+++ b/app/core.py
@@ -1,2 +1,2 @@
 def add(x, y):
-    return x - y
+    return x + y
```
"""

WRONG_ADD = """```diff
--- a/app/core.py
+++ b/app/core.py
@@ -1,2 +1,2 @@
 def add(a, b):
-    return a - b
+    return a * b
```
"""

WRONG_MUL = """app/mul.py
<<<<<<< SEARCH
=======
def mul(a, b):
    return a + b
>>>>>>> REPLACE
"""

GOOD_MUL = """app/mul.py
<<<<<<< SEARCH
=======
def mul(a, b):
    return a * b
>>>>>>> REPLACE
"""

CHECK_ADD = '{name: command, run: "python check_add.py"}'
CHECK_MUL = """{name: command, run: "python -c 'from app.mul import mul; assert mul(2, 3) == 6, mul(2, 3)'"}"""

ADD_GOAL = "Make add() return the sum of its arguments"
MUL_GOAL = "Add mul() in app/mul.py returning the product"


def plan_text(*, two_phases: bool = True, optional_second: bool = False, extra_phase: str = "") -> str:
    text = f"""goal: Fix the arithmetic of app
phases:
  - id: fix-add
    goal: {ADD_GOAL}
    category: bugfix
    complexity: low
    scope: [app/core.py]
    checks: [{CHECK_ADD}]
"""
    if two_phases:
        text += f"""  - id: add-mul
    goal: {MUL_GOAL}
    category: feature
    complexity: medium
    scope: [app/mul.py]
    optional: {str(optional_second).lower()}
    checks: [{CHECK_MUL}]
"""
    return text + extra_phase


def make_project(root: Path, plan: str | None = None) -> Path:
    ws = make_git_workspace(root / "ws", {**FILES, "plan.yaml": plan if plan is not None else plan_text()})
    return ws


APPROVE = '{"verdict": "approve", "issues": []}'


def doctor(action: str, hint: str = "", confidence: float = 0.9, **extra: Any) -> str:
    if action == "retry_with_fix" and not hint:
        hint = "look again at the failure"
    return json.dumps(
        {"action": action, "confidence": confidence, "rationale": f"because {action}", "hint": hint, **extra}
    )


def cassette_yaml(answers: list[dict[str, Any]]) -> str:
    # JSON is YAML; one answer per line keeps the file readable in a failing test's output.
    return json.dumps({"answers": answers}, indent=1)


def recorded_config(ws: Path, answers: list[dict[str, Any]], extra: str = "") -> Path:
    """A config with every role on the recorded provider answering from ``answers``; committed."""
    (ws / "config").mkdir(exist_ok=True)
    (ws / "config" / "cassette.yaml").write_text(cassette_yaml(answers))
    (ws / "config" / "models.yaml").write_text(
        """providers:
  rec:
    kind: recorded
    cassette: cassette.yaml
models:
  cheap-m:
    provider: rec
    tier: cheap
    price_per_mtok_in: 1.0
    price_per_mtok_out: 2.0
  strong-m:
    provider: rec
    tier: strong
    price_per_mtok_in: 10.0
    price_per_mtok_out: 20.0
routing:
  default:
    cheap: cheap-m
    strong: strong-m
"""
        + extra
    )
    commit_all(ws, "config")
    return ws / "config" / "models.yaml"


def http_config(ws: Path, url: str, extra: str = "") -> Path:
    """A config with every role served by an OpenAI-compatible server at ``url``; committed."""
    (ws / "config").mkdir(exist_ok=True)
    (ws / "config" / "models.yaml").write_text(
        f"""providers:
  local:
    kind: openai
    base_url: {url}/v1
models:
  cheap-m:
    provider: local
    tier: cheap
    price_per_mtok_in: 1.0
    price_per_mtok_out: 2.0
  strong-m:
    provider: local
    tier: strong
    price_per_mtok_in: 10.0
    price_per_mtok_out: 20.0
retries:
  backoff_base_seconds: 0.01
  backoff_max_seconds: 0.05
  jitter_seconds: 0
routing:
  default:
    cheap: cheap-m
    strong: strong-m
"""
        + extra
    )
    commit_all(ws, "config")
    return ws / "config" / "models.yaml"


def openai_body(text: str, prompt_tokens: int = 100, completion_tokens: int = 20) -> dict[str, Any]:
    return {
        "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
    }


def commit_all(ws: Path, message: str) -> None:
    from autopack_core.testing import GIT_ENV

    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "-C", str(ws), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(ws), "commit", "-q", "-m", message], check=True, env=env)


def git(ws: Path, *args: str) -> str:
    from autopack_core.testing import GIT_ENV

    return subprocess.run(
        ["git", "-C", str(ws), *args], check=True, capture_output=True, text=True, env={**os.environ, **GIT_ENV}
    ).stdout


def autopack(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("AUTOPACK_TEST_")}
    full.pop("AUTOPACK_DB", None)
    full.update(env or {})
    return subprocess.run(
        [AUTOPACK, *args], capture_output=True, text=True, cwd=cwd, env=full, timeout=timeout, check=False
    )


def db_of(ws: Path) -> Path:
    return ws / ".autopack" / "autopack.db"


def run_ids(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT DISTINCT run_id FROM events ORDER BY run_id")]


def event_types(db: Path, run_id: str | None = None) -> list[str]:
    with sqlite3.connect(db) as conn:
        if run_id is None:
            run_id = conn.execute("SELECT run_id FROM events LIMIT 1").fetchone()[0]
        return [r[0] for r in conn.execute("SELECT type FROM events WHERE run_id = ? ORDER BY seq", (run_id,))]


def payloads(db: Path, type_: str) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        return [
            json.loads(r[0])
            for r in conn.execute("SELECT payload FROM events WHERE type = ? ORDER BY run_id, seq", (type_,))
        ]


def checkpoint_commits(ws: Path) -> list[str]:
    """Subjects of the commits Autopack made (by its trailer), newest first."""
    out = git(ws, "log", "--format=%s%x1f%(trailers:key=Autopack-Phase,valueonly)%x1e")
    return [e.split("\x1f")[0].strip() for e in out.split("\x1e") if e.strip() and e.split("\x1f")[1].strip()]


def fork_autopack(*args: str, cwd: Path, env: dict[str, str] | None = None) -> int:
    """``autopack ARGS`` in a forked child (the same code as the command, without paying for
    its imports again); returns the exit code. Output goes to ``cwd/../autopack-<pid>.log``."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    proc = ctx.Process(target=_child, args=(list(args), str(cwd), dict(env or {})))
    proc.start()
    proc.join(120)
    assert proc.exitcode is not None, "autopack child did not finish"
    return proc.exitcode


def _child(args: list[str], cwd: str, env: dict[str, str]) -> None:
    os.chdir(cwd)
    for k in [k for k in os.environ if k.startswith("AUTOPACK_TEST_") or k == "AUTOPACK_DB"]:
        del os.environ[k]
    os.environ.update(env)
    log = os.open(os.path.join(os.path.dirname(cwd), f"autopack-{os.getpid()}.log"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - lives as long as the child
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    from autopack_core.cli import main

    main(args)


#: A one-phase run that succeeds at once (recorded provider).
ANSWERS_SIMPLE = [
    {"role": "builder", "text": GOOD_ADD, "repeat": True},
    {"role": "auditor", "text": APPROVE, "repeat": True},
]


def run_against_server(ws: Path, server: Any, replies: list[Any], extra_config: str = "", *, plugins: Any = None):
    """``autopack run`` of ``ws/plan.yaml`` in process, every model played by ``server`` (OpenAI wire format).

    ``replies`` are reply texts (answered 200) or ``enqueue`` keyword dicts.
    Returns (exit code, run id, store path, the run's events, plain progress output).
    """
    import asyncio
    import io

    from autopack_core.executor.progress import PlainProgress
    from autopack_core.executor.runner import start_run
    from autopack_core.plugins import load_plugins
    from autopack_core.projections import fold_run
    from autopack_core.store import EventStore
    from autopack_core.views import view_to_dict

    cfg = http_config(ws, server.url, extra_config)
    for r in replies:
        if isinstance(r, str):
            server.enqueue(200, openai_body(r))
        else:
            server.enqueue(**r)
    plugins = plugins or load_plugins()
    out = io.StringIO()
    code, run_id, db = asyncio.run(
        start_run(
            plugins=plugins,
            plan_path=ws / "plan.yaml",
            workspace=ws,
            config_path=cfg,
            db=None,
            progress_factory=lambda codec: PlainProgress(out),
        )
    )
    with EventStore(db, plugins.codec) as store:
        envs = list(store.iter_events(run_id))
        # The state the run showed is the fold of its log.
        assert view_to_dict(fold_run(envs)) == view_to_dict(fold_run(store.iter_events(run_id)))
    return code, run_id, db, [e.event for e in envs], out.getvalue()
