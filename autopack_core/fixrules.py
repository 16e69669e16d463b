"""Allowlists of fix commands as data, and the parser that holds commands to them.

A fix type declares, per program, the subcommands it accepts and per
subcommand the options and arguments (``Program`` / ``Cmd`` / ``Opt``). The
parser reads argv as the tool itself would: long options by unambiguous
abbreviation, ``--opt=value``, ``-ovalue``, bundled short flags ``-fd``,
``--`` ending options, options after operands (GNU and git permute). Whatever
it does not recognise is refused. The argv it returns is rebuilt from what it
recognised (options spelled out in full, values attached, ``--`` before
paths), so the program runs exactly what was checked and a difference in how
we and the tool read an abbreviation cannot matter.

Nothing here executes anything; ``docs/execute-fix.md`` documents every rule.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping, Sequence

import attrs

from autopack_core.contracts import FixContext, FixVerdict
from autopack_core.fixpaths import check_path, check_tree
from autopack_core.fixtext import FixRefused, check_program_word, split

# Value kinds an option or operand can take.
VALUE_KINDS = ("", "text", "int", "path", "root", "rev", "commit", "branch", "choice")

_REV = re.compile(r"^(?:@|[A-Za-z0-9_@][A-Za-z0-9._/@{}^~:+-]*)$")
_BRANCH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/-]*$")
_INT = re.compile(r"^[0-9]{1,6}$")
_HEX = re.compile(r"^[0-9a-f]{7,64}$")


@attrs.frozen(kw_only=True)
class Opt:
    """One allowed option. ``long`` and ``short`` without dashes.

    ``value``: "" (a flag) or the kind of its argument: ``text``, ``int``,
    ``path`` (checked like any path), ``root`` (a path that must be the
    workspace root), ``rev`` (a revision), ``commit`` (HEAD or one of the
    run's commits), ``branch`` (a new branch name), ``choice`` (one of
    ``choices``). ``optional``: the value may be omitted and is then only
    accepted attached (``--porcelain=v2``). ``once``: a second use is refused
    (``git clean -ff`` deletes nested repositories).
    """

    long: str = ""
    short: str = ""
    value: str = ""
    choices: tuple[str, ...] = ()
    optional: bool = False
    once: bool = False

    def __attrs_post_init__(self) -> None:
        if self.value not in VALUE_KINDS:
            raise ValueError(f"unknown value kind {self.value!r}")
        if not (self.long or self.short) or len(self.short) > 1:
            raise ValueError("an option needs a long name or a one-letter short name")

    @property
    def spelling(self) -> str:
        return f"--{self.long}" if self.long else f"-{self.short}"


# Checks of a parsed command beyond its allowlist (reset targets, branch
# ownership, workspace root). They raise FixRefused.
Check = Callable[["Parsed", FixContext], None]


@attrs.frozen(kw_only=True)
class Cmd:
    """A command or subcommand: the options it allows, and its operands.

    ``args``: ``none``; ``text``; ``paths`` (every operand is a path); ``rev-or-path``
    (operands before ``--`` may be read by the tool as revisions or as paths,
    so they must pass both checks; after ``--`` they are paths); ``revs``;
    ``branches``. ``recursive``: options (by spelling) that make the command
    walk directories, or ``("*",)`` when it always does; then every path's
    tree is checked as well. ``numeric``: the long option that ``-5`` means.
    ``refused``: options known to be dangerous, spelled as the tool accepts
    them, with the rule that names why (anything else unknown is refused as
    ``option-not-allowed``).
    """

    options: tuple[Opt, ...] = ()
    subcommands: Mapping[str, Cmd] = attrs.field(factory=dict)
    default_subcommand: str = ""
    args: str = "none"
    min_args: int = 0
    max_args: int | None = None
    root_ok: bool = True
    recursive: tuple[str, ...] = ()
    tree_suffixes: tuple[str, ...] = ()
    # "-" is an operand, not standard input (git checkout -: the previous branch).
    dash_operand: bool = False
    abbrev: bool = True
    numeric: str = ""
    refused: Mapping[str, tuple[str, str]] = attrs.field(factory=dict)
    refused_subcommands: Mapping[str, tuple[str, str]] = attrs.field(factory=dict)
    check: Check | None = None
    summary: str = ""
    # Options always added after the given ones (unless given), to switch off
    # what the workspace's config could turn on (pagers, external diff
    # programs, pathspec magic) or what the workspace could plant (python -I).
    forced: tuple[str, ...] = ()
    # Words computed from the parsed command and the context, added after the
    # options (git clean: an --exclude per protected path).
    extra: Callable[[Parsed, FixContext], list[str]] | None = None


@attrs.frozen(kw_only=True)
class Program:
    """An allowed program. ``names``: how argv[0] may spell it (never a path).
    ``subcommand_flag``: the option that names the subcommand (``python -m``)."""

    names: tuple[str, ...]
    command: Cmd
    subcommand_flag: str = ""


@attrs.define
class Parsed:
    """One level of a parsed command: its options (in order) and operands."""

    cmd: Cmd
    words: list[str]  # program name and subcommands as emitted
    options: list[tuple[Opt, str | None]] = attrs.field(factory=list)
    before: list[str] = attrs.field(factory=list)  # operands before "--"
    after: list[str] = attrs.field(factory=list)  # operands after "--"
    dashdash: bool = False
    parent: Parsed | None = None

    def has(self, *spellings: str) -> bool:
        return any(_spells(o, s) for o, _ in self.options for s in spellings)

    def value(self, *spellings: str) -> str | None:
        for o, v in self.options:
            if any(_spells(o, s) for s in spellings):
                return v
        return None

    @property
    def operands(self) -> list[str]:
        return self.before + self.after

    @property
    def name(self) -> str:
        return " ".join(self.words)


def _spells(o: Opt, s: str) -> bool:
    return (s.startswith("--") and s[2:] == o.long) or (len(s) == 2 and s[1:] == o.short and bool(o.short))


def refuse(rule: str, reason: str) -> FixRefused:
    return FixRefused(rule, reason)


# --- options -----------------------------------------------------------------


def _check_value(opt: Opt, value: str, ctx: FixContext, where: str) -> str:
    kind = opt.value
    label = f"{where} {opt.spelling}"
    if kind == "int" and not _INT.match(value):
        raise refuse("option-value", f"{label} takes a number, not {value!r}")
    if kind == "choice" and value not in opt.choices:
        raise refuse("option-value", f"{label} takes one of {', '.join(opt.choices)}, not {value!r}")
    if kind == "path":
        check_path(value, ctx)
    if kind == "root" and check_path(value, ctx) != ".":
        # Running git from a subfolder lets it discover a repository planted
        # there (an embedded bare repo with its own config and hooks).
        raise refuse("git-directory", f"{label} must name the workspace root, not {value!r}")
    if kind in ("rev", "commit") and not _REV.match(value):
        raise refuse("revision", f"{label}: {value!r} is not a revision name")
    if kind == "commit":
        check_commit(value, ctx, label)
    if kind == "branch":
        check_branch_name(value, label)
    return value


def _refused_option(cmd: Cmd, arg: str, name: str) -> FixRefused:
    """The specific rule for a dangerous option (also when abbreviated), else the generic one."""
    key = arg.split("=", 1)[0]
    if key in cmd.refused:
        rule, why = cmd.refused[key]
        return refuse(rule, f"{arg!r}: {why}")
    if key.startswith("--") and len(key) > 3:
        for spelled, (rule, why) in cmd.refused.items():
            if spelled.startswith(key):
                return refuse(rule, f"{arg!r} ({spelled}): {why}")
    if not key.startswith("--") and len(key) >= 2:
        for ch in key[1:]:
            if f"-{ch}" in cmd.refused:
                rule, why = cmd.refused[f"-{ch}"]
                return refuse(rule, f"{arg!r} (-{ch}): {why}")
    return refuse("option-not-allowed", f"{name}: option {arg!r} is not in the allowlist")


def _long(cmd: Cmd, arg: str, name: str) -> tuple[Opt, bool, str | None]:
    body, eq, attached = arg[2:].partition("=")
    exact = [o for o in cmd.options if o.long == body]
    if exact:
        opt = exact[0]
    else:
        found = [o for o in cmd.options if o.long and o.long.startswith(body)] if cmd.abbrev and body else []
        # An abbreviation that could also mean a refused option is what the
        # tool would call ambiguous; refusing names the dangerous one.
        if not found or any(r.startswith("--" + body) for r in cmd.refused):
            raise _refused_option(cmd, arg, name)
        if len(found) > 1:
            raise refuse("option-ambiguous", f"{name}: {arg!r} could be {', '.join(o.spelling for o in found)}")
        opt = found[0]
    if not opt.value and eq:
        raise refuse("option-value", f"{name}: {opt.spelling} takes no value")
    return opt, bool(eq), attached if eq else None


def _parse_level(cmd: Cmd, args: list[str], ctx: FixContext, parsed: Parsed) -> tuple[Parsed, list[str]]:
    """Parse options and operands of one level; return what is left for a subcommand."""
    name = parsed.name
    i = 0
    counts: dict[Opt, int] = {}

    def take(opt: Opt, value: str | None) -> None:
        counts[opt] = counts.get(opt, 0) + 1
        if opt.once and counts[opt] > 1:
            raise refuse("option-repeated", f"{name}: {opt.spelling} may be given once")
        if value is not None:
            _check_value(opt, value, ctx, name)
        parsed.options.append((opt, value))

    while i < len(args):
        arg = args[i]
        i += 1
        if parsed.dashdash:
            parsed.after.append(arg)
        elif arg == "--":
            if cmd.subcommands:
                raise refuse("option-not-allowed", f"{name}: '--' before a subcommand")
            parsed.dashdash = True
        elif arg.startswith("--"):
            opt, attached, value = _long(cmd, arg, name)
            if opt.value and not attached and not opt.optional:
                if i >= len(args):
                    raise refuse("option-value", f"{name}: {opt.spelling} needs a value")
                value = args[i]
                i += 1
            take(opt, value)
        elif arg.startswith("-") and len(arg) > 1:
            if cmd.numeric and arg[1:].isdigit():
                opt = next(o for o in cmd.options if o.long == cmd.numeric)
                take(opt, arg[1:])
                continue
            j = 1
            while j < len(arg):
                ch = arg[j]
                opt = next((o for o in cmd.options if o.short == ch), None)
                if opt is None:
                    raise _refused_option(cmd, f"-{ch}" if j > 1 else arg, name)
                j += 1
                if opt.value:
                    if j < len(arg):
                        value = arg[j:]
                    elif opt.optional:
                        value = None
                    elif i < len(args):
                        value = args[i]
                        i += 1
                    else:
                        raise refuse("option-value", f"{name}: {opt.spelling} needs a value")
                    take(opt, value)
                    break
                take(opt, None)
        elif arg == "-" and not cmd.dash_operand:
            raise refuse("stdin-argument", f"{name}: '-' (standard input) is refused; there is no input")
        elif cmd.subcommands:
            return parsed, args[i - 1 :]
        else:
            parsed.before.append(arg)
    return parsed, []


# --- operands ------------------------------------------------------------------


def check_commit(value: str, ctx: FixContext, label: str) -> None:
    """Only HEAD or a commit of this run: moving a branch anywhere else
    rewrites history the run does not own."""
    if value in ("HEAD", "@"):
        return
    v = value.lower()
    if _HEX.match(v) and any(c.lower().startswith(v) for c in ctx.run_commits):
        return
    raise refuse(
        "history-rewrite",
        f"{label}: {value!r} is neither HEAD nor a commit of this run; moving a branch there is refused",
    )


def check_branch_name(value: str, label: str) -> None:
    if (
        not _BRANCH.match(value)
        or ".." in value
        or "//" in value
        or value.endswith((".lock", "/", "."))
        or value in ("HEAD", "@")
    ):
        raise refuse("branch-name", f"{label}: {value!r} is not an acceptable branch name")


def _check_operands(p: Parsed, ctx: FixContext) -> None:
    cmd = p.cmd
    n = len(p.operands)
    if n < cmd.min_args:
        raise refuse("missing-argument", f"{p.name} needs at least {cmd.min_args} operand(s)")
    if cmd.max_args is not None and n > cmd.max_args:
        raise refuse("too-many-operands", f"{p.name} takes at most {cmd.max_args} operand(s)")
    if cmd.args == "none" and n:
        raise refuse("unexpected-argument", f"{p.name} takes no operands ({p.operands[0]!r})")
    recursive = "*" in cmd.recursive or any(p.has(s) for s in cmd.recursive)
    paths: list[str] = []
    if cmd.args == "paths":
        paths = p.operands
    elif cmd.args == "rev-or-path":
        # The tool decides whether each is a revision or a path; as a path it
        # must pass the path checks, as a revision it only reads.
        paths = p.operands
    elif cmd.args == "text":
        pass  # free text (a stash message): the text rules already applied
    elif cmd.args in ("revs", "branches"):
        if p.after:
            raise refuse("unexpected-argument", f"{p.name} takes no paths after '--'")
        for a in p.before:
            if cmd.args == "revs" and not _REV.match(a) and not (a == "-" and cmd.dash_operand):
                raise refuse("revision", f"{p.name}: {a!r} is not a revision name")
            if cmd.args == "branches":
                check_branch_name(a, p.name)
    for a in paths:
        rel = check_path(a, ctx, root_ok=cmd.root_ok)
        if recursive:
            check_tree(rel, ctx, a, cmd.tree_suffixes)
    if cmd.check is not None:
        cmd.check(p, ctx)


def _emit(p: Parsed, ctx: FixContext) -> list[str]:
    out = list(p.words[-1:]) if p.parent else list(p.words[:1])
    for opt, value in p.options:
        if value is None:
            out.append(opt.spelling)
        elif opt.long:
            out.append(f"--{opt.long}={value}")
        elif opt.optional:
            out.append(f"-{opt.short}{value}")  # an optional value only counts attached
        else:
            # Separate, not attached: git's own options (-C) take no attached value.
            out += [f"-{opt.short}", value]
    out += [f for f in p.cmd.forced if f not in out]
    if p.cmd.extra is not None:
        out += p.cmd.extra(p, ctx)
    if p.cmd.args == "paths":
        if p.operands:
            out += ["--", *p.operands]
    else:
        out += p.before
        if p.after or (p.dashdash and p.cmd.args == "rev-or-path"):
            out += ["--", *p.after]
    return out


# --- the fix type --------------------------------------------------------------


def parse_program(program: Program, argv: Sequence[str], ctx: FixContext) -> list[str]:
    """Check ``argv`` (already split) against ``program``; return the argv to run."""
    cmd = program.command
    top = Parsed(cmd=cmd, words=[argv[0]])
    if program.subcommand_flag:
        tail = _subcommand_by_flag(program, list(argv))
    else:
        top, tail = _parse_level(cmd, list(argv[1:]), ctx, top)
    levels = [top]
    while cmd.subcommands:
        here = levels[-1]
        if tail and not (cmd.default_subcommand and tail[0].startswith("-")):
            sub, tail = tail[0], tail[1:]
        elif cmd.default_subcommand:
            sub = cmd.default_subcommand
        else:
            raise refuse(
                "missing-argument", f"{here.name} needs a subcommand (one of {', '.join(sorted(cmd.subcommands))})"
            )
        if sub not in cmd.subcommands:
            if sub in cmd.refused_subcommands:
                rule, why = cmd.refused_subcommands[sub]
                raise refuse(rule, f"{here.name} {sub}: {why}")
            known = ", ".join(sorted(cmd.subcommands))
            raise refuse(
                "subcommand-not-allowed",
                f"{here.name} {sub!r} is not in the allowlist (allowed: {known}); aliases are never resolved",
            )
        cmd = cmd.subcommands[sub]
        level = Parsed(cmd=cmd, words=[*here.words, sub], parent=here)
        if cmd.subcommands and cmd.default_subcommand:
            levels.append(level)  # a group such as "stash": its options belong to the default
            continue
        level, tail = _parse_level(cmd, tail, ctx, level)
        levels.append(level)
    _check_operands(levels[-1], ctx)
    out: list[str] = []
    for p in levels:
        if program.subcommand_flag and p.parent is levels[0]:
            out.append(program.subcommand_flag)
        out += _emit(p, ctx)
    return out


def _subcommand_by_flag(program: Program, argv: list[str]) -> list[str]:
    """``python -m MODULE ARGS`` or ``python -mMODULE ARGS``: return ``[MODULE, *ARGS]``."""
    flag, cmd = program.subcommand_flag, program.command
    first = argv[1] if len(argv) > 1 else ""
    if first == flag and len(argv) > 2:
        return argv[2:]
    if first.startswith(flag) and len(first) > len(flag):
        return [first[len(flag) :], *argv[2:]]
    if first.startswith("-") and first != flag:
        rule, why = cmd.refused.get(first[:2], ("option-not-allowed", f"only '{flag} MODULE' is allowed"))
        raise refuse(rule, f"{argv[0]} {first!r}: {why}")
    if first and first != flag:
        raise refuse("script", f"{argv[0]} would run {first!r}: scripts are refused; only '{flag} MODULE' is allowed")
    raise refuse("missing-argument", f"{argv[0]} needs '{flag} MODULE'")


class AllowlistFixType:
    """A fix type whose allowlist is data: ``Program`` declarations.

    Third-party fix types can be instances of this class (see
    docs/execute-fix.md); the built-ins in ``autopack_plugins.fix_types`` are.
    """

    def __init__(
        self,
        name: str,
        description: str,
        programs: Sequence[Program],
        *,
        enabled_by_default: bool = True,
        allow_non_ascii: bool = False,
    ) -> None:
        self.name = name
        self.description = description
        self.enabled_by_default = enabled_by_default
        self.allow_non_ascii = allow_non_ascii
        self.programs = tuple(programs)
        self._by_name = {n: p for p in self.programs for n in p.names}

    def __repr__(self) -> str:
        return f"<fix type {self.name}: {', '.join(sorted(self._by_name))}>"

    def check(self, command: str, context: FixContext) -> FixVerdict:
        try:
            argv = self.argv(command, context)
        except FixRefused as exc:
            return FixVerdict(allowed=False, rule=exc.rule, reason=exc.reason, manual=exc.manual)
        except Exception as exc:  # noqa: BLE001 - a check that breaks must fail closed
            return _broken(self.name, exc)
        return FixVerdict(allowed=True, argv=tuple(argv))

    def argv(self, command: str, context: FixContext) -> list[str]:
        argv = split(command, allow_non_ascii=self.allow_non_ascii)
        check_program_word(argv)
        enabled = context.settings.enabled
        if not (self.enabled_by_default if enabled is None else enabled):
            raise refuse("type-disabled", f"fix type {self.name!r} is off (doctor.fix_types.{self.name}.enabled)")
        program = self._by_name.get(argv[0])
        if program is None:
            known = ", ".join(sorted(self._by_name))
            raise refuse("program-not-allowed", f"fix type {self.name!r} runs only {known}, not {argv[0]!r}")
        return parse_program(program, argv, context)


class ConfiguredFixType:
    """A fix type with no allowlist of its own: off unless configured, then
    only the exact commands listed in ``doctor.fix_types.<name>.allow``
    (compared after splitting, so quoting differences do not matter and no
    extra argument slips through)."""

    def __init__(self, name: str, description: str, *, programs: tuple[str, ...] = ()) -> None:
        self.name = name
        self.description = description
        self.enabled_by_default = False
        self.programs = programs

    def check(self, command: str, context: FixContext) -> FixVerdict:
        try:
            argv = split(command)
            check_program_word(argv)
            if not context.settings.enabled:
                raise refuse(
                    "type-disabled",
                    f"fix type {self.name!r} is off unless configured (doctor.fix_types.{self.name}: enabled, allow)",
                )
            if self.programs and argv[0] not in self.programs:
                raise refuse("program-not-allowed", f"fix type {self.name!r} runs only {', '.join(self.programs)}")
            for entry in context.settings.allow:
                try:
                    if split(entry) == argv:
                        return FixVerdict(allowed=True, argv=tuple(argv))
                except FixRefused:
                    continue
            raise refuse(
                "not-configured",
                f"{shlex.join(argv)!r} is not one of the commands in doctor.fix_types.{self.name}.allow",
            )
        except FixRefused as exc:
            return FixVerdict(allowed=False, rule=exc.rule, reason=exc.reason, manual=exc.manual)
        except Exception as exc:  # noqa: BLE001 - a check that breaks must fail closed
            return _broken(self.name, exc)


def _broken(type_name: str, exc: Exception) -> FixVerdict:
    return FixVerdict(
        allowed=False,
        rule="check-error",
        reason=f"fix type {type_name!r} could not check the command ({type(exc).__name__}: {exc}); refused",
    )
