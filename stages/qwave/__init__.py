"""QWave: the JAX offload stage (stages.md "QWave").

Modules (jax is imported lazily, inside functions, so importing any of them is cheap):

* ``program``   — normal form → structure with input slots + the slot values (reference initialisers)
* ``lowering*`` / ``jvalues`` — the interpreter's semantics traced with ``xp = jax.numpy``
* ``compiler``  — AOT-compiled, cached executables; ``run_program``, ``run_batch`` (vmap), ``cache_stats``
* ``formats`` / ``precision`` — fp32/bf16/fp8/int8 storage, per-opcode profiles, ``recommend_precision_for_opcode``
* ``measure`` / ``collapse`` — pure NumPy collapse shared with Photon's symbolic route: ``collapse_events``
* ``jobs`` / ``stage`` — ``QWaveStage`` (``handle_batch``: vector beams; contract in ``bus.batches``)
"""
