"""The architecture, enforced (STYLE.md rule 12): who may import what.

- sdk depends on nothing of ours; ivr_dsl on nothing in pbx; plugins only on sdk.
- The sans-IO cores import no asyncio, socket, time or random.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IO_MODULES = {"asyncio", "socket", "time", "random", "selectors", "threading", "uvloop"}
# Pure protocol cores: bytes, events and `now` in; actions out.
PURE = [
    "pbx/sip/message.py", "pbx/sip/headers.py", "pbx/sip/uri.py", "pbx/sip/fields.py", "pbx/sip/syntax.py", "pbx/sip/sdp.py", "pbx/sip/sdes.py", "pbx/sip/offer_answer.py",
    "pbx/sip/transaction.py", "pbx/sip/transaction_machines.py", "pbx/sip/digest.py", "pbx/sip/registrar.py", "pbx/sip/endpoint.py", "pbx/sip/dialog.py",
    "pbx/sip/framing.py", "pbx/sip/status.py", "pbx/sip/errors.py", "pbx/bus.py",
    "pbx/media/ports.py", "pbx/media/latching.py", "pbx/media/rtp_header.py", "pbx/scheduler.py",
    "pbx/media/g711.py", "pbx/media/rtp.py", "pbx/media/rtcp.py", "pbx/media/jitter.py", "pbx/media/quality.py",
    "pbx/media/dtmf.py", "pbx/media/goertzel.py", "pbx/media/player.py", "pbx/media/sender.py",
    "pbx/calls/signals.py", "pbx/calls/anchor.py", "pbx/calls/bridge.py", "pbx/calls/call.py", "pbx/calls/leg.py",
    "pbx/calls/sip_leg.py", "pbx/calls/manager.py", "pbx/calls/router.py", "pbx/calls/services.py",
    "pbx/acd/agents.py", "pbx/acd/strategies.py", "pbx/acd/ewt.py", "pbx/acd/queue.py", "pbx/acd/dispatcher.py",
    "pbx/acd/outputs.py", "pbx/acd/deadlines.py", "pbx/acd/snapshot.py", "pbx/acd/reconciler.py",
    "pbx/calls/media_watch.py", "pbx/calls/own_media.py", "pbx/calls/inbound.py", "pbx/media/recording.py", "pbx/media/tones.py", "pbx/media/leg_monitor.py", "pbx/media/rtcp_session.py",
    "pbx/admin/metrics.py",
    "pbx/media/mixer.py", "pbx/calls/monitor.py", "pbx/calls/supervision.py",
    "pbx/media/amd.py", "pbx/calls/amd_watch.py",  # answering-machine detection and its tap
    "pbx/trunks/config.py", "pbx/trunks/registration.py", "pbx/trunks/identify.py", "pbx/trunks/outbound.py",
    "pbx/trunks/permissions.py", "pbx/trunks/digest_client.py", "pbx/trunks/dialout.py",  # SIP trunks
    # the kpi plugin's cores: the journey fold, the logs, rollups, figures, live window, schedules, Erlang
    "plugins/kpi/journey.py", "plugins/kpi/logs.py", "plugins/kpi/records.py", "plugins/kpi/figures.py",
    "plugins/kpi/rollups.py", "plugins/kpi/intervals.py", "plugins/kpi/rates.py", "plugins/kpi/live.py",
    "plugins/kpi/schedules.py", "plugins/kpi/adherence.py", "plugins/kpi/erlang.py", "plugins/kpi/config.py",
    # the dialer plugin's cores: rules, calling windows, leads, pacing, abandonment, lines, report
    "plugins/dialer/config.py", "plugins/dialer/leads.py", "plugins/dialer/timezones.py", "plugins/dialer/windows.py",
    "plugins/dialer/rules.py", "plugins/dialer/pacing.py", "plugins/dialer/abandonment.py", "plugins/dialer/lines.py",
    "plugins/dialer/report.py",
]


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def top_levels(path: Path) -> set[str]:
    return {name.split(".")[0] for name in imports_of(path)}


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("module", PURE)
def test_pure_cores_do_no_io(module):
    assert not top_levels(ROOT / module) & IO_MODULES, f"{module} imports I/O"


def test_sdk_depends_on_nothing_of_ours():
    for path in python_files("sdk"):
        assert not top_levels(path) & {"pbx", "ivr_dsl", "plugins"}, path


def test_ivr_dsl_is_pure_outside_its_command_line():
    for path in python_files("ivr_dsl"):
        if path.name != "cli.py":
            assert not top_levels(path) & IO_MODULES, f"{path} imports I/O"


def test_ivr_dsl_does_not_import_pbx():
    for path in python_files("ivr_dsl"):
        assert "pbx" not in top_levels(path), path


def test_plugins_import_only_sdk():
    for path in python_files("plugins"):
        assert not top_levels(path) & {"pbx", "ivr_dsl"}, path


def test_example_plugins_import_only_sdk():
    """The example site plugin and third-party package are written as any outside author would."""
    paths = [ROOT / "examples/functions.py", *sorted((ROOT / "examples/plugins").rglob("*.py"))]
    for path in paths:
        assert not top_levels(path) & {"pbx", "ivr_dsl", "plugins"}, path
