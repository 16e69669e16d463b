"""A tiny statistics module (the Autopack demo project)."""
