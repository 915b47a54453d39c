"""The dial plan: from who called what to a ringing plan. Pure functions of the config, the time and
the outbound calls in progress.

From a phone, the number dialled is tried in this order: an extension, a ring group, an emergency
number, then the outbound routes in order (the first match wins). Emergency numbers are always
allowed (no international check, no allowance): recognised as dialled (``112`` goes out unchanged
through every trunk by priority) or after a route's prefix (``9112``: ``112`` through the route's
trunks). Any other call out needs the extension's allowance (``max_outbound`` concurrent calls)
and the box's (``max_outbound_calls``); a number that starts with ``00`` or ``+`` once the route's
digits are stripped is international and needs the extension's ``international`` flag.
Forwarding and transfers dial with the rights of the extension that forwards or transfers.

From a trunk: a blacklisted caller ID is declined; otherwise the first inbound route whose trunk,
DID pattern and caller-ID pattern all match (an absent one matches anything) gives the destination,
or its closed destination when its time condition is closed.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from firmware.switch.model import (
    Config,
    Destination,
    DestinationKind,
    Extension,
    TimeCondition,
    parse_holiday,
    parse_hours,
)
from firmware.switch.patterns import matches
from firmware.switch.records import EndpointKind

from .commands import Cause
from .plans import Dial, Plan, Refuse, RingExtension, RingGroupPlan, TrunkPlan

MAX_FORWARD_HOPS = 5  # forwards in a row before the call is refused as a loop
INTERNATIONAL_PREFIXES = ("00", "+")


@dataclass(frozen=True)
class OutboundUsage:
    """Trunk legs placed and not yet ended: in all, and per extension they are charged to."""

    total: int
    by_extension: Mapping[str, int]


def is_open(condition: TimeCondition, now: float) -> bool:
    """Whether ``condition`` is open at POSIX time ``now``."""
    local = dt.datetime.fromtimestamp(now, ZoneInfo(condition.timezone))
    for holiday in condition.holidays:
        year, month, day = parse_holiday(holiday)
        if (month, day) == (local.month, local.day) and year in (None, local.year):
            return False
    minute = local.hour * 60 + local.minute
    return any(local.weekday() in hours.days and hours.start <= minute < hours.end
               for hours in map(parse_hours, condition.hours))


class Resolver:
    """The dial plan over one config; ``usage`` counts the outbound calls in progress."""

    def __init__(self, config: Config, usage: Callable[[], OutboundUsage]):
        self.config = config
        self.usage = usage

    def from_extension(self, caller: str, dialled: str, hops: int = 0) -> Plan:
        """The plan for a number dialled by (or forwarded, transferred with the rights of) ``caller``."""
        if hops > MAX_FORWARD_HOPS:
            return Refuse(Cause.LOOP)
        extension = self.config.extension_by_number.get(caller)
        if extension is None:
            return Refuse(Cause.FORBIDDEN)
        if dialled in self.config.extension_by_number:
            return self._ring_extension(self.config.extension_by_number[dialled], hops)
        if dialled in self.config.ring_group_by_number:
            return self._ring_group(dialled)
        return self._outbound(extension, dialled)

    def from_trunk(self, trunk: str, did: str, caller_id: str, now: float) -> Plan:
        if any(matches(blocked.pattern, caller_id) for blocked in self.config.blacklist):
            return Refuse(Cause.DECLINED)
        for route in self.config.inbound_routes:
            if ((route.trunk is None or route.trunk == trunk)
                    and (route.did is None or matches(route.did, did))
                    and (route.caller_id is None or matches(route.caller_id, caller_id))):
                destination = route.destination
                if route.time_condition is not None and not is_open(
                        self.config.time_condition_by_name[route.time_condition], now):
                    destination = route.closed_destination or destination
                return self._destination(destination)
        return Refuse(Cause.NOT_FOUND)

    def _destination(self, destination: Destination) -> Plan:
        if destination.kind is DestinationKind.EXTENSION:
            return self._ring_extension(self.config.extension_by_number[destination.target], 0)
        if destination.kind is DestinationKind.RING_GROUP:
            return self._ring_group(destination.target)
        return Refuse(Cause.DECLINED)

    def _ring_extension(self, extension: Extension, hops: int) -> Plan:
        def forward(target: str) -> Plan:
            return self.from_extension(extension.number, target, hops + 1)

        return RingExtension(extension, self.config.settings.ring_timeout, forward)

    def _ring_group(self, number: str) -> Plan:
        group = self.config.ring_group_by_number[number]
        return RingGroupPlan(group, [self.config.extension_by_number[m] for m in group.members])

    def _outbound(self, extension: Extension, dialled: str) -> Plan:
        settings = self.config.settings
        if dialled in settings.emergency_numbers:  # as dialled, through every trunk
            return self._trunks(extension, dialled, (), emergency=True)
        for route in self.config.outbound_routes:
            if any(matches(p, dialled) for p in route.patterns):
                stripped = dialled[route.strip:]
                if stripped in settings.emergency_numbers:  # e.g. 9 then 112
                    return self._trunks(extension, stripped, route.trunks, emergency=True)
                if stripped.startswith(INTERNATIONAL_PREFIXES) and not extension.international:
                    return Refuse(Cause.FORBIDDEN)
                return self._trunks(extension, route.prepend + stripped, route.trunks, emergency=False)
        return Refuse(Cause.NOT_FOUND)

    def _trunks(self, extension: Extension, number: str, trunks: tuple[str, ...], emergency: bool) -> Plan:
        """Out through ``trunks`` (every trunk by priority when empty), within the allowances."""
        if not emergency:
            usage = self.usage()
            if usage.by_extension.get(extension.number, 0) >= extension.max_outbound:
                return Refuse(Cause.FORBIDDEN)
            if usage.total >= self.config.settings.max_outbound_calls:
                return Refuse(Cause.CONGESTION)
        if not trunks:
            trunks = tuple(t.name for t in sorted(self.config.trunks, key=lambda t: t.priority))
        if not trunks:
            return Refuse(Cause.CONGESTION)
        attempts = [Dial(EndpointKind.TRUNK, trunk, number, extension.number) for trunk in trunks]
        return TrunkPlan(attempts, self.config.settings.ring_timeout)
