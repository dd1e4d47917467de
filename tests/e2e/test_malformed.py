"""Malformed requests get a specific error, garbage gets silence, and the PBX keeps serving.

All cases run against one PBX and the failures are collected into one table, so one bug does
not hide the others.  Afterwards the PBX must still be alive, answer, register a user through a
hand-rolled client and through sipp, and its log must hold no Python traceback.
"""

from __future__ import annotations

import time

import pytest

from .malformed_corpus import CASES, GARBAGE, Case, Target, unanswerable_response
from .sipmsg import SipResponse, TcpSipClient, UdpSipClient, digest_authorization, pick_challenge
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
        final = client.request(
            case.build(target, ids, cseq=2, authorization=authorization),
            timeout=RESPONSE_WAIT,
            retransmit=RESPONSE_WAIT,
        )
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
    pbx_server = f"{pbx.host}:{pbx.sip_port}"

    # 1. each malformed request gets its documented error, saying what is wrong
    for case in CASES:
        first, final = _exchange(case, pbx)
        answers.append(
            f"{case.name:32} -> {final.status_line() if final else 'no answer'}"
            + (f" | Warning: {final.header('warning')}" if final and final.header("warning") else "")
        )
        problem = _judge(case, first, final)
        if problem:
            problems.append(
                f"{case.name}: expected {case.expected}, {problem}" + (f"  [{case.why}]" if case.why else "")
            )

    # 2. garbage and a stray response get no answer at all (one socket each, to name the culprit)
    senders: list[tuple[str, UdpSipClient]] = []
    try:
        for name, datagram in GARBAGE:
            client = UdpSipClient(pbx.sip_address)
            senders.append((name, client))
            client.send(datagram)
        client = UdpSipClient(pbx.sip_address)
        senders.append(("response-to-no-transaction", client))
        client.send(unanswerable_response(Target(f"{client.local_host}:{client.local_port}", pbx_server)))
        time.sleep(1.5)
        for name, client in senders:
            for datagram in client.receive_raw(timeout=0.05):
                problems.append(f"garbage {name!r} got an answer: {datagram[:120]!r}")
    finally:
        for _, client in senders:
            client.close()

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

    (tmp_path / "answers.txt").write_text("\n".join(answers) + "\n")
    print("\n".join(answers))
    assert pbx.is_alive()
    if "Traceback (most recent call last)" in pbx.log_text():
        problems.append(f"the PBX logged a traceback: {pbx.log_path}")
    assert not problems, "\n".join(problems) + "\n\nall answers:\n" + "\n".join(answers)


def _tcp_case(case: Case, client: TcpSipClient) -> bytes:
    target = Target(local=f"{client.local_host}:{client.local_port}", server=f"{client.server[0]}:{client.server[1]}")
    return case.build(target, Case.new_ids()).replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")


@pytest.mark.timeout(60)
def test_malformed_over_tcp(pbx):
    by_name = {case.name: case for case in CASES}
    problems: list[str] = []

    # A header defect in a well-framed message: 400, and the connection keeps working.
    with TcpSipClient(pbx.sip_address) as client:
        bad = client.request(_tcp_case(by_name["missing-call-id"], client))
        if bad is None or bad.status != 400 or not _is_specific(bad):
            problems.append(
                f"TCP missing Call-ID: expected a specific 400, got {bad.status_line() if bad else 'nothing'}"
            )
        _, good = client.register("1001", "secret1001")
        if good is None or good.status != 200:
            problems.append(
                f"TCP REGISTER on the same connection after a 400: {good.status_line() if good else 'nothing'}"
            )

    # A Content-Length that cannot be read breaks the framing: a 400 and/or closing the
    # connection are both acceptable, silence on an open connection is not.
    with TcpSipClient(pbx.sip_address) as client:
        answer = client.request(_tcp_case(by_name["content-length-not-a-number"], client))
        closed = client.wait_closed(2.0)
        if answer is None and not closed:
            problems.append("TCP unreadable Content-Length: no 400 and the connection stayed open")
        if answer is not None and answer.status != 400:
            problems.append(f"TCP unreadable Content-Length: got {answer.status_line()}")

    # Pure garbage on a stream: nothing can be answered; the PBX may close the connection.
    with TcpSipClient(pbx.sip_address) as client:
        client.send(bytes(range(256)) * 4 + b"\r\n\r\n")
        if client.receive(1.0) is not None:
            problems.append("TCP garbage got a SIP response")

    # An endless header section (no blank line) must not be buffered without bound: the PBX may
    # close the connection; either way it must keep serving.
    with TcpSipClient(pbx.sip_address) as client:
        try:
            client.send(b"REGISTER sip:127.0.0.1 SIP/2.0\r\n" + b"X-Padding: " + b"A" * (1 << 20))
        except OSError:
            pass  # the PBX closed the connection while we were still sending: fine
        oversized_closed = client.wait_closed(2.0)
    print(f"TCP 1 MiB header section: connection closed by the PBX: {oversized_closed}")

    # A half-sent request and an abrupt close must not disturb anything.
    with TcpSipClient(pbx.sip_address) as client:
        client.send(b"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKhalf\r\nContent-Le")

    # Afterwards a fresh connection registers normally, and the PBX is alive and clean.
    with TcpSipClient(pbx.sip_address) as client:
        _, final = client.register("1002", "secret1002")
        if final is None or final.status != 200:
            problems.append(f"TCP REGISTER on a fresh connection: {final.status_line() if final else 'nothing'}")
    assert pbx.is_alive(), f"PBX died (rc={pbx.process.poll()})"
    by_extension = {entry["extension"]: entry for entry in pbx.registrations()}
    if {"1001", "1002"} - set(by_extension):
        problems.append(f"registrations after the TCP corpus: {sorted(by_extension)}")
    elif by_extension["1002"]["transport"] != "tcp":
        problems.append(f"1002 registered over TCP shows transport {by_extension['1002']['transport']!r}")
    assert not problems, "\n".join(problems)
