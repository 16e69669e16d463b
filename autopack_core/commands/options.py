"""What the commands share: the options ``--db`` and ``--config``, and the app context.

Defined once here; click only at module level, since every ``autopack``
start imports this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import click

from autopack_core.errors import AutopackError

if TYPE_CHECKING:
    from autopack_core.plugins import PluginSet
    from autopack_core.store import EventStore

DEFAULT_DB = Path(".autopack") / "autopack.db"
DB_ENV = "AUTOPACK_DB"

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


class AppContext:
    """What every command shares: the loaded plugins and how to open the store."""

    def __init__(self, plugins: "PluginSet") -> None:
        self.plugins = plugins

    def open_store(
        self,
        db: Path,
        *,
        create: bool = False,
        durable: bool = True,
        readonly: bool = False,
        discard_if_refused: bool = False,
    ) -> "EventStore":
        """The store at ``db``; ``readonly`` for commands that only read (they never create, migrate or write it)."""
        from autopack_core.store import EventStore

        if not create and not db.exists():
            raise AutopackError(f"no event store at {db} (pass --db PATH or set {DB_ENV})")
        return EventStore.open(
            db,
            self.plugins.codec,
            readonly=readonly,
            durable=durable,
            observers=[self._notify],
            create=create,
            discard_if_refused=discard_if_refused,
        )

    def _notify(self, envelopes: Sequence[Any]) -> None:
        self.plugins.hook.event_appended(envelopes=envelopes)


pass_app = click.make_pass_decorator(AppContext)


def _db(default: Path | None, help: str) -> Decorator:
    return click.option(
        "--db",
        "db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=default,
        envvar=DB_ENV,
        show_default=default is not None,
        help=f"{help} Also {DB_ENV}.",
    )


#: The event store a command reads or writes.
db_option: Decorator = _db(DEFAULT_DB, "Event store (SQLite).")
#: The store of a run: default ``.autopack/autopack.db`` in the run's workspace.
workspace_db_option: Decorator = _db(None, "Event store (SQLite). Default: .autopack/autopack.db in the workspace.")
#: An event store a command records into only when one is given.
record_db_option: Decorator = _db(None, "Also record the events in this event store.")


def config_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=(
            "Config file. Default: config/models.yaml here if present (or AUTOPACK_CONFIG), else the built-in defaults."
        ),
    )(f)
