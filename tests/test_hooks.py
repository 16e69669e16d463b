"""One test per hook: a plugin object implementing it is called and its result used."""

from __future__ import annotations

import asyncio
import types

import click
import pytest

from autopack_core import events as ev
from autopack_core.contracts import HealthContext
from autopack_core.errors import PluginError
from autopack_core.hookspecs import hookimpl
from autopack_core.plugins import load_plugins
from autopack_core.store import EventStore


def plugin(**hooks):
    return types.SimpleNamespace(**{k: hookimpl(v) for k, v in hooks.items()})


def test_hook_register_providers():
    class Echo:
        pass

    ps = load_plugins(extra=[("echo", plugin(register_providers=lambda register: register("echo", Echo)))])
    assert ps.registry("providers")["echo"].obj is Echo
    assert ps.registry("providers")["echo"].plugin == "echo"


def test_hook_register_roles():
    from autopack_core.plan import PhaseSpec
    from autopack_core.roles import Prompt, RoleContext, assemble_prompt, reply_json_object

    class Reviewer:
        """A minimal third-party role, as docs/roles.md shows one."""

        name = "reviewer"
        description = "says whether a phase's goal reads clearly"
        default_template = '[system]\nReply with JSON {"clear": true|false}.\n[user]\n$phase_goal\n$omitted'

        def build_prompt(self, context: RoleContext, *, context_tokens: int, template: str | None = None) -> Prompt:
            return assemble_prompt(context, template or self.default_template, context_tokens=context_tokens)

        def parse_reply(self, text: str) -> bool:
            return reply_json_object(text, self.name).get("clear") is True

    role = Reviewer()
    ps = load_plugins(extra=[("r", plugin(register_roles=lambda register: register("reviewer", role)))])
    got = ps.registry("roles")["reviewer"]
    assert got.obj is role and got.plugin == "r"
    prompt = got.obj.build_prompt(RoleContext(goal="g", phase=PhaseSpec(id="p", goal="tidy up")), context_tokens=100)
    assert prompt.system.startswith("Reply with JSON") and prompt.user == "tidy up\n"
    assert got.obj.parse_reply('```json\n{"clear": true}\n```') is True


def test_hook_register_quality_checks(autopack_workspace):
    ps = load_plugins()
    checks = ps.registry("quality_checks")
    assert {"pytest", "command"} <= set(checks)
    assert checks["pytest"].plugin == "quality_checks"
    (autopack_workspace / "test_ok.py").write_text("def test_ok():\n    assert 1 + 1 == 2\n")
    ok = asyncio.run(checks["pytest"].obj.run(autopack_workspace, {"args": "-q -p no:cacheprovider"}))
    assert ok.passed and "1 passed" in ok.output
    (autopack_workspace / "test_bad.py").write_text("def test_bad():\n    assert 1 + 1 == 3\n")
    bad = asyncio.run(checks["pytest"].obj.run(autopack_workspace, {"args": "-q -p no:cacheprovider"}))
    assert not bad.passed and "1 failed" in bad.output
    cmd = asyncio.run(checks["command"].obj.run(autopack_workspace, {"run": "git status --porcelain"}))
    assert cmd.passed and "test_bad.py" in cmd.output
    missing = asyncio.run(checks["command"].obj.run(autopack_workspace, {"run": "no-such-program-xyz"}))
    assert not missing.passed and "cannot run" in missing.output


def test_hook_register_health_checks(autopack_workspace, tmp_path, monkeypatch):
    checks = load_plugins().registry("health_checks")
    assert all(checks[n].obj.tier == "t0" for n in ("workspace_git", "event_store", "environment"))
    ctx = HealthContext(
        workspace=autopack_workspace, db_path=tmp_path / "s" / "a.db", required_env=("AUTOPACK_TEST_KEY",)
    )
    monkeypatch.delenv("AUTOPACK_TEST_KEY", raising=False)
    assert asyncio.run(checks["workspace_git"].obj.run(ctx)).ok
    assert asyncio.run(checks["event_store"].obj.run(ctx)).ok
    env = asyncio.run(checks["environment"].obj.run(ctx))
    assert not env.ok and "AUTOPACK_TEST_KEY" in env.detail
    not_git = HealthContext(workspace=tmp_path, db_path=tmp_path / "a.db")
    assert not asyncio.run(checks["workspace_git"].obj.run(not_git)).ok


def test_hook_register_fix_types(autopack_workspace):
    from autopack_core.contracts import FixContext
    from autopack_core.fixrules import AllowlistFixType, Cmd, Program

    make = AllowlistFixType(
        "make", "make test only", [Program(names=("make",), command=Cmd(subcommands={"test": Cmd()}))]
    )
    ps = load_plugins(extra=[("f", plugin(register_fix_types=lambda register: register("make", make)))])
    got = ps.registry("fix_types")
    assert got["make"].obj is make and got["make"].plugin == "f"
    assert {"git", "file", "python", "docker", "shell"} <= set(got)
    assert got["git"].plugin == "fix_types"
    ctx = FixContext(workspace=autopack_workspace)
    assert got["make"].obj.check("make test", ctx).argv == ("make", "test")
    refused = got["make"].obj.check("make install", ctx)
    assert (refused.allowed, refused.rule) == (False, "subcommand-not-allowed")
    clash = plugin(register_fix_types=lambda register: register("git", make))
    with pytest.raises(PluginError, match="fix_types 'git' is registered by both"):
        load_plugins(extra=[("clash", clash)]).registry("fix_types")


def test_two_plugins_registering_one_name_is_an_error_naming_both():
    a = plugin(register_roles=lambda register: register("reviewer", 1))
    b = plugin(register_roles=lambda register: register("reviewer", 2))
    ps = load_plugins(extra=[("plug-a", a), ("plug-b", b)])
    with pytest.raises(PluginError, match="'plug-a'.*'plug-b'|'plug-b'.*'plug-a'"):
        ps.registry("roles")
    # A built-in name is no exception: the built-in roles plugin is a plugin like any other.
    ps = load_plugins(extra=[("plug-a", plugin(register_roles=lambda register: register("builder", 1)))])
    with pytest.raises(PluginError, match="'roles' and 'plug-a'"):
        ps.registry("roles")


@ev.event_type("acme.deployed")
class Deployed(ev.Event):
    target: str


def test_hook_register_event_types(tmp_path):
    ps = load_plugins(extra=[("acme", plugin(register_event_types=lambda register: register(Deployed)))])
    with EventStore(tmp_path / "e.db", ps.codec) as store:
        store.append("r", [Deployed(target="prod")], expected_seq=0)
        assert next(store.iter_events("r")).event == Deployed(target="prod")
    # Without the plugin the stored event cannot be read, and the error says why.
    from autopack_core.errors import UnknownEventType

    with EventStore(tmp_path / "e.db", load_plugins().codec) as store:
        with pytest.raises(UnknownEventType, match="acme.deployed.*'acme'"):
            list(store.iter_events("r"))


def test_hook_register_commands():
    from autopack_core.cli import cli

    def register_commands(cli):
        @cli.command(name="hello-test")
        def hello():
            """Say hello."""
            click.echo("hello from a plugin")

    ps = load_plugins(extra=[("hello", plugin(register_commands=register_commands))])
    ps.hook.register_commands(cli=cli)
    try:
        from click.testing import CliRunner

        result = CliRunner().invoke(cli, ["hello-test"], obj=None)
        assert result.output == "hello from a plugin\n"
    finally:
        cli.commands.pop("hello-test", None)


def test_hook_event_appended(tmp_path):
    seen = []
    ps = load_plugins(
        extra=[
            ("obs", plugin(event_appended=lambda envelopes: seen.append([(e.seq, e.event.type) for e in envelopes])))
        ]
    )
    from autopack_core.commands.options import AppContext

    store = AppContext(ps).open_store(tmp_path / "e.db", create=True)
    store.append("r", [ev.PhaseStarted(phase_id="a"), ev.PhaseStarted(phase_id="b")], expected_seq=0)
    store.append("r", [ev.RunAborted(reason="x")], expected_seq=2)
    assert seen == [[(1, "phase_started"), (2, "phase_started")], [(3, "run_aborted")]]
    store.close()


def test_a_failing_observer_does_not_break_the_writer(tmp_path, store):
    def boom(envelopes):
        raise RuntimeError("observer bug")

    store.observers.append(boom)
    store.append("r", [ev.PhaseStarted(phase_id="a")], expected_seq=0)
    assert store.head("r")[0] == 1
    assert [str(e) for e in store.observer_errors] == ["observer bug"]
