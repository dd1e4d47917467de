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

kpi_journeys also keeps `previous_started_at` / `next_started_at`: the start of the same
caller's latest earlier and earliest later journey (any state), kept by the store as journeys
are inserted (not fields of records.Journey, so a journey's upsert never overwrites them).
kpi_queue_calls keeps, per answered visit, the handle time and transfer of its agent segment.

The rollups (rollups.py: what each column sums, and how they are kept and rebuilt):
- kpi_queue_slots, kpi_agent_slots, kpi_agent_pause_slots, kpi_contact_slots, kpi_ivr_slots:
  sums per UTC 15-minute slot (`slot` = floor(t / 900)) of the rows above;
- kpi_staffed_changes: the agent log rows that cross the staffed line, for availability;
- kpi_rollup_settings: the config the rollups were computed with.
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
        cost DOUBLE PRECISION,
        previous_started_at DOUBLE PRECISION,
        next_started_at DOUBLE PRECISION
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
        handle_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
        transferred INTEGER NOT NULL DEFAULT 0,
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
    CREATE INDEX kpi_agent_log_at ON kpi_agent_log (agent, at);
    CREATE TABLE kpi_queue_slots (
        queue TEXT NOT NULL,
        slot BIGINT NOT NULL,
        offered INTEGER NOT NULL,
        answered INTEGER NOT NULL,
        abandoned INTEGER NOT NULL,
        short_abandoned INTEGER NOT NULL,
        timed_out INTEGER NOT NULL,
        overflowed INTEGER NOT NULL,
        answered_within INTEGER NOT NULL,
        abandoned_within INTEGER NOT NULL,
        transferred INTEGER NOT NULL,
        answered_wait DOUBLE PRECISION NOT NULL,
        total_wait DOUBLE PRECISION NOT NULL,
        handle DOUBLE PRECISION NOT NULL,
        longest_wait DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (queue, slot)
    );
    CREATE TABLE kpi_agent_slots (
        agent TEXT NOT NULL,
        slot BIGINT NOT NULL,
        answered INTEGER NOT NULL,
        logged_in DOUBLE PRECISION NOT NULL,
        staffed DOUBLE PRECISION NOT NULL,
        busy DOUBLE PRECISION NOT NULL,
        paused DOUBLE PRECISION NOT NULL,
        talk DOUBLE PRECISION NOT NULL,
        hold DOUBLE PRECISION NOT NULL,
        wrapup DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (agent, slot)
    );
    CREATE TABLE kpi_agent_pause_slots (
        agent TEXT NOT NULL,
        slot BIGINT NOT NULL,
        reason TEXT NOT NULL,
        seconds DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (agent, slot, reason)
    );
    CREATE TABLE kpi_contact_slots (
        scope TEXT NOT NULL,
        slot BIGINT NOT NULL,
        journeys INTEGER NOT NULL,
        answered INTEGER NOT NULL,
        repeats INTEGER NOT NULL,
        resolved INTEGER NOT NULL,
        blocked INTEGER NOT NULL,
        csat_count INTEGER NOT NULL,
        csat_sum INTEGER NOT NULL,
        csat_satisfied INTEGER NOT NULL,
        nps_count INTEGER NOT NULL,
        promoters INTEGER NOT NULL,
        detractors INTEGER NOT NULL,
        ces_count INTEGER NOT NULL,
        ces_sum INTEGER NOT NULL,
        mos_count INTEGER NOT NULL,
        poor_quality INTEGER NOT NULL,
        ivr_journeys INTEGER NOT NULL,
        ivr_contained INTEGER NOT NULL,
        mos_sum DOUBLE PRECISION NOT NULL,
        cost_total DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (scope, slot)
    );
    CREATE TABLE kpi_ivr_slots (
        scenario TEXT NOT NULL,
        node TEXT NOT NULL,
        slot BIGINT NOT NULL,
        dropped INTEGER NOT NULL,
        PRIMARY KEY (scenario, node, slot)
    );
    CREATE TABLE kpi_staffed_changes (
        agent TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        since DOUBLE PRECISION NOT NULL,
        staffed INTEGER NOT NULL,
        PRIMARY KEY (agent, at, since, staffed)
    );
    CREATE INDEX kpi_staffed_changes_at ON kpi_staffed_changes (at);
    CREATE TABLE kpi_rollup_settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )
    """,
]
