"""Photon: the rewriter between Codex and QWave (spec: stages.md, "Photon").

Modules, by idea: ``rules`` (the rule catalogue, as data) with its builders
``arith_rules``/``calculus_rules``/``factor_rules`` over the term shapes of
``algebra``; ``patterns`` (matching), ``kinds`` (operand kinds for side
conditions), ``terms`` (canonical keys, shared subtrees); ``engine`` (ordered
innermost rewriting to a fixed point); ``normalize`` (canonical forms and the
cost-guided choice, ``costing``); ``verify`` (reference-interpreter checks);
``routing``; ``beams``/``symbolic``/``stage`` (the stage); ``adapters`` (the
Photon AST). Importing this package imports nothing heavy.
"""
