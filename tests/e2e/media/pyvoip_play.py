"""pyVoIP 1.6.8 calls a number through the PBX and plays one WAV into the call, all at once.

Unlike ``calls/pyvoip_call.py`` (which writes 20 ms at a time and records what it hears),
this hands pyVoIP the whole WAV in one ``write_audio`` right after the answer. pyVoIP's
sending thread reads 160 bytes every 20 ms from its own buffer and pads with silence when
the buffer runs dry, so writing frame by frame from another thread can slip 20 ms of
silence into the middle of a sound; one write cannot. Used to send in-band DTMF, which
pyVoIP has no other way to send (pyVoIP issues #88, #180).

Run as a subprocess under a hard time bound; it prints one line per step and last
``RESULT {"registered": ..., "answered": ..., "sent_bytes": ..., "ended_by": ..., "stopped": ...}``.
pyVoIP answers only 401 challenges, so the PBX must be told ``invite_challenge: 401`` for
this extension, and it needs a 100 or 180 before the 200.

usage: pyvoip_play.py --port P --user 1003 --password secret1003 --number 602
           --sip-port P --rtp LOW-HIGH --wav in.wav [--talk 5] [--answer-timeout 10]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import warnings
import wave


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--number", required=True)
    parser.add_argument("--sip-port", type=int, required=True)
    parser.add_argument("--rtp", required=True)
    parser.add_argument("--wav", required=True)
    parser.add_argument("--talk", type=float, default=5.0, help="seconds the call stays up after the answer")
    parser.add_argument("--answer-timeout", type=float, default=10.0)
    options = parser.parse_args()

    warnings.simplefilter("ignore", DeprecationWarning)  # pyVoIP and we import audioop (3.11/3.12)
    import audioop

    from pyVoIP.VoIP import CallState, VoIPPhone

    result: dict = {"registered": False, "answered": False}
    with wave.open(options.wav) as reader:
        if (reader.getsampwidth(), reader.getnchannels(), reader.getframerate()) != (2, 1, 8000):
            print("BAD-WAV want 16-bit mono 8 kHz", flush=True)
            return 2
        pcm16 = reader.readframes(reader.getnframes())
    # pyVoIP's audio is 8-bit unsigned linear at 8 kHz (128 is silence)
    unsigned8 = audioop.bias(audioop.lin2lin(pcm16, 2, 1), 1, 128)

    low, high = map(int, options.rtp.split("-"))
    phone = VoIPPhone(
        options.server, options.port, options.user, options.password, myIP="127.0.0.1",
        sipPort=options.sip_port, rtpPortLow=low, rtpPortHigh=high,
    )  # fmt: skip
    try:
        phone.start()
    except Exception as error:  # noqa: BLE001 - pyVoIP raises many unrelated types
        print(f"REGISTER-FAILED {type(error).__name__}: {error}", flush=True)
        return finish(phone, result, 3)
    result["registered"] = True
    print(f"REGISTERED {phone.get_status()}", flush=True)

    # call() blocks until a provisional response arrives; keep it off the main thread
    holder: dict = {}

    def place() -> None:
        try:
            holder["call"] = phone.call(options.number)
        except Exception as error:  # noqa: BLE001
            holder["error"] = f"{type(error).__name__}: {error}"

    started = time.monotonic()
    threading.Thread(target=place, daemon=True).start()
    call = None
    while time.monotonic() - started < options.answer_timeout and "error" not in holder:
        call = holder.get("call")
        if call is not None and call.state in (CallState.ANSWERED, CallState.ENDED):
            break
        time.sleep(0.02)
    if call is None or call.state != CallState.ANSWERED:
        result["error"] = holder.get("error") or f"state {getattr(call, 'state', None)}"
        print(f"NOT-ANSWERED {result['error']}", flush=True)
        return finish(phone, result, 4)
    result["answered"] = True
    result["answer_after"] = round(time.monotonic() - started, 3)
    print(f"ANSWERED after {result['answer_after']}s", flush=True)

    call.write_audio(unsigned8)
    result["sent_bytes"] = len(unsigned8)
    talk_started = time.monotonic()
    while call.state == CallState.ANSWERED and time.monotonic() - talk_started < options.talk:
        call.read_audio(160, blocking=False)  # keep pyVoIP's receive buffer from growing
        time.sleep(0.02)
    result["ended_by"] = "us" if call.state == CallState.ANSWERED else "peer"
    if call.state == CallState.ANSWERED:
        call.hangup()
        print("HUNGUP", flush=True)
    return finish(phone, result, 0)


def finish(phone, result: dict, code: int) -> int:
    stopper = threading.Thread(target=phone.stop, daemon=True)
    stopper.start()
    stopper.join(5.0)
    result["stopped"] = not stopper.is_alive()
    print("RESULT " + json.dumps(result), flush=True)
    return code


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # pyVoIP leaves non-daemon Timer threads behind; do not wait for them
    os._exit(code)
