"""The ``autopack`` command line: the top-level group, plugin loading, and how errors end.

Every command lives under ``autopack_core/commands/``; this module only
builds the group, lets plugins add commands, and turns outcomes into exit
codes. Start-up stays light: click and the plugin loader only.

- ``AutopackError`` and click usage errors: one line on stderr, exit 2
  (or the error's own code; tracebacks only with ``AUTOPACK_RAISE_ERRORS=1``).
- A reader that goes away (``autopack runs | head -1``): exit 0, quietly.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn, Sequence

import click

from autopack_core import __version__
from autopack_core.commands import builtin_commands
from autopack_core.commands.options import DEFAULT_DB, AppContext
from autopack_core.errors import EXIT_BAD_INPUT, AutopackError

__all__ = ["AppContext", "DEFAULT_DB", "cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="autopack")
@click.option(
    "--disable-plugin",
    multiple=True,
    metavar="NAME",
    help="Do not load this plugin (repeatable).",
)
def cli(disable_plugin: tuple[str, ...]) -> None:
    """Autopack: autonomous build runs recorded in a replayable event log."""


for _command in builtin_commands():
    cli.add_command(_command)


def _disabled_from_argv(argv: Sequence[str]) -> list[str]:
    # Plugins add commands, so they load before click parses; read the one
    # option that affects loading straight from argv.
    out = []
    for i, arg in enumerate(argv):
        if arg == "--disable-plugin" and i + 1 < len(argv):
            out.append(argv[i + 1])
        elif arg.startswith("--disable-plugin="):
            out.append(arg.split("=", 1)[1])
    return out


def _raise_errors() -> bool:
    return os.environ.get("AUTOPACK_RAISE_ERRORS", "") not in ("", "0")


# click >= 8.2 raises this for a bare group; older versions print the help and exit 0.
_NO_ARGS_IS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _error(message: str, code: int) -> NoReturn:
    click.echo(f"autopack: error: {message}", err=True)
    sys.exit(code)


def _usage_line(exc: click.UsageError) -> str:
    # One line instead of click's usage block; --help has the rest.
    where = exc.ctx.command_path if exc.ctx is not None else "autopack"
    return f"{exc.format_message()} (see '{where} --help')"


def _pipe_closed() -> NoReturn:
    # Whoever read our output has gone; that is not a failure. Point stdout
    # at /dev/null so the interpreter's last flush cannot raise again.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.exit(0)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``autopack`` command."""
    from autopack_core.plugins import load_plugins

    args = list(sys.argv[1:] if argv is None else argv)
    disabled = _disabled_from_argv(args)
    try:
        plugin_set = load_plugins(disabled=disabled)
    except AutopackError as exc:
        _error(str(exc), exc.exit_code)
    for failure in plugin_set.failures:
        click.echo(failure.line(), err=True)
    for name in plugin_set.unknown_disabled:
        loaded = ", ".join(i.name for i in plugin_set.infos) or "none"
        click.echo(f"autopack: warning: --disable-plugin {name}: no plugin of that name (loaded: {loaded})", err=True)
    plugin_set.hook.register_commands(cli=cli)
    app = AppContext(plugin_set)
    rv: Any = None
    try:
        try:
            with cli.make_context("autopack", args, obj=app) as ctx:
                rv = cli.invoke(ctx)
        finally:
            # Flush here, inside the handlers: a reader that left shows as EPIPE
            # now rather than in the interpreter's exit, where it would be a
            # traceback and exit status 120.
            if sys.stdout is not None:
                sys.stdout.flush()
    except BrokenPipeError:
        _pipe_closed()
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, EOFError, KeyboardInterrupt):
        click.echo("aborted", err=True)
        sys.exit(130)
    except _NO_ARGS_IS_HELP as exc:
        # A bare group (``autopack``, ``autopack patch``): its help, as click shows it.
        exc.show()
        sys.exit(EXIT_BAD_INPUT)
    except click.UsageError as exc:
        _error(_usage_line(exc), EXIT_BAD_INPUT)
    except click.ClickException as exc:
        _error(exc.format_message(), exc.exit_code)
    except AutopackError as exc:
        if _raise_errors():
            raise
        _error(str(exc), exc.exit_code)
    except Exception as exc:
        # Corruption inside an SQLite file shows only when a page is read.
        # sqlite3 is looked up, not imported: only a command that opened a
        # store can raise its errors, and --help should not pay for it.
        sqlite3 = sys.modules.get("sqlite3")
        if sqlite3 is None or not isinstance(exc, sqlite3.DatabaseError) or _raise_errors():
            raise
        _error(f"the event store is damaged or unreadable: {exc}", EXIT_BAD_INPUT)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
