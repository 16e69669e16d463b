"""Autopack: autonomous build runs recorded in a replayable event log."""

__version__ = "0.1.0"
