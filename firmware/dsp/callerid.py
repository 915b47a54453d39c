"""Caller ID messages: SDMF and MDMF (FSK) and DTMF caller ID, encoded, parsed and received.

The FSK layer (``_callerid``) moves bytes; this module gives them meaning. A message is
type, length, data, checksum, where the checksum makes all its bytes sum to 0 modulo 256:

* SDMF, type 0x04 (Telcordia GR-30-CORE "single data message"): the date and time as 8 ASCII
  digits MMDDhhmm, then the number in ASCII, or a single "O" (out of area) or "P" (private).
* MDMF, type 0x80 (GR-30 "multiple data message"; ETSI EN 300 659-3 "call set-up"): parameters of
  type, length, value: 0x01 date and time (MMDDhhmm), 0x02 number, 0x04 reason the number is absent,
  0x07 name, 0x08 reason the name is absent. Other parameter types are skipped, as EN 300 659-3
  asks of a receiver.

DTMF caller ID (national practice in Denmark, the Netherlands, Sweden, Brazil, India and others,
sent before the first ring; spandsp calls it CLIP-DTMF) is a digit string: "A" or "D", the number, then
"C" or "#"; or an absence code "B00C" (number unavailable) or "B10C" (private). Denmark's
"D1#", "D2#", "D3#" (private, international, unavailable) are read too. Sources disagree on B00/B10:
this follows Asterisk's ``callerid_get_dtmf``, which the field uses; spandsp's adsi.h comment
swaps the two.

Everything here is pure Python over bytes and strings, with no I/O; the two receivers are state
objects fed by the FSK receiver's samples or by the DTMF detector's digits.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from ._callerid import DEFAULT_MIN_LEVEL_DBM0, FSK_STANDARDS, FskReceiver, fsk_modulate

__all__ = [
    "FSK_STANDARDS", "FskReceiver", "fsk_modulate",
    "Absence", "CallTime", "CallerId", "CallerIdError", "Parameter",
    "encode_sdmf", "encode_mdmf", "parse_message", "CallerIdReceiver",
    "encode_dtmf_callerid", "parse_dtmf_callerid", "DtmfCallerIdReceiver",
]

SDMF_CALL_SETUP = 0x04
MDMF_CALL_SETUP = 0x80
MAX_MESSAGE_DATA = 255              # bytes: the length field is one byte


class Parameter(enum.IntEnum):
    """MDMF parameter types (GR-30-CORE, ETSI EN 300 659-3 clause 5.3)."""

    DATE_TIME = 0x01
    NUMBER = 0x02
    NUMBER_ABSENCE = 0x04
    NAME = 0x07
    NAME_ABSENCE = 0x08


class Absence(enum.Enum):
    """Why a number or name is missing."""

    UNAVAILABLE = "O"               # "out of area": the network does not have it
    PRIVATE = "P"                   # the caller withheld it


class CallerIdError(ValueError):
    """A caller ID message that is corrupt (checksum, length, field contents) or unsupported."""


@dataclass(frozen=True, slots=True)
class CallTime:
    """The exchange's date and time of the call. The messages carry no year."""

    month: int
    day: int
    hour: int
    minute: int

    def __post_init__(self) -> None:
        for field, low, high in (("month", 1, 12), ("day", 1, 31), ("hour", 0, 23), ("minute", 0, 59)):
            value = getattr(self, field)
            if not isinstance(value, int) or not low <= value <= high:
                raise CallerIdError(f"{field} must be an int in {low}..{high}, got {value!r}")

    def encode(self) -> bytes:
        return f"{self.month:02d}{self.day:02d}{self.hour:02d}{self.minute:02d}".encode("ascii")

    @classmethod
    def parse(cls, text: bytes) -> CallTime:
        if len(text) != 8 or not all(0x30 <= c <= 0x39 for c in text):
            raise CallerIdError(f"date and time must be 8 ASCII digits MMDDhhmm, got {bytes(text)!r}")
        return cls(int(text[0:2]), int(text[2:4]), int(text[4:6]), int(text[6:8]))


@dataclass(frozen=True, slots=True)
class CallerId:
    """Who is calling, as far as the line says."""

    number: str | None = None
    name: str | None = None
    date_time: CallTime | None = None
    number_absence: Absence | None = None
    name_absence: Absence | None = None


# ------------------------------------------------------------------ FSK messages
def _checksum(body: bytes) -> int:
    return -sum(body) & 0xFF


def _frame(message_type: int, data: bytes) -> bytes:
    if len(data) > MAX_MESSAGE_DATA:
        raise CallerIdError(f"message data is {len(data)} bytes; at most {MAX_MESSAGE_DATA} fit")
    body = bytes([message_type, len(data)]) + data
    return body + bytes([_checksum(body)])


def _printable(text: str, what: str) -> bytes:
    if not isinstance(text, str):
        raise CallerIdError(f"{what} must be a str, got {type(text).__name__}")
    if not all(" " <= ch <= "~" for ch in text):
        raise CallerIdError(f"{what} must be printable ASCII, got {text!r}")
    return text.encode("ascii")


def encode_sdmf(caller: CallerId) -> bytes:
    """The SDMF message (type 0x04) for ``caller``: date and time, then number or absence reason."""
    if caller.date_time is None:
        raise CallerIdError("SDMF always carries the date and time; date_time is None")
    if caller.name is not None or caller.name_absence is not None:
        raise CallerIdError("SDMF carries no name; use MDMF")
    if (caller.number is None) == (caller.number_absence is None):
        raise CallerIdError("SDMF carries either a number or a reason for its absence, exactly one")
    if caller.number is not None:
        number = _printable(caller.number, "number")
        if number in (b"O", b"P"):
            raise CallerIdError(f"number {caller.number!r} would read as an absence reason")
    else:
        number = caller.number_absence.value.encode("ascii")
    return _frame(SDMF_CALL_SETUP, caller.date_time.encode() + number)


def encode_mdmf(caller: CallerId) -> bytes:
    """The MDMF message (type 0x80) for ``caller``: one parameter per field that is set."""
    fields: list[tuple[Parameter, bytes]] = []
    if caller.date_time is not None:
        fields.append((Parameter.DATE_TIME, caller.date_time.encode()))
    if caller.number is not None:
        fields.append((Parameter.NUMBER, _printable(caller.number, "number")))
    if caller.number_absence is not None:
        fields.append((Parameter.NUMBER_ABSENCE, caller.number_absence.value.encode("ascii")))
    if caller.name is not None:
        fields.append((Parameter.NAME, _printable(caller.name, "name")))
    if caller.name_absence is not None:
        fields.append((Parameter.NAME_ABSENCE, caller.name_absence.value.encode("ascii")))
    data = bytearray()
    for parameter, value in fields:
        if len(value) > MAX_MESSAGE_DATA:
            raise CallerIdError(f"parameter {parameter.name} is {len(value)} bytes; at most "
                                f"{MAX_MESSAGE_DATA} fit")
        data += bytes([parameter, len(value)]) + value
    return _frame(MDMF_CALL_SETUP, bytes(data))


def _absence(value: bytes, what: str) -> Absence:
    try:
        return Absence(value.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise CallerIdError(f"{what} absence reason must be 'O' or 'P', got {bytes(value)!r}") from None


def _ascii(value: bytes, what: str) -> str:
    if not all(0x20 <= c <= 0x7E for c in value):
        raise CallerIdError(f"{what} must be printable ASCII, got {bytes(value)!r}")
    return value.decode("ascii")


def parse_message(message: bytes) -> CallerId:
    """The caller ID in one whole message (type, length, data, checksum), SDMF or MDMF.

    Raises ``CallerIdError`` (a ``ValueError``) naming what is wrong: length, checksum, a field.
    """
    if not isinstance(message, (bytes, bytearray, memoryview)):
        raise TypeError(f"message must be bytes, got {type(message).__name__}")
    message = bytes(message)
    if len(message) < 3:
        raise CallerIdError(f"a message has at least 3 bytes (type, length, checksum), got {len(message)}")
    message_type, length = message[0], message[1]
    if message_type not in (SDMF_CALL_SETUP, MDMF_CALL_SETUP):
        raise CallerIdError(f"unsupported message type 0x{message_type:02X} (call set-up is 0x04 or 0x80)")
    if len(message) != length + 3:
        raise CallerIdError(f"bad length: the length byte says {length} data bytes, the message has "
                            f"{len(message) - 3}")
    if sum(message) & 0xFF:
        raise CallerIdError(f"bad checksum: 0x{message[-1]:02X}, expected 0x{_checksum(message[:-1]):02X}")
    data = message[2:-1]
    if message_type == SDMF_CALL_SETUP:
        return _parse_sdmf(data)
    return _parse_mdmf(data)


def _parse_sdmf(data: bytes) -> CallerId:
    if len(data) < 9:
        raise CallerIdError(f"SDMF data is the date and time (8 bytes) and a number, got {len(data)} bytes")
    date_time, number = CallTime.parse(data[:8]), data[8:]
    if number in (b"O", b"P"):
        return CallerId(date_time=date_time, number_absence=Absence(number.decode("ascii")))
    return CallerId(number=_ascii(number, "number"), date_time=date_time)


def _parse_mdmf(data: bytes) -> CallerId:
    found: dict[int, bytes] = {}
    position = 0
    while position < len(data):
        if position + 2 > len(data):
            raise CallerIdError(f"MDMF parameter at offset {position} is cut short: no length byte")
        kind, length = data[position], data[position + 1]
        value = data[position + 2:position + 2 + length]
        if len(value) != length:
            raise CallerIdError(f"bad length: MDMF parameter 0x{kind:02X} says {length} bytes, "
                                f"{len(value)} remain")
        if kind in found:
            raise CallerIdError(f"MDMF parameter 0x{kind:02X} appears twice")
        found[kind] = value
        position += 2 + length
    fields: dict[str, object] = {}
    if Parameter.DATE_TIME in found:
        fields["date_time"] = CallTime.parse(found[Parameter.DATE_TIME])
    if Parameter.NUMBER in found:
        fields["number"] = _ascii(found[Parameter.NUMBER], "number")
    if Parameter.NUMBER_ABSENCE in found:
        fields["number_absence"] = _absence(found[Parameter.NUMBER_ABSENCE], "number")
    if Parameter.NAME in found:
        fields["name"] = found[Parameter.NAME].decode("latin-1")    # GR-30 says ASCII; be lenient
    if Parameter.NAME_ABSENCE in found:
        fields["name_absence"] = _absence(found[Parameter.NAME_ABSENCE], "name")
    return CallerId(**fields)


class CallerIdReceiver:
    """FSK caller ID (Bell 202, V.23, China) from line samples: ``process(pcm)`` -> [CallerId].

    Every call set-up type byte in the FSK receiver's output starts a candidate message; the
    first candidate that is whole and parses is taken, so a false start (noise that framed as
    0x04 or 0x80, a corrupt message) neither hides nor delays a real message behind it. A
    candidate still incomplete when the burst ends is dropped.
    """

    def __init__(self, min_level_dbm0: float = DEFAULT_MIN_LEVEL_DBM0) -> None:
        self._fsk = FskReceiver(min_level_dbm0)
        self._pending = bytearray()

    def reset(self) -> None:
        self._fsk.reset()
        self._pending.clear()

    def process(self, pcm) -> list[CallerId]:
        pending = self._pending
        pending += self._fsk.process(pcm)
        found: list[CallerId] = []
        keep_from = len(pending)            # the first candidate that may yet complete
        position = 0
        while position < len(pending):
            if pending[position] not in (SDMF_CALL_SETUP, MDMF_CALL_SETUP):
                position += 1
                continue
            end = position + pending[position + 1] + 3 if position + 1 < len(pending) else None
            if end is None or end > len(pending):
                keep_from = min(keep_from, position)
                position += 1
                continue
            try:
                found.append(parse_message(bytes(pending[position:end])))
            except CallerIdError:
                position += 1
                continue
            del pending[:end]               # everything before it was noise or a corrupt message
            keep_from, position = len(pending), 0
        if self._fsk.carrier:
            del pending[:keep_from]
        else:
            pending.clear()                 # the burst is over: nothing incomplete will complete
        return found


# ------------------------------------------------------------------ DTMF caller ID
DTMF_NUMBER_STARTS = "AD"
DTMF_ABSENCE_START = "B"
DTMF_STARTS = DTMF_NUMBER_STARTS + DTMF_ABSENCE_START
DTMF_ENDS = "C#"
DTMF_ABSENCE_CODES = {"00": Absence.UNAVAILABLE, "10": Absence.PRIVATE}
DANISH_ABSENCE_CODES = {"1": Absence.PRIVATE, "2": Absence.UNAVAILABLE, "3": Absence.UNAVAILABLE}
MAX_DTMF_CALLER_ID = 32             # digits, start and end included: longer is not caller ID


def encode_dtmf_callerid(caller: CallerId, *, start: str = "A", end: str = "C") -> str:
    """The DTMF string for ``caller``: ``start`` + number + ``end``, or "B00"/"B10" + ``end``."""
    if start not in DTMF_NUMBER_STARTS or end not in DTMF_ENDS:
        raise CallerIdError(f"start must be one of {DTMF_NUMBER_STARTS!r} and end one of {DTMF_ENDS!r}")
    if caller.number is not None:
        if not caller.number or not caller.number.isdigit() or not caller.number.isascii():
            raise CallerIdError(f"DTMF caller ID carries digits 0-9 only, got {caller.number!r}")
        return f"{start}{caller.number}{end}"
    if caller.number_absence is None:
        raise CallerIdError("nothing to send: no number and no absence reason")
    code = next(code for code, reason in DTMF_ABSENCE_CODES.items() if reason is caller.number_absence)
    return f"{DTMF_ABSENCE_START}{code}{end}"


def parse_dtmf_callerid(digits: str) -> CallerId:
    """The caller ID in one whole DTMF caller ID string (start digit to end digit)."""
    if not isinstance(digits, str):
        raise TypeError(f"digits must be a str, got {type(digits).__name__}")
    text = digits.upper()
    if len(text) < 3 or text[-1] not in DTMF_ENDS:
        raise CallerIdError(f"DTMF caller ID is a start digit, a body and {DTMF_ENDS!r}, got {digits!r}")
    start, body = text[0], text[1:-1]
    if not body.isdigit() or not body.isascii():
        raise CallerIdError(f"DTMF caller ID body must be digits 0-9, got {digits!r}")
    if start == DTMF_ABSENCE_START:
        if body not in DTMF_ABSENCE_CODES:
            known = ", ".join(DTMF_ABSENCE_CODES)
            raise CallerIdError(f"unknown DTMF absence code {body!r} (known: {known})")
        return CallerId(number_absence=DTMF_ABSENCE_CODES[body])
    if start == "D" and text[-1] == "#" and body in DANISH_ABSENCE_CODES:
        return CallerId(number_absence=DANISH_ABSENCE_CODES[body])
    if start not in DTMF_NUMBER_STARTS:
        raise CallerIdError(f"DTMF caller ID starts with A, B or D, got {digits!r}")
    return CallerId(number=body)


class DtmfCallerIdReceiver:
    """DTMF caller ID from detected digits: ``process(digits)`` -> [CallerId].

    Feed it the digits of ``DtmfDetector`` events as they come. Digits before a start digit (A, B,
    D) are ignored, and a start digit begins afresh; a string that does not parse, or grows past
    ``MAX_DTMF_CALLER_ID``, is dropped.
    """

    def __init__(self) -> None:
        self._collected = ""

    def reset(self) -> None:
        self._collected = ""

    def process(self, digits: str) -> list[CallerId]:
        if not isinstance(digits, str):
            raise TypeError(f"digits must be a str, got {type(digits).__name__}")
        found: list[CallerId] = []
        for digit in digits.upper():
            if digit in DTMF_STARTS:
                self._collected = digit           # a start digit always begins a new string
                continue
            if not self._collected:
                continue
            self._collected += digit
            if digit in DTMF_ENDS:
                try:
                    found.append(parse_dtmf_callerid(self._collected))
                except CallerIdError:
                    pass                          # not caller ID after all: wait for the next start
                self._collected = ""
            elif len(self._collected) >= MAX_DTMF_CALLER_ID:
                self._collected = ""
        return found
