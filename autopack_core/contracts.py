"""The shapes of the objects plugins register (quality and health checks, roles).

Registered objects are duck-typed against these protocols; the outcome classes
are what their ``async`` methods return.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Protocol

import attrs

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
