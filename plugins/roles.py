"""The built-in roles: Builder, Auditor and Doctor (SPEC sections 3, 4 and 7).

Registered through ``register_roles`` exactly as a third party's roles would
be. Their prompt templates are the files in ``templates/`` next to this
module; ``autopack roles template NAME`` prints them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autopack_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from autopack_core.plan import PhaseSpec
    from autopack_core.roles import (
        AuditReply,
        BuilderReply,
        DoctorResponse,
        Prompt,
        RoleContext,
    )

# Every command loads the plugins, so the roles' machinery (attrs classes,
# json, the patch parser) is imported when a role is first used, not here.

TEMPLATES = Path(__file__).parent / "templates"


def shipped_template(name: str) -> str:
    return (TEMPLATES / f"{name}.txt").read_text(encoding="utf-8")


class TemplateRole:
    """A role whose prompt is its template filled by ``assemble_prompt``."""

    name = ""
    description = ""

    @property
    def default_template(self) -> str:
        # Read on first use: loading the plugin (every command does) stays cheap.
        cached = self.__dict__.get("_template")
        if cached is None:
            cached = self.__dict__["_template"] = shipped_template(self.name)
        return cached

    def build_prompt(self, context: RoleContext, *, context_tokens: int, template: str | None = None) -> Prompt:
        from autopack_core.roles import assemble_prompt

        return assemble_prompt(
            context, template if template is not None else self.default_template, context_tokens=context_tokens
        )


class Builder(TemplateRole):
    name = "builder"
    description = "proposes the phase's edits as unified diffs or search/replace blocks"

    def parse_reply(self, text: str) -> BuilderReply:
        from autopack_core.errors import MalformedOutput, PatchParseError
        from autopack_core.patching.parse import parse_reply
        from autopack_core.roles import BuilderReply

        try:
            edits = parse_reply(text)
        except PatchParseError as exc:
            raise MalformedOutput(self.name, str(exc)) from None
        except (ValueError, UnicodeError, RecursionError) as exc:  # a parser gap must not crash the run
            raise MalformedOutput(self.name, f"unreadable edits: {exc}") from None
        return BuilderReply(edits=tuple(edits))


class Auditor(TemplateRole):
    name = "auditor"
    description = "reviews the applied diff: approve, or reject with issues for the Builder"

    def parse_reply(self, text: str) -> AuditReply:
        from autopack_core.errors import MalformedOutput
        from autopack_core.roles import (
            AUDIT_VERDICTS,
            AuditReply,
            check_keys,
            reply_json_object,
            string_list,
        )

        data = reply_json_object(text, self.name)
        check_keys(data, self.name, required=("verdict",), allowed=("verdict", "issues"))
        verdict = data["verdict"]
        if verdict not in AUDIT_VERDICTS:
            raise MalformedOutput(self.name, f"verdict must be approve or reject, got {str(verdict)[:40]!r}")
        issues = string_list(data, "issues", self.name)
        if verdict == "reject" and not any(i.strip() for i in issues):
            raise MalformedOutput(self.name, "a reject needs at least one issue for the Builder")
        return AuditReply(verdict=verdict, issues=issues)


_DOCTOR_KEYS = (
    "action",
    "confidence",
    "rationale",
    "hint",
    "fix_type",
    "fix_commands",
    "verify_command",
    "revised_phases",
)


def revised_phases(data: object) -> tuple[PhaseSpec, ...]:
    """A replan's phases, validated like a plan file's (``errors.PlanError`` on a problem)."""
    try:
        from autopack_core.planfile import phases_from_data  # type: ignore[import-not-found, unused-ignore]
    except ImportError:  # until the plan-file loader lands; then this fallback goes
        phases_from_data = _phases_minimal
    return tuple(phases_from_data(data, "doctor reply"))


def _phases_minimal(data: object, source: str) -> tuple[PhaseSpec, ...]:
    from autopack_core.errors import PlanError
    from autopack_core.plan import COMPLEXITIES, CheckSpec, PhaseSpec

    if not isinstance(data, list):
        raise PlanError(f"{source}: revised_phases: expected a list of phases")
    out: list[PhaseSpec] = []
    seen: set[str] = set()
    allowed = ("id", "goal", "category", "complexity", "scope", "checks", "optional")
    for i, p in enumerate(data):
        where = f"{source}: revised_phases[{i}]"
        if not isinstance(p, dict):
            raise PlanError(f"{where}: expected a mapping")
        extra = [k for k in p if k not in allowed]
        if extra:
            raise PlanError(f"{where}: unknown key {str(extra[0])[:40]!r}")
        for key in ("id", "goal"):
            if not isinstance(p.get(key), str) or not p[key].strip():
                raise PlanError(f"{where}.{key}: expected a non-empty string")
        if p["id"] in seen:
            raise PlanError(f"{where}.id: duplicate phase id {p['id'][:40]!r}")
        seen.add(p["id"])
        category = p.get("category", "feature")
        complexity = p.get("complexity", "medium")
        optional = p.get("optional", False)
        scope = p.get("scope", [])
        if not isinstance(category, str):
            raise PlanError(f"{where}.category: expected a string")
        if complexity not in COMPLEXITIES or not isinstance(complexity, str):
            raise PlanError(f"{where}.complexity: expected low, medium or high")
        if not isinstance(optional, bool):
            raise PlanError(f"{where}.optional: expected true or false")
        if not isinstance(scope, list) or not all(isinstance(s, str) for s in scope):
            raise PlanError(f"{where}.scope: expected a list of paths")
        checks: list[CheckSpec] = []
        raw_checks = p.get("checks", [])
        if not isinstance(raw_checks, list):
            raise PlanError(f"{where}.checks: expected a list")
        for j, c in enumerate(raw_checks):
            if isinstance(c, str) and c:
                checks.append(CheckSpec(name=c))
            elif isinstance(c, dict) and isinstance(c.get("name"), str) and all(isinstance(v, str) for v in c.values()):
                opts = tuple((str(k), v) for k, v in c.items() if k != "name")
                checks.append(CheckSpec(name=c["name"], options=opts))
            else:
                raise PlanError(f"{where}.checks[{j}]: expected a check name or {{name: ..., option: value}}")
        out.append(
            PhaseSpec(
                id=p["id"],
                goal=p["goal"],
                category=category,
                complexity=complexity,
                scope=tuple(scope),
                checks=tuple(checks),
                optional=optional,
            )
        )
    return tuple(out)


class Doctor(TemplateRole):
    name = "doctor"
    description = "diagnoses a failure and picks a recovery action (retry_with_fix, replan, ...)"

    def parse_reply(self, text: str) -> DoctorResponse:
        from autopack_core.errors import AutopackError, MalformedOutput
        from autopack_core.roles import (
            DOCTOR_ACTIONS,
            DoctorResponse,
            check_keys,
            reply_json_object,
            string_field,
            string_list,
        )

        role = self.name
        data = reply_json_object(text, role)
        check_keys(data, role, required=("action", "confidence"), allowed=_DOCTOR_KEYS)
        action = data["action"]
        if action not in DOCTOR_ACTIONS:
            raise MalformedOutput(role, f"action must be one of {', '.join(DOCTOR_ACTIONS)}, got {str(action)[:40]!r}")
        confidence = data["confidence"]
        if isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
            raise MalformedOutput(role, "confidence must be a number from 0 to 1")
        if not (math.isfinite(confidence) and 0.0 <= confidence <= 1.0):
            raise MalformedOutput(role, f"confidence must be from 0 to 1, got {confidence!r}")
        fields: dict[str, Any] = {
            key: string_field(data, key, role) for key in ("rationale", "hint", "fix_type", "verify_command")
        }
        fields["fix_commands"] = string_list(data, "fix_commands", role)
        phases = None
        raw_phases = data.get("revised_phases")
        if action == "replan":
            if not isinstance(raw_phases, list) or not raw_phases:
                raise MalformedOutput(role, "replan needs revised_phases: a non-empty list of phases")
            try:
                phases = revised_phases(raw_phases)
            except AutopackError as exc:  # PlanError; any refusal of the plan loader is the reply's fault
                raise MalformedOutput(role, str(exc)) from None
        elif raw_phases is not None:
            raise MalformedOutput(role, "revised_phases belongs only to action replan")
        if action == "retry_with_fix" and not fields["hint"].strip():
            # Models often put the advice in the rationale only; a retry without any advice is still a
            # legitimate answer, so the rationale stands in rather than costing a re-ask.
            fields["hint"] = fields["rationale"]
        if action == "execute_fix" and (not fields["fix_type"] or not fields["fix_commands"]):
            raise MalformedOutput(role, "execute_fix needs fix_type and fix_commands")
        return DoctorResponse(action=action, confidence=float(confidence), revised_phases=phases, **fields)


BUILTIN_ROLES: tuple[TemplateRole, ...] = (Builder(), Auditor(), Doctor())


@hookimpl
def register_roles(register: Callable[..., None]) -> None:
    for role in BUILTIN_ROLES:
        register(role.name, role)
