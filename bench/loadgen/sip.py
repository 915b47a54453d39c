"""Just enough SIP for a load generator (RFC 3261 over UDP): messages, digest auth, SDP for PCMU.

Sans-IO: bytes in, ``SipMessage`` out and back. It shares no code with the box (Kamailio and the
pjsua2 workers), so the box is driven by an independent implementation.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field

COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length",
           "c": "content-type", "k": "supported", "s": "subject"}
LIST_HEADERS = {"via", "record-route", "route"}     # comma-separated lists, split into entries
PCMU_PAYLOAD_TYPE = 0
SAMPLE_RATE_HZ = 8000


class SipParseError(ValueError):
    pass


@dataclass
class SipMessage:
    """One SIP request or response: a start line, headers in order (repeats kept), a body."""

    start_line: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return not self.start_line.startswith("SIP/2.0 ")

    @property
    def method(self) -> str:
        """The request's method, or the CSeq method of a response."""
        if self.is_request:
            return self.start_line.split(" ", 1)[0]
        return self.cseq[1]

    @property
    def uri(self) -> str:
        return self.start_line.split(" ")[1]

    @property
    def status(self) -> int:
        return int(self.start_line.split(" ")[1])

    def get(self, name: str) -> str | None:
        """The first value of header ``name`` (any case, compact forms understood)."""
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``; list headers (Via, Record-Route, Route) split into entries."""
        name = name.lower()
        values = [value for key, value in self.headers if key.lower() == name]
        if name in LIST_HEADERS:
            return [entry for value in values for entry in split_list(value)]
        return values

    @property
    def call_id(self) -> str:
        return self.get("call-id") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        number, method = (self.get("cseq") or "0 ?").split()
        return int(number), method

    @property
    def branch(self) -> str:
        via = self.get_all("via")
        found = re.search(r";\s*branch=([^;,\s]+)", via[0]) if via else None
        return found.group(1) if found else ""

    def encode(self) -> bytes:
        lines = [self.start_line]
        lines += [f"{key}: {value}" for key, value in self.headers if key.lower() != "content-length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


def split_list(value: str) -> list[str]:
    """Entries of a comma-separated header value; commas inside <...> or quotes do not split."""
    entries, depth, quoted, start = [], 0, False, 0
    for i, char in enumerate(value):
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "<":
            depth += 1
        elif not quoted and char == ">":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            entries.append(value[start:i].strip())
            start = i + 1
    entries.append(value[start:].strip())
    return [entry for entry in entries if entry]


def parse(data: bytes) -> SipMessage:
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        raise SipParseError("no end of headers")
    try:
        lines = head.decode("utf-8").split("\r\n")
    except UnicodeDecodeError as exc:
        raise SipParseError(f"headers are not UTF-8: {exc}") from exc
    message = SipMessage(lines[0])
    if not (lines[0].startswith("SIP/2.0 ") or lines[0].endswith(" SIP/2.0")):
        raise SipParseError(f"not a SIP start line: {lines[0]!r}")
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and message.headers:        # folded continuation
            key, value = message.headers[-1]
            message.headers[-1] = (key, f"{value} {line.strip()}")
            continue
        key, colon, value = line.partition(":")
        if not colon:
            raise SipParseError(f"not a header line: {line!r}")
        key = key.strip()
        message.headers.append((COMPACT.get(key.lower(), key), value.strip()))
    length = message.get("content-length")
    message.body = body[:int(length)] if length is not None else body
    return message


def new_tag() -> str:
    return secrets.token_hex(6)


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


def tag_of(name_addr: str) -> str | None:
    found = re.search(r";\s*tag=([^;>\s]+)", name_addr)
    return found.group(1) if found else None


def uri_of(name_addr: str) -> str:
    """The URI inside ``"Name" <uri>;params`` or a bare ``uri;params``."""
    found = re.search(r"<([^>]*)>", name_addr)
    return found.group(1) if found else name_addr.split(";", 1)[0].strip()


def user_of(uri: str) -> str:
    found = re.match(r"sips?:([^@;>]+)@", uri_of(uri))
    return found.group(1) if found else ""


def host_port_of(uri: str, default_port: int = 5060) -> tuple[str, int]:
    """(host, port) of a SIP URI (IPv4 or a name; no IPv6 here)."""
    found = re.match(r"sips?:(?:[^@]*@)?([^:;>]+)(?::(\d+))?", uri_of(uri))
    if not found:
        raise SipParseError(f"not a SIP URI: {uri!r}")
    return found.group(1), int(found.group(2) or default_port)


# ---------------------------------------------------------------------------- digest (RFC 2617)
def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def challenge_params(challenge: str) -> dict[str, str]:
    scheme, _, rest = challenge.partition(" ")
    if scheme.lower() != "digest":
        raise SipParseError(f"not a digest challenge: {challenge!r}")
    return {key.lower(): value.strip('"')
            for key, value in re.findall(r'(\w+)\s*=\s*("[^"]*"|[^,\s]+)', rest)}


def digest_credentials(challenge: str, method: str, uri: str, user: str, password: str,
                       nonce_count: int = 1) -> str:
    """The Authorization / Proxy-Authorization value answering ``challenge`` (MD5; qop=auth if offered)."""
    params = challenge_params(challenge)
    realm, nonce = params["realm"], params["nonce"]
    ha1 = _md5(f"{user}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    fields = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"',
              "algorithm=MD5"]
    if "auth" in [q.strip() for q in params.get("qop", "").split(",")]:
        cnonce, nc = secrets.token_hex(8), f"{nonce_count:08x}"
        response = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        fields += [f'cnonce="{cnonce}"', f"nc={nc}", "qop=auth"]
    else:
        response = _md5(f"{ha1}:{nonce}:{ha2}")
    fields.append(f'response="{response}"')
    if "opaque" in params:
        fields.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(fields)


# ---------------------------------------------------------------------------- SDP (RFC 4566), PCMU only
def sdp(address: str, rtp_port: int, session_id: int) -> bytes:
    """An offer or answer of one PCMU audio stream, 20 ms packets."""
    lines = ["v=0", f"o=loadgen {session_id} {session_id} IN IP4 {address}", "s=loadgen",
             f"c=IN IP4 {address}", "t=0 0", f"m=audio {rtp_port} RTP/AVP {PCMU_PAYLOAD_TYPE}",
             f"a=rtpmap:{PCMU_PAYLOAD_TYPE} PCMU/{SAMPLE_RATE_HZ}", "a=ptime:20", "a=sendrecv"]
    return ("\r\n".join(lines) + "\r\n").encode()


def sdp_audio_target(body: bytes) -> tuple[tuple[str, int], list[int]]:
    """((address, port), payload types) of the first audio stream of an SDP body."""
    text = body.decode("utf-8", "replace")
    session_address = media_address = None
    port, payloads = None, []
    for line in text.splitlines():
        if line.startswith("c=IN IP4 "):
            if port is None:
                session_address = line.split()[2]
            else:
                media_address = line.split()[2]
        elif line.startswith("m=audio ") and port is None:
            fields = line.split()
            port, payloads = int(fields[1]), [int(p) for p in fields[3:] if p.isdigit()]
        elif line.startswith("m=") and port is not None:
            break
    address = media_address or session_address
    if port is None or address is None:
        raise SipParseError("no audio stream in the SDP")
    return (address, port), payloads
