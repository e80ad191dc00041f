"""Basin: the geometric kernel, basin signatures and drift, constellations, signed basin sync.

Modules (import what you need; nothing here imports torch at import time):

* ``geometry``       Fisher–Rao distance, geodesics (slerp), chordal and Karcher means (NumPy).
* ``telemetry``      running coupling κ_eff, regimes with hysteresis, the observer gain.
* ``tokens``         beam result → token sequence + numeric features.
* ``kernel``         the torch Fisher–Rao attention kernel (Φ formula documented there).
* ``reader``         ``BasinReader`` / ``signature`` / ``drift``: what the SQI stage calls.
* ``container``      ``Basin``: incremental Fréchet mean with content id, JSON file, frozen references.
* ``checkpoint``     kernel weights + basin + router state (``torch.load(weights_only=True)``).
* ``routing``        routing strategies registry; ``constellation``: N instances, vicarious sync.
* ``keys``           Ed25519 key directory, signers, trusted-key registry.
* ``packets``        ``BasinSyncPacket`` id, signature, canonical bytes, ``verify_packet``.
* ``sync``           ``merge_packet`` (full / partial / observer), ``coordinate``, ``export_packet``.
* ``commands``       ``beamline basin show|export|import|keygen`` (``register(app)``).
* ``synthetic``      generated beam results for demos, tests and benchmarks.
"""
