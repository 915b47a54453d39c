"""The SIP edge: Kamailio 5.6, configured only from generated files and run as a child process.

``render_config(EdgeConfig)`` writes the whole kamailio.cfg from plain inputs; nobody edits it by
hand. What the generated edge does (docs/sip-edge.md has the picture):

- registrar for the phones, with digest auth (realm ``EdgeConfig.realm``) over a SQLite table or
  view that Kamailio's auth_db reads through db_sqlite on every request, so a subscriber added,
  changed or removed counts at once, without a restart; contacts live in memory (usrloc db_mode 0);
- unauthenticated REGISTER gets 401 and any other request 407; after ``ban_after_failures`` wrong
  credentials (wrong password, unknown user, or an auth user that is not the From/To user) a
  source address is answered 403 for ``ban_seconds`` (htable with autoexpire), whatever it sends;
- pike drops the requests of a source beyond ``flood_requests`` per ``flood_window_s``;
- authenticated INVITEs from phones go to the media workers (dispatcher set ``WORKER_SET``, round
  robin), failing over to the next worker on 503 or on no answer; requests from the workers
  themselves (matched by address, port and transport) skip auth, ban and pike and go to the
  registered phone (usrloc lookup, forking to all its contacts);
- everything is record-routed, and an in-dialog request from a phone may only go to a worker, so
  the edge is no relay for crafted Route headers.

``Kamailio`` starts it (``kamailio -DD -E``: not daemonised, logging to stderr, captured in a log
file), waits until it answers SIP OPTIONS, talks JSON-RPC to it over a Unix datagram socket
(``dispatcher.reload`` after ``set_workers``, ``ul.lookup``, ``htable.delete``...) and stops it.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .sip_probe import SipProbe
from .subprocesses import ChildProcess

KAMAILIO = "kamailio"
WORKER_SET = 1                      # dispatcher set id of the media workers
WORKER_NO_ANSWER_MS = 2000          # ms: a worker on loopback answers an INVITE at once
RINGING_LIMIT_MS = 120000           # ms: longest an INVITE may ring before the edge gives up
WORKER_PING_INTERVAL_S = 10         # s: OPTIONS to each worker, to take dead ones out of rotation
SHARED_MEMORY_MB = 32               # MB: -m; contacts, transactions, htables
PRIVATE_MEMORY_MB = 4               # MB: -M, per Kamailio process
START_TIMEOUT_S = 15.0              # s: Kamailio 5.6 starts in < 2 s here
RPC_TIMEOUT_S = 5.0                 # s
UNIX_SOCKET_PATH_MAX = 107          # bytes: sun_path less its terminating NUL (Linux)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REALM = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class WorkerAddress:
    """Where a media worker takes SIP: a UDP address on the box."""

    host: str
    port: int

    def uri(self) -> str:
        return f"sip:{self.host}:{self.port};transport=udp"


@dataclass(frozen=True)
class EdgeConfig:
    """Everything the edge's configuration is generated from."""

    run_dir: Path                       # generated cfg, dispatcher list, RPC socket, log
    subscriber_db: Path                 # SQLite file holding the subscriber table or view
    listen_address: str = "127.0.0.1"
    sip_port: int = 5060                # UDP and TCP
    subscriber_table: str = "subscriber"
    realm: str = "callbox"              # digest realm; the stored HA1s depend on it
    workers: tuple[WorkerAddress, ...] = ()
    ban_after_failures: int = 10        # failed authentications from one source address...
    ban_seconds: int = 900              # ...ban it this long (15 min)
    flood_requests: int = 30            # pike: more requests than this from one address...
    flood_window_s: int = 2             # ...within this window are dropped
    max_contacts: int = 5               # registered contacts per user (a call forks to each)
    processes: int = 2                  # Kamailio children per transport (2 cores)
    extra_aliases: tuple[str, ...] = ()  # other host[:port] names phones use for the box

    def __post_init__(self) -> None:
        ipaddress.ip_address(self.listen_address)           # ValueError: not an IP address
        if not 0 < self.sip_port < 65536:
            raise ValueError(f"sip_port must be 1..65535, got {self.sip_port}")
        if not _NAME.fullmatch(self.subscriber_table):
            raise ValueError(f"subscriber_table must be an SQL name, got {self.subscriber_table!r}")
        if not _REALM.fullmatch(self.realm):
            raise ValueError(f"realm must be letters, digits, '.', '_' or '-', got {self.realm!r}")
        for name in ("ban_after_failures", "ban_seconds", "flood_requests", "flood_window_s", "max_contacts",
                     "processes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for alias in self.extra_aliases:
            if not re.fullmatch(r"[A-Za-z0-9.-]+(:\d+)?", alias):
                raise ValueError(f"alias must be host[:port], got {alias!r}")
        for path in (self.rpc_socket, self.rpc_socket.with_name("rpc-client-0000000000000000.sock")):
            if len(os.fsencode(path)) > UNIX_SOCKET_PATH_MAX:
                raise ValueError(f"run_dir is too long for a Unix socket path: {path}")

    @property
    def cfg_path(self) -> Path:
        return self.run_dir / "kamailio.cfg"

    @property
    def dispatcher_list(self) -> Path:
        return self.run_dir / "dispatcher.list"

    @property
    def rpc_socket(self) -> Path:
        return self.run_dir / "rpc.sock"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "kamailio.log"


# ---------------------------------------------------------------------------- subscribers
def ha1(username: str, realm: str, password: str) -> str:
    """The digest HA1 auth_db compares against: MD5 of ``username:realm:password`` (RFC 2617 3.2.2.2)."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()


class SubscriberTable:
    """The subscriber table auth_db reads: ``username`` and ``ha1``, no clear-text password.

    The switch's store may instead expose a view with these two columns over its own extension
    table in its own database file (``EdgeConfig.subscriber_db`` and ``subscriber_table``); this
    class is the stand-alone form. Each change is one SQLite transaction, seen by the very next
    REGISTER or INVITE.
    """

    def __init__(self, path: Path, realm: str, table: str = "subscriber") -> None:
        if not _NAME.fullmatch(table):
            raise ValueError(f"table must be an SQL name, got {table!r}")
        self.path, self.realm, self.table = Path(path), realm, table
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"CREATE TABLE IF NOT EXISTS {table} (username TEXT PRIMARY KEY NOT NULL, "
                       "ha1 TEXT NOT NULL)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=5.0)

    def set(self, username: str, password: str) -> None:
        """Add the subscriber, or change its password."""
        if not username or any(c in username for c in ':@;<> \t"'):
            raise ValueError(f"not a SIP user name: {username!r}")
        with self._connect() as db:
            db.execute(f"INSERT INTO {self.table} (username, ha1) VALUES (?, ?) "
                       "ON CONFLICT(username) DO UPDATE SET ha1 = excluded.ha1",
                       (username, ha1(username, self.realm, password)))

    def remove(self, username: str) -> None:
        with self._connect() as db:
            db.execute(f"DELETE FROM {self.table} WHERE username = ?", (username,))

    def usernames(self) -> list[str]:
        with self._connect() as db:
            return [row[0] for row in db.execute(f"SELECT username FROM {self.table} ORDER BY username")]


# ---------------------------------------------------------------------------- generated files
def render_dispatcher_list(workers: Iterable[WorkerAddress]) -> str:
    lines = ["# generated by firmware.switch.adapters.kamailio: the media workers; do not edit"]
    lines += [f"{WORKER_SET} {worker.uri()} 0 0" for worker in workers]
    return "\n".join(lines) + "\n"


def render_config(cfg: EdgeConfig) -> str:
    """The complete kamailio.cfg for ``cfg``."""
    listen = f"{cfg.listen_address}:{cfg.sip_port}"
    aliases = "".join(f"alias={alias}\n" for alias in cfg.extra_aliases)
    head = f"""#!KAMAILIO
#
# Generated by firmware.switch.adapters.kamailio from the box's configuration.
# Do not edit: it is written again at every start.

#!define REALM "{cfg.realm}"
#!define SUBSCRIBERS "{cfg.subscriber_table}"
#!define WORKERS {WORKER_SET}
#!define BAN_AFTER_FAILURES {cfg.ban_after_failures}

####### global parameters
debug=1
log_stderror=yes
children={cfg.processes}
tcp_children={cfg.processes}
listen=udp:{listen}
listen=tcp:{listen}
{aliases}auto_aliases=no
dns=no
rev_dns=no
dns_try_ipv6=no
use_dns_cache=off
tcp_connection_lifetime=3605
tcp_max_connections=512
tcp_accept_no_cl=no
server_header="Server: callbox"
user_agent_header="User-Agent: callbox"
sip_warning=0

####### modules (from the default module path)
loadmodule "jsonrpcs.so"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "db_sqlite.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
loadmodule "htable.so"
loadmodule "pike.so"
loadmodule "dispatcher.so"

modparam("jsonrpcs", "transport", 4)
modparam("jsonrpcs", "dgram_socket", "{cfg.rpc_socket}")
modparam("tm", "fr_inv_timer", {RINGING_LIMIT_MS})
modparam("usrloc", "db_mode", 0)
modparam("registrar", "max_expires", 3600)
modparam("registrar", "max_contacts", {cfg.max_contacts})
modparam("auth", "nonce_expire", 300)
modparam("auth_db", "db_url", "sqlite:///{cfg.subscriber_db.resolve()}")
modparam("auth_db", "calculate_ha1", 0)
modparam("auth_db", "password_column", "ha1")
modparam("auth_db", "use_domain", 0)
modparam("auth_db", "version_table", 0)
modparam("auth_db", "load_credentials", "")
modparam("htable", "htable", "authfail=>size=8;autoexpire={cfg.ban_seconds};initval=0;")
modparam("htable", "htable", "ipban=>size=8;autoexpire={cfg.ban_seconds};updateexpire=0;")
modparam("pike", "sampling_time_unit", {cfg.flood_window_s})
modparam("pike", "reqs_density_per_unit", {cfg.flood_requests})
modparam("pike", "remove_latency", {2 * cfg.flood_window_s})
modparam("dispatcher", "list_file", "{cfg.dispatcher_list}")
modparam("dispatcher", "flags", 2)
modparam("dispatcher", "reload_delta", 0)
modparam("dispatcher", "ds_ping_interval", {WORKER_PING_INTERVAL_S})
modparam("dispatcher", "ds_probing_mode", 1)
modparam("dispatcher", "ds_ping_from", "sip:edge@{listen}")
"""
    return head + _ROUTING


_ROUTING = """
####### routing
request_route {
	# the media workers are trusted by address, port and transport; everyone else is shielded
	$var(from_worker) = 0;
	if (ds_is_from_list(WORKERS, 0)) {
		$var(from_worker) = 1;
	} else {
		route(SHIELD);
	}
	route(REQINIT);

	if (is_method("CANCEL")) {
		if (t_check_trans()) route(RELAY);
		exit;
	}
	if (has_totag()) {
		route(WITHINDLG);
		exit;
	}
	if (is_method("ACK")) {
		if (t_check_trans()) route(RELAY);
		exit;
	}
	# a retransmission of a request being handled
	if (t_precheck_trans()) {
		t_check_trans();
		exit;
	}
	t_check_trans();

	if (is_method("OPTIONS") && uri == myself && $rU == $null) {
		sl_send_reply("200", "OK");
		exit;
	}
	if ($var(from_worker) == 1) {
		route(TO_PHONE);
	}
	route(AUTH);
	if (is_method("REGISTER")) {
		if (!save("location")) sl_reply_error();
		exit;
	}
	if (is_method("INVITE")) {
		route(TO_WORKER);
	}
	sl_send_reply("501", "Not Implemented");
	exit;
}

# bans after repeated failed authentication, and floods
route[SHIELD] {
	if ($sht(ipban=>$si) != $null) {
		if (!is_method("ACK")) sl_send_reply("403", "Forbidden");
		exit;
	}
	if (!pike_check_req()) {
		exit;
	}
}

route[REQINIT] {
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	if (!sanity_check()) exit;
}

# digest authentication: 401 (REGISTER) or 407 challenges; wrong credentials count towards a ban
route[AUTH] {
	auth_check(REALM, SUBSCRIBERS, "1");
	$var(rc) = $retcode;
	if ($var(rc) == 1) {
		consume_credentials();
		return;
	}
	# -2 wrong password, -3 unknown user, -8 auth user is not the From/To user
	if ($var(rc) == -2 || $var(rc) == -3 || $var(rc) == -8) {
		if ($shtinc(authfail=>$si) >= BAN_AFTER_FAILURES) {
			$sht(ipban=>$si) = 1;
			$sht(authfail=>$si) = $null;
			xlog("L_WARN", "banned $si after repeated failed authentication\\n");
			sl_send_reply("403", "Forbidden");
			exit;
		}
	}
	auth_challenge(REALM, "1");
	exit;
}

route[WITHINDLG] {
	if (!loose_route()) {
		if (!is_method("ACK")) sl_send_reply("404", "Not Here");
		exit;
	}
	# a phone's in-dialog request may only go to a media worker
	if ($var(from_worker) == 0) {
		if ($du != $null) {
			$var(next) = $du;
		} else {
			$var(next) = $ru;
		}
		if (!ds_is_from_list(WORKERS, 2, "$var(next)")) {
			if (!is_method("ACK")) sl_send_reply("403", "Forbidden");
			exit;
		}
	}
	route(RELAY);
}

# a call from a phone: to a media worker, the next one if it is full (503) or silent
route[TO_WORKER] {
	record_route();
	if (!ds_select_dst(WORKERS, "4")) {
		sl_send_reply("503", "No Media Worker");
		exit;
	}
	t_set_fr(0, WORKER_NO_ANSWER_MS);
	t_on_failure("WORKER_FAILOVER");
	route(RELAY);
}

failure_route[WORKER_FAILOVER] {
	if (t_is_canceled()) exit;
	if (t_branch_timeout() && !t_branch_replied()) {
		ds_mark_dst("ip");
	} else if (!t_check_status("503")) {
		exit;
	}
	if (ds_next_dst()) {
		t_set_fr(0, WORKER_NO_ANSWER_MS);
		t_on_failure("WORKER_FAILOVER");
		route(RELAY);
	}
}

# a call from a media worker: to the registered phone (all its contacts)
route[TO_PHONE] {
	if (is_method("INVITE")) record_route();
	if (!lookup("location")) {
		sl_send_reply("480", "Temporarily Unavailable");
		exit;
	}
	route(RELAY);
}

route[RELAY] {
	if (!t_relay()) sl_reply_error();
	exit;
}
""".replace("WORKER_NO_ANSWER_MS", str(WORKER_NO_ANSWER_MS))


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_files(cfg: EdgeConfig) -> None:
    """Generate kamailio.cfg and the dispatcher list into ``cfg.run_dir``."""
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(cfg.cfg_path, render_config(cfg))
    write_atomically(cfg.dispatcher_list, render_dispatcher_list(cfg.workers))


# ---------------------------------------------------------------------------- the process
class KamailioError(RuntimeError):
    pass


def check_config(cfg: EdgeConfig) -> None:
    """``kamailio -c`` on the generated files: KamailioError with its output if it rejects them."""
    write_files(cfg)
    done = subprocess.run([_binary(), "-c", "-f", str(cfg.cfg_path)], capture_output=True, text=True,
                          timeout=START_TIMEOUT_S)
    if done.returncode != 0:
        raise KamailioError(f"kamailio -c rejects {cfg.cfg_path}:\n{done.stdout}{done.stderr}")


def _binary() -> str:
    path = shutil.which(KAMAILIO) or shutil.which(KAMAILIO, path="/usr/sbin:/sbin")
    if path is None:
        raise KamailioError("kamailio is not installed: apt-get install -y kamailio kamailio-sqlite-modules")
    return path


class Kamailio:
    """A running SIP edge. ``start()`` returns once it answers SIP OPTIONS over UDP."""

    def __init__(self, cfg: EdgeConfig) -> None:
        self.cfg = cfg
        self.process: ChildProcess | None = None
        self._rpc_id = 0

    def start(self, timeout_s: float = START_TIMEOUT_S) -> Kamailio:
        write_files(self.cfg)
        self.cfg.rpc_socket.unlink(missing_ok=True)
        self.process = ChildProcess(
            [_binary(), "-DD", "-E", "-f", str(self.cfg.cfg_path), "-Y", str(self.cfg.run_dir),
             "-w", str(self.cfg.run_dir), "-m", str(SHARED_MEMORY_MB), "-M", str(PRIVATE_MEMORY_MB)],
            self.cfg.log_path)
        try:
            self.process.wait_until(self.answers_sip, timeout_s, "answering SIP OPTIONS")
        except BaseException:
            self.stop()
            raise
        return self

    def answers_sip(self) -> bool:
        try:
            with SipProbe((self.cfg.listen_address, self.cfg.sip_port), timeout_s=0.2) as probe:
                return probe.options().status == 200
        except (OSError, TimeoutError, ValueError):
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def __enter__(self) -> Kamailio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def rpc(self, method: str, *params: object) -> object:
        """One JSON-RPC call over the edge's Unix datagram socket; its ``result``."""
        self._rpc_id += 1
        client_path = self.cfg.run_dir / f"rpc-client-{secrets.token_hex(8)}.sock"
        request = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": self._rpc_id}
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(str(client_path))
            try:
                sock.settimeout(RPC_TIMEOUT_S)
                sock.sendto(json.dumps(request).encode(), str(self.cfg.rpc_socket))
                reply = json.loads(sock.recv(1 << 20))
            finally:
                client_path.unlink(missing_ok=True)
        if "error" in reply:
            raise KamailioError(f"{method}: {reply['error']}")
        return reply.get("result")

    def set_workers(self, workers: Iterable[WorkerAddress]) -> None:
        """Replace the media workers the edge dispatches to, without a restart."""
        write_atomically(self.cfg.dispatcher_list, render_dispatcher_list(workers))
        self.rpc("dispatcher.reload")

    def banned(self) -> list[str]:
        """Source addresses banned now for failed authentication."""
        return sorted(item["name"] for slot in self.rpc("htable.dump", "ipban") or []
                      for item in slot.get("slot", []))

    def unban(self, address: str) -> None:
        """Lift the ban on ``address`` and forget its failed attempts."""
        ipaddress.ip_address(address)
        for table in ("ipban", "authfail"):
            try:
                self.rpc("htable.delete", table, address)
            except KamailioError as exc:
                if "not found" not in str(exc).lower():
                    raise

    def registered_contacts(self, username: str) -> list[str]:
        """The contact URIs registered for ``username`` (empty if none)."""
        try:
            result = self.rpc("ul.lookup", "location", username)
        except KamailioError as exc:
            if "not found" in str(exc).lower():
                return []
            raise
        contacts = result.get("Contacts", []) if isinstance(result, dict) else []
        return [c["Contact"]["Address"] for c in contacts]
