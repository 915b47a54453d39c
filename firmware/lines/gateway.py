"""The line gateway: every analog port of a card as a switch endpoint, driven by the card's tick.

Sans-IO: ``LineGateway(card).tick()`` is one 20 ms frame of the whole card and returns the events
for the switch; the switch's decisions come back as method calls (``seize``, ``answer``,
``hang_up``, ``ring``, ``play_tone``, ``send_digits``), which act from the next tick. Nothing here
has a clock: timeouts are counted in frames.

Per port and per frame:

* toward the line: the audio of the network side (a G.711 frame from the port's queue) or, instead
  of it, a tone (dial tone, ringback, busy to an FXS phone; the DTMF the box dials on an FXO
  line). Tones are coded to G.711 like network audio, so ``LineDsp`` decodes every frame that goes
  to the line and that exact frame is its echo canceller's far-end reference;
* from the line: ``LineDsp`` cancels the echo (with NLP), detects DTMF (-> ``LineDigit``) and codes
  the cleaned audio for the network side;
* FXO, off-hook: a ``CallProgressDetector`` (the port's country) on the cleaned audio gives dial
  tone (the box then dials), ringback, and busy/congestion (a disconnect if the port's settings
  list ``busy_tone``); polarity reversal and loop-current drops end the call when listed too;
* FXO, on-hook: a ``CallerIdReceiver`` reads FSK caller ID (before the ring or between rings) and
  the DTMF detector's digits feed a ``DtmfCallerIdReceiver``; the call is offered to the switch
  (``IncomingLineCall``) as soon as the caller ID is known, or at the second ring without one;
* FXS: off-hook gives the country's dial tone until the first digit; pulses (``PulseDigit`` from
  the card) and DTMF both become ``LineDigit``; ringing carries caller ID as the port's settings
  say (Bell 202 / V.23 MDMF, or DTMF).

The network side of a port is a pair of bounded queues of uint8 G.711 frames (160 codes):
``push_network(port, codes)`` feeds audio toward the line and ``pull_network(port)`` takes the
line's cleaned audio. A port with nothing queued plays silence. The runtime is meant to connect
each pair to a leg of a pjsua2 media worker through an ``AudioMediaPort`` of that worker's
conference bridge: ``onFrameRequested`` takes ``pull_network``'s frame and ``onFrameReceived``
gives ``push_network`` its frame, both copied through the frame's SWIG buffer pointer (about 1 us a
frame, where element-by-element ``ByteVector`` access costs about 200 us; see the SIP edge notes),
so the bridge and RTP stay in the worker and the line DSP stays here. That wiring is not done yet.
"""
from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

import numpy as np

from firmware.dsp import (
    CallerIdReceiver,
    CallProgressDetector,
    DtmfCallerIdReceiver,
    LineDsp,
    ToneGenerator,
    dtmf_generate,
    encode_dtmf_callerid,
    encode_mdmf,
    fsk_modulate,
    g711,
)
from firmware.dsp.callerid import CallerId
from firmware.dsp.levels import FRAME_SAMPLES, SAMPLE_RATE_HZ

from .card import (
    CardRemoved,
    CardRestored,
    LineCard,
    LoopCurrentDrop,
    LoopCurrentRestore,
    OffHook,
    OnHook,
    PolarityReversal,
    Port,
    PortKind,
    PulseDigit,
    RingOff,
    RingOn,
)
from .card import Flash as CardFlash
from .hook import pulse_train
from .settings import LINE_COUNTRIES, CallerIdType, DisconnectMethod

FRAME_MS = 1000.0 * FRAME_SAMPLES / SAMPLE_RATE_HZ
NETWORK_QUEUE_FRAMES = 10           # 200 ms each way: older frames are dropped (a stalled reader)
DIAL_TONE_WAIT_MS = 5000.0          # FXO: no dial tone this long after seizing ends the attempt
LOOP_DROP_DISCONNECT_MS = 250.0     # FXO: a loop-current drop this long is a disconnect (common value;
#                                     calling party control breaks are >= 350 ms, dial pulses shorter)
RING_END_MARGIN_MS = 2000.0         # FXO: no ring for the cadence's longest silence plus this: caller gave up
DIGIT_ON_MS = 80.0                  # DTMF the box dials: a key press, well above Q.24's 40 ms minimum
DIGIT_OFF_MS = 80.0
DIGIT_LEVEL_DBM0 = -8.0             # per tone, a phone's usual send level
ECHO_GUARD_MS = 200.0               # after the box's own DTMF, digits heard on the line are its echo
TONES = ("dial", "ringback", "busy", "congestion")


def _frames(ms: float) -> int:
    return max(1, int(round(ms / FRAME_MS)))


# ------------------------------------------------------------------ events for the switch
@dataclass(frozen=True, slots=True)
class GatewayEvent:
    port: str


@dataclass(frozen=True, slots=True)
class IncomingLineCall(GatewayEvent):
    """FXO: the exchange is ringing the port; ``caller_id`` as the line sent it (None: none came)."""

    caller_id: CallerId | None


@dataclass(frozen=True, slots=True)
class LineOffHook(GatewayEvent):
    """FXS: the phone was lifted while idle (it hears dial tone and will dial)."""


@dataclass(frozen=True, slots=True)
class LineAnswered(GatewayEvent):
    """FXS: the phone the switch rang was lifted."""


@dataclass(frozen=True, slots=True)
class LineDigit(GatewayEvent):
    """A digit from the line: ``method`` "dtmf" or "pulse"."""

    digit: str
    method: str


@dataclass(frozen=True, slots=True)
class LineFlash(GatewayEvent):
    """FXS: a hook flash."""


@dataclass(frozen=True, slots=True)
class LineProgress(GatewayEvent):
    """FXO: the exchange plays a call-progress tone ("dial", "ringback") during an outgoing call."""

    tone: str


@dataclass(frozen=True, slots=True)
class LineDialled(GatewayEvent):
    """FXO: the digits of ``seize`` went out; from now on the port carries the call's audio."""

    digits: str


@dataclass(frozen=True, slots=True)
class LineHangup(GatewayEvent):
    """The port's call ended from the line's side. ``cause``: "busy_tone", "congestion", "polarity",
    "loop_current", "no_dial_tone", "abandoned" (FXO); "on_hook" (FXS); "card_removed" (both)."""

    cause: str


@dataclass(frozen=True, slots=True)
class LineOutOfService(GatewayEvent):
    """The port's card went away."""


@dataclass(frozen=True, slots=True)
class LineInService(GatewayEvent):
    """The port's card is back; the port is idle."""


# ------------------------------------------------------------------ per-port state
class PortState(enum.Enum):
    IDLE = "idle"
    ALERTING = "alerting"           # FXO: rung by the exchange; FXS: ringing its phone
    SEIZING = "seizing"             # FXO: off-hook, waiting for dial tone
    DIALLING = "dialling"           # FXO: sending the digits of ``seize``
    DIAL_TONE = "dial_tone"         # FXS: off-hook, collecting digits
    CONNECTED = "connected"         # a call: audio both ways
    FAR_END_GONE = "far_end_gone"   # FXS: the switch hung up, the phone is still off-hook (busy tone)
    OUT_OF_SERVICE = "out_of_service"


@dataclass(frozen=True, slots=True)
class PortTap:
    """The last frame of a port, for measurement (self-test): int16 line audio both ways, and the
    cleaned audio as the network side gets it."""

    to_line: np.ndarray
    from_line: np.ndarray
    to_network: np.ndarray


class _Port:
    """One port's DSP and call state."""

    def __init__(self, port: Port, law: str) -> None:
        self.port = port
        self.id = port.id
        self.fxo = port.kind is PortKind.FXO
        self.law = law
        self.encode, self.decode = (g711.ulaw_encode, g711.ulaw_decode) if law == "ulaw" \
            else (g711.alaw_encode, g711.alaw_decode)
        self.silence = self.encode(np.zeros(FRAME_SAMPLES, np.int16))
        self.from_network: deque[np.ndarray] = deque(maxlen=NETWORK_QUEUE_FRAMES)
        self.to_network: deque[np.ndarray] = deque(maxlen=NETWORK_QUEUE_FRAMES)
        self.state = PortState.IDLE if port.in_service else PortState.OUT_OF_SERVICE
        self.tap: PortTap | None = None
        self.configure()

    def configure(self) -> None:
        settings = self.port.settings
        self.settings = settings
        self.dsp = LineDsp(self.law, tail_ms=settings.echo_tail_ms, rx_gain_db=settings.rx_gain_db,
                           tx_gain_db=settings.tx_gain_db)
        self.tx_gain = None if settings.tx_gain_db == 0 else 10.0 ** (settings.tx_gain_db / 20.0)
        self.progress = CallProgressDetector(settings.country) if self.fxo else None
        self.fsk = CallerIdReceiver() if self.fxo else None
        self.dtmf_callerid = DtmfCallerIdReceiver() if self.fxo else None
        cadence = LINE_COUNTRIES[settings.country].ring_cadence_ms
        self.ring_end_frames = _frames(max(cadence[1::2]) + RING_END_MARGIN_MS)
        self.reset_call()

    def reset_call(self) -> None:
        self.tone: ToneGenerator | None = None
        self.outgoing: deque[np.ndarray] = deque()     # int16 frames the box dials (DTMF)
        self.digits_to_dial = ""
        self.dial_method = "dtmf"
        self.timer: int | None = None                   # frames left to a state's timeout
        self.echo_guard = 0                             # frames left in which line digits are our echo
        self.caller_id: CallerId | None = None
        self.rings = 0
        self.offered = False
        self.loop_drop: int | None = None               # frames the loop current has been gone
        self.from_network.clear()
        self.to_network.clear()
        self.dsp.reset()
        if self.progress is not None:
            self.progress.reset()
            self.fsk.reset()
            self.dtmf_callerid.reset()

    @property
    def off_hook(self) -> bool:
        return self.port.is_off_hook

    def line_frame(self) -> np.ndarray:
        """The G.711 codes toward the line this frame: a tone or the box's digits, else the network's."""
        network = self.from_network.popleft() if self.from_network else self.silence
        if self.outgoing:
            return self.encode(self.outgoing.popleft())
        if self.tone is not None:
            return self.encode(self.tone.process(FRAME_SAMPLES))
        if self.state is PortState.CONNECTED:
            return network
        return self.silence


# ------------------------------------------------------------------ the gateway
class LineGateway:
    """All ports of one card, for the switch; see the module docstring."""

    def __init__(self, card: LineCard, law: str = "ulaw") -> None:
        if law not in ("ulaw", "alaw"):
            raise ValueError(f"law must be 'ulaw' or 'alaw', got {law!r}")
        self.card = card
        self.law = law
        self._ports = {port.id: _Port(port, law) for port in card.ports}

    # ---------------------------------------------------------------- the network side
    def push_network(self, port: str, codes: np.ndarray) -> None:
        """A G.711 frame (uint8[160]) of the network side, to be played to the line."""
        if not isinstance(codes, np.ndarray) or codes.dtype != np.uint8 or codes.shape != (FRAME_SAMPLES,):
            raise ValueError(f"a network frame is a numpy uint8 array of shape ({FRAME_SAMPLES},)")
        self._port(port).from_network.append(codes)

    def pull_network(self, port: str) -> np.ndarray | None:
        """The oldest G.711 frame of the line's cleaned audio for the network side, or None."""
        queue = self._port(port).to_network
        return queue.popleft() if queue else None

    def tap(self, port: str) -> PortTap | None:
        return self._port(port).tap

    def erle_db(self, port: str) -> float:
        """The port's echo canceller's own estimate of its echo return loss enhancement."""
        return self._port(port).dsp.erle_db

    def state(self, port: str) -> str:
        return self._port(port).state.value

    def status(self) -> list[dict]:
        """Each port's ``id``, ``kind``, ``card`` and ``state`` (plain values)."""
        return [{"id": p.id, "kind": p.port.kind.value, "card": p.port.card, "state": p.state.value}
                for p in self._ports.values()]

    def configure(self, port: str, settings) -> None:
        """New settings for an idle port (the card's and the DSP's)."""
        entry = self._port(port)
        if entry.state not in (PortState.IDLE, PortState.OUT_OF_SERVICE):
            raise ValueError(f"{port} is in a call ({entry.state.value}): change its settings when idle")
        entry.port.configure(settings)
        entry.configure()

    def _port(self, port: str) -> _Port:
        try:
            return self._ports[port]
        except KeyError:
            raise KeyError(f"no port {port!r}; the card has {', '.join(self._ports)}") from None

    # ---------------------------------------------------------------- commands from the switch
    def seize(self, port: str, digits: str = "", method: str = "dtmf") -> None:
        """FXO: take the line, wait for dial tone, dial ``digits`` ("dtmf" or "pulse")."""
        entry = self._need(port, PortKind.FXO, "seize", PortState.IDLE)
        if method not in ("dtmf", "pulse"):
            raise ValueError(f"method must be 'dtmf' or 'pulse', got {method!r}")
        entry.reset_call()
        entry.digits_to_dial, entry.dial_method = digits, method
        entry.port.off_hook()
        entry.state = PortState.SEIZING
        entry.timer = _frames(DIAL_TONE_WAIT_MS)

    def answer(self, port: str) -> None:
        """FXO: take the incoming call the exchange rings."""
        entry = self._need(port, PortKind.FXO, "answer", PortState.ALERTING)
        entry.port.off_hook()
        entry.state = PortState.CONNECTED
        entry.timer = None
        entry.dsp.reset()
        entry.progress.reset()

    def send_digits(self, port: str, digits: str) -> None:
        """DTMF toward the line during a call (the switch relays the other party's digits)."""
        entry = self._port(port)
        if entry.state is not PortState.CONNECTED:
            raise ValueError(f"{port} has no call ({entry.state.value})")
        self._queue_dtmf(entry, digits)

    def ring(self, port: str, caller_id: CallerId | None = None) -> None:
        """FXS: ring the phone, with ``caller_id`` sent as the port's settings say."""
        entry = self._need(port, PortKind.FXS, "ring", PortState.IDLE)
        entry.reset_call()
        entry.port.ring(caller_id=None if caller_id is None else self._caller_id_waveform(entry, caller_id))
        entry.state = PortState.ALERTING

    def play_tone(self, port: str, tone: str | None) -> None:
        """Play a call-progress tone ("dial", "ringback", "busy", "congestion") to the port instead of
        the network's audio, or stop it (None)."""
        entry = self._port(port)
        if tone is not None and tone not in TONES:
            raise ValueError(f"tone must be one of {', '.join(TONES)} or None, got {tone!r}")
        entry.tone = None if tone is None else ToneGenerator(tone, entry.settings.country)

    def hang_up(self, port: str) -> None:
        """The switch ends the port's call: FXO releases the line; FXS stops ringing, or plays busy
        tone to a phone still off-hook until it hangs up."""
        entry = self._port(port)
        if entry.state in (PortState.IDLE, PortState.OUT_OF_SERVICE):
            return
        if entry.fxo:
            entry.port.on_hook()
            self._idle(entry)
        elif entry.state is PortState.ALERTING:
            entry.port.stop_ring()
            self._idle(entry)
        else:
            entry.reset_call()
            entry.state = PortState.FAR_END_GONE
            entry.tone = ToneGenerator("busy", entry.settings.country)

    def _need(self, port: str, kind: PortKind, control: str, state: PortState) -> _Port:
        entry = self._port(port)
        if entry.port.kind is not kind:
            raise ValueError(f"{control} is for {kind.value} ports; {port} is {entry.port.kind.value}")
        if entry.state is not state:
            raise ValueError(f"{port} is {entry.state.value}: {control} needs it {state.value}")
        return entry

    def _caller_id_waveform(self, entry: _Port, caller_id: CallerId) -> np.ndarray | None:
        kind = entry.settings.caller_id
        if kind is CallerIdType.NONE:
            return None
        if kind is CallerIdType.DTMF:
            if caller_id.number is None and caller_id.number_absence is None:
                return None
            return dtmf_generate(encode_dtmf_callerid(caller_id), DIGIT_ON_MS, DIGIT_OFF_MS, DIGIT_LEVEL_DBM0)
        return fsk_modulate(encode_mdmf(caller_id), kind.value)

    def _queue_dtmf(self, entry: _Port, digits: str) -> None:
        samples = dtmf_generate(digits, DIGIT_ON_MS, DIGIT_OFF_MS, DIGIT_LEVEL_DBM0)
        padded = np.zeros(-(-samples.size // FRAME_SAMPLES) * FRAME_SAMPLES, np.int16)
        padded[:samples.size] = samples
        entry.outgoing.extend(padded.reshape(-1, FRAME_SAMPLES))
        entry.echo_guard = len(entry.outgoing) + _frames(ECHO_GUARD_MS)

    def _idle(self, entry: _Port) -> None:
        entry.reset_call()
        entry.state = PortState.IDLE

    # ---------------------------------------------------------------- the frame
    def tick(self) -> list[GatewayEvent]:
        """One 20 ms frame of the card both ways; the events for the switch."""
        to_line: dict[str, np.ndarray] = {}
        codes: dict[str, np.ndarray] = {}
        for entry in self._ports.values():
            code = entry.line_frame()
            codes[entry.id] = code
            samples = entry.decode(code)
            if entry.tx_gain is not None:
                samples = np.clip(np.rint(samples * entry.tx_gain), -32768, 32767).astype(np.int16)
            to_line[entry.id] = samples
        frame = self.card.tick(to_line)
        events: list[GatewayEvent] = []
        for event in frame.events:
            events += self._on_card_event(self._ports[event.port], event)
        for entry in self._ports.values():
            from_line = frame.audio.get(entry.id)
            if from_line is None or entry.state is PortState.OUT_OF_SERVICE:
                continue
            events += self._process(entry, from_line, codes[entry.id])
        return events

    def _process(self, entry: _Port, from_line: np.ndarray, code: np.ndarray) -> list[GatewayEvent]:
        events: list[GatewayEvent] = []
        out = entry.dsp.process(from_line, code)
        entry.tap = PortTap(out.to_line, from_line, out.to_network)
        if entry.state is PortState.CONNECTED:
            entry.to_network.append(out.to_network)
        if entry.echo_guard:
            entry.echo_guard -= 1
        line_digits = "".join(d.digit for d in out.digits)
        if entry.fxo:
            events += self._fxo_frame(entry, from_line, out.to_network, line_digits)
        elif line_digits and entry.state in (PortState.DIAL_TONE, PortState.CONNECTED):
            if entry.state is PortState.DIAL_TONE:
                entry.tone = None                       # the first digit ends dial tone
            events += [LineDigit(entry.id, digit, "dtmf") for digit in line_digits]
        return events

    def _fxo_frame(self, entry: _Port, from_line: np.ndarray, cleaned_codes: np.ndarray,
                   line_digits: str) -> list[GatewayEvent]:
        events: list[GatewayEvent] = []
        if not entry.off_hook:
            found = entry.fsk.process(from_line)
            if line_digits:
                found += entry.dtmf_callerid.process(line_digits)
            if found:
                entry.caller_id = found[-1]
                if entry.state is PortState.ALERTING and not entry.offered:
                    events += self._offer(entry)
            if entry.state is PortState.ALERTING and entry.timer is not None:
                entry.timer -= 1
                if entry.timer <= 0:
                    offered = entry.offered
                    self._idle(entry)
                    if offered:
                        events.append(LineHangup(entry.id, "abandoned"))
            return events
        if line_digits and entry.state is PortState.CONNECTED and not entry.echo_guard:
            events += [LineDigit(entry.id, digit, "dtmf") for digit in line_digits]
        for tone in entry.progress.process(entry.decode(cleaned_codes)):
            events += self._progress(entry, tone.kind)
            if entry.state is PortState.IDLE:
                return events
        if entry.loop_drop is not None:
            entry.loop_drop += 1
            if entry.loop_drop >= _frames(LOOP_DROP_DISCONNECT_MS):
                return events + self._disconnect(entry, "loop_current")
        if entry.state is PortState.SEIZING:
            entry.timer -= 1
            if entry.timer <= 0:
                events += self._disconnect(entry, "no_dial_tone")
        elif entry.state is PortState.DIALLING and not entry.outgoing:
            entry.timer = None if entry.timer is None or entry.timer <= 1 else entry.timer - 1
            if entry.timer is None:                     # DTMF sent, or the card's pulse train over
                entry.state = PortState.CONNECTED
                events.append(LineDialled(entry.id, entry.digits_to_dial))
        return events

    def _progress(self, entry: _Port, kind: str) -> list[GatewayEvent]:
        if kind == "dial":
            if entry.state is PortState.SEIZING:
                entry.state = PortState.DIALLING
                if entry.dial_method == "pulse":
                    entry.port.pulse_dial(entry.digits_to_dial)
                    entry.timer = _frames(pulse_train(entry.digits_to_dial, 0.0)[1])
                else:
                    entry.timer = None
                    self._queue_dtmf(entry, entry.digits_to_dial)
                return [LineProgress(entry.id, "dial")]
            return []
        if kind == "ringback":
            return [LineProgress(entry.id, "ringback")]
        method_listed = DisconnectMethod.BUSY_TONE in entry.settings.disconnect
        if method_listed and entry.state in (PortState.CONNECTED, PortState.DIALLING):
            return self._disconnect(entry, "busy_tone" if kind == "busy" else "congestion")
        return []

    def _disconnect(self, entry: _Port, cause: str) -> list[GatewayEvent]:
        entry.port.on_hook()
        self._idle(entry)
        return [LineHangup(entry.id, cause)]

    def _offer(self, entry: _Port) -> list[GatewayEvent]:
        entry.offered = True
        return [IncomingLineCall(entry.id, entry.caller_id)]

    # ---------------------------------------------------------------- signalling from the card
    def _on_card_event(self, entry: _Port, event) -> list[GatewayEvent]:
        if isinstance(event, CardRemoved):
            in_call = entry.state not in (PortState.IDLE, PortState.OUT_OF_SERVICE)
            entry.reset_call()
            entry.state = PortState.OUT_OF_SERVICE
            return ([LineHangup(entry.id, "card_removed")] if in_call else []) + [LineOutOfService(entry.id)]
        if isinstance(event, CardRestored):
            self._idle(entry)
            return [LineInService(entry.id)]
        if entry.state is PortState.OUT_OF_SERVICE:
            return []
        return self._fxo_signal(entry, event) if entry.fxo else self._fxs_signal(entry, event)

    def _fxo_signal(self, entry: _Port, event) -> list[GatewayEvent]:
        settings = entry.settings
        if isinstance(event, RingOn):
            if entry.state is PortState.IDLE:
                entry.state = PortState.ALERTING
            if entry.state is not PortState.ALERTING:
                return []
            entry.rings += 1
            entry.timer = None
            waits_for_id = settings.caller_id is not CallerIdType.NONE and entry.caller_id is None \
                and entry.rings < 2
            if not entry.offered and not waits_for_id:
                return self._offer(entry)
        elif isinstance(event, RingOff) and entry.state is PortState.ALERTING:
            entry.timer = entry.ring_end_frames
        elif isinstance(event, PolarityReversal):
            if DisconnectMethod.POLARITY in settings.disconnect and entry.off_hook and \
                    entry.state in (PortState.CONNECTED, PortState.DIALLING):
                return self._disconnect(entry, "polarity")
        elif isinstance(event, LoopCurrentDrop):
            if DisconnectMethod.LOOP_CURRENT in settings.disconnect and entry.off_hook:
                entry.loop_drop = 0
        elif isinstance(event, LoopCurrentRestore):
            entry.loop_drop = None
        return []

    def _fxs_signal(self, entry: _Port, event) -> list[GatewayEvent]:
        if isinstance(event, OffHook):
            if entry.state is PortState.ALERTING:
                entry.state = PortState.CONNECTED
                entry.dsp.reset()
                return [LineAnswered(entry.id)]
            entry.reset_call()
            entry.state = PortState.DIAL_TONE
            entry.tone = ToneGenerator("dial", entry.settings.country)
            return [LineOffHook(entry.id)]
        if isinstance(event, OnHook):
            was = entry.state
            self._idle(entry)
            return [LineHangup(entry.id, "on_hook")] if was is not PortState.IDLE else []
        if isinstance(event, PulseDigit) and entry.state in (PortState.DIAL_TONE, PortState.CONNECTED):
            if entry.state is PortState.DIAL_TONE:
                entry.tone = None
            return [LineDigit(entry.id, event.digit, "pulse")]
        if isinstance(event, CardFlash) and entry.state is PortState.CONNECTED:
            return [LineFlash(entry.id)]
        return []


__all__ = [
    "LineGateway", "PortState", "PortTap", "GatewayEvent", "IncomingLineCall", "LineOffHook", "LineAnswered",
    "LineDigit", "LineFlash", "LineProgress", "LineDialled", "LineHangup", "LineOutOfService",
    "LineInService",
]
