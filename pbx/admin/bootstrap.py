"""The admin API's first token, and audit records of changes made from phones.

A new PBX has no token, and every endpoint needs one. So on the first start with none (none in
the config, none in the database) the PBX creates an admin token, writes it to
`<data_dir>/admin-token` (readable by its owner only) and logs where it is: the person who
started the PBX can read it, nobody on the network can. `pbx token create` makes the others.

Supervisor monitoring started from a phone's feature code has no token: its bus event is the
audit record (actor: the supervisor's extension).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sdk.events import Event, MonitorModeChanged, MonitorStarted, MonitorStopped

from .audit import AuditLog, AuditRecord
from .tokens import TokenRecord, TokenStore, hash_secret, new_secret

log = logging.getLogger("pbx.admin")
TOKEN_FILE = "admin-token"


async def first_admin_token(store: TokenStore, data_dir: Path, now: float) -> Path:
    secret = new_secret()
    await store.add(TokenRecord("admin", "admin", hash_secret(secret), None, now))
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / TOKEN_FILE
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secret + "\n")
    log.warning("event=admin_token_created file=%s hint='the first API token (role admin); open "
                "/wallboard#token=<it> or create others with pbx token create'", path.resolve())
    return path


def audit_feature_code(audit: AuditLog, event: Event) -> None:
    """Monitoring started, switched or stopped from a supervisor's phone: who (the supervisor's
    extension), what, when. The API's own requests are audited by the gate (with the token's
    name), and a monitor the PBX ended because the call ended is nobody's action."""
    if not isinstance(event, MonitorStarted | MonitorModeChanged | MonitorStopped) or event.source != "phone":
        return
    action = {MonitorStarted: "monitor started", MonitorModeChanged: "monitor mode changed",
              MonitorStopped: "monitor stopped"}[type(event)]
    detail = {"monitor_id": event.monitor_id, "agent": event.agent, "mode": event.mode, "via": "phone"}
    if isinstance(event, MonitorModeChanged):
        detail["previous"] = event.previous
    audit.record(AuditRecord(event.at, event.supervisor, "phone", f"{action} ({event.mode})",
                             f"call {event.call_id}", 200, detail))
