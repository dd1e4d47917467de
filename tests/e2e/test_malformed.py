"""Malformed requests get a specific error, garbage gets silence, and the PBX keeps serving.

All cases run against one PBX and the failures are collected into one table, so one bug does
not hide the others.  Afterwards the PBX must still be alive, answer, register a user through a
hand-rolled client and through sipp, and its log must hold no Python traceback.
"""

from __future__ import annotations

import pytest

from .malformed_corpus import CASES, GARBAGE, Case, Target, unanswerable_response
from .sipmsg import SipResponse, UdpSipClient, digest_authorization, pick_challenge
from .sipp_runner import SCENARIOS, run_sipp, write_users_csv

pytestmark = pytest.mark.e2e

GENERIC_REASONS = {"bad request", ""}
RESPONSE_WAIT = 1.5  # seconds to wait for an answer to a malformed request (sent once, no retransmit)


def _is_specific(response: SipResponse) -> bool:
    """True when a 400 says what is wrong: a non-generic reason phrase, or a Warning/Reason header."""
    if response.reason.strip().lower() not in GENERIC_REASONS:
        return True
    return any(response.header(name) for name in ("warning", "reason"))


def _exchange(case: Case, pbx) -> tuple[SipResponse | None, SipResponse | None]:
    """Send one case from a fresh socket; answer a 401 with credentials when the case allows it."""
    with UdpSipClient(pbx.sip_address) as client:
        target = Target(local=f"{client.local_host}:{client.local_port}", server=f"{pbx.host}:{pbx.sip_port}")
        ids = Case.new_ids()
        first = client.request(case.build(target, ids), timeout=RESPONSE_WAIT, retransmit=RESPONSE_WAIT)
        if first is None or first.status != 401 or not case.auth_first:
            return first, first
        authorization = digest_authorization(
            pick_challenge(first), username=target.user, password=f"secret{target.user}",
            method=case.method, uri=f"sip:{target.server}",
        )  # fmt: skip
        final = client.request(case.build(target, ids, cseq=2, authorization=authorization), timeout=RESPONSE_WAIT, retransmit=RESPONSE_WAIT)
        return first, final


def _judge(case: Case, first: SipResponse | None, final: SipResponse | None) -> str | None:
    """A problem description, or None when the answer is right."""
    if final is None:
        got = f"after {first.status_line()} " if first is not final and first is not None else ""
        return f"{got}no answer within {RESPONSE_WAIT}s"
    if final.status != case.expected:
        return f"got {final.status_line()!r}"
    if final.status == 400 and not _is_specific(final):
        return f"got {final.status_line()!r} with no specific reason phrase and no Warning/Reason header"
    return None


@pytest.mark.timeout(120)
def test_malformed_requests_garbage_and_survival(pbx, ports, tmp_path):
    problems: list[str] = []
    answers: list[str] = []

    # 1. each malformed request gets its documented error, saying what is wrong
    for case in CASES:
        first, final = _exchange(case, pbx)
        answers.append(f"{case.name:32} -> {final.status_line() if final else 'no answer'}"
                       + (f" | Warning: {final.header('warning')}" if final and final.header("warning") else ""))
        problem = _judge(case, first, final)
        if problem:
            problems.append(f"{case.name}: expected {case.expected}, {problem}" + (f"  [{case.why}]" if case.why else ""))

    # 2. garbage and a stray response get no answer at all
    with UdpSipClient(pbx.sip_address) as client:
        target = Target(local=f"{client.local_host}:{client.local_port}", server=f"{pbx.host}:{pbx.sip_port}")
        for _, datagram in [*GARBAGE, ("response-to-no-transaction", unanswerable_response(target))]:
            client.send(datagram)
        for datagram in client.receive_raw(timeout=1.5):
            problems.append(f"garbage got an answer: {datagram[:120]!r}")

    # 3. the PBX is alive, answers and still registers users
    assert pbx.is_alive(), f"PBX died (rc={pbx.process.poll()})\n" + "\n".join(problems)
    with UdpSipClient(pbx.sip_address) as client:
        first, final = client.register("1001", "secret1001")
        if final is None or final.status != 200:
            problems.append(f"hand-rolled REGISTER after the corpus: {final.status_line() if final else 'no answer'}")
    users_csv = write_users_csv(tmp_path / "users.csv", {"1002": "secret1002"})
    run = run_sipp(
        ["-sf", str(SCENARIOS / "reg_uac_auth.xml"), "-inf", str(users_csv)],
        ports=ports, workdir=tmp_path, name="register_after_corpus", remote=pbx.sip_address, calls=1, timeout=30,
    )  # fmt: skip
    if run.returncode != 0:
        problems.append(f"sipp REGISTER after the corpus failed:\n{run.describe()}")
    extensions = {entry["extension"] for entry in pbx.registrations()}
    if not {"1001", "1002"} <= extensions:
        problems.append(f"registrations after the corpus: {sorted(extensions)}, expected 1001 and 1002")

    assert pbx.is_alive()
    if "Traceback (most recent call last)" in pbx.log_text():
        problems.append(f"the PBX logged a traceback: {pbx.log_path}")
    assert not problems, "\n".join(problems) + "\n\nall answers:\n" + "\n".join(answers)
