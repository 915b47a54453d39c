"""A cheap SIP + RTP load generator for the switch benchmark (issue 3, acceptance item 6).

Hundreds of phones in one Python process: ``ua.Phone`` (REGISTER with digest, INVITE/ACK/BYE,
answering) on one asyncio loop, and ``rtp.RtpEngine`` sending every stream's 20 ms PCMU packet
on a single clock and logging every arrival for ``rtp.account`` (lost, late, duplicated,
misrouted frames). ``box.start_box`` starts the box under test; ``procstat`` reads what its
processes cost. ``python -m bench.loadgen`` runs the generator as its own process, driven by
JSON lines on stdin, so that its CPU is measured apart from the box's.
"""
