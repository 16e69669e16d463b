"""Running a program for Autopack: argv only, a deadline, an output cap, no credentials.

The one subprocess runner of the engine (quality checks, fix commands,
health checks use it):

- no shell: ``argv`` is executed as given, so nothing in it is interpreted;
- a timeout, after which the command *and everything it started* is killed:
  the command leads its own process group (a new session), and the whole
  group gets SIGKILL. A descendant that starts a session of its own leaves
  the group and is out of reach; nothing short of a cgroup catches that;
- the group is also killed when the command exits, so a check cannot leave
  a server running behind it;
- output (stdout and stderr merged) keeps only its last ``output_limit``
  characters, where failures are reported, and memory stays bounded;
- the environment is the parent's minus anything that looks like a
  credential (``*_KEY``, ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*`` ...), so
  a command the Builder wrote cannot read the provider keys; ``path`` fixes
  ``PATH``.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import time
from pathlib import Path
from typing import Mapping, Sequence

import attrs

OUTPUT_LIMIT = 20_000  # characters kept; the tail holds the failures
#: A PATH with only the system's directories, for callers that want one.
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
_CHUNK = 64 * 1024
_DRAIN_S = 2.0  # how long output is still read after the group is killed

# A variable is a credential when a word of its name says so ("OPENAI_API_KEY",
# "GITHUB_TOKEN", "PGPASSWORD", "AWS_SECRET_ACCESS_KEY", "NETRC_AUTH").
_CREDENTIAL = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|PRIVATE|APIKEY|API_KEY|COOKIE|SESSION"
    r"|(^|_)(KEY|KEYS|AUTH|PASS|PAT|DSN)(_|$)",
    re.IGNORECASE,
)


def looks_like_credential(name: str) -> bool:
    return _CREDENTIAL.search(name) is not None


def scrubbed_env(
    base: Mapping[str, str] | None = None,
    *,
    extra: Mapping[str, str] | None = None,
    path: str | None = None,
) -> dict[str, str]:
    """``base`` (default: this process's environment) without credentials, plus ``extra``.

    ``path`` replaces ``PATH`` when given. ``extra`` is the caller's own
    choice and is not scrubbed.
    """
    env = {k: v for k, v in (os.environ if base is None else base).items() if not looks_like_credential(k)}
    if path is not None:
        env["PATH"] = path
    env.update(extra or {})
    return env


@attrs.frozen(kw_only=True)
class ProcResult:
    """How a command ended. ``returncode`` is None when it did not start or timed out."""

    argv: tuple[str, ...]
    returncode: int | None
    output: str = ""
    timed_out: bool = False
    truncated: bool = False
    error: str = ""  # why it could not start
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class _Tail:
    """The last ``limit`` bytes of a stream, read to its end."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.truncated = False

    async def read(self, stream: asyncio.StreamReader) -> None:
        while True:
            chunk = await stream.read(_CHUNK)
            if not chunk:
                return
            self.data += chunk
            if len(self.data) > self.limit:
                del self.data[: len(self.data) - self.limit]
                self.truncated = True


class _Protocol(asyncio.subprocess.SubprocessStreamProtocol):
    """The stream protocol, plus a future set when the process itself exits."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=_CHUNK, loop=loop)
        self.exited: asyncio.Future[None] = loop.create_future()

    def process_exited(self) -> None:
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(None)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


async def run_argv(
    argv: Sequence[str],
    cwd: Path,
    timeout_s: float,
    *,
    env: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    path: str | None = None,
    output_limit: int = OUTPUT_LIMIT,
) -> ProcResult:
    """Run ``argv`` in ``cwd`` without a shell; see the module docstring for the rules.

    :param env: the environment to scrub (default: this process's).
    :param extra_env: variables to add after scrubbing (not scrubbed).
    :param path: a fixed ``PATH`` (``SYSTEM_PATH``, say) instead of the inherited one.
    """
    args = tuple(argv)
    if not args:
        return ProcResult(argv=args, returncode=None, error="empty command")
    start = time.perf_counter()
    loop = asyncio.get_running_loop()
    try:
        transport, protocol = await loop.subprocess_exec(
            lambda: _Protocol(loop),
            *args,
            cwd=str(cwd),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=scrubbed_env(env, extra=extra_env, path=path),
            start_new_session=True,
        )
    except OSError as exc:
        return ProcResult(argv=args, returncode=None, error=f"cannot run {args[0]!r}: {exc.strerror or exc}")
    pid = transport.get_pid()
    assert protocol.stdout is not None
    # Output is kept in bytes; four per character covers any UTF-8 text.
    tail = _Tail(output_limit * 4)
    reader = asyncio.ensure_future(tail.read(protocol.stdout))
    timed_out = False
    try:
        try:
            # The command's own exit, not the end of its output: a descendant
            # may hold the pipe open (Process.wait would wait for that too).
            await asyncio.wait_for(asyncio.shield(protocol.exited), timeout_s)
        except asyncio.TimeoutError:
            timed_out = True
    finally:
        # On exit, timeout or cancellation alike: nothing it started outlives
        # it, and with the writers gone the reader sees the end of the pipe.
        _kill_group(pid)
        await protocol.exited
        # A descendant that left the group may still hold the pipe open.
        _, pending = await asyncio.wait({reader}, timeout=_DRAIN_S)
        for task in pending:
            task.cancel()
        returncode = transport.get_returncode()
        transport.close()
    text = tail.data.decode(errors="replace")
    truncated = tail.truncated or len(text) > output_limit
    text = text[-output_limit:]
    duration_ms = (time.perf_counter() - start) * 1000
    if timed_out:
        note = f"{shlex.join(args)} timed out after {timeout_s:g}s"
        return ProcResult(
            argv=args,
            returncode=None,
            output=f"{text}\n{note}" if text else note,
            timed_out=True,
            truncated=truncated,
            duration_ms=duration_ms,
        )
    return ProcResult(argv=args, returncode=returncode, output=text, truncated=truncated, duration_ms=duration_ms)
