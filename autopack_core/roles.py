"""Model roles: the data they take and give, and how a prompt is put together.

A role (``contracts.Role``) is pure: it turns a ``RoleContext`` into a
``Prompt`` and a reply's text into a result (``BuilderReply``, ``AuditReply``,
``DoctorResponse``, or a third-party role's own type). The executor makes the
model call and records everything; nothing here does I/O.

Templates are ``string.Template`` text (``$goal``, ``${phase}``; ``$$`` is a
dollar sign) rather than ``str.format``, because the Auditor's and Doctor's
templates show JSON, whose braces ``str.format`` would need escaped. A line
``[system]`` starts the system message and a line ``[user]`` the user
message; a template with neither is all user message. ``PLACEHOLDERS`` lists
every name a template may use; each role's template uses the ones it needs.

Fitting the context: tokens are estimated as ``ceil(characters / 4)``
(``CHARS_PER_TOKEN``), a common rule of thumb for English and code; callers
that want a margin pass a smaller ``context_tokens`` (``prompt_budget`` leaves
room for the reply). When a prompt is too long, what matters least goes
first, each step only as far as needed: the repository map (paths from the
end), then hints and rules (oldest first, the newest hint last), then the
contents of files other than the first files (the largest cut first), then
the previous failure (its start: the tail is where errors are), then the
applied diff (its end), and last the first files themselves. The first files
are the files the phase's ``scope`` names (or the first file when it names
none). The goal, the phase and the template's own text (the reply protocol)
are never cut. Everything left out is listed in ``Prompt.omitted`` and in a
line of the prompt (``$omitted``, appended to the user message when the
template lacks it). If even that does not fit, ``ContextTooSmall``.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from string import Template
from typing import TYPE_CHECKING, Any

import attrs

from autopack_core.errors import ContextTooSmall, MalformedOutput
from autopack_core.plan import PhaseSpec

if TYPE_CHECKING:
    from autopack_core.config import AutopackConfig

DOCTOR_ACTIONS: tuple[str, ...] = (
    "retry_with_fix",
    "replan",
    "skip_phase",
    "rollback_run",
    "mark_fatal",
    "execute_fix",
)
AUDIT_VERDICTS: tuple[str, ...] = ("approve", "reject")
CHARS_PER_TOKEN = 4
#: Used when a model's ``context_tokens`` is not configured.
DEFAULT_CONTEXT_TOKENS = 128_000

SYSTEM_MARKER = "[system]"
USER_MARKER = "[user]"

#: Every placeholder a template may use, with what it holds.
PLACEHOLDERS: dict[str, str] = {
    "goal": "the run's goal",
    "attempt": "the attempt number of this step (1 for the first)",
    "phase": "the phase as a block: id, goal, category, complexity, scope, checks, optional",
    "phase_id": "the phase id",
    "phase_goal": "the phase goal",
    "phase_category": "the phase category",
    "phase_complexity": "the phase complexity (low, medium, high)",
    "phase_scope": "the files the phase names, comma-separated, or (none)",
    "phase_checks": "the phase's quality checks, comma-separated, or (none)",
    "files": "the contents of the files in scope (and others the executor adds), each under its path",
    "repo_map": "the repository's tracked paths, one a line",
    "previous_failure": "why the previous attempt failed (refusals, apply errors, check output, audit issues)",
    "hints": "the run's hints (Stage 0A), one a line",
    "rules": "promoted rules (Stage 0B), one a line",
    "diff": "the applied diff (the Auditor reviews it)",
    "doctor_request": "the Doctor's request: the failure, its category, attempts, budgets",
    "doctor_context": "the Doctor's context summary: goals, recent failures, hints, files in scope",
    "omitted": "a line saying what was left out to fit the context (empty when nothing was)",
}

_NONE = "(none)"


# --- data --------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class FileExcerpt:
    """A file shown to a role: its path in the workspace and its text."""

    path: str
    text: str


@attrs.frozen(kw_only=True)
class DoctorContextSummary:
    goal: str
    phase_goal: str
    recent_failures: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()
    files_in_scope: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class DoctorRequest:
    """What the Doctor is asked about: one failure, with the run's situation."""

    run_id: str
    phase_id: str
    error_category: str
    error_message: str
    signature: str
    attempts: int
    health_ratio: float
    categories_seen: tuple[str, ...] = ()
    patch_errors: int = 0
    prior_escalated_action: bool = False
    optional_phase: bool = False
    context: DoctorContextSummary


@attrs.frozen(kw_only=True)
class RoleContext:
    """Everything a role's prompt may show; the executor fills what applies."""

    goal: str
    phase: PhaseSpec
    attempt: int = 1
    files: tuple[FileExcerpt, ...] = ()
    repo_map: tuple[str, ...] = ()
    # Refusal reasons, apply errors, check output tail or audit issues.
    previous_failure: str = ""
    hints: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    diff: str = ""
    doctor_request: DoctorRequest | None = None


@attrs.frozen(kw_only=True)
class Prompt:
    """A role's prompt: the two messages, what was left out, and its estimated size."""

    system: str
    user: str
    omitted: tuple[str, ...] = ()
    estimated_tokens: int = 0


@attrs.frozen(kw_only=True)
class BuilderReply:
    edits: tuple  # tuple[patching.parse.FileEdit, ...], parsed once


@attrs.frozen(kw_only=True)
class AuditReply:
    verdict: str  # "approve" | "reject"
    issues: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class DoctorResponse:
    action: str  # one of DOCTOR_ACTIONS
    confidence: float
    rationale: str = ""
    hint: str = ""
    fix_type: str = ""
    fix_commands: tuple[str, ...] = ()
    verify_command: str = ""
    revised_phases: tuple[PhaseSpec, ...] | None = None  # replan only


# --- templates ----------------------------------------------------------------


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def prompt_budget(config: AutopackConfig, model: str) -> int:
    """Tokens a prompt to ``model`` may use: its context less room for its reply."""
    m = config.model(model)
    context = m.context_tokens or DEFAULT_CONTEXT_TOKENS
    return max(context - m.max_output_tokens, 1)


def split_template(template: str) -> tuple[str, str]:
    """(system, user) parts of a template, split at the ``[system]``/``[user]`` lines."""
    system: list[str] = []
    user: list[str] = []
    target = user
    for line in template.splitlines(keepends=True):
        marker = line.strip()
        if marker == SYSTEM_MARKER:
            target = system
        elif marker == USER_MARKER:
            target = user
        else:
            target.append(line)
    return "".join(system).strip("\n"), "".join(user).strip("\n")


def template_problems(template: str) -> list[tuple[int, str]]:
    """(1-based line, problem) for each unknown placeholder or stray ``$`` in a template."""
    out: list[tuple[int, str]] = []
    known = ", ".join(sorted(PLACEHOLDERS))
    for m in Template.pattern.finditer(template):
        line = template.count("\n", 0, m.start()) + 1
        name = m.group("named") or m.group("braced")
        if m.group("invalid") is not None:
            out.append((line, "a $ that starts no placeholder (write $$ for a dollar sign)"))
        elif name is not None and name not in PLACEHOLDERS:
            out.append((line, f"unknown placeholder ${name} (known: {known})"))
    return out


def template_for(config: AutopackConfig, role_name: str, role: Any) -> str:
    """The template a role uses: the config's override if it has one, else the role's own."""
    override = getattr(config, "role_templates", {}).get(role_name)
    return override if override is not None else role.default_template


def template_source(config: AutopackConfig, role_name: str) -> str:
    """Where ``template_for`` takes a role's template from: ``shipped`` or the file's path."""
    ref = getattr(config, "role_template_paths", {}).get(role_name)
    return ref[0] if ref else "shipped"


# --- rendering ----------------------------------------------------------------


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    return "`" * max(3, longest + 1)


_LEFT_OUT = "(left out to fit the context)"


def _lines(items: tuple[str, ...] | list[str], bullet: str = "- ", *, had: int = 0) -> str:
    if items:
        # The repository map has no bullet and a thousand lines or more: join it as it is.
        return "\n".join(items) if not bullet else "\n".join(f"{bullet}{i}" for i in items)
    return _LEFT_OUT if had else _NONE


def _checks(phase: PhaseSpec) -> str:
    out = []
    for c in phase.checks:
        opts = ", ".join(f"{k}={v}" for k, v in c.options)
        out.append(f"{c.name} ({opts})" if opts else c.name)
    return ", ".join(out) or _NONE


def _phase_block(p: PhaseSpec) -> str:
    return "\n".join(
        (
            f"id: {p.id}",
            f"goal: {p.goal}",
            f"category: {p.category}",
            f"complexity: {p.complexity}",
            f"scope: {', '.join(p.scope) or _NONE}",
            f"checks: {_checks(p)}",
            f"optional: {'yes' if p.optional else 'no'}",
        )
    )


def _cut_head(text: str, keep: int) -> str:
    """The first ``keep`` characters, ending at a line break when one is near."""
    if keep >= len(text):
        return text
    # The break must lie before `keep` so every cut shortens the text.
    cut = text.rfind("\n", 0, keep)
    return text[: cut + 1] if cut >= keep // 2 else text[:keep]


def _cut_tail(text: str, keep: int) -> str:
    if keep >= len(text):
        return text
    return text[len(text) - keep :] if keep > 0 else ""


def _water_fill(lengths: list[int], remove: int) -> int:
    """The cap that removes at least ``remove`` characters, cutting the longest first."""
    ordered = sorted(lengths, reverse=True)
    total = sum(ordered)
    if remove >= total:
        return 0
    removed = 0
    for i, length in enumerate(ordered):
        nxt = ordered[i + 1] if i + 1 < len(ordered) else 0
        # Lowering the i+1 longest from `length` to `nxt` removes this much more.
        step = (length - nxt) * (i + 1)
        if removed + step >= remove:
            need = remove - removed
            return length - math.ceil(need / (i + 1))
        removed += step
    return 0


@attrs.define
class _Shown:
    """A trimmable list or text, and how much of it is shown."""

    items: list[Any]
    total: int


class _Parts:
    """The trimmable parts of a prompt, cut step by step by ``assemble_prompt``."""

    def __init__(self, ctx: RoleContext) -> None:
        self.ctx = ctx
        self.repo_map = list(ctx.repo_map)
        self.hints = list(ctx.hints)
        self.rules = list(ctx.rules)
        req = ctx.doctor_request
        self.recent_failures = list(req.context.recent_failures) if req else []
        self.error_message = req.error_message if req else ""
        first = set(ctx.phase.scope)
        named = [f.path in first for f in ctx.files]
        if ctx.files and not any(named):
            named[0] = True
        self.first = named
        self.files = [f.text for f in ctx.files]
        self.failure = ctx.previous_failure
        self.diff = ctx.diff

    # Each step removes at least `over` characters if it can; False when it has nothing left.

    def trim_repo_map(self, over: int) -> bool:
        if not self.repo_map:
            return False
        removed = 0
        while self.repo_map and removed < over:
            removed += len(self.repo_map.pop()) + 1
        return True

    def trim_hints_and_rules(self, over: int) -> bool:
        # Older hints first, then rules (oldest first), then the Doctor's older
        # failure notes, and the newest hint (most likely the fix in progress) last.
        removed = 0
        changed = False
        for seq, keep in ((self.hints, 1), (self.rules, 0), (self.recent_failures, 0), (self.hints, 0)):
            while len(seq) > keep and removed < over:
                removed += len(seq.pop(0)) + 3
                changed = True
            if removed >= over:
                break
        return changed

    def _trim_files(self, over: int, first: bool) -> bool:
        idx = [i for i, f in enumerate(self.first) if f == first and self.files[i]]
        if not idx:
            return False
        cap = _water_fill([len(self.files[i]) for i in idx], over + 80)
        for i in idx:
            if len(self.files[i]) > cap:
                self.files[i] = _cut_head(self.files[i], cap)
        return True

    def trim_other_files(self, over: int) -> bool:
        return self._trim_files(over, first=False)

    def trim_failure(self, over: int) -> bool:
        changed = False
        for name in ("failure", "error_message"):
            text = getattr(self, name)
            if text and over > 0:
                keep = max(len(text) - over - 60, 0)
                setattr(self, name, _cut_tail(text, keep))
                over -= len(text) - keep
                changed = True
        return changed

    def trim_diff(self, over: int) -> bool:
        if not self.diff:
            return False
        self.diff = _cut_head(self.diff, max(len(self.diff) - over - 60, 0))
        return True

    def trim_first_files(self, over: int) -> bool:
        return self._trim_files(over, first=True)

    def steps(self) -> tuple[Callable[[int], bool], ...]:
        return (
            self.trim_repo_map,
            self.trim_hints_and_rules,
            self.trim_other_files,
            self.trim_failure,
            self.trim_diff,
            self.trim_first_files,
        )

    # --- what was left out ---

    def omitted(self) -> list[str]:
        ctx = self.ctx
        out: list[str] = []
        if len(self.repo_map) < len(ctx.repo_map):
            out.append(f"repo map: {len(ctx.repo_map) - len(self.repo_map)} of {len(ctx.repo_map)} paths")
        for label, shown, full in (
            ("hints", self.hints, ctx.hints),
            ("rules", self.rules, ctx.rules),
            (
                "recent failures",
                self.recent_failures,
                ctx.doctor_request.context.recent_failures if ctx.doctor_request else (),
            ),
        ):
            if len(shown) < len(full):
                out.append(f"{label}: the {len(full) - len(shown)} oldest of {len(full)}")
        for f, text in zip(ctx.files, self.files, strict=False):
            if len(text) < len(f.text):
                out.append(f"file {f.path}: {len(f.text) - len(text)} of {len(f.text)} characters (its end)")
        if len(self.failure) < len(ctx.previous_failure):
            n = len(ctx.previous_failure)
            out.append(f"previous failure: {n - len(self.failure)} of {n} characters (its start)")
        if ctx.doctor_request and len(self.error_message) < len(ctx.doctor_request.error_message):
            n = len(ctx.doctor_request.error_message)
            out.append(f"error message: {n - len(self.error_message)} of {n} characters (its start)")
        if len(self.diff) < len(ctx.diff):
            out.append(f"diff: {len(ctx.diff) - len(self.diff)} of {len(ctx.diff)} characters (its end)")
        return out

    # --- sections ---

    def _files_section(self) -> str:
        if not self.ctx.files:
            return _NONE
        blocks = []
        for f, text in zip(self.ctx.files, self.files, strict=False):
            fence = _fence(text)
            if not text and f.text:
                blocks.append(f"### {f.path}\n(contents {_LEFT_OUT[1:]}")
                continue
            note = (
                f"\n[... the last {len(f.text) - len(text)} characters are left out]" if len(text) < len(f.text) else ""
            )
            body = text if text.endswith("\n") or not text else text + "\n"
            blocks.append(f"### {f.path}\n{fence}\n{body}{fence}{note}")
        return "\n\n".join(blocks)

    def _failure_section(self) -> str:
        full = self.ctx.previous_failure
        if not full:
            return _NONE
        if len(self.failure) < len(full):
            return f"[... the first {len(full) - len(self.failure)} characters are left out]\n{self.failure}"
        return full

    def _diff_section(self) -> str:
        full = self.ctx.diff
        if not full:
            return _NONE
        fence = _fence(full)
        note = (
            f"\n[... the last {len(full) - len(self.diff)} characters are left out]"
            if len(self.diff) < len(full)
            else ""
        )
        body = self.diff if self.diff.endswith("\n") or not self.diff else self.diff + "\n"
        return f"{fence}diff\n{body}{fence}{note}"

    def _doctor_request(self) -> str:
        req = self.ctx.doctor_request
        if req is None:
            return _NONE
        msg = req.error_message
        if len(self.error_message) < len(msg):
            msg = f"[... the first {len(msg) - len(self.error_message)} characters are left out]\n{self.error_message}"
        return "\n".join(
            (
                f"run: {req.run_id}",
                f"phase: {req.phase_id}{' (optional)' if req.optional_phase else ''}",
                f"error category: {req.error_category}",
                f"error signature: {req.signature}",
                f"attempts so far: {req.attempts}",
                f"health budget used: {req.health_ratio:.0%}",
                f"categories seen in this phase: {', '.join(req.categories_seen) or _NONE}",
                f"patch errors in this phase: {req.patch_errors}",
                f"an earlier Doctor action was escalated: {'yes' if req.prior_escalated_action else 'no'}",
                f"error message:\n{msg}",
            )
        )

    def _doctor_context(self) -> str:
        req = self.ctx.doctor_request
        if req is None:
            return _NONE
        c = req.context
        return "\n".join(
            (
                f"run goal: {c.goal}",
                f"phase goal: {c.phase_goal}",
                f"files in scope: {', '.join(c.files_in_scope) or _NONE}",
                f"recent failures (oldest first):\n{_lines(self.recent_failures, had=len(c.recent_failures))}",
                f"hints already given:\n{_lines(list(c.hints))}",
            )
        )

    def sections(self, omitted: list[str]) -> dict[str, str]:
        ctx = self.ctx
        p = ctx.phase
        note = ""
        if omitted:
            note = "Note: to fit the model's context this prompt leaves out: " + "; ".join(omitted) + "."
        return {
            "goal": ctx.goal,
            "attempt": str(ctx.attempt),
            "phase": _phase_block(p),
            "phase_id": p.id,
            "phase_goal": p.goal,
            "phase_category": p.category,
            "phase_complexity": p.complexity,
            "phase_scope": ", ".join(p.scope) or _NONE,
            "phase_checks": _checks(p),
            "files": self._files_section(),
            "repo_map": _lines(self.repo_map, "", had=len(ctx.repo_map)),
            "previous_failure": self._failure_section(),
            "hints": _lines(self.hints, had=len(ctx.hints)),
            "rules": _lines(self.rules, had=len(ctx.rules)),
            "diff": self._diff_section(),
            "doctor_request": self._doctor_request(),
            "doctor_context": self._doctor_context(),
            "omitted": note,
        }


@functools.lru_cache(maxsize=64)
def _compiled(template: str) -> tuple[Template, Template, bool]:
    """(system, user, whether ``$omitted`` is placed) of a template; a role's template is split once."""
    system_t, user_t = (Template(t) for t in split_template(template))
    return system_t, user_t, "omitted" in system_t.get_identifiers() + user_t.get_identifiers()


def assemble_prompt(context: RoleContext, template: str, *, context_tokens: int) -> Prompt:
    """Fill ``template`` from ``context``, trimming to ``context_tokens`` (see the module doc).

    Raises ``ContextTooSmall`` when the prompt does not fit with every
    optional part left out.
    """
    system_t, user_t, has_omitted = _compiled(template)
    budget = max(context_tokens, 0) * CHARS_PER_TOKEN
    parts = _Parts(context)

    def render() -> tuple[str, str, list[str]]:
        omitted = parts.omitted()
        values = parts.sections(omitted)
        system = system_t.safe_substitute(values)
        user = user_t.safe_substitute(values)
        if omitted and not has_omitted:
            user = f"{user}\n\n{values['omitted']}"
        return system, user, omitted

    system, user, omitted = render()
    for step in parts.steps():
        while len(system) + len(user) > budget and step(len(system) + len(user) - budget):
            system, user, omitted = render()
    size = len(system) + len(user)
    if size > budget:
        needed = math.ceil(size / CHARS_PER_TOKEN)
        raise ContextTooSmall(
            f"phase {context.phase.id}: the prompt needs at least {needed} tokens (goal, phase and the role's "
            f"instructions) but the model's budget is {context_tokens}; raise the model's context_tokens",
            needed_tokens=needed,
            budget_tokens=context_tokens,
        )
    return Prompt(system=system, user=user, omitted=tuple(omitted), estimated_tokens=math.ceil(size / CHARS_PER_TOKEN))


# --- replies ------------------------------------------------------------------

_JSON_FENCE = re.compile(r"\A```[ \t]*(?:json|JSON)?[ \t]*\r?\n(.*?)\r?\n?```\Z", re.DOTALL)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def reply_json_object(text: str, role: str) -> dict[str, Any]:
    """The JSON object a reply holds, bare or in one ```json fence; else ``MalformedOutput``."""
    body = text.strip()
    m = _JSON_FENCE.match(body)
    if m:
        body = m.group(1).strip()
    if not body:
        raise MalformedOutput(role, "the reply is empty; expected a JSON object")
    if not body.startswith("{"):
        raise MalformedOutput(role, f"expected a JSON object (optionally in a ```json fence), got {body[:40]!r}")
    try:
        data = json.loads(body, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise MalformedOutput(role, f"invalid JSON: {str(exc)[:120]}") from None
    if not isinstance(data, dict):
        raise MalformedOutput(role, "expected a JSON object")
    return data


def check_keys(data: dict[str, Any], role: str, *, required: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    for key in required:
        if key not in data:
            raise MalformedOutput(role, f"missing key {key!r}")
    extra = sorted(k for k in data if k not in allowed)
    if extra:
        raise MalformedOutput(role, f"unknown key {extra[0][:40]!r} (expected: {', '.join(allowed)})")


def string_field(data: dict[str, Any], key: str, role: str) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedOutput(role, f"{key} must be a string")
    return value


def string_list(data: dict[str, Any], key: str, role: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedOutput(role, f"{key} must be a list of strings")
    return tuple(value)
