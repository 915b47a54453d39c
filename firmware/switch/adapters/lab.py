"""A SIP lab on loopback: the edge, media workers and phones as real processes, stopped together.

Tests, hil-tests and the benchmark need the same set-up: a subscriber table, Kamailio generated
for it, a few media workers it dispatches to, and phones registered through it (pjsua2 phones are
media workers that ``register``; baresip phones share no code with the box). ``Lab`` builds that in
one directory with free ports and, on exit, stops every process it started, whatever happened.

``first_event`` waits for an event from whichever worker the edge dispatched a call to.
"""
from __future__ import annotations

import contextlib
import time
from pathlib import Path

from .baresip import Baresip, BaresipSettings
from .kamailio import EdgeConfig, Kamailio, SubscriberTable, WorkerAddress
from .subprocesses import free_port
from .worker_client import MediaWorker, WorkerSettings

LOOPBACK = "127.0.0.1"
REGISTER_TIMEOUT_S = 10.0           # s
POLL_S = 0.05                       # s: per worker, while waiting on several


class Lab(contextlib.ExitStack):
    """``with Lab(dir, {"101": "pw"}, workers=2) as lab:`` gives ``lab.edge``, ``lab.workers``."""

    def __init__(self, run_dir: Path, subscribers: dict[str, str], workers: int = 1) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.subscribers = dict(subscribers)
        self.worker_count = workers
        self.phones_started = 0             # numbers the phones' names, which name their sockets
        self.workers: list[MediaWorker] = []
        self.kamailio: Kamailio | None = None

    def __enter__(self) -> Lab:
        super().__enter__()
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        db = self.run_dir / "subscribers.sqlite"
        self.table = SubscriberTable(db, realm=EdgeConfig.realm)
        for user, password in self.subscribers.items():
            self.table.set(user, password)
        worker_ports = [free_port() for _ in range(self.worker_count)]
        cfg = EdgeConfig(run_dir=self.run_dir / "edge", subscriber_db=db, sip_port=free_port(),
                         workers=tuple(WorkerAddress(LOOPBACK, port) for port in worker_ports))
        self.kamailio = self.enter_context(Kamailio(cfg))
        for index, port in enumerate(worker_ports, start=1):
            self.workers.append(self.start_worker(f"w{index}", port))

    @property
    def edge(self) -> str:
        assert self.kamailio is not None
        return f"{self.kamailio.cfg.listen_address}:{self.kamailio.cfg.sip_port}"

    def uri(self, user: str) -> str:
        """The URI a worker or a phone calls ``user`` at: through the edge."""
        return f"sip:{user}@{self.edge}"

    def start_worker(self, name: str, port: int | None = None,
                     max_incoming: int = WorkerSettings.max_incoming) -> MediaWorker:
        """A media worker trusting the edge (not in the dispatcher list unless ``port`` is in it)."""
        settings = WorkerSettings(name, self.run_dir, port or free_port(), trusted=(self.edge,),
                                  max_incoming=max_incoming)
        return self.enter_context(MediaWorker(settings))

    def pjsua_phone(self, user: str, password: str | None = None) -> MediaWorker:
        """A pjsua2 phone registered as ``user`` (it is a media worker that registered)."""
        self.phones_started += 1
        phone = self.start_worker(f"phone{user}-{self.phones_started}")
        phone.command("register", registrar=f"sip:{self.edge}", user=user,
                      password=password if password is not None else self.subscribers[user])
        event = phone.wait_event("registration", timeout_s=REGISTER_TIMEOUT_S)
        if event["code"] != 200:
            phone.stop()
            raise RuntimeError(f"phone {user} could not register: {event}")
        return phone

    def baresip_phone(self, user: str, audio_source: Path | None = None) -> Baresip:
        assert self.kamailio is not None
        settings = BaresipSettings(f"baresip{user}", self.run_dir, free_port(), free_port(), user,
                                   self.subscribers[user], (LOOPBACK, self.kamailio.cfg.sip_port),
                                   audio_source=audio_source)
        return self.enter_context(Baresip(settings))


def first_event(workers: list[MediaWorker], kind: str, timeout_s: float = 10.0) -> tuple[MediaWorker, dict]:
    """The first ``kind`` event from any of ``workers`` (which one the edge dispatched to, say)."""
    deadline = time.monotonic() + timeout_s
    while True:
        for worker in workers:
            with contextlib.suppress(TimeoutError):
                return worker, worker.wait_event(kind, timeout_s=POLL_S)
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {kind} event from {[w.settings.name for w in workers]} "
                               f"within {timeout_s} s")
