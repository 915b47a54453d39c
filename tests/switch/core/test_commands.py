"""Commands: the SIP status each cause gives an unanswered caller."""
from firmware.switch.core.commands import Cause


def test_every_cause_has_a_sip_status():
    statuses = {cause: cause.sip_status for cause in Cause}
    assert statuses[Cause.BUSY] == 486 and statuses[Cause.FORBIDDEN] == 403
    assert statuses[Cause.NOT_FOUND] == 404 and statuses[Cause.CONGESTION] == 503
    assert statuses[Cause.DECLINED] == 603 and statuses[Cause.LOOP] == 482
    assert all(200 <= status < 700 for status in statuses.values())
