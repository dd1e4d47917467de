"""sdk.database on both backends (the `database` fixture runs each test on SQLite and on a real
PostgreSQL server): statements, batches, transactions, versioned migrations, the key-value
store; and the PostgreSQL backend's own parts: placeholder translation, concurrent migration
from two nodes, `run_sync` without a loop, choosing the backend from a URL."""

from __future__ import annotations

import asyncio

import pytest

from sdk import KeyValueStore
from sdk.database import PostgresDatabase, SqliteDatabase, open_database, postgres_placeholders

STEPS = [
    "CREATE TABLE crm_contacts (number TEXT PRIMARY KEY, name TEXT, score DOUBLE PRECISION, calls INTEGER)",
    "ALTER TABLE crm_contacts ADD COLUMN tier TEXT; CREATE INDEX crm_contacts_tier ON crm_contacts (tier)",
]
INSERT = "INSERT INTO crm_contacts (number, name, score, calls) VALUES (?, ?, ?, ?)"


async def test_rows_are_written_and_read_back_as_dicts(database):
    await database.migrate("crm", STEPS[:1])
    assert await database.execute(INSERT, ("1001", "Ann", 1.5, 3)) == 1
    assert await database.execute(INSERT, ("1002", None, 2, True)) == 1  # an int for a float, a bool for an int
    assert await database.fetch_all("SELECT * FROM crm_contacts ORDER BY number") == [
        {"number": "1001", "name": "Ann", "score": 1.5, "calls": 3},
        {"number": "1002", "name": None, "score": 2.0, "calls": 1},
    ]
    assert await database.fetch_one("SELECT name FROM crm_contacts WHERE number = ?", ("1001",)) == {"name": "Ann"}
    assert await database.fetch_one("SELECT name FROM crm_contacts WHERE number = ?", ("9999",)) is None
    assert await database.execute("UPDATE crm_contacts SET calls = calls + ?", (1,)) == 2
    assert await database.execute("DELETE FROM crm_contacts WHERE number = ?", ("1002",)) == 1
    assert await database.execute("DELETE FROM crm_contacts WHERE number = ?", ("1002",)) == 0


async def test_question_marks_in_string_literals_are_not_placeholders(database):
    await database.migrate("crm", STEPS[:1])
    await database.execute("INSERT INTO crm_contacts (number, name, calls) VALUES (?, 'who?', ?)", ("1", 0))
    await database.execute("INSERT INTO crm_contacts (number, name, calls) VALUES ('it''s ?', ?, ?)", ("?", 1))
    rows = await database.fetch_all("SELECT number, name FROM crm_contacts WHERE name LIKE '%?' OR name = ? "
                                    "ORDER BY calls", ("?",))
    assert rows == [{"number": "1", "name": "who?"}, {"number": "it's ?", "name": "?"}]


def test_placeholders_are_numbered_outside_literals_identifiers_and_comments():
    assert postgres_placeholders("SELECT ? , '?', \"a?\", ? -- ?\n, /* ? */ ?") == \
        "SELECT $1 , '?', \"a?\", $2 -- ?\n, /* ? */ $3"
    assert postgres_placeholders("VALUES ('it''s', ?)") == "VALUES ('it''s', $1)"


async def test_execute_many_is_one_transaction(database):
    await database.migrate("crm", STEPS[:1])
    assert await database.execute_many(INSERT, [("1", "a", 0.5, 1), ("2", "b", 1.5, 2)]) == 2
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        await database.execute_many(INSERT, [("3", "c", 0.0, 0), ("1", "again", 0.0, 0)])
    rows = await database.fetch_all("SELECT number FROM crm_contacts ORDER BY 1")
    assert [row["number"] for row in rows] == ["1", "2"]


async def test_a_transaction_writes_every_batch_or_none(database):
    await database.migrate("crm", STEPS[:1])
    await database.migrate("notes", ["CREATE TABLE crm_notes (number TEXT NOT NULL, text TEXT NOT NULL)"])
    note = "INSERT INTO crm_notes VALUES (?, ?)"
    assert await database.transaction([(INSERT, [("1", "a", 0.0, 0)]), (note, [("1", "hello"), ("1", "again")]),
                                       (note, [])]) == 3
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        await database.transaction([(note, [("2", "lost")]), (INSERT, [("1", "dup", 0.0, 0)])])
    assert await database.fetch_all("SELECT * FROM crm_notes ORDER BY text") == [
        {"number": "1", "text": "again"}, {"number": "1", "text": "hello"}]


async def test_migrations_run_each_step_once_in_order(database):
    assert await database.migrate("crm", STEPS[:1]) == 1
    await database.execute(INSERT, ("1001", "Ann", 0.0, 0))
    assert await database.migrate("crm", STEPS) == 2
    assert await database.migrate("crm", STEPS) == 2  # nothing left to do
    assert await database.fetch_all("SELECT number, tier FROM crm_contacts") == [{"number": "1001", "tier": None}]
    assert await database.fetch_one("SELECT version FROM schema_versions WHERE owner = ?", ("crm",)) == {"version": 2}
    assert await database.migrate("other", ["CREATE TABLE other_things (x TEXT)"]) == 1  # versions are per owner


async def test_a_failing_step_is_rolled_back_and_not_counted(database):
    await database.migrate("crm", STEPS[:1])
    broken = [STEPS[0], "ALTER TABLE crm_contacts ADD COLUMN tier TEXT; CREATE TABLE crm_contacts (x TEXT)"]
    with pytest.raises(Exception, match="already exists"):
        await database.migrate("crm", broken)
    assert await database.fetch_one("SELECT version FROM schema_versions WHERE owner = ?", ("crm",)) == {"version": 1}
    assert await database.migrate("crm", STEPS) == 2  # the ALTER was rolled back with the step: it runs again


async def test_two_nodes_migrating_at_once_run_each_step_once(database):
    # A second Database object on the same store, as a second PBX node starting at the same time.
    if isinstance(database, SqliteDatabase):
        other = SqliteDatabase(database.path)
    else:
        other = PostgresDatabase(database.url)
    try:
        steps = [f"CREATE TABLE crm_step{number} (x TEXT)" for number in range(1, 6)]
        assert await asyncio.gather(database.migrate("crm", steps), other.migrate("crm", steps)) == [5, 5]
        assert await other.migrate("crm", steps) == 5
    finally:
        other.close()


async def test_the_key_value_store_works_on_both(database):
    mine, theirs = KeyValueStore(database, "mine"), KeyValueStore(database, "theirs")
    await mine.set("calls:1002", 1)
    await mine.set("calls:1001", {"name": "Ann", "tags": ["vip"]})
    await mine.set("calls:1002", 2)  # ON CONFLICT ... DO UPDATE SET value = excluded.value
    await theirs.set("calls:1001", "theirs")
    assert await mine.get("calls:1001") == {"name": "Ann", "tags": ["vip"]}
    assert await mine.get("calls:1002") == 2
    assert await mine.keys("calls:") == ["calls:1001", "calls:1002"]
    assert await mine.delete("calls:1001") is True
    assert await mine.delete("calls:1001") is False
    assert (await mine.keys(), await theirs.keys()) == (["calls:1002"], ["calls:1001"])


def test_run_sync_serves_command_line_tools_without_a_loop(database):
    database.run_sync(database.migrate, "crm", STEPS[:1])
    database.run_sync(database.execute, INSERT, ("1", "Ann", 0.0, 0))
    assert database.run_sync(database.fetch_one, "SELECT name FROM crm_contacts") == {"name": "Ann"}


def test_one_postgres_database_serves_one_loop_after_another(postgres_database_url):
    # The CLI runs each command in asyncio.run: a new loop every time, the same Database.
    database = PostgresDatabase(postgres_database_url)
    try:
        asyncio.run(database.migrate("crm", STEPS[:1]))
        asyncio.run(database.execute(INSERT, ("1", "Ann", 0.0, 0)))
        assert asyncio.run(database.fetch_all("SELECT number FROM crm_contacts")) == [{"number": "1"}]
    finally:
        database.close()
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(database.fetch_all("SELECT 1"))


def test_the_backend_is_chosen_by_the_target(tmp_path):
    for url in ("postgresql://pbx@db.example/pbx", "postgres://pbx:secret@db.example:5433/pbx"):
        database = open_database(url)
        assert isinstance(database, PostgresDatabase) and database.url == url
        database.close()  # never connected: nothing to close
    database = open_database(tmp_path / "pbx.sqlite")
    assert isinstance(database, SqliteDatabase)
    database.close()
    database = open_database(str(tmp_path / "other.sqlite"))
    assert isinstance(database, SqliteDatabase)
    database.close()
