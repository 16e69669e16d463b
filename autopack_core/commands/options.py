"""Options shared by several commands (click only: imported at start-up)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click


def config_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Config file. Default: config/models.yaml here if present (or AUTOPACK_CONFIG), else the built-in defaults.",
    )(f)
