"""The shapes of the objects plugins register (quality and health checks, roles, fix types).

Registered objects are duck-typed against these protocols; the outcome classes
are what their ``async`` methods return.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Protocol

import attrs

# Config sections a fix type reads; they belong to the config (re-exported here).
from autopack_core.config import FixTypeSettings, GovernancePolicy

if TYPE_CHECKING:
    from autopack_core.roles import Prompt, RoleContext


@attrs.frozen(kw_only=True)
class CheckOutcome:
    """A quality check's verdict; ``output`` is fed back to the Builder on retry."""

    passed: bool
    output: str = ""
    duration_ms: float = 0.0


class QualityCheck(Protocol):
    description: str

    async def run(self, workspace: Path, options: Mapping[str, str]) -> CheckOutcome: ...


@attrs.frozen(kw_only=True)
class HealthContext:
    workspace: Path
    db_path: Path
    required_env: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class HealthOutcome:
    ok: bool
    detail: str = ""


class HealthCheck(Protocol):
    tier: str  # "t0" or "t1"
    description: str

    async def run(self, context: HealthContext) -> HealthOutcome: ...


class Role(Protocol):
    """A model role (``register_roles``): builds its prompt, parses its model's reply.

    Pure: no I/O, no clock, no randomness. The executor picks the model, sends
    ``Prompt.system`` and ``Prompt.user``, records the reply and hands its text
    to ``parse_reply``. Helpers for both halves are in ``autopack_core.roles``
    (``assemble_prompt``, ``reply_json_object``); ``docs/roles.md`` shows a
    whole third-party role.
    """

    #: The name the role is registered, routed (``routing.roles``) and configured under.
    name: str
    #: One line for ``autopack roles``.
    description: str
    #: The shipped prompt template (``string.Template`` text, see ``autopack_core.roles``).
    default_template: str

    def build_prompt(self, context: "RoleContext", *, context_tokens: int, template: str | None = None) -> "Prompt":
        """The prompt for ``context``, fitted to ``context_tokens`` (estimated tokens).

        ``template`` replaces ``default_template`` (the executor passes
        ``roles.template_for(config, name, role)``). What was cut to fit is in
        ``Prompt.omitted``; raises ``errors.ContextTooSmall`` when even the
        untrimmable parts do not fit.
        """
        ...

    def parse_reply(self, text: str) -> object:
        """The role's result (``BuilderReply``, ``AuditReply``, ``DoctorResponse``...).

        Raises ``errors.MalformedOutput`` (with ``.role`` and a one-line
        reason) for any text that does not follow the role's protocol, and
        never any other exception.
        """
        ...


@attrs.frozen(kw_only=True)
class FixContext:
    """What a fix type's check may consult. Nothing here is ever executed.

    - ``workspace``: the run's workspace; every path a command names must
      resolve (with the OS, following symlinks) inside it.
    - ``protected``: the governance policy; its ``protected_paths``, ``.git``
      and ``.autopack`` in any spelling are refused as command paths too.
    - ``run_commits``: hex shas of the commits this run made (checkpoints);
      the only targets besides ``HEAD`` that a history-moving command may use.
    - ``run_branches``: branches this run created; the only ones it may delete
      or force-move.
    - ``settings``: this type's ``doctor.fix_types.<name>`` config section.
    """

    workspace: Path
    protected: GovernancePolicy = GovernancePolicy()
    run_commits: tuple[str, ...] = ()
    run_branches: tuple[str, ...] = ()
    settings: FixTypeSettings = FixTypeSettings()


@attrs.frozen(kw_only=True)
class FixVerdict:
    """A fix type's decision on one command.

    ``allowed``: the executor may run ``argv`` (no shell, in the workspace).
    ``argv`` is the command rebuilt from what was checked (long options
    spelled out, ``--`` before paths), so the program sees exactly what was
    validated. A refusal names its ``rule`` and says why in ``reason``;
    ``manual`` marks commands that need a person (``sudo`` and the like):
    recorded as "requires manual intervention", never run.
    """

    allowed: bool
    rule: str = ""
    reason: str = ""
    argv: tuple[str, ...] = ()
    manual: bool = False

    def line(self) -> str:
        """``rule: reason`` for a refusal, the argv joined for the shell reader otherwise."""
        if self.allowed:
            import shlex

            return shlex.join(self.argv)
        return f"{self.rule}: {self.reason}"


class FixType(Protocol):
    """A typed category of commands the Doctor's ``execute_fix`` may send.

    ``check`` decides from the command text alone (and the file system, read
    only): it never executes anything. It must refuse whatever it does not
    positively recognise.
    """

    name: str
    description: str
    enabled_by_default: bool

    def check(self, command: str, context: FixContext) -> FixVerdict: ...
