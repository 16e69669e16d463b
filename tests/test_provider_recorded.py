"""The recorded kind: cassettes (YAML, JSON Lines), past runs' event logs, determinism."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autopack_core.config_load import load_config_text
from autopack_core.errors import ConfigError, NoRecordedAnswer
from conftest import call_model
from conftest import run_cli_text as run_cli


def cfg_for(tmp_path, source_key: str, path, match: str = "sequence"):
    text = (
        f"providers:\n  rec:\n    kind: recorded\n    {source_key}: {path}\n    match: {match}\n"
        "models:\n  cheap-a:\n    provider: rec\n    tier: cheap\n    price_per_mtok_in: 1\n    price_per_mtok_out: 1\n"
        "  strong-b:\n    provider: rec\n    tier: strong\n"
    )
    p = tmp_path / "models.yaml"
    p.write_text(text)
    from autopack_core.config_load import load_config

    return load_config(p)


def calls(cfg, kinds, requests):
    """Several calls in one ModelCaller (answers are consumed across calls)."""
    import asyncio

    from autopack_core.modelcall import ModelCaller

    events: list = []
    out = []

    async def go():
        async with ModelCaller(cfg, kinds, record=events.extend) as c:
            for model, role, prompt in requests:
                try:
                    out.append(await c.call(model, prompt, role=role))
                except Exception as exc:  # noqa: BLE001
                    out.append(exc)

    asyncio.run(go())
    return out, events


def test_yaml_cassette_matchers_and_order(tmp_path, provider_kinds):
    (tmp_path / "c.yaml").write_text(
        "answers:\n"
        "  - {role: auditor, text: 'audit 1'}\n"
        "  - {role: builder, model: cheap-a, text: 'build 1', input_tokens: 10, output_tokens: 20}\n"
        "  - {role: builder, text: 'build 2'}\n"
        "  - {prompt_contains: 'special', text: 'special answer', repeat: true}\n"
    )
    cfg = cfg_for(tmp_path, "cassette", "c.yaml")
    out, events = calls(
        cfg,
        provider_kinds,
        [
            ("cheap-a", "builder", "x"),
            ("strong-b", "builder", "y"),
            ("cheap-a", "auditor", "z"),
            ("cheap-a", "doctor", "a special one"),
            ("cheap-a", "doctor", "special again"),
            ("cheap-a", "builder", "more"),
        ],
    )
    assert [getattr(o, "text", None) for o in out[:5]] == [
        "build 1",
        "build 2",
        "audit 1",
        "special answer",
        "special answer",
    ]
    assert (out[0].input_tokens, out[0].output_tokens, out[0].cost_usd) == (10, 20, 30 / 1e6)
    assert isinstance(out[5], NoRecordedAnswer) and "role=builder" in str(out[5])
    assert events[-1].category == "no_recorded_answer"


_ROLES = st.sampled_from([None, "builder", "auditor"])
_ANSWERS = st.lists(
    st.fixed_dictionaries({"role": _ROLES, "contains": st.sampled_from([None, "x", "y"]), "repeat": st.booleans()}),
    max_size=12,
)
_REQUESTS = st.lists(
    st.tuples(st.sampled_from(["builder", "auditor"]), st.sampled_from(["x", "y", "xy", "z"])), max_size=15
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answers=_ANSWERS, requests=_REQUESTS)
def test_answers_are_taken_as_a_scan_from_the_top_would_take_them(tmp_path_factory, provider_kinds, answers, requests):
    # The provider starts each search after the answers already used; the
    # result must be what searching the whole list in order gives.
    tmp_path = tmp_path_factory.mktemp("cassette")
    items = []
    for i, a in enumerate(answers):
        item = {"text": f"answer {i}", "repeat": a["repeat"]}
        if a["role"]:
            item["role"] = a["role"]
        if a["contains"]:
            item["prompt_contains"] = a["contains"]
        items.append(item)
    (tmp_path / "c.yaml").write_text(json.dumps({"answers": items}))
    out, _ = calls(cfg_for(tmp_path, "cassette", "c.yaml"), provider_kinds, [("cheap-a", r, p) for r, p in requests])
    used = [False] * len(answers)
    expected = []
    for role, prompt in requests:
        for i, a in enumerate(answers):
            if not used[i] and a["role"] in (None, role) and (a["contains"] is None or a["contains"] in prompt):
                used[i] = not a["repeat"]
                expected.append(f"answer {i}")
                break
        else:
            expected.append(None)
    assert [getattr(o, "text", None) for o in out] == expected
    assert all(isinstance(o, NoRecordedAnswer) for o, e in zip(out, expected, strict=True) if e is None)


def test_jsonl_cassette(tmp_path, provider_kinds):
    lines = [{"model": "cheap-a", "text": "one"}, {"model": "cheap-a", "prompt": "exact", "text": "two"}]
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    cfg = cfg_for(tmp_path, "cassette", "c.jsonl")
    out, _ = calls(
        cfg,
        provider_kinds,
        [("cheap-a", "builder", "exact"), ("cheap-a", "builder", "other"), ("cheap-a", "b", "exact")],
    )
    assert [getattr(o, "text", None) for o in out] == ["one", None, "two"]


@pytest.mark.parametrize(
    "content, problem",
    [
        ("answers:\n  - {role: builder}\n", "answers[0]: text: required key missing"),
        ("answers:\n  - {text: 1}\n", "answers[0]: text: expected str"),
        ("answers:\n  - {text: a, colour: red}\n", "answers[0]: colour: unknown key"),
        ("- text: a\n", "a cassette is a mapping with an 'answers' list"),
    ],
)
def test_bad_cassette_is_a_config_error(tmp_path, provider_kinds, content, problem):
    (tmp_path / "c.yaml").write_text(content)
    out, _ = calls(cfg_for(tmp_path, "cassette", "c.yaml"), provider_kinds, [("cheap-a", "b", "p")])
    assert isinstance(out[0], ConfigError) and problem in str(out[0])


def test_missing_cassette_file(tmp_path, provider_kinds):
    out, _ = calls(cfg_for(tmp_path, "cassette", "nope.yaml"), provider_kinds, [("cheap-a", "b", "p")])
    assert isinstance(out[0], ConfigError) and "providers.rec.cassette: no such file nope.yaml" in str(out[0])


def test_both_sources_refused():
    with pytest.raises(ConfigError, match="either cassette or event_log"):
        load_config_text("providers:\n  r: {kind: recorded, cassette: a, event_log: b}\n")


def _record_a_run(tmp_path, provider_kinds):
    """Answers recorded by a real call path into an exported-run file (and an events --json file)."""
    (tmp_path / "first.yaml").write_text(
        "answers:\n  - {text: 'first builder', input_tokens: 3, output_tokens: 4}\n"
        "  - {text: 'first auditor'}\n  - {text: 'second builder'}\n"
    )
    cfg = cfg_for(tmp_path, "cassette", "first.yaml")
    out, events = calls(
        cfg, provider_kinds, [("cheap-a", "builder", "b1"), ("strong-b", "auditor", "a1"), ("cheap-a", "builder", "b2")]
    )
    assert all(not isinstance(o, Exception) for o in out)
    from autopack_core.codec import EventCodec

    codec = EventCodec()
    export = tmp_path / "run.jsonl"
    with open(export, "w") as fh:
        fh.write(json.dumps({"format": "autopack-run", "version": 1, "run_id": "r"}) + "\n")
        for seq, e in enumerate(events, 1):
            fh.write(json.dumps({"seq": seq, "type": e.type, "payload": codec.to_dict(e)}) + "\n")
        fh.write(json.dumps({"end": "autopack-run", "events": len(events)}) + "\n")
    return export


def test_event_log_replays_answers_in_order_by_role_and_model(tmp_path, provider_kinds):
    export = _record_a_run(tmp_path, provider_kinds)
    cfg = cfg_for(tmp_path, "event_log", export)
    # Asked in a different interleaving: each role/model still gets its own answers in order.
    out, _ = calls(
        cfg, provider_kinds, [("strong-b", "auditor", "?"), ("cheap-a", "builder", "?"), ("cheap-a", "builder", "?")]
    )
    assert [o.text for o in out] == ["first auditor", "first builder", "second builder"]
    assert (out[1].input_tokens, out[1].output_tokens) == (3, 4)


def test_event_log_match_by_prompt(tmp_path, provider_kinds):
    export = _record_a_run(tmp_path, provider_kinds)
    cfg = cfg_for(tmp_path, "event_log", export, match="prompt")
    out, _ = calls(
        cfg, provider_kinds, [("cheap-a", "builder", "b2"), ("cheap-a", "builder", "b1"), ("cheap-a", "builder", "b3")]
    )
    assert [getattr(o, "text", None) for o in out[:2]] == ["second builder", "first builder"]
    assert isinstance(out[2], NoRecordedAnswer)


def test_replay_is_deterministic(tmp_path, provider_kinds):
    export = _record_a_run(tmp_path, provider_kinds)
    cfg = cfg_for(tmp_path, "event_log", export)
    reqs = [("cheap-a", "builder", "x"), ("strong-b", "auditor", "y"), ("cheap-a", "builder", "z")]
    first = [o.text for o in calls(cfg, provider_kinds, reqs)[0]]
    second = [o.text for o in calls(cfg, provider_kinds, reqs)[0]]
    assert first == second == ["first builder", "first auditor", "second builder"]


def test_event_log_from_a_real_store_export(tmp_path):
    """``autopack prompt --db`` then ``autopack export``: the export replays through the CLI."""
    (tmp_path / "c.yaml").write_text("answers:\n  - {text: 'stored answer', input_tokens: 1, output_tokens: 2}\n")
    cfg = tmp_path / "models.yaml"
    cfg.write_text(
        "providers:\n  rec: {kind: recorded, cassette: c.yaml}\nmodels:\n  r1: {provider: rec, tier: cheap}\n"
    )
    db = tmp_path / "s.db"
    assert run_cli(["prompt", "-m", "r1", "--config", str(cfg), "--db", str(db), "hi"]).returncode == 0
    r = run_cli(["export", "_prompts", "--db", str(db), "-o", str(tmp_path / "run.jsonl")])
    assert r.returncode == 0, r.stderr
    cfg2 = tmp_path / "replay.yaml"
    cfg2.write_text(
        "providers:\n  rec: {kind: recorded, event_log: run.jsonl}\nmodels:\n  r1: {provider: rec, tier: cheap}\n"
    )
    r = run_cli(["prompt", "-m", "r1", "--config", str(cfg2), "--json", "anything"])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["text"] == "stored answer"


def test_builtin_cassette_answers_anything(provider_kinds):
    cfg = load_config_text("")
    result, _ = call_model(cfg, provider_kinds, "recorded-strong", "anything at all")
    assert result.text.startswith("(recorded)")
