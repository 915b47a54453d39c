"""The switch's edges to the outside world: the Kamailio SIP edge and the pjsua2 media workers.

Everything here runs or drives real processes (see docs/sip-edge.md):

- ``kamailio``: generates the edge's kamailio.cfg, its dispatcher list and subscriber table, and
  runs Kamailio as a child process with a readiness check and a JSON-RPC channel.
- ``media_worker``: the pjsua2 media worker process (at most 4 call legs), driven over a line-based
  JSON protocol; only this module imports pjsua2.
- ``worker_client``: the runtime's side of that protocol: start a worker, send commands, read events.
- ``sip_probe``: a tiny SIP user agent client (OPTIONS, digest REGISTER) for readiness and health
  checks, and for tests that must see every status code.
- ``baresip``: drives a headless baresip softphone (tests, hil-tests and load generation).
- ``lab``: the edge, workers and phones on loopback as one context manager (tests, benchmark).
- ``subprocesses``: starting and stopping those child processes, and free loopback ports.
"""
