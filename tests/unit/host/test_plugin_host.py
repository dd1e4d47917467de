"""The PBX's plugin host: discovery, configuration errors with file:line, validation of hook names,
and the caller lookup it gives the call path (priority adds up, first answers win, a failing
plugin is left out)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pbx.config import PluginSection, load_config, parse_config
from pbx.plugin_host import PluginError, PluginHost
from sdk import CallInfo

CALL = CallInfo(call_id="c1", caller="+48600100200", callee="800")


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def host(tmp_path: Path, sections: dict, config_file: str = "pbx.yaml", failures: list | None = None) -> PluginHost:
    reported = failures if failures is not None else []
    return PluginHost(sections, config_file=config_file, make_api=lambda name, config: config,
                      report=reported.append, clock=lambda: 1.0, entry_points=False)


def site_plugin(tmp_path: Path, name: str, body: str) -> dict:
    path = write(tmp_path / f"{name}.py", "from sdk import hookimpl, CallerInfo, RoutingInputs\n" + textwrap.dedent(body))
    return {"path": str(path)}


def test_built_ins_run_where_the_config_has_a_section_for_them(tmp_path):
    assert host(tmp_path, {}).names == []
    assert host(tmp_path, {"crm": PluginSection()}).names == ["crm"]
    assert host(tmp_path, {"crm": PluginSection(enabled=False), "recording": PluginSection()}).names == ["recording"]


def test_an_unknown_plugin_is_named_with_its_line(tmp_path):
    config = write(tmp_path / "pbx.yaml", """\
        realm: pbx.test
        plugins:
          crm: {enabled: true}
          recordng: {enabled: true}
        """)
    sections = load_config(config).plugins
    with pytest.raises(PluginError) as error:
        host(tmp_path, sections, str(config))
    assert str(error.value).startswith(f"{config}:4: no plugin named 'recordng'")
    assert "known: crm, dialer, kpi, recording" in str(error.value)


def test_a_site_plugin_config_error_names_the_key_and_line(tmp_path):
    plugin = write(tmp_path / "greeter.py", """\
        import msgspec
        from sdk import hookimpl

        class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
            greeting: str = "hello"

        @hookimpl
        def pbx_ivr_functions(api):
            return {"greet": lambda: api.greeting}
        """)
    config = write(tmp_path / "pbx.yaml", f"""\
        realm: pbx.test
        plugins:
          greeter:
            path: {plugin.name}
            config:
              greeting: hi
              greetng: typo
        """)
    with pytest.raises(PluginError) as error:
        host(tmp_path, load_config(config).plugins, str(config))
    assert str(error.value).startswith(f"{config}:7: plugins.greeter.config: Object contains unknown field `greetng`")


def test_a_hook_name_typo_is_refused_at_start(tmp_path):
    sections = {"typo": PluginSection(**site_plugin(tmp_path, "typo", """\
        @hookimpl
        def pbx_lookup_callr(call):
            return None
        """))}
    with pytest.raises(PluginError, match="pbx_lookup_callr"):
        host(tmp_path, sections)


def test_a_site_plugin_path_is_relative_to_the_config_file(tmp_path):
    (tmp_path / "site").mkdir()
    write(tmp_path / "site" / "mine.py", "from sdk import hookimpl\n")
    config = parse_config("realm: x\nplugins: {mine: {path: site/mine.py}}\n")
    from pbx.config import resolve_paths

    resolved = resolve_paths(config, tmp_path)
    assert resolved.plugins["mine"].path == str(tmp_path / "site" / "mine.py")
    assert resolved.data_dir == str(tmp_path / "var")
    assert host(tmp_path, resolved.plugins).names[-1] == "mine"


async def test_lookup_adds_priorities_keeps_the_first_answers_and_leaves_a_failing_plugin_out(tmp_path):
    failures: list = []
    sections = {
        "broken": PluginSection(**site_plugin(tmp_path, "broken", """\
            @hookimpl
            async def pbx_lookup_caller(call):
                raise ConnectionError("crm down")
            """)),
        "directory": PluginSection(**site_plugin(tmp_path, "directory", """\
            @hookimpl
            def pbx_lookup_caller(call):
                return CallerInfo(source="directory", name="Ann", vip=True, priority=10, preferred_agent="1002")
            """)),
        "boost": PluginSection(**site_plugin(tmp_path, "boost", """\
            @hookimpl
            async def pbx_routing_inputs(call, caller):
                return RoutingInputs(priority=3 if caller and caller.vip else 0, preferred_agent="1003", language="pl")
            """)),
    }
    plugins = host(tmp_path, sections, failures=failures)
    caller, routing = await plugins.lookup(CALL)
    assert caller is not None and caller.name == "Ann"
    assert (routing.priority, routing.preferred_agent, routing.language) == (13, "1002", "pl")
    assert [(f.plugin, f.hook, f.reason, f.call_id) for f in failures] == [
        ("broken", "pbx_lookup_caller", "raised ConnectionError: crm down", "c1")]
