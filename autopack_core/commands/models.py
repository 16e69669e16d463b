"""``autopack prompt`` and ``autopack models``: checking a config before a long run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import click

from autopack_core.commands.options import AppContext, config_option, pass_app, record_db_option

if TYPE_CHECKING:
    from autopack_core.config import AutopackConfig
    from autopack_core.events import Event


def load(config_path: Path | None) -> "AutopackConfig":
    from autopack_core.config_load import load_config

    return load_config(config_path)


@click.command()
@click.option("--model", "-m", "model", required=True, help="A model name from the config's models: section.")
@click.option("--system", default="", help="System prompt.")
@click.option(
    "--role", default="prompt", show_default=True, help="Role recorded with the call (recorded providers match on it)."
)
@click.option("--json", "as_json", is_flag=True, help="Print text, model, provider, tokens, cost and attempts as JSON.")
@record_db_option
@config_option
@click.argument("text")
@pass_app
def prompt(
    app: AppContext,
    model: str,
    system: str,
    role: str,
    as_json: bool,
    db: Path | None,
    config_path: Path | None,
    text: str,
) -> None:
    """Send TEXT to one model and print its reply.

    Goes through the same path a run uses (provider plugin, retries,
    timeouts, cost from config prices), so it checks a provider and model
    entry before a long run. Use - as TEXT to read the prompt from stdin.
    With --db (or AUTOPACK_DB) the call's events are recorded in stream _prompts.
    """
    import asyncio

    from autopack_core.modelcall import ModelCaller

    cfg = load(config_path)
    cfg.model(model)
    if text == "-":
        text = click.get_text_stream("stdin").read()
    store = app.open_store(db, create=True) if db is not None else None
    record = _store_sink(store) if store is not None else None

    async def go() -> Any:
        async with ModelCaller(cfg, app.plugins.registry("providers"), record=record) as caller:
            return await caller.call(model, text, system=system, role=role)

    try:
        result = asyncio.run(go())
    finally:
        if store is not None:
            store.close()
    if as_json:
        import orjson

        out = {
            "text": result.text,
            "model": result.model,
            "provider": result.provider,
            "input_tokens": result.input_tokens,
            "output_tokens": result.output_tokens,
            "cost_usd": result.cost_usd,
            "attempts": result.attempts,
            "finish_reason": result.finish_reason,
            "latency_ms": round(result.latency_ms, 3),
            "call_id": result.call_id,
        }
        click.echo(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(result.text)


def _store_sink(store: Any) -> Callable[[Sequence["Event"]], None]:
    from autopack_core.events import PROMPTS_STREAM

    def record(events: Sequence["Event"]) -> None:
        seq, _ = store.head(PROMPTS_STREAM)
        store.append(PROMPTS_STREAM, list(events), expected_seq=seq)

    return record


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@config_option
def models(as_json: bool, config_path: Path | None) -> None:
    """List configured models with provider, tier and prices (USD per million tokens)."""
    cfg = load(config_path)
    rows = []
    for name, m in cfg.models.items():
        p = cfg.providers[m.provider]
        rows.append(
            {
                "name": name,
                "provider": m.provider,
                "kind": p.kind,
                "tier": m.tier,
                "price_per_mtok_in": m.price_per_mtok_in,
                "price_per_mtok_out": m.price_per_mtok_out,
                "api_model": m.wire_name(name),
                "api_key_env": p.api_key_env,
            }
        )
    if as_json:
        import orjson

        click.echo(orjson.dumps({"config": cfg.source, "models": rows}, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(f"# {cfg.source}")
    width = max([len(r["name"]) for r in rows] + [5])
    pw = max([len(r["provider"]) for r in rows] + [8])
    click.echo(
        f"{'MODEL':<{width}}  {'PROVIDER':<{pw}}  {'KIND':<9}  {'TIER':<6}  {'IN $/Mtok':>9}  {'OUT $/Mtok':>10}  KEY"
    )
    for r in rows:
        click.echo(
            f"{r['name']:<{width}}  {r['provider']:<{pw}}  {r['kind']:<9}  {r['tier']:<6}  "
            f"{r['price_per_mtok_in']:>9.4g}  {r['price_per_mtok_out']:>10.4g}  {r['api_key_env'] or '-'}"
        )
