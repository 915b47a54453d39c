"""The load generator of the switch benchmark counts right: signatures, lost/late/duplicate frames.

- the signature of a frame is found whatever the offset between the box's frames and the packets
  (pjsua2's conference bridge is 40 samples off), after mu-law decode + encode;
- ``account`` on a synthetic log built by hand from the definitions in bench/loadgen/rtp.py;
- the engine on real sockets, stepped by a fake clock, through a relay that drops, delays and
  duplicates chosen packets (chosen by RTP sequence number, read with struct, not the engine);
- two calls through the lab (Kamailio + a pjsua2 media worker, routed by the stand-in runtime):
  registration and INVITE through digest challenges, both legs bridged, RTP both ways, the
  right peer's frames at each phone.
"""
from __future__ import annotations

import asyncio
import select
import socket
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.loadgen import rtp, sip
from bench.loadgen.box import start_box
from bench.loadgen.rtp import (
    FRAME_SAMPLES,
    HEADER_BYTES,
    PTIME_S,
    RECORD_BYTES,
    Expectation,
    RtpEngine,
    account,
    decode_signatures,
)
from bench.loadgen.ua import LoadGenerator, make_accounts
from firmware.dsp.g711 import ulaw_decode, ulaw_encode

LIVENESS_TIMEOUT_S = 5.0            # s: a packet on loopback that does not come within this is a bug


def frames_of(engine: RtpEngine, stream: int, ticks: range) -> np.ndarray:
    """(len(ticks), 172) packets ``stream`` sends at ``ticks``."""
    out = []
    for tick in ticks:
        engine.build_tick(tick)
        out.append(engine.packets[stream].copy())
    return np.array(out)


@pytest.mark.parametrize("offset", [0, 1, 15, 16, 39, 40, 41, 80, 119, 120, 144, 159])
def test_a_frame_is_named_whatever_the_bridge_offset(offset: int) -> None:
    """A bridge whose frames are ``offset`` samples off the packets: packet k carries the end of
    frame k and the start of frame k + 1; the first whole signature in it names one of the two."""
    engine = RtpEngine(3)
    packets = frames_of(engine, 2, range(100, 110))
    audio = ulaw_decode(np.ascontiguousarray(packets[:, HEADER_BYTES:]).ravel())  # the bridge hears
    shifted = ulaw_encode(np.ascontiguousarray(audio[offset:offset + 9 * FRAME_SAMPLES]))
    out = np.zeros((9, RECORD_BYTES), dtype=np.uint8)
    out[:, :HEADER_BYTES] = packets[:9, :HEADER_BYTES]           # the box's own header
    out[:, HEADER_BYTES:] = shifted.reshape(9, FRAME_SAMPLES)[:, :RECORD_BYTES - HEADER_BYTES]
    valid, sid, tick = decode_signatures(out)
    assert valid.all() and (sid == 2).all()
    first_tick = 100 if offset <= rtp.COPY_OFFSETS[-1] else 101
    assert list(tick) == list(range(first_tick, first_tick + 9))


def test_noise_and_silence_carry_no_signature() -> None:
    rng = np.random.default_rng(7)
    records = rng.integers(0, 256, size=(5000, RECORD_BYTES), dtype=np.uint8)
    records[:, 0], records[:, 1] = rtp.RTP_VERSION_BYTE, rtp.PCMU
    records[:10, HEADER_BYTES:] = 0xFF                            # mu-law silence
    valid, _, _ = decode_signatures(records)
    assert not valid.any()


def synthetic_log(engine: RtpEngine, arrivals_by_tick: dict[int, list[float]], stream: int,
                  receiver: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A log in arrival order: ``stream``'s frame of each tick arriving at the given instants."""
    rows = [(arrival, tick) for tick, arrivals in arrivals_by_tick.items() for arrival in arrivals]
    rows.sort()
    packets = frames_of(engine, stream, range(max(arrivals_by_tick) + 1))
    records = np.array([packets[tick, :RECORD_BYTES] for _, tick in rows])
    return records, np.full(len(rows), receiver, dtype=np.int32), np.array([a for a, _ in rows])


def test_account_counts_a_known_lossy_stream() -> None:
    """1000 frames due every 20 ms, 30 ms of path delay, up to 50 ms of jitter (on time: within
    60 ms of the base delay); every 10th lost, every 25th held 100 ms more (late), 20 repeated,
    and frames of a crossed call arriving too."""
    engine = RtpEngine(4)
    window = range(200, 900)                                  # only these ticks count
    t0, base_s, jitter = engine.t0, 0.030, np.random.default_rng(3).uniform(0.0, 0.050, 1000)
    jitter[window.start] = 0.0                                # the fastest frame sets the base delay
    arrivals: dict[int, list[float]] = {}
    for k in range(1000):
        if k % 10 == 3:
            continue
        when = t0 + k * PTIME_S + base_s + (0.100 if k % 25 == 1 else jitter[k])
        arrivals[k] = [when, when + 0.005] if k % 50 == 7 else [when]
    records, receivers, times = synthetic_log(engine, arrivals, stream=1, receiver=0)
    crossed = synthetic_log(engine, {k: [t0 + k * PTIME_S + base_s] for k in range(0, 1000, 100)},
                            stream=3, receiver=0)
    records, receivers, times = (np.concatenate(pair) for pair in zip((records, receivers, times), crossed,
                                                                       strict=True))
    order = np.argsort(times, kind="stable")
    records, receivers, times = records[order], receivers[order], times[order]

    [count] = account(records, receivers, times, t0, [Expectation(0, 1, window.start, window.stop)])
    lost = sum(1 for k in window if k % 10 == 3)
    late = sum(1 for k in window if k % 25 == 1 and k % 10 != 3)
    assert count.expected == len(window)
    assert count.lost == lost
    assert count.late == late
    assert count.received == len(window) - lost
    assert count.duplicates == sum(1 for k in window if k % 50 == 7)
    assert count.misrouted == sum(1 for k in window if k % 100 == 0)
    assert count.base_delay_s == pytest.approx(base_s, abs=1e-9)
    assert count.max_excess_delay_s == pytest.approx(0.100, abs=1e-9)


def test_a_receiver_that_got_nothing_lost_everything() -> None:
    engine = RtpEngine(2)
    empty = np.zeros((0, RECORD_BYTES), dtype=np.uint8)
    [count] = account(empty, np.zeros(0, dtype=np.int32), np.zeros(0), engine.t0, [Expectation(0, 1, 10, 60)])
    assert (count.expected, count.received, count.lost, count.late) == (50, 0, 50, 0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def receive_until(engine: RtpEngine, count: int, sockets: list[socket.socket]) -> None:
    """Poll (at the same fake instant) until the engine has logged ``count`` packets."""
    while engine.count < count:
        ready, _, _ = select.select(sockets, [], [], LIVENESS_TIMEOUT_S)
        assert ready, "a packet sent on loopback did not arrive"
        engine.poll()


def test_the_engine_through_a_lossy_relay() -> None:
    """Stream 0 -> relay -> stream 1 and stream 1 -> stream 0 straight, on real sockets. The relay
    drops sequence numbers = 3 mod 10, holds = 1 mod 25 back by 5 ticks (100 ms) and sends = 7
    mod 50 twice. The fake clock makes arrival times exact: the straight path has no delay."""
    clock = FakeClock()
    engine = RtpEngine(2, clock=clock)
    a, b, relay = udp_socket(), udp_socket(), udp_socket()
    try:
        assert engine.add_stream(a) == 0 and engine.add_stream(b) == 1
        engine.start(0, relay.getsockname())
        engine.start(1, a.getsockname())
        held: list[tuple[int, bytes]] = []
        ticks, sent = 300, 0
        for k in range(ticks):
            clock.now = engine.due(k)
            engine.poll()                                 # sends tick k on both streams
            packet = relay.recv(2048)
            seq = struct.unpack_from("!H", packet, 2)[0]
            forwarded = 1                                 # stream 1 -> stream 0, straight
            if seq % 10 == 3:
                pass
            elif seq % 25 == 1:
                held.append((k + 5, packet))
            else:
                copies = 2 if seq % 50 == 7 else 1
                for _ in range(copies):
                    relay.sendto(packet, b.getsockname())
                forwarded += copies
            for release in [p for due, p in held if due == k]:
                relay.sendto(release, b.getsockname())
                forwarded += 1
            held = [(due, p) for due, p in held if due != k]
            sent += forwarded
            receive_until(engine, sent, [a, b])           # stamped with the same instant
        window = range(50, ticks - 10)
        straight, relayed = account(*engine.log(), engine.t0, [Expectation(0, 1, window.start, window.stop),
                                                               Expectation(1, 0, window.start, window.stop)])
    finally:
        engine.close()
        relay.close()
    assert (straight.lost, straight.late, straight.duplicates, straight.base_delay_s) == (0, 0, 0, 0.0)
    assert straight.received == len(window)
    assert relayed.lost == sum(1 for k in window if k % 10 == 3)
    assert relayed.late == sum(1 for k in window if k % 25 == 1 and k % 10 != 3)
    assert relayed.duplicates == sum(1 for k in window if k % 50 == 7)
    assert relayed.base_delay_s == 0.0
    assert relayed.max_excess_delay_s == pytest.approx(5 * PTIME_S)


def test_sip_lists_and_sdp() -> None:
    message = sip.parse(b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9\r\n"
                        b"Record-Route: <sip:e1;lr>, <sip:e2;lr;x=\"a,b\">\r\nCSeq: 2 INVITE\r\n"
                        b"Content-Length: 33\r\n\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0 8\r\n")
    assert message.branch == "z9hG4bK1" and message.method == "INVITE" and message.status == 200
    assert message.get_all("record-route") == ["<sip:e1;lr>", '<sip:e2;lr;x="a,b">']
    assert len(message.body) == 33
    body = sip.sdp("127.0.0.5", 4000, 1)
    assert sip.sdp_audio_target(body) == (("127.0.0.5", 4000), [0])


SIP_LIKE = st.one_of(
    st.binary(max_size=400),
    st.lists(st.sampled_from([b"SIP/2.0 200 OK", b"INVITE sip:a@b SIP/2.0", b"Via: x", b"v: ;branch=",
                              b"CSeq: 1", b"CSeq: x INVITE", b"Content-Length: -3", b"l: 99", b" folded",
                              b"To: <sip:a@b>;tag=", b"Record-Route: <,>", b"\xff\xfe", b""]),
             max_size=8).map(lambda lines: b"\r\n".join(lines) + b"\r\n\r\nbody"))


@given(SIP_LIKE)
def test_garbage_from_the_network_raises_only_parse_errors(data: bytes) -> None:
    """What a phone reads off its socket: anything not SIP is a ValueError (counted, dropped)."""
    try:
        message = sip.parse(data)
        _ = (message.branch, message.call_id, message.get_all("record-route"), message.is_request)
        _ = message.method if message.is_request else (message.status, message.cseq)
    except ValueError:
        pass


def test_two_calls_through_the_lab(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Registration, INVITE (407 then digest), bridging in the box, RTP both ways, BYE both sides."""
    pairs = make_accounts(2)
    with start_box(tmp_path_factory.mktemp("lg")) as box:      # short: Unix socket paths live there
        box.add_extensions({phone.user: phone.password for pair in pairs for phone in pair})
        box.prepare(2)

        async def run():
            generator = LoadGenerator(box.edge, pairs)
            await generator.open()
            try:
                statuses = await generator.register()
                result = await generator.run_step(2, hold_s=2.0)
            finally:
                await generator.close()
            return statuses, result

        statuses, result = asyncio.run(run())
    assert statuses == {200: 4}
    assert result.established == 2 and not result.failures
    totals = result.totals
    assert totals.streams == 4 and totals.expected == 4 * round(2.0 / PTIME_S)
    assert totals.misrouted == 0                  # each phone hears its own call's peer
    assert totals.received >= 0.9 * totals.expected   # media really crossed the box both ways
    assert result.callees_not_released == 0      # the box's BYE reached each callee
    assert result.sip_errors == 0
