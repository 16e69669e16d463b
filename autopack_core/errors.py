"""Every error Autopack raises on purpose.

The CLI turns an ``AutopackError`` into one line on stderr and exits with its
``exit_code``: 2 for bad usage or bad input, 1 when a run, check or
verification failed. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class AutopackError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with."""

    exit_code: int = EXIT_BAD_INPUT


class ConfigError(AutopackError):
    """A config file is invalid; the message names file, line and key path."""


class PlanError(AutopackError):
    """A plan file is invalid; the message names file, line and problem."""


class PluginError(AutopackError):
    """A plugin failed to load (strict mode) or registered something invalid."""


class StoreError(AutopackError):
    """The event store cannot be opened or used."""


class ForeignDatabaseError(StoreError):
    """The file is not an SQLite database, or not one Autopack wrote."""


class SchemaVersionError(StoreError):
    """The database was written by a newer Autopack."""


class ConcurrencyError(StoreError):
    """Another writer appended first: the expected sequence number is stale."""

    exit_code = EXIT_FAILED


class RunNotFound(AutopackError):
    """No events exist for the run id."""


class RunExists(AutopackError):
    """An import would overwrite a run that is already in the store."""


class UnknownEventType(AutopackError):
    """An event's type tag is not registered; usually a plugin is missing."""

    def __init__(self, type_tag: str, plugin_hint: str | None = None, where: str = ""):
        self.type_tag = type_tag
        self.plugin_hint = plugin_hint
        hint = (
            f" (the plugin {plugin_hint!r} that defines it is probably not installed)"
            if plugin_hint
            else " (a plugin that defines it is probably not installed)"
        )
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}unknown event type {type_tag!r}{hint}")


class EventDecodeError(AutopackError):
    """A stored or imported payload does not match its event type."""


class ImportFormatError(AutopackError):
    """A JSON Lines file is truncated, invalid or inconsistent; names the line."""


class IllegalTransition(AutopackError):
    """An event was recorded that the run or phase state machine does not allow."""

    exit_code = EXIT_FAILED


class BrokenLog(AutopackError):
    """A stored run's events break the run's rules, so they cannot be folded.

    Autopack never writes such a log (``machines.check`` guards every append
    and every import); one was written or edited outside it. ``seq`` is the
    first event that does not fit.
    """

    def __init__(self, run_id: str, seq: int, message: str) -> None:
        super().__init__(f"run {run_id} seq {seq}: {message}")
        self.run_id = run_id
        self.seq = seq
        self.message = message


class PatchError(AutopackError):
    """A Builder reply could not be parsed, validated or applied."""

    exit_code = EXIT_FAILED


class ProviderError(AutopackError):
    """A model provider call failed. ``transient`` errors may be retried."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, transient: bool = False, status: int | None = None):
        super().__init__(message)
        self.transient = transient
        self.status = status


class MalformedReply(ProviderError):
    """The provider answered with a body that is not its documented shape."""


class ProviderHTTPError(ProviderError):
    """The provider answered with an HTTP error status.

    ``retry_after`` is the wait in seconds the server asked for (``Retry-After``),
    if it sent one.
    """

    def __init__(
        self, message: str, *, transient: bool = False, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message, transient=transient, status=status)
        self.retry_after = retry_after


class ProviderTimeout(ProviderError):
    """Connecting to, or reading from, the provider took longer than configured."""


class ProviderUnreachable(ProviderError):
    """The connection to the provider could not be made or was cut."""


class MissingCredentials(ProviderError):
    """A provider's API-key environment variable is not set; nothing was sent."""

    exit_code = EXIT_BAD_INPUT


class NoRecordedAnswer(ProviderError):
    """A ``recorded`` provider has no answer left that matches the request."""


class QuotaExhausted(AutopackError):
    """A token or cost quota is used up; ``event`` is the ``BudgetExhausted`` to record.

    This is a clean stop, not a crash: the executor records ``event`` and ends
    the run (or phase) as failed for budget.
    """

    exit_code = EXIT_FAILED

    def __init__(self, message: str, event: object):
        super().__init__(message)
        self.event = event


class PatchParseError(PatchError):
    """A Builder reply holds no edits, or an edit that cannot be read.

    ``kind`` classifies the problem (``no-edits``, ``bad-header``,
    ``bad-hunk-header``, ``hunk-count-mismatch``, ``unterminated-block``);
    ``path`` and ``hunk`` (1-based) say where, when known.
    """

    def __init__(self, message: str, *, kind: str, path: str = "", hunk: int = 0, line: int = 0):
        super().__init__(message)
        self.kind = kind
        self.path = path
        self.hunk = hunk
        self.line = line


class PatchApplyError(PatchError):
    """A well-formed, allowed edit does not fit the workspace (context not found,
    ambiguous search block, file missing or already present, write failed).
    The workspace is unchanged when this is raised."""

    def __init__(self, message: str, *, path: str = "", hunk: int = 0):
        super().__init__(message)
        self.path = path
        self.hunk = hunk


class PatchRefusedError(PatchError):
    """Governance refused a patch; ``refusals`` holds one ``Refusal`` per reason."""

    def __init__(self, refusals: tuple):  # tuple[events.Refusal, ...]; errors.py imports nothing
        self.refusals = tuple(refusals)
        lines = "; ".join(f"{r.path}: {r.rule}: {r.message}" for r in self.refusals)
        super().__init__(f"patch refused: {lines}")


class MalformedOutput(AutopackError):
    """A model's reply does not follow its role's documented protocol.

    ``role`` names the role; ``reason`` is one line saying what is wrong. The
    executor classifies it as malformed output and may ask again within budget.
    """

    exit_code = EXIT_FAILED

    def __init__(self, role: str, reason: str):
        self.role = role
        self.reason = " ".join(str(reason).split()) or "malformed reply"
        super().__init__(f"{role}: malformed reply: {self.reason}")


class ContextTooSmall(AutopackError):
    """A prompt cannot fit the model's context even with everything optional left out.

    A config problem (``context_tokens`` too small for the goal, the phase and
    the role's protocol), so bad input: exit 2.
    """

    def __init__(self, message: str, *, needed_tokens: int, budget_tokens: int):
        super().__init__(message)
        self.needed_tokens = needed_tokens
        self.budget_tokens = budget_tokens


class WorkspaceError(AutopackError):
    """The workspace is not a usable git repository, or a git operation on it was refused."""
