"""The telephone switch: configuration model, store, sans-IO core and the one service API.

Layers, inner to outer (an inner layer never imports an outer one):

- ``model`` and ``patterns``: the box's configuration as frozen, self-validating dataclasses;
- ``core``: the sans-IO switch (``Switch.handle(event, now) -> commands``), no I/O, no clock;
- ``store``: SQLite, the only module that speaks SQL (config tables and call records);
- ``service``: the one API for everything outside the core (CLI, web admin, hil-tests);
- ``cli``: the ``callbox`` command over ``service``;
- ``adapters``: the runtime (event loop, real clock), Kamailio edge and pjsua2 media workers.
"""
