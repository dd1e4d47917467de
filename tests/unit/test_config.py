"""Typed config: the example file loads; mistakes name the key path and the line."""

from pathlib import Path

import pytest

from pbx.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_loads_with_five_extensions():
    config = load_config(ROOT / "config.example.yaml")
    assert sorted(config.extensions) == ["1001", "1002", "1003", "1004", "1005"]
    assert config.extensions["1003"].password == "secret1003"
    assert [(l.transport, l.host, l.port) for l in config.sip.listen] == [("udp", "127.0.0.1", 5060), ("tcp", "127.0.0.1", 5060)]


def test_unknown_key_names_path_and_line():
    text = "realm: x\nsip:\n  listen:\n    - transport: udp\n      portt: 5060\n"
    with pytest.raises(ConfigError) as error:
        parse_config(text, "pbx.yaml")
    message = str(error.value)
    assert message.startswith("pbx.yaml:5:")
    assert "portt" in message and "$.sip.listen[0]" in message


def test_wrong_type_names_path_and_line():
    text = "realm: x\nregistrar:\n  min_expires: soon\n"
    with pytest.raises(ConfigError) as error:
        parse_config(text, "pbx.yaml")
    assert str(error.value).startswith("pbx.yaml:3:") and "$.registrar.min_expires" in str(error.value)


def test_invalid_value_is_reported():
    with pytest.raises(ConfigError, match="min_expires"):
        parse_config("realm: x\nregistrar: {min_expires: 900, default_expires: 60}\n", "c.yaml")
    with pytest.raises(ConfigError, match="transport"):
        parse_config("realm: x\nsip: {listen: [{transport: sctp}]}\n", "c.yaml")


def test_a_database_that_is_not_a_postgresql_url_is_refused():
    with pytest.raises(ConfigError, match="not a postgresql://user@host/db URL"):
        parse_config("realm: x\ndatabase: mysql://pbx@db/pbx\n", "c.yaml")
    assert parse_config("realm: x\ndatabase: postgresql://pbx@db/pbx\n", "c.yaml").database == "postgresql://pbx@db/pbx"


def test_yaml_syntax_error_has_line_and_column():
    with pytest.raises(ConfigError) as error:
        parse_config("realm: x\nsip: [\n", "bad.yaml")
    assert str(error.value).startswith("bad.yaml:3:")


def test_missing_realm_and_integer_extension_keys():
    with pytest.raises(ConfigError, match="realm"):
        parse_config("extensions: {}\n")
    config = parse_config("realm: x\nextensions:\n  1001: {password: a}\n")
    assert list(config.extensions) == ["1001"]


def test_unknown_top_level_key_names_its_line():
    text = "realm: x\nsip: {}\n\nregistar:\n  min_expires: 60\n"
    with pytest.raises(ConfigError) as error:
        parse_config(text, "typo.yaml")
    assert str(error.value).startswith("typo.yaml:4:") and "registar" in str(error.value)


def test_security_trusted_takes_addresses_and_cidrs_and_names_a_bad_entry():
    config = parse_config("realm: pbx.test\nsecurity: {trusted: [203.0.113.7, 198.51.100.0/24, '2001:db8::/32']}\n")
    assert [str(n) for n in config.security.trusted_networks] == ["203.0.113.7/32", "198.51.100.0/24", "2001:db8::/32"]
    with pytest.raises(ConfigError, match="office-nat"):
        parse_config("realm: pbx.test\nsecurity: {trusted: [office-nat]}\n")
