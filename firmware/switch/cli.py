"""``callbox``: the command line over ``Service``.

Exit status: 0 done, 2 bad input (a wrong argument, a config mistake, a missing file; the message
names the field and, for files, the line), 1 the box's own trouble (database unusable). Errors are
one line on stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from firmware.switch.mapping import to_mapping
from firmware.switch.model import ConfigError, RingStrategy
from firmware.switch.records import iso_time
from firmware.switch.service import Service
from firmware.switch.store import StoreError

EXIT_OK = 0
EXIT_TROUBLE = 1
EXIT_BAD_INPUT = 2
DEFAULT_DATA_DIR = "var"

Handler = Callable[[Service, argparse.Namespace], None]


class BadInput(Exception):
    """A mistake of the user's that is not a config mistake (a file that cannot be read ...)."""


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _print_table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _options(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    """The given options among ``names`` (None means not given); "" clears an optional text."""
    out = {}
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            out[name] = None if value == "" else value
    return out


# -- extension ------------------------------------------------------------------------------------

EXTENSION_OPTIONS = ("name", "international", "max_outbound", "dnd", "forward_always", "forward_busy",
                     "forward_no_answer", "no_answer_timeout")


def _extension_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("number")
    parser.add_argument("--name")
    parser.add_argument("--password", help='at least 10 characters; generated when not given (add) or ""')
    parser.add_argument("--international", action=argparse.BooleanOptionalAction, default=None,
                        help="may dial 00... and +...")
    parser.add_argument("--max-outbound", type=int, help="concurrent calls out through trunks")
    parser.add_argument("--dnd", action=argparse.BooleanOptionalAction, default=None, help="do not disturb")
    for when in ("always", "busy", "no-answer"):
        parser.add_argument(f"--forward-{when}", metavar="NUMBER", help='"" removes the forwarding')
    parser.add_argument("--no-answer-timeout", type=int, metavar="SECONDS")


def _extension_add(service: Service, args: argparse.Namespace) -> None:
    options = _options(args, EXTENSION_OPTIONS)
    options["name"] = options.get("name") or ""
    extension = service.add_extension(args.number, password=args.password, **options)
    print(f"extension {extension.number} added")
    if not args.password:
        print(f"password: {extension.password}")


def _extension_set(service: Service, args: argparse.Namespace) -> None:
    changes = _options(args, EXTENSION_OPTIONS)
    if "name" in changes:
        changes["name"] = changes["name"] or ""
    if args.password is not None:
        changes["password"] = args.password  # "" generates a new one
    extension = service.update_extension(args.number, **changes)
    print(f"extension {args.number} changed")
    if args.password == "":
        print(f"password: {extension.password}")


def _extension_list(service: Service, args: argparse.Namespace) -> None:
    rows = []
    for extension in service.extensions():
        data = to_mapping(extension)
        if not args.show_passwords:
            del data["password"]
        rows.append(data)
    if args.json:
        _print_json(rows)
        return
    secret = ["PASSWORD"] if args.show_passwords else []
    _print_table([[e["number"], e["name"], "yes" if e["international"] else "no", str(e["max_outbound"]),
                   "DND" if e["dnd"] else "", _forwarding(e), *(e.get(key, "") for key in secret)]
                  for e in rows],
                 ["NUMBER", "NAME", "INTL", "OUT", "DND", "FORWARDING", *secret])


def _forwarding(extension: dict[str, Any]) -> str:
    parts = [f"{when}->{extension[f'forward_{when}']}" for when in ("always", "busy", "no_answer")
             if f"forward_{when}" in extension]
    return " ".join(parts)


def _extension_remove(service: Service, args: argparse.Namespace) -> None:
    service.remove_extension(args.number)
    print(f"extension {args.number} removed")


# -- trunk ----------------------------------------------------------------------------------------


def _trunk_add(service: Service, args: argparse.Namespace) -> None:
    options = _options(args, ("port", "username", "password", "priority"))
    service.add_trunk(args.name, args.host, register=args.register, dids=tuple(args.did), **options)
    print(f"trunk {args.name} added")


def _trunk_list(service: Service, args: argparse.Namespace) -> None:
    trunks = [{k: v for k, v in to_mapping(t).items() if k != "password"} for t in service.trunks()]
    if args.json:
        _print_json(trunks)
        return
    _print_table([[t["name"], f"{t['host']}:{t['port']}", t.get("username", ""),
                   "yes" if t["register"] else "no", str(t["priority"]), " ".join(t["dids"])]
                  for t in trunks],
                 ["NAME", "HOST", "USER", "REGISTER", "PRIORITY", "DIDS"])


def _trunk_remove(service: Service, args: argparse.Namespace) -> None:
    service.remove_trunk(args.name)
    print(f"trunk {args.name} removed")


# -- route ----------------------------------------------------------------------------------------


def _route_add(service: Service, args: argparse.Namespace) -> None:
    if args.direction == "outbound":
        if not args.pattern:
            raise BadInput("an outbound route needs at least one --pattern")
        options = _options(args, ("strip", "prepend"))
        service.add_outbound_route(args.name, tuple(args.pattern), trunks=tuple(args.trunk), **options)
    else:
        if args.destination is None:
            raise BadInput("an inbound route needs --destination: extension:NUMBER, ring_group:NUMBER "
                           "or hangup")
        if len(args.trunk) > 1:
            raise BadInput("an inbound route takes at most one --trunk")
        options = _options(args, ("did", "caller_id", "time_condition", "closed_destination"))
        service.add_inbound_route(args.name, args.destination, trunk=args.trunk[0] if args.trunk else None,
                                  **options)
    print(f"{args.direction} route {args.name} added")


def _route_list(service: Service, args: argparse.Namespace) -> None:
    outbound = [to_mapping(r) for r in service.outbound_routes()]
    inbound = [to_mapping(r) for r in service.inbound_routes()]
    if args.json:
        _print_json({"outbound": outbound, "inbound": inbound})
        return
    print("outbound (tried in this order):")
    _print_table([[r["name"], " ".join(r["patterns"]), str(r["strip"]), r["prepend"],
                   " ".join(r["trunks"]) or "(all by priority)"] for r in outbound],
                 ["NAME", "PATTERNS", "STRIP", "PREPEND", "TRUNKS"])
    print("inbound (first match wins):")
    _print_table([[r["name"], r.get("trunk", "*"), r.get("did", "*"), r.get("caller_id", "*"),
                   r["destination"], _closed(r)] for r in inbound],
                 ["NAME", "TRUNK", "DID", "CALLER", "DESTINATION", "WHEN CLOSED"])


def _closed(route: dict[str, Any]) -> str:
    if "time_condition" not in route:
        return ""
    return f"{route['closed_destination']} ({route['time_condition']})"


def _route_remove(service: Service, args: argparse.Namespace) -> None:
    service.remove_route(args.direction, args.name)
    print(f"{args.direction} route {args.name} removed")


# -- ring group -----------------------------------------------------------------------------------


def _ring_group_add(service: Service, args: argparse.Namespace) -> None:
    options = _options(args, ("name", "timeout"))
    strategy = RingStrategy(args.strategy)
    service.add_ring_group(args.number, tuple(args.member), strategy=strategy, **options)
    print(f"ring group {args.number} added")


def _ring_group_list(service: Service, args: argparse.Namespace) -> None:
    groups = [to_mapping(g) for g in service.ring_groups()]
    if args.json:
        _print_json(groups)
        return
    _print_table([[g["number"], g["name"], g["strategy"], str(g["timeout"]), " ".join(g["members"])]
                  for g in groups], ["NUMBER", "NAME", "STRATEGY", "TIMEOUT", "MEMBERS"])


def _ring_group_remove(service: Service, args: argparse.Namespace) -> None:
    service.remove_ring_group(args.number)
    print(f"ring group {args.number} removed")


# -- cdr, config, status --------------------------------------------------------------------------


def _cdr(service: Service, args: argparse.Namespace) -> None:
    records = service.call_records(limit=args.limit)
    if args.json:
        _print_json([r.as_dict() for r in records])
        return
    _print_table([[iso_time(r.start) or "", r.src, r.dst, r.trunk or "", r.disposition or "UP",
                   "" if r.billsec is None else str(r.billsec)] for r in records],
                 ["START", "SRC", "DST", "TRUNK", "DISPOSITION", "BILLSEC"])


def _config_export(service: Service, args: argparse.Namespace) -> None:
    if args.file == "-":
        sys.stdout.write(service.export_text())
        return
    try:
        service.export_config(args.file)
    except OSError as error:
        raise BadInput(f"cannot write {args.file}: {error.strerror}") from None
    print(f"config written to {args.file}")


def _config_import(service: Service, args: argparse.Namespace) -> None:
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    except OSError as error:
        raise BadInput(f"cannot read {args.file}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise BadInput(f"{args.file} is not UTF-8 text") from None
    config = service.import_text(text)
    print(f"config imported: {len(config.extensions)} extensions, {len(config.trunks)} trunks, "
          f"{len(config.outbound_routes) + len(config.inbound_routes)} routes")


def _status(service: Service, args: argparse.Namespace) -> None:
    status = service.status()
    if args.json:
        _print_json(status.as_dict())
        return
    running = ("running" if status.runtime_running else "not running") + (
        f" (last heartbeat {status.heartbeat_age:.0f} s ago)" if status.heartbeat_age is not None else "")
    print(f"data:           {status.data_dir} (schema {status.schema_version}, config version "
          f"{status.config_version})")
    print(f"switch:         {running}")
    print(f"extensions:     {status.extensions}")
    print(f"trunks:         {status.trunks}")
    print(f"routes:         {status.outbound_routes} outbound, {status.inbound_routes} inbound")
    print(f"ring groups:    {status.ring_groups}")
    print(f"calls:          {status.calls_up} up, {status.calls_recorded} recorded")


# -- the parser -----------------------------------------------------------------------------------


def _group(sub: argparse._SubParsersAction, name: str, help_text: str) -> argparse._SubParsersAction:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    return parser.add_subparsers(dest="action", required=True, metavar="ACTION")


def _command(sub: argparse._SubParsersAction, name: str, help_text: str, handler: Handler,
             json_flag: bool = False) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=handler)
    if json_flag:
        parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _add_extension_commands(sub: argparse._SubParsersAction) -> None:
    group = _group(sub, "extension", "phones: extensions with their passwords, forwarding and rights")
    _extension_arguments(_command(group, "add", "add an extension", _extension_add))
    _extension_arguments(_command(group, "set", "change an extension", _extension_set))
    listing = _command(group, "list", "list the extensions", _extension_list, json_flag=True)
    listing.add_argument("--show-passwords", action="store_true")
    _command(group, "remove", "remove an extension", _extension_remove).add_argument("number")


def _add_trunk_commands(sub: argparse._SubParsersAction) -> None:
    group = _group(sub, "trunk", "SIP trunks to providers")
    add = _command(group, "add", "add a trunk", _trunk_add)
    add.add_argument("name")
    add.add_argument("--host", required=True)
    add.add_argument("--port", type=int)
    add.add_argument("--username")
    add.add_argument("--password")
    add.add_argument("--register", action="store_true", help="register at the provider")
    add.add_argument("--did", action="append", default=[], help="a number delivered on this trunk (repeat)")
    add.add_argument("--priority", type=int, help="failover order for routes that name no trunk")
    _command(group, "list", "list the trunks", _trunk_list, json_flag=True)
    _command(group, "remove", "remove a trunk", _trunk_remove).add_argument("name")


def _add_route_commands(sub: argparse._SubParsersAction) -> None:
    group = _group(sub, "route", "outbound routes (by pattern) and inbound routes (by trunk, DID, caller)")
    add = _command(group, "add", "add a route (after the existing ones)", _route_add)
    add.add_argument("direction", choices=("outbound", "inbound"))
    add.add_argument("name")
    add.add_argument("--pattern", action="append", default=[], help="outbound: e.g. 9XXXXXXX. (repeat)")
    add.add_argument("--strip", type=int, help="outbound: digits removed at the front")
    add.add_argument("--prepend", help="outbound: digits added at the front")
    add.add_argument("--trunk", action="append", default=[],
                     help="outbound: trunks in failover order (repeat); inbound: only calls from it")
    add.add_argument("--destination", help="inbound: extension:NUMBER, ring_group:NUMBER or hangup")
    add.add_argument("--did", help="inbound: pattern of the number called")
    add.add_argument("--caller-id", help="inbound: pattern of the caller's number")
    add.add_argument("--time-condition", help="inbound: name of a time condition")
    add.add_argument("--closed-destination", help="inbound: where calls go when it is closed")
    _command(group, "list", "list the routes", _route_list, json_flag=True)
    remove = _command(group, "remove", "remove a route", _route_remove)
    remove.add_argument("direction", choices=("outbound", "inbound"))
    remove.add_argument("name")


def _add_ring_group_commands(sub: argparse._SubParsersAction) -> None:
    group = _group(sub, "ring-group", "ring groups: ring all members at once, or hunt one after another")
    add = _command(group, "add", "add a ring group", _ring_group_add)
    add.add_argument("number")
    add.add_argument("--member", action="append", default=[], required=True, help="an extension (repeat)")
    add.add_argument("--name")
    add.add_argument("--strategy", choices=[s.value for s in RingStrategy],
                     default=RingStrategy.RING_ALL.value)
    add.add_argument("--timeout", type=int, metavar="SECONDS")
    _command(group, "list", "list the ring groups", _ring_group_list, json_flag=True)
    _command(group, "remove", "remove a ring group", _ring_group_remove).add_argument("number")


def _add_other_commands(sub: argparse._SubParsersAction) -> None:
    cdr = _command(sub, "cdr", "call records, oldest first", _cdr, json_flag=True)
    cdr.add_argument("--limit", type=int, help="only the newest N")
    group = _group(sub, "config", "the whole configuration as a TOML file")
    _command(group, "export", "write the config to FILE (- for stdout)", _config_export).add_argument("file")
    _command(group, "import", "replace the config with FILE's (validated; all or nothing)",
             _config_import).add_argument("file")
    _command(sub, "status", "what the box is and does", _status, json_flag=True)


# Each adds its commands to the top-level subparsers. `callbox run` (the runtime, which drives the
# switch core, Kamailio and the media workers) is added here as one more entry by the runtime stage.
COMMAND_GROUPS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_extension_commands,
    _add_trunk_commands,
    _add_route_commands,
    _add_ring_group_commands,
    _add_other_commands,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callbox", description="The call box: phone switch administration.")
    parser.add_argument("--data", default=DEFAULT_DATA_DIR, metavar="DIR",
                        help="state directory: database, generated configs, logs "
                             f"(default: ./{DEFAULT_DATA_DIR})")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_commands in COMMAND_GROUPS:
        add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # exits 2 with usage on a malformed command line
    try:
        with Service(args.data) as service:
            args.handler(service, args)
    except (ConfigError, BadInput) as error:
        print(f"callbox: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (StoreError, OSError) as error:
        print(f"callbox: {error}", file=sys.stderr)
        return EXIT_TROUBLE
    except KeyboardInterrupt:
        return EXIT_TROUBLE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
