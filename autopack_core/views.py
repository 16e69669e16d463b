"""How the read side shows a run: a run's projection as text or as a plain dict.

Rendering only: no store, no folding. ``projections`` computes the state,
``queries`` reads it from the store, this module turns it into output.
"""

from __future__ import annotations

from typing import Any

from autopack_core.projections import RunView


def view_to_dict(view: RunView) -> dict[str, Any]:
    from cattrs import Converter

    data = Converter().unstructure(view)
    data["total_failures"] = view.total_failures
    return data


def render_view(view: RunView) -> str:
    lines = [
        f"run       {view.run_id}",
        f"status    {view.status}" + (f" ({view.end_reason})" if view.end_reason else ""),
        f"goal      {view.goal}",
        f"events    {view.seq}   created {view.created_ts}   last {view.last_ts}",
        f"usage     {view.usage.calls} calls, {view.usage.input_tokens} in / {view.usage.output_tokens} out tokens, "
        f"${view.usage.cost_usd:.4f}",
        f"failures  total {view.total_failures}, http 5xx {view.http_5xx}, patch {view.patch_failures}; "
        f"doctor calls {view.doctor_calls}; escalations {view.escalations}",
        "phases:",
    ]
    for p in view.phases.values():
        errs = ", ".join(f"{k}={v}" for k, v in sorted(p.errors.items())) or "-"
        lines.append(f"  {p.id:<24} {p.status:<12} attempts {p.attempts}  errors {errs}")
    return "\n".join(lines)


def render_runs_table(rows: list[Any]) -> list[str]:
    """``autopack runs``: one line per ``RunSummary``, under a header."""
    out = [f"{'RUN':<28} {'STATUS':<12} {'PHASES':>7} {'EVENTS':>7}  GOAL"]
    for r in rows:
        out.append(f"{r.run_id:<28} {r.status:<12} {r.phases_done:>3}/{r.phases_total:<3} {r.events:>7}  {r.goal[:60]}")
    return out
