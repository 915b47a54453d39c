"""The ALSA line card: audio through a multi-channel PCM, signalling through the control protocol.

Port i (from 1) is channel i-1 of one interleaved S16_LE PCM at 8 kHz, each way, with 20 ms periods
(160 frames). ``tick`` writes one period, then reads one: the read blocks until the card has
captured it, so the card's own sample clock paces the loop. Playback starts with
``prefill_periods`` of silence, the margin that absorbs the host's scheduling jitter; so the line
hears a frame that many periods after it was given, always exactly, sample for sample.

An overrun (the host was late to read) gives one frame of silence; an underrun is recovered on the
next write; both are counted in ``xruns``. Any other error of the PCM or of the control stream
means the device is gone: the card detaches itself (its ports report ``CardRemoved``) and waits for
``attach()`` (hot-plug calls it when udev sees the card again).

The signalling is the byte stream of ``control.py``, opened non-blocking; a tty is put in raw mode.
Signals carry the card's millisecond clock; they are placed on the box's clock by the smallest
delay seen so far (never later than they arrived, never before an earlier signal), so flash and
pulse lengths keep the card's precision. Hook timeouts (a digit's end, a hang-up) are judged
``SIGNAL_LATENCY_MS`` behind the frames, so a signal that much late is still placed exactly; one
later than that is placed at that limit. See docs/line-cards.md for how a real card maps.
"""
from __future__ import annotations

import os
import termios
import tty
from collections.abc import Sequence

import alsaaudio
import numpy as np

from firmware.dsp.levels import FRAME_SAMPLES, SAMPLE_RATE_HZ

from .base import FRAME_MS, BaseCard, BasePort
from .card import LineEvent, PortKind
from .control import CardSignal, SignalDecoder, encode_command
from .settings import PULSE_BREAK_SEND_MS, PULSE_MAKE_SEND_MS, PULSE_PAUSE_SEND_MS, PortSettings

PERIODS = 4                         # periods in the ALSA buffer (80 ms)
PREFILL_PERIODS = 2                 # of silence ahead of the first playback frame
READ_CHUNK_BYTES = 4096             # per read() of the control stream
SIGNAL_LATENCY_MS = 100             # a signal may arrive this late and still be timed exactly


class AlsaPort(BasePort):
    """A port whose controls become control-protocol commands."""

    def _send(self, verb: str, *args: str | float) -> None:
        self._card.send_command(encode_command(self.number, verb, *args))

    def _signal_hook(self, off_hook: bool) -> None:
        self._send("hook", "off" if off_hook else "on")

    def _signal_flash(self, break_ms: float) -> None:
        self._send("flash", break_ms)

    def _signal_pulses(self, digits: str) -> None:
        self._send("pulse", digits, PULSE_BREAK_SEND_MS, PULSE_MAKE_SEND_MS, PULSE_PAUSE_SEND_MS)

    def _signal_ring(self, on: bool) -> None:
        self._send("ring", "on" if on else "off")

    def _signal_message_waiting(self, on: bool) -> None:
        self._send("mwi", "on" if on else "off")


class AlsaCard(BaseCard):
    port_class = AlsaPort

    def __init__(self, name: str, kinds: Sequence[PortKind], capture_pcm: str, playback_pcm: str,
                 control_path: str | None = None, settings: PortSettings | None = None,
                 prefill_periods: int = PREFILL_PERIODS, pcm_class: type = alsaaudio.PCM) -> None:
        """``capture_pcm``/``playback_pcm`` are ALSA PCM names (e.g. "plughw:CARD=LineCard"),
        ``control_path`` the signalling stream (None: audio only, no signalling). ``pcm_class`` is
        ``alsaaudio.PCM``; a test may give a stand-in with the same methods."""
        if prefill_periods < 0 or prefill_periods >= PERIODS:
            raise ValueError(f"prefill_periods must be in 0..{PERIODS - 1}, got {prefill_periods}")
        self.capture_pcm, self.playback_pcm, self.control_path = capture_pcm, playback_pcm, control_path
        self._prefill = prefill_periods
        self._pcm_class = pcm_class
        self._capture = self._playback = None
        self._control_fd: int | None = None
        self._decoder = SignalDecoder()
        self._delay_ms = float("inf")       # smallest (arrival - card time) seen
        self._floor_ms = float("-inf")     # no signal may be placed before this (box ms)
        self.xruns = 0
        self.last_error = ""
        super().__init__(name, kinds, settings)
        self._channels = len(self.ports)
        self._interleaved = np.zeros((FRAME_SAMPLES, self._channels), "<i2")
        self._acquire()

    # ---------------------------------------------------------------- device
    def _open_pcm(self, pcm_type: int, device: str):
        return self._pcm_class(type=pcm_type, mode=alsaaudio.PCM_NORMAL, device=device,
                               channels=self._channels, rate=SAMPLE_RATE_HZ,
                               format=alsaaudio.PCM_FORMAT_S16_LE, periodsize=FRAME_SAMPLES, periods=PERIODS)

    def _acquire(self) -> None:
        try:
            self._capture = self._open_pcm(alsaaudio.PCM_CAPTURE, self.capture_pcm)
            self._playback = self._open_pcm(alsaaudio.PCM_PLAYBACK, self.playback_pcm)
            if self.control_path is not None:
                self._control_fd = os.open(self.control_path, os.O_RDWR | os.O_NONBLOCK | os.O_NOCTTY)
                if os.isatty(self._control_fd):
                    tty.setraw(self._control_fd, termios.TCSANOW)
        except (alsaaudio.ALSAAudioError, OSError):
            self._release()
            raise
        self._decoder = SignalDecoder()
        self._delay_ms, self._floor_ms = float("inf"), self.now_ms
        silence = np.zeros(FRAME_SAMPLES * self._channels, "<i2").tobytes()
        for _ in range(self._prefill):
            self._playback.write(silence)

    def _release(self) -> None:
        for pcm in (self._capture, self._playback):
            if pcm is not None:
                try:
                    pcm.close()
                except alsaaudio.ALSAAudioError:
                    pass                    # the device is already gone
        self._capture = self._playback = None
        if self._control_fd is not None:
            os.close(self._control_fd)
            self._control_fd = None

    def _lost(self, error: Exception) -> None:
        self.last_error = f"{type(error).__name__}: {error}"
        self.detach()

    def send_command(self, command: bytes) -> None:
        if self._control_fd is None:
            return
        try:
            os.write(self._control_fd, command)
        except BlockingIOError:
            self.last_error = f"control stream full: dropped {command!r}"
        except OSError as error:
            self._lost(error)

    # ---------------------------------------------------------------- the frame
    def _tick_present(self, outgoing: list[np.ndarray]) -> tuple[dict[str, np.ndarray], list[LineEvent]]:
        ports = self.ports
        for channel, (port, frame) in enumerate(zip(ports, outgoing, strict=True)):
            self._interleaved[:, channel] = port._fxs_frame(frame) if port.kind is PortKind.FXS else frame
        try:
            self._write(self._interleaved.tobytes())
            captured = self._read()
        except alsaaudio.ALSAAudioError as error:
            self._lost(error)
            return {port.id: np.zeros(FRAME_SAMPLES, np.int16) for port in ports}, []
        audio = {port.id: np.ascontiguousarray(captured[:, channel], dtype=np.int16)
                 for channel, port in enumerate(ports)}
        events = self._signals()
        end = self.now_ms + FRAME_MS
        if self.present:
            self._floor_ms = max(self._floor_ms, end - SIGNAL_LATENCY_MS)
            for port in ports:
                if port.kind is PortKind.FXS:
                    events += port._fxs_advance(self._floor_ms)
        return audio, events

    def _write(self, data: bytes) -> None:
        try:
            self._playback.write(data)
        except alsaaudio.ALSAAudioError:
            if self._playback.state() != alsaaudio.PCM_STATE_XRUN:
                raise
            self.xruns += 1                 # underrun: the next write prepares the PCM again
            self._playback.write(data)

    def _read(self) -> np.ndarray:
        length, data = self._capture.read()
        frames = np.zeros((FRAME_SAMPLES, self._channels), np.int16)
        if length < 0:
            self.xruns += 1                 # overrun: pyalsaaudio has prepared the PCM again
            return frames
        got = np.frombuffer(data, "<i2", count=length * self._channels).reshape(length, self._channels)
        frames[:min(length, FRAME_SAMPLES)] = got[:FRAME_SAMPLES]
        return frames

    def _signals(self) -> list[LineEvent]:
        if self._control_fd is None:
            return []
        data = bytearray()
        while True:
            try:
                chunk = os.read(self._control_fd, READ_CHUNK_BYTES)
            except BlockingIOError:
                break
            except InterruptedError:
                continue
            except OSError as error:
                self._lost(error)
                return []
            if not chunk:                   # end of stream: the device hung up
                self._lost(EOFError(f"control stream {self.control_path} closed"))
                return []
            data += chunk
        signals = self._decoder.feed(bytes(data))
        arrival = self.now_ms + FRAME_MS
        if signals:
            self._delay_ms = min(self._delay_ms, min(arrival - s.at_ms for s in signals))
        events: list[LineEvent] = []
        for signal in signals:
            events += self._dispatch(signal)
        return events

    def _dispatch(self, signal: CardSignal) -> list[LineEvent]:
        if not 0 < signal.port <= len(self.ports):
            self._decoder.errors += 1
            self._decoder.last_error = f"no port {signal.port} on card {self.name}"
            return []
        port = self.ports[signal.port - 1]
        fxs_signal = signal.name == "hook"
        if fxs_signal != (port.kind is PortKind.FXS):
            self._decoder.errors += 1
            self._decoder.last_error = f"{signal.name} is not a signal of {port.kind.value} port {port.id}"
            return []
        at = max(signal.at_ms + self._delay_ms, self._floor_ms)
        self._floor_ms = at
        events = [e for p in self.ports if p.kind is PortKind.FXS for e in p._fxs_advance(at)]  # in order
        if signal.name == "hook":
            return events + port._fxs_hook(signal.value == "off", at)
        if signal.name == "ring":
            return events + port._line_ring(signal.value == "on")
        if signal.name == "polarity":
            return events + port._line_polarity(1 if signal.value == "+" else -1)
        return events + port._line_battery(signal.value == "on", at)

    @property
    def protocol_errors(self) -> int:
        return self._decoder.errors
