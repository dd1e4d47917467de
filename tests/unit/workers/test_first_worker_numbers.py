"""Which dialled numbers only worker 0 can serve (Pbx._needs_first_worker, the dispatcher's rule 3)."""

from __future__ import annotations

from pbx.app import Pbx
from pbx.config import parse_config
from pbx.sip.registrar import Binding
from pbx.sip.transaction import Peer
from pbx.sip.uri import NameAddress
from pbx.workers import WorkerPlace

NOW = 1_800_000_000.0
CONFIG = """
realm: pbx.test
admin: {listen: {host: 127.0.0.1, port: 0}}
extensions:
  "1001": {password: secret1001}
  "1002": {password: secret1002}
queues: {sales: {members: [{agent: alice}]}}
agents: {alice: {extension: "1001"}}
routes:
  - {match: "700", queue: sales}
  - {match: "_9XX", extension: "1002"}
"""


def second_worker(tmp_path) -> Pbx:
    place = WorkerPlace(index=1, count=2, channel_ports=[1, 2], channel_fd=-1, ready_fd=-1,
                        listen=[("udp", "127.0.0.1", 5060)], secret="00" * 32)
    return Pbx(parse_config(CONFIG + f"data_dir: {tmp_path / 'data'}\n"), clock=lambda: NOW, entry_points=False,
               worker=place)


def phone(extension: str, transport: str) -> Binding:
    return Binding(aor=f"sip:{extension}@pbx.test", extension=extension,
                   contact=NameAddress.parse(f"<sip:{extension}@127.0.0.1:5070;transport={transport}>"),
                   call_id=f"reg-{extension}", cseq=1, expires_at=NOW + 600, registered_at=NOW,
                   source=Peer(transport, "127.0.0.1", 40000), user_agent=None)


def test_queues_routes_and_feature_codes_need_worker_0_extensions_on_udp_do_not(tmp_path):
    pbx = second_worker(tmp_path)
    assert pbx.config.admin.listen is None  # the admin API is worker 0's
    assert pbx._needs_first_worker("700") and pbx._needs_first_worker("901")
    assert pbx._needs_first_worker(pbx.config.feature_codes.login)
    assert not pbx._needs_first_worker("1002") and not pbx._needs_first_worker("600")  # 600: the echo test
    pbx.registrar.restore(phone("1002", "udp"), NOW)
    assert not pbx._needs_first_worker("1002")


def test_an_extension_registered_over_tcp_needs_worker_0_which_holds_the_connection(tmp_path):
    pbx = second_worker(tmp_path)
    pbx.registrar.restore(phone("1002", "tcp"), NOW)
    assert pbx._needs_first_worker("1002")
    assert pbx.calls.contact_user == "pbx-w1" and pbx.relay._pool.low > 20000  # its own Contact and RTP ports


def test_a_config_asking_for_no_workers_is_refused_where_it_says_so():
    import pytest

    from pbx.config import ConfigError

    with pytest.raises(ConfigError, match=r"<config>:3: Expected `int` >= 1 - at `\$.workers`"):
        parse_config("realm: pbx.test\nextensions: {}\nworkers: 0\n")
