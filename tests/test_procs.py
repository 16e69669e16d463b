"""The core's argv runner: no shell, timeout that kills the whole process group, output cap, no credentials."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autopack_core.procs import SYSTEM_PATH, looks_like_credential, run_argv, scrubbed_env

PY = sys.executable

# The child starts a grandchild that would outlive it by far, records its pid, then waits.
SPAWNER = """
import subprocess, sys, time
g = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open(sys.argv[1], "w").write(str(g.pid))
print("spawned", flush=True)
if sys.argv[2] == "wait":
    time.sleep(60)
"""


def run(*args, **kw):
    return asyncio.run(run_argv(*args, **kw))


def _gone(pid: int) -> bool:
    # Dead, or a zombie nobody has reaped yet: either way it runs no more.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def _wait_gone(pid: int) -> bool:
    for _ in range(200):
        if _gone(pid):
            return True
        time.sleep(0.05)
    return False


def test_exit_code_and_merged_output(tmp_path):
    r = run([PY, "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"], tmp_path, 30)
    assert (r.returncode, r.ok, r.timed_out) == (3, False, False)
    assert "out" in r.output and "err" in r.output
    assert run([PY, "-c", "pass"], tmp_path, 30).ok


def test_no_shell_interprets_the_arguments(tmp_path):
    r = run(["echo", "$HOME; touch pwned", "`id`", "*"], tmp_path, 30)
    assert r.ok and r.output == "$HOME; touch pwned `id` *\n"
    assert not (tmp_path / "pwned").exists()


def test_a_timeout_kills_the_whole_group(tmp_path):
    pidfile = tmp_path / "g.pid"
    r = run([PY, "-c", SPAWNER, str(pidfile), "wait"], tmp_path, 1.5)
    assert r.timed_out and r.returncode is None and not r.ok
    assert "spawned" in r.output and "timed out after 1.5s" in r.output
    assert _wait_gone(int(pidfile.read_text()))


def test_what_a_command_leaves_running_is_killed_when_it_exits(tmp_path):
    pidfile = tmp_path / "g.pid"
    # The grandchild holds the output pipe open: without the group kill the
    # runner would wait for it, and it would live on after the check.
    r = run([PY, "-c", SPAWNER, str(pidfile), "exit"], tmp_path, 30)
    assert r.ok and not r.timed_out
    assert _wait_gone(int(pidfile.read_text()))


def test_cancelling_the_caller_kills_the_group(tmp_path):
    pidfile = tmp_path / "g.pid"

    async def go():
        task = asyncio.ensure_future(run_argv([PY, "-c", SPAWNER, str(pidfile), "wait"], tmp_path, 60))
        while not pidfile.exists() or not pidfile.read_text():
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert _wait_gone(int(pidfile.read_text()))


def test_output_keeps_only_its_tail(tmp_path):
    code = "import sys; sys.stdout.write('x' * 100_000 + 'THE END')"
    r = run([PY, "-c", code], tmp_path, 30, output_limit=1000)
    assert r.ok and r.truncated and len(r.output) == 1000 and r.output.endswith("xTHE END")
    small = run([PY, "-c", "print('short')"], tmp_path, 30, output_limit=1000)
    assert not small.truncated and small.output == "short\n"


def test_a_program_that_does_not_exist(tmp_path):
    r = run(["no-such-program-xyz"], tmp_path, 30)
    assert r.returncode is None and r.error.startswith("cannot run 'no-such-program-xyz'")
    assert run([], tmp_path, 30).error == "empty command"


SECRETS = {
    "OPENAI_API_KEY": "sk-1",
    "GITHUB_TOKEN": "ghp",
    "PGPASSWORD": "pw",
    "AWS_SECRET_ACCESS_KEY": "aws",
    "AWS_ACCESS_KEY_ID": "id",
    "MY_SESSION_COOKIE": "c",
    "NPM_AUTH": "n",
    "GPG_PASSPHRASE": "g",
}
HARMLESS = {"HOME": "/home/u", "LANG": "C.UTF-8", "MONKEY_MODE": "1", "KEYBOARD": "us", "PATH": "/opt/bin"}


def test_the_environment_has_no_credentials(tmp_path):
    code = "import os, json; print(json.dumps(dict(os.environ)))"
    r = run([PY, "-c", code], tmp_path, 30, env={**SECRETS, **HARMLESS}, extra_env={"EXTRA": "1"})
    seen = json.loads(r.output)
    assert not set(SECRETS) & set(seen)
    assert {k: seen[k] for k in HARMLESS} == HARMLESS and seen["EXTRA"] == "1"
    fixed = run([PY, "-c", code], tmp_path, 30, env=HARMLESS, path=SYSTEM_PATH)
    assert json.loads(fixed.output)["PATH"] == SYSTEM_PATH


def test_the_default_environment_is_this_processs_scrubbed(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOPACK_TEST_API_KEY", "secret")
    env = scrubbed_env()
    assert "AUTOPACK_TEST_API_KEY" not in env and env.get("PATH") == os.environ.get("PATH")


words = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_", max_size=8)


@given(words, st.sampled_from(["TOKEN", "SECRET", "PASSWORD", "API_KEY", "CREDENTIALS"]), words)
def test_any_name_carrying_a_credential_word_is_dropped(before, word, after):
    name = before + word + after
    assert looks_like_credential(name) and looks_like_credential(name.lower())
    assert name not in scrubbed_env({name: "x", "HOME": "/h"})
