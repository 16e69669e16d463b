"""Choosing a model for a role, escalating it, and holding calls to their quotas.

Everything here is a pure function of config and counts (or of events), so the
executor can call it on every step and a replay reaches the same choices. What
should be recorded comes back as an event for the caller to record; the
router itself records nothing.
"""

from __future__ import annotations

from typing import Iterable

import attrs

from autopack_core import events as ev
from autopack_core.config import AutopackConfig, Limit, RouteOverride, TierModels
from autopack_core.errors import ConfigError
from autopack_core.projections import RunView, Usage, count

# Re-exported: the Doctor's routing rules are part of the router's API.
from autopack_core.doctor_routing import (  # noqa: F401
    choose_doctor_model,
    doctor_budget_exhausted,
    health_ratio,
    is_complex_failure,
    should_escalate_doctor_model,
)


@attrs.frozen(kw_only=True)
class Route:
    """The model a step uses, and the escalation to record if this choice is one."""

    role: str
    model: str
    tier: str
    escalation: ev.ModelEscalated | None = None


class Router:
    def __init__(self, config: AutopackConfig) -> None:
        self.config = config

    def tiers(self, role: str) -> TierModels:
        return self.config.routing.roles.get(role, self.config.routing.default)

    def _model_for(self, role: str, tier: str) -> str | None:
        own = getattr(self.tiers(role), tier)
        return own or getattr(self.config.routing.default, tier)

    def override(self, role: str, category: str | None, complexity: str | None) -> RouteOverride | None:
        """The first override (file order) whose set matchers all match."""
        for o in self.config.routing.overrides:
            if (
                (o.role is None or o.role == role)
                and (o.category is None or o.category == category)
                and (o.complexity is None or o.complexity == complexity)
            ):
                return o
        return None

    def start(self, role: str, *, category: str | None = None, complexity: str | None = None) -> tuple[str, str]:
        """(model, tier) a role starts a step with, before any failure."""
        o = self.override(role, category, complexity)
        if o is not None and o.model is not None:
            return o.model, self.config.models[o.model].tier
        tier = (o.tier if o is not None and o.tier is not None else None) or self.tiers(role).start
        model = self._model_for(role, tier)
        if model is None:
            # A role with only one tier configured uses it for both.
            other = "strong" if tier == "cheap" else "cheap"
            model = self._model_for(role, other)
            if model is None:
                raise ConfigError(f"{self.config.source}: routing: no model for role {role!r} (set routing.default)")
            tier = self.config.models[model].tier
        return model, tier

    def route(
        self,
        role: str,
        *,
        category: str | None = None,
        complexity: str | None = None,
        failed_attempts: int = 0,
        phase_id: str | None = None,
    ) -> Route:
        """The model for a step that has already failed ``failed_attempts`` times.

        Once ``routing.escalation.after_failed_attempts`` attempts have failed, a
        role that started cheap moves to its strong model. The ``ModelEscalated``
        event is returned exactly once, on the attempt where the switch
        happens (``failed_attempts`` equal to the threshold), so calling
        ``route`` before every attempt records each escalation once.
        """
        model, tier = self.start(role, category=category, complexity=complexity)
        after = self.config.routing.escalation.after_failed_attempts
        if tier != "cheap" or after is None or failed_attempts < after:
            return Route(role=role, model=model, tier=tier)
        strong = self._model_for(role, "strong")
        if strong is None or strong == model:
            return Route(role=role, model=model, tier=tier)
        event = None
        if failed_attempts == after:
            event = ev.ModelEscalated(
                role=role,
                from_model=model,
                to_model=strong,
                reason=f"{failed_attempts} failed attempts (routing.escalation.after_failed_attempts: {after})",
                phase_id=phase_id,
            )
        return Route(role=role, model=strong, tier="strong", escalation=event)


# --- quotas -----------------------------------------------------------------


@attrs.frozen
class _Used:
    tokens: int = 0
    cost_usd: float = 0.0


def _used(usage: Usage | None) -> _Used:
    return _Used() if usage is None else _Used(usage.tokens, usage.cost_usd)


def _over(scope_name: str, used: _Used, limit: Limit, phase_id: str | None) -> ev.BudgetExhausted | None:
    if limit.max_tokens is not None and used.tokens >= limit.max_tokens:
        return ev.BudgetExhausted(
            scope="run",
            budget=f"{scope_name}.max_tokens",
            used=float(used.tokens),
            limit=float(limit.max_tokens),
            phase_id=phase_id,
        )
    if limit.max_cost_usd is not None and used.cost_usd >= limit.max_cost_usd:
        return ev.BudgetExhausted(
            scope="run",
            budget=f"{scope_name}.max_cost_usd",
            used=used.cost_usd,
            limit=limit.max_cost_usd,
            phase_id=phase_id,
        )
    return None


class QuotaTracker:
    """The token and cost quotas, checked against the usage a run's view folds.

    Give it the live run's view (``QuotaTracker(config, session.view)``): it
    then counts nothing itself, every answer the session records is in the
    view, and after a resume the view rebuilt from the log gives the same
    figures. Without a view it folds what ``observe`` is given into a view of
    its own, with the same code (calls outside any run, e.g. ``autopack prompt``).
    The ``ModelCaller`` asks ``check`` before each call.
    """

    def __init__(self, config: AutopackConfig, view: RunView | None = None) -> None:
        self.quotas = config.quotas
        self._own = view is None
        self.view = RunView("") if view is None else view

    def observe(self, events: Iterable[ev.Event]) -> None:
        """Fold answers into the tracker's own view; a tracker reading a run's view has them already."""
        if self._own:
            count(self.view, events)

    @property
    def run(self) -> _Used:
        """Tokens and cost used by the whole run."""
        return _used(self.view.usage)

    @property
    def per_model(self) -> dict[str, _Used]:
        """Tokens and cost used per model."""
        return {m: _used(u) for m, u in self.view.usage_by_model.items()}

    def check(self, model: str, *, phase_id: str | None = None) -> ev.BudgetExhausted | None:
        """The ``BudgetExhausted`` event to record if a call to ``model`` would exceed a quota."""
        over = _over("quotas.run", self.run, self.quotas.run, phase_id)
        if over is None and model in self.quotas.per_model:
            used = _used(self.view.usage_by_model.get(model))
            over = _over(f"quotas.per_model.{model}", used, self.quotas.per_model[model], phase_id)
        return over
