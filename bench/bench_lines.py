"""32 simulated line ports all in calls through the line gateway, with their audio carried to and
from the network side (G.711 frame queues), as the box runs them: CPU per port, share of one core,
and frame-deadline misses when paced in real time.

Every port is an FXO line (the heaviest kind): an answered inbound call, the far party talking,
speech from the network side at the same time (double talk at times), so every frame runs the
echo canceller with NLP, the DTMF detector, G.711 both ways and the call-progress detector. FSK
caller ID reception runs on on-hook FXO ports only (before and between rings), so in calls it costs
nothing; its cost per port is measured on its own and added in a worst-case figure. Carrying the
network side into pjsua2 media workers (AudioMediaPort through the SWIG buffer pointer) is later
work and not measured here.
"""
from __future__ import annotations

import time

import numpy as np

from bench.common import FRAME, FS
from firmware.dsp import CallerIdReceiver, g711
from firmware.lines.gateway import IncomingLineCall, LineGateway
from firmware.lines.simulated import SimulatedCard

PORTS = 32
CPU_SECONDS = 5                     # of audio, unpaced
PACED_SECONDS = 4                   # of audio, paced at 20 ms per tick
FRAME_S = FRAME / FS
BAR_CORE_PERCENT = 50.0             # issue 4, acceptance 6


def _card_in_calls(speech: np.ndarray) -> tuple[SimulatedCard, LineGateway]:
    card = SimulatedCard("bench", fxo=PORTS, fxs=0, country="CN")
    gateway = LineGateway(card)
    for n, port in enumerate(card.ports):
        card.exchange.configure(port.id, seed=n)
        card.exchange.call_in(port.id, number=f"1380013{n:04d}")
    answered = set()
    while len(answered) < PORTS:
        for event in gateway.tick():
            if isinstance(event, IncomingLineCall):
                gateway.answer(event.port)
                answered.add(event.port)
    for n, port in enumerate(card.ports):
        card.exchange.say(port.id, np.roll(speech, n * 997))
    return card, gateway


def _frames_of(speech: np.ndarray) -> list[np.ndarray]:
    codes = g711.ulaw_encode(speech)
    return [codes[i:i + FRAME] for i in range(0, codes.size - FRAME + 1, FRAME)]


def _tick(gateway: LineGateway, ports: list[str], network: list[np.ndarray], k: int) -> None:
    for n, port in enumerate(ports):
        gateway.push_network(port, network[(k + 7 * n) % len(network)])
    gateway.tick()
    for port in ports:
        gateway.pull_network(port)


def run(report) -> None:
    import signals

    report.section(f"line gateway: {PORTS} FXO ports in calls, full DSP, audio to and from the network side")
    far = signals.speech(CPU_SECONDS + PACED_SECONDS + 2, seed=21, level_dbm0=-15)
    network = _frames_of(signals.speech(8, seed=22, level_dbm0=-15))
    card, gateway = _card_in_calls(far)
    ports = [p.id for p in card.ports]
    ticks = int(CPU_SECONDS / FRAME_S)

    t0 = time.thread_time()
    for k in range(ticks):
        _tick(gateway, ports, network, k)
    total = time.thread_time() - t0

    # the simulated card and its exchange alone (the world the gateway runs against), to subtract
    bare = SimulatedCard("bare", fxo=PORTS, fxs=0, country="CN")
    silence = {p.id: np.zeros(FRAME, np.int16) for p in bare.ports}
    for p in bare.ports:
        p.off_hook()
    t0 = time.thread_time()
    for _ in range(ticks):
        bare.tick(silence)
    card_cost = time.thread_time() - t0

    fsk = CallerIdReceiver()
    line = far[:ticks * FRAME]
    t0 = time.thread_time()
    for i in range(0, line.size, FRAME):
        fsk.process(line[i:i + FRAME])
    fsk_frame_s = (time.thread_time() - t0) / ticks

    gateway_frame_s = (total - card_cost) / ticks
    per_port_us = gateway_frame_s / PORTS * 1e6
    core = 100.0 * gateway_frame_s / FRAME_S
    report.figure("lines.gateway_us_per_port_frame", per_port_us, "us", "gateway only (card subtracted)")
    card_us = card_cost / ticks / PORTS * 1e6
    report.figure("lines.card_sim_us_per_port_frame", card_us, "us", "simulated world")
    report.figure("lines.core_percent_32_ports", core, "%",
                  f"bar < {BAR_CORE_PERCENT:g} %: {'met' if core < BAR_CORE_PERCENT else 'MISSED'}")
    worst = 100.0 * (gateway_frame_s + PORTS * fsk_frame_s) / FRAME_S
    report.figure("lines.core_percent_32_ports_with_fsk", worst, "%", "plus FSK caller ID on all ports")
    report.figure("lines.core_percent_32_ports_incl_sim", 100.0 * total / ticks / FRAME_S, "%",
                  "gateway + simulated card")

    paced = int(PACED_SECONDS / FRAME_S)
    misses, late_max = 0, 0.0
    start = time.monotonic()
    for k in range(paced):
        deadline = start + (k + 1) * FRAME_S
        _tick(gateway, ports, network, ticks + k)
        now = time.monotonic()
        if now > deadline:
            misses += 1
            late_max = max(late_max, now - deadline)
        else:
            time.sleep(deadline - now)
    report.figure("lines.paced_deadline_misses", misses, "frames", f"of {paced} (gateway + simulated card)")
    report.figure("lines.paced_worst_late_ms", late_max * 1000.0, "ms")
