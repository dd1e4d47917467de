"""TLS in the config: `transport: tls` listeners and `admin.tls`, their files checked when the config loads."""

from __future__ import annotations

import pytest
import trustme

from pbx.cli import apply_overrides, build_parser
from pbx.config import ConfigError, load_config, parse_config

CONFIG = """\
realm: pbx.test
sip:
  listen:
    - {transport: udp, port: 0}
    - {transport: tls, port: 0, certificate: tls/pbx.pem, private_key: tls/pbx.key, ca: tls/ca.pem}
admin:
  listen: {port: 0}
  tls: {certificate: tls/pbx.pem, private_key: tls/pbx.key}
"""


@pytest.fixture
def site(tmp_path):
    """A config directory with a test CA and a leaf for 127.0.0.1 in tls/."""
    authority = trustme.CA()
    leaf = authority.issue_cert("127.0.0.1")
    (tmp_path / "tls").mkdir()
    leaf.cert_chain_pems[0].write_to_path(tmp_path / "tls/pbx.pem")
    leaf.private_key_pem.write_to_path(tmp_path / "tls/pbx.key")
    authority.cert_pem.write_to_path(tmp_path / "tls/ca.pem")
    return tmp_path


def test_tls_files_are_taken_from_the_config_directory(site):
    (site / "pbx.yaml").write_text(CONFIG)
    config = load_config(site / "pbx.yaml")
    tls = config.sip.listen[1]
    assert (tls.transport, tls.certificate, tls.private_key, tls.ca, tls.verify_clients) == (
        "tls", str(site / "tls/pbx.pem"), str(site / "tls/pbx.key"), str(site / "tls/ca.pem"), False)
    assert config.admin.tls.certificate == str(site / "tls/pbx.pem")


def test_sip_listen_on_the_command_line_keeps_the_tls_listener(site):
    (site / "pbx.yaml").write_text(CONFIG)
    arguments = build_parser().parse_args(["run", "--config", str(site / "pbx.yaml"), "--sip-listen", "127.0.0.1:5999"])
    config = apply_overrides(load_config(site / "pbx.yaml"), arguments)
    assert [(listen.transport, listen.port) for listen in config.sip.listen] == [
        ("udp", 5999), ("tcp", 5999), ("tls", 0)]


def test_a_missing_certificate_is_a_config_error_naming_the_file_and_the_line(site):
    (site / "tls/pbx.pem").unlink()
    (site / "pbx.yaml").write_text(CONFIG)
    with pytest.raises(ConfigError) as caught:
        load_config(site / "pbx.yaml")
    assert str(caught.value) == (f"{site / 'pbx.yaml'}:5: $.sip.listen[1].certificate: "
                                 f"cannot read {site / 'tls/pbx.pem'}: No such file or directory")


def test_a_missing_admin_key_is_named(site):
    (site / "pbx.yaml").write_text(CONFIG.replace("private_key: tls/pbx.key}\n", "private_key: tls/nokey}\n"))
    with pytest.raises(ConfigError, match=r"\$\.admin\.tls\.private_key: cannot read .*tls/nokey"):
        load_config(site / "pbx.yaml")


def test_a_file_that_is_not_pem_is_named(site):
    (site / "tls/pbx.key").write_text("not a key\n")
    (site / "pbx.yaml").write_text(CONFIG)
    with pytest.raises(ConfigError, match=r"pbx\.pem and .*pbx\.key are not a PEM certificate and its private key"):
        load_config(site / "pbx.yaml")


def test_an_unreadable_ca_is_named(site):
    (site / "tls/ca.pem").unlink()
    (site / "pbx.yaml").write_text(CONFIG)
    with pytest.raises(ConfigError, match=r"\$\.sip\.listen\[1\]\.ca: cannot read .*ca\.pem"):
        load_config(site / "pbx.yaml")


def test_a_tls_listener_needs_its_certificate_and_key():
    with pytest.raises(ConfigError, match="a tls listener needs certificate: and private_key:"):
        parse_config("realm: x\nsip: {listen: [{transport: tls, port: 5061}]}\n")


def test_certificates_on_a_tcp_listener_are_an_error():
    with pytest.raises(ConfigError, match="are for tls listeners, not tcp"):
        parse_config("realm: x\nsip: {listen: [{transport: tcp, certificate: a.pem}]}\n")
