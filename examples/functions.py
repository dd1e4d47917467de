"""Example functions for the example scenarios, registered in config.example.yaml (`ivr.functions`).

Until the plugin SDK registers functions from plugins, a config names them by import path
("module:callable"). A function takes the scenario's keyword arguments and returns a value
(a dict becomes fields: `balance.amount`), directly or as a coroutine; raising takes the
scenario's `on error` branch. These two stand in for a bank's account service and a survey store.
"""

from __future__ import annotations

import json
import os
import time

# A demo ledger: account number -> (amount, currency, last payment, its date).
ACCOUNTS = {
    "12345678": (1520.75, "euros", 200, "2026-11-02"),
    "87654321": (42, "zloty", 15, "2026-10-28"),
}


async def bank_balance(account: str, caller: str = "") -> dict:
    entry = ACCOUNTS.get(str(account))
    if entry is None:
        return {"found": False}
    amount, currency, last_payment, paid_on = entry
    return {"found": True, "amount": amount, "currency": currency, "last_payment": last_payment,
            "last_payment_date": paid_on}


def survey_record(call: str, caller: str, csat: object = None, nps: object = None) -> bool:
    """Append one answer to var/surveys.jsonl (the directory must be writable)."""
    path = os.environ.get("PBX_SURVEY_FILE", "var/surveys.jsonl")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "a") as out:
        out.write(json.dumps({"at": time.time(), "call": call, "caller": caller, "csat": csat, "nps": nps}) + "\n")
    return True
