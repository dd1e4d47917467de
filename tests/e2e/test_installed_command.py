"""The product as a new user meets it: the installed `pbx` console script, started from a directory
other than the project root, on the shipped config.example.yaml.

- `pbx check` passes from the project root (README's own line) and from elsewhere: the config's
  relative paths (scenarios, prompts, plugins) are taken from the config file's directory.
- `pbx run` from elsewhere (on the shipped config, copied beside links to the project's examples
  and prompts, so that its var/ stays out of the project) loads all four example scenarios and the example functions through
  the plugin mechanism (`plugins: {examples: {path: examples/functions.py}}`): a baresip phone
  dials 801, keys an account number, and the bank scenario reaches its balance menu, which only
  happens when `invoke bank.balance` found the account.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .calls.fixtures import assert_no_traceback, bus_events, dial_uri, phones, wait_bus_event  # noqa: F401
from .calls import audio
from .harness import LOOPBACK, REPO_ROOT, PbxProcess, require_binary

pytestmark = pytest.mark.e2e

EXAMPLE = REPO_ROOT / "config.example.yaml"


def site_of_the_example(site: Path) -> Path:
    """The shipped config, verbatim, in a directory of its own whose `examples` and rendered prompts
    are the project's: what it writes (var/: the database with its registrations and agent states,
    recordings, the speech cache) stays out of the project, where `make run` would find it."""
    site.mkdir()
    (site / "config.example.yaml").write_bytes(EXAMPLE.read_bytes())
    (site / "examples").symlink_to(REPO_ROOT / "examples")
    (site / "var").mkdir()
    if (REPO_ROOT / "var" / "prompts").is_dir():
        (site / "var" / "prompts").symlink_to(REPO_ROOT / "var" / "prompts")
    return site / "config.example.yaml"


def installed_pbx() -> Path:
    """The console script pip installed beside this interpreter (what `make test` puts in .venv/bin)."""
    script = Path(sys.executable).parent / "pbx"
    if not script.exists():
        pytest.fail(f"no installed `pbx` console script beside {sys.executable}: pip install -e . makes it")
    return script


def clean_env() -> dict[str, str]:
    """No PYTHONPATH: the installed command must find everything itself."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("where", ["project root", "elsewhere"])
def test_installed_pbx_check_accepts_the_example_config(tmp_path, where):
    cwd, config = (REPO_ROOT, "config.example.yaml") if where == "project root" else (tmp_path, str(EXAMPLE))
    result = subprocess.run([str(installed_pbx()), "check", "--config", config], cwd=cwd, env=clean_env(),
                            capture_output=True, text=True, timeout=50)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 scenarios" in result.stdout and "5 routes" in result.stdout, result.stdout
    assert not list(tmp_path.iterdir()), "pbx check wrote into the working directory"


@pytest.mark.timeout(120)
def test_installed_pbx_run_from_elsewhere_serves_the_example_scenarios_and_plugin_functions(
        tmp_path, ports, phones):  # noqa: F811
    require_binary("baresip", "baresip-core")
    cwd = tmp_path / "somewhere-else"
    cwd.mkdir()
    pbx = PbxProcess(config_path=site_of_the_example(tmp_path / "site"), log_path=tmp_path / "pbx.log", sip_port=ports.port(),
                     admin_port=ports.port(), program=[str(installed_pbx())], cwd=cwd)
    saved = os.environ.pop("PYTHONPATH", None)  # PbxProcess adds the repository root; the installed script needs none
    try:
        pbx.start(ready_timeout=30)
    finally:
        if saved is not None:
            os.environ["PYTHONPATH"] = saved
    try:
        log = pbx.log_text()
        assert "refused=[]" in log.split("event=scenarios_loaded", 1)[1].split("\n")[0], log
        loaded = log.split("event=scenarios_loaded loaded=", 1)[1].split("]", 1)[0]
        for name in ("support", "bank", "multilanguage", "survey"):
            assert name in loaded, log
        assert "plugins=" in log and "examples" in log.split("event=plugins_started plugins=", 1)[1].split("\n")[0]

        phone = phones("phone1001", "1001", pbx, source=audio.speech_wav(tmp_path / "wav", "alpha"))
        phone.dial(dial_uri(pbx, "801"))
        phone.wait_event("CALL_ESTABLISHED", 10)
        call_id = wait_bus_event(pbx, "IvrStarted", timeout=5, scenario="bank")["call_id"]
        time.sleep(3.0)  # the welcome prompt; keys typed during it are kept for the collect (type-ahead)
        phone.command("sndcode", "12345678#")
        wait_bus_event(pbx, "IvrNodeEntered", timeout=15, node="balance_menu")  # bank.balance found the account
        phone.hangup()
        phone.wait_event("CALL_CLOSED", 10)
        assert not list(cwd.iterdir()), f"the PBX wrote into its working directory: {list(cwd.iterdir())}"
    finally:
        pbx.stop()
        assert_no_traceback(pbx)
