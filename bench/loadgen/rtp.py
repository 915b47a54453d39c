"""The RTP side of the load generator: every stream sent on one 20 ms clock, every arrival recorded.

Sending: one row of a numpy array per stream holds its next packet (12-byte RTP header + 160 bytes
of PCMU). At each 20 ms tick the rows are updated at once (sequence number, timestamp, signature)
and sent with one ``sendto`` per stream, from the stream's own socket (symmetric RTP).

Each payload carries a **signature**: the sender's stream id, the tick it was sent at and a
check, one nibble per byte as mu-law codes 0x50..0x5F, repeated every ``COPY_SPACING`` bytes. These
codes survive the box's decode -> conference bridge -> encode (mu-law -> linear -> mu-law is exact
for every code but 0x7F, and a bridge with one source copies samples untouched), but the bridge's
frames need not line up with the RTP packets: pjsua2's are 40 samples off here, so a packet out of
the box carries the end of one frame and the start of the next. With a copy every 40 bytes, every
packet holds a whole copy starting in its first 40 bytes, whatever the offset; the first one found
names the frame the packet carries. The box re-originates RTP (its own sequence numbers), so the
RTP header alone could not tell a frame it lost and replaced with concealment from one it passed
on; the signature can, and it tells which call a frame belongs to.

Receiving: ready sockets are drained every ``POLL_S``; the first ``RECORD_BYTES`` of each packet,
its arrival time and the receiving stream are stored raw in preallocated arrays (no per-packet
parsing in Python); ``account`` decodes and counts afterwards, with numpy.

Definitions (per receiving stream, over a measurement window of ticks [w0, w1) of its peer's
sending clock):

- expected: frames the peer sent with a tick in the window;
- received: distinct expected frames that arrived carrying the peer's signature;
- lost: expected - received (dropped anywhere, or replaced by the box with concealment);
- duplicates: extra copies of a frame already received;
- misrouted: frames signed by a stream other than the peer (a crossed call), counted apart;
- delay of a frame: arrival time - the instant its tick was due on the sender's clock
  (``t0 + tick * PTIME_S``); the stream's **base delay** is the smallest delay seen on it in the
  window (the path's fixed latency, jitter buffers included);
- late: a received frame whose delay exceeds the base delay by more than ``LATE_S`` (60 ms): what a
  60 ms jitter buffer at the receiver would have had to drop. Arrival times are read when a poll
  finds the packet, so they are late by up to ``POLL_S`` at most.

A frame counts once: lost, or received (and then on time or late).
"""
from __future__ import annotations

import asyncio
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from firmware.dsp.g711 import ulaw_encode
from firmware.dsp.levels import SAMPLE_RATE_HZ, dbm0_to_amplitude

PTIME_S = 0.020                     # s: one frame, one packet
FRAME_SAMPLES = round(PTIME_S * SAMPLE_RATE_HZ)
HEADER_BYTES = 12                   # RTP fixed header, no CSRC, no extension
PACKET_BYTES = HEADER_BYTES + FRAME_SAMPLES
RTP_VERSION_BYTE = 0x80             # V=2, no padding, no extension, no CSRC
PCMU = 0                            # RTP payload type
NIBBLE_BASE = 0x50                  # signature bytes: mu-law codes 0x50..0x5F (quiet: under -30 dBFS)
SID_NIBBLES, TICK_NIBBLES, CHECK_NIBBLES = 4, 8, 4
SIGNATURE_BYTES = SID_NIBBLES + TICK_NIBBLES + CHECK_NIBBLES
COPY_SPACING = FRAME_SAMPLES // 4   # bytes: a signature copy starts every 40 bytes of a payload
COPY_OFFSETS = range(0, FRAME_SAMPLES, COPY_SPACING)
SEARCH_BYTES = COPY_SPACING + SIGNATURE_BYTES - 1   # payload bytes holding a whole copy, any offset
RECORD_BYTES = HEADER_BYTES + SEARCH_BYTES      # what is kept of each received packet
DECODE_CHUNK = 65536                # records decoded at once (bounds the decoder's temporary arrays)
CHECK_SALT = 0x5A3C                 # so that an all-equal signature is not valid
LATE_S = 0.060                      # s: beyond the stream's base delay, a frame is late
POLL_S = 0.005                      # s: receive polling period (arrival-time resolution)
TONE_HZ = 1000.0                    # Hz: the audio between the signature copies
TONE_DBM0 = -15.0                   # dBm0
SSRC_BASE = 0x1C0B0000


def nibbles(values: np.ndarray, count: int) -> np.ndarray:
    """(n, count) uint8 signature bytes of ``values``, most significant nibble first."""
    shifts = np.arange(count - 1, -1, -1, dtype=np.int64) * 4
    return (NIBBLE_BASE + ((values.astype(np.int64)[:, None] >> shifts) & 0xF)).astype(np.uint8)


def from_nibbles(codes: np.ndarray) -> np.ndarray:
    """Inverse of ``nibbles`` on (n, count) codes (assumed within NIBBLE_BASE..+15)."""
    shifts = np.arange(codes.shape[1] - 1, -1, -1, dtype=np.int64) * 4
    return ((codes.astype(np.int64) - NIBBLE_BASE) << shifts).sum(axis=1)


def check_value(sid: np.ndarray, tick: np.ndarray) -> np.ndarray:
    tick = tick.astype(np.int64)
    return (sid.astype(np.int64) ^ (tick & 0xFFFF) ^ ((tick >> 16) & 0xFFFF) ^ CHECK_SALT) & 0xFFFF


def decode_signatures(records: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(valid, sid, tick) of (n, RECORD_BYTES) raw packet beginnings: the first whole signature
    in the payload bytes kept (runs of in-range codes; the tone never uses them)."""
    header, payload = records[:, :HEADER_BYTES], records[:, HEADER_BYTES:RECORD_BYTES]
    in_range = (payload >= NIBBLE_BASE) & (payload < NIBBLE_BASE + 16)
    runs = np.zeros((len(records), payload.shape[1] + 1), dtype=np.int32)
    np.cumsum(in_range, axis=1, out=runs[:, 1:])
    whole = (runs[:, SIGNATURE_BYTES:] - runs[:, :-SIGNATURE_BYTES]) == SIGNATURE_BYTES
    found = whole.any(axis=1)
    start = np.argmax(whole, axis=1)
    sig = payload[np.arange(len(records))[:, None], start[:, None] + np.arange(SIGNATURE_BYTES)]
    sid = from_nibbles(sig[:, :SID_NIBBLES])
    tick = from_nibbles(sig[:, SID_NIBBLES:SID_NIBBLES + TICK_NIBBLES])
    check = from_nibbles(sig[:, SID_NIBBLES + TICK_NIBBLES:])
    valid = (found & (header[:, 0] == RTP_VERSION_BYTE) & ((header[:, 1] & 0x7F) == PCMU)
             & (check == check_value(sid, tick)))
    return valid, sid, tick


def tone_payload() -> np.ndarray:
    """One frame of the tone, mu-law; none of its codes may look like signature bytes."""
    t = np.arange(FRAME_SAMPLES) / SAMPLE_RATE_HZ
    pcm = np.round(dbm0_to_amplitude(TONE_DBM0) * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.int16)
    codes = ulaw_encode(pcm)
    if ((codes >= NIBBLE_BASE) & (codes < NIBBLE_BASE + 16)).any():
        raise ValueError("the tone's codes overlap the signature's: pick another TONE_DBM0")
    return codes


# ---------------------------------------------------------------------------- accounting
@dataclass(frozen=True)
class Expectation:
    """Receiving stream ``receiver`` should get the frames ``sender`` sent in ticks [first, end)."""

    receiver: int
    sender: int
    first_tick: int
    end_tick: int


@dataclass(frozen=True)
class StreamCount:
    """One receiving stream's frames over the window (the module's definitions)."""

    receiver: int
    expected: int
    received: int
    lost: int
    late: int
    duplicates: int
    misrouted: int
    base_delay_s: float             # nan when nothing was received
    max_excess_delay_s: float       # largest delay beyond the base delay (0 when nothing received)
    bad_ticks: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False,
                                  compare=False)       # the ticks lost or late, for diagnosis


@dataclass(frozen=True)
class Totals:
    streams: int
    expected: int
    received: int
    lost: int
    late: int
    duplicates: int
    misrouted: int
    median_base_delay_ms: float
    max_excess_delay_ms: float
    worst_ticks: list[tuple[int, int]]  # (tick, streams that lost it or got it late), most first

    @property
    def lost_or_late_fraction(self) -> float:
        return (self.lost + self.late) / self.expected if self.expected else 1.0


def account(records: np.ndarray, receivers: np.ndarray, arrivals: np.ndarray, t0: float,
            expectations: list[Expectation], late_s: float = LATE_S) -> list[StreamCount]:
    """Count each expectation's frames in the raw arrival log (see the module's definitions)."""
    decoded = [decode_signatures(records[i:i + DECODE_CHUNK]) for i in range(0, len(records), DECODE_CHUNK)]
    valid, sid, tick = (np.concatenate([d[k] for d in decoded]) if decoded else np.zeros(0, dtype=np.int64)
                        for k in range(3))
    # the valid records grouped by receiving stream, each group still in arrival order
    keep = np.flatnonzero(valid.astype(bool))
    order = keep[np.argsort(receivers[keep], kind="stable")]
    bounds = np.searchsorted(receivers[order], [[e.receiver, e.receiver + 1] for e in expectations])
    counts = []
    for want, (lo, hi) in zip(expectations, bounds, strict=True):
        mine = order[lo:hi]
        in_window = mine[(tick[mine] >= want.first_tick) & (tick[mine] < want.end_tick)]
        misrouted = int(np.count_nonzero(sid[in_window] != want.sender))
        frames = in_window[sid[in_window] == want.sender]
        expected = max(0, want.end_tick - want.first_tick)
        if frames.size == 0:
            counts.append(StreamCount(want.receiver, expected, 0, expected, 0, 0, misrouted,
                                      float("nan"), 0.0, np.arange(want.first_tick, want.end_tick)))
            continue
        # the first arrival of each tick (np.unique returns the first index of each value)
        ticks, first = np.unique(tick[frames], return_index=True)
        delay = arrivals[frames[first]] - (t0 + ticks * PTIME_S)
        base = float(delay.min())
        excess = delay - base
        lost = np.setdiff1d(np.arange(want.first_tick, want.end_tick), ticks, assume_unique=True)
        late = ticks[excess > late_s]
        counts.append(StreamCount(
            want.receiver, expected, int(ticks.size), expected - int(ticks.size), int(late.size),
            int(frames.size - ticks.size), misrouted, base, float(excess.max()),
            np.sort(np.concatenate([lost, late]))))
    return counts


def totals(counts: list[StreamCount], worst: int = 5) -> Totals:
    """Sums over the streams; ``worst_ticks`` shows whether bad frames come together (one stall
    hitting every stream at once) or apart."""
    bases = [c.base_delay_s for c in counts if not np.isnan(c.base_delay_s)]
    bad = np.concatenate([c.bad_ticks for c in counts]) if counts else np.zeros(0, dtype=np.int64)
    ticks, streams = np.unique(bad, return_counts=True)
    top = np.argsort(-streams, kind="stable")[:worst]
    return Totals(
        len(counts), sum(c.expected for c in counts), sum(c.received for c in counts),
        sum(c.lost for c in counts), sum(c.late for c in counts), sum(c.duplicates for c in counts),
        sum(c.misrouted for c in counts),
        float(np.median(bases)) * 1e3 if bases else float("nan"),
        max((c.max_excess_delay_s for c in counts), default=0.0) * 1e3,
        [(int(ticks[i]), int(streams[i])) for i in top])


# ---------------------------------------------------------------------------- the engine
class RtpEngine:
    """Up to ``max_streams`` RTP streams on one clock. Drive it with ``poll()`` (``run`` on asyncio).

    Tick k is due at ``t0 + k * PTIME_S``; a stream sends at every tick while started. ``poll()``
    sends every tick that is due (catching up if the process was late: the lateness is recorded
    in ``send_lateness``) and drains the sockets.
    """

    def __init__(self, max_streams: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.t0 = clock()
        self.next_tick = 0
        self.max_streams = max_streams
        self.packets = np.zeros((max_streams, PACKET_BYTES), dtype=np.uint8)
        self.packets[:, 0] = RTP_VERSION_BYTE
        self.packets[:, 1] = PCMU
        ssrc = (SSRC_BASE + np.arange(max_streams)).astype(">u4")
        self.packets[:, 8:12] = ssrc.view(np.uint8).reshape(max_streams, 4)
        self.stream_ids = np.arange(max_streams)
        self.packets[:, HEADER_BYTES:] = tone_payload()
        sid_bytes = nibbles(self.stream_ids, SID_NIBBLES)
        for offset in COPY_OFFSETS:
            start = HEADER_BYTES + offset
            self.packets[:, start:start + SID_NIBBLES] = sid_bytes
        # columns of the tick and check nibbles of every copy, rewritten at each tick
        self.tick_columns = np.concatenate([HEADER_BYTES + offset + SID_NIBBLES + np.arange(TICK_NIBBLES)
                                            for offset in COPY_OFFSETS])
        self.check_columns = np.concatenate([
            HEADER_BYTES + offset + SID_NIBBLES + TICK_NIBBLES + np.arange(CHECK_NIBBLES)
            for offset in COPY_OFFSETS])
        self.rows = [memoryview(self.packets[i]) for i in range(max_streams)]  # type: ignore[arg-type]
        self.sockets: list[socket.socket | None] = [None] * max_streams
        self.fd_stream: dict[int, int] = {}
        self.sending: dict[int, tuple[Callable, memoryview, tuple[str, int]]] = {}
        self.first_tick = np.full(max_streams, -1, dtype=np.int64)     # of the current session
        self.last_tick = np.full(max_streams, -1, dtype=np.int64)
        self.epoll = select.epoll()
        self.send_lateness: list[tuple[int, float]] = []    # (tick, s it went out late)
        self.send_errors = 0
        self.reserve(0)

    # ---------------------------------------------------------------- streams
    def add_stream(self, sock: socket.socket) -> int:
        """Register a bound, non-blocking UDP socket; the stream id (its signature's sender)."""
        stream = self.sockets.index(None)
        sock.setblocking(False)
        self.sockets[stream] = sock
        self.fd_stream[sock.fileno()] = stream
        self.epoll.register(sock.fileno(), select.EPOLLIN)
        return stream

    def start(self, stream: int, target: tuple[str, int]) -> None:
        """Send to ``target`` from the next tick on."""
        sock = self.sockets[stream]
        assert sock is not None
        self.sending[stream] = (sock.sendto, self.rows[stream], target)
        self.first_tick[stream] = self.next_tick
        self.last_tick[stream] = -1

    def stop(self, stream: int) -> None:
        if self.sending.pop(stream, None) is not None:
            self.last_tick[stream] = self.next_tick - 1

    def sent_ticks(self, stream: int) -> tuple[int, int]:
        """[first, end) ticks of the stream's current (or last) sending session."""
        end = self.next_tick if stream in self.sending else self.last_tick[stream] + 1
        return int(self.first_tick[stream]), int(end)

    def tick_at(self, instant: float) -> int:
        """The first tick due at or after ``instant``."""
        return max(0, int(np.ceil((instant - self.t0) / PTIME_S)))

    def due(self, tick: int) -> float:
        return self.t0 + tick * PTIME_S

    # ---------------------------------------------------------------- recording
    def reserve(self, frames: int) -> None:
        """Forget the arrival log and make room for ``frames`` packets."""
        capacity = max(frames, 1024)
        self.records = np.zeros((capacity, RECORD_BYTES), dtype=np.uint8)
        self.arrivals = np.zeros(capacity)
        self.receivers = np.zeros(capacity, dtype=np.int32)
        self._record_view = memoryview(self.records).cast("B")  # type: ignore[arg-type]
        self.count = 0
        self.send_lateness = []
        self.send_errors = 0

    def _grow(self) -> None:
        count = self.count
        records, arrivals, receivers = self.records, self.arrivals, self.receivers
        self.reserve(2 * len(records))
        self.records[:count], self.arrivals[:count], self.receivers[:count] = \
            records[:count], arrivals[:count], receivers[:count]
        self.count = count

    def log(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(records, receivers, arrivals) recorded since ``reserve``."""
        return self.records[:self.count], self.receivers[:self.count], self.arrivals[:self.count]

    # ---------------------------------------------------------------- the clock
    def poll(self) -> float:
        """Send the due ticks, drain the sockets; the instant the next poll is due."""
        now = self.clock()
        while now >= self.t0 + self.next_tick * PTIME_S:
            if self.sending:
                self._send_tick(self.next_tick)
                self.send_lateness.append((self.next_tick, now - (self.t0 + self.next_tick * PTIME_S)))
            self.next_tick += 1
        self._receive()
        return min(self.t0 + self.next_tick * PTIME_S, self.clock() + POLL_S)

    def _send_tick(self, tick: int) -> None:
        self.build_tick(tick)
        for sendto, row, target in self.sending.values():
            try:
                sendto(row, target)
            except OSError:         # e.g. ECONNREFUSED left by an ICMP error: counted, not fatal
                self.send_errors += 1

    def build_tick(self, tick: int) -> None:
        """Rewrite every stream's packet for ``tick`` (``packets[stream]``): header and signatures."""
        seq, timestamp = tick & 0xFFFF, (tick * FRAME_SAMPLES) & 0xFFFFFFFF
        packets = self.packets
        packets[:, 2] = seq >> 8
        packets[:, 3] = seq & 0xFF
        packets[:, 4:8] = np.frombuffer(timestamp.to_bytes(4, "big"), dtype=np.uint8)
        copies = len(COPY_OFFSETS)
        packets[:, self.tick_columns] = np.tile(nibbles(np.array([tick]), TICK_NIBBLES), copies)
        packets[:, self.check_columns] = np.tile(
            nibbles(check_value(self.stream_ids, np.full(self.max_streams, tick)), CHECK_NIBBLES), copies)

    def _receive(self) -> None:
        ready = self.epoll.poll(0)
        while ready:
            now = self.clock()
            for fd, _ in ready:
                stream = self.fd_stream.get(fd)
                if stream is None:
                    continue
                sock = self.sockets[stream]
                if self.count == len(self.records):
                    self._grow()
                offset = self.count * RECORD_BYTES
                try:
                    sock.recv_into(self._record_view[offset:offset + RECORD_BYTES], RECORD_BYTES)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:     # an ICMP error reported on the socket
                    continue
                self.arrivals[self.count] = now
                self.receivers[self.count] = stream
                self.count += 1
            ready = self.epoll.poll(0)

    async def run(self) -> None:
        """Poll on the running asyncio loop until cancelled."""
        while True:
            wake = self.poll()
            await asyncio.sleep(max(0.0, wake - self.clock()))

    def close(self) -> None:
        self.epoll.close()
        for sock in self.sockets:
            if sock is not None:
                sock.close()
        self.sockets = [None] * self.max_streams
