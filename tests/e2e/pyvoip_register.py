"""Register one pyVoIP 1.6.8 phone, hold the registration, then de-register (run as a subprocess).

pyVoIP answers the PBX's 401 without qop (RFC 2069 style) with ``uri="sip:SERVER;transport=UDP"``
and keeps only the last ``WWW-Authenticate`` header it receives.  Its ``stop()`` blocks on
de-REGISTER retries when the registrar is gone, so the test runs this script under a hard time
bound and this script bounds ``stop()`` itself as well.

Prints ``REGISTERED <status>`` once registered, then waits until ``--stop-file`` exists (or
``--hold`` seconds pass), then prints ``STOPPED`` or ``STOP-HUNG``.  Exit code 0 when registered,
3 when registration failed.

usage: pyvoip_register.py --server 127.0.0.1 --port 5060 --user 1002 --password secret1002
           --sip-port 25120 --rtp 26400-26420 --stop-file /tmp/x/stop [--hold 30]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import warnings


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--sip-port", type=int, required=True)
    parser.add_argument("--rtp", default="26400-26420")
    parser.add_argument("--stop-file", required=True)
    parser.add_argument("--hold", type=float, default=30.0)
    parser.add_argument("--stop-timeout", type=float, default=5.0)
    options = parser.parse_args()

    warnings.simplefilter("ignore", DeprecationWarning)  # pyVoIP imports audioop
    from pyVoIP.VoIP import VoIPPhone

    low, high = map(int, options.rtp.split("-"))
    phone = VoIPPhone(
        options.server, options.port, options.user, options.password, myIP="127.0.0.1",
        sipPort=options.sip_port, rtpPortLow=low, rtpPortHigh=high,
    )  # fmt: skip
    try:
        phone.start()
    except Exception as error:  # noqa: BLE001 - pyVoIP raises many unrelated types; report any of them
        print(f"REGISTER-FAILED {type(error).__name__}: {error}", flush=True)
        _stop_bounded(phone, options.stop_timeout)
        return 3
    print(f"REGISTERED {phone.get_status()}", flush=True)

    deadline = time.monotonic() + options.hold
    while time.monotonic() < deadline and not os.path.exists(options.stop_file):
        time.sleep(0.05)
    print("STOPPED" if _stop_bounded(phone, options.stop_timeout) else "STOP-HUNG", flush=True)
    return 0


def _stop_bounded(phone, timeout: float) -> bool:
    stopper = threading.Thread(target=phone.stop, daemon=True)
    stopper.start()
    stopper.join(timeout)
    return not stopper.is_alive()


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # pyVoIP leaves non-daemon Timer threads behind; do not wait for them
    os._exit(code)
