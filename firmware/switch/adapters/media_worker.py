"""A pjsua2 media worker: one process holding at most 4 call legs, driven by the switch runtime.

Run as ``python -m firmware.switch.adapters.media_worker --name w1 --control w1.sock ...``. The
runtime connects to the Unix socket ``--control`` and speaks the line-based JSON protocol of
``worker_client`` (docs/sip-edge.md lists every command and event). The worker has no dial plan:
it reports what happens on its legs and does what it is told (answer, call, bridge, play, record,
hang up).

Why a pool of these processes: the pjsua2-python 2.15.1 wheel is compiled with PJSUA_MAX_CALLS 4,
so one process holds 4 legs, i.e. two bridged conversations. What this module obeys (each measured
on the wheel):

- pjsua2 is used from the main thread only: ``threadCnt = 0`` and ``mainThreadOnly``, so SIP work
  and every callback (DTMF from the media thread included) run inside ``libHandleEvents`` in the
  main loop, and no other Python thread ever calls pjsua2 (which would abort the process);
- every ``Call`` stays referenced in ``Worker.legs`` until it is DISCONNECTED (a collected one is
  hung up with 603), and is dropped only after ``libHandleEvents`` returns, never inside its own
  callback;
- at exit (SIGTERM or SIGINT) all legs are hung up, then players, recorders, calls and accounts
  are destroyed before ``libDestroy`` (an object still alive then aborts the process); callbacks
  let no exception escape (one reaching SWIG's C++ aborts it too);
- an INVITE is refused only after ``on_incoming_call`` has returned (refusing one without SDP
  inside it trips an assertion in pjsua 2.15.1);
- no sound device (``setNullDev``), kept open for good (``sndAutoCloseTime = -1``: it is the
  bridge's clock, and pjsua would close it after a second without calls and never reopen it);
  the conference bridge runs at 8 kHz; PCMU then PCMA are the only codecs enabled; DTMF is
  RFC 4733 telephone-event, both ways.

Admission: an INVITE is taken only from a trusted source (``--trust ip:port``: the edge, peer
workers) and only while the worker has fewer than ``--max-incoming`` incoming legs (default 2, so
each incoming leg keeps a free slot for its partner) and a controller is connected; otherwise it
is refused with 403 or 503, and the edge's dispatcher tries the next worker. When the controller
goes away, the worker hangs up all its legs: nobody would ever tell it what to do with them.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import math
import os
import re
import select
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pjsua2 as pj

from firmware.dsp.levels import SAMPLE_RATE_HZ, dbm0_to_amplitude

from .worker_client import COMMANDS, LineDecoder, ProtocolError, encode

MAX_LEGS = 4                        # PJSUA_MAX_CALLS of the pjsua2-python 2.15.1 wheel
EVENT_POLL_MS = 20                  # ms: longest libHandleEvents wait, so the longest a command waits
SHUTDOWN_GRACE_S = 3.0              # s: for BYEs to be answered at exit
FRAME_PTIME_MS = 20                 # ms: RTP packet and conference frame
STEADY_BURST_MS = 30000             # ms: a steady tone is this burst looped (the field is a short)
TONE_LEVEL_DBM0 = -10.0             # dBm0 per frequency, when a play command gives none
DTMF_DURATION_MS = 160              # ms: an RFC 4733 digit sent on a leg
REGISTRATION_EXPIRES_S = 300        # s
TRANSFER_DECLINED = 603             # SIP status answering a REFER (transfers: a later stage)
MAX_OUTBOX_BYTES = 1 << 20          # bytes of events queued for a controller that does not read
CODEC_PRIORITIES = {"PCMU/8000/1": 255, "PCMA/8000/1": 254}     # every other codec: 0, disabled
LEG_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class CommandError(ValueError):
    """A command that cannot be carried out; its message goes back in the reply."""


def _pj_error(exc: pj.Error) -> CommandError:
    return CommandError(f"{exc.title}: {exc.reason}" if hasattr(exc, "reason") else str(exc))


def _callback(method: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    """Guard a pjsua2 callback: an exception escaping into SWIG's C++ would abort the process."""
    @functools.wraps(method)
    def guarded(self: Any, prm: Any) -> None:
        try:
            method(self, prm)
        except Exception:
            traceback.print_exc()
    return guarded


class Leg(pj.Call):
    """One call leg. Its callbacks only record and report; the worker decides."""

    def __init__(self, worker: Worker, leg_id: str, account: pj.Account, direction: str,
                 call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(account, call_id)
        self.worker = worker
        self.leg_id = leg_id
        self.direction = direction          # "in" or "out"
        self.reported = False               # the controller knows this leg
        self.peers: set[Leg] = set()        # legs bridged to this one
        self.audio: pj.AudioMedia | None = None
        self.source: pj.AudioMedia | None = None        # tone generator or file player into the leg
        self.recorder: pj.AudioMediaRecorder | None = None
        self.ringing_codes: set[int] = set()
        self.codec_reported = False
        self.on_hold = False                # the far end has put this leg on hold
        self.ended = False

    @_callback
    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_EARLY and self.direction == "out":
            if info.lastStatusCode not in self.ringing_codes:
                self.ringing_codes.add(info.lastStatusCode)
                self.worker.report("ringing", self, code=info.lastStatusCode)
        elif info.state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.worker.report("answered", self)
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.worker.leg_ended(self, info.lastStatusCode, info.lastReason)

    @_callback
    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        info = self.getInfo()
        audio = [m for m in info.media if m.type == pj.PJMEDIA_TYPE_AUDIO]
        status = audio[0].status if audio else pj.PJSUA_CALL_MEDIA_NONE
        if status in (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD):
            self.audio = self.getAudioMedia(audio[0].index)
            if not self.codec_reported:
                self.codec_reported = True
                stream = self.getStreamInfo(audio[0].index)
                self.worker.report("media", self, codec=f"{stream.codecName}/{stream.codecClockRate}")
            self.worker.connect_media(self)
        else:
            self.audio = None               # gone: the bridge has dropped its port already
        on_hold = status == pj.PJSUA_CALL_MEDIA_REMOTE_HOLD
        if on_hold != self.on_hold:
            self.on_hold = on_hold
            self.worker.report("hold", self, on=on_hold)

    @_callback
    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        self.worker.dtmf_received(self, prm.digit)

    @_callback
    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:
        """A REFER from the far end: reported, and declined for now. Left alone, pjsua2 would
        follow it with a Call of its own, invisible to the worker and outside the dial plan."""
        prm.statusCode = TRANSFER_DECLINED
        self.worker.report("transfer", self, target=prm.dstUri)


class WorkerAccount(pj.Account):
    """The identity the worker calls from and takes calls on; with a registrar, a phone's."""

    def __init__(self, worker: Worker) -> None:
        super().__init__()
        self.worker = worker
        self.registered = False

    @_callback
    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        self.worker.incoming(self, prm)

    @_callback
    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        self.registered = prm.code // 100 == 2 and prm.expiration > 0
        self.worker.report_registration(prm.code, prm.reason, prm.expiration)


class Worker:
    def __init__(self, args: argparse.Namespace) -> None:
        self.name: str = args.name
        self.trusted: set[str] = set(args.trust)
        self.max_incoming: int = args.max_incoming
        self.legs: dict[str, Leg] = {}
        self.refused: list[Leg] = []        # INVITEs being refused, referenced until disconnected
        self.to_refuse: list[tuple[Leg, int]] = []      # (leg, SIP code) to refuse from the main loop
        self.graveyard: list[Leg] = []      # ended legs, released after libHandleEvents returns
        self.incoming_count = 0
        self.incoming_serial = 0            # numbers the incoming leg ids: "<name>.<serial>"
        self.stopping = False
        self.client: socket.socket | None = None
        self.decoder = LineDecoder()
        self.outbox = bytearray()
        self.controller_stuck = False
        self.commands: dict[str, Callable[..., dict | None]] = {
            name: getattr(self, f"cmd_{name}") for name in COMMANDS}
        self._start_pjsua2(args)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        Path(args.control).unlink(missing_ok=True)
        self.listener.bind(args.control)
        self.listener.listen(1)
        self.control_path = Path(args.control)

    # ------------------------------------------------------------------ pjsua2 set-up
    def _start_pjsua2(self, args: argparse.Namespace) -> None:
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = MAX_LEGS
        cfg.uaConfig.userAgent = f"callbox-media-worker {self.name}"
        cfg.logConfig.level = args.log_level
        cfg.logConfig.consoleLevel = args.log_level
        media = cfg.medConfig
        media.clockRate = SAMPLE_RATE_HZ
        media.sndClockRate = SAMPLE_RATE_HZ
        media.channelCount = 1
        media.audioFramePtime = FRAME_PTIME_MS
        media.ptime = FRAME_PTIME_MS
        media.noVad = True                  # keep RTP flowing through silences
        media.ecTailLen = 0                 # echo cancelling belongs to the line side, not the bridge
        # The null sound device is the conference bridge's clock: by default pjsua closes it after
        # 1 s without calls, and nothing reopens it (no port ever connects to it), so from the
        # second call on no frame would move: no RTP out, no DTMF out. Keep it open.
        media.sndAutoCloseTime = -1
        self.ep.libInit(cfg)
        self.ep.audDevManager().setNullDev()
        transport = pj.TransportConfig()
        transport.boundAddress = args.sip_address
        transport.port = args.sip_port
        self.transport_id = self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
        self.ep.libStart()
        for codec in self.ep.codecEnum2():
            self.ep.codecSetPriority(codec.codecId, CODEC_PRIORITIES.get(codec.codecId, 0))
        self.sip_host = f"{args.sip_address}:{args.sip_port}"
        self.media_address = args.media_address
        self.rtp_port = args.rtp_port
        self.account = self._make_account(pj.AccountConfig())
        self.registered_account: WorkerAccount | None = None

    def _make_account(self, cfg: pj.AccountConfig, user: str | None = None) -> WorkerAccount:
        if not cfg.idUri:
            cfg.idUri = f"sip:{user or self.name}@{self.sip_host}"
        cfg.sipConfig.transportId = self.transport_id
        rtp = cfg.mediaConfig.transportConfig
        rtp.boundAddress = self.media_address
        rtp.publicAddress = self.media_address
        rtp.port = self.rtp_port
        account = WorkerAccount(self)
        account.create(cfg)
        return account

    # ------------------------------------------------------------------ main loop
    def run(self) -> None:
        while not self.stopping:
            self._poll_control()
            self.ep.libHandleEvents(EVENT_POLL_MS)
            self.graveyard.clear()
            self._refuse_pending()
            if self.controller_stuck:
                print(f"media worker {self.name}: the controller stopped reading; dropped", flush=True)
                self.controller_stuck = False
                self._controller_lost()
            self._flush()

    def _poll_control(self) -> None:
        readable = [self.listener] + ([self.client] if self.client else [])
        ready_r, _, _ = select.select(readable, [], [], 0)
        if self.listener in ready_r:
            connection, _ = self.listener.accept()
            if self.client is None:
                connection.setblocking(False)
                self.client = connection
                self.decoder = LineDecoder()
            else:
                connection.close()          # one controller at a time
        if self.client is not None and self.client in ready_r:
            self._read_client()

    def _read_client(self) -> None:
        assert self.client is not None
        try:
            data = self.client.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._controller_lost()
            return
        try:
            messages = self.decoder.feed(data)
        except ProtocolError as exc:
            self._send({"reply": None, "ok": False, "error": str(exc)})
            return
        for message in messages:
            self._execute(message)

    def _execute(self, message: dict) -> None:
        request_id = message.pop("id", None)
        name = message.pop("cmd", None)
        command = self.commands.get(name) if isinstance(name, str) else None
        if command is None:
            self._send({"reply": request_id, "ok": False, "error": "unknown command"})
            return
        try:
            result = command(**message) or {}
        except TypeError as exc:                     # missing or unexpected parameters
            self._send({"reply": request_id, "ok": False, "error": f"bad parameters: {exc}"})
        except CommandError as exc:
            self._send({"reply": request_id, "ok": False, "error": str(exc)})
        except pj.Error as exc:
            self._send({"reply": request_id, "ok": False, "error": str(_pj_error(exc))})
        except Exception as exc:                     # a bug must not take the other legs down
            traceback.print_exc()
            self._send({"reply": request_id, "ok": False, "error": f"internal error: {exc!r}"})
        else:
            self._send({"reply": request_id, "ok": True, **result})

    def _controller_lost(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        self.outbox.clear()
        self._hangup_all(503)               # answered legs get a BYE, ringing ones fail over

    def _release_all_media(self) -> None:
        for leg in [*self.legs.values(), *self.refused]:
            self._release_media(leg)

    def _hangup_all(self, code: int | None) -> None:
        for leg in list(self.legs.values()):
            self._hangup(leg, code)

    def _send(self, message: dict) -> None:
        if self.client is not None:
            self.outbox += encode(message)
            if len(self.outbox) > MAX_OUTBOX_BYTES:     # the controller stopped reading:
                self.controller_stuck = True            # dropped from the main loop, not a callback

    def _flush(self) -> None:
        if self.client is None or not self.outbox:
            return
        try:
            sent = self.client.send(self.outbox)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._controller_lost()
            return
        del self.outbox[:sent]

    # ------------------------------------------------------------------ events
    def report(self, event: str, leg: Leg, **fields: object) -> None:
        if leg.reported:
            self._send({"event": event, "leg": leg.leg_id, **fields})

    def report_registration(self, code: int, reason: str, expires: int) -> None:
        self._send({"event": "registration", "code": code, "reason": reason, "expires": expires})

    def incoming(self, account: WorkerAccount, prm: pj.OnIncomingCallParam) -> None:
        self.incoming_serial += 1
        leg = Leg(self, f"{self.name}.{self.incoming_serial}", account, "in", prm.callId)
        source = prm.rdata.srcAddress
        if source not in self.trusted:
            self._refuse(leg, 403, source)
        elif self.client is None or self.incoming_count >= self.max_incoming or len(self.legs) >= MAX_LEGS:
            self._refuse(leg, 503, source)
        else:
            self.legs[leg.leg_id] = leg
            self.incoming_count += 1
            leg.reported = True
            info = leg.getInfo()
            request_line = prm.rdata.wholeMsg.split("\r\n", 1)[0].split(" ")
            self.report("incoming", leg, uri=request_line[1] if len(request_line) > 1 else "",
                        **{"from": info.remoteUri, "to": info.localUri, "call_id": info.callIdString,
                           "source": source})

    def _refuse(self, leg: Leg, code: int, source: str) -> None:
        """Refuse after the callback returns: pjsua 2.15.1 hits an assertion (and aborts) when an
        INVITE without SDP is hung up inside on_incoming_call."""
        self._send({"event": "refused", "code": code, "source": source,
                    "call_id": leg.getInfo().callIdString, "free": MAX_LEGS - len(self.legs)})
        self.refused.append(leg)
        self.to_refuse.append((leg, code))

    def _refuse_pending(self) -> None:
        while self.to_refuse:
            leg, code = self.to_refuse.pop(0)
            prm = pj.CallOpParam()
            prm.statusCode = code
            with contextlib.suppress(pj.Error):     # the caller may have cancelled meanwhile
                leg.hangup(prm)

    def leg_ended(self, leg: Leg, code: int, reason: str) -> None:
        if leg.ended:
            return
        leg.ended = True
        for peer in list(leg.peers):
            peer.peers.discard(leg)
        leg.peers.clear()
        self._release_media(leg)
        if leg in self.refused:
            self.refused.remove(leg)
        elif self.legs.pop(leg.leg_id, None) is leg:
            if leg.direction == "in":
                self.incoming_count -= 1
            self.report("hangup", leg, code=code, reason=reason)
        self.graveyard.append(leg)

    def dtmf_received(self, leg: Leg, digit: str) -> None:
        self.report("dtmf", leg, digit=digit)
        for peer in leg.peers:              # RFC 4733 events are not audio: relay them
            with contextlib.suppress(pj.Error):
                self._send_dtmf(peer, digit)

    # ------------------------------------------------------------------ media plumbing
    def connect_media(self, leg: Leg) -> None:
        """(Re)make every conference connection of ``leg``; called when its audio becomes active."""
        if leg.audio is None:
            return
        for peer in leg.peers:
            if peer.audio is not None:
                leg.audio.startTransmit(peer.audio)
                peer.audio.startTransmit(leg.audio)
        if leg.source is not None:
            leg.source.startTransmit(leg.audio)
        if leg.recorder is not None:
            leg.audio.startTransmit(leg.recorder)

    def _release_media(self, leg: Leg) -> None:
        leg.source = None                   # destroying the port disconnects it from the bridge
        leg.recorder = None
        leg.audio = None

    # ------------------------------------------------------------------ commands
    def _leg(self, leg: object) -> Leg:
        if not isinstance(leg, str) or leg not in self.legs:
            raise CommandError(f"no leg {leg!r}")
        return self.legs[leg]

    def cmd_ping(self) -> dict:
        return {"name": self.name, "legs": sorted(self.legs), "free": MAX_LEGS - len(self.legs),
                "incoming": self.incoming_count}

    def cmd_make_call(self, leg: str, uri: str, caller: str | None = None,
                      headers: dict[str, str] | None = None) -> dict:
        if not isinstance(leg, str) or not LEG_ID.fullmatch(leg):
            raise CommandError(f"leg ids are 1-64 of [A-Za-z0-9_.:-], got {leg!r}")
        if leg in self.legs:
            raise CommandError(f"leg {leg!r} exists")
        if len(self.legs) >= MAX_LEGS:
            raise CommandError(f"worker full: {MAX_LEGS} legs")
        if not isinstance(uri, str) or self.ep.utilVerifySipUri(uri) != 0:
            raise CommandError(f"not a SIP URI: {uri!r}")
        prm = pj.CallOpParam(True)
        prm.opt.audioCount = 1
        prm.opt.videoCount = 0
        if caller is not None:
            if self.ep.utilVerifyUri(caller) != 0 and self.ep.utilVerifySipUri(caller) != 0:
                raise CommandError(f"not a caller URI: {caller!r}")
            prm.txOption.localUri = caller
        if not isinstance(headers or {}, dict):
            raise CommandError("headers is an object of name: value")
        for name, value in (headers or {}).items():
            if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", name) or not isinstance(value, str) \
                    or any(c in value for c in "\r\n\0"):
                raise CommandError(f"bad header {name!r}")
            header = pj.SipHeader()
            header.hName, header.hValue = str(name), str(value)
            prm.txOption.headers.append(header)
        account = self.registered_account or self.account
        call = Leg(self, leg, account, "out")
        call.reported = True
        self.legs[leg] = call
        try:
            call.makeCall(uri, prm)
        except pj.Error as exc:
            del self.legs[leg]
            self.graveyard.append(call)
            raise _pj_error(exc) from exc
        return {"free": MAX_LEGS - len(self.legs)}

    def cmd_answer(self, leg: str, code: int = 200) -> None:
        call = self._leg(leg)
        if call.direction != "in" or not isinstance(code, int) or not 100 < code < 300:
            raise CommandError("answer takes an incoming leg and a 1xx or 2xx code")
        prm = pj.CallOpParam()
        prm.statusCode = code
        call.answer(prm)

    def cmd_hangup(self, leg: str, code: int | None = None) -> None:
        self._hangup(self._leg(leg), code)

    def _hangup(self, leg: Leg, code: int | None) -> None:
        prm = pj.CallOpParam()
        if code is not None:
            if not isinstance(code, int) or not 400 <= code < 700:
                raise CommandError(f"hang-up codes are 4xx-6xx, got {code!r}")
            prm.statusCode = code
        with contextlib.suppress(pj.Error):     # already disconnecting
            leg.hangup(prm)

    def cmd_bridge(self, a: str, b: str) -> None:
        leg_a, leg_b = self._leg(a), self._leg(b)
        if leg_a is leg_b:
            raise CommandError("a leg cannot be bridged to itself")
        leg_a.peers.add(leg_b)
        leg_b.peers.add(leg_a)
        self.connect_media(leg_a)

    def cmd_unbridge(self, a: str, b: str) -> None:
        leg_a, leg_b = self._leg(a), self._leg(b)
        leg_a.peers.discard(leg_b)
        leg_b.peers.discard(leg_a)
        if leg_a.audio is not None and leg_b.audio is not None:
            leg_a.audio.stopTransmit(leg_b.audio)
            leg_b.audio.stopTransmit(leg_a.audio)

    def cmd_play(self, leg: str, tone: list[float] | None = None, on_ms: int = 0, off_ms: int = 0,
                 level_dbm0: float = TONE_LEVEL_DBM0, file: str | None = None, loop: bool = True) -> None:
        """A tone (one or two frequencies in Hz, cadence on_ms/off_ms, 0 = steady) or a WAV file."""
        call = self._leg(leg)
        if (tone is None) == (file is None):
            raise CommandError("play takes either tone or file")
        if tone is not None:
            source = self._tone_generator(tone, on_ms, off_ms, level_dbm0, loop)
        else:
            if not Path(str(file)).is_file():
                raise CommandError(f"no file {file!r}")
            source = pj.AudioMediaPlayer()
            source.createPlayer(str(file), 0 if loop else pj.PJMEDIA_FILE_NO_LOOP)
        self.cmd_stop_play(leg)
        call.source = source
        self.connect_media(call)

    @staticmethod
    def _tone_generator(tone: list[float], on_ms: int, off_ms: int, level_dbm0: float,
                        loop: bool) -> pj.ToneGenerator:
        if not isinstance(tone, list) or not 1 <= len(tone) <= 2:
            raise CommandError("tone is a list of one or two frequencies in Hz")
        nyquist = SAMPLE_RATE_HZ / 2
        if not all(isinstance(f, int | float) and 0 < f < nyquist for f in tone):
            raise CommandError(f"tone frequencies must be in (0, {nyquist:.0f}) Hz")
        if not (isinstance(level_dbm0, int | float) and math.isfinite(level_dbm0) and level_dbm0 <= 3):
            raise CommandError("level_dbm0 must be a number <= +3 dBm0")
        if not all(isinstance(ms, int) and 0 <= ms <= STEADY_BURST_MS for ms in (on_ms, off_ms)):
            raise CommandError(f"on_ms and off_ms must be whole ms in 0..{STEADY_BURST_MS}")
        steady = on_ms == 0
        desc = pj.ToneDesc()
        desc.freq1 = int(round(tone[0]))
        desc.freq2 = int(round(tone[1])) if len(tone) == 2 else 0
        desc.on_msec = STEADY_BURST_MS if steady else int(on_ms)
        desc.off_msec = 0 if steady else int(off_ms)
        desc.volume = int(round(dbm0_to_amplitude(level_dbm0)))
        tones = pj.ToneDescVector()
        tones.append(desc)
        generator = pj.ToneGenerator()
        generator.createToneGenerator(SAMPLE_RATE_HZ, 1)
        generator.play(tones, bool(loop) or steady)
        return generator

    def cmd_stop_play(self, leg: str) -> None:
        self._leg(leg).source = None

    def cmd_record(self, leg: str, path: str) -> None:
        """Record what the far end of ``leg`` sends, as a 16-bit 8 kHz WAV."""
        call = self._leg(leg)
        if not str(path).endswith(".wav") or not Path(str(path)).parent.is_dir():
            raise CommandError(f"record needs a .wav path in an existing directory, got {path!r}")
        recorder = pj.AudioMediaRecorder()
        recorder.createRecorder(str(path))
        call.recorder = recorder
        self.connect_media(call)

    def cmd_stop_record(self, leg: str) -> None:
        self._leg(leg).recorder = None      # destroying the recorder completes the WAV header

    def cmd_send_dtmf(self, leg: str, digits: str) -> None:
        if not isinstance(digits, str) or not re.fullmatch(r"[0-9*#A-Da-d]{1,32}", digits):
            raise CommandError(f"digits are 1-32 of 0-9 * # A-D, got {digits!r}")
        self._send_dtmf(self._leg(leg), digits)

    @staticmethod
    def _send_dtmf(leg: Leg, digits: str) -> None:
        prm = pj.CallSendDtmfParam()
        prm.method = pj.PJSUA_DTMF_METHOD_RFC2833
        prm.digits = digits
        prm.duration = DTMF_DURATION_MS
        leg.sendDtmf(prm)

    def cmd_register(self, registrar: str, user: str, password: str, realm: str = "*") -> None:
        """Register to ``registrar`` as ``user`` (a phone, or a trunk's account); calls then go from it."""
        if self.registered_account is not None:
            raise CommandError("already registered")
        if self.ep.utilVerifySipUri(registrar) != 0:
            raise CommandError(f"not a SIP URI: {registrar!r}")
        host = registrar.split(":", 1)[1].split(";", 1)[0]
        cfg = pj.AccountConfig()
        cfg.idUri = f"sip:{user}@{host}"
        cfg.regConfig.registrarUri = registrar
        cfg.regConfig.timeoutSec = REGISTRATION_EXPIRES_S
        cfg.regConfig.retryIntervalSec = 0              # a refused password is not retried
        credentials = pj.AuthCredInfo("digest", realm, user, 0, password)
        cfg.sipConfig.authCreds.append(credentials)
        self.registered_account = self._make_account(cfg, user)

    def cmd_trust(self, sources: list[str]) -> None:
        """Replace the sources INVITEs are taken from (``ip:port``: the edge and the peer workers)."""
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            raise CommandError("sources is a list of 'ip:port' strings")
        self.trusted = set(sources)

    # ------------------------------------------------------------------ shutdown
    def shutdown(self) -> None:
        """Hang up, wait (bounded) for the BYEs to complete, destroy every pjsua2 object, libDestroy."""
        self._hangup_all(503)               # an unanswered INVITE fails over to another worker
        deadline = time.monotonic() + SHUTDOWN_GRACE_S
        while (self.legs or self.refused) and time.monotonic() < deadline:
            self._refuse_pending()
            self.ep.libHandleEvents(EVENT_POLL_MS)
            self._flush()
        # (loops over legs live in helper methods: a loop variable left in this frame would keep
        # its leg alive through libDestroy, which then aborts)
        self._release_all_media()
        self.legs.clear()
        self.refused.clear()
        self.to_refuse.clear()
        self.graveyard.clear()
        if self.registered_account is not None:
            if self.registered_account.registered:     # un-REGISTER, and wait (bounded) for the answer
                self.registered_account.setRegistration(False)
                end = time.monotonic() + SHUTDOWN_GRACE_S
                while self.registered_account.registered and time.monotonic() < end:
                    self.ep.libHandleEvents(EVENT_POLL_MS)
            self.registered_account.shutdown()
            self.registered_account = None
        self.account.shutdown()
        self.account = None
        self._flush()
        if self.client is not None:
            self.client.close()
        self.listener.close()
        self.control_path.unlink(missing_ok=True)
        gc.collect()                        # no pjsua2 object may outlive libDestroy
        leaked = sum(isinstance(o, pj.Call | pj.AudioMedia | pj.Account) for o in gc.get_objects())
        if leaked:                          # a bug: better a plain exit than an abort in libDestroy
            print(f"media worker {self.name}: {leaked} pjsua2 objects still referenced at exit; "
                  "leaving without libDestroy", flush=True)
            os._exit(1)
        # legs and registration are already ended: skip pjsua's own 1 s wait for network goodbyes
        self.ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
        self.ep = None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True, help="worker name, prefix of its incoming leg ids")
    parser.add_argument("--control", required=True, help="Unix socket path the runtime connects to")
    parser.add_argument("--sip-address", default="127.0.0.1")
    parser.add_argument("--sip-port", type=int, required=True, help="UDP port for SIP")
    parser.add_argument("--media-address", default="127.0.0.1", help="RTP address, offered in SDP")
    parser.add_argument("--rtp-port", type=int, default=0, help="first RTP port (0: any)")
    parser.add_argument("--trust", action="append", default=[], metavar="IP:PORT",
                        help="a source INVITEs are taken from (repeat)")
    parser.add_argument("--max-incoming", type=int, default=MAX_LEGS // 2)
    parser.add_argument("--log-level", type=int, default=1, help="pjsua log level 0..6")
    args = parser.parse_args(argv)
    if not 0 <= args.max_incoming <= MAX_LEGS:
        parser.error(f"--max-incoming must be 0..{MAX_LEGS}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    worker = Worker(args)

    def stop(signum: int, frame: object) -> None:
        worker.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"media worker {args.name}: SIP {worker.sip_host}, control {args.control}, pid {os.getpid()}",
          flush=True)
    failed = False
    try:
        worker.run()
    except Exception:
        traceback.print_exc()
        failed = True
    # outside the except block: its traceback, and the legs its frames hold, are gone by now
    worker.shutdown()
    print(f"media worker {args.name}: stopped {'after an error' if failed else 'cleanly'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
