"""Built-in commands that live outside ``cli.py``; each module imports only click at top level."""
