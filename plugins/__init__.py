"""Autopack's built-in plugins, installed as the ``autopack_plugins`` package.

Each module is registered by its own entry point in group ``autopack``,
exactly as a third party's plugin would be; ``autopack_core`` never imports
this package.
"""
