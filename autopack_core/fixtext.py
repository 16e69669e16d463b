"""The first gate for a Doctor's fix command: its text, before any allowlist.

A command never reaches a shell, so shell syntax in it can only be a mistake
or an attack that hopes a later layer (a wrapper script, a ``sh -c`` in a
plugin) will interpret it. Either way it is refused here, whatever the type:
this module knows nothing about programs.

Every refusal is a ``FixRefused(rule, reason)``; rule names are stable and
documented in docs/execute-fix.md.
"""

from __future__ import annotations

import re
import shlex
import unicodedata

MAX_COMMAND_CHARS = 4096
MAX_ARGUMENTS = 64

# Programs that change who runs the command, or run it somewhere else: never
# run, recorded as "requires manual intervention".
PRIVILEGED = frozenset(
    {
        "sudo",
        "su",
        "doas",
        "pkexec",
        "runuser",
        "run0",
        "chroot",
        "setpriv",
        "sg",
        "newgrp",
        "nsenter",
        "unshare",
        "capsh",
        "machinectl",
        "systemd-run",
        "ksu",
        "gosu",
        "su-exec",
        "calife",
        "super",
        "please",
    }
)
# Programs whose job is to run another program with a changed environment,
# priority, timing or input. The wrapped program escapes the allowlist's view
# of argv[0], so the whole command is handed to a person as well.
WRAPPERS = frozenset(
    {
        "env",
        "nice",
        "ionice",
        "nohup",
        "timeout",
        "stdbuf",
        "setsid",
        "time",
        "taskset",
        "chrt",
        "flock",
        "xargs",
        "watch",
        "strace",
        "ltrace",
        "exec",
        "command",
        "builtin",
        "eval",
        "busybox",
        "toybox",
        "script",
        "parallel",
    }
)


class FixRefused(Exception):
    """A command is refused; ``rule`` is stable, ``reason`` is for people."""

    def __init__(self, rule: str, reason: str, *, manual: bool = False) -> None:
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.reason = reason
        self.manual = manual


# (rule, pattern, reason), checked in order; the first hit names the rule.
_SHELL_RULES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (rule, re.compile(pattern), reason)
    for rule, pattern, reason in (
        ("command-substitution", r"\$\(|`", "command substitution ($(...) or backticks) is shell syntax"),
        ("process-substitution", r"[<>]\(", "process substitution <(...) / >(...) is shell syntax"),
        ("shell-expansion", r"\$", "'$' expands variables in a shell; commands are never given to one"),
        ("redirect", r"[<>]", "redirects ('<', '>', '>>', '2>&1') are shell syntax"),
        ("shell-operator", r"&&|\|\||;|\||&", "';', '&&', '||', '|' and '&' chain or background commands"),
        ("shell-escape", r"\\", "backslash escapes are refused; quote the argument instead"),
        ("history-expansion", r"!", "'!' is history expansion in an interactive shell"),
        ("shell-comment", r"#", "'#' starts a comment in a shell"),
        ("subshell", r"[()]", "parentheses are subshells or pattern syntax"),
        ("glob", r"[*?\[\]]", "wildcards are not expanded without a shell; name each path"),
    )
)
# A reflog selector such as stash@{0} or @{-1}: the only braces allowed,
# because brace expansion needs a ',' or '..' inside them.
_REFLOG_SELECTOR = re.compile(r"@\{-?[0-9]{1,4}\}")
# A '~' that a shell would expand: at the start of a word, or after '=' or ':'
# (assignments). 'HEAD~2' is a revision, not an expansion.
_TILDE = re.compile(r"(?:^|[\s=:'\"])~")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def check_text(command: str, *, allow_non_ascii: bool = False) -> None:
    """Refuse a command string on its characters alone."""
    if "\x00" in command:
        raise FixRefused("nul-byte", "the command contains a NUL byte")
    if len(command) > MAX_COMMAND_CHARS:
        raise FixRefused("too-long", f"the command has {len(command)} characters; the limit is {MAX_COMMAND_CHARS}")
    if not command.strip():
        raise FixRefused("empty-command", "the command is empty")
    if not command.isascii():
        # Look-alikes (Cyrillic 'е' in '.gіt', fullwidth '；'), bidi overrides
        # that reorder what a reviewer sees, and zero-width characters that
        # HFS+ ignores in names ('.g\u200cit' is '.git' there) all hide intent.
        # A type may accept letters of other scripts (paths with accents);
        # invisible and formatting characters stay refused.
        bad = next((c for c in command if not c.isascii()), "")
        if not allow_non_ascii:
            raise FixRefused("non-ascii", f"the command contains the non-ASCII character U+{ord(bad):04X}")
        for c in command:
            if not c.isascii() and (unicodedata.category(c)[0] in "CZ" or unicodedata.category(c) == "Mn"):
                raise FixRefused(
                    "invisible-character", f"the command contains U+{ord(c):04X} ({unicodedata.name(c, '?')})"
                )
    m = _CONTROL.search(command)
    if m:
        raise FixRefused("control-character", f"the command contains the control character {m.group()!r}")
    for rule, pattern, reason in _SHELL_RULES:
        hit = pattern.search(_REFLOG_SELECTOR.sub("", command) if rule == "glob" else command)
        if hit:
            raise FixRefused(rule, f"{reason} (found {hit.group()!r})")
    if re.search(r"[{}]", _REFLOG_SELECTOR.sub("", command)):
        raise FixRefused(
            "brace-expansion", "braces are brace expansion in a shell (only reflog selectors like stash@{0})"
        )
    if _TILDE.search(command):
        raise FixRefused("tilde-expansion", "a leading '~' is the home folder in a shell")


def split(command: str, *, allow_non_ascii: bool = False) -> list[str]:
    """Check the text, then split it as a POSIX shell would split words (and do nothing else)."""
    check_text(command, allow_non_ascii=allow_non_ascii)
    try:
        argv = shlex.split(command, posix=True)
    except ValueError as exc:
        raise FixRefused("quoting", f"the command cannot be split: {exc}") from None
    if not argv:
        raise FixRefused("empty-command", "the command is empty")
    if len(argv) > MAX_ARGUMENTS:
        raise FixRefused("too-many-arguments", f"the command has {len(argv)} arguments; the limit is {MAX_ARGUMENTS}")
    if any(a == "" for a in argv):
        raise FixRefused("empty-argument", "an argument is empty")
    return argv


def check_program_word(argv: list[str]) -> None:
    """Refuse privilege changes and wrappers before any allowlist is asked."""
    first = argv[0]
    base = first.rsplit("/", 1)[-1]
    if _ENV_ASSIGNMENT.match(first):
        raise FixRefused(
            "requires-manual-intervention",
            f"the command sets environment variable {first.split('=', 1)[0]} for the program it runs",
            manual=True,
        )
    if base in PRIVILEGED:
        raise FixRefused("requires-manual-intervention", f"{base!r} changes privileges or root; never run", manual=True)
    if base in WRAPPERS:
        inner = next((a for a in argv[1:] if a.rsplit("/", 1)[-1] in PRIVILEGED), None)
        what = f"; it wraps {inner!r}" if inner else ""
        raise FixRefused(
            "requires-manual-intervention",
            f"{base!r} runs another program out of the allowlist's sight{what}",
            manual=True,
        )
    if "/" in first:
        raise FixRefused("program-path", f"programs are named, not given as paths ({first!r})")
