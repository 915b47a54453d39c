"""A corpus of malformed SIP thrown at the edge (UDP and TCP) and at a media worker (UDP).

Nothing may crash; afterwards a normal REGISTER works over both transports and a normal call
still completes through the same edge and worker. The corpus is fixed (seeded), so a failure
names the message that caused it. Each message comes from its own loopback source address so
that flood limits (pike) do not hide the deeper parsers from the later messages.
"""
from __future__ import annotations

import contextlib
import random
import socket
from collections.abc import Iterator

import pytest

from firmware.switch.adapters.lab import Lab, first_event
from firmware.switch.adapters.sip_probe import SipProbe, digest_authorization, parse_response

USERS = {"101": "malformed-101", "102": "malformed-102"}
SEED = 20240611
UDP_MAX_PAYLOAD = 65507             # bytes: largest UDP datagram over IPv4
TCP_BIG_HEADER = 200_000            # bytes: far past Kamailio's 64 KB buffer


def valid_register(edge: str, *, body: bytes = b"", extra: str = "", call_id: str = "corpus-call") -> bytes:
    return (f"REGISTER sip:{edge} SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKcorpus;rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:101@{edge}>;tag=corpus\r\n"
            f"To: <sip:101@{edge}>\r\n"
            f"Call-ID: {call_id}@127.0.0.1\r\n"
            "CSeq: 1 REGISTER\r\n"
            "Contact: <sip:101@127.0.0.1:5999>\r\n"
            f"{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def request(start_line: str, headers: dict[str, str], body: bytes = b"",
            content_length: str | None = None) -> bytes:
    lines = [start_line, *(f"{k}: {v}" for k, v in headers.items())]
    lines.append(f"Content-Length: {len(body) if content_length is None else content_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


def base_headers(edge: str, method: str = "INVITE") -> dict[str, str]:
    return {"Via": "SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKbad;rport", "Max-Forwards": "70",
            "From": f"<sip:101@{edge}>;tag=bad", "To": f"<sip:102@{edge}>",
            "Call-ID": "bad-call@127.0.0.1", "CSeq": f"1 {method}",
            "Contact": "<sip:101@127.0.0.1:5999>"}


def corpus(edge: str, huge_header: int) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of each malformed message."""
    rng = random.Random(SEED)
    good = valid_register(edge)
    for cut in range(0, len(good), 23):
        yield f"truncated-at-{cut}", good[:cut]
    yield "huge-header", valid_register(edge, extra="Subject: " + "A" * huge_header + "\r\n")
    yield "500-vias", valid_register(edge, extra="".join(
        f"Via: SIP/2.0/UDP 10.0.{i // 250}.{i % 250}:5060;branch=z9hG4bK{i}\r\n" for i in range(500)))
    yield "long-header-name", valid_register(edge, extra="X" * 5000 + ": y\r\n")
    yield "header-without-colon", valid_register(edge, extra="NoColonHere\r\n")
    yield "folded-garbage", valid_register(edge, extra="Subject: a\r\n \r\n \t\r\n")
    h = base_headers(edge)
    start = f"INVITE sip:102@{edge} SIP/2.0"
    for name, length, body in [("cl-too-long", "500", b"v=0\r\n"), ("cl-negative", "-1", b"x"),
                               ("cl-not-a-number", "abc", b""), ("cl-overflow", "9" * 30, b""),
                               ("cl-zero-with-body", "0", b"v=0\r\n" * 20), ("cl-space", " 1 2", b"x")]:
        yield name, request(start, h, body, content_length=length)
    yield "two-content-lengths", request(start, {**h, "Content-Length": "3"}, b"abcdef")
    for name, uri in [("uri-at-signs", "sip:@@@"), ("uri-open-ipv6", "sip:[::1"),
                      ("uri-port-too-big", "sip:102@127.0.0.1:99999"), ("uri-angle", "<sip:102>"),
                      ("uri-long-user", "sip:" + "a" * 5000 + "@x"), ("uri-percent", "sips:%00%ff%"),
                      ("uri-tel-params", "tel:+1;;;;=;"), ("uri-empty", ""), ("uri-spaces", "sip:a b@c")]:
        yield name, request(f"INVITE {uri} SIP/2.0", h)
    for name, header, value in [
            ("from-bad-uri", "From", "<:::>;tag=1"), ("to-no-uri", "To", "<>"),
            ("contact-bad-port", "Contact", "<sip:101@127.0.0.1:-5>"),
            ("contact-star-invite", "Contact", "*"), ("via-garbage", "Via", ";;;"),
            ("via-bad-port", "Via", "SIP/2.0/UDP 127.0.0.1:70000;branch=z9hG4bKx"),
            ("cseq-garbage", "CSeq", "abc INVITE"), ("cseq-huge", "CSeq", f"{2**70} INVITE"),
            ("cseq-mismatch", "CSeq", "1 BYE"), ("maxfwd-garbage", "Max-Forwards", "-7x"),
            ("expires-garbage", "Expires", "\x00\x01"), ("nul-in-value", "Subject", "a\x00b")]:
        yield name, request(start, {**h, header: value})
    for missing in ("Via", "From", "To", "Call-ID", "CSeq"):
        yield f"no-{missing.lower()}", request(start, {k: v for k, v in h.items() if k != missing})
    for name, line in [("bare-method", "INVITE"), ("http", "GET / HTTP/1.1"),
                       ("sip-version-9", start[:-3] + "9.9"), ("empty", ""),
                       ("long-method", "A" * 1000 + f" sip:{edge} SIP/2.0"),
                       ("stray-response", "SIP/2.0 200 OK"), ("bad-status", "SIP/2.0 99999 Huh")]:
        yield name, request(line, h)
    yield "non-utf8-headers", valid_register(edge).replace(b"corpus", b"\xff\xfe\xc3(")
    for n in range(40):
        yield f"random-{n}", rng.randbytes(rng.randint(1, 2000))
    for n in range(40):
        mutated = bytearray(good)
        for _ in range(rng.randint(1, 12)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        yield f"mutated-{n}", bytes(mutated)


def authenticated_corpus(lab: Lab, probe: SipProbe) -> Iterator[tuple[str, bytes]]:
    """Malformed bodies and values behind valid credentials: they reach the registrar and the
    media workers (auth_db accepts a nonce again while it is fresh)."""
    edge = lab.edge
    challenge = probe.request("REGISTER", f"sip:{edge}", from_user="101",
                              to_uri=lab.uri("101")).header("www-authenticate")
    assert challenge is not None

    def auth(method: str, uri: str) -> str:
        return digest_authorization(challenge, method, uri, "101", USERS["101"])

    register_uri = f"sip:{edge}"
    for name, extra in [("expires-negative", "Expires: -1\r\n"), ("expires-huge", f"Expires: {2**64}\r\n"),
                        ("contact-star-nonzero", "Contact: *\r\nExpires: 60\r\n"),
                        ("contact-bad-host", "Contact: <sip:101@[zz::1]:5060>\r\n"),
                        ("contact-1000", "".join(f"Contact: <sip:101@127.0.0.{i % 250}:{1024 + i}>\r\n"
                                                 for i in range(1000))),
                        ("contact-q-garbage", "Contact: <sip:101@127.0.0.1:5999>;q=abc;expires=zz\r\n")]:
        yield f"auth-register-{name}", valid_register(
            edge, extra=f"Authorization: {auth('REGISTER', register_uri)}\r\n{extra}", call_id=name)
    invite_uri = f"sip:199@{edge}"
    h = {**base_headers(edge), "Content-Type": "application/sdp"}
    for name, sdp in [("sdp-garbage", b"\x00\xff garbage"), ("sdp-no-media", b"v=0\r\n"),
                      ("sdp-bad-port", b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                                       b"t=0 0\r\nm=audio 99999999 RTP/AVP 0\r\n"),
                      ("sdp-bad-address", b"v=0\r\no=- 1 1 IN IP4 x\r\ns=-\r\nc=IN IP4 999.1.1.1\r\n"
                                          b"t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"),
                      ("sdp-1000-codecs", b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                                          b"t=0 0\r\nm=audio 4000 RTP/AVP " + b" ".join(
                                              str(i % 128).encode() for i in range(1000)) + b"\r\n")]:
        headers = {**h, "Call-ID": f"{name}@127.0.0.1",
                   "Proxy-Authorization": auth("INVITE", invite_uri)}
        yield f"auth-invite-{name}", request(f"INVITE {invite_uri} SIP/2.0", headers, sdp)


def sources() -> Iterator[str]:
    n = 0
    while True:
        n += 1
        yield f"127.0.1.{n % 250 + 1}"


def send_udp(target: tuple[str, int], source: str, data: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.sendto(data[:UDP_MAX_PAYLOAD], target)


def send_tcp(target: tuple[str, int], source: str, data: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        sock.bind((source, 0))
        sock.connect(target)
        with contextlib.suppress(OSError):      # the edge may close on us mid-way: that is fine
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass


def final_status(probe: SipProbe, call_id: str) -> int | None:
    """The final status answering ``call_id``, None if none comes within a second."""
    with contextlib.suppress(TimeoutError):
        while True:
            response = parse_response(probe.receive(timeout_s=1.0))
            if response.status >= 200 and response.header("call-id") == call_id:
                return response.status
    return None


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    with Lab(tmp_path_factory.mktemp("malformed"), USERS, workers=1) as lab:
        yield lab


def edge_is_healthy(lab: Lab) -> None:
    assert lab.kamailio.process.alive(), lab.kamailio.process.log_tail()
    log = lab.kamailio.cfg.log_path.read_text(errors="replace")
    for sign in ("exited by a signal", "segfault", "core dumped", "CRITICAL"):
        assert sign not in log, f"Kamailio log shows {sign!r}:\n{lab.kamailio.process.log_tail()}"


def test_the_corpus_crashes_nothing_and_service_goes_on(lab: Lab) -> None:
    edge = (lab.kamailio.cfg.listen_address, lab.kamailio.cfg.sip_port)
    worker = lab.workers[0]
    worker_target = ("127.0.0.1", worker.settings.sip_port)
    source = sources()
    for _name, data in corpus(lab.edge, huge_header=60_000):
        send_udp(edge, next(source), data)
        send_udp(worker_target, next(source), data)
    for _name, data in corpus(lab.edge, huge_header=TCP_BIG_HEADER):
        send_tcp(edge, next(source), data)
    with SipProbe(edge, local_host="127.0.2.1") as probe:
        answers = {}
        for name, data in authenticated_corpus(lab, probe):
            probe.send_raw(data)
            answers[name] = final_status(probe, f"{name.split('-', 2)[2]}@127.0.0.1")
    # the credentials were good: each message got past auth to the registrar or a worker
    assert not {name: code for name, code in answers.items() if code in (401, 407)}, answers
    # whatever reached the worker as a call is hung up by the runtime (here: the test)
    with contextlib.suppress(TimeoutError):
        while True:
            incoming = worker.wait_event("incoming", timeout_s=1.0)
            worker.command("hangup", leg=incoming["leg"], code=488)

    assert answers["auth-register-contact-1000"] == 503          # max_contacts per user
    edge_is_healthy(lab)
    assert worker.process.alive() and worker.command("ping")["ok"]
    for transport in ("udp", "tcp"):
        with SipProbe(edge, transport=transport) as probe:
            assert probe.register("101", USERS["101"]).status == 200

    phone101, phone102 = lab.pjsua_phone("101"), lab.pjsua_phone("102")
    phone101.command("make_call", leg="after", uri=lab.uri("102"))
    worker, incoming = first_event(lab.workers, "incoming")
    worker.command("make_call", leg="b", uri=lab.uri("102"), caller=incoming["from"])
    ringing = phone102.wait_event("incoming")
    phone102.command("answer", leg=ringing["leg"])
    worker.wait_event("answered", "b")
    worker.command("answer", leg=incoming["leg"])
    worker.command("bridge", a=incoming["leg"], b="b")
    phone101.wait_event("answered", "after")
    phone101.command("send_dtmf", leg="after", digits="9")
    assert phone102.wait_event("dtmf", ringing["leg"])["digit"] == "9"
    phone101.command("hangup", leg="after")
    worker.wait_event("hangup", incoming["leg"])
    worker.command("hangup", leg="b")
    assert phone102.wait_event("hangup", ringing["leg"])["code"] == 200
    edge_is_healthy(lab)
