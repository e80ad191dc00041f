"""BENCHMARKS.md from the bench scripts' JSON results: one table for P1–P10, then the issue figures.

Each target row shows the figure (median of the runs, min–max, number of runs), the
comparison measured side by side in the same run, the target and whether it was
met. A script that failed (or whose correctness check failed) shows why, never a number.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Result = dict[str, Any]
Row = tuple[str, str, str, str, str, str]  # id, what, figure, comparison, target, verdict


def fmt(value: float, digits: int = 2) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def sp(s: dict[str, Any], unit: str = "", digits: int = 2) -> str:
    """``median (min–max, n runs)``, all three with the median's precision."""
    if abs(s["median"]) >= 1000:
        digits = 0
    runs = f"{s['runs']} run" + ("s" if s["runs"] != 1 else "")
    return (f"{s['median']:,.{digits}f}{unit} ({s['min']:,.{digits}f}–{s['max']:,.{digits}f}, {runs})")


def verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


def failed(result: Result | None) -> str | None:
    if result is None:
        return "not run"
    if "error" in result:
        return f"not measured: {result['error']}"
    return None


def rows_startup(r: Result) -> list[Row]:
    s = r["help_s"]
    lazy = "torch, jax not imported" if not (r["torch_imported_at_startup"] or r["jax_imported_at_startup"]) \
        else "torch/jax imported at start-up"
    if "help_cpu_s" in r:
        lazy += f"; CPU time {fmt(r['help_cpu_s']['median'], 3)} s"
    return [("P10", "`beamline --help` wall time", sp(s, " s", 3), lazy, "≤ 0.5 s", verdict(s["median"] <= 0.5))]


def rows_pipeline(r: Result) -> list[Row]:
    p1, p2 = r["p1"], r["p2"]
    out: list[Row] = [
        ("P1", f"embedded pipeline, {r['cells']:,} cells, {p1['rows']:,} events persisted (counts checked)",
         sp(p1["events_per_s"], " events/s", 0), f"{fmt(p1['events_per_cpu_s']['median'], 0)} events per CPU-s",
         "≥ 10,000 events/s", verdict(p1["events_per_s"]["median"] >= 10_000)),
        ("P2", f"pipeline / floor (orjson + sqlite3 executemany, batches of {p2['floor_batch']})",
         "pipeline " + sp(p2["pipeline_wall_s"], " s") + "; floor " + sp(p2["floor_wall_s"], " s", 3),
         f"ratio {sp(p2['ratio'], '×')}; vs store's own batch insert {fmt(p2['ratio_vs_store_floor']['median'])}×",
         "≤ 4×", verdict(p2["ratio"]["median"] <= 4.0)),
    ]
    p9 = r.get("p9")
    if p9 is None:
        out.append(("P9", "peak RSS big run / small run", "not run", "", "≤ 1.2", "not measured"))
    else:
        out.append(("P9", f"peak RSS {p9['big_cells']:,} cells / {p9['small_cells']:,} cells",
                    f"{sp(p9['big_peak_rss_mib'], ' MiB', 1)} vs {sp(p9['small_peak_rss_mib'], ' MiB', 1)}",
                    f"ratio {fmt(p9['ratio']['median'], 3)} (growth over start-up RSS "
                    f"{fmt(p9['growth_ratio_over_start'])}×)", "≤ 1.2", verdict(p9["ratio"]["median"] <= 1.2)))
    return out


def rows_bus(r: Result) -> list[Row]:
    ratio = r["ratio_vs_raw_aiokafka"]["kafka_pipeline"]
    return [("P3", f"Kafka pipeline, {r['events']:,} events on the mock broker / raw aiokafka, same cluster",
             sp(r["events_per_s"]["kafka_pipeline"], " events/s", 0),
             f"ratio {sp(ratio, '', 3)}; raw aiokafka {fmt(r['events_per_s']['raw_aiokafka']['median'], 0)}/s",
             "≥ 0.5", verdict(ratio["median"] >= 0.5))]


def rows_qwave(r: Result) -> list[Row]:
    p4, p5, p6 = r["P4"], r["P5"], r["P6"]
    cases = "; ".join(f"{n} {fmt(p4[n]['compute']['speedup']['median'])}×" for n in ("heat", "evolve", "outer"))
    evolve = p4["evolve"]["compute"]["speedup"]
    ex, st = p5["executables"], p5["stage"]
    by_size = "; by cell size " + ", ".join(f"{e['grid'][0]}² {fmt(e['speedup']['median'])}×"
                                           for e in p5["executables_by_size"]) if p5.get("executables_by_size") else ""
    return [
        ("P4", "QWave / NumPy reference, heavy suite (median of the three cases; values checked)",
         f"{fmt(p4['median_compute_speedup'])}×", cases, "≥ 2×", verdict(p4["median_compute_speedup"] >= 2.0)),
        ("P4", "evolve 200 steps on 256²", sp(evolve, "×"),
         f"QWave {fmt(p4['evolve']['compute']['qwave_ms']['median'])} ms vs NumPy "
         f"{fmt(p4['evolve']['compute']['numpy_ms']['median'])} ms", "≥ 5×", verdict(evolve["median"] >= 5.0)),
        ("P5", f"{p5['cells']} cells {p5['grid'][0]}², vmapped / one by one (executables; values checked)",
         sp(ex["speedup"], "×"), f"{fmt(ex['vmapped_ms']['median'])} ms vs {fmt(ex['loop_ms']['median'])} ms"
         + by_size,
         "≥ 3×", verdict(ex["speedup"]["median"] >= 3.0)),
        ("P5", "the same through QWaveStage (PHASE10 batch / one call per beam)", sp(st["speedup"], "×"),
         f"{fmt(st['vmapped_ms']['median'])} ms vs {fmt(st['loop_ms']['median'])} ms", "≥ 3×",
         verdict(st["speedup"]["median"] >= 3.0)),
        ("P6", "recompiles on the second run of the same sheet (values checked equal)",
         str(p6["second_run_compiles"]), f"JAX backend compiles {p6['second_run_backend_compiles']}; "
         f"first run compiled {p6['first_run_compiles']}", "0",
         verdict(p6["second_run_compiles"] == 0 and p6["second_run_backend_compiles"] == 0)),
    ]


def rows_photon(r: Result) -> list[Row]:
    ops = r["count_ops_mean"]
    return [
        ("P7", f"Photon normalize / sympy.simplify, {r['count']} expressions "
               f"({r['checked_on_random_fields']} checked on random fields)", sp(r["speedup"], "×"),
         f"Photon {fmt(r['photon_ms_per_expr'], 3)} ms/expr vs sympy {fmt(r['sympy_ms_per_expr'], 3)} ms/expr",
         "≥ 20×", verdict(r["speedup"]["median"] >= 20)),
        ("P7", "result no larger than sympy's (count_ops)", f"{100 * r['no_larger_fraction']:.1f}%",
         f"mean count_ops input {ops['input']}, Photon {ops['photon']}, sympy {ops['sympy']}; flops no more "
         f"in {100 * r['flops_no_more_fraction']:.1f}%", "≥ 90%", verdict(r["no_larger_fraction"] >= 0.9)),
        *rows_photon_egglog(r),
    ]


def rows_photon_egglog(r: Result) -> list[Row]:
    """Issue 5's measurement: the same rules by equality saturation (egglog), beside Photon, same run."""
    eg = r.get("egglog", {})
    if "unavailable" in eg:
        return [("P7", "egglog comparison", "not run", eg["unavailable"], "—", "—")]
    rows: list[Row] = []
    for objective in ("size", "flops"):
        e = eg.get(f"extract_{objective}")
        if e is not None:
            rows.append(("P7", f"egglog ({eg['package']}, {eg['schedule']}; extraction by {objective}) / Photon "
                               "time", sp(e["egglog_over_photon_time"], "×"),
                         f"{fmt(e['egglog_ms_per_expr'], 3)} vs {fmt(eg['photon_ms_per_expr'], 3)} ms/expr; "
                         f"mean count_ops {e['count_ops_mean']} vs {eg['photon_count_ops_mean']}, flops "
                         f"{fmt(e['flops_mean'])} vs {fmt(eg['photon_flops_mean'])}; no larger than sympy "
                         f"{100 * e['no_larger_than_sympy']:.1f}%", "comparison", "—"))
    return rows


def rows_replay(r: Result) -> list[Row]:
    store = r["store"]
    ghost, lineage = r["ghost_replay_for_eid"], r["get_lineage_for_cell"]
    where = f"{store['events']:,} events" + (" (cached store)" if r["fill"].get("reused") else "")
    return [
        ("P8", f"`ghost_replay_for_eid(last=100)` p99, {where}, answers checked", sp(ghost["p99_ms"], " ms", 3),
         f"CPU p99 {fmt(ghost['cpu_p99_ms']['median'], 3)} ms; p50 {fmt(ghost['p50_ms']['median'], 3)} ms",
         "≤ 5 ms", verdict(ghost["p99_ms"]["median"] <= 5)),
        ("P8", "`get_lineage_for_cell` p99", sp(lineage["p99_ms"], " ms", 3),
         f"CPU p99 {fmt(lineage['cpu_p99_ms']['median'], 3)} ms; p50 {fmt(lineage['p50_ms']['median'], 3)} ms",
         "≤ 10 ms", verdict(lineage["p99_ms"]["median"] <= 10)),
    ]


TARGETS: list[tuple[str, list[str], Callable[[Result], list[Row]]]] = [
    ("pipeline", ["P1", "P2", "P9"], rows_pipeline),
    ("bus", ["P3"], rows_bus),
    ("qwave", ["P4", "P5", "P6"], rows_qwave),
    ("photon", ["P7"], rows_photon),
    ("replay", ["P8"], rows_replay),
    ("startup", ["P10"], rows_startup),
]


def target_table(results: dict[str, Result], quick: set[str]) -> list[str]:
    """The P1–P10 rows; rows of a benchmark run at quick sizes say so."""
    rows: list[Row] = []
    for key, ids, build in TARGETS:
        problem = failed(results.get(key))
        if problem is None:
            try:
                built = build(results[key])
                if key in quick:
                    built = [(r[0], f"{r[1]} — **quick sizes**", r[2], r[3], r[4], r[5]) for r in built]
                rows += built
                continue
            except (KeyError, TypeError) as exc:
                problem = f"not measured: result lacks {exc}"
        rows += [(i, f"`{key}` benchmark", "—", "—", "—", problem) for i in ids]
    rows.sort(key=lambda row: int(row[0][1:]))
    lines = ["| # | what | figure: median (min–max) | comparison, same run | target | result |",
             "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def issue_sections(results: dict[str, Result]) -> list[str]:
    out: list[str] = []
    bus = results.get("bus")
    out += ["### Issue 3: small events through each bus driver vs raw aiokafka", ""]
    if failed(bus) is None and bus is not None:
        out += [f"{bus['events']:,} events of ~{bus['event_bytes']} bytes; Kafka modes share one mock cluster per "
                "round (own topic and group each); pipeline modes count inputs + outputs (2 events per input) "
                "and were checked to persist exactly those. Ratio: events/s over raw aiokafka's, same round.", "",
                "| mode | events/s | seconds | ratio vs raw aiokafka |", "|---|---|---|---|"]
        for mode, per_s in bus["events_per_s"].items():
            ratio = bus["ratio_vs_raw_aiokafka"].get(mode)
            out.append(f"| {mode} | {sp(per_s, '', 0)} | {sp(bus['seconds'][mode], ' s', 3)} | "
                       f"{sp(ratio, '', 3) if ratio else '1 (reference)'} |")
        writes = bus.get("persist_writes_per_input", {})
        if writes:
            out += ["", "Persist calls per input event (a real store skips repeats after the round trip): "
                    + ", ".join(f"{bus_name} {n:g}" for bus_name, n in writes.items()) + "."]
    else:
        out.append(failed(bus) or "")
    parse = results.get("parse")
    out += ["", "### Issue 4: CodexLang parse + check of a 1,000-cell sheet", ""]
    if failed(parse) is None and parse is not None:
        out += ["| step | time |", "|---|---|",
                f"| parse ({parse['cells']} cells, {parse['source_bytes']:,} bytes) | {sp(parse['parse_ms'], ' ms', 1)} |",
                f"| parse + check (+ expand) | {sp(parse['parse_check_ms'], ' ms', 1)} |",
                f"| cost model | {sp(parse['cost_ms'], ' ms', 1)} |",
                f"| whole Codex stage ({parse['stage_events']:,} events) | {sp(parse['stage_ms'], ' ms', 1)} |"]
    else:
        out.append(failed(parse) or "")
    basin = results.get("basin")
    out += ["", "### Issue 7: basin packets", ""]
    if failed(basin) is None and basin is not None:
        out += [f"Packet {basin['sizes']['packet_bytes']:,} bytes; basin file {basin['sizes']['basin_file_bytes']:,} "
                f"bytes. Per operation, {basin['runs']} runs of {basin['loops']} calls (checked: packets verify, a "
                "tampered one does not, merges count every beam).", "", "| operation | time |", "|---|---|"]
        for name, s in basin["timings"].items():
            unit = name.rsplit("_", 1)[1].replace("us", "µs")
            out.append(f"| {name.rsplit('_', 1)[0]} | {sp(s, ' ' + unit, 3)} |")
    else:
        out.append(failed(basin) or "")
    law = results.get("soullaw")
    out += ["", "### Issue 8: SoulLaw decision time", ""]
    if failed(law) is None and law is not None:
        out += [f"{law['decisions']:,} beams ({100 * law['denied_fraction']:.0f}% denied, every verdict checked); "
                f"policy load + compile {law['policy']['load_compile_ms']} ms. Percentiles per run, median "
                f"(min–max) over {law['repeats']} runs.", "", "| path | p50 | p99 |", "|---|---|---|"]
        for key, label in (("decide_us", "`decide` alone"), ("assess_us", "SQI assessment, policy in memory"),
                           ("assess_policy_file_us", "assessment re-reading soullaw.toml (as the stage runs)")):
            out.append(f"| {label} | {sp(law[key]['p50'], ' µs')} | {sp(law[key]['p99'], ' µs')} |")
    else:
        out.append(failed(law) or "")
    return out
