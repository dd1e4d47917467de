"""Fixtures for the end-to-end tests: free ports, a running PBX, foreground peers, time bounds.

Every test here is marked ``e2e`` and runs under a hard time bound: ``@pytest.mark.timeout(N)``
(honoured by pytest-timeout when it is installed, otherwise by a SIGALRM guard below), and
``DEFAULT_TIMEOUT`` seconds when a test sets none.
"""

from __future__ import annotations

import functools
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .harness import PbxProcess, PortPicker, extensions_config, pbx_config, run_peer, write_config

DEFAULT_TIMEOUT = 120.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: end-to-end test against a real PBX process and real SIP peers")
    config.addinivalue_line("markers", "timeout(seconds): hard upper bound on the test's run time")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    # Keep each phase's report on the item so fixtures can tell, at teardown, whether the test failed.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    if item.config.pluginmanager.hasplugin("timeout") or not hasattr(signal, "SIGALRM"):
        return (yield)
    marker = item.get_closest_marker("timeout")
    seconds = float(marker.args[0]) if marker and marker.args else DEFAULT_TIMEOUT

    def on_alarm(signum, frame):
        pytest.fail(f"test exceeded its time bound of {seconds:.0f}s", pytrace=True)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return (yield)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _test_failed(item: pytest.Item) -> bool:
    return any(getattr(getattr(item, f"report_{when}", None), "failed", False) for when in ("setup", "call"))


@pytest.fixture(scope="session")
def ports() -> PortPicker:
    return PortPicker()


StartPbx = Callable[..., PbxProcess]


@pytest.fixture
def start_pbx(request: pytest.FixtureRequest, tmp_path: Path, ports: PortPicker) -> Iterator[StartPbx]:
    """Factory: ``start_pbx(extensions=..., **config_overrides)`` -> a running PBX.

    Writes the config to ``tmp_path``, starts ``python -m pbx run`` on free ports and waits for
    ``event=ready``.  At teardown it sends SIGTERM (SIGKILL after 5 s), prints the log tail if the
    test failed, and fails the test if the PBX logged a Python traceback.
    """
    started: list[PbxProcess] = []

    def start(extensions: dict | None = None, extra_args: list[str] = (), **overrides) -> PbxProcess:
        index = len(started)
        sip_port, admin_port = ports.port(), ports.port()
        config = pbx_config(sip_port, admin_port, extensions or extensions_config(range(1001, 1006)), **overrides)
        pbx = PbxProcess(
            config_path=write_config(tmp_path / f"pbx{index}.yaml", config),
            log_path=tmp_path / f"pbx{index}.log",
            sip_port=sip_port,
            admin_port=admin_port,
            extra_args=list(extra_args),
        )
        started.append(pbx)
        pbx.start()
        return pbx

    yield start

    tracebacks = []
    for pbx in started:
        pbx.stop()
        if _test_failed(request.node):
            print(f"\n--- PBX log tail ({pbx.log_path}, rc={pbx.returncode}) ---\n{pbx.log_tail(80)}")
        if "Traceback (most recent call last)" in pbx.log_text():
            tracebacks.append(str(pbx.log_path))
    if tracebacks and not _test_failed(request.node):
        pytest.fail(f"the PBX logged a Python traceback: see {', '.join(tracebacks)}")


@pytest.fixture
def pbx(start_pbx: StartPbx) -> PbxProcess:
    """A PBX with extensions 1001-1005 (passwords secret1001 ...)."""
    return start_pbx()


@pytest.fixture
def peer(tmp_path: Path):
    """``peer(command, timeout=..., name=...)``: run a peer in the foreground, output in tmp_path."""
    return functools.partial(run_peer, workdir=tmp_path)
