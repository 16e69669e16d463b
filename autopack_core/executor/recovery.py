"""Error recovery: the failure categories, error signatures and the health budget.

Every failed step is recorded as one ``ErrorClassified`` event whose
``category`` is one of ``CATEGORIES`` and whose ``signature`` identifies the
failure across attempts: a hash of the category and the message with the
parts that change from try to try (numbers, temporary paths, hex ids, line
numbers) taken out. The same signature seen again in a phase is how the
executor notices that an approach keeps failing the same way.

The health budget is folded from the log (``RunView``), never counted on the
side, so a resumed run sees exactly what the interrupted one had used.
"""

from __future__ import annotations

import hashlib
import re

from autopack_core import events as ev
from autopack_core.config import HealthBudgetConfig
from autopack_core.doctor_routing import health_ratio as _ratio
from autopack_core.projections import RunView

TRANSIENT_PROVIDER = "transient_provider"
PROVIDER_ERROR = "provider_error"
MALFORMED_OUTPUT = "malformed_output"
PATCH_APPLY = "patch_apply"
TEST_FAILURE = "test_failure"
LINT_FAILURE = "lint_failure"
AUDIT_REJECTION = "audit_rejection"
INFRASTRUCTURE = "infrastructure"
BUDGET_EXHAUSTED = "budget_exhausted"

#: Every category an ``ErrorClassified`` event may carry, with what it means.
CATEGORIES: dict[str, str] = {
    TRANSIENT_PROVIDER: "the model provider failed in a way that may pass (429, 5xx, timeout, cut connection) "
    "and its retries were spent",
    PROVIDER_ERROR: "the model provider refused for good (credentials, configuration, no recorded answer)",
    MALFORMED_OUTPUT: "a role's reply did not follow its protocol, even after re-asking",
    PATCH_APPLY: "the Builder's patch was refused by governance or did not fit the files",
    TEST_FAILURE: "the test suite (a pytest check) failed after the patch",
    LINT_FAILURE: "another quality check (linter, type checker, command) failed after the patch",
    AUDIT_REJECTION: "the Auditor rejected the applied diff",
    INFRASTRUCTURE: "the workspace itself is in the way (merge conflict, missing file, git error)",
    BUDGET_EXHAUSTED: "a budget or quota ran out",
}

# Provider failure categories (``ModelCallFailed.category``) that retrying may cure.
_TRANSIENT_CALL = frozenset({"rate_limited", "server_error", "timeout", "connection"})

_TMP = re.compile(r"(/tmp|/var/folders|/private/var)[^\s:'\"]*")
_HEX = re.compile(r"\b[0-9a-f]{7,64}\b", re.IGNORECASE)
_ULID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")
_ADDR = re.compile(r"0x[0-9a-f]+", re.IGNORECASE)
_NUM = re.compile(r"\d+(\.\d+)?")
_SPACE = re.compile(r"\s+")
_SIGNATURE_INPUT_LIMIT = 4000


def normalise(message: str) -> str:
    """The message with what varies between identical failures taken out."""
    text = message[-_SIGNATURE_INPUT_LIMIT:]
    text = _TMP.sub("<tmp>", text)
    text = _ULID.sub("<id>", text)
    text = _ADDR.sub("<addr>", text)
    text = _HEX.sub("<hex>", text)
    text = _NUM.sub("<n>", text)
    return _SPACE.sub(" ", text).strip()


def signature(category: str, message: str) -> str:
    """A short stable id of a failure: category plus normalised message."""
    digest = hashlib.sha256(f"{category}\x1f{normalise(message)}".encode()).hexdigest()
    return f"{category}:{digest[:16]}"


def classified(phase_id: str, category: str, message: str, step: str) -> ev.ErrorClassified:
    return ev.ErrorClassified(
        phase_id=phase_id, category=category, signature=signature(category, message), message=message, step=step
    )


def call_failure_category(failed: ev.ModelCallFailed) -> str:
    """The recovery category of a model call that failed after its retries."""
    if failed.category in _TRANSIENT_CALL:
        return TRANSIENT_PROVIDER
    if failed.category == "malformed_reply":
        # The provider's body was not its documented shape: retrying may cure it.
        return TRANSIENT_PROVIDER
    return PROVIDER_ERROR


def check_failure_category(check_name: str) -> str:
    return TEST_FAILURE if check_name == "pytest" or "test" in check_name else LINT_FAILURE


def health_ratio(view: RunView, budget: HealthBudgetConfig) -> float:
    return _ratio(
        http_5xx=view.http_5xx, patch_failures=view.patch_failures, total_failures=view.total_failures, budget=budget
    )


def health_exhausted(view: RunView, budget: HealthBudgetConfig, phase_id: str | None) -> ev.BudgetExhausted | None:
    """The ``BudgetExhausted`` event to record when any health budget kind is used up."""
    for name, used, limit in (
        ("health_budget.max_http_5xx", view.http_5xx, budget.max_http_5xx),
        ("health_budget.max_patch_failures", view.patch_failures, budget.max_patch_failures),
        ("health_budget.max_total_failures", view.total_failures, budget.max_total_failures),
    ):
        if used >= limit:
            return ev.BudgetExhausted(scope="run", budget=name, used=float(used), limit=float(limit), phase_id=phase_id)
    return None


def budget_reason(e: ev.BudgetExhausted) -> str:
    return f"budget exhausted: {e.budget} ({e.used:g} of {e.limit:g})"
