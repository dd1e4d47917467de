"""The admin API's contract, against a real PBX process with queues, agents and the built-in
plugins, read from its own OpenAPI document:

- every operation the document lists refuses a request without a token (401) and one with a
  token of each role it does not allow (403), core and plugin endpoints alike;
- schemathesis, driven by the document, sends generated requests to every operation as an admin
  and finds no 5xx and no answer that breaks the document's schema.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .acd.queue_config import acd_pbx
from .calls.fixtures import call_pbx  # noqa: F401 - fixture
from .harness import ADMIN_TOKEN

pytestmark = pytest.mark.e2e

TOKENS = {"admin": ADMIN_TOKEN, "supervisor": "pbx_e2e-supervisor", "read-only": "pbx_e2e-reader",
          "agent": "pbx_e2e-agent-1001"}


def token_config() -> list[dict]:
    return [{"name": f"e2e-{role}", "role": role, "sha256": hashlib.sha256(secret.encode()).hexdigest(),
             **({"agent": "1001"} if role == "agent" else {})} for role, secret in TOKENS.items()]


@pytest.fixture
def api_pbx(call_pbx, tmp_path):  # noqa: F811
    dialer = {"campaigns": [{"id": "spring", "mode": "progressive", "queue": "support", "connect_to": "700"}]}
    pbx = acd_pbx(call_pbx, tmp_path, plugins={"kpi": {"config": {"node": "e2e"}}, "dialer": {"config": dialer}},
                  admin={"tokens": token_config()})
    return pbx


def status_of(pbx, method: str, path: str, token: str | None) -> int:
    request = urllib.request.Request(pbx.admin_url + path, method=method,
                                     data=b"{}" if method in ("POST", "PUT", "PATCH") else None,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        body = json.loads(error.read())
        assert set(body) == {"code", "message", "field"}, body
        return error.code


def test_every_operation_refuses_no_token_and_the_wrong_role(api_pbx):
    spec = api_pbx.api("/api/openapi.json")
    operations = [(method.upper(), path, operation["x-roles"]) for path, methods in spec["paths"].items()
                  for method, operation in methods.items()]
    assert len(operations) > 30, operations
    assert any(path.startswith("/api/plugins/kpi/") for _, path, _ in operations)
    assert any(path.startswith("/api/plugins/dialer/") for _, path, _ in operations)
    refused = 0
    for method, path, roles in operations:
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        assert status_of(api_pbx, method, concrete, None) == 401, (method, path)
        for role, secret in TOKENS.items():
            if role not in roles:
                assert status_of(api_pbx, method, concrete, secret) == 403, (method, path, role)
                refused += 1
    assert refused > 35


@pytest.mark.timeout(240)
def test_schemathesis_finds_no_server_error_and_no_answer_off_the_schema(api_pbx, tmp_path):
    if shutil.which("schemathesis", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[test]')")
    report = tmp_path / "schemathesis.txt"
    command = [str(Path(sys.executable).parent / "schemathesis"), "run", f"{api_pbx.admin_url}/api/openapi.json",
               "--header", f"Authorization: Bearer {ADMIN_TOKEN}",
               "--checks", "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
               "--max-examples", "20", "--seed", "1", "--workers", "2", "--phases", "examples,fuzzing",
               "--exclude-path", "/api/events", "--request-timeout", "10", "--no-color"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=220, cwd=tmp_path)
    report.write_text(done.stdout + done.stderr)
    assert done.returncode == 0, f"schemathesis found problems (see {report}):\n{done.stdout[-6000:]}"
    assert api_pbx.is_alive()
