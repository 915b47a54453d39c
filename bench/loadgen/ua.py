"""A pool of cheap SIP phones on one asyncio loop, and the load steps the benchmark runs with them.

Each ``Phone`` is one account on its own loopback address (127.10.x.y for callers, 127.20.x.y for
callees: the edge's flood and ban counters are per source address, so a thousand requests from
the pool are a few per phone), with one UDP socket for SIP and one RTP stream in the shared
``RtpEngine``. Callers REGISTER (digest), INVITE with a PCMU offer (answering the edge's 407),
ACK, and BYE at the end; callees REGISTER and answer every INVITE at once with 200 + SDP. RTP
starts at the 200 (caller) or the ACK (callee) and stops at the BYE.

UDP reliability is RFC 3261's: requests are retransmitted from T1 = 500 ms, doubling to T2 = 4 s,
until a response (a provisional one, for INVITE) or 32 s; a callee's 200 is retransmitted until
its ACK; a retransmitted 200 is ACKed again. Nothing else of SIP is needed here.
"""
from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from . import sip
from .rtp import PTIME_S, Expectation, RtpEngine, Totals, account, totals

T1_S = 0.5                          # s: RFC 3261 round-trip estimate
T2_S = 4.0                          # s: longest retransmission interval
TRANSACTION_TIMEOUT_S = 64 * T1_S   # s: Timer B / F
REGISTER_EXPIRES_S = 3600           # s: longer than any bench run
REGISTER_CONCURRENCY = 20           # registrations in flight at once
SETTLE_S = 2.0                      # s: after the last call is up, before the window (jitter buffers settle)
GRACE_S = 0.5                       # s: after the window, for its last frames (and late ones) to arrive
CALLEE_RELEASE_TIMEOUT_S = 10.0     # s: for the box's BYE to reach every callee after the callers' BYEs
MAX_FORWARDS = 70
USER_AGENT = "callbox-loadgen"
CALLER_NET, CALLEE_NET = "127.10", "127.20"
HOSTS_PER_SUBNET = 250
CALLER_BASE, CALLEE_BASE = 20000, 30000     # extension numbers of caller i and callee i


@dataclass(frozen=True)
class Account:
    user: str
    password: str
    address: str                    # the loopback address the phone binds, SIP and RTP


def make_accounts(pairs: int) -> list[tuple[Account, Account]]:
    """``pairs`` (caller, callee) accounts with fresh strong passwords and distinct addresses."""
    def address(net: str, i: int) -> str:
        return f"{net}.{i // HOSTS_PER_SUBNET}.{i % HOSTS_PER_SUBNET + 1}"
    return [(Account(str(CALLER_BASE + i), secrets.token_urlsafe(16), address(CALLER_NET, i)),
             Account(str(CALLEE_BASE + i), secrets.token_urlsafe(16), address(CALLEE_NET, i)))
            for i in range(pairs)]


class CallFailed(RuntimeError):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    local_uri: str
    remote_uri: str
    remote_tag: str = ""
    remote_target: str = ""
    route_set: list[str] = field(default_factory=list)
    cseq: int = 1
    ack: sip.SipMessage | None = None           # caller: the ACK, resent on a retransmitted 200
    answer: sip.SipMessage | None = None        # callee: the 200, resent until its ACK
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class Phone(asyncio.DatagramProtocol):
    """One account: a SIP UDP socket on its own address and one RTP stream; one call at a time."""

    def __init__(self, account: Account, edge: tuple[str, int], engine: RtpEngine) -> None:
        self.account = account
        self.edge = edge
        self.engine = engine
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[str, asyncio.Future] = {}    # client transactions by Via branch
        self.provisional: set[str] = set()              # INVITE branches that got a 1xx
        self.dialogs: dict[str, Dialog] = {}
        self.stream = -1
        self.rtp_port = self.rtcp_port = 0
        self.errors = 0                                 # unparsable or unexpected messages

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(self.account.address, 0))
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind((self.account.address, 0))
        self.rtp_port = rtp.getsockname()[1]
        # RTCP: bound (so the box's reports meet no ICMP error) and never read
        self.rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtcp.bind((self.account.address, 0))
        self.rtcp_port = self.rtcp.getsockname()[1]
        self.stream = self.engine.add_stream(rtp)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.rtcp.close()

    @property
    def sip_port(self) -> int:
        assert self.transport is not None
        return self.transport.get_extra_info("sockname")[1]

    @property
    def contact(self) -> str:
        return f"<sip:{self.account.user}@{self.account.address}:{self.sip_port}>"

    @property
    def aor(self) -> str:
        return f"sip:{self.account.user}@{self.edge[0]}:{self.edge[1]}"

    def offer(self) -> bytes:
        body = sip.sdp(self.account.address, self.rtp_port, secrets.randbelow(1 << 31))
        return body + f"a=rtcp:{self.rtcp_port}\r\n".encode()

    # ---------------------------------------------------------------- transport
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, message: sip.SipMessage, target: tuple[str, int] | None = None) -> None:
        assert self.transport is not None
        self.transport.sendto(message.encode(), target or self.edge)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            message = sip.parse(data)
            if message.is_request:
                self._request_received(message, addr)
            else:
                self._response_received(message)
        except (sip.SipParseError, ValueError, KeyError, IndexError):
            self.errors += 1

    def _response_received(self, response: sip.SipMessage) -> None:
        future = self.pending.get(response.branch)
        if response.status < 200:
            self.provisional.add(response.branch)
        elif future is not None and not future.done():
            future.set_result(response)
        elif response.method == "INVITE" and response.status < 300:
            dialog = self.dialogs.get(response.call_id)
            if dialog is not None and dialog.ack is not None:
                self.send(dialog.ack, self._next_hop(dialog))      # the 200 again: ACK again

    async def request(self, message: sip.SipMessage, target: tuple[str, int] | None = None) -> sip.SipMessage:
        """Send ``message`` (retransmitted over UDP as RFC 3261 says) and return its final response."""
        loop = asyncio.get_running_loop()
        branch = message.branch
        future = loop.create_future()
        self.pending[branch] = future
        deadline = loop.time() + TRANSACTION_TIMEOUT_S
        interval = T1_S
        try:
            self.send(message, target)
            while True:
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(asyncio.shield(future), interval)
                if loop.time() > deadline:
                    raise CallFailed(408, f"no final response to {message.method}")
                if not (message.method == "INVITE" and branch in self.provisional):
                    self.send(message, target)
                interval = min(2 * interval, T2_S)
        finally:
            self.pending.pop(branch, None)
            self.provisional.discard(branch)

    def _new_request(self, method: str, uri: str, call_id: str, cseq: int, from_: str, to: str,
                     extra: list[tuple[str, str]] = (), body: bytes = b"") -> sip.SipMessage:
        via = f"SIP/2.0/UDP {self.account.address}:{self.sip_port};branch={sip.new_branch()};rport"
        headers = [("Via", via),
                   ("Max-Forwards", str(MAX_FORWARDS)), ("From", from_), ("To", to),
                   ("Call-ID", call_id), ("CSeq", f"{cseq} {method}"), *extra,
                   ("User-Agent", USER_AGENT)]
        if body:
            headers.append(("Content-Type", "application/sdp"))
        return sip.SipMessage(f"{method} {uri} SIP/2.0", headers, body)

    # ---------------------------------------------------------------- registration
    async def register(self) -> int:
        """REGISTER through the digest challenge; the final status."""
        uri = f"sip:{self.edge[0]}:{self.edge[1]}"
        call_id, tag = secrets.token_hex(10), sip.new_tag()
        extra = [("Contact", self.contact), ("Expires", str(REGISTER_EXPIRES_S))]

        def register(cseq: int, auth: list[tuple[str, str]]) -> sip.SipMessage:
            return self._new_request("REGISTER", uri, call_id, cseq, f"<{self.aor}>;tag={tag}",
                                     f"<{self.aor}>", [*extra, *auth])

        response = await self.request(register(1, []))
        if response.status == 401:
            credentials = sip.digest_credentials(response.get("www-authenticate") or "", "REGISTER", uri,
                                                 self.account.user, self.account.password)
            response = await self.request(register(2, [("Authorization", credentials)]))
        return response.status

    # ---------------------------------------------------------------- calls out
    async def call(self, user: str) -> Dialog:
        """Call ``user`` through the edge; the confirmed dialog (RTP flowing) or CallFailed."""
        if self.dialogs:
            raise CallFailed(486, "this phone has a call")
        uri = f"sip:{user}@{self.edge[0]}:{self.edge[1]}"
        dialog = Dialog(secrets.token_hex(10), sip.new_tag(), self.aor, uri)
        self.dialogs[dialog.call_id] = dialog
        try:
            offer = self.offer()
            invite = self._invite(dialog, offer, [])
            response = await self.request(invite)
            if response.status in (401, 407):
                self._ack_failure(invite, response)
                header = "proxy-authenticate" if response.status == 407 else "www-authenticate"
                credentials = sip.digest_credentials(response.get(header) or "", "INVITE", uri,
                                                     self.account.user, self.account.password)
                dialog.cseq += 1
                name = "Proxy-Authorization" if response.status == 407 else "Authorization"
                invite = self._invite(dialog, offer, [(name, credentials)])
                response = await self.request(invite)
            if response.status >= 300:
                self._ack_failure(invite, response)
            if response.status != 200:
                raise CallFailed(response.status, response.start_line.split(" ", 2)[-1])
            (target, payloads) = sip.sdp_audio_target(response.body)
            if sip.PCMU_PAYLOAD_TYPE not in payloads:
                raise CallFailed(488, "PCMU not accepted")
            dialog.remote_tag = sip.tag_of(response.get("to") or "") or ""
            dialog.remote_uri = response.get("to") or uri
            dialog.remote_target = sip.uri_of(response.get("contact") or uri)
            dialog.route_set = list(reversed(response.get_all("record-route")))
            dialog.ack = self._in_dialog("ACK", dialog, cseq=dialog.cseq)
            self.send(dialog.ack, self._next_hop(dialog))
            self.engine.start(self.stream, target)
            return dialog
        except BaseException:
            self.dialogs.pop(dialog.call_id, None)
            raise

    def _invite(self, dialog: Dialog, offer: bytes, auth: list[tuple[str, str]]) -> sip.SipMessage:
        return self._new_request("INVITE", dialog.remote_uri, dialog.call_id, dialog.cseq,
                                 f"<{self.aor}>;tag={dialog.local_tag}", f"<{dialog.remote_uri}>",
                                 [("Contact", self.contact), *auth], offer)

    def _ack_failure(self, invite: sip.SipMessage, response: sip.SipMessage) -> None:
        """The ACK of a non-2xx final response: same branch and CSeq number, the response's To."""
        headers = [(k, v) for k, v in invite.headers
                   if k.lower() in ("via", "max-forwards", "from", "call-id", "route")]
        headers += [("To", response.get("to") or ""), ("CSeq", f"{invite.cseq[0]} ACK")]
        self.send(sip.SipMessage(f"ACK {invite.uri} SIP/2.0", headers))

    def _in_dialog(self, method: str, dialog: Dialog, cseq: int | None = None) -> sip.SipMessage:
        if cseq is None:
            dialog.cseq += 1
            cseq = dialog.cseq
        routes = [("Route", route) for route in dialog.route_set]
        to = f"<{sip.uri_of(dialog.remote_uri)}>;tag={dialog.remote_tag}"
        return self._new_request(method, dialog.remote_target, dialog.call_id, cseq,
                                 f"<{sip.uri_of(dialog.local_uri)}>;tag={dialog.local_tag}", to, routes)

    def _next_hop(self, dialog: Dialog) -> tuple[str, int]:
        return sip.host_port_of(dialog.route_set[0] if dialog.route_set else dialog.remote_target)

    async def hangup(self, dialog: Dialog) -> int:
        """BYE; the final status (RTP stops at once)."""
        self.engine.stop(self.stream)
        try:
            response = await self.request(self._in_dialog("BYE", dialog), self._next_hop(dialog))
            return response.status
        finally:
            self.dialogs.pop(dialog.call_id, None)
            dialog.ended.set()

    # ---------------------------------------------------------------- calls in, and in-dialog requests
    def _request_received(self, request: sip.SipMessage, addr: tuple[str, int]) -> None:
        dialog = self.dialogs.get(request.call_id)
        method = request.method
        if method == "INVITE":
            if dialog is not None and dialog.answer is not None:
                self.send(dialog.answer, addr)          # a retransmitted INVITE
            elif self.dialogs:
                self.send(self._response(request, 486, "Busy Here"), addr)
            else:
                self._answer(request, addr)
        elif method == "ACK":
            if dialog is not None and not dialog.acked.is_set():
                dialog.acked.set()
        elif method == "BYE":
            self.send(self._response(request, 200, "OK"), addr)
            if dialog is not None:
                self.engine.stop(self.stream)
                self.dialogs.pop(request.call_id, None)
                dialog.ended.set()
        elif method == "CANCEL":
            self.send(self._response(request, 200, "OK"), addr)
        elif method == "OPTIONS":
            self.send(self._response(request, 200, "OK"), addr)
        else:
            self.send(self._response(request, 501, "Not Implemented"), addr)

    def _response(self, request: sip.SipMessage, status: int, reason: str, to_tag: str | None = None,
                  extra: list[tuple[str, str]] = (), body: bytes = b"") -> sip.SipMessage:
        headers = [(k, v) for k, v in request.headers if k.lower() == "via"]
        if status < 300 and request.method == "INVITE":
            headers += [(k, v) for k, v in request.headers if k.lower() == "record-route"]
        to = request.get("to") or ""
        if to_tag and sip.tag_of(to) is None:
            to = f"{to};tag={to_tag}"
        headers += [("From", request.get("from") or ""), ("To", to), ("Call-ID", request.call_id),
                    ("CSeq", request.get("cseq") or ""), *extra, ("User-Agent", USER_AGENT)]
        if body:
            headers.append(("Content-Type", "application/sdp"))
        return sip.SipMessage(f"SIP/2.0 {status} {reason}", headers, body)

    def _answer(self, invite: sip.SipMessage, addr: tuple[str, int]) -> None:
        try:
            target, payloads = sip.sdp_audio_target(invite.body)
        except sip.SipParseError:
            self.send(self._response(invite, 488, "Not Acceptable Here"), addr)
            return
        if sip.PCMU_PAYLOAD_TYPE not in payloads:
            self.send(self._response(invite, 488, "Not Acceptable Here"), addr)
            return
        dialog = Dialog(invite.call_id, sip.new_tag(), invite.get("to") or "", invite.get("from") or "",
                        remote_tag=sip.tag_of(invite.get("from") or "") or "",
                        remote_target=sip.uri_of(invite.get("contact") or ""),
                        route_set=invite.get_all("record-route"), cseq=0)
        dialog.answer = self._response(invite, 200, "OK", dialog.local_tag, [("Contact", self.contact)],
                                       self.offer())
        self.dialogs[dialog.call_id] = dialog
        self.send(dialog.answer, addr)
        asyncio.get_running_loop().create_task(self._until_acked(dialog, addr, target))

    async def _until_acked(self, dialog: Dialog, addr: tuple[str, int], target: tuple[str, int]) -> None:
        """Retransmit the 200 until the ACK comes (then RTP starts), for at most 64*T1."""
        interval, waited = T1_S, 0.0
        while waited < TRANSACTION_TIMEOUT_S and not dialog.ended.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(dialog.acked.wait(), interval)
                self.engine.start(self.stream, target)
                return
            waited += interval
            assert dialog.answer is not None
            self.send(dialog.answer, addr)
            interval = min(2 * interval, T2_S)


# ---------------------------------------------------------------------------- the generator
@dataclass
class StepResult:
    """One load step: ``calls`` set up, held, hung up; the counts of the window (rtp.py's terms)."""

    calls: int
    established: int
    failures: dict[str, int]
    setup_s: float                  # first INVITE sent -> last call established
    setup_rate_calls_per_s: float
    setup_latency_ms_median: float
    setup_latency_ms_max: float
    window_s: float
    window_first_tick: int
    totals: Totals
    send_late_ms_p99: float         # the generator's own clock: how late its ticks went out, in the window
    send_late_ms_max: float
    send_errors: int
    callees_not_released: int
    sip_errors: int

    @property
    def lost_or_late_fraction(self) -> float:
        return self.totals.lost_or_late_fraction

    def as_dict(self) -> dict:
        out = asdict(self)
        out["lost_or_late_fraction"] = self.lost_or_late_fraction
        return out


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class LoadGenerator:
    """``pairs`` (caller, callee) phones against the edge at ``edge``; see ``run_step``."""

    def __init__(self, edge: tuple[str, int], pairs: list[tuple[Account, Account]]) -> None:
        self.edge = edge
        self.engine = RtpEngine(2 * len(pairs))
        self.pairs = [(Phone(a, edge, self.engine), Phone(b, edge, self.engine)) for a, b in pairs]
        self._engine_task: asyncio.Task | None = None

    async def open(self) -> None:
        for caller, callee in self.pairs:
            await caller.open()
            await callee.open()
        self._engine_task = asyncio.get_running_loop().create_task(self.engine.run())

    async def close(self) -> None:
        if self._engine_task is not None:
            self._engine_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._engine_task
        for caller, callee in self.pairs:
            caller.close()
            callee.close()
        self.engine.close()

    async def register(self, concurrency: int = REGISTER_CONCURRENCY) -> dict[int, int]:
        """Register every phone; {final status: how many}."""
        gate = asyncio.Semaphore(concurrency)

        async def one(phone: Phone) -> int:
            async with gate:
                try:
                    return await phone.register()
                except CallFailed as exc:
                    return exc.status
        statuses = await asyncio.gather(*(one(p) for pair in self.pairs for p in pair))
        return {status: statuses.count(status) for status in sorted(set(statuses))}

    async def run_step(self, calls: int, hold_s: float, settle_s: float = SETTLE_S, grace_s: float = GRACE_S,
                       max_in_flight: int | None = None,
                       on_event: Callable[[str, dict], None] = lambda name, info: None) -> StepResult:
        """Set up ``calls`` calls (at most ``max_in_flight`` INVITEs outstanding; default all at
        once), wait ``settle_s`` after the last one, count the frames of a ``hold_s`` window,
        wait ``grace_s`` for frames in flight, hang up."""
        if not 0 < calls <= len(self.pairs):
            raise ValueError(f"calls must be 1..{len(self.pairs)}, got {calls}")
        loop = asyncio.get_running_loop()
        pairs = self.pairs[:calls]
        frames = int(2 * calls * (hold_s + settle_s + grace_s + 30.0) / PTIME_S)
        self.engine.reserve(frames)
        for phone in (phone for pair in pairs for phone in pair):
            phone.errors = 0
            self._forget_calls(phone)               # left over from a failed call of an earlier step
        gate = asyncio.Semaphore(max_in_flight or calls)

        async def place(caller: Phone, callee: Phone) -> tuple[Dialog, float, float]:
            async with gate:
                start = loop.time()
                dialog = await caller.call(callee.account.user)
                return dialog, start, loop.time()

        first = loop.time()
        outcomes = await asyncio.gather(*(place(a, b) for a, b in pairs), return_exceptions=True)
        failures: dict[str, int] = {}
        up: list[tuple[Phone, Phone, Dialog]] = []
        latencies, last = [], first
        for (caller, callee), outcome in zip(pairs, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                key = str(outcome.status) if isinstance(outcome, CallFailed) else type(outcome).__name__
                failures[key] = failures.get(key, 0) + 1
                continue
            dialog, start, done = outcome
            up.append((caller, callee, dialog))
            latencies.append((done - start) * 1e3)
            last = max(last, done)
        setup_s = last - first
        on_event("established", {"calls": calls, "established": len(up), "setup_s": setup_s})

        w0 = self.engine.tick_at(loop.time() + settle_s)
        w1 = w0 + round(hold_s / PTIME_S)
        await asyncio.sleep(max(0.0, self.engine.due(w0) - loop.time()))
        on_event("window_start", {"tick": w0})
        await asyncio.sleep(max(0.0, self.engine.due(w1) - loop.time()))
        on_event("window_end", {"tick": w1})
        await asyncio.sleep(grace_s)
        send_lateness = [late for tick, late in self.engine.send_lateness if w0 <= tick < w1]
        records, receivers, arrivals = self.engine.log()    # views: later arrivals go past their end

        await asyncio.gather(*(caller.hangup(dialog) for caller, _, dialog in up), return_exceptions=True)
        not_released = 0
        for _, callee, _ in up:
            try:
                await asyncio.wait_for(self._idle(callee), CALLEE_RELEASE_TIMEOUT_S)
            except TimeoutError:
                not_released += 1
                self._forget_calls(callee)

        expectations = []
        for caller, callee, _ in up:            # each phone hears its own peer, all through the window
            expectations += [Expectation(caller.stream, callee.stream, w0, w1),
                             Expectation(callee.stream, caller.stream, w0, w1)]
        counts = account(records, receivers, arrivals, self.engine.t0, expectations)
        return StepResult(
            calls, len(up), failures, setup_s, len(up) / setup_s if setup_s > 0 else float("nan"),
            statistics.median(latencies) if latencies else float("nan"), max(latencies, default=float("nan")),
            (w1 - w0) * PTIME_S, w0, totals(counts),
            _percentile(send_lateness, 0.99) * 1e3, max(send_lateness, default=0.0) * 1e3,
            self.engine.send_errors, not_released,
            sum(p.errors for pair in pairs for p in pair))

    def _forget_calls(self, phone: Phone) -> None:
        self.engine.stop(phone.stream)
        for dialog in phone.dialogs.values():
            dialog.ended.set()
        phone.dialogs.clear()

    @staticmethod
    async def _idle(phone: Phone) -> None:
        while phone.dialogs:
            await asyncio.sleep(0.05)
