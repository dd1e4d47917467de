"""The pure media cores do no I/O (STYLE.md rules 1 and 12), as test_layering.py checks for the SIP cores.

ports, latching and rtp_header import no asyncio, socket, time or random,
and of our own modules only one another; only relay.py touches sockets.
"""

import ast
from pathlib import Path

import pytest

MEDIA = Path(__file__).resolve().parents[2] / "pbx" / "media"
IO_MODULES = {"asyncio", "socket", "time", "random", "selectors", "threading", "uvloop"}
PURE_MEDIA = ["ports", "latching", "rtp_header"]


def imports_of(path: Path) -> tuple[set[str], set[str]]:
    """Top-level names of absolute imports, and module names of relative ones."""
    absolute, relative = set(), set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            absolute.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                relative.add(node.module or "")
            else:
                absolute.add(node.module.split(".")[0])
    return absolute, relative


@pytest.mark.parametrize("module", PURE_MEDIA)
def test_pure_media_cores_do_no_io(module):
    absolute, relative = imports_of(MEDIA / f"{module}.py")
    assert not absolute & IO_MODULES, f"pbx/media/{module}.py imports I/O: {absolute & IO_MODULES}"
    assert "pbx" not in absolute
    assert relative <= set(PURE_MEDIA), f"pbx/media/{module}.py imports {relative - set(PURE_MEDIA)}"
