"""Coverage-guided fuzzing of the SIP parser, the transaction layer and SDP with atheris.

Seeds are the parser corpus (tests/unit/corpus/*.sip) plus the SDP bodies found in it; a
dictionary of SIP tokens helps libFuzzer build headers. The first byte of each input picks
the target: a request into `SipEndpoint.receive`, a response into the transaction layer (a
client transaction waits on its branch), or an SDP body. The checks are those of
tests/unit/fuzz/harness.py. Crashes and broken invariants are counted and their inputs saved,
not raised, so one run reports them all.

    .venv/bin/python benchmarks/fuzz_sip.py --runs 1000000

It prints cases/s, cases run, distinct outcomes and crashes (0 expected).
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

with atheris.instrument_imports(include=["pbx.sip"]):
    from tests.unit.fuzz.harness import FuzzTarget  # noqa: E402

CORPUS = ROOT / "tests" / "unit" / "corpus"
TARGETS = ("request", "response", "sdp")
TOKENS = [
    "SIP/2.0", "INVITE", "REGISTER", "ACK", "BYE", "CANCEL", "OPTIONS", "sip:", "sips:", "tel:", "Via: ",
    "SIP/2.0/UDP ", ";branch=z9hG4bK", ";rport", ";received=", ";tag=", "From: ", "To: ", "Call-ID: ",
    "CSeq: ", "Contact: ", "Content-Length: ", "l: ", "Max-Forwards: ", "Expires: ", "Require: ",
    "Authorization: Digest ", "Proxy-Authorization: Digest ", "\r\n", "\r\n\r\n", "\r\n ", "<", ">", '"',
    ";", ",", "=", "%00", "[::1]", ":5060", "v=0", "o=- 1 1 IN IP4 1.2.3.4", "s=-", "c=IN IP4 ", "t=0 0",
    "m=audio ", " RTP/AVP 0 8 101", "a=rtpmap:", "a=fmtp:", "a=rtcp:", "a=sendrecv", "4294967296", "-1",
]  # fmt: skip


class Run:
    def __init__(self, crash_dir: Path, runs: int) -> None:
        self.runs = runs
        self.target = FuzzTarget()
        self.crash_dir = crash_dir
        self.cases = 0
        self.crashes = 0
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.started = time.perf_counter()

    def one_input(self, data: bytes) -> None:
        self.cases += 1
        if not data:
            return
        kind = TARGETS[data[0] % len(TARGETS)]
        try:
            outcome = getattr(self.target, kind)(data[1:])
        except Exception as error:  # noqa: BLE001 - counting them is the point
            self.crashes += 1
            outcome = f"CRASH {kind} {type(error).__name__}: {str(error)[:60]}"
            name = hashlib.sha1(data).hexdigest()[:16]
            (self.crash_dir / f"{kind}-{name}").write_bytes(data[1:])
        self.outcomes[outcome] += 1
        if self.cases == self.runs:
            self.report()  # libFuzzer leaves with _exit() after its last run: atexit would not run
        elif self.cases % 100_000 == 0:
            self.report(final=False)

    def report(self, final: bool = True) -> None:
        elapsed = time.perf_counter() - self.started
        print(f"{'done' if final else 'progress'}: {self.cases:,} cases in {elapsed:.1f} s, "
              f"{self.cases / elapsed:,.0f} cases/s, {len(self.outcomes)} distinct outcomes, "
              f"{self.crashes} crashes", file=sys.stderr, flush=True)
        if final:
            for outcome, count in self.outcomes.most_common(25):
                print(f"  {count:>9,}  {outcome}", file=sys.stderr)
            shutil.rmtree(self.crash_dir.parent / "corpus", ignore_errors=True)
            crashed = [o for o in self.outcomes if o.startswith("CRASH")]
            for outcome in crashed:
                print(f"  {outcome}", file=sys.stderr)
            if crashed:
                print(f"crashing inputs saved in {self.crash_dir}", file=sys.stderr)


def seed_corpus(directory: Path) -> None:
    """Each corpus message as a request or response seed, and its SDP body as an SDP seed."""
    for path in sorted(CORPUS.glob("*.sip")):
        data = path.read_bytes()
        kind = 1 if data.startswith(b"SIP/") else 0
        (directory / path.stem).write_bytes(bytes([kind]) + data)
        _, _, body = data.partition(b"\r\n\r\n")
        if body.startswith(b"v=0"):
            (directory / f"{path.stem}.sdp").write_bytes(bytes([2]) + body)


def _dictionary_escape(token: str) -> str:
    """libFuzzer dictionary syntax: printable ASCII as is, everything else (and quote, backslash) as \\xNN."""
    return "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\x{b:02x}" for b in token.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--max-len", type=int, default=4096)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fuzz_sip-"))
    corpus, crashes = work / "corpus", work / "crashes"
    corpus.mkdir()
    crashes.mkdir()
    seed_corpus(corpus)
    dictionary = work / "sip.dict"
    dictionary.write_text("".join(f'"{_dictionary_escape(token)}"\n' for token in TOKENS))
    run = Run(crashes, args.runs)
    atheris.Setup(
        [sys.argv[0], f"-runs={args.runs}", f"-seed={args.seed}", f"-max_len={args.max_len}",
         f"-dict={dictionary}", "-print_final_stats=1", str(corpus)],
        run.one_input,
    )
    atheris.Fuzz()


if __name__ == "__main__":
    main()
