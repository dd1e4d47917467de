"""The call-record tables, as migrations that run unchanged on SQLite and PostgreSQL.

Every table is prefixed `kpi_` (the plugin's own tables in the PBX database). Times are
seconds since the epoch (DOUBLE PRECISION: REAL on SQLite), lists are JSON text. Nothing uses
a dialect's own types or auto-increment, so the same statements, with `?` placeholders, run on
both backends (sdk.database translates the placeholders for PostgreSQL).

- kpi_journeys: one row per customer contact (a journey), keyed by `journey_id`, the id of the
  call that started it. A transfer keeps the call and so the journey; a queue callback is a
  second call whose CallStarted carries `linked_id`, folded into the same row. The row is
  written when the contact ends (`state` "complete"), when it waits for a callback
  ("callback-pending"), and updated when an agent's wrap-up after it ends.
- kpi_queue_calls: one row per visit of a journey to a queue (offered once, one outcome).
- kpi_agent_calls: one row per agent segment of a journey (connect to transfer or end).
- kpi_queue_log: append-only, one row per queue event (Asterisk's queue_log, with journey ids).
- kpi_agent_log: append-only, one row per agent state change: the state left (`old`), how long
  it lasted (`since` to `at`), the state entered and the reason.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    """
    CREATE TABLE kpi_journeys (
        journey_id TEXT PRIMARY KEY,
        node TEXT NOT NULL,
        call_ids TEXT NOT NULL,
        direction TEXT NOT NULL,
        state TEXT NOT NULL,
        outcome TEXT NOT NULL,
        caller TEXT NOT NULL,
        caller_name TEXT,
        callee TEXT NOT NULL,
        started_at DOUBLE PRECISION NOT NULL,
        answered_at DOUBLE PRECISION,
        ended_at DOUBLE PRECISION,
        route TEXT,
        scenario TEXT,
        ivr_path TEXT NOT NULL,
        ivr_exit TEXT,
        ivr_exit_node TEXT,
        queue TEXT,
        joined_at DOUBLE PRECISION,
        wait_seconds DOUBLE PRECISION,
        agent TEXT,
        agents TEXT NOT NULL,
        connected_at DOUBLE PRECISION,
        talk_seconds DOUBLE PRECISION NOT NULL,
        hold_seconds DOUBLE PRECISION NOT NULL,
        wrapup_seconds DOUBLE PRECISION NOT NULL,
        transfers INTEGER NOT NULL,
        callbacks INTEGER NOT NULL,
        hangup_by TEXT,
        cause TEXT,
        status INTEGER,
        disposition TEXT,
        csat INTEGER,
        nps INTEGER,
        ces INTEGER,
        recording TEXT,
        mos DOUBLE PRECISION,
        cost DOUBLE PRECISION
    );
    CREATE INDEX kpi_journeys_started ON kpi_journeys (started_at);
    CREATE INDEX kpi_journeys_queue ON kpi_journeys (queue, started_at);
    CREATE INDEX kpi_journeys_caller ON kpi_journeys (caller, started_at);
    CREATE TABLE kpi_queue_calls (
        journey_id TEXT NOT NULL,
        queue TEXT NOT NULL,
        joined_at DOUBLE PRECISION NOT NULL,
        left_at DOUBLE PRECISION,
        outcome TEXT NOT NULL,
        wait_seconds DOUBLE PRECISION NOT NULL,
        agent TEXT,
        priority INTEGER NOT NULL,
        position INTEGER NOT NULL,
        callback INTEGER NOT NULL,
        PRIMARY KEY (journey_id, queue, joined_at)
    );
    CREATE INDEX kpi_queue_calls_joined ON kpi_queue_calls (joined_at);
    CREATE TABLE kpi_agent_calls (
        journey_id TEXT NOT NULL,
        agent TEXT NOT NULL,
        queue TEXT,
        connected_at DOUBLE PRECISION NOT NULL,
        ended_at DOUBLE PRECISION,
        talk_seconds DOUBLE PRECISION NOT NULL,
        hold_seconds DOUBLE PRECISION NOT NULL,
        wrapup_seconds DOUBLE PRECISION NOT NULL,
        transferred INTEGER NOT NULL,
        PRIMARY KEY (journey_id, agent, connected_at)
    );
    CREATE INDEX kpi_agent_calls_connected ON kpi_agent_calls (connected_at);
    CREATE TABLE kpi_queue_log (
        at DOUBLE PRECISION NOT NULL,
        node TEXT NOT NULL,
        journey_id TEXT NOT NULL,
        call_id TEXT NOT NULL,
        queue TEXT NOT NULL,
        agent TEXT,
        event TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX kpi_queue_log_at ON kpi_queue_log (at);
    CREATE TABLE kpi_agent_log (
        at DOUBLE PRECISION NOT NULL,
        node TEXT NOT NULL,
        agent TEXT NOT NULL,
        old TEXT NOT NULL,
        new TEXT NOT NULL,
        reason TEXT NOT NULL,
        since DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX kpi_agent_log_at ON kpi_agent_log (agent, at)
    """,
]
