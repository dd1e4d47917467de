"""sdk.database: the SQLite database plugins share (versioned migrations per owner) and each
plugin's key-value store; and sdk.plugins: a plugin's config decoded into its `Config` Struct,
a misfit reported with the path of the key."""

from __future__ import annotations

import sqlite3

import msgspec
import pytest

from sdk import KeyValueStore, PluginConfigError, SqliteDatabase, decode_plugin_config, plugin_name


@pytest.fixture
def database(tmp_path):
    database = SqliteDatabase(tmp_path / "pbx.sqlite")
    yield database
    database.close()


# Key-value store ----------------------------------------------------------------------------------------


async def test_keys_and_values_round_trip_as_json(database):
    store = KeyValueStore(database, "crm")
    assert await store.get("missing") is None
    assert await store.get("missing", 0) == 0
    await store.set("calls:1001", 3)
    await store.set("contact:1001", {"name": "Ann", "tags": ["vip"], "score": 1.5, "active": True})
    assert await store.get("calls:1001") == 3
    assert await store.get("contact:1001") == {"name": "Ann", "tags": ["vip"], "score": 1.5, "active": True}
    await store.set("calls:1001", 4)  # overwrites
    assert await store.get("calls:1001") == 4


async def test_delete_says_whether_the_key_was_there(database):
    store = KeyValueStore(database, "crm")
    await store.set("k", "v")
    assert await store.delete("k") is True
    assert await store.delete("k") is False
    assert await store.get("k") is None


async def test_keys_are_listed_in_order_by_prefix(database):
    store = KeyValueStore(database, "stats")
    for key in ("calls:1002", "calls:1001", "callers", "other:1", "calls:10011"):
        await store.set(key, 1)
    assert await store.keys("calls:") == ["calls:1001", "calls:10011", "calls:1002"]
    assert await store.keys() == ["callers", "calls:1001", "calls:10011", "calls:1002", "other:1"]
    assert await store.keys("none:") == []


async def test_each_plugin_sees_only_its_own_keys(database):
    mine, theirs = KeyValueStore(database, "mine"), KeyValueStore(database, "theirs")
    await mine.set("k", "mine")
    await theirs.set("k", "theirs")
    assert (await mine.get("k"), await theirs.get("k")) == ("mine", "theirs")
    await mine.delete("k")
    assert (await mine.keys(), await theirs.keys()) == ([], ["k"])


async def test_values_outlive_the_process(tmp_path):
    first = SqliteDatabase(tmp_path / "pbx.sqlite")
    await KeyValueStore(first, "stats").set("calls:1001", 7)
    first.close()
    second = SqliteDatabase(tmp_path / "pbx.sqlite")
    try:
        assert await KeyValueStore(second, "stats").get("calls:1001") == 7
    finally:
        second.close()


# Migrations -------------------------------------------------------------------------------------------------

STEPS = [
    "CREATE TABLE crm_contacts (number TEXT PRIMARY KEY, name TEXT)",
    "ALTER TABLE crm_contacts ADD COLUMN tier TEXT; CREATE INDEX crm_contacts_tier ON crm_contacts (tier)",
]


async def test_migrations_run_each_step_once_in_order(database):
    assert await database.migrate("crm", STEPS[:1]) == 1
    await database.execute("INSERT INTO crm_contacts VALUES (?, ?)", ("1001", "Ann"))
    assert await database.migrate("crm", STEPS) == 2
    assert await database.migrate("crm", STEPS) == 2  # nothing left to do
    assert await database.fetch_all("SELECT * FROM crm_contacts") == [{"number": "1001", "name": "Ann", "tier": None}]
    assert await database.fetch_one("SELECT version FROM schema_versions WHERE owner = ?", ("crm",)) == {"version": 2}


async def test_a_failing_step_is_rolled_back_and_not_counted(database):
    await database.migrate("crm", STEPS[:1])
    broken = [STEPS[0], "ALTER TABLE crm_contacts ADD COLUMN tier TEXT; CREATE TABLE crm_contacts (x)"]
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        await database.migrate("crm", broken)
    assert await database.fetch_one("SELECT version FROM schema_versions WHERE owner = ?", ("crm",)) == {"version": 1}
    assert [row["name"] for row in await database.fetch_all("PRAGMA table_info(crm_contacts)")] == ["number", "name"]
    assert await database.migrate("crm", STEPS) == 2


async def test_execute_many_is_one_transaction(database):
    await database.migrate("crm", STEPS[:1])
    assert await database.execute_many("INSERT INTO crm_contacts VALUES (?, ?)", [("1", "a"), ("2", "b")]) == 2
    with pytest.raises(sqlite3.IntegrityError):
        await database.execute_many("INSERT INTO crm_contacts VALUES (?, ?)", [("3", "c"), ("1", "again")])
    rows = await database.fetch_all("SELECT number FROM crm_contacts ORDER BY 1")
    assert [row["number"] for row in rows] == ["1", "2"]
    assert await database.execute("DELETE FROM crm_contacts WHERE number = ?", ("2",)) == 1


# Plugin config ------------------------------------------------------------------------------------------------


class Endpoint(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: str
    timeout: float = 1.0


class Configured:
    name = "configured"

    class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        endpoint: Endpoint
        retries: int = 2
        fallbacks: list[Endpoint] = []


class Unconfigured:
    pass


WHERE = "plugins.configured.config"


def test_a_section_that_fits_becomes_the_config_struct():
    config = decode_plugin_config(Configured, {"endpoint": {"url": "http://crm"}, "retries": 5}, WHERE)
    assert config == Configured.Config(endpoint=Endpoint(url="http://crm"), retries=5)
    assert decode_plugin_config(Configured, config, WHERE) is config  # already decoded


@pytest.mark.parametrize(("raw", "path", "message"), [
    ({"endpoint": {"url": "x"}, "retrys": 1}, ["retrys"], "Object contains unknown field `retrys`"),
    ({"endpoint": {"url": "x", "timout": 1}}, ["endpoint", "timout"],
     "Object contains unknown field `timout` - at `$.endpoint`"),
    ({"endpoint": {"url": 5}}, ["endpoint", "url"], "Expected `str`, got `int` - at `$.endpoint.url`"),
    ({"endpoint": {"url": "x"}, "fallbacks": [{"url": "y"}, {"url": "z", "timeout": "1s"}]},
     ["fallbacks", 1, "timeout"], "Expected `float`, got `str` - at `$.fallbacks[1].timeout`"),
    ({}, [], "Object missing required field `endpoint`"),
])
def test_a_section_that_does_not_fit_names_the_key(raw, path, message):
    with pytest.raises(PluginConfigError) as refused:
        decode_plugin_config(Configured, raw, WHERE)
    assert refused.value.path == path
    assert str(refused.value) == f"{WHERE}: {message}"


def test_a_plugin_without_config_takes_no_options():
    assert decode_plugin_config(Unconfigured, {}, "plugins.bare.config") is None
    assert decode_plugin_config(Unconfigured, None, "plugins.bare.config") is None
    with pytest.raises(PluginConfigError, match=r"plugins\.bare\.config: plugin takes no options, got \['a', 'b'\]"):
        decode_plugin_config(Unconfigured, {"b": 1, "a": 2}, "plugins.bare.config")


def test_a_plugin_is_named_by_its_name_attribute_else_its_module():
    import sdk.testing

    assert plugin_name(Configured) == "configured"
    assert plugin_name(Configured()) == "configured"
    assert plugin_name(sdk.testing) == "testing"
    assert plugin_name(Unconfigured()) == "test_database"  # an object: its class's module
