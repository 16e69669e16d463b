"""``autopack prompt`` and ``autopack models`` in a subprocess, pointed by config alone at scripted servers."""

from __future__ import annotations

import json
import time

import pytest

import test_provider_anthropic
import test_provider_gemini
import test_provider_openai
from conftest import provider_config
from conftest import run_cli_text as run_cli

WIRES = {
    "openai": test_provider_openai.OPENAI,
    "anthropic": test_provider_anthropic.ANTHROPIC,
    "gemini": test_provider_gemini.GEMINI,
}
KEY = {"TEST_API_KEY": "sk-cli"}


@pytest.fixture(params=sorted(WIRES))
def kind(request):
    return request.param


def write(tmp_path, text):
    path = tmp_path / "models.yaml"
    path.write_text(text)
    return path


def test_prompt_json_sends_the_wire_format_and_reads_usage(scripted_server, tmp_path, kind):
    wire = WIRES[kind]
    scripted_server.enqueue(json=wire.ok("the answer", 100, 50))
    cfg = write(tmp_path, provider_config(kind, scripted_server.url, api_model="wire-model"))
    r = run_cli(["prompt", "--model", "m1", "--system", "sys", "--config", str(cfg), "--json", "question?"], env=KEY)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["text"] == "the answer" and out["model"] == "m1" and out["provider"] == "srv"
    assert (out["input_tokens"], out["output_tokens"], out["attempts"]) == (100, 50, 1)
    assert out["cost_usd"] == pytest.approx((100 * 2.0 + 50 * 10.0) / 1e6)
    req = scripted_server.requests[0]
    assert req.path == wire.path("wire-model")
    body = json.dumps(req.json)
    assert "question?" in body and "sys" in body and "wire-model" in json.dumps(req.json) + req.path
    auth = {
        "openai": ("Authorization", "Bearer sk-cli"),
        "anthropic": ("x-api-key", "sk-cli"),
        "gemini": ("x-goog-api-key", "sk-cli"),
    }[kind]
    assert req.headers[auth[0]] == auth[1]


def test_prompt_prints_plain_text(scripted_server, tmp_path, kind):
    scripted_server.enqueue(json=WIRES[kind].ok("plain reply", 1, 1))
    cfg = write(tmp_path, provider_config(kind, scripted_server.url))
    r = run_cli(["prompt", "-m", "m1", "--config", str(cfg), "hi"], env=KEY)
    assert (r.returncode, r.stdout, r.stderr) == (0, "plain reply\n", "")


def test_prompt_waits_out_429_retry_after(scripted_server, tmp_path, kind):
    scripted_server.enqueue(429, {"error": {"message": "rate"}}, headers={"Retry-After": "1"})
    scripted_server.enqueue(json=WIRES[kind].ok("after the wait", 1, 1))
    cfg = write(tmp_path, provider_config(kind, scripted_server.url))
    t0 = time.monotonic()
    r = run_cli(["prompt", "-m", "m1", "--config", str(cfg), "--json", "hi"], env=KEY)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["text"] == "after the wait" and out["attempts"] == 2
    assert time.monotonic() - t0 >= 1.0
    assert len(scripted_server.requests) == 2


def test_prompt_repeated_500_exit_1_with_one_line(scripted_server, tmp_path, kind):
    scripted_server.default = None  # every request gets the server's 500
    cfg = write(tmp_path, provider_config(kind, scripted_server.url))
    r = run_cli(["prompt", "-m", "m1", "--config", str(cfg), "hi"], env=KEY)
    assert r.returncode == 1
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("autopack: error: provider 'srv': HTTP 500")
    assert "gave up after 3 attempts" in lines[0]
    assert len(scripted_server.requests) == 3


def test_prompt_truncated_body_is_a_malformed_reply_error(scripted_server, tmp_path, kind):
    scripted_server.enqueue(body=b'{"choices": [{"message": {"content": "hel')
    cfg = write(tmp_path, provider_config(kind, scripted_server.url))
    r = run_cli(["prompt", "-m", "m1", "--config", str(cfg), "hi"], env=KEY)
    assert r.returncode == 1
    assert len(r.stderr.splitlines()) == 1
    assert "malformed reply" in r.stderr and "truncated" in r.stderr


def test_prompt_missing_key_names_variable_exit_2(scripted_server, tmp_path):
    cfg = write(tmp_path, provider_config("openai", scripted_server.url))
    r = run_cli(["prompt", "-m", "m1", "--config", str(cfg), "hi"])
    assert r.returncode == 2
    assert "TEST_API_KEY is not set" in r.stderr and len(r.stderr.splitlines()) == 1
    assert scripted_server.requests == []


def test_invalid_config_refused_with_line_number(tmp_path, scripted_server):
    text = provider_config("openai", scripted_server.url).replace("tier: cheap", "tier: medium")
    cfg = write(tmp_path, text)
    line = text.splitlines().index("    tier: medium") + 1
    for args in (["prompt", "-m", "m1", "hi"], ["models"]):
        r = run_cli([*args, "--config", str(cfg)], env=KEY)
        assert r.returncode == 2
        assert (
            r.stderr.strip()
            == f"autopack: error: {cfg}:{line}: models.m1.tier: expected cheap or strong, got string 'medium'"
        )
    assert scripted_server.requests == []


def test_unknown_model_is_bad_input(tmp_path):
    r = run_cli(["prompt", "-m", "nope", "hi"], cwd=tmp_path)
    assert r.returncode == 2 and "no model 'nope'" in r.stderr


def test_default_config_works_offline(tmp_path):
    r = run_cli(["prompt", "-m", "recorded-cheap", "--json", "hi"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["provider"] == "recorded"


def test_config_found_in_cwd(tmp_path, scripted_server):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "models.yaml").write_text(provider_config("openai", scripted_server.url))
    r = run_cli(["models", "--json"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    names = [m["name"] for m in json.loads(r.stdout)["models"]]
    assert "m1" in names


def test_models_lists_provider_tier_prices(tmp_path, scripted_server):
    cfg = write(tmp_path, provider_config("anthropic", scripted_server.url))
    r = run_cli(["models", "--config", str(cfg)])
    assert r.returncode == 0, r.stderr
    row = next(line for line in r.stdout.splitlines() if line.startswith("m1 "))
    assert row.split()[:6] == ["m1", "srv", "anthropic", "cheap", "2", "10"]
    assert row.split()[6] == "TEST_API_KEY"
    assert "recorded-cheap" in r.stdout  # the built-in offline models are always there


def test_prompt_records_events_in_db(tmp_path):
    db = tmp_path / "a.db"
    r = run_cli(["prompt", "-m", "recorded-cheap", "--db", str(db), "hi"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = run_cli(["events", "_prompts", "--db", str(db), "--json"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    types = [json.loads(line)["type"] for line in r.stdout.splitlines()]
    assert types == ["model_call_requested", "model_call_answered"]


@pytest.mark.parametrize("command", ["prompt", "models"])
def test_help(command):
    r = run_cli([command, "--help"])
    assert r.returncode == 0 and "--config" in r.stdout
