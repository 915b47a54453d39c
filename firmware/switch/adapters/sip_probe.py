"""A tiny SIP user agent client: one request at a time, every status code visible.

Used to check that the SIP edge answers (OPTIONS), that a subscriber can register (digest
REGISTER, RFC 3261 clause 22 with RFC 2617 MD5 and qop=auth), and by tests that need to see each
401/403/407 and to throw malformed bytes at the edge. It keeps no dialog state and does not
retransmit: it runs on loopback or a LAN, and a missing answer is itself the observation (a
dropped flood, a banned source).
"""
from __future__ import annotations

import hashlib
import re
import secrets
import socket
import time
from dataclasses import dataclass, field

SIP_VERSION = "SIP/2.0"
DEFAULT_TIMEOUT_S = 2.0          # s: a loopback edge answers in milliseconds
MAX_MESSAGE_BYTES = 65535        # largest SIP message read back (Kamailio's BUF_SIZE)
COMPACT_HEADERS = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
                   "l": "content-length", "c": "content-type", "k": "supported", "s": "subject"}


@dataclass(frozen=True)
class SipResponse:
    status: int
    reason: str
    headers: dict[str, list[str]] = field(repr=False)   # lower-case full names -> values in order

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


def parse_response(data: bytes) -> SipResponse:
    """Status line and headers of one SIP response; ValueError if it is not one."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", errors="replace")
    lines = head.split("\r\n")
    match = re.fullmatch(r"SIP/2\.0 (\d{3}) ?(.*)", lines[0])
    if not match:
        raise ValueError(f"not a SIP response: {lines[0][:80]!r}")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = name.strip().lower()
        headers.setdefault(COMPACT_HEADERS.get(key, key), []).append(value.strip())
    return SipResponse(int(match.group(1)), match.group(2), headers)


def digest_params(challenge: str) -> dict[str, str]:
    """The parameters of a ``Digest ...`` WWW-/Proxy-Authenticate value."""
    scheme, _, rest = challenge.partition(" ")
    if scheme.lower() != "digest":
        raise ValueError(f"not a digest challenge: {challenge[:60]!r}")
    return {k.lower(): v1 or v2 for k, v1, v2 in re.findall(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', rest)}


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def digest_authorization(challenge: str, method: str, uri: str, user: str, password: str,
                         cnonce: str | None = None) -> str:
    """The Authorization value answering ``challenge`` (RFC 2617 clause 3.2.2, MD5, qop=auth or none)."""
    p = digest_params(challenge)
    ha1 = _md5(f"{user}:{p['realm']}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    fields = [f'username="{user}"', f'realm="{p["realm"]}"', f'nonce="{p["nonce"]}"', f'uri="{uri}"',
              "algorithm=MD5"]
    if "auth" in p.get("qop", "").split(","):
        cnonce, nc = cnonce or secrets.token_hex(8), "00000001"
        response = _md5(f"{ha1}:{p['nonce']}:{nc}:{cnonce}:auth:{ha2}")
        fields += [f'cnonce="{cnonce}"', f"nc={nc}", "qop=auth"]
    else:
        response = _md5(f"{ha1}:{p['nonce']}:{ha2}")
    if "opaque" in p:
        fields.append(f'opaque="{p["opaque"]}"')
    fields.append(f'response="{response}"')
    return "Digest " + ", ".join(fields)


class SipProbe:
    """One socket (UDP, or one TCP connection) from ``local_host`` to a SIP server."""

    def __init__(self, server: tuple[str, int], transport: str = "udp", local_host: str = "127.0.0.1",
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if transport not in ("udp", "tcp"):
            raise ValueError(f"transport must be 'udp' or 'tcp', got {transport!r}")
        self.server = server
        self.transport = transport
        self.timeout_s = timeout_s
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind((local_host, 0))
        self.sock.settimeout(timeout_s)
        if transport == "tcp":
            self.sock.connect(server)
        self.local = self.sock.getsockname()
        self._tcp_buffer = b""
        self._cseq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> SipProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ raw bytes
    def send_raw(self, data: bytes) -> None:
        if self.transport == "udp":
            self.sock.sendto(data, self.server)
        else:
            self.sock.sendall(data)

    def receive(self, timeout_s: float | None = None) -> bytes:
        """One SIP message; TimeoutError when nothing comes in time."""
        self.sock.settimeout(self.timeout_s if timeout_s is None else timeout_s)
        try:
            if self.transport == "udp":
                return self.sock.recv(MAX_MESSAGE_BYTES)
            return self._receive_tcp()
        except TimeoutError as exc:
            raise TimeoutError(f"no SIP message from {self.server} within the timeout") from exc

    def _receive_tcp(self) -> bytes:
        while True:
            head_end = self._tcp_buffer.find(b"\r\n\r\n")
            if head_end >= 0:
                match = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)",
                                  self._tcp_buffer[:head_end])
                total = head_end + 4 + (int(match.group(1)) if match else 0)
                if len(self._tcp_buffer) >= total:
                    message, self._tcp_buffer = self._tcp_buffer[:total], self._tcp_buffer[total:]
                    return message
            chunk = self.sock.recv(MAX_MESSAGE_BYTES)
            if not chunk:
                raise ConnectionError(f"{self.server} closed the TCP connection")
            self._tcp_buffer += chunk

    # ------------------------------------------------------------------ requests
    def request(self, method: str, uri: str, *, from_user: str = "probe", to_uri: str | None = None,
                headers: tuple[str, ...] = (), body: bytes = b"", call_id: str | None = None,
                from_tag: str | None = None, to_tag: str | None = None) -> SipResponse:
        """Send one request and return its final response (provisional ones are skipped)."""
        self._cseq += 1
        host, port = self.local
        branch = "z9hG4bK" + secrets.token_hex(8)
        from_tag = from_tag or secrets.token_hex(4)
        call_id = call_id or f"{secrets.token_hex(8)}@{host}"
        server_host = f"{self.server[0]}:{self.server[1]}"
        to_uri = to_uri or uri
        lines = [
            f"{method} {uri} {SIP_VERSION}",
            f"Via: {SIP_VERSION}/{self.transport.upper()} {host}:{port};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:{from_user}@{server_host}>;tag={from_tag}",
            f"To: <{to_uri}>" + (f";tag={to_tag}" if to_tag else ""),
            f"Call-ID: {call_id}",
            f"CSeq: {self._cseq} {method}",
            f"Contact: <sip:{from_user}@{host}:{port};transport={self.transport}>",
            "User-Agent: callbox-probe",
            *headers,
            f"Content-Length: {len(body)}",
        ]
        self.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        deadline = time.monotonic() + self.timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no final response to {method} from {self.server}")
            response = parse_response(self.receive(remaining))
            if response.header("call-id") != call_id:
                continue                      # a late answer to an earlier request
            if response.status >= 200:
                if method == "INVITE":
                    self._ack(uri, response, branch, call_id)
                return response

    def _ack(self, uri: str, response: SipResponse, branch: str, call_id: str) -> None:
        """ACK a final response to INVITE, as RFC 3261 clause 17.1.1.3 asks for non-2xx ones."""
        host, port = self.local
        lines = [
            f"ACK {uri} {SIP_VERSION}",
            f"Via: {SIP_VERSION}/{self.transport.upper()} {host}:{port};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: {response.header('from')}",
            f"To: {response.header('to')}",
            f"Call-ID: {call_id}",
            f"CSeq: {self._cseq} ACK",
            "Content-Length: 0",
        ]
        self.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode())

    def options(self) -> SipResponse:
        """OPTIONS to the server itself: does its SIP stack answer?"""
        return self.request("OPTIONS", f"sip:{self.server[0]}:{self.server[1]}")

    def register(self, user: str, password: str, *, expires_s: int = 60) -> SipResponse:
        """REGISTER ``user``, answering one digest challenge; return the final response."""
        uri = f"sip:{self.server[0]}:{self.server[1]}"
        aor = f"sip:{user}@{self.server[0]}:{self.server[1]}"
        call_id, tag = f"{secrets.token_hex(8)}@{self.local[0]}", secrets.token_hex(4)
        common = dict(from_user=user, to_uri=aor, call_id=call_id, from_tag=tag)
        expires = (f"Expires: {expires_s}",)
        response = self.request("REGISTER", uri, headers=expires, **common)
        if response.status != 401 or response.header("www-authenticate") is None:
            return response
        credentials = digest_authorization(response.header("www-authenticate"), "REGISTER", uri,
                                           user, password)
        return self.request("REGISTER", uri, headers=(*expires, f"Authorization: {credentials}"),
                            **common)
