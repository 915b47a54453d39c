"""The SIP edge: generated kamailio.cfg, and a real Kamailio 5.6 on loopback.

Each test that needs a fresh reputation speaks from its own loopback source address (127.0.0.x),
since bans and flood limits are per source address.
"""
from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from firmware.switch.adapters.kamailio import (
    EdgeConfig,
    Kamailio,
    SubscriberTable,
    WorkerAddress,
    check_config,
    ha1,
    render_config,
)
from firmware.switch.adapters.lab import Lab
from firmware.switch.adapters.sip_probe import SipProbe, digest_authorization, parse_response
from firmware.switch.adapters.subprocesses import free_port

USERS = {"101": "right-101-password", "102": "right-102-password"}
BAN_AFTER = 10                      # failed authentications (the figure)


def edge_config(tmp: Path, **overrides: object) -> EdgeConfig:
    return EdgeConfig(run_dir=tmp / "edge", subscriber_db=tmp / "subscribers.sqlite", **overrides)


# ------------------------------------------------------------------ the generated files
def test_generated_config_is_accepted_by_kamailio(tmp_path: Path) -> None:
    SubscriberTable(tmp_path / "subscribers.sqlite", realm="callbox")
    cfg = edge_config(tmp_path, sip_port=5070, workers=(WorkerAddress("127.0.0.1", 7001),
                                                         WorkerAddress("127.0.0.1", 7002)),
                      extra_aliases=("callbox.lan",))
    check_config(cfg)
    text = cfg.cfg_path.read_text()
    assert "listen=udp:127.0.0.1:5070" in text and "listen=tcp:127.0.0.1:5070" in text
    assert '#!define BAN_AFTER_FAILURES 10' in text
    assert "autoexpire=900" in text                                     # 15 min ban
    assert "1 sip:127.0.0.1:7002;transport=udp 0 0" in cfg.dispatcher_list.read_text()


def test_generated_config_without_workers_is_accepted(tmp_path: Path) -> None:
    SubscriberTable(tmp_path / "subscribers.sqlite", realm="callbox")
    check_config(edge_config(tmp_path))


@pytest.mark.parametrize("field, value", [
    ("realm", 'callbox"\nloadmodule "evil.so'),
    ("subscriber_table", "subscriber; DROP TABLE x"),
    ("listen_address", "localhost"),
    ("sip_port", 70000),
    ("ban_after_failures", 0),
    ("extra_aliases", ("evil\nlisten=udp:0.0.0.0:5060",)),
])
def test_unsafe_inputs_are_refused(tmp_path: Path, field: str, value: object) -> None:
    with pytest.raises(ValueError):
        edge_config(tmp_path, **{field: value})


def test_config_text_is_a_function_of_the_inputs(tmp_path: Path) -> None:
    cfg = edge_config(tmp_path, ban_after_failures=5, ban_seconds=60, flood_requests=12)
    assert render_config(cfg) == render_config(edge_config(tmp_path, ban_after_failures=5, ban_seconds=60,
                                                           flood_requests=12))
    text = render_config(cfg)
    assert "#!define BAN_AFTER_FAILURES 5" in text and "autoexpire=60" in text
    assert 'modparam("pike", "reqs_density_per_unit", 12)' in text


def test_ha1_and_digest_match_rfc2617_example() -> None:
    # RFC 2617 clause 3.5: Mufasa / "Circle Of Life" at testrealm@host.com
    assert ha1("Mufasa", "testrealm@host.com", "Circle Of Life") == "939e7578ed9e3c518a452acee763bce9"
    challenge = ('Digest realm="testrealm@host.com", qop="auth,auth-int", '
                 'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"')
    value = digest_authorization(challenge, "GET", "/dir/index.html", "Mufasa", "Circle Of Life",
                                 cnonce="0a4f113b")
    assert 'response="6629fae49393a05397450978507c4ef1"' in value
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in value


def test_subscriber_table_keeps_no_clear_password(tmp_path: Path) -> None:
    table = SubscriberTable(tmp_path / "s.sqlite", realm="callbox")
    table.set("101", "pw1")
    table.set("102", "pw2")
    table.set("101", "pw1-new")
    table.remove("102")
    assert table.usernames() == ["101"]
    raw = (tmp_path / "s.sqlite").read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("s.sqlite-*"))
    assert b"pw1-new" not in raw
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        stored = db.execute("SELECT ha1 FROM subscriber WHERE username = '101'").fetchone()
    assert stored == (hashlib.md5(b"101:callbox:pw1-new").hexdigest(),)
    with pytest.raises(ValueError):
        table.set("10 1", "x")


# ------------------------------------------------------------------ a running edge
@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    with Lab(tmp_path_factory.mktemp("edge"), USERS, workers=0) as lab:
        yield lab


def probe(lab: Lab, source: str = "127.0.0.1", transport: str = "udp") -> SipProbe:
    cfg = lab.kamailio.cfg
    return SipProbe((cfg.listen_address, cfg.sip_port), transport=transport, local_host=source)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_register_with_the_right_password_is_stored(lab: Lab, transport: str) -> None:
    with probe(lab, "127.0.0.2", transport) as p:
        first = p.request("REGISTER", f"sip:{lab.edge}", from_user="101", to_uri=lab.uri("101"),
                          headers=("Expires: 60",))
        assert first.status == 401
        assert 'realm="callbox"' in first.header("www-authenticate")
        assert p.register("101", USERS["101"]).status == 200
        contact = f"sip:101@{p.local[0]}:{p.local[1]}"
    assert any(c.startswith(contact) for c in lab.kamailio.registered_contacts("101"))


def test_pjsua_phone_registers_with_the_right_password(lab: Lab) -> None:
    phone = lab.pjsua_phone("102")
    assert any(c.startswith("sip:102@127.0.0.1") for c in lab.kamailio.registered_contacts("102"))
    phone.stop()


def test_pjsua_phone_with_a_wrong_password_is_refused(lab: Lab) -> None:
    with pytest.raises(RuntimeError, match="could not register") as refused:
        lab.pjsua_phone("101", password="wrong")
    assert "'code': 401" in str(refused.value) or "'code': 403" in str(refused.value)


@pytest.mark.parametrize("user, password", [("101", "wrong"), ("199", "no-such-user"), ("", "")])
def test_wrong_credentials_are_challenged_again(lab: Lab, user: str, password: str) -> None:
    with probe(lab, "127.0.0.3") as p:
        assert p.register(user or "101", password).status == 401


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("method", ["INVITE", "MESSAGE", "SUBSCRIBE"])
def test_unauthenticated_requests_are_challenged(lab: Lab, transport: str, method: str) -> None:
    with probe(lab, "127.0.0.4", transport) as p:
        response = p.request(method, lab.uri("102"), from_user="101",
                             headers=("Event: presence",) if method == "SUBSCRIBE" else ())
    assert response.status == 407
    assert response.header("proxy-authenticate").startswith("Digest")


def test_credentials_of_another_user_are_refused(lab: Lab) -> None:
    """An INVITE from 102 carrying 101's valid credentials: the auth user is not the From user."""
    with probe(lab, "127.0.0.5") as p:
        challenge = p.request("INVITE", lab.uri("101"), from_user="102")
        credentials = digest_authorization(challenge.header("proxy-authenticate"), "INVITE",
                                           lab.uri("101"), "101", USERS["101"])
        again = p.request("INVITE", lab.uri("101"), from_user="102",
                          headers=(f"Proxy-Authorization: {credentials}",))
    assert again.status == 407


def test_subscriber_changes_count_without_restart(lab: Lab) -> None:
    with probe(lab, "127.0.0.6") as p:
        lab.table.set("150", "first")
        assert p.register("150", "first").status == 200
        lab.table.set("150", "second")
        assert p.register("150", "first").status == 401
        assert p.register("150", "second").status == 200
        lab.table.remove("150")
        assert p.register("150", "second").status == 401


def test_tenth_failed_authentication_bans_the_source(lab: Lab) -> None:
    attacker, bystander = "127.0.0.9", "127.0.0.10"
    with probe(lab, attacker) as p:
        answers = [p.register("101", f"guess-{n}").status for n in range(BAN_AFTER)]
        assert answers == [401] * (BAN_AFTER - 1) + [403]
        assert attacker in lab.kamailio.banned()
        # banned: even the right password, and any other request, is refused
        assert p.register("101", USERS["101"]).status == 403
        assert p.options().status == 403
        with probe(lab, bystander) as other:
            assert other.register("101", USERS["101"]).status == 200
        lab.kamailio.unban(attacker)
        assert p.register("101", USERS["101"]).status == 200


def test_failures_below_the_threshold_do_not_ban(lab: Lab) -> None:
    with probe(lab, "127.0.0.11") as p:
        for n in range(BAN_AFTER - 1):
            assert p.register("101", f"guess-{n}").status == 401
        assert p.register("101", USERS["101"]).status == 200


def test_a_flood_is_dropped_and_other_sources_still_served(lab: Lab) -> None:
    flood = 5 * lab.kamailio.cfg.flood_requests
    with probe(lab, "127.0.0.12") as p:
        request = ("OPTIONS sip:{edge} SIP/2.0\r\nVia: SIP/2.0/UDP {host}:{port};branch=z9hG4bKf{n}\r\n"
                   "From: <sip:flood@{host}>;tag=f\r\nTo: <sip:{edge}>\r\nCall-ID: flood-{n}\r\n"
                   "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        for n in range(flood):
            p.send_raw(request.format(edge=lab.edge, host=p.local[0], port=p.local[1], n=n).encode())
        answered = 0
        with pytest.raises(TimeoutError):
            while True:
                parse_response(p.receive(timeout_s=1.0))
                answered += 1
    assert 0 < answered < flood
    with probe(lab, "127.0.0.13") as other:
        assert other.options().status == 200


def test_a_phone_cannot_use_the_edge_as_a_relay(lab: Lab) -> None:
    """An in-dialog request with a crafted Route to the edge and a foreign target is refused."""
    with probe(lab, "127.0.0.14") as p:
        # the To tag makes it in-dialog; loose_route accepts the Route; the next hop is no worker
        response = p.request("BYE", "sip:victim@127.0.0.1:9", to_tag="x",
                             headers=(f"Route: <sip:{lab.edge};lr>",))
    assert response.status == 403


def test_a_restarted_edge_starts_with_no_registrations(tmp_path: Path) -> None:
    """Contacts live in memory (usrloc db_mode 0): phones re-register after a restart."""
    SubscriberTable(tmp_path / "subscribers.sqlite", realm="callbox").set("101", "pw")
    cfg = edge_config(tmp_path, sip_port=free_port())
    for _ in range(2):
        with Kamailio(cfg) as edge, SipProbe(("127.0.0.1", cfg.sip_port)) as p:
            assert edge.registered_contacts("101") == []
            assert p.register("101", "pw").status == 200
            assert edge.registered_contacts("101")
