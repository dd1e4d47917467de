"""Parse throughput: SIP messages per second through pbx.sip.message.parse_message.

Three typical messages (a REGISTER with digest credentials, an INVITE with
SDP, a 200 OK) parsed, then the accessors the endpoint always reads (top
Via, CSeq, Call-ID, From, To) evaluated, as the endpoint does per message.

    .venv/bin/python benchmarks/bench_parse.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import time

from pbx.sip.message import parse_message

REGISTER = (
    "REGISTER sip:127.0.0.1:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:25061;branch=z9hG4bK-524287-1---7c6a2b8e3b6f1d22;rport\r\n"
    "Max-Forwards: 70\r\n"
    'Contact: <sip:1001-0x5596c0a31130@127.0.0.1:25082>;+sip.instance="<urn:uuid:7b3d1f2a-9c4e-4a5b-8f6d-2e1c0b9a8d7e>"\r\n'
    "To: <sip:1001@127.0.0.1>\r\n"
    "From: <sip:1001@127.0.0.1>;tag=3f1a9c2d\r\n"
    "Call-ID: 8c1f4a2b9e7d6c5a@127.0.0.1\r\n"
    "CSeq: 2 REGISTER\r\n"
    "Expires: 600\r\n"
    'Authorization: Digest username="1001", realm="pbx.local", nonce="QdrBISOaKyNeWOBprlilAklLObJfu6do", '
    'uri="sip:127.0.0.1:5060", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, '
    'cnonce="0a4f113b", qop=auth, nc=00000001\r\n'
    "Allow: INVITE,ACK,BYE,CANCEL,OPTIONS,NOTIFY,SUBSCRIBE,INFO,MESSAGE,UPDATE,REFER\r\n"
    "Supported: replaces,outbound,gruu\r\n"
    "User-Agent: baresip v1.0.0 (x86_64/linux)\r\n"
    "Content-Length: 0\r\n\r\n"
).encode()

SDP = (
    "v=0\r\no=- 1234 5678 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 26000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
)
INVITE = (
    "INVITE sip:1002@127.0.0.1:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:25061;branch=z9hG4bK776asdhds;rport\r\n"
    "Max-Forwards: 70\r\n"
    'To: "Bob" <sip:1002@127.0.0.1>\r\n'
    'From: "Alice" <sip:1001@127.0.0.1>;tag=1928301774\r\n'
    "Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:1001@127.0.0.1:25061>\r\n"
    "Content-Type: application/sdp\r\n"
    f"Content-Length: {len(SDP)}\r\n\r\n{SDP}"
).encode()

OK = (
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKnashds8;received=127.0.0.1;rport=5060\r\n"
    "To: <sip:1002@127.0.0.1>;tag=a6c85cf\r\n"
    "From: <sip:1001@127.0.0.1>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:1002@127.0.0.1:25062>\r\n"
    "Content-Length: 0\r\n\r\n"
).encode()


def parse_all(message: bytes) -> None:
    parsed = parse_message(message)
    parsed.top_via, parsed.cseq, parsed.call_id, parsed.from_, parsed.to  # noqa: B018


def measure(name: str, message: bytes, seconds: float) -> float:
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(200):
            parse_all(message)
        count += 200
    rate = count / (time.perf_counter() - start)
    print(f"parse+headers {name:9s} {rate:10,.0f} messages/s  ({1e6 / rate:.1f} us each)")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    rates = [measure(name, data, args.seconds) for name, data in (("REGISTER", REGISTER), ("INVITE", INVITE), ("200 OK", OK))]
    print(f"mean {sum(rates) / len(rates):,.0f} messages/s on one core")


if __name__ == "__main__":
    main()
