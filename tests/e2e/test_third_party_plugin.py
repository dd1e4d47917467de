"""A third-party plugin installed with pip is discovered, configured and called by a real PBX.

`examples/plugins/pbx-caller-stats` is built and installed with pip into a directory of this
test's own (`--target`), which goes on the PBX's PYTHONPATH: the PBX finds it through its
`pbx.plugins` entry point, with no `path:` in the config. Then:

- discovered: the start-up log lists `caller_stats` among the plugins started;
- configured: its `greeting` and `vip_after` from the config's `plugins:` section show in
  what its admin route and its IVR function answer;
- called: sipp places real calls; the plugin counts them from the bus (its admin route
  `GET /api/plugins/caller_stats/callers/<number>` and its CLI command `pbx caller_stats show`
  say so), and a scenario that does `invoke stats.calls(number = caller)` takes its
  "frequent caller" branch for a caller who has made `vip_after` calls, not for a new one;
- an unknown key in its config section makes `pbx check --config` fail with file:line.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .calls.fixtures import bus_events, call_pbx  # noqa: F401
from .calls.sipp_calls import ANSWER, run_caller, sipp_callee
from .harness import REPO_ROOT, wait_for, write_config

pytestmark = pytest.mark.e2e

EXAMPLE = REPO_ROOT / "examples" / "plugins" / "pbx-caller-stats"

SCENARIO = """\
scenario "Caller stats"
end

block start
  answer
  invoke stats.calls(number = caller) into stats timeout 2s
  on error
    goto failed
  end
  if stats.frequent and stats.greeting == "Ahoy"
    goto frequent
  end
  goto first_calls
end

block frequent
  pause 10s
end

block first_calls
  pause 10s
end

block failed
  pause 10s
end
"""


def can_build_offline() -> bool:
    """setuptools builds wheels by itself from 70.1 on; before that it needs the `wheel` package."""
    if importlib.util.find_spec("wheel") is not None:
        return True
    import setuptools

    major, minor = (int(part) for part in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1)


def pip_install(tmp_path: Path) -> Path:
    """The example plugin, built from a copy of its source and installed into tmp_path/site."""
    source = tmp_path / "pbx-caller-stats"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".*"))
    target = tmp_path / "site"
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(source)]
    if can_build_offline():
        # Build with this interpreter's setuptools: no index is asked for anything.
        command.insert(4, "--no-build-isolation")
    # Otherwise pip fetches setuptools for an isolated build from the configured index.
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"
    assert (target / "pbx_caller_stats" / "__init__.py").is_file()
    entry_points = next(target.glob("pbx_caller_stats-*.dist-info")) / "entry_points.txt"
    assert "caller_stats = pbx_caller_stats" in entry_points.read_text()
    return target


@pytest.fixture
def installed(tmp_path, monkeypatch) -> Path:
    """The plugin installed, and on the PYTHONPATH of every PBX process this test starts."""
    target = pip_install(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")])))
    return target


def pbx_command(*arguments: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "pbx", *arguments], capture_output=True, text=True, timeout=60,
                          cwd=REPO_ROOT, env=env)


@pytest.mark.timeout(90)
def test_an_installed_plugin_is_discovered_configured_and_called(tmp_path, ports, installed, call_pbx):  # noqa: F811
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "stats.ivr").write_text(SCENARIO)
    pbx = call_pbx(
        plugins={"recording": {"enabled": False}, "crm": {"enabled": False},
                 "caller_stats": {"timeout": 2, "config": {"greeting": "Ahoy", "vip_after": 2}}},
        ivr={"scenarios": str(scenarios)},
        routes=[{"match": "700", "scenario": "stats"}],
        data_dir=str(tmp_path / "var"),
    )
    started = pbx.log_text()
    assert "plugins=caller_stats" in started, pbx.log_tail()
    assert "event=plugin_not_loaded" not in started, pbx.log_tail()
    assert pbx.api("/api/plugins/caller_stats/callers/1001") == {
        "number": "1001", "calls": 0, "frequent": False, "greeting": "Ahoy"}

    # Three calls from 1001 to a registered sipp callee: counted from CallStarted on the bus.
    callee = sipp_callee(pbx, ports, tmp_path, "1002")
    callee.start(ANSWER, calls=3, timeout=30)
    try:
        run = run_caller(pbx.sip_address, ports, tmp_path, caller="1001", password="secret1001", callee="1002",
                         calls=3, rate=3, limit=3, pause_ms=300, timeout=25)
        assert run.returncode == 0, run.describe()
        assert callee.wait() == 0, callee.describe()
    finally:
        callee.stop()
    counted = wait_for(lambda: (answer := pbx.api("/api/plugins/caller_stats/callers/1001"))["calls"] == 3 and answer,
                       timeout=5, what="the plugin to count 3 calls from 1001")
    assert counted == {"number": "1001", "calls": 3, "frequent": True, "greeting": "Ahoy"}
    assert pbx.api("/api/plugins/caller_stats/callers/1003")["calls"] == 0
    metrics = [(event["name"], event["kind"], event["value"]) for event in bus_events(pbx, "MetricPublished")
               if event.get("plugin") == "caller_stats"]
    assert metrics == [("calls", "counter", "1.0")] * 3, metrics

    # The scenario asks the plugin: 1003, never counted before, is not a frequent caller (the
    # count may or may not include this very call: 0 or 1, below vip_after); 1001 is.
    for caller in ("1003", "1001"):
        run = run_caller(pbx.sip_address, ports, tmp_path, caller=caller, password=f"secret{caller}", callee="700",
                         calls=1, rate=1, limit=1, pause_ms=500, timeout=20, name=f"ivr{caller}")
        assert run.returncode == 0, run.describe()
    entered = [event["node"] for event in bus_events(pbx, "IvrNodeEntered")]
    assert [node for node in entered if node in ("frequent", "first_calls", "failed")] == ["first_calls", "frequent"], \
        entered
    wait_for(lambda: [pbx.api(f"/api/plugins/caller_stats/callers/{n}")["calls"] for n in ("1001", "1003")] == [4, 1],
             timeout=5, what="the scenario calls to be counted")

    # Its CLI command reads the same store, with no PBX behind it.
    shown = pbx_command("caller_stats", "show", "1001", "--config", str(pbx.config_path))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "1001: 4 calls"


@pytest.mark.timeout(60)
def test_an_unknown_key_in_its_config_fails_the_check_with_file_and_line(tmp_path, installed):
    config = {
        "realm": "pbx.test",
        "data_dir": str(tmp_path / "var"),
        "extensions": {"1001": {"password": "secret1001"}},
        "plugins": {
            "recording": {"enabled": False},
            "crm": {"enabled": False},
            "caller_stats": {"config": {"greeting": "Ahoy", "vip_aftre": 2}},
        },
    }
    path = write_config(tmp_path / "pbx.yaml", config)
    line = next(number for number, text in enumerate(path.read_text().splitlines(), 1) if "vip_aftre" in text)

    checked = pbx_command("check", "--config", str(path))
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert f"{path}:{line}: plugins.caller_stats.config: Object contains unknown field `vip_aftre`" in checked.stderr

    config["plugins"]["caller_stats"]["config"] = {"greeting": "Ahoy", "vip_after": 2}
    write_config(path, config)
    checked = pbx_command("check", "--config", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert yaml.safe_load(path.read_text())["plugins"]["caller_stats"]["config"]["vip_after"] == 2
