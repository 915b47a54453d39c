"""The line-card control protocol: how the box drives a real card's hook and ring hardware.

A card's audio is an ALSA PCM; its signalling goes through one byte stream per card (a character
device, a USB CDC-ACM serial port, a pty or a socket of a user-space driver), named by the udev
property ``CALLBOX_CONTROL``. Version 1, ASCII, one message per line ending in "\\n", fields
separated by single spaces, ports numbered from 1 within the card (docs/line-cards.md has the table):

  card -> box (signals, each stamped with the card's millisecond clock, modulo 2^32):
      <ms> <port> hook off|on          FXS: the phone's loop closed / opened (raw, not debounced)
      <ms> <port> ring on|off          FXO: ringing voltage detected / gone
      <ms> <port> polarity +|-         FXO: the line's polarity is now normal / reversed
      <ms> <port> loop on|off          FXO: loop current back / gone while the port holds the line
                                       (the card does not report the breaks it makes itself)
  box -> card (commands, acted on at once):
      <port> hook off|on               FXO: seize / release the line
      <port> flash <ms>                FXO: open the loop for <ms>
      <port> pulse <digits> <break_ms> <make_ms> <pause_ms>   FXO: dial pulses, timed by the card
      <port> ring on|off               FXS: ringing voltage on / off (the box times the cadence)
      <port> mwi on|off                FXS: message-waiting indication (lamp or high voltage)

The card's timestamps let the box measure flashes and dial pulses to the millisecond whatever the
latency of the stream. This module is the codec only: bytes in, messages out, and back.
"""
from __future__ import annotations

from dataclasses import dataclass

PROTOCOL_VERSION = 1
MAX_LINE_BYTES = 128                # a longer line is garbage: dropped up to its end
CLOCK_MODULUS = 2 ** 32             # the card's ms counter wraps here

SIGNALS = {"hook": ("off", "on"), "ring": ("on", "off"), "polarity": ("+", "-"), "loop": ("on", "off")}


class ProtocolError(ValueError):
    """A message that does not follow the protocol."""


@dataclass(frozen=True, slots=True)
class CardSignal:
    """One signal from the card: ``at_ms`` on the card's clock (unwrapped), ``port`` from 1."""

    at_ms: int
    port: int
    name: str                       # hook, ring, polarity, loop
    value: str                      # as in SIGNALS


def parse_signal(line: bytes) -> tuple[int, int, str, str]:
    """(raw ms, port, name, value) of one line without its newline; ProtocolError if malformed."""
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError(f"not ASCII: {line[:40]!r}") from None
    fields = text.split(" ")
    if len(fields) != 4:
        raise ProtocolError(f"a signal is '<ms> <port> <name> <value>', got {text[:60]!r}")
    ms, port, name, value = fields
    if not (ms.isdigit() and port.isdigit()) or int(ms) >= CLOCK_MODULUS or not 0 < int(port) < 1000:
        raise ProtocolError(f"bad time or port in {text[:60]!r}")
    if value not in SIGNALS.get(name, ()):
        raise ProtocolError(f"unknown signal {name} {value!r}; known: {SIGNALS}")
    return int(ms), int(port), name, value


class SignalDecoder:
    """Bytes from the card in (any chunking), ``CardSignal``s out; malformed lines are counted and skipped."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._discarding = False            # inside an over-long line
        self._last_raw: int | None = None
        self._wraps = 0
        self.errors = 0
        self.last_error = ""

    def feed(self, data: bytes) -> list[CardSignal]:
        signals: list[CardSignal] = []
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_LINE_BYTES:
                    self._buffer.clear()
                    if not self._discarding:
                        self._error("line too long")
                    self._discarding = True
                return signals
            line, self._buffer = bytes(self._buffer[:end]).rstrip(b"\r"), self._buffer[end + 1:]
            if self._discarding:
                self._discarding = False
                continue
            if len(line) > MAX_LINE_BYTES:
                self._error("line too long")
                continue
            try:
                raw, port, name, value = parse_signal(line)
            except ProtocolError as error:
                self._error(str(error))
                continue
            signals.append(CardSignal(self._unwrap(raw), port, name, value))

    def _unwrap(self, raw: int) -> int:
        if self._last_raw is not None and raw < self._last_raw - CLOCK_MODULUS // 2:
            self._wraps += 1
        self._last_raw = raw
        return raw + self._wraps * CLOCK_MODULUS

    def _error(self, message: str) -> None:
        self.errors += 1
        self.last_error = message


def encode_command(port: int, verb: str, *args: str | int | float) -> bytes:
    """One command line: ``encode_command(2, "ring", "on") == b"2 ring on\\n"``."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 1000:
        raise ValueError(f"port must be an int in 1..999, got {port!r}")
    words = [str(port), verb, *(_word(a) for a in args)]
    if not all(w and w.isascii() and w.isprintable() and " " not in w for w in words):
        raise ValueError(f"command words must be printable ASCII without spaces, got {words!r}")
    return (" ".join(words) + "\n").encode("ascii")


def _word(arg: str | int | float) -> str:
    if isinstance(arg, float):
        return str(int(round(arg)))         # the protocol times in whole ms
    return str(arg)
