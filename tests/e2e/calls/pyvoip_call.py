"""pyVoIP 1.6.8 places one call through the PBX, plays a WAV into it and records what it hears.

Run as a subprocess under a hard time bound (pyVoIP is all threads, ``call()`` blocks forever
without a 100/180, and ``stop()`` can hang on de-REGISTER).  Every step prints one line, the
last one is ``RESULT {json}``:

    {"registered": true, "answered": true, "answer_after": 1.1, "sent_bytes": 24000,
     "heard_bytes": 23840, "heard_rms": 0.12, "heard_active": 3.2, "ended_by": "us"|"peer",
     "stopped": true}

pyVoIP audio is 8-bit unsigned linear at 8 kHz (128 is silence); the WAV given is 16-bit PCM.
It answers only 401 challenges (not 407), so the PBX must be told ``invite_challenge: 401``
for this extension.

usage: pyvoip_call.py --port 5060 --user 1003 --password secret1003 --number 1002
           --sip-port P --rtp LOW-HIGH --wav in.wav [--record heard.wav] [--at-once] [--talk 4]
           [--answer-timeout 10]
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
    parser.add_argument("--record", help="write what was heard to this WAV")
    parser.add_argument("--at-once", action="store_true",
                        help="hand pyVoIP the whole WAV in one write (20 ms writes can let its sender "
                             "thread slip silence into a DTMF tone)")
    parser.add_argument("--talk", type=float, default=4.0)
    parser.add_argument("--answer-timeout", type=float, default=10.0)
    options = parser.parse_args()

    warnings.simplefilter("ignore", DeprecationWarning)  # pyVoIP and we import audioop (3.11/3.12)
    import audioop

    from pyVoIP.VoIP import CallState, VoIPPhone

    result: dict = {"registered": False, "answered": False}
    with wave.open(options.wav) as reader:
        pcm16 = reader.readframes(reader.getnframes())
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

    heard = bytearray()
    position = 0
    talk_started = time.monotonic()
    next_frame = talk_started
    if options.at_once:
        call.write_audio(unsigned8)
        position = len(unsigned8)
    while call.state == CallState.ANSWERED and time.monotonic() - talk_started < options.talk:
        if not options.at_once:
            frame = unsigned8[position : position + 160] or b"\x80" * 160
            call.write_audio(frame)
            position += 160
        heard.extend(call.read_audio(160, blocking=False))
        next_frame += 0.02
        time.sleep(max(0.0, next_frame - time.monotonic()))
    result["sent_bytes"] = position
    result["ended_by"] = "us" if call.state == CallState.ANSWERED else "peer"
    if call.state == CallState.ANSWERED:
        call.hangup()
        print("HUNGUP", flush=True)

    signed = audioop.bias(bytes(heard), 1, -128)
    if options.record:
        with wave.open(options.record, "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(8000)
            writer.writeframes(audioop.lin2lin(signed, 1, 2))
    result["heard_bytes"] = len(heard)
    result["heard_rms"] = round(audioop.rms(signed, 1) / 128.0, 4) if heard else 0.0
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
