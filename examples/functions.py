"""Example functions for the example scenarios: a site plugin, loaded by config.example.yaml's
`plugins: {examples: {path: examples/functions.py}}` (a path relative to the config file).

It registers two functions through the SDK's `pbx_ivr_functions` hook, so the scenarios can
`invoke bank.balance` and `invoke survey.record`. A function takes the scenario's keyword
arguments and returns a value (a dict becomes fields: `balance.amount`), directly or as a
coroutine; raising takes the scenario's `on error` branch. These two stand in for a bank's
account service and a survey store. Survey answers go to <data_dir>/plugins/examples/surveys.jsonl.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sdk import PbxApi, hookimpl

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


def survey_recorder(directory: Path):
    """`survey.record`: append one answer to <directory>/surveys.jsonl (a blocking write, which
    the PBX runs off the event loop because the function is not a coroutine)."""

    def survey_record(call: str, caller: str, csat: object = None, nps: object = None) -> bool:
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / "surveys.jsonl", "a") as out:
            out.write(json.dumps({"at": time.time(), "call": call, "caller": caller, "csat": csat, "nps": nps}) + "\n")
        return True

    return survey_record


@hookimpl
def pbx_ivr_functions(api: PbxApi) -> dict[str, Any]:
    return {"bank.balance": bank_balance, "survey.record": survey_recorder(Path(api.data_dir))}
