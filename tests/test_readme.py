"""The headline numbers the README quotes equal the values in the results JSON they cite.

Each claim names a JSON file under benchmarks/results/, a path to a value in it, the format the
README prints it in, and a piece of the README line that quotes it. The test fails when the README
is edited to another number, when a benchmark rerun changes the JSON without the README, or when
the quoted line disappears.
"""

import functools
import hashlib
import json
import re
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch

from rexmol.metrics.weights import normalised_weights

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _n256_row(solver):
    return lambda j: next(r for r in j["evaluate"]["rows"] if r["solver"].startswith(solver))


def _floor_cell(k, i):
    """Value i of the k-run row of the AAA floor table: 0 the E-W2 median, 1-5 the sorted pairings,
    "T" the T-W2 median."""
    def get(j):
        row = j["by_length"][k - 1]
        return row["T_W2_rad_median"] if i == "T" else [row["E_W2_kT_median"], *sorted(row["E_W2_kT_all"])][i]
    return get


def _protocol_floor(j):
    """The test set's floor against MD of its own integrator: (against the other 1 fs runs, the
    1 fs pairings), checking the runs the README names."""
    t = j["test_set"]
    mine = t["against_other_runs_at_protocol"]
    assert mine["against"] == [*range(124, 136)], mine["against"]
    assert t["runs_at_protocol"] == [101, 102, 103, 104, *range(116, 136)], t["runs_at_protocol"]
    assert j["seeds"] == t["runs_at_protocol"], "the floor's runs are the 1 fs runs only"
    assert j["excluded_seeds"] == [*range(105, 116), 201], "the twelve HMR runs the README says are left out"
    assert t["protocol_pairings_runs_per_set"] == 12
    return mine, [q["E_W2_kT"] for q in t["protocol_pairings"]]


def _sweep_row(setting):
    return lambda j: next(r for r in j["rows"] if r["setting"] == setting)


def _headline_table(name, e_row, t_row):
    """Claims for the cells of a headline results table (raw, reweighted [16-84%], floors raw / at the ESS)."""
    cells = [("E_W2_kT", e_row), ("T_W2_rad", t_row)]
    out = []
    for key, row in cells:
        boot = f"{key}_reweighted_16_84"
        out += [(name, lambda j, k=key: j[k], "{:.2f}", row, 2),
                (name, lambda j, k=key: j[f"{k}_reweighted"], "{:.2f}", row, (3, 0)),
                (name, lambda j, k=key: j["noise_floor_raw"][k], "{:.2f}", row, (4, 0)),
                (name, lambda j, k=key: j["noise_floor_reweighted"][k], "{:.2f}", row, (4, 1))]
        out += [(name, lambda j, b=boot, i=i: j["bootstrap"][b][i], "{:.2f}", row, (3, 1 + i)) for i in (0, 1)]
    return out


def _ess_row(name, row):
    """Claims for a headline table's ESS row: "ESS of n (fraction%) [16%, 84%]"."""
    return [(name, lambda j: j["ess"], "{:.1f}", row, (3, 0)),
            (name, lambda j: 100 * j["ess_fraction"], "{:.2f}", row, (3, 2)),
            *[(name, lambda j, i=i: 100 * j["bootstrap"]["ess_fraction_16_84"][i], "{:.2f}", row, (3, 3 + i))
              for i in (0, 1)]]


def _headline_claims(name, e_row, t_row, s_row, floor_header):
    """A headline table's cells, its ESS row and the ESS its header names for the reweighted floor."""
    return [*_headline_table(name, e_row, t_row), *_ess_row(name, s_row),
            (name, lambda j: f"(n = {j['noise_floor_reweighted']['n']}, the ESS)", "{}", floor_header)]


HMR_U = "| mean u (kT) | -153.83 | -153.68 | 1.4 (3.1) |"
HMR_XH = "| mean X-H length (nm) | 0.10684 | 0.10684 | 0.3 (3.8) |"

INTEGRATOR_RUNS = "the\n60 ns of HMR (seeds 105-115 and 201) against the 60 ns at 1 fs (seeds 101-104 and 116-123)"
INTEGRATOR_POPULATION_ROWS = ("| residue 2 in alpha_R | 21.75% | 16.88% | -3.59 (0.0017) |",
                              "| residue 2 in beta/PPII | 78.23% | 80.28% | 0.77 (0.45) |",
                              "| residue 2 at phi > 0 | 0.02% | 2.84% | 1.00 (0.34) |",
                              "| residue 3 at phi > 0 | 1.45% | 0.04% | -1.50 (0.16) |")

AAA_E = "| E-W2 (kT) | 2122864.83 | 6.31 [5.84, 7.78] | 0.38 / 3.99 |"
AAA_T = "| T-W2, 5 backbone torsions (rad) | 0.90 | 2.09 [1.91, 2.38] | 1.22 / 1.96 |"
HEAD = "aaa_headline/results.json"
AAA_FLOOR_ROWS = {1: "| 1 trajectory, 5 ns | 0.31 [0.26, 0.31, 0.31, 0.49, 0.49] | 0.49 | 0.65 |",
                  2: "| 2 trajectories, 10 ns | 0.23 [0.21, 0.23, 0.23, 0.39, 0.59] | 0.35 | 0.74 |",
                  4: "| 4 trajectories, 20 ns | 0.25 [0.10, 0.15, 0.25, 0.31, 0.33] | 0.25 | 0.63 |",
                  6: "| 6 trajectories, 30 ns | 0.10 [0.08, 0.10, 0.10, 0.12, 0.14] | 0.21 | 0.61 |",
                  12: "| 12 trajectories, 60 ns (the test set's size) | 0.12 [0.06, 0.07, 0.12, 0.13, 0.14] | 0.14 | 0.53 |"}

AB = "training_ab.json"
AB_ROWS = {"checkpoints/ala3_dit_aaa": "| first cycle: uniform t (`aaa_run.yaml`) | -335.5 | -345.7 | -350.4 |",
           "checkpoints/ala3_dit_aaa_harmonic":
               "| harmonic prior (`aaa_harmonic.yaml`, stopped at 9,250) | -316.2 | -324.9 | |",
           "checkpoints/ala3_dit_aaa_time2": "| t ~ Beta(2, 1) (`aaa_time2.yaml`) | -340.8 | -348.4 | -352.0 |",
           "checkpoints/ala3_dit_aaa_time3": "| t ~ Beta(3, 1) (`aaa_time3.yaml`) | -341.8 | -348.8 | -351.7 |",
           "checkpoints/ala3_dit_aaa_w96":
               "| t ~ Beta(2, 1), width 96, 711k parameters (`aaa_w96.yaml`) | -344.6 | -350.8 | -353.9 |",
           "checkpoints/ala3_dit_aaa_cycle2":
               "| second cycle of 10,000 steps from the first run (`aaa_cycle2.yaml`; its steps) | -348.4 | -351.6 | |"}
AB_STEPS = ("3779", "7559", "11339")


def _ab_check(run, step):
    """val/nll_nats of one run at one step, or "" where the run has no check there (an empty cell)."""
    return lambda j: j["runs"][run]["checks"].get(step, {}).get("val/nll_nats", "")


def _fmt_or_empty(v):
    return "" if v == "" else f"{v:.1f}"


CLAIMS = [
    ("sampler_sweep_n8.json", lambda j: _sweep_row("princeps_midpoint_16_jac")(j)["cost_per_sample_over_default"],
     "{:.3f}", "(Jacobian; the default until the log-SNR grid) | 32 | 5.13 | 0.215 | 0 |"),
    ("sampler_sweep_n8.json", lambda j: _sweep_row("rex_dopri5_z0.5_adaptive_div")(j)["cpu_s_per_sample"], "{:.1f}",
     "(divergence; the old default) | 155 | 23.9 |"),
    ("sampler_sweep_n8.json", lambda j: j["integral_vs_jacobian"]["princeps_midpoint_16_div"]["std_nats"], "{:.1f}",
     "with a spread of **3.9 nats** over draws"),
    ("jacobian_rows.json", lambda j: j["rows"][1]["wall_s_per_draw"], "{:.2f}", "(1.74 against 3.47 s per draw)"),
    ("jacobian_rows.json", lambda j: j["rows"][0]["wall_s_per_draw"], "{:.2f}", "(1.74 against 3.47 s per draw)"),
    ("jacobian_rows.json", lambda j: j["rows"][3]["wall_s_per_draw"], "{:.2f}", "(0.99 against 1.74 s)"),
    ("jacobian_rows.json", lambda j: j["rows"][1]["wall_vs_one_pass"], "{:.2f}", "takes 0.50x the time on one thread"),
    ("tangent_methods.json", lambda j: "takes **{:.2f}x** the CPU per draw of batched forward mode on one\nthread ({:.2f} "
     "against {:.2f} s) and {:.2f}x on two ({:.2f} against {:.2f} s wall), with log q equal to\n{:.1e} nats".format(
         j["rows"][1]["cpu_vs_vmap"], j["rows"][1]["cpu_s_per_draw"], j["rows"][0]["cpu_s_per_draw"],
         j["rows"][3]["wall_vs_vmap"], j["rows"][3]["wall_s_per_draw"], j["rows"][2]["wall_s_per_draw"],
         j["log_q_max_abs_difference"]) if [(r["threads"], r["method"]) for r in j["rows"]] == [
         (1, "vmap"), (1, "reverse"), (2, "vmap"), (2, "reverse")] and j["same_draws_folded"] else "", "{}",
     "takes **0.47x** the CPU per draw of batched forward mode on one\nthread (1.33 against 2.85 s) and 0.45x on two "
     "(0.86 against 1.91 s wall), with log q equal to\n4.6e-5 nats"),
    *[("md_replicas.json", (lambda j, i=i: j["rows"][i]["vs_lone_run"]), "{:.2f}",
       "process, 3 interleaved rounds) gave 2.18x, 2.41x and 2.57x for 4, 8 and 16 copies") for i in (1, 2, 3)],
    *[("md_replicas.json", (lambda j, i=i: j["rows"][i]["ns_per_day_total"]), "{:.0f}",
       "(250, 277 and 295\nagainst 115 ns/day summed over the copies)") for i in (0, 1, 2, 3)],
    # table rows: (..., cell) checks the number in that cell of the row, or (cell, k): the k-th number in it
    ("md_integrator_ensemble.json", lambda j: j["means"][0]["reference"], "{:.2f}", HMR_U, 2),
    ("md_integrator_ensemble.json", lambda j: j["means"][0]["candidate"], "{:.2f}", HMR_U, 3),
    ("md_integrator_ensemble.json", lambda j: j["means"][0]["z"], "{:.1f}", HMR_U, (4, 0)),
    ("md_integrator_ensemble.json", lambda j: j["means"][0]["control max |z|"], "{:.1f}", HMR_U, (4, 1)),
    ("md_integrator_ensemble.json", lambda j: j["means"][1]["reference"], "{:.5f}", HMR_XH, 2),
    ("md_integrator_ensemble.json", lambda j: j["means"][1]["candidate"], "{:.5f}", HMR_XH, 3),
    ("md_integrator_ensemble.json", lambda j: j["means"][1]["z"], "{:.1f}", HMR_XH, (4, 0)),
    ("md_integrator_ensemble.json", lambda j: j["means"][1]["control max |z|"], "{:.1f}", HMR_XH, (4, 1)),
    ("md_integrator_ensemble.json", lambda j: f"{sum(r['z'] ** 2 < 9 for r in j['means'][2:])} of 17", "{}",
     "| X-H bonds with \\|z\\| < 3 | | 17 of 17 | (13 of 17) |", 5),  # the escaped pipes split cells too
    ("md_integrator_ensemble.json", lambda j: f"({sum(r['control max |z|'] < 3 for r in j['means'][2:])} of 17)", "{}",
     "| X-H bonds with \\|z\\| < 3 | | 17 of 17 | (13 of 17) |", 6),
    *[("md_integrator_ensemble.json", (lambda j, i=i, key=key: j["block_w2"][i][key]), fmt, row, cell)
      for i, (fmt, row) in enumerate((("{:.2f}", "| E-W2 (kT) | 0.67 | 0.72 | 1.04 |"),
                                       ("{:.1e}", "| X-H W2 (nm) | 6.9e-5 | 6.8e-5 | 8.7e-5 |"),
                                       ("{:.2f}", "| T-W2, 4 torsions (rad) | 0.74 | 0.75 | 1.07 |")))
      for key, cell in (("floor median", 2), ("candidate median", 3), ("floor 84%", 4))],
    ("md_integrator_ensemble.json", lambda j: "matches" if j["matches"] else "does not match", "{}",
     "**So HMR at 2 fs does not match the 1 fs ensemble** (`\"matches\": false`)"),
    ("md_integrator_ensemble.json", lambda j: "({} random pairs of 1 ns blocks each)".format(
        j["block_w2"][0]["n floor pairs"]) if j["block_w2"][0]["n floor pairs"] == j["block_w2"][0]["n candidate pairs"]
     else "", "{}", "(400 random pairs of 1 ns blocks each)"),
    ("md_integrator_ensemble.json", lambda j: INTEGRATOR_RUNS
     if sorted(map(int, j["candidate"])) == [*range(105, 116), 201]
     and sorted(map(int, j["reference"])) == [*range(101, 105), *range(116, 124)] else "", "{}",
     INTEGRATOR_RUNS),
    *[("md_integrator_ensemble.json", (lambda j, i=i, k=k: 100 * j["populations"][i][k]), "{:.2f}", row, cell)
      for i, row in enumerate(INTEGRATOR_POPULATION_ROWS) for k, cell in (("reference", (2, 0)), ("candidate", (3, 0)))],
    *[("md_integrator_ensemble.json", (lambda j, i=i: j["populations"][i]["welch t"]), "{:.2f}", row, (4, 0))
      for i, row in enumerate(INTEGRATOR_POPULATION_ROWS)],
    *[("md_integrator_ensemble.json", (lambda j, i=i: j["populations"][i]["p"]), fmt, row, (4, 1))
      for i, (row, fmt) in enumerate(zip(INTEGRATOR_POPULATION_ROWS, ("{:.4f}", "{:.2f}", "{:.2f}", "{:.2f}")))],
    ("jacobian_rows.json", lambda j: j["rows"][3]["wall_vs_one_pass"], "{:.2f}", "and 0.57x on two"),
    ("jacobian_rows.json", lambda j: "bitwise" if j["log_q_max_abs_difference"] == 0 else "not bitwise", "{}",
     "with bitwise the same log q"),
    *[("noise_floor_aaa.json", _floor_cell(k, i), "{:.2f}", row, (2, i)) for k, row in AAA_FLOOR_ROWS.items()
      for i in range(6)],
    *[("noise_floor_aaa.json", _floor_cell(k, "T"), "{:.2f}", row, 4) for k, row in AAA_FLOOR_ROWS.items()],
    *[("noise_floor_aaa.json", (lambda j, k=k: j["by_length"][k - 1]["E_W2_kT_sampling_noise_median"]), "{:.2f}", row, 3)
      for k, row in AAA_FLOOR_ROWS.items()],
    ("md_integrator_ensemble.json", lambda j: "runs {:.1f}-{:.0f}% over the 1 fs runs".format(
        *(100 * f(v["residue 2 alpha_R"] for s, v in j["run_populations"].items() if s in j["reference"])
          for f in (min, max))), "{}", "runs 15.3-26% over the 1 fs runs"),
    ("noise_floor_aaa.json", lambda j: "at or below it at all {}\nsizes".format(len(j["by_length"])) if all(
        r["E_W2_kT_median"] <= r["E_W2_kT_sampling_noise_median"] for r in j["by_length"]) else "", "{}",
     "at or below it at all 12\nsizes"),
    ("noise_floor_aaa.json", lambda j: "the same row is {:.2f} against {:.2f} kT".format(
        j["by_length"][3]["E_W2_kT_median"], j["by_length"][3]["E_W2_kT_sampling_noise_median"]), "{}",
     "the same row is 0.25 against 0.25 kT"),
    ("noise_floor_aaa.json", lambda j: "| test set (12 runs, 60 ns) against the 12 other 1 fs runs (124-135, 60 ns) | {:.2f} | "
     "{:+.2f} | {:.2f} |".format(*(_protocol_floor(j)[0][k] for k in ("E_W2_kT", "mean_u_others_minus_test_kT",
                                                                      "E_W2_kT_centred"))), "{}",
     "| test set (12 runs, 60 ns) against the 12 other 1 fs runs (124-135, 60 ns) | 0.09 | +0.05 | 0.08 |"),
    ("noise_floor_aaa.json", lambda j: "| two disjoint 12-run sets of the 24 runs (60 ns each), median of {} pairings | "
     "{:.2f} | | {:.2f} |".format(len(_protocol_floor(j)[1]), j["test_set"]["protocol_pairings_E_W2_kT_median"],
                                  statistics.median(q["E_W2_kT_centred"] for q in j["test_set"]["protocol_pairings"])),
     "{}", "| two disjoint 12-run sets of the 24 runs (60 ns each), median of 64 pairings | 0.10 | | 0.07 |"),
    ("noise_floor_aaa.json", lambda j: "Over the 64 pairings the 16-84% range is {:.2f}-{:.2f} kT; sampling noise alone gives "
     "{:.2f} kT at their\nsize [{:.2f}, {:.2f}]".format(
         *np.quantile(_protocol_floor(j)[1], [0.16, 0.84]),
         j["test_set"]["independent_samples"]["E_W2_kT_at_pairing_size"]["E_W2_median"],
         *j["test_set"]["independent_samples"]["E_W2_kT_at_pairing_size"]["E_W2_16_84"]), "{}",
     "Over the 64 pairings the 16-84% range is 0.08-0.18 kT; sampling noise alone gives 0.15 kT at their\nsize [0.12, 0.18]"),
    ("noise_floor_aaa.json", lambda j: "The test set against the other 12 runs has a T-W2 of {:.2f} rad".format(
        _protocol_floor(j)[0]["T_W2_rad"]), "{}", "The test set against the other 12 runs has a T-W2 of 0.55 rad"),
    *_headline_table(HEAD, AAA_E, AAA_T),
    (HEAD, lambda j: 100 * j["ess_fraction"], "{:.2f}", "| ESS | | 3.5 of 1000 (0.35%)"),
    (HEAD, lambda j: j["n"], "{}", "| AAA model, n = 1000 draws |"),
    ("aaa_nll/likelihood.json", lambda j: j["nll_nats_per_molecule"], "{:.1f}", "**Test NLL: -348.6 nats per molecule**"),
    ("aaa_nll/likelihood.json", lambda j: j["nll_sem"], "{:.1f}", "**Test NLL: -348.6 nats per molecule** (SE 0.2;"),
    ("aaa_nll/likelihood.json", lambda j: j["frames"], "{}", "1000 evenly spaced test frames"),
    *[(AB, (lambda j, r=run, st=step: _fmt_or_empty(_ab_check(r, st)(j))), "{}", row, cell)
      for run, row in AB_ROWS.items() for cell, step in enumerate(AB_STEPS, start=2)],
    (AB, lambda j: j["paired_nll"]["time2"]["nll_difference_nats"], "{:.2f}", "**-1.51 nats per molecule** (SE 0.06"),
    (AB, lambda j: j["paired_nll"]["time2"]["se_nats"], "{:.2f}", "**-1.51 nats per molecule** (SE 0.06"),
    (AB, lambda j: j["paired_nll"]["time2"]["nll_nats"], "{:.2f}", "test NLL -350.13\n  against -348.62"),
    (AB, lambda j: j["paired_nll"]["time2"]["nll_base_nats"], "{:.2f}", "against -348.62; `rexmol likelihood"),
    (AB, lambda j: 100 * j["paired_samples"]["time2"]["ess_fraction"], "{:.2f}", "ESS **0.22%**"),
    (AB, lambda j: 100 * j["paired_samples"]["time2"]["ess_fraction_base"], "{:.2f}", "against 0.35%, a ratio"),
    (AB, lambda j: j["paired_samples"]["time2"]["ess_ratio"], "{:.2f}", "a ratio of 0.63 [0.34, 1.36]"),
    *[(AB, (lambda j, k=k: j["paired_samples"]["time2"]["ess_ratio_interval_16_84"][k]), "{:.2f}",
       "a ratio of 0.63 [0.34, 1.36]") for k in (0, 1)],
    (AB, lambda j: j["paired_samples"]["time2"]["median_log_w_difference_nats"], "{:.2f}",
     "rises by 0.61 nats [0.33, 0.88]"),
    *[(AB, (lambda j, k=k: j["paired_samples"]["time2"]["median_log_w_difference_interval_16_84"][k]), "{:.2f}",
       "rises by 0.61 nats [0.33, 0.88]") for k in (0, 1)],
    (AB, lambda j: j["paired_nll"]["w96"]["nll_difference_nats"], "{:.2f}", "**-3.29 nats per molecule** (SE 0.07;"),
    (AB, lambda j: j["paired_nll"]["w96"]["se_nats"], "{:.2f}", "**-3.29 nats per molecule** (SE 0.07;"),
    (AB, lambda j: j["paired_nll"]["w96"]["nll_nats"], "{:.2f}", "(SE 0.07; -351.91 against -348.62;"),
    (AB, lambda j: j["paired_samples"]["w96"]["median_log_w_difference_nats"], "{:.2f}",
     "log w rises by **2.22 nats** [1.94, 2.50]"),
    *[(AB, (lambda j, k=k: j["paired_samples"]["w96"]["median_log_w_difference_interval_16_84"][k]), "{:.2f}",
       "log w rises by **2.22 nats** [1.94, 2.50]") for k in (0, 1)],
    (AB, lambda j: 100 * j["paired_samples"]["w96"]["ess_fraction"], "{:.2f}", "the ESS is **0.10%** against 0.35%"),
    (AB, lambda j: j["paired_samples"]["w96"]["ess_ratio"], "{:.2f}", "against 0.35% (ratio 0.30"),
    *[(AB, (lambda j, k=k: j["paired_samples"]["w96"]["ess_ratio_interval_16_84"][k]), "{:.2f}",
       "[0.22, 2.35]): one draw") for k in (0, 1)],
    ("nll_solver_gap.json", lambda j: j["reference"]["nll_nats"], "{:.1f}", "rtol = atol = 1e-5 gives **-328.0** (SE 1.2;"),
    ("nll_solver_gap.json", lambda j: j["rows"][0]["max_abs_per_frame_nats"], "{:.2f}",
     "1e-4 moves no\n  frame by more than 0.15 nats"),
    ("aaa_nll_solvers/dopri5_1e-5/likelihood.json", lambda j: j["nll_sem"], "{:.1f}", "gives **-328.0** (SE 1.2;"),
    ("nll_solver_gap.json", lambda j: -j["rows"][1]["nll_difference_nats"], "{:.1f}", "sits **20.4 nats** lower"),
    ("nll_solver_gap.json", lambda j: j["rows"][1]["se_nats"], "{:.2f}", "(paired SE 0.34, up to 27.0"),
    ("nll_solver_gap.json", lambda j: j["rows"][1]["max_abs_per_frame_nats"], "{:.1f}", "(paired SE 0.34, up to 27.0"),
    ("nll_solver_gap.json", lambda j: j["frames"], "{}", "on 64 of these\n  frames"),
    # (json file, getter, format, README line that quotes it)
    ("boltzmann.json", lambda j: j["rates"][1]["ESS_per_s"], "{:.4f}",
     "0.0020 per second for Rex(dopri5) at the default zeta 0.5"),
    ("boltzmann.json", lambda j: j["rates"][0]["ESS_per_s"], "{:.4f}", "0.0027 at zeta 0.999"),
    ("boltzmann.json", lambda j: j["md"]["md_ns_per_day"], "{:.0f}", "one thread ran at 883 ns/day"),
    ("boltzmann.json", lambda j: j["md"]["tau_int_ps_slowest"], "{:.0f}", "autocorrelation time of 235 ps"),
    ("md_energy_throughput.json", lambda j: j["rows"][0]["rate"], "{:.0f}", "| MD, CPU platform, 1 thread | 759 ns/day |"),
    ("boltzmann_n256.json", lambda j: _n256_row("Rex")(j)["E_W2_reweighted_over_torchdiffeq"], "{:.2f}",
     "| Rex(dopri5), zeta 0.5 | 71 / 20.1 | 2.88 ["),
    ("boltzmann_n256.json", lambda j: _n256_row("Rex")(j)["E_W2_kT_reweighted"], "{:.1f}",
     "| Rex(dopri5), zeta 0.5 | 71 / 20.1 |"),
    ("boltzmann_n256.json", lambda j: _n256_row("Rex")(j)["ess"], "{:.1f}", "| 2.7 (1.0%) | -342 |"),
    ("boltzmann_n256.json", lambda j: _n256_row("torchdiffeq")(j)["E_W2_kT_reweighted"], "{:.1f}",
     "| torchdiffeq dopri5 | 200 / 7.0 |"),
    ("boltzmann_n256.json", lambda j: _n256_row("Princeps")(j)["roundtrip_log_q_max_abs"], "{:.2f}",
     "| 2.8 (1.1%) | -341 | 0.69 |"),
]


SWEEP_AAA = "sampler_sweep_aaa_n100.json"
_REX16 = lambda j: j["rex_vs_base_solver"]["rex_midpoint_z0.5_16_jac"]  # noqa: E731
CLAIMS += [
    (SWEEP_AAA, lambda j: "{:.2f} [{:.2f}, {:.2f}]".format(_REX16(j)["E_W2_reweighted_ratio"],
                                                          *_REX16(j)["E_W2_reweighted_ratio_16_84"]), "{}",
     "gives a reweighted E-W2 ratio of 0.99 [0.96, 1.02] and an ESS ratio of 1.02"),
    (SWEEP_AAA, lambda j: _REX16(j)["ess_ratio"], "{:.2f}", "and an ESS ratio of 1.02, at twice"),
    (SWEEP_AAA, lambda j: "{:.2f}, {:.2f} and {:.2f}".format(*(_sweep_row(k)(j)["ess"] for k in (
        "princeps_midpoint_16_jac", "princeps_midpoint_32_jac", "princeps_midpoint_64_jac"))), "{}",
     "64 midpoint steps give an ESS of 2.28, 2.83 and 3.17 of 100"),
    (SWEEP_AAA, lambda j: "{:.2f}, {:.2f}".format(*_sweep_row("princeps_midpoint_16logsnr_jac")(j)["ess_16_84"]), "{}",
     "intervals overlap widely (log-SNR [5.30, 9.22], 64 uniform steps [3.03, 10.23], quadratic"),
    (SWEEP_AAA, lambda j: _sweep_row("princeps_midpoint_16quadratic_jac")(j)["ess"], "{:.2f}",
     "grid (dense at the data end only) gives 3.18, which"),
    (SWEEP_AAA, lambda j: _sweep_row("princeps_midpoint_8_jac")(j)["E_W2_kT_reweighted"], "{:.1f}",
     "5-8 kT except 8 midpoint steps (10.3 kT; they fold 48 of 100 draws) and 8 RK4 steps (51 kT)."),
    (SWEEP_AAA, lambda j: _sweep_row("princeps_midpoint_16logsnr_jac")(j)["ess"], "{:.2f}",
     "0.0014) give **6.90**, against 4.13"),
    (SWEEP_AAA, lambda j: _sweep_row("princeps_midpoint_16logsnr_jac")(j)["cost_per_sample_over_default"], "{:.2f}",
     "4.13 for the adaptive old default at **0.39x** its CPU per draw"),
    (SWEEP_AAA, lambda j: _sweep_row("princeps_midpoint_16logsnr_jac")(j)["eff_per_cpu_s_over_default"], "{:.2f}",
     "CPU-second of the sweep, 4.26x the old default's"),
    (SWEEP_AAA, lambda j: _sweep_row("princeps_midpoint_8_jac")(j)["n_folded"], "{}", "(10.3 kT; they fold 48 of 100"),
]


SWEEP_1FS = "sampler_sweep_aaa_1fs_n100.json"
_REX16U = lambda j: j["rex_vs_base_solver"]["rex_midpoint_z0.5_16_jac"]  # noqa: E731
_ONE_DRAW = lambda j: [r for r in j["rows"] if 1.0 <= r["ess"] < 1.15]  # noqa: E731
_SIXTEEN = ("princeps_midpoint_16_jac", "princeps_midpoint_16logsnr_jac", "princeps_midpoint_16quadratic_jac")
CLAIMS += [
    (SWEEP_1FS, lambda j: "Six of the twelve have an ESS between {:.2f} and {:.2f}".format(
        min(r["ess"] for r in _ONE_DRAW(j)), max(r["ess"] for r in _ONE_DRAW(j)))
     if (len(_ONE_DRAW(j)), len(j["rows"])) == (6, 12) else "", "{}",
     "Six of the twelve have an ESS between 1.05 and 1.12"),
    (SWEEP_1FS, lambda j: "{:.2f} [{:.2f}, {:.2f}]".format(_sweep_row("princeps_midpoint_16logsnr_jac")(j)["ess"],
                                                          *_sweep_row("princeps_midpoint_16logsnr_jac")(j)["ess_16_84"]),
     "{}", "the default (16 log-SNR steps) is one of them,\n  1.08 [1.07, 8.20]"),
    (SWEEP_1FS, lambda j: "measured only at n = 100 ({:.2f} [{:.2f}, {:.2f}]: one draw".format(
        _sweep_row("princeps_midpoint_16logsnr_jac")(j)["ess"] / _sweep_row("rex_dopri5_z0.5_adaptive_div")(j)["ess"],
        *_sweep_row("princeps_midpoint_16logsnr_jac")(j)["ess_over_default_16_84"]), "{}",
     "measured only at n = 100 (0.32 [0.32, 2.17]: one draw"),
    (SWEEP_1FS, lambda j: ("gives **{:.2f}** [{:.2f}, {:.2f}] and ranks\n  first by effective samples per CPU-second "
                           "({:.2f}x").format(
        _sweep_row("princeps_midpoint_16_jac")(j)["ess"], *_sweep_row("princeps_midpoint_16_jac")(j)["ess_16_84"],
        _sweep_row("princeps_midpoint_16_jac")(j)["eff_per_cpu_s_over_default"])
     if j["best_effective_per_cpu_s"] == "princeps_midpoint_16_jac" else "", "{}",
     "gives **4.11** [2.72, 6.32] and ranks\n  first by effective samples per CPU-second (6.15x"),
    (SWEEP_1FS, lambda j: ("costs {:.2f}-{:.2f} CPU-s per draw here (reverse\n  mode), {:.2f}-{:.2f}x the adaptive old "
                           "default's {:.2f} ({:.0f} function evaluations").format(
         *sorted(_sweep_row(k)(j)["cpu_s_per_sample"] for k in _SIXTEEN)[::2],
         *sorted(_sweep_row(k)(j)["cost_per_sample_over_default"] for k in _SIXTEEN)[::2],
         _sweep_row("rex_dopri5_z0.5_adaptive_div")(j)["cpu_s_per_sample"],
         _sweep_row("rex_dopri5_z0.5_adaptive_div")(j)["nfe_per_sample"]), "{}",
     "costs 1.25-1.33 CPU-s per draw here (reverse\n  mode), 0.20-0.21x the adaptive old default's 6.36 "
     "(155 function evaluations"),
    (SWEEP_1FS, lambda j: "steps cost {:.1f}x the 16".format(_sweep_row("princeps_midpoint_32logsnr_jac")(j)["cpu_s_per_sample"]
                                                          / _sweep_row("princeps_midpoint_16logsnr_jac")(j)["cpu_s_per_sample"]),
     "{}", "32 log-SNR\n  steps cost 2.1x the 16"),
    (SWEEP_1FS, lambda j: "ratio is {:.2f} [{:.2f}, {:.2f}] and the\n  ESS ratio {:.2f} [{:.2f}, {:.2f}]".format(
        _REX16U(j)["E_W2_reweighted_ratio"], *_REX16U(j)["E_W2_reweighted_ratio_16_84"], _REX16U(j)["ess_ratio"],
        *_REX16U(j)["ess_ratio_16_84"]), "{}",
     "ratio is 1.07 [1.00, 1.08] and the\n  ESS ratio 1.04 [1.01, 1.05]"),
    (SWEEP_1FS, lambda j: "Rex folds {}\n  of 100 draws (Princeps {})".format(
        _sweep_row("rex_midpoint_z0.5_16logsnr_jac")(j)["n_folded"],
        _sweep_row("princeps_midpoint_16logsnr_jac")(j)["n_folded"] or "none"), "{}",
     "Rex folds 17\n  of 100 draws (Princeps none)"),
    (SWEEP_1FS, lambda j: ("{:.0f} function evaluations, {:.2f} CPU-s per draw):\n  its log q error spreads log w to a "
                           "standard deviation of {:.1f} nats ({:.1f}-{:.1f} for the exact\n  densities of the Princeps rows of "
                           "16 steps), and its reweighted E-W2 is {:.1f} kT").format(
        _sweep_row("torchdiffeq_dopri5_adaptive_div")(j)["nfe_per_sample"],
        _sweep_row("torchdiffeq_dopri5_adaptive_div")(j)["cpu_s_per_sample"],
        _sweep_row("torchdiffeq_dopri5_adaptive_div")(j)["log_w_std"],
        *sorted(_sweep_row(k)(j)["log_w_std"] for k in _SIXTEEN)[::2],
        _sweep_row("torchdiffeq_dopri5_adaptive_div")(j)["E_W2_kT_reweighted"]), "{}",
     "62 function evaluations, 2.42 CPU-s per draw):\n  its log q error spreads log w to a standard deviation of 47.8 nats "
     "(8.8-12.7 for the exact\n  densities of the Princeps rows of 16 steps), and its reweighted E-W2 is 19.6 kT"),
]


_CYCLE2 = lambda j: j["paired_nll"]["cycle2"]  # noqa: E731
CLAIMS += [
    ("training_ab.json", lambda j: _CYCLE2(j)["nll_difference_nats"], "{:.2f}",
     "paired frame by frame: **-2.19 nats per molecule** (SE 0.05)."),
    ("training_ab.json", lambda j: _CYCLE2(j)["se_nats"], "{:.2f}", "**-2.19 nats per molecule** (SE 0.05)."),
    ("training_ab.json", lambda j: f"On {_CYCLE2(j)['frames']} of", "{}", "On 250 of the headline NLL's 1000 test frames"),
    ("training_ab.json", lambda j: j["runs"]["checkpoints/ala3_dit_aaa_cycle2"]["last_val_fm_loss"][1], "{:.4f}",
     "is **0.2112** against 0.2144 (width 96: 0.2123)"),
]


LOGSNR = "aaa_logsnr_headline/results.json"
LOGSNR_E = "| E-W2 (kT) | 45340709.94 | 5.02 [3.68, 6.60] | 0.38 / 2.26 |"
LOGSNR_T = "| T-W2, 5 backbone torsions (rad) | 0.90 | 1.62 [1.52, 1.94] | 1.22 / 1.74 |"
LOGSNR_S = "| ESS | | 13.4 of 1000 (1.34%) [1.14%, 2.34%] | |"
_SAB = lambda j: j["paired"]["logsnr"]  # noqa: E731
CLAIMS += [
    *_headline_claims(LOGSNR, LOGSNR_E, LOGSNR_T, LOGSNR_S, "/ reweighted (n = 13, the ESS) |"),
    (LOGSNR, lambda j: "median u is {:.1f} kT against {:.1f} kT on\n  the uniform grid (MD: {:.1f})".format(
        j["median_u_samples_kT"], json.loads((RESULTS / HEAD).read_text())["median_u_samples_kT"], j["median_u_md_kT"]),
     "{}", "median u is -123.8 kT against -148.5 kT on\n  the uniform grid (MD: -154.3)"),
    ("sampler_ab.json", lambda j: "{:.2f}x** [{:.2f}, {:.2f}]".format(_SAB(j)["ess_ratio"], *_SAB(j)["ess_ratio_interval_16_84"]),
     "{}", "**Paired with the uniform grid on the same noise: ESS 3.84x** [2.25, 6.18]"),
    ("sampler_ab.json", lambda j: "{:.2f} nats** [{:.2f}, {:.2f}]".format(
        _SAB(j)["median_log_w_difference_nats"], *_SAB(j)["median_log_w_difference_interval_16_84"]),
     "{}", "the median log w **+1.01 nats** [0.56, 1.41]"),
    ("sampler_ab.json", lambda j: "{:.2f}x [{:.2f}, {:.2f}]".format(_SAB(j)["ess_ratio"], *_SAB(j)["ess_ratio_interval_16_84"]),
     "{}", "ESS is 3.84x [2.25, 6.18] (1.34% against 0.35%;"),
]


SHIPPED = "ab_cycle2_logsnr_headline/results.json"
SHIPPED_E = "| E-W2 (kT) | 869113.71 | 2.43 [2.19, 3.51] | 0.38 / 2.28 |"
SHIPPED_T = "| T-W2, 5 backbone torsions (rad) | 0.89 | 1.39 [1.32, 1.75] | 1.22 / 1.45 |"
SHIPPED_S = "| ESS | | 16.4 of 1000 (1.64%) [1.37%, 3.10%] | |"
CLAIMS += [
    ("chunk_reproducibility.json", lambda j: "agreed to {:.1e} nm in x and {:.1e} nats in log q{}".format(
        j["x_max_abs_diff_nm"], j["log_q_max_abs_diff_nats"], ", no draw folded in either" if j["same_draws_folded"]
        and j["folded"] == 0 else "") if j["run"] == "benchmarks/results/ab_cycle2_logsnr_headline" and j["chunk"] == 0 else "",
     "{}", "agreed to 1.7e-6 nm in x and 1.1e-4 nats in log q, no draw folded in either"),
]
N2000_60 = "aaa_headline_n2000_test60/results.json"
N2000_1FS = "aaa_headline_n2000_1fs_floors/results.json"  # the HMR model
HEAD_1FS = "aaa_1fs_cycle2_headline_n2000/results.json"  # the 1 fs second cycle (shipped before the third)
HEAD_SHIPPED = "aaa_1fs_cycle4_headline_n2000/results.json"  # the shipped model, the 1 fs fourth cycle
HEAD_C3 = "aaa_1fs_cycle3_headline_n2000/results.json"  # the 1 fs third cycle, shipped before it
CYCLE3_AB, CYCLE4_AB = "training_ab_1fs_cycle3.json", "training_ab_1fs_cycle4.json"
VS_HMR = "training_ab_1fs_cycle4_vs_hmr.json"
def _floor_draws_e(j):
    """The lowest and highest E-W2 (kT) of a headline's five reweighted-floor draws."""
    e = [d["E_W2_kT"] for d in j["noise_floor_reweighted"]["draws"]]
    return min(e), max(e)


HEAD7_SHIFTED4 = "aaa_1fs_cycle7_shifted_headline_n4000/results.json"  # the shipped model, the 1 fs seventh cycle
HEAD7_4 = "aaa_1fs_cycle7_headline_n4000/results.json"
HEAD7_SHIFTED2 = "aaa_1fs_cycle7_shifted_headline_n2000/results.json"
HEAD4_SHIFTED4, HEAD4_4 = "aaa_1fs_cycle4_shifted_headline_n4000/results.json", "aaa_1fs_cycle4_headline_n4000/results.json"
HEAD4_SHIFTED2 = "aaa_1fs_cycle4_shifted_headline_n2000/results.json"
RULE7, NLL7 = "training_ab_aaa_1fs_cycle7_shifted_n4000.json", "training_ab_aaa_1fs_cycle7.json"  # the ship rule's pairing
_R7 = lambda j: j["paired_samples"]["aaa_1fs_cycle7"]  # noqa: E731
SHIFT7 = "bond_shift_ab_cycle7_n4000.json"
N2000_1FS_E = "| E-W2 (kT) | 614556.16 | 4.86 [3.70, 6.09] | 0.29 / 2.06 |"
N2000_1FS_T = "| T-W2, 5 backbone torsions (rad) | 0.80 | 1.20 [1.26, 1.54] | 0.60 / 1.31 |"
N2000 = "aaa_headline_n2000/results.json"
N2000_E = "| E-W2 (kT) | 614556.21 | 4.91 [3.74, 6.14] | 0.38 / 2.56 |"
N2000_T = "| T-W2, 5 backbone torsions (rad) | 0.80 | 1.22 [1.27, 1.56] | 1.09 / 1.37 |"
N2000_S = "| ESS | | 29.6 of 2000 (1.48%) [1.29%, 1.87%] | |"
_C2S = lambda j: j["paired_samples"]["cycle2"]  # noqa: E731
_W96C2 = lambda j: j["paired_samples"]["w96c2"]  # noqa: E731
CLAIMS += [
    *_headline_claims(N2000, N2000_E, N2000_T, N2000_S, "/ reweighted (n = 30, the ESS) |"),
    *_headline_claims(N2000_1FS, N2000_1FS_E, N2000_1FS_T, N2000_S, "/ reweighted (n = 30, the ESS) |"),
    (N2000_1FS, lambda j: "twelve 1 fs runs; data version `{}`, whose val and train runs, {}-{}, hold the floors' frames".format(
        j["md_test_set"]["manifest_sha256"][:8], min(j["noise_floor_raw"]["floor_runs"]), max(j["noise_floor_raw"]["floor_runs"]))
     if j["md_test_set"]["test_seeds"] == [*range(101, 105), *range(116, 124)] and j["md_test_set"]["frames"] == 60_000
     and j["noise_floor_raw"]["floor_runs"] == [*range(124, 136)] else "", "{}",
     "twelve 1 fs runs; data version `b9007c99`, whose val and train runs, 124-135, hold the floors' frames"),
    (N2000_60, lambda j: "judging\nagainst data version `{}`".format(j["md_test_set"]["manifest_sha256"][:8]), "{}",
     "judging\nagainst data version `34af59ed`"),
    (N2000_60, lambda j: "left {} frames for a T-W2 floor and\na raw T-W2 floor of {:.2f} rad".format(
        j["noise_floor_raw"]["n_T"], j["noise_floor_raw"]["T_W2_rad"]), "{}",
     "left 55 frames for a T-W2 floor and\na raw T-W2 floor of 1.10 rad"),
    (N2000_1FS, lambda j: "the 1 fs runs give {:.0f} ps and {}\nframes, and a raw floor of {:.2f} rad, so the model's raw "
     "T-W2 ({:.2f} rad)".format(j["noise_floor_raw"]["tau_T_frames"], j["noise_floor_raw"]["n_T"],
                               j["noise_floor_raw"]["T_W2_rad"], j["T_W2_rad"]), "{}",
     "the 1 fs runs give 81 ps and 732\nframes, and a raw floor of 0.60 rad, so the model's raw T-W2 (0.80 rad)"),
    (N2000, lambda j: "(seeds 101-104, {:,} frames)".format(j["md_test_frames"]), "{}", "(seeds 101-104, 20,000 frames)"),
    *[(name, lambda j, label=label: ("| rexmol, {}, default sampler | {} | {:.2f}% | {:.2f} (floor {:.2f}) | "
                                      "{:.2f} (floor {:.2f}) |").format(
        label, j["n"], 100 * j["ess_fraction"], j["E_W2_kT_reweighted"], j["noise_floor_reweighted"]["E_W2_kT"],
        j["T_W2_rad_reweighted"], j["noise_floor_reweighted"]["T_W2_rad"]) if j["md_test_frames"] == 60_000 else "", "{}",
       quote) for name, label, quote in (
        (HEAD7_SHIFTED4, "shipped model (seventh 1 fs cycle) with its bond shift",
         "| rexmol, shipped model (seventh 1 fs cycle) with its bond shift, default sampler | 4000 | 2.40% | 1.62 (floor 0.96) "
         "| 0.90 (floor 0.94) |"),
        (HEAD7_4, "shipped model without its bond shift",
         "| rexmol, shipped model without its bond shift, default sampler | 4000 | 2.02% | 1.47 (floor 1.52) | 0.90 (floor "
         "0.95) |"),
        (HEAD4_SHIFTED4, "fourth 1 fs cycle (shipped before it) with its bond shift",
         "| rexmol, fourth 1 fs cycle (shipped before it) with its bond shift, default sampler | 4000 | 0.22% | 3.34 (floor "
         "4.00) "
         "| 1.84 (floor 1.72) |"),
        (HEAD4_4, "fourth 1 fs cycle without its bond shift",
         "| rexmol, fourth 1 fs cycle without its bond shift, default sampler | 4000 | 0.31% | 2.62 (floor 3.26) | 1.55 (floor "
         "1.60) |"))],
    (HEAD7_SHIFTED4, lambda j: "ESS is about {:.0f}-{:.0f}x short of the bar. Its reweighted W2s rest on about {}".format(
        10.4 / (100 * j["ess_fraction"]), 14.0 / (100 * j["ess_fraction"]), j["noise_floor_reweighted"]["n"]), "{}",
     "ESS is about 4-6x short of the bar. Its reweighted W2s rest on about 96"),
    (HEAD7_SHIFTED4, lambda j: ("the T-W2 sits at the MD floor at that size, and the E-W2 above all five of the floor's draws\n"
                                "({:.2f}-{:.2f} kT), though its bootstrap interval, [{:.2f}, {:.2f}], reaches down to "
                                "them").format(
        *_floor_draws_e(j),
        *j["bootstrap"]["E_W2_kT_reweighted_16_84"])
     if j["E_W2_kT_reweighted"] > _floor_draws_e(j)[1] and len(j["noise_floor_reweighted"]["draws"]) == 5
     and j["bootstrap"]["E_W2_kT_reweighted_16_84"][0] < _floor_draws_e(j)[1]  # "reaches down to them"
     and 0.9 < j["T_W2_rad_reweighted"] / j["noise_floor_reweighted"]["T_W2_rad"] < 1.1
     else "", "{}",
     "the T-W2 sits at the MD floor at that size, and the E-W2 above all five of the floor's draws\n(0.92-1.27 kT), though "
     "its bootstrap interval, [0.95, 2.64], reaches down to them"),
    (RULE7, lambda j: ("smoothed ESS {:.2f}% against {:.2f}%, a ratio of {:.2f} [{:.2f},\n{:.2f}]; Kish ESS {:.2f}% against "
                       "{:.2f}%; "
                       "Pareto k-hat {:.2f} against {:.2f}").format(
        100 * _R7(j)["psis_ess_fraction"], 100 * _R7(j)["psis_ess_fraction_base"], _R7(j)["psis_ess_ratio"],
        *_R7(j)["psis_ess_ratio_interval_16_84"], 100 * _R7(j)["ess_fraction"], 100 * _R7(j)["ess_fraction_base"],
        _R7(j)["pareto_khat"], _R7(j)["pareto_khat_base"]), "{}",
     "smoothed ESS 2.18% against 0.62%, a ratio of 3.53 [2.26,\n5.88]; Kish ESS 2.40% against 0.22%; Pareto k-hat 0.71 against "
     "0.80"),
    (NLL7, lambda j: "test NLL {:.2f} nats per\nmolecule better (SE {:.2f})".format(
        -j["paired_nll"]["aaa_1fs_cycle7"]["nll_difference_nats"], j["paired_nll"]["aaa_1fs_cycle7"]["se_nats"])
     if j["paired_nll"]["aaa_1fs_cycle7"]["frames"] == 1000 else "", "{}",
     "test NLL 1.51 nats per\nmolecule better (SE 0.03)"),
    (HEAD7_SHIFTED2, lambda j: "at n =\n2000 ({:.2f}% and {:.2f}% with their shifts)".format(
        100 * j["ess_fraction"], 100 * _json(HEAD4_SHIFTED2)["ess_fraction"]), "{}", "at n =\n2000 (2.92% and 2.15% with their "
                                                                                     "shifts)"),
    (HEAD4_SHIFTED4, lambda j: "fell to\n{:.2f}% when 2000 more draws of the same noise brought one draw that carries {:.2f} of "
                               "the".format(
        100 * j["ess_fraction"], j["max_weight"]) if _json(HEAD4_SHIFTED2)["max_weight"] < j["max_weight"] / 2
        and np.argmax(np.load(RESULTS / Path(HEAD4_SHIFTED4).parent / "arrays.npz")["weights"]) >= 2000  # a new draw
        else "", "{}",
     "fell to\n0.22% when 2000 more draws of the same noise brought one draw that carries 0.31 of the"),
    (SHIFT7, lambda j: ("+{:.1f} nats [{:.1f}, {:.1f}] on the shipped model at n =\n4000, a KL that much smaller), not on its "
                        "ESS, whose "
                        "gain is not established: {:.2f} [{:.2f}, {:.2f}] in\nKish ESS and {:.2f} [{:.2f}, {:.2f}] in smoothed "
                        "ESS").format(
        *_paired_fields(j["paired_samples"]["shifted"], "mean_log_w_difference_nats", "mean_log_w_difference_interval_16_84"),
        *_paired_fields(j["paired_samples"]["shifted"], "ess_ratio", "ess_ratio_interval_16_84"),
        *_paired_fields(j["paired_samples"]["shifted"], "psis_ess_ratio", "psis_ess_ratio_interval_16_84"))
     if (j["paired_samples"]["shifted"]["n"], j["paired_samples"]["shifted"]["n_nonfinite_log_w"]) == (4000, [3, 3]) else "",
     "{}",
     "+0.3 nats [0.2, 0.5] on the shipped model at n =\n4000, a KL that much smaller), not on its ESS, whose gain is not "
     "established: 1.19 [0.91, 1.53] in\nKish ESS and 0.90 [0.79, 1.18] in smoothed ESS"),
    ("generator_vs_md_1fs_cycle7_shifted.json", lambda j: "Effective samples per CPU-second: {:.2f}x MD [{:.2f}, {:.2f}]. The "
                                                          "HMR".format(
        j["rows"][0]["over_best_md"], *j["generator_over_best_md_16_84"]), "{}", "Effective samples per CPU-second: 0.69x MD "
                                                                                 "[0.54, 1.16]. The HMR"),
    (N2000, lambda j: "no non-finite energy, no D residue, {} draws folded".format(j["n_folded"])
     if (j["clip_quantile"], j["n_nonfinite_energy"], j["n_d_chirality"]) == (None, 0, 0) else "",
     "{}", "no non-finite energy, no D residue, 3 draws folded"),
    (N2000, lambda j: "{:.2f} against {:.2f} kT at n = {})".format(
        j["E_W2_kT_reweighted"], j["noise_floor_reweighted"]["E_W2_kT"], j["noise_floor_reweighted"]["n"]),
     "{}", "(4.91 against 2.56 kT at n = 30)"),
    (N2000, lambda j: "{:.1f} s per draw".format(j["sampling_s_per_sample"]), "{}", "4.4 s per draw on one thread"),
    *_headline_claims(SHIPPED, SHIPPED_E, SHIPPED_T, SHIPPED_S, "/ reweighted (n = 16, the ESS) |"),
    (SHIPPED, lambda j: "median u is {:.1f} kT against the first cycle's {:.1f} on this grid (MD: {:.1f})".format(
        j["median_u_samples_kT"], json.loads((RESULTS / LOGSNR).read_text())["median_u_samples_kT"], j["median_u_md_kT"]),
     "{}", "median u is -132.6 kT against the first cycle's -123.8 on this grid (MD: -154.3)"),
    (SHIPPED, lambda j: "E-W2 {:.2f} against {:.2f} kT at\n  n = {}; T-W2 {:.2f} against {:.2f} rad".format(
        j["E_W2_kT_reweighted"], j["noise_floor_reweighted"]["E_W2_kT"], j["noise_floor_reweighted"]["n"],
        j["T_W2_rad_reweighted"], j["noise_floor_reweighted"]["T_W2_rad"]),
     "{}", "E-W2 2.43 against 2.28 kT at\n  n = 16; T-W2 1.39 against 1.45 rad"),
    (AB, lambda j: "ESS 1.22x** [{:.2f}, {:.2f}] ({:.2f}% against {:.2f}%)".format(
        *_C2S(j)["ess_ratio_interval_16_84"], 100 * _C2S(j)["ess_fraction"], 100 * _C2S(j)["ess_fraction_base"]),
     "{}", "ESS 1.22x** [1.01, 1.51] (1.64% against 1.34%)"),
    (AB, lambda j: _C2S(j)["ess_ratio"], "{:.2f}", "ESS 1.22x** [1.01, 1.51]"),
    (AB, lambda j: "**+{:.2f} nats** [{:.2f}, {:.2f}]".format(
        _C2S(j)["median_log_w_difference_nats"], *_C2S(j)["median_log_w_difference_interval_16_84"]),
     "{}", "the median log w **+5.38 nats** [5.03, 5.66] (`python benchmarks/training_ab.py"),
    (AB, lambda j: "**+{:.2f} nats** [{:.2f}, {:.2f}]".format(
        _C2S(j)["median_log_w_difference_nats"], *_C2S(j)["median_log_w_difference_interval_16_84"]),
     "{}", "**+5.38 nats** [5.03, 5.66], at the same cost per draw"),
    (AB, lambda j: "a ratio of {:.2f} [{:.2f}, {:.2f}]".format(_C2S(j)["ess_ratio"], *_C2S(j)["ess_ratio_interval_16_84"]),
     "{}", "a ratio of 1.22 [1.01, 1.51], and the median log w"),
    (AB, lambda j: "| {:.1f} | {:.1f} | {:.1f} |".format(
        *(j["runs"]["checkpoints/ala3_dit_aaa_w96_cycle2"]["checks"][k]["val/nll_nats"] for k in ("3989", "7979", "11969"))),
     "{}", "its steps 3,989, 7,979, 11,969) | -352.1 | -353.9 | -355.3 |"),
    (AB, lambda j: "**{:.4f}**".format(j["runs"]["checkpoints/ala3_dit_aaa_w96_cycle2"]["last_val_fm_loss"][1]), "{}",
     "last validation flow-matching loss **0.2092**"),
    (AB, lambda j: "rises by **{:.2f} nats** [{:.2f}, {:.2f}] and the spread of log w (half its 16-84%\n  range) narrows "
     "from {:.1f} to {:.1f} nats, but the ESS is **{:.2f}%** against {:.2f}% (ratio {:.2f}\n  [{:.2f}, {:.2f}]), because "
     "one draw carries {:.2f} of the normalised weight (the HMR model's\n  largest: {:.2f})".format(
        _W96C2(j)["median_log_w_difference_nats"], *_W96C2(j)["median_log_w_difference_interval_16_84"],
        _W96C2(j)["log_w_spread_base"], _W96C2(j)["log_w_spread"], 100 * _W96C2(j)["ess_fraction"],
        100 * _W96C2(j)["ess_fraction_base"], _W96C2(j)["ess_ratio"], *_W96C2(j)["ess_ratio_interval_16_84"],
        _W96C2(j)["max_weight"], _W96C2(j)["max_weight_base"]),
     "{}", "rises by **5.46 nats** [5.22, 5.94] and the spread of log w (half its 16-84%\n  range) narrows from 10.4 to "
     "6.2 nats, but the ESS is **0.22%** against 1.64% (ratio 0.13\n  [0.09, 3.16]), because one draw carries 0.68 of "
     "the normalised weight (the HMR model's\n  largest: 0.19)"),
    (AB, lambda j: ("first cycle, uniform grid {:.2f};\n  first cycle, log-SNR grid {:.2f}; second cycle (HMR model) {:.2f}; "
                    "width-96 second cycle {:.2f}").format(
        j["paired_samples"]["w96"]["pareto_khat_base"], _C2S(j)["pareto_khat_base"], _C2S(j)["pareto_khat"],
        _W96C2(j)["pareto_khat"]) if _W96C2(j)["pareto_khat_base"] == _C2S(j)["pareto_khat"] else "",
     "{}", "first cycle, uniform grid 2.31;\n  first cycle, log-SNR grid 1.23; second cycle (HMR model) 0.77; "
     "width-96 second cycle 0.86"),
    ("ab_w96c2_logsnr_headline/results.json", lambda j: "{:.1f} s\n  per draw".format(j["sampling_s_per_sample"]),
     "{}", "4.3 s\n  per draw on one thread"),
    ("training_ab_n2000.json", lambda j: (
        "rises by **{:.2f} nats** [{:.2f}, {:.2f}], the\n  spread narrows from {:.1f} to {:.1f} nats, and the ESS is "
        "**{:.2f}%** against {:.2f}% (ratio {:.2f}\n  [{:.2f}, {:.2f}]; largest normalised weight {:.2f} against {:.2f}; "
        "k-hat {:.2f} against {:.2f})").format(
        _W96C2(j)["median_log_w_difference_nats"], *_W96C2(j)["median_log_w_difference_interval_16_84"],
        _W96C2(j)["log_w_spread_base"], _W96C2(j)["log_w_spread"], 100 * _W96C2(j)["ess_fraction"],
        100 * _W96C2(j)["ess_fraction_base"], _W96C2(j)["ess_ratio"], *_W96C2(j)["ess_ratio_interval_16_84"],
        _W96C2(j)["max_weight"], _W96C2(j)["max_weight_base"], _W96C2(j)["pareto_khat"], _W96C2(j)["pareto_khat_base"])
     if (_W96C2(j)["n"], _W96C2(j)["baseline_dir"]) == (2000, "benchmarks/results/aaa_headline_n2000") else "",
     "{}", "rises by **5.59 nats** [5.40, 5.77], the\n  spread narrows from 11.0 to 6.1 nats, and the ESS is **0.25%** "
     "against 1.48% (ratio 0.17\n  [0.14, 2.06]; largest normalised weight 0.44 against 0.09; k-hat 0.84 against 1.04)"),
    ("ab_w96c2_logsnr_n2000/results.json", lambda j: "its draws took {:.1f} s each against the HMR model's {:.1f}".format(
        j["sampling_s_per_sample"], json.loads((RESULTS / N2000).read_text())["sampling_s_per_sample"]), "{}",
     "its draws took 4.3 s each against the HMR model's 4.4"),
]


RVP = "rex_vs_princeps.json"
_RVP = lambda j: j["paired"]["rex"]  # noqa: E731
_RVP_W2 = lambda j, k: _RVP(j)["reweighted_w2"][k]  # noqa: E731
CLAIMS += [
    (RVP, lambda j: "ratio Rex / Princeps is **{:.2f}** [{:.2f}, {:.2f}] ({:.2f} against {:.2f} kT)".format(
        _RVP_W2(j, "E_W2_kT_reweighted")["ratio"], *_RVP_W2(j, "E_W2_kT_reweighted")["ratio_interval_16_84"],
        _RVP_W2(j, "E_W2_kT_reweighted")["other"], _RVP_W2(j, "E_W2_kT_reweighted")["base"])
     if (_RVP(j)["n"], j["baseline_dir"]) == (1000, "benchmarks/results/ab_cycle2_logsnr_headline") else "",
     "{}", "ratio Rex / Princeps is **2.85** [2.18, 2.89] (6.92 against 2.43 kT)"),
    (RVP, lambda j: "ratio {:.2f} [{:.2f}, {:.2f}], the ESS ratio {:.2f} [{:.2f}, {:.2f}] ({:.2f}% against {:.2f}%)".format(
        _RVP_W2(j, "T_W2_rad_reweighted")["ratio"], *_RVP_W2(j, "T_W2_rad_reweighted")["ratio_interval_16_84"],
        _RVP(j)["ess_ratio"], *_RVP(j)["ess_ratio_interval_16_84"], 100 * _RVP(j)["ess_fraction"],
        100 * _RVP(j)["ess_fraction_base"]), "{}",
     "ratio 1.58 [1.31, 1.58], the ESS ratio 0.27 [0.18, 0.39] (0.44% against 1.64%)"),
    (RVP, lambda j: "log w {:.2f} nats [{:.2f}, {:.2f}]".format(
        _RVP(j)["median_log_w_difference_nats"], *_RVP(j)["median_log_w_difference_interval_16_84"]), "{}",
     "log w -10.71 nats [-11.39, -9.90]"),
    (RVP, lambda j: "k-hat {:.2f}\n  against {:.2f}".format(_RVP(j)["pareto_khat"], _RVP(j)["pareto_khat_base"]), "{}",
     "k-hat 1.97\n  against 0.77"),
    ("rex_midpoint_logsnr_n1000/results.json", lambda j: "**Rex folds {} of the {} draws**".format(j["n_folded"], j["n"]),
     "{}", "**Rex folds 200 of the 1000 draws** (Princeps 1)"),
    ("ab_cycle2_logsnr_headline/results.json", lambda j: "(Princeps {})".format(j["n_folded"]), "{}",
     "**Rex folds 200 of the 1000 draws** (Princeps 1)"),
    ("rex_midpoint_logsnr_n1000/results.json", lambda j: "(E-W2 floor {:.2f} kT at n = {})".format(
        j["noise_floor_reweighted"]["E_W2_kT"], j["noise_floor_reweighted"]["n"]), "{}", "(E-W2 floor 3.99 kT at n = 4)"),
]

C3 = "training_ab_cycle3.json"
_C3 = lambda j: j["paired_samples"]["cycle3"]  # noqa: E731
_C3RUN = lambda j, run: j["runs"][f"checkpoints/ala3_dit_aaa_{run}"]  # noqa: E731
CLAIMS += [
    (C3, lambda j: "flow-matching loss **{:.4f}** against {:.4f}, likelihood\n  checks {:.1f} and {:.1f} nats against "
     "{:.1f} and {:.1f}".format(
         _C3RUN(j, "cycle3")["last_val_fm_loss"][1], _C3RUN(j, "cycle2")["last_val_fm_loss"][1],
         *(_C3RUN(j, r)["checks"][s]["val/nll_nats"] for r in ("cycle3", "cycle2") for s in ("3779", "7559"))), "{}",
     "flow-matching loss **0.2096** against 0.2112, likelihood\n  checks -350.2 and -352.7 nats against -348.4 and -351.6"),
    (C3, lambda j: "ESS **{:.2f}%** against {:.2f}% (ratio {:.2f} [{:.2f}, {:.2f}]), the\n  median log w **{:+.2f} nats** "
     "[{:.2f}, {:.2f}], the spread of log w {:.1f} against {:.1f} nats, the largest\n  normalised weight {:.2f} against "
     "{:.2f}, k-hat {:.2f} against {:.2f}".format(
         100 * _C3(j)["ess_fraction"], 100 * _C3(j)["ess_fraction_base"], _C3(j)["ess_ratio"],
         *_C3(j)["ess_ratio_interval_16_84"], _C3(j)["median_log_w_difference_nats"],
         *_C3(j)["median_log_w_difference_interval_16_84"], _C3(j)["log_w_spread"], _C3(j)["log_w_spread_base"],
         _C3(j)["max_weight"], _C3(j)["max_weight_base"], _C3(j)["pareto_khat"], _C3(j)["pareto_khat_base"])
     if (_C3(j)["n"], _C3(j)["baseline_dir"]) == (1000, "benchmarks/results/ab_cycle2_logsnr_headline") else "", "{}",
     "ESS **2.59%** against 1.64% (ratio 1.58 [0.92, 1.90]), the\n  median log w **+1.93 nats** [1.85, 2.31], the "
     "spread of log w 8.6 against 10.4 nats, the largest\n  normalised weight 0.10 against 0.19, k-hat 0.87 against 0.77"),
    ("ab_cycle3_logsnr_headline/results.json", lambda j: "no draw folded (HMR model: {}),\n  reweighted E-W2 {:.2f} kT and "
     "T-W2 {:.2f} rad".format(json.loads((RESULTS / "ab_cycle2_logsnr_headline/results.json").read_text())["n_folded"],
                              j["E_W2_kT_reweighted"], j["T_W2_rad_reweighted"]) if j["n_folded"] == 0 else "", "{}",
     "no draw folded (HMR model: 1),\n  reweighted E-W2 2.05 kT and T-W2 1.27 rad"),
    ("ab_cycle3_logsnr_headline/results.json", lambda j: "({:.2f} kT and {:.2f} rad at n = {})".format(
        j["noise_floor_reweighted"]["E_W2_kT"], j["noise_floor_reweighted"]["T_W2_rad"], j["noise_floor_reweighted"]["n"]),
     "{}", "(1.98 kT and 1.32 rad at n = 26)"),
    ("ab_cycle3_logsnr_headline/results.json", lambda j: "{:.1f} s per\n  draw".format(j["sampling_s_per_sample"]), "{}",
     "3.5 s per\n  draw on one thread"),
]

PSA = "prior_scale_ab.json"
_PS = lambda j: j["paired"]["scale0.85"]  # noqa: E731
_PSR = lambda: json.loads((RESULTS / "prior_scale_0.85_n1000/results.json").read_text())  # noqa: E731
_C2R = lambda: json.loads((RESULTS / "ab_cycle2_logsnr_headline/results.json").read_text())  # noqa: E731
CLAIMS += [
    ("prior_scale_0.85_n1000/results.json", lambda j: "median u **{:.1f} kT** against {:.1f} unscaled (MD\n  test set "
     "{:.1f}), and the raw E-W2 falls from {:.0f} to {:.0f} kT".format(
         j["median_u_samples_kT"], _C2R()["median_u_samples_kT"], j["median_u_md_kT"], _C2R()["E_W2_kT"], j["E_W2_kT"])
     if (j["n"], j["n_folded"], j["n_d_chirality"], j["clip_quantile"]) == (1000, 0, 0, None) else "", "{}",
     "median u **-149.8 kT** against -132.6 unscaled (MD\n  test set -154.3), and the raw E-W2 falls from 869114 to "
     "90023 kT"),
    (PSA, lambda j: "median log w rises by **{:.2f} nats** [{:.2f}, {:.2f}] and the spread of log w narrows\n  from "
     "{:.1f} to {:.1f} nats".format(_PS(j)["median_log_w_difference_nats"], *_PS(j)["median_log_w_difference_interval_16_84"],
                                    _PS(j)["log_w_spread_base"], _PS(j)["log_w_spread"])
     if j["baseline_dir"] == "benchmarks/results/ab_cycle2_logsnr_headline" and _PS(j)["n"] == 1000 else "", "{}",
     "median log w rises by **2.13 nats** [1.92, 2.58] and the spread of log w narrows\n  from 10.4 to 7.2 nats"),
    (PSA, lambda j: "**{:.2f}%** against {:.2f}% (ratio {:.2f} [{:.2f}, {:.2f}]); the largest\n  normalised weight is "
     "{:.2f} against {:.2f}, and **k-hat rises to {:.2f}** from {:.2f}".format(
         100 * _PS(j)["ess_fraction"], 100 * _PS(j)["ess_fraction_base"], _PS(j)["ess_ratio"],
         *_PS(j)["ess_ratio_interval_16_84"], _PS(j)["max_weight"], _PS(j)["max_weight_base"], _PS(j)["pareto_khat"],
         _PS(j)["pareto_khat_base"]), "{}",
     "**1.88%** against 1.64% (ratio 1.15 [0.62, 1.64]); the largest\n  normalised weight is 0.15 against 0.19, and "
     "**k-hat rises to 1.18** from 0.77"),
    ("prior_scale_0.85_n1000/results.json", lambda j: "Reweighted E-W2 {:.2f} kT and T-W2 {:.2f} rad against {:.2f} and "
     "{:.2f}".format(j["E_W2_kT_reweighted"], j["T_W2_rad_reweighted"], _C2R()["E_W2_kT_reweighted"],
                     _C2R()["T_W2_rad_reweighted"]), "{}",
     "Reweighted E-W2 2.86 kT and T-W2 1.40 rad against 2.43 and 1.39"),
    ("prior_scale_0.85_n1000/results.json", lambda j: "({:.2f} kT / {:.2f} rad at n = {}; unscaled {:.2f} / {:.2f} at n = "
     "{})".format(j["noise_floor_reweighted"]["E_W2_kT"], j["noise_floor_reweighted"]["T_W2_rad"],
                  j["noise_floor_reweighted"]["n"], _C2R()["noise_floor_reweighted"]["E_W2_kT"],
                  _C2R()["noise_floor_reweighted"]["T_W2_rad"], _C2R()["noise_floor_reweighted"]["n"]), "{}",
     "(2.59 kT / 1.43 rad at n = 19; unscaled 2.28 / 1.45 at n = 16)"),
]

def _paired_fields(p: dict, *keys) -> list:
    """Values of a paired comparison in the order given, intervals expanded, ESS fractions in %."""
    out = []
    for key in keys:
        scale = 100 if "ess_fraction" in key else 1
        out += [scale * v for v in p[key]] if isinstance(p[key], list) else [scale * p[key]]
    return out

def _paired_table_claims(ab, key, ess_row, median_row, spread_row, tail_row, nll_row):
    """Claims for a cycle's paired table (README, "Results on the AAA target"): ESS and its ratio (n = 2000,
    the interval above 1, as the ship rule asks), median log w difference, spread, tail, and the test NLL
    on 1000 frames, from training_ab's JSON ``ab`` under ``key``."""
    p = lambda j: j["paired_samples"][key]  # noqa: E731
    nll = lambda j: j["paired_nll"][key]  # noqa: E731
    return [
        (ab, lambda j: "| ESS | {:.2f}% | **{:.2f}%** (ratio {:.2f} [{:.2f}, {:.2f}]) |".format(*_paired_fields(
            p(j), "ess_fraction_base", "ess_fraction", "ess_ratio", "ess_ratio_interval_16_84"))
         if p(j)["n"] == 2000 and p(j)["ess_ratio_interval_16_84"][0] > 1 else "", "{}", ess_row),
        (ab, lambda j: "| | +{:.2f} [{:.2f}, {:.2f}] |".format(*_paired_fields(
            p(j), "median_log_w_difference_nats", "median_log_w_difference_interval_16_84")), "{}", median_row),
        (ab, lambda j: "| {:.1f} | {:.1f} |".format(*_paired_fields(p(j), "log_w_spread_base", "log_w_spread")),
         "{}", spread_row),
        (ab, lambda j: "| {:.2f} / {:.2f} | {:.2f} / {:.2f} |".format(*_paired_fields(
            p(j), "pareto_khat_base", "max_weight_base", "pareto_khat", "max_weight")), "{}", tail_row),
        (ab, lambda j: "| {:.2f} | **{:.2f}** ({:.2f}, SE {:.2f}) |".format(
            *(nll(j)[k] for k in ("nll_base_nats", "nll_nats", "nll_difference_nats", "se_nats")))
         if nll(j)["frames"] == 1000 else "", "{}", nll_row),
    ]



# the fields of a paired comparison's sentence, in the order the n = 2000 sentences quote them
_PAIRED_TAIL_KEYS = ("median_log_w_difference_nats", "median_log_w_difference_interval_16_84", "log_w_spread_base",
                     "log_w_spread", "ess_fraction", "ess_fraction_base", "ess_ratio", "ess_ratio_interval_16_84",
                     "max_weight", "max_weight_base", "pareto_khat", "pareto_khat_base")


def _paired_claim(template: str, run: str, n: int, baseline: str):
    """A claim printing ``template`` with run's paired fields, or "" (a failure) unless the JSON
    pairs n draws of it with benchmarks/results/<baseline>."""
    def claim(j):
        p = j["paired_samples"][run]
        if (p["n"], p["baseline_dir"]) != (n, f"benchmarks/results/{baseline}"):
            return ""
        return template.format(*_paired_fields(p, *_PAIRED_TAIL_KEYS))
    return claim

C3N = "training_ab_cycle3_n2000.json"
_C3N = lambda j: j["paired_samples"]["cycle3"]  # noqa: E731
CLAIMS += [
    (C3N, _paired_claim("the median log w still rises by **{:.2f} nats** [{:.2f},\n  {:.2f}] and the spread narrows "
                        "from {:.1f} to {:.1f} nats, but the ESS is **{:.2f}%** against {:.2f}%\n  (ratio {:.2f} [{:.2f}, "
                        "{:.2f}]; largest normalised weight {:.2f} against {:.2f}; k-hat {:.2f} against {:.2f})",
                        "cycle3", 2000, "aaa_headline_n2000"), "{}",
     "the median log w still rises by **2.01 nats** [1.91,\n  2.15] and the spread narrows from 11.0 to 9.0 nats, but "
     "the ESS is **0.71%** against 1.48%\n  (ratio 0.48 [0.36, 1.28]; largest normalised weight 0.23 against 0.09; "
     "k-hat 1.00 against 1.04)"),
]


C4 = "training_ab_cycle4.json"
_C4 = lambda j: j["paired_samples"]["cycle4"]  # noqa: E731
CLAIMS += [
    (C4, lambda j: "loss **{:.4f}** against {:.4f} (HMR model), likelihood checks {:.1f} and {:.1f} nats against\n  "
     "{:.1f} and {:.1f}".format(
         _C3RUN(j, "cycle4")["last_val_fm_loss"][1], _C3RUN(j, "cycle2")["last_val_fm_loss"][1],
         *(_C3RUN(j, r)["checks"][s]["val/nll_nats"] for r in ("cycle4", "cycle2") for s in ("3779", "7559"))), "{}",
     "loss **0.2085** against 0.2112 (HMR model), likelihood checks -351.2 and -353.4 nats against\n  -348.4 and -351.6"),
    (C4, lambda j: "ESS **{:.2f}%** against {:.2f}% (ratio {:.2f} [{:.2f}, {:.2f}]), the\n  median log w **{:+.2f} nats** "
     "[{:.2f}, {:.2f}], the spread of log w {:.1f} against {:.1f} nats, the largest\n  normalised weight {:.2f} against "
     "{:.2f}, k-hat {:.2f} against {:.2f}".format(*_paired_fields(
         _C4(j), "ess_fraction", "ess_fraction_base", "ess_ratio", "ess_ratio_interval_16_84",
         "median_log_w_difference_nats", "median_log_w_difference_interval_16_84", "log_w_spread", "log_w_spread_base",
         "max_weight", "max_weight_base", "pareto_khat", "pareto_khat_base"))
     if (_C4(j)["n"], _C4(j)["baseline_dir"]) == (1000, "benchmarks/results/ab_cycle2_logsnr_headline") else "", "{}",
     "ESS **2.64%** against 1.64% (ratio 1.61 [0.90, 2.38]), the\n  median log w **+3.32 nats** [3.13, 3.71], the "
     "spread of log w 7.0 against 10.4 nats, the largest\n  normalised weight 0.13 against 0.19, k-hat 1.06 against 0.77"),
    ("ab_cycle4_logsnr_headline/results.json", lambda j: "no draw folded, reweighted E-W2\n  {:.2f} kT and T-W2 {:.2f} "
     "rad".format(j["E_W2_kT_reweighted"], j["T_W2_rad_reweighted"]) if j["n_folded"] == 0 else "", "{}",
     "no draw folded, reweighted E-W2\n  1.85 kT and T-W2 1.30 rad"),
    ("ab_cycle4_logsnr_headline/results.json", lambda j: "floors at\n  the ESS ({:.2f} kT and {:.2f} rad at n = {})".format(
        j["noise_floor_reweighted"]["E_W2_kT"], j["noise_floor_reweighted"]["T_W2_rad"], j["noise_floor_reweighted"]["n"])
     if (j["E_W2_kT_reweighted"] <= j["noise_floor_reweighted"]["E_W2_kT"]
         and j["T_W2_rad_reweighted"] <= j["noise_floor_reweighted"]["T_W2_rad"]) else "",
     "{}", "floors at\n  the ESS (1.98 kT and 1.32 rad at n = 26)"),
    (C4, lambda j: "(third\n  {:+.2f}, fourth {:+.2f} nats".format(
        _C3(json.loads((RESULTS / C3).read_text()))["median_log_w_difference_nats"], _C4(j)["median_log_w_difference_nats"]),
     "{}", "(third\n  +1.93, fourth +3.32 nats"),
]


C4N = "training_ab_cycle4_n2000.json"
_C4N = lambda j: j["paired_samples"]["cycle4"]  # noqa: E731
CLAIMS += [
    (C4N, _paired_claim("the median log w rises by **{:.2f} nats** [{:.2f}, {:.2f}]\n  and the spread narrows from "
                        "{:.1f} to {:.1f} nats, but the ESS is **{:.2f}%** against {:.2f}% (ratio\n  {:.2f} [{:.2f}, {:.2f}]; "
                        "largest normalised weight {:.2f} against {:.2f}; k-hat {:.2f} against {:.2f})",
                        "cycle4", 2000, "aaa_headline_n2000"), "{}",
     "the median log w rises by **3.33 nats** [3.18, 3.45]\n  and the spread narrows from 11.0 to 7.6 nats, but the "
     "ESS is **0.54%** against 1.48% (ratio\n  0.37 [0.28, 1.34]; largest normalised weight 0.28 against 0.09; k-hat "
     "0.78 against 1.04)"),
    ("ab_cycle4_logsnr_n2000/results.json", lambda j: "reweighted E-W2 {:.2f} kT and T-W2 {:.2f} rad against floors of "
     "{:.2f} and {:.2f} at n = {}".format(j["E_W2_kT_reweighted"], j["T_W2_rad_reweighted"],
                                         *(j["noise_floor_reweighted"][k] for k in ("E_W2_kT", "T_W2_rad", "n"))), "{}",
     "reweighted E-W2 3.70 kT and T-W2 1.97 rad against floors of 2.83 and 1.73 at n = 11"),
    (C4N, lambda j: "**{:.2f}%** against {:.2f}% at n = 2000 (third cycle {:.2f}%), {:.2f}% against {:.2f}% at n = "
     "1000".format(*_paired_fields(_C4N(j), "psis_ess_fraction", "psis_ess_fraction_base"),
                   *_paired_fields(_C3N(json.loads((RESULTS / C3N).read_text())), "psis_ess_fraction"),
                   *_paired_fields(_C4(json.loads((RESULTS / C4).read_text())), "psis_ess_fraction",
                                   "psis_ess_fraction_base")), "{}",
     "**1.09%** against 1.26% at n = 2000 (third cycle 0.68%), 1.95% against 1.60% at n = 1000"),
]


def test_the_fourth_cycles_heaviest_draw_at_n_2000_is_the_one_the_readme_names(readme):
    arrays = np.load(RESULTS / "ab_cycle4_logsnr_n2000/arrays.npz")
    log_w, u = arrays["log_w"], arrays["u"]
    top = int(np.nanargmax(np.where(np.isfinite(log_w), log_w, -np.inf)))
    w = normalised_weights(log_w)
    assert top >= 1000  # "one draw of the second 1000"
    median_u = np.median(u[np.isfinite(log_w)])
    quote = f"(u = {u[top]:.1f} kT, below the draws' median of {median_u:.1f}) takes {100 * w[top]:.0f}% of the weight"
    assert quote in readme, quote


SP = "state_populations.json"


def _state(j, run, state):
    return next(r for r in j["runs"][f"benchmarks/results/{run}"]["states"] if r["state"] == state)


def _phi2_positive(j, run):
    return sum(r["raw_fraction"] for r in j["runs"][f"benchmarks/results/{run}"]["states"] if r["state"][0] == "L")


_HMR_N2000, _THIRD, _FOURTH = "aaa_headline_n2000", "ab_cycle3_logsnr_n2000", "ab_cycle4_logsnr_n2000"
_pct = lambda j, run, state, key: 100 * _state(j, run, state)[key]  # noqa: E731
CLAIMS += [
    (SP, lambda j: "(HMR model **{:.1f}%** ± {:.1f},\n  fourth cycle {:.1f}%, MD test {:.1f}%; the training split has "
     "{:.1f}%)".format(_pct(j, _HMR_N2000, "aR", "raw_fraction"), _pct(j, _HMR_N2000, "aR", "raw_fraction_se"),
                       _pct(j, _FOURTH, "aR", "raw_fraction"), _pct(j, _HMR_N2000, "aR", "md_fraction"),
                       100 * j["split_fractions"]["train"]["aR"]), "{}",
     "(HMR model **15.1%** ± 0.8,\n  fourth cycle 14.9%, MD test 22.2%; the training split has 16.8%)"),
    (SP, lambda j: "spends {:.2f}-{:.2f}% of its\n  draws".format(
        *sorted(100 * _phi2_positive(j, r) for r in (_HMR_N2000, _THIRD, _FOURTH))[::2]), "{}",
     "spends 4.15-4.25% of its\n  draws"),
    (SP, lambda j: "where the test runs spend {:.0f} of their {:,} frames".format(
        j["md_test_frames"] * sum(v for k, v in j["split_fractions"]["test"].items() if k[0] == "L"), j["md_test_frames"]),
     "{}", "where the test runs spend 4 of their 20,000 frames"),
    (SP, lambda j: "(the\n  training split {:.1f}%".format(
        100 * sum(v for k, v in j["split_fractions"]["train"].items() if k[0] == "L")), "{}", "(the\n  training split 3.2%"),
    (SP, lambda j: "{:.1f}% [{:.1f}, {:.1f}] (HMR model), {:.1f}% [{:.1f}, {:.1f}] (third cycle) and **{:.1f}%**\n  [{:.1f}, "
     "{:.1f}] (fourth".format(*(100 * v for r in (_HMR_N2000, _THIRD, _FOURTH) for v in (
         _state(j, r, "aR")["reweighted_fraction"], *_state(j, r, "aR")["reweighted_fraction_16_84"]))), "{}",
     "17.2% [9.2, 24.7] (HMR model), 38.8% [16.4, 51.6] (third cycle) and **46.7%**\n  [21.1, 58.9] (fourth"),
    (SP, lambda j: "the fourth cycle's {} aR draws among\n  its ten heaviest carry {:.0f}% of all its weight (the HMR "
     "model's ten heaviest: {} in bR)".format(_state(j, _FOURTH, "aR")["top10_draws"],
                                              _pct(j, _FOURTH, "aR", "weight_in_top10"),
                                              _state(j, _HMR_N2000, "bR")["top10_draws"]), "{}",
     "the fourth cycle's 5 aR draws among\n  its ten heaviest carry 44% of all its weight (the HMR model's ten "
     "heaviest: 7 in bR)"),
]

SPS = "state_populations_shipped.json"
_SHIP_N2000 = "aaa_1fs_cycle2_headline_n2000"
_HMR_1FS_FLOORS = "aaa_headline_n2000_1fs_floors"
_log_w_gap = lambda j, run: _state(j, run, "aR")["median_log_w"] - _state(j, run, "bR")["median_log_w"]  # noqa: E731
CLAIMS += [
    (SPS, lambda j: "(aR) in **{:.1f}%**\n  ± {:.1f} of the draws (HMR model {:.1f}%, MD test {:.1f}%)".format(
        _pct(j, _SHIP_N2000, "aR", "raw_fraction"), _pct(j, _SHIP_N2000, "aR", "raw_fraction_se"),
        _pct(j, _HMR_1FS_FLOORS, "aR", "raw_fraction"), _pct(j, _SHIP_N2000, "aR", "md_fraction")), "{}",
     "(aR) in **17.7%**\n  ± 0.9 of the draws (HMR model 15.1%, MD test 21.6%)"),
    (SPS, lambda j: "residue 2 at phi > 0 in {:.2f}% (HMR model\n  {:.2f}%; the test runs {:.0f} of {:,} frames)".format(
        100 * _phi2_positive(j, _SHIP_N2000), 100 * _phi2_positive(j, _HMR_1FS_FLOORS),
        j["md_test_frames"] * sum(v for k, v in j["split_fractions"]["test"].items() if k[0] == "L"), j["md_test_frames"]),
     "{}", "residue 2 at phi > 0 in 0.45% (HMR model\n  4.20%; the test runs 10 of 60,000 frames)"),
    (SPS, lambda j: (f"**{-_log_w_gap(j, _SHIP_N2000):.1f} nats below** its bR draws' "
                     f"(HMR model: {-_log_w_gap(j, _HMR_1FS_FLOORS):.1f})"), "{}",
     "**7.5 nats below** its bR draws' (HMR model: 8.8)"),
    (SPS, lambda j: ("none of the shipped model's ten heaviest is aR, so the weights\n  give aR **{:.1f}%** [{:.1f}, "
                     "{:.1f}] of the mass (MD {:.1f}%), while {} of the HMR model's ten heaviest\n  are aR and carry "
                     "{:.1f}% of its weight, so it gives aR {:.1f}% [{:.1f}, {:.1f}] with a wider median gap").format(
        *(100 * v for v in (_state(j, _SHIP_N2000, "aR")["reweighted_fraction"],
                            *_state(j, _SHIP_N2000, "aR")["reweighted_fraction_16_84"],
                            _state(j, _SHIP_N2000, "aR")["md_fraction"])),
        _state(j, _HMR_1FS_FLOORS, "aR")["top10_draws"], _pct(j, _HMR_1FS_FLOORS, "aR", "weight_in_top10"),
        *(100 * v for v in (_state(j, _HMR_1FS_FLOORS, "aR")["reweighted_fraction"],
                            *_state(j, _HMR_1FS_FLOORS, "aR")["reweighted_fraction_16_84"])))
     if _state(j, _SHIP_N2000, "aR")["top10_draws"] == 0 and _log_w_gap(j, _HMR_1FS_FLOORS) < _log_w_gap(j, _SHIP_N2000)
     else "", "{}",
     "none of the shipped model's ten heaviest is aR, so the weights\n  give aR **1.2%** [0.7, 2.0] of the mass (MD 21.6%), "
     "while 3 of the HMR model's ten heaviest\n  are aR and carry 12.8% of its weight, so it gives aR 17.2% [9.2, 24.7] "
     "with a wider median gap"),
    (SPS, lambda j: ("**{:.1f} kT** above MD's aR frames in median u ({:.1f} against {:.1f} kT), its bR draws {:.1f} kT\n"
                     "  above MD's bR frames. So the aR draws' median u is {:.1f} kT above the bR draws' ({:.1f} of it the\n"
                     "  larger excess over MD), and their median log q is {:.1f} nats lower (log w = -u - log q + const),\n"
                     "  which gives back part of it: {:.1f} - {:.1f} is close to the {:.1f} nats of median log w").format(
        *(lambda a, b: (a["median_u_kT"] - a["md_median_u_kT"], a["median_u_kT"], a["md_median_u_kT"],
                        b["median_u_kT"] - b["md_median_u_kT"], a["median_u_kT"] - b["median_u_kT"],
                        (a["median_u_kT"] - a["md_median_u_kT"]) - (b["median_u_kT"] - b["md_median_u_kT"]),
                        b["median_log_q"] - a["median_log_q"], a["median_u_kT"] - b["median_u_kT"],
                        b["median_log_q"] - a["median_log_q"], b["median_log_w"] - a["median_log_w"]))(
            _state(j, _SHIP_N2000, "aR"), _state(j, _SHIP_N2000, "bR"))), "{}",
     "**31.3 kT** above MD's aR frames in median u (-122.0 against -153.3 kT), its bR draws 19.6 kT\n"
     "  above MD's bR frames. So the aR draws' median u is 12.8 kT above the bR draws' (11.7 of it the\n"
     "  larger excess over MD), and their median log q is 5.3 nats lower (log w = -u - log q + const),\n"
     "  which gives back part of it: 12.8 - 5.3 is close to the 7.5 nats of median log w"),
    ("energy_terms_1fs.json", lambda j: ("excess is {:.1f} kT in bonds, {:.1f} in angles and {:.1f} in nonbonded terms, the "
                                         "bR draws' {:.1f}, {:.1f} and\n  {:.1f}").format(
        *(next(r for r in j["median_excess_by_state_kT"] if r["state"] == st)[t] for st in ("aR", "bR")
          for t in ("HarmonicBondForce", "HarmonicAngleForce", "NonbondedForce")))
     if (j["run"], j["md_frames"]) == ("benchmarks/results/aaa_1fs_cycle2_headline_n2000", 2000) else "", "{}",
     "excess is 16.6 kT in bonds, 8.0 in angles and 8.3 in nonbonded terms, the bR draws' 11.2, 5.0 and\n  1.7"),
    (SPS, lambda j: "(by log({:.1f}/{:.1f}) = {:.1f} nats), not lower them by {:.1f}".format(
        _pct(j, _SHIP_N2000, "aR", "md_fraction"), _pct(j, _SHIP_N2000, "aR", "raw_fraction"),
        np.log(_state(j, _SHIP_N2000, "aR")["md_fraction"] / _state(j, _SHIP_N2000, "aR")["raw_fraction"]),
        -_log_w_gap(j, _SHIP_N2000)), "{}", "(by log(21.6/17.7) = 0.2 nats), not lower them by 7.5"),
]


def _region(j, name):
    return next(r for r in j["md_runs"]["by_integrator"] if r["region"] == name)


_HMR = "2 fs, H 3.0 amu"
_r2 = lambda j: _region(j, "residue 2 alpha_R")  # noqa: E731
def _hmr_mean_without(j, seed):
    m = j["md_runs"]
    v = [f["residue 2 alpha_R"] for s, f in m["region_fractions"].items() if m["integrators"][s] == _HMR and int(s) != seed]
    return sum(v) / len(v)


_OUT = "1 fs, outside the test split"
_INTEGRATOR_RUN_POPULATIONS = lambda: json.loads((RESULTS / "md_integrator_ensemble.json").read_text())["run_populations"]  # noqa: E731
CLAIMS += [
    (SP, lambda j: "**{:.1f}% ± {:.1f}** of the time in alpha_R in the {} runs at the protocol's 1 fs and **{:.1f}% ± "
     "{:.1f}**\nin the {} HMR runs (difference {:+.1f} points, t = {:.2f}, p = {:.3f})".format(
         *(100 * _r2(j)[k] for k in ("1 fs mean", "1 fs se")), _r2(j)["1 fs runs"],
         *(100 * _r2(j)[f"{_HMR} {k}"] for k in ("mean", "se")), _r2(j)[f"{_HMR} runs"],
         100 * _r2(j)[f"{_HMR} minus protocol"], _r2(j)[f"{_HMR} welch t"], _r2(j)[f"{_HMR} p"]), "{}",
     "**22.0% ± 1.0** of the time in alpha_R in the 9 runs at the protocol's 1 fs and **16.9% ± 0.9**\nin the 12 "
     "HMR runs (difference -5.1 points, t = -3.66, p = 0.002)"),
    (SP, lambda j: "The {} runs at 1 fs\noutside the test split".format(
        j["md_runs"]["by_integrator_outside_test"][0][f"{_OUT} runs"]), "{}", "The 5 runs at 1 fs\noutside the test split"),
    (SP, lambda j: "{:.1f}% ± {:.1f} (t = {:.2f}, p = {:.3f})".format(
        *(100 * j["md_runs"]["by_integrator_outside_test"][0][f"{_OUT} {k}"] for k in ("mean", "se")),
        *(j["md_runs"]["by_integrator_outside_test"][0][f"{_HMR} {k}"] for k in ("welch t", "p"))), "{}",
     "21.6% ± 1.3 (t = -2.92, p = 0.019)"),
    (SP, lambda j: "Each of those 9 1 fs runs has at least {:.1f}% (seed 122,\nrun since, has {:.1f}%); {} of the 12 HMR "
     "runs have less (without seed 107's excursion to phi > 0 the\nHMR mean is {:.1f}%)".format(
         100 * min(f["residue 2 alpha_R"] for s, f in j["md_runs"]["region_fractions"].items()
                   if j["md_runs"]["integrators"][s] == "1 fs"),
         100 * _INTEGRATOR_RUN_POPULATIONS()["122"]["residue 2 alpha_R"],
         sum(f["residue 2 alpha_R"] < min(g["residue 2 alpha_R"] for t, g in j["md_runs"]["region_fractions"].items()
                                          if j["md_runs"]["integrators"][t] == "1 fs")
             for s, f in j["md_runs"]["region_fractions"].items() if j["md_runs"]["integrators"][s] == _HMR),
         100 * _hmr_mean_without(j, 107)), "{}",
     "Each of those 9 1 fs runs has at least 18.1% (seed 122,\nrun since, has 15.3%); 8 of the 12 HMR runs have less "
     "(without seed 107's excursion to phi > 0 the\nHMR mean is 17.4%)"),
]

def test_the_tempered_run_differs_from_the_shipped_headline_only_in_the_prior_scale():
    scaled, base = (json.loads((RESULTS / f"{d}/settings.json").read_text())
                    for d in ("prior_scale_0.85_n1000", "ab_cycle2_logsnr_headline"))
    assert scaled["model_sha256"] == base["model_sha256"]
    assert [scaled[k] for k in ("n", "seed", "chunk_size")] == [base[k] for k in ("n", "seed", "chunk_size")]
    keys = scaled["solver"].keys() | base["solver"].keys()
    assert {k for k in keys if scaled["solver"].get(k) != base["solver"].get(k)} == {"prior_scale"}
    assert scaled["solver"]["prior_scale"] == 0.85 and "prior_scale" not in base["solver"]

GVM = "generator_vs_md_shipped.json"
ETS = "energy_terms_shipped.json"
_term = lambda j, name: next(t for t in j["terms"] if t["term"] == name)  # noqa: E731
CLAIMS += [
    (GVM, lambda j: "{:.2f}x MD** [{:.2f}, {:.2f}]".format(j["rows"][0]["over_best_md"], *j["generator_over_best_md_16_84"]),
     "{}", "**Effective samples per CPU-second: 0.18x MD** [0.15, 0.35]"),
    (GVM, lambda j: "{:.2f} CPU-s per draw".format(j["rows"][0]["cpu_s_per_draw_or_ps"]), "{}",
     "3.61 CPU-s per draw with its exact log q"),
    (GVM, lambda j: "gives {:.4f} effective samples per CPU-s, against {:.3f}".format(
        j["rows"][0]["effective_per_cpu_s"], j["rows"][1]["effective_per_cpu_s"]), "{}",
     "gives 0.0045 effective samples per CPU-s, against 0.025 decorrelated"),
    (GVM, lambda j: "({:.2f} CPU-s per ps, the slowest torsion's tau {:.0f} ps)".format(
        j["rows"][1]["cpu_s_per_draw_or_ps"], j["rows"][1]["tau_ps"]), "{}",
     "(0.45 CPU-s per ps, the slowest torsion's tau 90 ps)"),
    (GVM, lambda j: "an ESS of about {:.0f}%".format(100 * j["ess_fraction"] / j["rows"][0]["over_best_md"]), "{}",
     "beating it at this cost per draw needs an ESS of about 9%."),
    (ETS, lambda j: "bond energy sits {:.1f} kT above MD's and ranks with low weight most ({:.2f}; angles +{:.1f} kT,".format(
        _term(j, "HarmonicBondForce")["median_excess_kT"], _term(j, "HarmonicBondForce")["rank_corr_with_log_w"],
        _term(j, "HarmonicAngleForce")["median_excess_kT"]), "{}",
     "bond energy sits 11.4 kT above MD's and ranks with low weight most (-0.71; angles +5.5 kT,"),
    (ETS, lambda j: "deviation of {:.1f} nats below".format(j["log_w_spread"]["log_w_std_nats_below_u95"]), "{}",
     "deviation of 10.9 nats below the 95th percentile"),
    ("energy_terms.json", lambda j: "had a bond excess of {:.1f} kT".format(_term(j, "HarmonicBondForce")["median_excess_kT"]),
     "{}", "uniform-grid draws had a bond excess of 1.7 kT"),
]


def _report_quote(report):
    return "T-W2 {:.2f} rad against a floor of {:.2f}, E-W2 {:.0f} kT, median u\n  {:.1f} kT (MD {:.1f})".format(
        report["T_W2_rad"], report["noise_floor_T_W2_rad"], report["E_W2_kT"], report["median_u_model_kT"],
        report["median_u_test_kT"])


def test_the_readme_report_numbers_are_the_reports():
    """The shipped model's report (60 ns test set), the HMR model's (20 ns) and its first cycle's."""
    readme = (ROOT / "README.md").read_text()
    shipped, hmr, first = (json.loads((ROOT / f"{d}/report.json").read_text()) for d in (
        "checkpoints/ala3_dit_aaa_1fs_cycle2/report", "checkpoints/ala3_dit_aaa_cycle2/report",
        "checkpoints/ala3_dit_aaa/report"))  # "shipped": the 1 fs second cycle, as its section names it
    assert "`checkpoints/ala3_dit_aaa_1fs_cycle2/report/`:\n  " + _report_quote(shipped) in readme
    hmr60 = json.loads((ROOT / "checkpoints/ala3_dit_aaa_cycle2/report_test60/report.json").read_text())
    assert "`checkpoints/ala3_dit_aaa_cycle2/report_test60/`:\n  " + _report_quote(hmr60) in readme
    # paired: the same noise (seed, n, solver) against the same test set, the HMR model's file
    assert {k: hmr60[k] for k in ("seed", "samples", "solver", "md_test_set") if k in hmr60} == \
        {k: shipped[k] for k in ("seed", "samples", "solver", "md_test_set") if k in shipped}
    assert hmr60["model_sha256"] == hashlib.sha256(
        (ROOT / "checkpoints/ala3_dit_aaa_cycle2/ala3_dit_cycle2.pt").read_bytes()).hexdigest()
    assert shipped["model_sha256"] == hashlib.sha256(
        (ROOT / "checkpoints/ala3_dit_aaa_1fs_cycle2/ala3_dit.pt").read_bytes()).hexdigest()
    now = json.loads((ROOT / "models/ala3_dit_report/report.json").read_text())  # the shipped seventh cycle's
    assert now["model_sha256"] == hashlib.sha256((ROOT / "models/ala3_dit.pt").read_bytes()).hexdigest()
    assert {k: now[k] for k in ("samples", "solver", "md_test_set")} == \
        {k: shipped[k] for k in ("samples", "solver", "md_test_set")} and now["seed"] == 0  # model-report's default
    assert "T-W2 {:.2f} rad (floor {:.2f}), median u {:.1f} kT".format(
        now["T_W2_rad"], now["noise_floor_T_W2_rad"], now["median_u_model_kT"]) in readme
    assert shipped["md_test_set"]["frames"] == 60_000 and hmr["test_frames"] == 20_000
    quote = _report_quote(hmr) + "; the first cycle's report: {:.2f} rad, {:.0f} kT, {:.1f} kT.".format(
        first["T_W2_rad"], first["E_W2_kT"], first["median_u_model_kT"])
    assert "`checkpoints/ala3_dit_aaa_cycle2/report/`): " + quote in readme, quote
    for report in (shipped, hmr):
        assert report["samples"] == 2000 and report["solver"] == "Rex(rk4, zeta=0.999), 40 steps"
    card = "T-W2 {:.2f} rad against {:.2f} (floor {:.2f}), E-W2 {:.0f}\n  against {:.0f} kT".format(
        shipped["T_W2_rad"], hmr60["T_W2_rad"], shipped["noise_floor_T_W2_rad"], shipped["E_W2_kT"], hmr60["E_W2_kT"])
    assert card in (ROOT / "models/ala3_dit.md").read_text(), card


@pytest.mark.parametrize("cycle,earlier,ab", [("cycle4", "cycle3", CYCLE4_AB), ("cycle3", "cycle2", CYCLE3_AB)])
def test_a_1_fs_cycles_headline_pairs_with_the_cycle_before(cycle, earlier, ab):
    """Each 1 fs cycle's export drew its headline, whose noise, n and solver are the cycle before's n = 2000
    headline's, which training_ab pairs (with the NLL on 1000 frames); its run trained on the shipped
    data version."""
    sha = hashlib.sha256((ROOT / f"checkpoints/ala3_dit_aaa_1fs_{cycle}/ala3_dit.pt").read_bytes()).hexdigest()
    mine, before = (json.loads((RESULTS / f"aaa_1fs_{c}_headline_n2000/settings.json").read_text()) for c in (cycle, earlier))
    assert mine["model_sha256"] == sha != before["model_sha256"]
    assert {k: v for k, v in mine.items() if k not in ("model", "model_sha256")} == \
        {k: v for k, v in before.items() if k not in ("model", "model_sha256")}
    pairing = json.loads((RESULTS / ab).read_text())
    assert (pairing["paired_samples"][cycle]["dir"], pairing["paired_samples"][cycle]["baseline_dir"]) == (
        f"benchmarks/results/aaa_1fs_{cycle}_headline_n2000", f"benchmarks/results/aaa_1fs_{earlier}_headline_n2000")
    assert pairing["paired_nll"][cycle]["frames"] == 1000
    ckpt = torch.load(ROOT / f"checkpoints/ala3_dit_aaa_1fs_{cycle}/last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["rexmol_run"]["data_sha256"] == hashlib.sha256((ROOT / "data/ala3/dataset.json").read_bytes()).hexdigest()


def test_the_shipped_model_is_the_seventh_cycle_with_its_files_and_the_rules_pairing():
    """models/ala3_dit.pt, its bond shift and its report are byte copies of the seventh cycle's, the
    previous shipped model's shift and report moved beside its checkpoint; the seventh cycle's
    headlines share the fourth cycle's noise, n and solver, and the ship rule's pairing (n = 4000,
    each with its own shift) reads exactly those folders and shift files."""
    shipped, c7, c4 = ROOT / "models", ROOT / "checkpoints/ala3_dit_aaa_1fs_cycle7", ROOT / "checkpoints/ala3_dit_aaa_1fs_cycle4"
    sha = hashlib.sha256((shipped / "ala3_dit.pt").read_bytes()).hexdigest()
    assert sha == hashlib.sha256((c7 / "ala3_dit.pt").read_bytes()).hexdigest() != \
        hashlib.sha256((c4 / "ala3_dit.pt").read_bytes()).hexdigest()
    assert (shipped / "ala3_dit_bond_shift.json").read_bytes() == (c7 / "ala3_dit_bond_shift.json").read_bytes()
    assert json.loads((shipped / "ala3_dit_bond_shift.json").read_text())["model_sha256"] == sha
    c4_sha = hashlib.sha256((c4 / "ala3_dit.pt").read_bytes()).hexdigest()
    assert json.loads((c4 / "ala3_dit_bond_shift.json").read_text())["model_sha256"] == c4_sha
    for name in ("report.json", "samples_nm.npy", "ramachandran.png", "energies.png", "training_curve.png"):
        assert (shipped / "ala3_dit_report" / name).read_bytes() == (c7 / "report" / name).read_bytes(), name
    assert json.loads((c4 / "report/report.json").read_text())["model_sha256"] == c4_sha
    assert (shipped / "ala3_dit_training/metrics.csv").read_bytes() == (c7 / "csv/version_0/metrics.csv").read_bytes()
    for n in (2000, 4000):
        mine, before = (json.loads((RESULTS / f"aaa_1fs_{c}_headline_n{n}/settings.json").read_text())
                        for c in ("cycle7", "cycle4"))
        assert (mine["model_sha256"], before["model_sha256"]) == (sha, c4_sha)
        drop = ("model", "model_sha256", "reuse_chunks")
        assert {k: v for k, v in mine.items() if k not in drop} == {k: v for k, v in before.items() if k not in drop}
    for folder, shift in (("aaa_1fs_cycle7_shifted_headline_n4000", shipped), ("aaa_1fs_cycle4_shifted_headline_n4000", c4)):
        used = json.loads((RESULTS / folder / "results.json").read_text())["bond_shift"]["sha256"]
        assert used == hashlib.sha256((shift / "ala3_dit_bond_shift.json").read_bytes()).hexdigest(), folder
    rule = json.loads((RESULTS / "training_ab_aaa_1fs_cycle7_shifted_n4000.json").read_text())["paired_samples"]["aaa_1fs_cycle7"]
    assert (rule["dir"], rule["baseline_dir"], rule["n"]) == ("benchmarks/results/aaa_1fs_cycle7_shifted_headline_n4000",
                                                             "benchmarks/results/aaa_1fs_cycle4_shifted_headline_n4000", 4000)
    assert rule["psis_ess_ratio_interval_16_84"][0] > 1  # the ship rule
    ckpt = torch.load(c7 / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["rexmol_run"]["data_sha256"] == hashlib.sha256((ROOT / "data/ala3/dataset.json").read_bytes()).hexdigest()


def test_the_1_fs_second_cycle_headline_pairs_with_the_hmr_models():
    """The second cycle's export drew its headline, whose noise, n and solver are the HMR model's
    n = 2000 headline's, which training_ab pairs."""
    sha = hashlib.sha256((ROOT / "checkpoints/ala3_dit_aaa_1fs_cycle2/ala3_dit.pt").read_bytes()).hexdigest()
    shipped, hmr = (json.loads((RESULTS / f"{d}/settings.json").read_text())
                    for d in ("aaa_1fs_cycle2_headline_n2000", "aaa_headline_n2000_1fs_floors"))
    hmr_sha = hashlib.sha256((ROOT / "checkpoints/ala3_dit_aaa_cycle2/ala3_dit_cycle2.pt").read_bytes()).hexdigest()
    assert shipped["model_sha256"] == sha != hmr["model_sha256"] == hmr_sha
    assert {k: v for k, v in shipped.items() if k not in ("model", "model_sha256")} == \
        {k: v for k, v in hmr.items() if k not in ("model", "model_sha256")}
    ab = json.loads((RESULTS / RETRAIN).read_text())["paired_samples"]["aaa_1fs_cycle2"]
    assert (ab["dir"], ab["baseline_dir"]) == ("benchmarks/results/aaa_1fs_cycle2_headline_n2000",
                                              "benchmarks/results/aaa_headline_n2000_1fs_floors")
    # both cycles of the shipped model trained on the shipped data version (the target's own 1 fs MD)
    manifest_sha = hashlib.sha256((ROOT / "data/ala3/dataset.json").read_bytes()).hexdigest()
    for run in ("ala3_dit_aaa_1fs", "ala3_dit_aaa_1fs_cycle2"):
        ckpt = torch.load(ROOT / "checkpoints" / run / "last.ckpt", map_location="cpu", weights_only=False)
        assert ckpt["rexmol_run"]["data_sha256"] == manifest_sha, run


def test_the_shipped_model_is_the_export_of_its_checkpoint(tmp_path):
    """Exporting the seventh cycle's last.ckpt again (byte-deterministic) gives models/ala3_dit.pt, and
    the bond-feature run's gives its committed export, which records the option."""
    from rexmol.cli import main
    assert main(["export", "--ckpt", str(ROOT / "checkpoints/ala3_dit_aaa_1fs_cycle7/last.ckpt"),
                 "--out", str(tmp_path / "m.pt")]) == 0
    assert (tmp_path / "m.pt").read_bytes() == (ROOT / "models/ala3_dit.pt").read_bytes()
    assert main(["export", "--ckpt", str(ROOT / "checkpoints/ala3_dit_aaa_1fs_bonds/last.ckpt"),
                 "--out", str(tmp_path / "b.pt")]) == 0
    assert (tmp_path / "b.pt").read_bytes() == (ROOT / "checkpoints/ala3_dit_aaa_1fs_bonds/ala3_dit.pt").read_bytes()
    assert torch.load(tmp_path / "b.pt", weights_only=True)["config"]["bond_features"] is True
    assert "bond_features" not in torch.load(tmp_path / "m.pt", weights_only=True)["config"]


def test_the_hmr_second_cycle_pairs_with_its_first():
    """The HMR model's log-SNR headline (its first 1000 draws) and the first cycle's: same noise, n, solver."""
    sha = hashlib.sha256((ROOT / "checkpoints/ala3_dit_aaa_cycle2/ala3_dit_cycle2.pt").read_bytes()).hexdigest()
    hmr, first = (json.loads((RESULTS / f"{d}/settings.json").read_text())
                  for d in ("ab_cycle2_logsnr_headline", "aaa_logsnr_headline"))
    assert hmr["model_sha256"] == sha != first["model_sha256"]
    assert {k: v for k, v in hmr.items() if k not in ("model", "model_sha256")} == \
        {k: v for k, v in first.items() if k not in ("model", "model_sha256")}
    ab = json.loads((RESULTS / AB).read_text())["paired_samples"]["cycle2"]
    assert (ab["dir"], ab["baseline_dir"]) == ("benchmarks/results/ab_cycle2_logsnr_headline",
                                              "benchmarks/results/aaa_logsnr_headline")


def test_the_log_snr_headline_is_what_the_readme_says_it_is():
    """Its draws: the shipped model, the uniform headline's noise, none folded or dropped; the
    paired ratio in sampler_ab.json compares exactly those two folders."""
    head, uniform = (json.loads((RESULTS / f"{d}/results.json").read_text()) for d in ("aaa_logsnr_headline", "aaa_headline"))
    settings = [json.loads((RESULTS / f"{d}/settings.json").read_text()) for d in ("aaa_logsnr_headline", "aaa_headline")]
    assert settings[0]["model_sha256"] == settings[1]["model_sha256"]
    assert [settings[0][k] for k in ("n", "seed", "chunk_size")] == [settings[1][k] for k in ("n", "seed", "chunk_size")]
    assert settings[0]["solver"]["grid"] == "logsnr" and settings[1]["solver"]["grid"] == "uniform"
    assert (head["n"], head["n_folded"], head["n_nonfinite_energy"], head["n_d_chirality"], head["clip_quantile"]) == \
        (1000, 0, 0, 0, None)
    ab = json.loads((RESULTS / "sampler_ab.json").read_text())
    assert ab["baseline_dir"] == "benchmarks/results/aaa_headline"
    assert ab["paired"]["logsnr"]["dir"] == "benchmarks/results/aaa_logsnr_headline"
    assert ab["model_sha256"] == settings[0]["model_sha256"]
    assert ab["paired"]["logsnr"]["ess_fraction"] == pytest.approx(head["ess_fraction"], rel=1e-9)
    assert ab["paired"]["logsnr"]["ess_fraction_base"] == pytest.approx(uniform["ess_fraction"], rel=1e-9)


def test_rex_and_princeps_differ_only_in_the_solver():
    """The README's Rex / Princeps ratio is "at equal settings": the same model file, noise, n and
    chunks, the same tableau, grid, steps and density; only the solver (and so the coupling's use)
    differs, and rex_vs_princeps.json compares exactly those two folders."""
    rex, base = (json.loads((RESULTS / f"{d}/settings.json").read_text())
                 for d in ("rex_midpoint_logsnr_n1000", "ab_cycle2_logsnr_headline"))
    assert rex["model_sha256"] == base["model_sha256"]
    assert [rex[k] for k in ("n", "seed", "chunk_size")] == [base[k] for k in ("n", "seed", "chunk_size")] == [1000, 0, 50]
    differing = {k for k in rex["solver"].keys() | base["solver"].keys() if rex["solver"].get(k) != base["solver"].get(k)}
    assert differing == {"solver"}, differing
    assert (rex["solver"]["solver"], base["solver"]["solver"], rex["solver"]["coupling"]) == ("rex", "princeps", 0.5)
    ab = json.loads((RESULTS / "rex_vs_princeps.json").read_text())
    assert ab["paired"]["rex"]["dir"] == "benchmarks/results/rex_midpoint_logsnr_n1000"
    assert ab["model_sha256"] == rex["model_sha256"]
    # the W2 points of the pairing are the runs' own reweighted metrics (an independent computation:
    # rexmol sample's judge wrote these, sampler_ab recomputed them from arrays.npz)
    for d, side in (("rex_midpoint_logsnr_n1000", "other"), ("ab_cycle2_logsnr_headline", "base")):
        own = json.loads((RESULTS / f"{d}/results.json").read_text())
        for key in ("E_W2_kT_reweighted", "T_W2_rad_reweighted"):
            assert ab["paired"]["rex"]["reweighted_w2"][key][side] == pytest.approx(own[key], rel=1e-9), (d, key)

def test_readme_sweep_table_of_the_1_fs_second_cycle_is_the_json(readme):
    """Every row of the 1 fs second cycle's sweep table is the one sampler_sweep.py prints from its
    JSON, drawn by that model's bytes."""
    from benchmarks.sampler_sweep import markdown_rows

    j = json.loads((RESULTS / SWEEP_1FS).read_text())
    assert j["model_sha256"] == hashlib.sha256(
        (ROOT / "checkpoints/ala3_dit_aaa_1fs_cycle2/ala3_dit.pt").read_bytes()).hexdigest()
    assert (j["n"], j["md_test_set"]["frames"]) == (100, 60_000)
    rows = markdown_rows(j)
    assert len(rows) == 12
    for row in rows:
        assert row in readme, f"the README's sweep table of the shipped model lacks {row!r}"


def test_readme_aaa_sweep_table_is_the_json(readme):
    """Every row of the README's AAA sweep table is the one benchmarks/sampler_sweep.py prints from the JSON."""
    from benchmarks.sampler_sweep import markdown_rows

    rows = markdown_rows(json.loads((RESULTS / SWEEP_AAA).read_text()))
    assert len(rows) == 9
    for row in rows:
        assert row in readme, f"the README's AAA sweep table lacks {row!r}"


@pytest.fixture(scope="module")
def readme():
    return (ROOT / "README.md").read_text()

# issue 11: the shipped model (the 1 fs retrain) beside the HMR model, n = 2000 on the same noise
RETRAIN = "training_ab_aaa_1fs_cycle2.json"
_RT = lambda j: j["paired_samples"]["aaa_1fs_cycle2"]  # noqa: E731
HEAD_1FS_E = "| E-W2 (kT) | 159816.74 | 2.45 [2.34, 4.42] | 0.29 / 2.84 |"
HEAD_1FS_T = "| T-W2, 5 backbone torsions (rad) | 0.67 | 1.83 [1.68, 2.11] | 0.60 / 1.93 |"
HEAD_1FS_S = "| ESS | | 9.6 of 2000 (0.48%) [0.40%, 0.76%] | |"


def _retrain_row(label):
    def row(j):
        floor = j["noise_floor_reweighted"]
        return ("| {} | {:.2f}% [{:.2f}%, {:.2f}%] | {:.2f} | {:.2f} | {:.2f} (floor {:.2f} at n = {}) | {:.2f} (floor {:.2f}) |"
                .format(label, 100 * j["ess_fraction"], *(100 * v for v in j["bootstrap"]["ess_fraction_16_84"]),
                        j["E_W2_kT"], j["T_W2_rad"], j["E_W2_kT_reweighted"], floor["E_W2_kT"], floor["n"],
                        j["T_W2_rad_reweighted"], floor["T_W2_rad"])
                if (j["n"], j["clip_quantile"], j["md_test_frames"]) == (2000, None, 60_000) else "")
    return row


CLAIMS += [
    *_headline_claims(HEAD_1FS, HEAD_1FS_E, HEAD_1FS_T, HEAD_1FS_S, "/ reweighted (n = 10, the ESS) |"),
    (HEAD_1FS, lambda j: "no clipping, no\nnon-finite energy, no D residue, {} draws folded".format(j["n_folded"])
     if (j["clip_quantile"], j["n_nonfinite_energy"], j["n_d_chirality"]) == (None, 0, 0) else "", "{}",
     "no clipping, no\nnon-finite energy, no D residue, 2 draws folded"),
    (HEAD_1FS, lambda j: "(median u {:.1f} kT against MD's {:.1f})".format(j["median_u_samples_kT"], j["median_u_md_kT"]),
     "{}", "(median u -132.0 kT against MD's -154.2)"),
    (N2000_1FS, _retrain_row("HMR model"), "{}",
     "| HMR model | 1.48% [1.29%, 1.87%] | 614556.16 | 0.80 | 4.86 (floor 2.06 at n = 30) | 1.20 (floor 1.31) |"),
    (HEAD_1FS, _retrain_row("shipped model (1 fs data)"), "{}",
     "| shipped model (1 fs data) | 0.48% [0.40%, 0.76%] | 159816.74 | 0.67 | 2.45 (floor 2.84 at n = 10) | 1.83 (floor 1.93) |"),
    (HEAD_1FS, lambda j: "floor at {:.2f}".format(j["noise_floor_raw"]["T_W2_rad"])
     if j["noise_floor_raw"]["n"] == 2000 else "", "{}", "raw T-W2 0.67 rad against 0.80, with the floor at 0.60"),
    (RETRAIN, lambda j: "the HMR model is\n  {:.2f} nats per molecule lower (SE {:.2f}; {:.2f} against {:.2f}); on all "
     "{}, the shipped model is\n  {:.2f} nats (SE {:.2f}) below the HMR first cycle ({:.2f} against {:.2f})".format(
         -j["paired_nll"]["cycle2"]["nll_difference_nats"], j["paired_nll"]["cycle2"]["se_nats"],
         j["paired_nll"]["cycle2"]["nll_nats"], j["paired_nll"]["cycle2"]["nll_base_nats"],
         j["paired_nll"]["first"]["frames"], j["paired_nll"]["first"]["nll_difference_nats"],
         j["paired_nll"]["first"]["se_nats"], j["paired_nll"]["first"]["nll_base_nats"],
         j["paired_nll"]["first"]["nll_nats"]) if j["paired_nll"]["cycle2"]["frames"] == 250 else "", "{}",
     "the HMR model is\n  0.18 nats per molecule lower (SE 0.13; -351.21 against -351.03); on all 1000, the shipped model is\n"
     "  2.04 nats (SE 0.08) below the HMR first cycle (-350.66 against -348.62)"),
    (RETRAIN, lambda j: "**Test NLL: {:.2f} nats worse, {:.1f} SE.**".format(
        -j["paired_nll"]["cycle2"]["nll_difference_nats"],
        -j["paired_nll"]["cycle2"]["nll_difference_nats"] / j["paired_nll"]["cycle2"]["se_nats"]), "{}",
     "**Test NLL: 0.18 nats worse, 1.4 SE.**"),
    # the reweighted W2s against their floors at the ESS: which sit below, at, or above them
    (N2000_1FS, lambda j: ("T-W2 at its floor and its\n  E-W2 {:.1f}x above it".format(
        j["E_W2_kT_reweighted"] / j["noise_floor_reweighted"]["E_W2_kT"])
        if j["T_W2_rad_reweighted"] <= j["noise_floor_reweighted"]["T_W2_rad"] else ""), "{}",
     "the HMR model's T-W2 at its floor and its\n  E-W2 2.4x above it"),
    (HEAD_1FS, lambda j: "the shipped model's sit below their floors" if (
        j["E_W2_kT_reweighted"] < j["noise_floor_reweighted"]["E_W2_kT"]
        and j["T_W2_rad_reweighted"] < j["noise_floor_reweighted"]["T_W2_rad"]) else "", "{}",
     "the shipped model's sit below their floors"),

    (RETRAIN, lambda j: "**The ESS falls to {:.2f}x** [{:.2f}, {:.2f}] of the HMR model's, the median log w by {:.2f} "
     "nats\n  [{:.2f}, {:.2f}], and one draw carries {:.2f} of the normalised weight (HMR model: {:.2f}; k-hat {:.2f} "
     "against\n  {:.2f}".format(_RT(j)["ess_ratio"], *_RT(j)["ess_ratio_interval_16_84"],
                                -_RT(j)["median_log_w_difference_nats"],
                                *sorted(-v for v in _RT(j)["median_log_w_difference_interval_16_84"]),
                                _RT(j)["max_weight"], _RT(j)["max_weight_base"], _RT(j)["pareto_khat"],
                                _RT(j)["pareto_khat_base"])
     if (_RT(j)["n"], _RT(j)["baseline_dir"]) == (2000, "benchmarks/results/aaa_headline_n2000_1fs_floors") else "", "{}",
     "**The ESS falls to 0.32x** [0.25, 0.50] of the HMR model's, the median log w by 0.28 nats\n  [0.10, 0.52], "
     "and one draw carries 0.25 of the normalised weight (HMR model: 0.09; k-hat 1.18 against\n  1.04"),
]

# issue 12: the default against the old default on the same 1000 draws of the shipped model
_AVD = lambda j: j["paired"]["adaptive"]  # noqa: E731


def _cost(j, x_tol_nm=1e-5):
    """sampler_cost.json's rows by name, only if it is the run the README describes."""
    rows = {r["run"]: r for r in j["rows"]}
    ok = (j["chunks"] == [0, 1] and j.get("tangent_method") == "reverse" and
          rows["default"]["dir"] == "benchmarks/results/ab_cycle2_logsnr_headline" and
          rows["adaptive"]["dir"] == "benchmarks/results/adaptive_shipped_n1000" and
          all(r["same_draws_folded"] and r["x_max_abs_diff_nm"] < x_tol_nm for row in rows.values() for r in row["redraws"]))
    return rows if ok else None


CLAIMS += [
    ("sampler_cost.json", lambda j: "| {:.2f} | {:.2f} (**{:.2f}x**) |".format(
        _cost(j)["default"]["cpu_s_per_draw"], _cost(j)["adaptive"]["cpu_s_per_draw"], _cost(j)["adaptive"]["vs_baseline"])
     if _cost(j) else "", "{}", "| CPU-s per draw (one thread, median of 2 chunks) | 1.52 | 6.61 (**4.36x**) |"),
    ("adaptive_vs_default.json", lambda j: "| ESS of 1000 | **{:.2f}%** | {:.2f}% (ratio {:.2f} [{:.2f}, {:.2f}]) |".format(
        *_paired_fields(_AVD(j), "ess_fraction_base", "ess_fraction", "ess_ratio", "ess_ratio_interval_16_84"))
     if _AVD(j)["n"] == 1000 and j["baseline_dir"] == "benchmarks/results/ab_cycle2_logsnr_headline" else "", "{}",
     "| ESS of 1000 | **1.64%** | 0.66% (ratio 0.40 [0.23, 0.60]) |"),
    ("adaptive_vs_default.json", lambda j: "| +{:.2f} [{:.2f}, {:.2f}]; +{:.2f} |".format(*_paired_fields(
        _AVD(j), "median_log_w_difference_nats", "median_log_w_difference_interval_16_84",
        "per_draw_log_w_difference_median")), "{}",
     "| median log w (nats): difference of the medians [paired bootstrap]; median of per-draw differences | | "
     "+1.88 [1.66, 2.23]; +1.05 |"),
    ("adaptive_vs_default.json", lambda j: "one of\nthe default's draws folded" if _AVD(j)["n_nonfinite_log_w"] == [1, 0]
     else "", "{}", "one of\nthe default's draws folded (weight 0, counted in its ESS of 1000), none of the old default's"),
    ("sampler_cost.json", lambda j: "(x to {:.1e} nm, log q to {:.1e} nats)".format(
        max(r["x_max_abs_diff_nm"] for row in j["rows"] for r in row["redraws"]),
        max(r["log_q_max_abs_diff_nats"] for row in j["rows"] for r in row["redraws"])), "{}",
     "(x to 2.2e-6 nm, log q to 1.1e-4 nats)"),
    ("sampler_cost_forward_mode.json", lambda j: "was {:.2f}\n  CPU-s per draw in the run before".format(
        {r["run"]: r for r in j["rows"]}["adaptive"]["cpu_s_per_draw"]), "{}",
     "was 5.52\n  CPU-s per draw in the run before"),
    ("adaptive_vs_default.json", lambda j: "| {:.2f} / {:.2f} | {:.2f} / {:.2f} |".format(*_paired_fields(
        _AVD(j), "pareto_khat_base", "max_weight_base", "pareto_khat", "max_weight")), "{}",
     "| Pareto k-hat / largest normalised weight | 0.77 / 0.19 | 1.42 / 0.31 |"),
    *[("adaptive_vs_default.json", (lambda j, key=key: "| {:.2f} | {:.2f} (ratio {:.2f} [{:.2f}, {:.2f}]) |".format(
        *(_AVD(j)["reweighted_w2"][key][k] for k in ("base", "other", "ratio")),
        *_AVD(j)["reweighted_w2"][key]["ratio_interval_16_84"])), "{}", quote)
      for key, quote in (("E_W2_kT_reweighted", "| reweighted E-W2 (kT) | 2.38 | 3.30 (ratio 1.39 [0.96, 1.83]) |"),
                         ("T_W2_rad_reweighted", "| reweighted T-W2 (rad) | 1.41 | 1.51 (ratio 1.07 [1.00, 1.42]) |"))],
    ("sampler_cost.json", lambda j: "**Effective samples per CPU-second: {:.1f}x the old default's**".format(
        _cost(j)["adaptive"]["vs_baseline"] / _AVD(json.loads((RESULTS / "adaptive_vs_default.json").read_text()))[
            "ess_ratio"]) if _cost(j) else "", "{}", "**Effective samples per CPU-second: 10.9x the old default's**"),
    ("sampler_cost_2threads.json", lambda j: "{:.2f}x in CPU time, {:.2f}x in wall time".format(
        _cost(j, 1e-4)["adaptive"]["vs_baseline"], _cost(j, 1e-4)["adaptive"]["wall_vs_baseline"])
     if _cost(j, 1e-4) and j["threads"] == 2 else "", "{}",
     "5.05x in CPU time, 5.18x in wall time"),
    ("sampler_cost_2threads.json", lambda j: "the default {:.2f} CPU-s ({:.2f} wall-s) per draw, the\n  old default "
     "{:.2f} CPU-s ({:.2f} wall-s)".format(*(_cost(j, 1e-4)[r][k] for r in ("default", "adaptive")
                                               for k in ("cpu_s_per_draw", "wall_s_per_draw"))), "{}",
     "the default 1.84 CPU-s (0.93 wall-s) per draw, the\n  old default 9.31 CPU-s (4.80 wall-s)"),
    ("sampler_cost_2threads.json", lambda j: "(its CPU time per draw grows {:.2f}x against the default's {:.2f}x)".format(
        *(_cost(j, 1e-4)[r]["cpu_s_per_draw"]
          / _cost(json.loads((RESULTS / "sampler_cost.json").read_text()))[r]["cpu_s_per_draw"]
          for r in ("adaptive", "default"))), "{}",
     "(its CPU time per draw grows 1.41x against the default's 1.21x)"),
    ("sampler_cost_2threads.json", lambda j: "(x to {:.1e} nm,\n  log q to {:.1e} nats".format(
        max(r["x_max_abs_diff_nm"] for row in j["rows"] for r in row["redraws"]),
        max(r["log_q_max_abs_diff_nats"] for row in j["rows"] for r in row["redraws"])), "{}",
     "(x to 3.7e-5 nm,\n  log q to 1.4e-3 nats"),
    ("sampler_cost_2threads.json", lambda j: "target is nominally met ({:.2f}x against 5x)".format(
        _cost(j, 1e-4)["adaptive"]["vs_baseline"]) if _cost(j, 1e-4)["adaptive"]["vs_baseline"] >= 5 else "", "{}",
     "target is nominally met (5.05x against 5x)"),
    ("sampler_cost_forward_mode.json", lambda j: "({:.2f}x against the other run's".format(
        {r["run"]: r for r in j["rows"]}["adaptive"]["cpu_s_per_draw"]
        / _cost(json.loads((RESULTS / "sampler_cost.json").read_text()))["default"]["cpu_s_per_draw"]), "{}",
     "(3.64x against the other run's"),
    ("sampler_cost_forward_mode.json", lambda j: "which gave {:.2f}x there".format(
        {r["run"]: r for r in j["rows"]}["adaptive"]["vs_baseline"]) if j["tangent_method"] == "vmap" else "", "{}",
     "which gave 1.86x there"),
    ("adaptive_shipped_n1000/results.json", lambda j: "({:.1f} nats at most between the forward integral and an "
     "independent reverse solve on chunk\n  0's {} draws".format(j["roundtrip_log_q_max_abs"], j["roundtrip_samples"]),
     "{}", "(3.4 nats at most between the forward integral and an independent reverse solve on chunk\n  0's 50 draws"),
    ("adaptive_shipped_n1000/results.json", lambda j: "| field evaluations per draw | 32 | {:.0f} |".format(
        j["nfe_per_solve"]), "{}", "| field evaluations per draw | 32 | 161 |"),
]



# issue 12: the grid of the default on the shipped model, paired at n = 2000
def _json(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


_GRID = lambda j: j["paired"]["uniform"]  # noqa: E731
_GRID_OK = lambda j: (j["baseline_dir"] == "benchmarks/results/aaa_1fs_cycle2_headline_n2000"  # noqa: E731
                      and _GRID(j)["dir"] == "benchmarks/results/uniform_1fs_n2000" and _GRID(j)["n"] == 2000
                      and j["baseline_solver"]["grid"] == "logsnr" and _GRID(j)["solver"]["grid"] == "uniform"
                      and j["baseline_solver"]["steps"] == _GRID(j)["solver"]["steps"] == 16)
_UNI, _LOG = "uniform_1fs_n2000/results.json", "aaa_1fs_cycle2_headline_n2000/results.json"
CLAIMS += [
    ("grid_ab_1fs.json", lambda j: "| ESS of 2000 | **{:.2f}%** | {:.2f}% (ratio {:.2f} [{:.2f}, {:.2f}]) |".format(
        *_paired_fields(_GRID(j), "ess_fraction_base", "ess_fraction", "ess_ratio", "ess_ratio_interval_16_84"))
     if _GRID_OK(j) else "", "{}", "| ESS of 2000 | **0.48%** | 0.14% (ratio 0.30 [0.22, 0.60]) |"),
    ("grid_ab_1fs.json", lambda j: "| | {:.2f} [{:.2f}, {:.2f}] |".format(*_paired_fields(
        _GRID(j), "median_log_w_difference_nats", "median_log_w_difference_interval_16_84")) if _GRID_OK(j) else "", "{}",
     "| median log w (nats): difference of the medians [paired bootstrap] | | -3.52 [-3.69, -3.30] |"),
    ("grid_ab_1fs.json", lambda j: "| {:.1f} | {:.1f} |".format(*_paired_fields(_GRID(j), "log_w_spread_base",
                                                                                "log_w_spread")), "{}",
     "| spread of log w (half the 16-84% range, nats) | 10.2 | 7.3 |"),
    ("grid_ab_1fs.json", lambda j: "| {:.2f} / {:.2f} | {:.2f} / {:.2f} |".format(*_paired_fields(
        _GRID(j), "pareto_khat_base", "max_weight_base", "pareto_khat", "max_weight")), "{}",
     "| Pareto k-hat / largest normalised weight | 1.18 / 0.25 | 1.44 / 0.55 |"),
    ("grid_ab_1fs.json", lambda j: "ESS 3.3x the\n  uniform grid's" if round(1 / _GRID(j)["ess_ratio"], 1) == 3.3 else "",
     "{}", "ESS 3.3x the\n  uniform grid's"),
    ("grid_ab_1fs.json", lambda j: "with 3.3x the uniform grid's ESS on the same noise (the\n  ratio's interval "
     "[{:.2f}, {:.2f}] excludes 1)".format(*_GRID(j)["ess_ratio_interval_16_84"])
     if round(1 / _GRID(j)["ess_ratio"], 1) == 3.3 and _GRID(j)["ess_ratio_interval_16_84"][1] < 1 else "", "{}",
     "with 3.3x the uniform grid's ESS on the same noise (the\n  ratio's interval [0.22, 0.60] excludes 1)"),
    ("grid_ab_1fs.json", lambda j: "the median log w is {:.2f} nats higher".format(
        -_GRID(j)["median_log_w_difference_nats"]), "{}", "the median log w is 3.52 nats higher"),
    (_UNI, lambda j: "ESS 1.08 of 100,\n  {:.2f}% at n = 2000), the uniform row's 4.11 of 100 became {:.2f}% at n = 2000".format(
        100 * _json(_LOG)["ess_fraction"], 100 * j["ess_fraction"]), "{}",
     "ESS 1.08 of 100,\n  0.48% at n = 2000), the uniform row's 4.11 of 100 became 0.14% at n = 2000"),
    (_UNI, lambda j: "the log-SNR draws sit {:.1f} kT above it".format(
        _json(_LOG)["median_u_samples_kT"] - j["median_u_md_kT"]), "{}", "the log-SNR draws sit 22.1 kT above it"),
    (_UNI, lambda j: "is {:.1f} nats higher on average (mean log q {:.1f} against {:.1f})".format(
        j["mean_log_q_nats"] - _json(_LOG)["mean_log_q_nats"], j["mean_log_q_nats"], _json(_LOG)["mean_log_q_nats"]),
     "{}", "is 25.0 nats higher on average (mean log q 350.2 against 325.2)"),
    (_UNI, lambda j: "at the same {:.0f} field evaluations per draw".format(j["nfe_per_solve"])
     if j["nfe_per_solve"] == _json(_LOG)["nfe_per_solve"] else "", "{}", "at the same 32 field evaluations per draw"),
    (_UNI, lambda j: "(the raw E-W2 of both is decided by a tail of clashing draws, 1e5 kT)"
     if min(j["E_W2_kT"], _json(_LOG)["E_W2_kT"]) > 5e4 else "", "{}",
     "(the raw E-W2 of both is decided by a tail of clashing draws, 1e5 kT)"),
    (_UNI, lambda j: "| median u of the draws (kT; MD's test set: {:.1f}) | {:.1f} | {:.1f} |".format(
        j["median_u_md_kT"], _json(_LOG)["median_u_samples_kT"], j["median_u_samples_kT"]), "{}",
     "| median u of the draws (kT; MD's test set: -154.2) | -132.0 | -154.5 |"),
    (_UNI, lambda j: "| mean log q (nats) | {:.1f} | {:.1f} |".format(_json(_LOG)["mean_log_q_nats"],
                                                                      j["mean_log_q_nats"]), "{}",
     "| mean log q (nats) | 325.2 | 350.2 |"),
    (_UNI, lambda j: "| {:.2f} [{:.2f}, {:.2f}]; {:.2f} (n = {}) | {:.2f} [{:.2f}, {:.2f}]; {:.2f} (n = {}) |".format(
        *(v for r in (_json(_LOG), j) for v in (r["E_W2_kT_reweighted"], *r["bootstrap"]["E_W2_kT_reweighted_16_84"],
                                                   r["noise_floor_reweighted"]["E_W2_kT"], r["noise_floor_reweighted"]["n"]))),
     "{}", "| reweighted E-W2 (kT) [16-84%]; MD floor at the ESS | 2.45 [2.34, 4.42]; 2.84 (n = 10) | "
     "6.10 [5.88, 9.38]; 5.92 (n = 3) |"),
    (_UNI, lambda j: "| {:.2f}; {:.2f} | {:.2f}; {:.2f} |".format(
        *(v for r in (_json(_LOG), j) for v in (r["T_W2_rad_reweighted"], r["noise_floor_reweighted"]["T_W2_rad"]))),
     "{}", "| reweighted T-W2 (rad); MD floor at the ESS | 1.83; 1.93 | 2.08; 2.10 |"),
    (_UNI, lambda j: "| raw T-W2 (rad; floor {:.2f} at n = 2000) | {:.2f} | {:.2f} |".format(
        j["noise_floor_raw"]["T_W2_rad"], _json(_LOG)["T_W2_rad"], j["T_W2_rad"]), "{}",
     "| raw T-W2 (rad; floor 0.60 at n = 2000) | 0.67 | 0.67 |"),
    (_UNI, lambda j: "the log-SNR run folds {} draws (weight 0), the uniform run {}".format(
        _json(_LOG)["n_folded"], j["n_folded"] or "none"), "{}",
     "the log-SNR run folds 2 draws (weight 0), the uniform run none"),
    (_UNI, lambda j: "{:.2f} s of wall time per draw on one thread".format(j["sampling_s_per_sample"]), "{}",
     "1.37 s of wall time per draw on one thread"),
]


# issue 13: the 1 fs third cycle (shipped until the fourth), and its pairing with the second (_C3 above reads it)
CLAIMS += [
    *_headline_claims(HEAD_C3, "| E-W2 (kT) | 4557570.81 | 2.25 [1.80, 4.19] | 0.29 / 2.43 |",
                      "| T-W2, 5 backbone torsions (rad) | 0.66 | 1.58 [1.51, 1.82] | 0.60 / 1.42 |",
                      "| ESS | | 16.6 of 2000 (0.83%) [0.73%, 1.08%] | |",
                      "(n = 17, the ESS) |"),
    (HEAD_C3, lambda j: "no non-finite energy, no D residue, {} draw folded (weight\n0)".format(j["n_folded"])
     if (j["clip_quantile"], j["n_nonfinite_energy"], j["n_d_chirality"]) == (None, 0, 0) else "", "{}",
     "no non-finite energy, no D residue, 1 draw folded (weight\n0)"),
    *_paired_table_claims(CYCLE3_AB, "cycle3", "| ESS | 0.48% | **0.83%** (ratio 1.73 [1.14, 2.29]) |",
                          "| median log w (nats): difference [paired bootstrap] | | +2.42 [2.27, 2.55] |",
                          "| spread of log w (half the 16-84% range, nats) | 10.2 | 8.5 |",
                          "| Pareto k-hat / largest normalised weight | 1.18 / 0.25 | 0.93 / 0.15 |",
                          "| test NLL, 1000 frames (nats per molecule) | -350.66 | **-351.81** (-1.14, SE 0.02) |"),
    (HEAD_C3, lambda j: "| median u of the draws (kT; MD {:.1f}) | {:.1f} | {:.1f} |".format(
        j["median_u_md_kT"], _json(HEAD_1FS)["median_u_samples_kT"], j["median_u_samples_kT"]), "{}",
     "| median u of the draws (kT; MD -154.2) | -132.0 | -136.3 |"),
    (CYCLE3_AB, lambda j: "ESS **{:.2f}%** against {:.2f}% (ratio {:.2f} [{:.2f}, {:.2f}]), the\n  median log w +{:.2f} "
     "nats, test NLL {:.2f} nats (SE {:.2f})".format(*_paired_fields(
         _C3(j), "ess_fraction", "ess_fraction_base", "ess_ratio", "ess_ratio_interval_16_84",
         "median_log_w_difference_nats"), j["paired_nll"]["cycle3"]["nll_difference_nats"],
         j["paired_nll"]["cycle3"]["se_nats"]), "{}",
     "ESS **0.83%** against 0.48% (ratio 1.73 [1.14, 2.29]), the\n  median log w +2.42 nats, test NLL -1.14 nats (SE 0.02)"),
    (CYCLE3_AB, lambda j: ("likelihood checks {:.1f} and {:.1f} nats at\n  steps 3,851 and 7,703 against {:.1f} and {:.1f}, "
                           "last validation flow-matching loss {:.4f} against\n  {:.4f}").format(
        *(float(_val_checks(*_CYCLES)[(c, step)]["val/nll_nats"]) for c in ("third cycle", "second cycle")
          for step in (3851, 7703)), _val_fm("ala3_dit_aaa_1fs_cycle3")[1], _val_fm("ala3_dit_aaa_1fs_cycle2")[1]), "{}",
     "likelihood checks -345.7 and -348.9 nats at\n  steps 3,851 and 7,703 against -343.6 and -347.5, last validation "
     "flow-matching loss 0.2107 against\n  0.2123"),
    (CYCLE3_AB, lambda j: "the mean log w ({:.0f} nats against the second\n  cycle's, set by one draw at u = {:.0e} kT)".format(
        _C3(j)["mean_log_w_difference_nats"],
        float(np.load(RESULTS / "aaa_1fs_cycle3_headline_n2000/arrays.npz")["u"].max())).replace("e+0", "e"), "{}",
     "the mean log w (-98329 nats against the second\n  cycle's, set by one draw at u = 2e8 kT)"),
    (HEAD_C3, lambda j: "the raw E-W2 ({:.2f} against {:.2f} kT) and the\n  unweighted report's E-W2 ({:.1f} against "
     "{:.1f} kT)".format(j["E_W2_kT"], _json(HEAD_1FS)["E_W2_kT"],
                         _json("../../checkpoints/ala3_dit_aaa_1fs_cycle3/report/report.json")["E_W2_kT"],
                         _json("../../checkpoints/ala3_dit_aaa_1fs_cycle2/report/report.json")["E_W2_kT"]), "{}",
     "the raw E-W2 (4557570.81 against 159816.74 kT) and the\n  unweighted report's E-W2 (49.7 against 33.7 kT)"),
    ("generator_vs_md_1fs_cycle3.json", lambda j: "**Effective samples per CPU-second: {:.2f}x MD** [{:.2f}, {:.2f}]".format(
        j["rows"][0]["over_best_md"], *j["generator_over_best_md_16_84"])
     if j["run"] == "benchmarks/results/aaa_1fs_cycle3_headline_n2000" and j["n_run"] == 2000 else "", "{}",
     "**Effective samples per CPU-second: 0.22x MD** [0.19, 0.28]"),
    ("generator_vs_md_1fs_cycle3.json", lambda j: "{:.2f} CPU-s per draw at an ESS of {:.2f}% against the protocol's\n  "
     "1 fs MD at {:.0f} ns per CPU-day with tau {:.0f} ps for the slowest torsion. MD still wins by about {:.1f}x".format(
        j["rows"][0]["cpu_s_per_draw_or_ps"], 100 * j["ess_fraction"],
        86400 / j["rows"][1]["cpu_s_per_draw_or_ps"] / 1000, j["rows"][1]["tau_ps"], 1 / j["rows"][0]["over_best_md"]),
     "{}", "1.54 CPU-s per draw at an ESS of 0.83% against the protocol's\n  1 fs MD at 229 ns per CPU-day with tau 108 ps "
     "for the slowest torsion. MD still wins by about 4.6x"),
    ("../../checkpoints/ala3_dit_aaa_1fs_cycle3/report/report.json", lambda j: "(`checkpoints/ala3_dit_aaa_1fs_cycle3/report/`): "
     "T-W2 {:.2f} rad (floor {:.2f}), median u {:.1f} kT".format(j["T_W2_rad"], j["noise_floor_T_W2_rad"],
                                                                 j["median_u_model_kT"]), "{}",
     "(`checkpoints/ala3_dit_aaa_1fs_cycle3/report/`): T-W2 0.64 rad (floor 0.60), median u -136.4 kT"),
]


# where a draw's excess energy is made (the third cycle, shipped then): energy terms of its headline, and the
# flow from noised MD frames at each start time s
_PF3 = "partial_flow_1fs_cycle3.json"
_pf_row = lambda j, s: next(r for r in j["rows"] if r["start_s"] == s)  # noqa: E731
CLAIMS += [
    ("energy_terms_1fs_cycle3.json", lambda j: "sit **{:.1f} kT** above\n  MD in median bond energy and {:.1f} kT in angles, "
     "and the bond term ranks against log w (Spearman\n  {:.2f})".format(
         _term(j, "HarmonicBondForce")["median_excess_kT"], _term(j, "HarmonicAngleForce")["median_excess_kT"],
         _term(j, "HarmonicBondForce")["rank_corr_with_log_w"])
     if j["run"] == "benchmarks/results/aaa_1fs_cycle3_headline_n2000" else "", "{}",
     "sit **9.8 kT** above\n  MD in median bond energy and 5.0 kT in angles, and the bond term ranks against log w (Spearman\n"
     "  -0.65)"),
    (_PF3, lambda j: "  | bond excess (kT, median over MD's) | " + " | ".join(
        "{:.2f}".format(_pf_row(j, s)["HarmonicBond_excess_kT"]) for s in (0.0, 0.5, 0.8, 0.9, 0.95, 0.98)) + " |\n"
     "  | angle excess (kT) | " + " | ".join(
        "{:.2f}".format(_pf_row(j, s)["HarmonicAngle_excess_kT"]) for s in (0.0, 0.5, 0.8, 0.9, 0.95, 0.98)) + " |"
     if (j["frames"], j["steps"], j["model_sha256"][:8]) == (512, 64, "f290f56e") else "", "{}",
     "  | bond excess (kT, median over MD's) | 9.15 | 8.04 | 7.99 | 7.26 | 7.02 | 4.94 |\n"
     "  | angle excess (kT) | 4.14 | 3.09 | 2.17 | 1.62 | 0.73 | 0.18 |"),
    (_PF3, lambda j: "endpoints still carry {:.1f} of the {:.1f} kT".format(
        _pf_row(j, 0.95)["HarmonicBond_excess_kT"], _pf_row(j, 0.0)["HarmonicBond_excess_kT"]), "{}",
     "endpoints still carry 7.0 of the 9.2 kT"),
]


@functools.cache  # several claims read the same pair of runs
def _mean_log_w_without_clashes(run, base, above_kT):
    """The paired mean log w difference (run minus base, nats) over draws finite in both, and without those
    whose u exceeds ``above_kT`` in either; the highest such u and that draw's own share of the mean."""
    a, b = (np.load(RESULTS / d / "arrays.npz") for d in (run, base))
    ok = np.isfinite(a["log_w"]) & np.isfinite(b["log_w"])
    keep = ok & (a["u"] < above_kT) & (b["u"] < above_kT)
    diff = a["log_w"] - b["log_w"]
    worst = np.argmax(np.where(ok, a["u"], -np.inf))
    return dict(without=diff[keep].mean(), n_dropped=int(ok.sum() - keep.sum()), u_max=a["u"][worst], worst=worst,
                share=diff[worst] / ok.sum(), n_dropped_run=int((ok & (a["u"] >= above_kT)).sum()),
                n_dropped_base=int((ok & (b["u"] >= above_kT)).sum()))


_C7_CLASH = lambda j: _mean_log_w_without_clashes("aaa_1fs_cycle7_shifted_headline_n4000",  # noqa: E731
                                                  "aaa_1fs_cycle4_shifted_headline_n4000", 1e4)
# issue 13: the shipped model, the 1 fs seventh cycle, paired with the fourth under the ship rule (n = 4000, own shifts)
CLAIMS += [
    *_headline_claims(HEAD7_SHIFTED4, "| E-W2 (kT) | 486.87 | 1.62 [0.95, 2.64] | 0.19 / 0.96 |",
                      "| T-W2, 5 backbone torsions (rad) | 0.60 | 0.90 [0.89, 1.16] | 0.60 / 0.94 |",
                      "| ESS | | 95.8 of 4000 (2.40%) [1.87%, 4.02%] | |", "/ reweighted (n = 96, the ESS) |"),
    (HEAD7_SHIFTED4, lambda j: "runs; no clipping, no non-finite energy, no D residue, {} of {} draws folded (weight 0)".format(
        j["n_folded"], j["n"]) if (j["clip_quantile"], j["n_nonfinite_energy"], j["n_d_chirality"]) == (None, 0, 0) else "",
     "{}", "runs; no clipping, no non-finite energy, no D residue, 3 of 4000 draws folded (weight 0)"),
    (RULE7, lambda j: "| ESS of Pareto-smoothed weights (the rule) | {:.2f}% | **{:.2f}%** (ratio {:.2f} [{:.2f}, {:.2f}]) "
                      "|".format(
        *_paired_fields(_R7(j), "psis_ess_fraction_base", "psis_ess_fraction", "psis_ess_ratio", "psis_ess_ratio_interval_16_84"))
     if _R7(j)["n"] == 4000 and _R7(j)["psis_ess_ratio_interval_16_84"][0] > 1 else "", "{}",
     "| ESS of Pareto-smoothed weights (the rule) | 0.62% | **2.18%** (ratio 3.53 [2.26, 5.88]) |"),
    (RULE7, lambda j: "| Kish ESS | {:.2f}% | {:.2f}% (ratio {:.2f} [{:.2f}, {:.2f}]) |".format(
        *_paired_fields(_R7(j), "ess_fraction_base", "ess_fraction", "ess_ratio", "ess_ratio_interval_16_84")), "{}",
     "| Kish ESS | 0.22% | 2.40% (ratio 11.04 [4.92, 11.85]) |"),
    (RULE7, lambda j: "| median log w (nats): difference [paired bootstrap] | | +{:.2f} [{:.2f}, {:.2f}] |".format(
        *_paired_fields(_R7(j), "median_log_w_difference_nats", "median_log_w_difference_interval_16_84")), "{}",
     "| median log w (nats): difference [paired bootstrap] | | +2.90 [2.80, 3.00] |"),
    (RULE7, lambda j: "| spread of log w (half the 16-84% range, nats) | {:.1f} | {:.1f} |".format(
        *_paired_fields(_R7(j), "log_w_spread_base", "log_w_spread")), "{}",
     "| spread of log w (half the 16-84% range, nats) | 6.9 | 4.5 |"),
    (RULE7, lambda j: "| Pareto k-hat / largest normalised weight | {:.2f} / {:.2f} | {:.2f} / {:.2f} |".format(
        *_paired_fields(_R7(j), "pareto_khat_base", "max_weight_base", "pareto_khat", "max_weight")), "{}",
     "| Pareto k-hat / largest normalised weight | 0.80 / 0.31 | 0.71 / 0.07 |"),
    (NLL7, lambda j: "| test NLL, 1000 frames (nats per molecule) | {:.2f} | **{:.2f}** ({:.2f}, SE {:.2f}) |".format(
        *(j["paired_nll"]["aaa_1fs_cycle7"][k] for k in ("nll_base_nats", "nll_nats", "nll_difference_nats", "se_nats")))
     if j["paired_nll"]["aaa_1fs_cycle7"]["dir"] == "benchmarks/results/aaa_1fs_cycle7_nll" else "", "{}",
     "| test NLL, 1000 frames (nats per molecule) | -352.20 | **-353.70** (-1.51, SE 0.03) |"),
    (HEAD7_SHIFTED4, lambda j: "| median u of the draws (kT; MD {:.1f}) | {:.1f} | {:.1f} |".format(
        j["median_u_md_kT"], _json(HEAD4_SHIFTED4)["median_u_samples_kT"], j["median_u_samples_kT"]), "{}",
     "| median u of the draws (kT; MD -154.2) | -138.8 | -145.0 |"),
    ("training_ab_aaa_1fs_cycle7_shifted.json", lambda j: "Kish ESS {:.2f}% against {:.2f}%, ratio {:.2f} [{:.2f}, "
                                                          "{:.2f}]".format(
        *_paired_fields(_R7(j), "ess_fraction", "ess_fraction_base", "ess_ratio", "ess_ratio_interval_16_84"))
     if _R7(j)["n"] == 2000 else "", "{}", "Kish ESS 2.92% against 2.15%, ratio 1.36 [1.19, 1.67]"),
    (RULE7, lambda j: ("is {:.2f} nats [{:.2f}, {:.2f}]:\n  one of the seventh cycle's draws clashes at {:.1e} kT and alone "
                       "moves "
                       "it by {:.1f} nats; without\n  the draws above 1e4 kT (one on each side) the difference is +{:.2f} "
                       "nats").format(
        *_paired_fields(_R7(j), "mean_log_w_difference_nats", "mean_log_w_difference_interval_16_84"), _C7_CLASH(j)["u_max"],
        _C7_CLASH(j)["share"], _C7_CLASH(j)["without"]).replace("e+0", "e")
     if (_C7_CLASH(j)["n_dropped_run"], _C7_CLASH(j)["n_dropped_base"]) == (1, 1) else "", "{}",
     "is -0.95 nats [-5.61, 3.60]:\n  one of the seventh cycle's draws clashes at 3.0e4 kT and alone moves it by -4.3 nats; "
     "without\n  the draws above 1e4 kT (one on each side) the difference is +3.38 nats"),
    (HEAD7_SHIFTED4, lambda j: ("The T-W2 sits at its floor ({:.2f} against {:.2f} rad). The E-W2, {:.2f} kT,\n  is above the "
                                "floor "
                                "at the ESS of {} draws ({:.2f}) and above all five of the floor's draws\n  ({:.2f}-{:.2f}), "
                                "though "
                                "its interval [{:.2f}, {:.2f}] still reaches the floor").format(
        j["T_W2_rad_reweighted"], j["noise_floor_reweighted"]["T_W2_rad"], j["E_W2_kT_reweighted"],
        j["noise_floor_reweighted"]["n"], j["noise_floor_reweighted"]["E_W2_kT"],
        *_floor_draws_e(j),
        *j["bootstrap"]["E_W2_kT_reweighted_16_84"])
     if j["bootstrap"]["E_W2_kT_reweighted_16_84"][0] < j["noise_floor_reweighted"]["E_W2_kT"] else "", "{}",
     "The T-W2 sits at its floor (0.90 against 0.94 rad). The E-W2, 1.62 kT,\n  is above the floor at the ESS of 96 draws (0.96) "
     "and above all five of the floor's draws\n  (0.92-1.27), though its interval [0.95, 2.64] still reaches the floor"),
    (HEAD7_4, lambda j: "the ESS is {:.2f}%\n  and the E-W2 {:.2f} kT against a floor of {:.2f} at n = {}".format(
        100 * j["ess_fraction"], j["E_W2_kT_reweighted"], j["noise_floor_reweighted"]["E_W2_kT"],
        j["noise_floor_reweighted"]["n"]),
     "{}", "the ESS is 2.02%\n  and the E-W2 1.47 kT against a floor of 1.52 at n = 81"),
    (HEAD7_4, lambda j: ("The median u of the draws is {:.1f} kT above MD's (fourth cycle {:.1f}; no shift), the\n  raw T-W2 "
                         "{:.2f} "
                         "rad against a floor of {:.2f}, and the raw E-W2 ({:.2f} kT)").format(
        j["median_u_samples_kT"] - j["median_u_md_kT"],
        _json(HEAD4_4)["median_u_samples_kT"] - _json(HEAD4_4)["median_u_md_kT"], _json(HEAD7_SHIFTED4)["T_W2_rad"],
        _json(HEAD7_SHIFTED4)["noise_floor_raw"]["T_W2_rad"], _json(HEAD7_SHIFTED4)["E_W2_kT"]), "{}",
     "The median u of the draws is 9.2 kT above MD's (fourth cycle 15.4; no shift), the\n  raw T-W2 0.60 rad against a floor "
     "of 0.60, and the raw E-W2 (486.87 kT)"),
    ("generator_vs_md_1fs_cycle7_shifted.json", lambda j: "**Effective samples per CPU-second: {:.2f}x MD** [{:.2f}, "
                                                          "{:.2f}]".format(
        j["rows"][0]["over_best_md"], *j["generator_over_best_md_16_84"]), "{}",
     "**Effective samples per CPU-second: 0.69x MD** [0.54, 1.16]"),
    ("generator_vs_md_1fs_cycle7_shifted.json", lambda j: ("MD still wins, by about {:.1f}x, and the interval reaches 1;\n  at "
                                                           "this "
                                                           "cost per draw beating MD needs an ESS of about {:.1f}%").format(
        1 / j["rows"][0]["over_best_md"], 100 * j["ess_fraction"] / j["rows"][0]["over_best_md"])
     if j["generator_over_best_md_16_84"][1] > 1 else "", "{}",
     "MD still wins, by about 1.4x, and the interval reaches 1;\n  at this cost per draw beating MD needs an ESS of about 3.5%"),
    ("../../models/ala3_dit_report/report.json", lambda j: "T-W2 {:.2f} rad (floor {:.2f}), median u {:.1f} kT, E-W2 {:.1f} kT\n"
     "  against the fourth cycle's {:.1f}".format(
        j["T_W2_rad"], j["noise_floor_T_W2_rad"], j["median_u_model_kT"], j["E_W2_kT"],
        _json("../../checkpoints/ala3_dit_aaa_1fs_cycle4/report/report.json")["E_W2_kT"]), "{}",
     "T-W2 0.61 rad (floor 0.60), median u -144.4 kT, E-W2 43.3 kT\n  against the fourth cycle's 36.5"),
]


_C8 = lambda name: _json(name)["paired_samples"]["aaa_1fs_cycle8"]  # noqa: E731
_C8_CLASH = lambda j: _mean_log_w_without_clashes("aaa_1fs_cycle8_shifted_headline_n4000",  # noqa: E731
                                                  "aaa_1fs_cycle7_shifted_headline_n4000", 1e4)


def _c8_row(label, name, n, kind):
    """A row of the eighth cycle's table: the seventh's and the eighth's Kish or smoothed ESS and their ratio."""
    keys = {"kish": ("ess_fraction_base", "ess_fraction", "ess_ratio", "ess_ratio_interval_16_84"),
            "smoothed": ("psis_ess_fraction_base", "psis_ess_fraction", "psis_ess_ratio", "psis_ess_ratio_interval_16_84")}[kind]
    shifted = "_shifted" if "each with its own shift" in label else ""
    mine, base = (f"benchmarks/results/aaa_1fs_{c}{shifted}_headline_n{n}" for c in ("cycle8", "cycle7"))
    return (name, lambda j: "| {} | {} | {:.2f}% | {:.2f}% ({:.2f} [{:.2f}, {:.2f}]) |".format(
        label, n, *_paired_fields(_C8(name), *keys)) if (_C8(name)["n"], _C8(name)["dir"], _C8(name)["baseline_dir"]) == (
            n, mine, base) else "", "{}")


# issue 13: the eighth 1 fs cycle, paired with the shipped seventh (not shipped)
CLAIMS += [
    (*_c8_row("ESS of Pareto-smoothed weights, each with its own shift (the rule)",
              "training_ab_aaa_1fs_cycle8_shifted_n4000.json", 4000, "smoothed"),
     "| ESS of Pareto-smoothed weights, each with its own shift (the rule) | 4000 | 2.18% | 1.50% (0.69 [0.53, 1.25]) |"),
    (*_c8_row("Kish ESS, each with its own shift", "training_ab_aaa_1fs_cycle8_shifted_n4000.json", 4000, "kish"),
     "| Kish ESS, each with its own shift | 4000 | 2.40% | 1.45% (0.61 [0.38, 1.22]) |"),
    (*_c8_row("Kish ESS, no shifts", "training_ab_aaa_1fs_cycle8_n4000.json", 4000, "kish"),
     "| Kish ESS, no shifts | 4000 | 2.02% | 1.28% (0.63 [0.42, 1.16]) |"),
    (*_c8_row("Kish ESS, each with its own shift", "training_ab_aaa_1fs_cycle8_shifted.json", 2000, "kish"),
     "| Kish ESS, each with its own shift | 2000 | 2.92% | 2.08% (0.71 [0.48, 1.25]) |"),
    ("training_ab_aaa_1fs_cycle8_shifted_n4000.json", lambda j: (
        "| median log w, each with its own shift (nats) | 4000 | | +{:.2f} [{:.2f}, {:.2f}] |\n"
        "  | Pareto k-hat / largest normalised weight, with shifts | 4000 | {:.2f} / {:.2f} | {:.2f} / {:.2f} |").format(
        *_paired_fields(_C8("training_ab_aaa_1fs_cycle8_shifted_n4000.json"), "median_log_w_difference_nats",
                        "median_log_w_difference_interval_16_84", "pareto_khat_base", "max_weight_base", "pareto_khat",
                        "max_weight"))
     if (_C8("training_ab_aaa_1fs_cycle8_shifted_n4000.json")["dir"], _C8("training_ab_aaa_1fs_cycle8_shifted_n4000.json")["n"])
     == ("benchmarks/results/aaa_1fs_cycle8_shifted_headline_n4000", 4000) else "", "{}",
     "| median log w, each with its own shift (nats) | 4000 | | +0.28 [0.24, 0.32] |\n"
     "  | Pareto k-hat / largest normalised weight, with shifts | 4000 | 0.71 / 0.07 | 0.76 / 0.10 |"),
    ("training_ab_aaa_1fs_cycle8.json", lambda j: "| test NLL, 1000 frames (nats per molecule) | | {:.2f} | {:.2f} ({:.2f}, "
     "SE {:.2f}) |".format(
        *(j["paired_nll"]["aaa_1fs_cycle8"][k] for k in ("nll_base_nats", "nll_nats", "nll_difference_nats", "se_nats")))
     if (j["paired_nll"]["aaa_1fs_cycle8"]["frames"], j["paired_nll"]["aaa_1fs_cycle8"]["dir"]) == (
         1000, "benchmarks/results/aaa_1fs_cycle8_nll")
     and j["paired_nll"]["aaa_1fs_cycle8"]["nll_base_nats"] == _json(NLL7)["paired_nll"]["aaa_1fs_cycle7"]["nll_nats"]
     else "", "{}",
     "| test NLL, 1000 frames (nats per molecule) | | -353.70 | -353.90 (-0.19, SE 0.01) |"),
    ("training_ab_aaa_1fs_cycle8_shifted_n4000.json", lambda j: (
        "The mean log w, {:.1f} nats [{:.1f}, {:.1f}], is set by one draw that clashes\n  in both models ({:.1e} kT in the "
        "eighth, {:.1e} kT in the seventh); without it the difference is\n  +{:.2f} nats").format(
        *_paired_fields(_C8("training_ab_aaa_1fs_cycle8_shifted_n4000.json"), "mean_log_w_difference_nats",
                        "mean_log_w_difference_interval_16_84"), _C8_CLASH(j)["u_max"],
        float(np.load(RESULTS / "aaa_1fs_cycle7_shifted_headline_n4000/arrays.npz")["u"][_C8_CLASH(j)["worst"]]),
        _C8_CLASH(j)["without"]).replace("e+0", "e")
     if (_C8_CLASH(j)["n_dropped_run"], _C8_CLASH(j)["n_dropped_base"], _C8_CLASH(j)["n_dropped"]) == (1, 1, 1) else "", "{}",
     "The mean log w, -4.8 nats [-11.3, 1.6], is set by one draw that clashes\n  in both models (5.6e4 kT in the eighth, "
     "3.0e4 kT in the seventh); without it the difference is\n  +1.50 nats"),
    ("aaa_1fs_cycle8_shifted_headline_n4000/results.json", lambda j: (
        "With its shift its reweighted E-W2 is {:.2f} kT (MD floor at its ESS, n = {}: {:.2f})\n  and T-W2 {:.2f} rad (floor "
        "{:.2f})").format(j["E_W2_kT_reweighted"], j["noise_floor_reweighted"]["n"], j["noise_floor_reweighted"]["E_W2_kT"],
                          j["T_W2_rad_reweighted"], j["noise_floor_reweighted"]["T_W2_rad"])
     if j["noise_floor_reweighted"]["n"] == round(j["ess"]) and j["bond_shift"]["path"].startswith(
         "checkpoints/ala3_dit_aaa_1fs_cycle8/") else "", "{}",
     "With its shift its reweighted E-W2 is 2.15 kT (MD floor at its ESS, n = 58: 1.20)\n  and T-W2 1.00 rad (floor 1.02)"),
    ("training_ab_aaa_1fs_cycle8_shifted_n4000.json", lambda j: (
        "its smoothed ESS is {:.2f}x [{:.2f}, {:.2f}] the seventh's at n = 4000,\neach with its own shift, and its test NLL "
        "gained {:.2f} nats").format(*_paired_fields(_C8("training_ab_aaa_1fs_cycle8_shifted_n4000.json"), "psis_ess_ratio",
                                                     "psis_ess_ratio_interval_16_84"),
                                     -_json("training_ab_aaa_1fs_cycle8.json")["paired_nll"]["aaa_1fs_cycle8"]["nll_difference_nats"])
     if _C8("training_ab_aaa_1fs_cycle8_shifted_n4000.json")["psis_ess_ratio_interval_16_84"][0] < 1 else "", "{}",
     "its smoothed ESS is 0.69x [0.53, 1.25] the seventh's at n = 4000,\neach with its own shift, and its test NLL gained "
     "0.19 nats"),
]


# the eighth and ninth cycles' likelihood checks, from their CSV logs (README, "The 1 fs retrain (issue 11): shipped")
CLAIMS += [
    ("training_ab_aaa_1fs_cycle8.json", lambda j: ("(likelihood checks {:.1f} and\n{:.1f} nats at steps 3,851 and 7,703 "
                                                   "against the seventh's {:.1f} and {:.1f})").format(
        *(float(_run_checks(run)[step]["val/nll_nats"]) for run in ("ala3_dit_aaa_1fs_cycle8", "ala3_dit_aaa_1fs_cycle7")
          for step in (3851, 7703))), "{}",
     "(likelihood checks -350.7 and\n-351.9 nats at steps 3,851 and 7,703 against the seventh's -350.3 and -351.8)"),
    ("training_ab_aaa_1fs_cycle8.json", lambda j: ("(likelihood checks {:.1f} and {:.1f} nats at steps\n3,851 and 7,703 "
                                                   "against the eighth's {:.1f} and {:.1f}").format(
        *(float(_run_checks(run)[step]["val/nll_nats"]) for run in ("ala3_dit_aaa_1fs_cycle9", "ala3_dit_aaa_1fs_cycle8")
          for step in (3851, 7703))), "{}",
     "(likelihood checks -351.0 and -352.3 nats at steps\n3,851 and 7,703 against the eighth's -350.7 and -351.9"),
]


# issue 13: the 1 fs fourth cycle (shipped until the seventh), and its pairing with the third
_C4 = lambda j: j["paired_samples"]["cycle4"]  # noqa: E731
_C4NLL = lambda j: j["paired_nll"]["cycle4"]  # noqa: E731
_PF4 = "partial_flow_1fs_cycle4.json"
CLAIMS += [
    *_headline_claims(HEAD_SHIPPED, "| E-W2 (kT) | 293.11 | 2.01 [1.55, 3.48] | 0.29 / 1.94 |",
                      "| T-W2, 5 backbone torsions (rad) | 0.64 | 1.35 [1.28, 1.58] | 0.60 / 1.35 |",
                      "| ESS | | 26.1 of 2000 (1.31%) [1.13%, 1.85%] | |",
                      "(n = 26, the ESS) |"),
    (HEAD_SHIPPED, lambda j: "model's headlines, the 60 ns test set, floors from the 1 fs val and train runs; no clipping, no\n"
     "non-finite energy, no D residue, {} draw folded (weight 0)".format(j["n_folded"])
     if (j["clip_quantile"], j["n_nonfinite_energy"], j["n_d_chirality"], j["md_test_frames"]) == (None, 0, 0, 60_000)
     else "", "{}",
     "model's headlines, the 60 ns test set, floors from the 1 fs val and train runs; no clipping, no\n"
     "non-finite energy, no D residue, 1 draw folded (weight 0)"),
    *_paired_table_claims(CYCLE4_AB, "cycle4", "| ESS | 0.83% | **1.31%** (ratio 1.57 [1.39, 1.82]) |",
                          "| median log w (nats): difference [paired bootstrap] | | +1.28 [1.21, 1.43] |",
                          "| spread of log w (half the 16-84% range, nats) | 8.5 | 7.1 |",
                          "| Pareto k-hat / largest normalised weight | 0.93 / 0.15 | 0.88 / 0.12 |",
                          "| test NLL, 1000 frames (nats per molecule) | -351.81 | **-352.20** (-0.39, SE 0.01) |"),
    (HEAD_SHIPPED, lambda j: "| median u of the draws (kT; MD {:.1f}) | {:.1f} | {:.1f} |".format(
        j["median_u_md_kT"], _json(HEAD_C3)["median_u_samples_kT"], j["median_u_samples_kT"]), "{}",
     "| median u of the draws (kT; MD -154.2) | -136.3 | -139.0 |"),
    (CYCLE4_AB, lambda j: "(third over second {:.2f}x, fourth over third {:.2f}x)".format(
        _C3(_json(CYCLE3_AB))["ess_ratio"], _C4(j)["ess_ratio"]), "{}", "(third over second 1.73x, fourth over third 1.57x)"),
    (CYCLE4_AB, lambda j: "(spread {:.1f} against {:.1f} nats) and the top of its tail is lighter (k-hat {:.2f}".format(
        _C4(j)["log_w_spread"], _C4(j)["log_w_spread_base"], _C4(j)["pareto_khat"])
     if _C4(j)["pareto_khat"] < _C4(j)["pareto_khat_base"] and _C4(j)["pareto_khat"] > 0.7 else "", "{}",
     "(spread 7.1 against 8.5 nats) and the top of its tail is lighter (k-hat 0.88"),
    (CYCLE4_AB, lambda j: "(-{:.2f} against -{:.2f} nats)".format(
        -_C4NLL(j)["nll_difference_nats"], -_json(CYCLE3_AB)["paired_nll"]["cycle3"]["nll_difference_nats"]), "{}",
     "(-0.39 against -1.14 nats)"),
    (HEAD_SHIPPED, lambda j: ("at the ESS of {:.0f} draws (E-W2 {:.2f} kT against {:.2f},\n  "
                              "T-W2 {:.2f} rad against {:.2f})").format(
        j["noise_floor_reweighted"]["n"], j["E_W2_kT_reweighted"], j["noise_floor_reweighted"]["E_W2_kT"],
        j["T_W2_rad_reweighted"], j["noise_floor_reweighted"]["T_W2_rad"]), "{}",
     "at the ESS of 26 draws (E-W2 2.01 kT against 1.94,\n  T-W2 1.35 rad against 1.35)"),
    (HEAD_SHIPPED, lambda j: "The raw E-W2 falls to {:.2f} kT from\n  {:.2f}".format(j["E_W2_kT"], _json(HEAD_C3)["E_W2_kT"]),
     "{}", "The raw E-W2 falls to 293.11 kT from\n  4557570.81"),
    (HEAD_SHIPPED, lambda j: "({} of 2000 above 1000 kT against {}; the highest at {:.0f} kT\n  against {:.0e}".format(
        *(int((np.load(RESULTS / f"{d}/arrays.npz")["u"] > 1000).sum()) for d in (
            "aaa_1fs_cycle4_headline_n2000", "aaa_1fs_cycle3_headline_n2000")),
        *(float(np.nanmax(np.where(np.isfinite(u := np.load(RESULTS / f"{d}/arrays.npz")["u"]), u, np.nan))) for d in (
            "aaa_1fs_cycle4_headline_n2000", "aaa_1fs_cycle3_headline_n2000"))).replace("e+0", "e"), "{}",
     "(2 of 2000 above 1000 kT against 5; the highest at 12786 kT\n  against 2e8"),
    (HEAD_SHIPPED, lambda j: "the raw T-W2 moves\n  from {:.2f} to {:.2f} rad (floor {:.2f})".format(
        _json(HEAD_C3)["T_W2_rad"], j["T_W2_rad"], j["noise_floor_raw"]["T_W2_rad"]), "{}",
     "the raw T-W2 moves\n  from 0.66 to 0.64 rad (floor 0.60)"),
    ("energy_terms_1fs_cycle4.json", lambda j: ("bond excess is {:.1f} kT (third cycle {:.1f}) and the angle excess "
                                                "{:.1f} kT ({:.1f})").format(
        _term(j, "HarmonicBondForce")["median_excess_kT"],
        _term(_json("energy_terms_1fs_cycle3.json"), "HarmonicBondForce")["median_excess_kT"],
        _term(j, "HarmonicAngleForce")["median_excess_kT"],
        _term(_json("energy_terms_1fs_cycle3.json"), "HarmonicAngleForce")["median_excess_kT"]), "{}",
     "bond excess is 8.3 kT (third cycle 9.8) and the angle excess 4.3 kT (5.0)"),
    (_PF4, lambda j: "at s = 0.95 the fourth cycle's flow leaves {:.1f} kT of bond excess against the third's {:.1f}".format(
        _pf_row(j, 0.95)["HarmonicBond_excess_kT"], _pf_row(_json(_PF3), 0.95)["HarmonicBond_excess_kT"])
     if (j["frames"], j["steps"], j["model_sha256"][:8]) == (512, 64, "ead61441") else "", "{}",
     "at s = 0.95 the fourth cycle's flow leaves 5.9 kT of bond excess against the third's 7.0"),
    (VS_HMR, lambda j: ("ESS\n  {:.2f}x [{:.2f}, {:.2f}], the median log w +{:.2f} nats [{:.2f}, {:.2f}], k-hat {:.2f} "
                        "against {:.2f}").format(
        *_paired_fields(_C4(j), "ess_ratio", "ess_ratio_interval_16_84", "median_log_w_difference_nats",
                        "median_log_w_difference_interval_16_84", "pareto_khat", "pareto_khat_base")), "{}",
     "ESS\n  0.88x [0.69, 1.26], the median log w +3.42 nats [3.21, 3.65], k-hat 0.88 against 1.04"),
    (CYCLE4_AB, lambda j: ("likelihood checks {:.1f} and {:.1f} nats at steps 3,851 and 7,703 against {:.1f}\n  "
                           "and {:.1f}, last validation flow-matching loss {:.4f} against {:.4f}").format(
        *(float(_val_checks(*_CYCLES)[(c, step)]["val/nll_nats"]) for c in ("fourth cycle", "third cycle")
          for step in (3851, 7703)), _val_fm("ala3_dit_aaa_1fs_cycle4")[1], _val_fm("ala3_dit_aaa_1fs_cycle3")[1]), "{}",
     "likelihood checks -346.9 and -349.6 nats at steps 3,851 and 7,703 against -345.7\n  and -348.9, last validation "
     "flow-matching loss 0.2096 against 0.2107"),
    ("../../checkpoints/ala3_dit_aaa_1fs_cycle4/report/report.json", lambda j: "T-W2 {:.2f} rad (floor {:.2f}), median u {:.1f} "
                                                                               "kT, "
     "E-W2 {:.1f} kT\n  against the third cycle's {:.1f}".format(
        j["T_W2_rad"], j["noise_floor_T_W2_rad"], j["median_u_model_kT"], j["E_W2_kT"],
        _json("../../checkpoints/ala3_dit_aaa_1fs_cycle3/report/report.json")["E_W2_kT"]), "{}",
     "T-W2 0.63 rad (floor 0.60), median u -138.6 kT, E-W2 36.5 kT\n  against the third cycle's 49.7"),
    (CYCLE4_AB, lambda j: "ESS **{:.2f}%** against {:.2f}% (ratio {:.2f} [{:.2f}, {:.2f}]), the median log w +{:.2f} nats, "
     "test NLL\n  {:.2f} nats (SE {:.2f})".format(*_paired_fields(
         _C4(j), "ess_fraction", "ess_fraction_base", "ess_ratio", "ess_ratio_interval_16_84",
         "median_log_w_difference_nats"), _C4NLL(j)["nll_difference_nats"], _C4NLL(j)["se_nats"]), "{}",
     "ESS **1.31%** against 0.83% (ratio 1.57 [1.39, 1.82]), the median log w +1.28 nats, test NLL\n  -0.39 nats (SE 0.01)"),
]


# issue 13: bond features against the fourth cycle (same warm start, data, seed and schedule)
_BONDS = "training_ab_1fs_bonds.json"
CLAIMS += [
    ("partial_flow_1fs_cycle3_rk4_256.json", lambda j: ("the bond excess is {:.1f}, {:.1f}, {:.1f} and\n  {:.1f} kT at s = 0, "
     "0.9, 0.95 and 0.98").format(*(_pf_row(j, s)["HarmonicBond_excess_kT"] for s in (0.0, 0.9, 0.95, 0.98)))
     if (j["frames"], j["steps"], j["model_sha256"]) == (512, 256, _json(_PF3)["model_sha256"]) else "", "{}",
     "the bond excess is 10.4, 8.5, 8.1 and\n  6.4 kT at s = 0, 0.9, 0.95 and 0.98"),
    ("partial_flow_1fs_cycle3_rk4_256.json", lambda j: "from s = 0.95 the endpoints carry {:.1f} of {:.1f} kT".format(
        _pf_row(j, 0.95)["HarmonicBond_excess_kT"], _pf_row(j, 0.0)["HarmonicBond_excess_kT"]), "{}",
     "from s = 0.95 the endpoints carry 8.1 of 10.4 kT"),
    ("generator_vs_md_1fs_cycle4.json", lambda j: "**Effective samples per CPU-second: {:.2f}x MD** [{:.2f}, {:.2f}]".format(
        j["rows"][0]["over_best_md"], *j["generator_over_best_md_16_84"])
     if j["run"] == "benchmarks/results/aaa_1fs_cycle4_headline_n2000" and j["n_run"] == 2000 else "", "{}",
     "**Effective samples per CPU-second: 0.34x MD** [0.29, 0.48]"),
    ("generator_vs_md_1fs_cycle4.json", lambda j: ("{:.2f} CPU-s per draw at an ESS of {:.2f}% against the protocol's\n  "
                                                   "1 fs MD at {:.0f} ns per CPU-day with tau {:.0f} ps for the slowest "
                                                   "torsion (third cycle: {:.2f}x). MD\n  still wins, by about {:.1f}x; "
                                                   "beating it at this cost per draw needs an ESS of about {:.0f}%").format(
        j["rows"][0]["cpu_s_per_draw_or_ps"], 100 * j["ess_fraction"], 86400 / j["rows"][1]["cpu_s_per_draw_or_ps"] / 1000,
        j["rows"][1]["tau_ps"], _json("generator_vs_md_1fs_cycle3.json")["rows"][0]["over_best_md"],
        1 / j["rows"][0]["over_best_md"], 100 * j["ess_fraction"] / j["rows"][0]["over_best_md"]), "{}",
     "1.50 CPU-s per draw at an ESS of 1.31% against the protocol's\n  1 fs MD at 241 ns per CPU-day with tau 108 ps "
     "for the slowest torsion (third cycle: 0.22x). MD\n  still wins, by about 3.0x; beating it at this cost per draw "
     "needs an ESS of about 4%"),
    (_BONDS, lambda j: ("(likelihood checks {:.1f} and {:.1f} nats at steps 3,851 and\n7,703 against the fourth cycle's "
                        "{:.1f} and {:.1f}").format(
        *(float(_val_checks(*_CYCLES[:4], "ala3_dit_aaa_1fs_cycle5")[(c, step)]["val/nll_nats"])
          for c in ("fifth cycle", "fourth cycle") for step in (3851, 7703))), "{}",
     "(likelihood checks -347.8 and -350.2 nats at steps 3,851 and\n7,703 against the fourth cycle's -346.9 and -349.6"),
    (_BONDS, lambda j: "Its likelihood checks {:.1f} and {:.1f} nats against the fourth cycle's {:.1f} and {:.1f}".format(
        *(j["runs"]["checkpoints/" + run]["checks"][step]["val/nll_nats"]
          for run in ("ala3_dit_aaa_1fs_bonds", "ala3_dit_aaa_1fs_cycle4") for step in ("3851", "7703"))), "{}",
     "Its likelihood checks -347.1 and -349.4 nats against the fourth cycle's -346.9 and -349.6"),
    (_BONDS, lambda j: "**{:.2f} nats per molecule** (SE\n  {:.2f}), a quarter of what the fourth cycle gained".format(
        j["paired_nll"]["bonds"]["nll_difference_nats"], j["paired_nll"]["bonds"]["se_nats"])
     if j["paired_nll"]["bonds"]["frames"] == 1000 and 0.2 < j["paired_nll"]["bonds"]["nll_difference_nats"]
     / _json(CYCLE4_AB)["paired_nll"]["cycle4"]["nll_difference_nats"] < 0.3 else "", "{}",
     "**-0.10 nats per molecule** (SE\n  0.01), a quarter of what the fourth cycle gained"),
    ("partial_flow_1fs_bonds.json", lambda j: "leaves {:.2f} and {:.2f} kT against the fourth cycle's {:.2f}\n  "
     "and {:.2f}".format(
        _pf_row(j, 0.0)["HarmonicBond_excess_kT"], _pf_row(j, 0.95)["HarmonicBond_excess_kT"],
        _pf_row(_json(_PF4), 0.0)["HarmonicBond_excess_kT"], _pf_row(_json(_PF4), 0.95)["HarmonicBond_excess_kT"])
     if (j["frames"], j["steps"], j["seed"]) == (_json(_PF4)["frames"], _json(_PF4)["steps"], _json(_PF4)["seed"])
     and j["model_sha256"] == hashlib.sha256((ROOT / "checkpoints/ala3_dit_aaa_1fs_bonds/ala3_dit.pt").read_bytes()).hexdigest()
     else "",
     "{}", "leaves 7.62 and 5.94 kT against the fourth cycle's 7.45\n  and 5.89"),
]


# The fifth 1 fs cycle (README, "The levers, measured"): paired with the shipped fourth on its noise and frames, not shipped.
CYCLE5_AB, HEAD_C5 = "training_ab_1fs_cycle5.json", "aaa_1fs_cycle5_headline_n2000/results.json"
_C5 = lambda j: j["paired_samples"]["cycle5"]  # noqa: E731
_C5NLL = lambda j: j["paired_nll"]["cycle5"]  # noqa: E731


def _top_two_weight(run: str) -> float:
    """The normalised weight the two heaviest of a headline's draws carry (its arrays.npz)."""
    w = np.load(RESULTS / run / "arrays.npz")["weights"]
    return float(np.sort(w)[-2:].sum())


CLAIMS += [
    (CYCLE5_AB, lambda j: "| ESS | {:.2f}% | {:.2f}% (ratio {:.2f} [{:.2f}, {:.2f}]) |".format(*_paired_fields(
        _C5(j), "ess_fraction_base", "ess_fraction", "ess_ratio", "ess_ratio_interval_16_84"))
     if (_C5(j)["n"], _C5(j)["baseline_dir"]) == (2000, "benchmarks/results/aaa_1fs_cycle4_headline_n2000")
     and _C5(j)["ess_ratio_interval_16_84"][1] < 1 else "", "{}",
     "| ESS | 1.31% | 1.10% (ratio 0.84 [0.79, 0.98]) |"),
    (CYCLE5_AB, lambda j: "| ESS of Pareto-smoothed weights | {:.2f}% | {:.2f}% |".format(
        *_paired_fields(_C5(j), "psis_ess_fraction_base", "psis_ess_fraction")), "{}",
     "| ESS of Pareto-smoothed weights | 1.38% | 1.26% |"),
    (CYCLE5_AB, lambda j: "| | +{:.2f} [{:.2f}, {:.2f}] |".format(*_paired_fields(
        _C5(j), "median_log_w_difference_nats", "median_log_w_difference_interval_16_84")), "{}",
     "| median log w (nats): difference [paired bootstrap] | | +0.85 [0.71, 0.93] |"),
    (CYCLE5_AB, lambda j: "| {:.1f} | {:.1f} |".format(*_paired_fields(_C5(j), "log_w_spread_base", "log_w_spread")),
     "{}", "| spread of log w (half the 16-84% range, nats) | 7.1 | 6.3 |"),
    (CYCLE5_AB, lambda j: "| {:.2f} / {:.2f} | {:.2f} / {:.2f} |".format(*_paired_fields(
        _C5(j), "pareto_khat_base", "max_weight_base", "pareto_khat", "max_weight")), "{}",
     "| Pareto k-hat / largest normalised weight | 0.88 / 0.12 | 0.84 / 0.15 |"),
    (CYCLE5_AB, lambda j: "| {:.2f} | {:.2f} ({:.2f}, SE {:.2f}) |".format(
        *(_C5NLL(j)[k] for k in ("nll_base_nats", "nll_nats", "nll_difference_nats", "se_nats")))
     if (_C5NLL(j)["frames"], _C5NLL(j)["frames_nonfinite"]) == (1000, 0) else "", "{}",
     "| test NLL, 1000 frames (nats per molecule) | -352.20 | -352.66 (-0.47, SE 0.01) |"),
    (CYCLE5_AB, lambda j: "(NLL {:.2f} against\n  {:.2f} nats, median log w +{:.2f} against +{:.2f})".format(
        _C5NLL(j)["nll_difference_nats"], _json(CYCLE4_AB)["paired_nll"]["cycle4"]["nll_difference_nats"],
        _C5(j)["median_log_w_difference_nats"], _C4(_json(CYCLE4_AB))["median_log_w_difference_nats"]), "{}",
     "(NLL -0.47 against\n  -0.39 nats, median log w +0.85 against +1.28)"),
    (CYCLE5_AB, lambda j: "the two heaviest draws carry\n  {:.2f} of the weight (fourth cycle: {:.2f})".format(
        _top_two_weight("aaa_1fs_cycle5_headline_n2000"), _top_two_weight("aaa_1fs_cycle4_headline_n2000")), "{}",
     "the two heaviest draws carry\n  0.27 of the weight (fourth cycle: 0.22)"),
    (HEAD_C5, lambda j: ("Its reweighted E-W2\n  {:.2f} kT and T-W2 {:.2f} rad rest on {:.0f} draws (MD floor at n = {}: "
                         "{:.2f} kT, {:.2f} rad)").format(
        j["E_W2_kT_reweighted"], j["T_W2_rad_reweighted"], j["ess"], j["noise_floor_reweighted"]["n"],
        j["noise_floor_reweighted"]["E_W2_kT"], j["noise_floor_reweighted"]["T_W2_rad"])
     if j["clip_quantile"] is None else "", "{}",
     "Its reweighted E-W2\n  1.76 kT and T-W2 1.39 rad rest on 22 draws (MD floor at n = 22: 2.22 kT, 1.28 rad)"),
    (HEAD_C5, lambda j: "its raw E-W2 ({:.2f} kT) is set by one clashing draw at {:.0e} kT".format(
        j["E_W2_kT"], np.nanmax(np.load(RESULTS / "aaa_1fs_cycle5_headline_n2000/arrays.npz")["u"])).replace("e+0", "e"),
     "{}",
     "its raw E-W2 (9705.52 kT) is set by one clashing draw at 4e5 kT"),
    (CYCLE5_AB, lambda j: ("likelihood\n  checks {:.1f} and {:.1f} nats at steps 3,851 and 7,703 against {:.1f} and "
                           "{:.1f}, last\n  validation flow-matching loss {:.4f} against {:.4f}").format(
        *(float(_val_checks(*_CYCLES[:4], "ala3_dit_aaa_1fs_cycle5")[(c, step)]["val/nll_nats"])
          for c in ("fifth cycle", "fourth cycle") for step in (3851, 7703)),
        *(j["runs"]["checkpoints/" + r]["last_val_fm_loss"][1] for r in ("ala3_dit_aaa_1fs_cycle5", "ala3_dit_aaa_1fs_cycle4"))),
     "{}", "likelihood\n  checks -347.8 and -350.2 nats at steps 3,851 and 7,703 against -346.9 and -349.6, last\n"
     "  validation flow-matching loss 0.2087 against 0.2096"),
]


# t ~ Beta(2, 1) on the 1 fs line, paired with the fifth cycle; the bond-length shift (README, "The levers, measured")
TIME2_AB, BOND_SHIFT = "training_ab_1fs_time2.json", "bond_shift_1fs.json"
_T2 = lambda j: j["paired_samples"]["time2"]  # noqa: E731


def _shift_row(j, run):
    row = next(r for r in j["runs"] if r["run"] == f"benchmarks/results/{run}")
    return ("| {:.2f}% | {:.2f}% ({:.2f} [{:.2f}, {:.2f}]) | {:.2f} -> {:.2f} | {:.2f}% -> {:.2f}% |".format(
        100 * row["ess_fraction_before"], 100 * row["ess_fraction_after"], row["ess_ratio"], *row["ess_ratio_interval_16_84"],
        row["pareto_khat_before"], row["pareto_khat_after"], 100 * row["psis_ess_fraction_before"],
        100 * row["psis_ess_fraction_after"]) if row["n"] == 2000 else "")


CLAIMS += [
    (TIME2_AB, lambda j: ("test NLL **{:.2f} nats** (SE {:.2f}; {:.2f}\n  against {:.2f}), the median log w **+{:.2f} nats** "
                          "[{:.2f}, {:.2f}], the spread of log w {:.1f} against\n  {:.1f} nats, but ESS **{:.2f}%** against "
                          "{:.2f}% (ratio {:.2f} [{:.2f}, {:.2f}]; largest normalised weight\n  {:.2f} against {:.2f}, "
                          "k-hat {:.2f} against {:.2f})").format(
        *(j["paired_nll"]["time2"][k] for k in ("nll_difference_nats", "se_nats", "nll_nats", "nll_base_nats")),
        *_paired_fields(_T2(j), "median_log_w_difference_nats", "median_log_w_difference_interval_16_84", "log_w_spread",
                        "log_w_spread_base", "ess_fraction", "ess_fraction_base", "ess_ratio", "ess_ratio_interval_16_84",
                        "max_weight", "max_weight_base", "pareto_khat", "pareto_khat_base"))
     if (_T2(j)["n"], _T2(j)["baseline_dir"], j["paired_nll"]["time2"]["frames"])
     == (2000, "benchmarks/results/aaa_1fs_cycle5_headline_n2000", 1000) else "", "{}",
     "test NLL **-0.43 nats** (SE 0.01; -353.09\n  against -352.66), the median log w **+1.06 nats** [0.97, 1.14], "
     "the spread of log w 5.5 against\n  6.3 nats, but ESS **0.79%** against 1.10% (ratio 0.72 [0.62, 1.10]; largest "
     "normalised weight\n  0.21 against 0.15, k-hat 0.91 against 0.84)"),
    (TIME2_AB, lambda j: ("likelihood checks {:.1f} and {:.1f} nats at steps 3,851\n  and 7,703 against its warm start's "
                          "{:.1f} and {:.1f}, last validation flow-matching loss {:.4f}").format(
        *(float(_run_checks(run)[step]["val/nll_nats"])
          for run in ("ala3_dit_aaa_1fs_cycle6", "ala3_dit_aaa_1fs_time2") for step in (3851, 7703)),
        _last_val_fm_loss("ala3_dit_aaa_1fs_cycle6")), "{}",
     "likelihood checks -349.8 and -351.5 nats at steps 3,851\n  and 7,703 against its warm start's -349.1 and -350.8, last "
     "validation flow-matching loss 0.2084"),
    ("training_ab_1fs_cycle6_nll.json", lambda j: ("Its test NLL on the 1000 frames is {:.2f} nats, {:.2f} (SE {:.2f}) "
                                                   "better than the shipped model's\n  frame by frame and {:.2f} better "
                                                   "than its warm start's").format(
        j["paired_nll"]["cycle6"]["nll_nats"], -j["paired_nll"]["cycle6"]["nll_difference_nats"],
        j["paired_nll"]["cycle6"]["se_nats"],
        j["paired_nll"]["time2"]["nll_difference_nats"] - j["paired_nll"]["cycle6"]["nll_difference_nats"])
     if j["paired_nll"]["cycle6"]["frames"] == 1000 and j["paired_nll"]["cycle6"]["baseline"] == "shipped" else "", "{}",
     "Its test NLL on the 1000 frames is -353.44 nats, 1.25 (SE 0.03) better than the shipped model's\n  frame by frame "
     "and 0.36 better than its warm start's"),
    (BOND_SHIFT, lambda j: _shift_row(j, "aaa_1fs_cycle4_headline_n2000"), "{}",
     "| fourth cycle (shipped) | 1.31% | 2.19% (1.68 [1.36, 1.83]) | 0.88 -> 1.08 | 1.38% -> 1.83% |"),
    (BOND_SHIFT, lambda j: _shift_row(j, "aaa_1fs_cycle5_headline_n2000"), "{}",
     "| fifth cycle | 1.10% | 2.18% (1.99 [1.53, 2.16]) | 0.84 -> 0.84 | 1.26% -> 1.96% |"),
    (BOND_SHIFT, lambda j: _shift_row(j, "aaa_1fs_time2_headline_n2000"), "{}",
     "| fifth cycle, t ~ Beta(2, 1) | 0.79% | 1.44% (1.83 [0.93, 2.08]) | 0.91 -> 0.98 | 0.85% -> 1.44% |"),
    (BOND_SHIFT, lambda j: _shift_row(j, "aaa_1fs_cycle3_headline_n2000"), "{}",
     "| third cycle | 0.83% | 1.38% (1.67 [1.39, 1.91]) | 0.93 -> 1.02 | 0.94% -> 1.26% |"),
    (BOND_SHIFT, lambda j: _shift_row(j, "aaa_1fs_cycle2_headline_n2000"), "{}",
     "| second cycle | 0.48% | 0.51% (1.07 [0.90, 1.22]) | 1.18 -> 1.36 | 0.41% -> 0.44% |"),
    (BOND_SHIFT, lambda j: "sit up to {:.1f}-{:.1f}\n  pm off".format(
        1000 * min(max(r["max_abs_shift_nm"]) for r in j["runs"]), 1000 * max(max(r["max_abs_shift_nm"]) for r in j["runs"])),
     "{}", "sit up to 0.5-0.8\n  pm off"),
    (BOND_SHIFT, lambda j: ("raises the point ESS of every model from the third cycle on by {:.1f}-{:.1f}x, and the\n  "
                            "paired interval excludes 1 for {} of the four").format(
        min(r["ess_ratio"] for r in _from_third(j)), max(r["ess_ratio"] for r in _from_third(j)),
        {3: "three"}.get(sum(r["ess_ratio_interval_16_84"][0] > 1 for r in _from_third(j)), "?")), "{}",
     "raises the point ESS of every model from the third cycle on by 1.7-2.0x, and the\n  paired interval excludes 1 for "
     "three of the four"),
    (BOND_SHIFT, lambda j: "the median log w\n  and the median u move by less than 0.1 nat or kT, and for {} of the four k-hat "
     "rises above 1".format({2: "two"}.get(sum(r["pareto_khat_after"] > 1 for r in _from_third(j)), "?"))
     if all(abs(r["median_log_w_after"] - r["median_log_w_before"]) < 0.1
            and abs(r["median_u_after_kT"] - r["median_u_before_kT"]) < 0.1 for r in _from_third(j)) else "", "{}",
     "the median log w\n  and the median u move by less than 0.1 nat or kT, and for two of the four k-hat rises above 1"),
    (BOND_SHIFT, lambda j: "bonds whose lengths fluctuate by {:.1f}-{:.1f} pm in MD".format(
        *(1000 * v for v in j["runs"][0]["md_bond_length_std_nm_range"])), "{}",
     "bonds whose lengths fluctuate by 2.2-3.1 pm in MD"),
    (BOND_SHIFT, lambda j: "(the models' bonds are on average {:.2f}-{:.2f} pm shorter than MD's)".format(
        1000 * min(min(r["mean_shift_nm"]) for r in j["runs"]), 1000 * max(max(r["mean_shift_nm"]) for r in j["runs"]))
     if all(min(r["mean_shift_nm"]) > 0 for r in j["runs"]) else "", "{}",
     "(the models' bonds are on average 0.21-0.33 pm shorter than MD's)"),
    (BOND_SHIFT, lambda j: "shifts correlate only {:.2f}-{:.2f} over the bonds".format(
        min(r["shift_halves_correlation"] for r in j["runs"]), max(r["shift_halves_correlation"] for r in j["runs"])),
     "{}",
     "shifts correlate only 0.07-0.38 over the bonds"),
    ("bond_shift_1fs_common.json", lambda j: ("raises the point ESS only {:.2f}-{:.2f}x, and {} of the five\n  intervals "
                                              "reach below 1 (the third cycle's starts at {:.2f})").format(
        min(r["ess_ratio"] for r in j["runs"]), max(r["ess_ratio"] for r in j["runs"]),
        {4: "four"}.get(sum(r["ess_ratio_interval_16_84"][0] < 1 for r in j["runs"]), "?"),
        next(r for r in j["runs"] if "cycle3" in r["run"])["ess_ratio_interval_16_84"][0])
     if all(r["map"] == "common" for r in j["runs"]) and len(j["runs"]) == 5 else "", "{}",
     "raises the point ESS only 1.17-1.57x, and four of the five\n  intervals reach below 1 (the third cycle's starts at 1.00)"),
]


def _last_val_fm_loss(run: str) -> float:
    """The last validation flow-matching loss in a run's CSV logs (checkpoints/<run>/csv)."""
    import csv
    rows = [r for f in sorted((ROOT / "checkpoints" / run / "csv").glob("version_*/metrics.csv"))
            for r in csv.DictReader(f.open()) if r.get("val/fm_loss")]
    return float(max(rows, key=lambda r: int(r["step"]))["val/fm_loss"])


def _from_third(j):
    """bond_shift_1fs.json's rows of the models from the third 1 fs cycle on, by run name."""
    names = ("aaa_1fs_cycle3", "aaa_1fs_cycle4", "aaa_1fs_cycle5", "aaa_1fs_time2")
    rows = [r for r in j["runs"] if any(r["run"] == f"benchmarks/results/{n}_headline_n2000" for n in names)]
    assert len(rows) == 4, [r["run"] for r in j["runs"]]
    return rows


# The bond shift as a sampler option (README, "The levers, measured"): the shipped model's own shift,
# fitted on seed 1, judged on the headline's seed-0 draws.
SHIFT_AB, SHIFT_FIXED = "bond_shift_ab_cycle4.json", "bond_shift_fixed_cycle4.json"
SHIFT_FILE = "../../checkpoints/ala3_dit_aaa_1fs_cycle4/ala3_dit_bond_shift.json"  # the fourth cycle's, shipped then
HEAD_SHIFTED = "aaa_1fs_cycle4_shifted_headline_n2000/results.json"
_SH = lambda j: j["paired_samples"]["shifted"]  # noqa: E731

CLAIMS += [
    (SHIFT_AB, lambda j: ("the ESS rises from {:.2f}% to **{:.2f}%**, a paired\n  ratio of **{:.2f} [{:.2f}, {:.2f}]**").format(
        *_paired_fields(_SH(j), "ess_fraction_base", "ess_fraction", "ess_ratio", "ess_ratio_interval_16_84"))
     if (_SH(j)["n"], _SH(j)["baseline_dir"], _SH(j)["dir"], _SH(j)["bond_shift_base"], _SH(j)["bond_shift"]["path"]) == (
         2000, "benchmarks/results/aaa_1fs_cycle4_headline_n2000", "benchmarks/results/aaa_1fs_cycle4_shifted_headline_n2000",
         None, "models/ala3_dit_bond_shift.json")
     else "", "{}", "the ESS rises from 1.31% to **2.15%**, a paired\n  ratio of **1.64 [1.32, 1.87]**"),
    (SHIFT_AB, lambda j: "the median log w moves by {:+.2f}\n  nats [{:.2f}, {:.2f}]".format(*_paired_fields(
        _SH(j), "median_log_w_difference_nats", "median_log_w_difference_interval_16_84")), "{}",
     "the median log w moves by +0.01\n  nats [-0.04, 0.11]"),
    (SHIFT_AB, lambda j: ("Pareto k-hat rises from {:.2f} to {:.2f} (above 1 the Kish ESS and its interval rest on a few draws;\n"
                          "  the largest normalised weight falls from {:.2f} to {:.2f}) and the ESS of Pareto-smoothed weights\n"
                          "  rises less, from {:.2f}% to {:.2f}%").format(*_paired_fields(
        _SH(j), "pareto_khat_base", "pareto_khat", "max_weight_base", "max_weight", "psis_ess_fraction_base",
        "psis_ess_fraction")),
     "{}", "Pareto k-hat rises from 0.88 to 1.11 (above 1 the Kish ESS and its interval rest on a few draws;\n  the largest "
     "normalised weight falls from 0.12 to 0.08) and the ESS of Pareto-smoothed weights\n  rises less, from 1.38% to 1.61%"),
    ("bond_moments_1fs.json", lambda j: "deviations are {:.2f}-{:.2f}x MD's (shipped model, every bond, the two halves' fits "
     "averaged)".format(*(lambda r: (r.min(), r.max()))((1 / np.array(j["runs"][0]["scale"])).mean(0)))
     if j["runs"][0]["run"].endswith("cycle4_headline_n2000") else "", "{}",
     "deviations are 1.13-1.50x MD's (shipped model, every bond, the two halves' fits averaged)"),
    (SHIFT_FIXED, lambda j: "gives\n  the same ratio" if round(j["runs"][0]["ess_ratio"], 2) == round(
        json.loads((RESULTS / SHIFT_AB).read_text())["paired_samples"]["shifted"]["ess_ratio"], 2)
     and j["runs"][0]["map"] == "fixed" and j["runs"][0]["fit"]["seed"] == 1 else "", "{}", "gives\n  the same ratio"),
    (BOND_SHIFT, lambda j: next(r for r in j["runs"] if r["run"].endswith("cycle4_headline_n2000"))["ess_ratio"], "{:.2f}",
     "as the cross-fitted 1.68 said"),
    (SHIFT_FILE, lambda j: "draws {:,} conformers of prior seed {}".format(j["fit"]["n_draws"], j["fit"]["seed"]), "{}",
     "draws 20,000 conformers of prior seed 1"),
    (SHIFT_FILE, lambda j: 1000 * j["fit"]["shift_sem_nm_median"], "{:.2f}", "standard error 0.03 pm"),
    (SHIFT_FILE, lambda j: j["fit"]["draw_s"] / 60, "{:.1f}", "the\n  drawing took 6.5 minutes on one thread"),
    ("bond_moments_1fs.json", lambda j: ("u by {:.0f}-{:.0f} kT and raises the median log w by {:.1f}-{:.1f} nats, but the ESS "
                                         "ratio is\n  {:.2f} [{:.2f}, {:.2f}] for the shipped model and {:.2f}-{:.2f}"
                                          " over the five").format(
        min(r["median_u_before_kT"] - r["median_u_after_kT"] for r in j["runs"]),
        max(r["median_u_before_kT"] - r["median_u_after_kT"] for r in j["runs"]),
        min(r["median_log_w_after"] - r["median_log_w_before"] for r in j["runs"]),
        max(r["median_log_w_after"] - r["median_log_w_before"] for r in j["runs"]),
        j["runs"][0]["ess_ratio"], *j["runs"][0]["ess_ratio_interval_16_84"],
        min(r["ess_ratio"] for r in j["runs"]), max(r["ess_ratio"] for r in j["runs"]))
     if j["runs"][0]["run"].endswith("cycle4_headline_n2000") and all(r["map"] == "moments" for r in j["runs"])
     and len(j["runs"]) == 5 else "", "{}",
     "u by 6-13 kT and raises the median log w by 0.8-3.7 nats, but the ESS ratio is\n  0.41 [0.29, 0.92] for the shipped model "
     "and 0.30-1.18 over the five"),
]


# The sixth 1 fs cycle (README, "The levers, measured"): paired with the shipped model, unshifted and
# each with its own bond shift; not shipped.
C6_AB, C6_SHIFTED = "training_ab_1fs_cycle6.json", "training_ab_1fs_cycle6_shifted.json"
_C6 = lambda j: j["paired_samples"]["cycle6"]  # noqa: E731

CLAIMS += [
    (C6_AB, lambda j: "the median log w **+{:.2f} nats** [{:.2f}, {:.2f}] over three\n  training stages".format(
        *_paired_fields(_C6(j), "median_log_w_difference_nats", "median_log_w_difference_interval_16_84"))
     if (_C6(j)["n"], _C6(j)["baseline_dir"]) == (2000, "benchmarks/results/aaa_1fs_cycle4_headline_n2000") else "", "{}",
     "the median log w **+2.55 nats** [2.39, 2.66] over three\n  training stages"),
    (C6_AB, lambda j: "but ESS **{:.2f}%** against {:.2f}% (ratio {:.2f} [{:.2f}, {:.2f}])".format(*_paired_fields(
        _C6(j), "ess_fraction", "ess_fraction_base", "ess_ratio", "ess_ratio_interval_16_84")), "{}",
     "but ESS **1.14%** against 1.31% (ratio 0.87 [0.76, 1.37])"),
    ("training_ab_1fs_cycle6_vs_time2.json", lambda j: ("(over its own warm start +{:.2f} [{:.2f}, {:.2f}], and ESS {:.2f}x "
                                                        "[{:.2f}, {:.2f}] that\n  run's").format(*_paired_fields(
        j["paired_samples"]["cycle6"], "median_log_w_difference_nats", "median_log_w_difference_interval_16_84", "ess_ratio",
        "ess_ratio_interval_16_84")) if j["paired_samples"]["cycle6"]["baseline_dir"].endswith("time2_headline_n2000") else "",
     "{}", "(over its own warm start +0.64 [0.57, 0.71], and ESS 1.45x [1.23, 1.59] that\n  run's"),
    (C6_SHIFTED, lambda j: "it is **{:.2f}%** against {:.2f}% (ratio {:.2f} [{:.2f}, {:.2f}])".format(*_paired_fields(
        _C6(j), "ess_fraction", "ess_fraction_base", "ess_ratio", "ess_ratio_interval_16_84"))
     if _C6(j)["baseline_dir"] == "benchmarks/results/aaa_1fs_cycle4_shifted_headline_n2000"
     and _C6(j)["dir"] == "benchmarks/results/aaa_1fs_cycle6_shifted_headline_n2000" else "", "{}",
     "it is **1.77%** against 2.15% (ratio 0.83 [0.69, 1.03])"),
]


CLAIMS += [
    ("generator_vs_md_1fs_cycle4_shifted.json", lambda j: ("**{:.2f}x MD** [{:.2f}, {:.2f}],\n  {:.2f} CPU-s per draw at an "
                                                          "ESS of {:.2f}%. MD still wins, by about {:.1f}x").format(
        j["rows"][0]["over_best_md"], *j["generator_over_best_md_16_84"], j["rows"][0]["cpu_s_per_draw_or_ps"],
        100 * j["ess_fraction"], 1 / j["rows"][0]["over_best_md"])
     if j["run"] == "benchmarks/results/aaa_1fs_cycle4_shifted_headline_n2000" and j["bond_shift"]["path"] ==
     "models/ala3_dit_bond_shift.json" else "", "{}",
     "**0.57x MD** [0.50, 0.76],\n  1.45 CPU-s per draw at an ESS of 2.15%. MD still wins, by about 1.8x"),
    ("generator_vs_md_1fs_cycle7_shifted.json", lambda j: ("{:.2f}x MD [{:.2f}, {:.2f}], {:.2f}\n  CPU-s per draw at an "
                                                          "ESS of {:.2f}% of n = {}").format(
        j["rows"][0]["over_best_md"], *j["generator_over_best_md_16_84"], j["rows"][0]["cpu_s_per_draw_or_ps"],
        100 * j["ess_fraction"], j["n_run"])
     if j["run"] == "benchmarks/results/aaa_1fs_cycle7_shifted_headline_n4000" and j["bond_shift"]["path"] ==
     "checkpoints/ala3_dit_aaa_1fs_cycle7/ala3_dit_bond_shift.json" else "", "{}",
     "0.69x MD [0.54, 1.16], 1.39\n  CPU-s per draw at an ESS of 2.40% of n = 4000"),
]


# 32 log-SNR steps against the default 16 on the shipped model (README, "The levers, measured").
_S32 = lambda j: j["paired"]["logsnr32"]  # noqa: E731
CLAIMS += [
    ("sampler_ab_logsnr32_cycle4.json", lambda j: ("the ESS is {:.2f}% against {:.2f}%\n  (ratio {:.2f} [{:.2f}, {:.2f}]; "
                                                   "median log w {:.2f} nats [{:.2f}, {:.2f}])").format(*_paired_fields(
        _S32(j), "ess_fraction", "ess_fraction_base", "ess_ratio", "ess_ratio_interval_16_84", "median_log_w_difference_nats",
        "median_log_w_difference_interval_16_84"))
     if j["baseline_dir"] == "benchmarks/results/aaa_1fs_cycle4_headline_n1000" and _S32(j)["n"] == 1000
     and _S32(j)["solver"]["steps"] == 32 and not _S32(j)["bond_shift"] else "", "{}",
     "the ESS is 1.22% against 0.97%\n  (ratio 1.26 [1.08, 1.33]; median log w -0.34 nats [-0.41, -0.23])"),
    ("sampler_ab_logsnr32_shifted_cycle4.json", lambda j: "it is {:.2f}% against {:.2f}% (ratio {:.2f} [{:.2f}, {:.2f}])".format(
        *_paired_fields(_S32(j), "ess_fraction", "ess_fraction_base", "ess_ratio", "ess_ratio_interval_16_84"))
     if _S32(j)["bond_shift"]["path"] == "benchmarks/results/bond_shift_logsnr32_cycle4.json" else "", "{}",
     "it is 1.55% against 1.39% (ratio 1.12 [1.05, 1.20])"),
    ("aaa_1fs_cycle4_logsnr32_n1000/results.json", lambda j: "A draw costs {:.2f} against {:.2f} s".format(
        j["sampling_s_per_sample"], _json("aaa_1fs_cycle4_headline_n1000/results.json")["sampling_s_per_sample"]), "{}",
     "A draw costs 2.74 against 1.41 s"),
    ("aaa_1fs_cycle4_logsnr32_n1000/results.json", lambda j: "falls from {:.2f} to {:.2f} nats".format(
        _json("aaa_1fs_cycle4_headline_n1000/results.json")["integral_minus_jacobian_log_q_max_abs"],
        j["integral_minus_jacobian_log_q_max_abs"]), "{}", "falls from 5.96 to 1.93 nats"),
]


# The bond shift at n = 4000 (the headline's noise extended by 2000 draws): the n = 2000 ESS gain does not hold.
_N4 = lambda j: j["paired_samples"]["shifted"]  # noqa: E731
CLAIMS += [
    ("bond_shift_ab_cycle4_n4000.json", lambda j: ("ESS {:.2f}% against {:.2f}%, ratio\n  {:.2f} [{:.2f}, {:.2f}], with k-hat "
                                                   "{:.2f} -> {:.2f}, the ESS of Pareto-smoothed weights "
                                                   "{:.2f}% -> {:.2f}%").format(
        *_paired_fields(_N4(j), "ess_fraction", "ess_fraction_base", "ess_ratio", "ess_ratio_interval_16_84", "pareto_khat_base",
                        "pareto_khat", "psis_ess_fraction_base", "psis_ess_fraction"))
     if _N4(j)["n"] == 4000 and _N4(j)["baseline_dir"].endswith("cycle4_headline_n4000") else "", "{}",
     "ESS 0.22% against 0.31%, ratio\n  0.70 [0.68, 0.98], with k-hat 0.83 -> 0.80, the ESS of Pareto-smoothed weights "
     "0.55% -> 0.62%"),
    ("bond_shift_ab_cycle4_n4000.json", lambda j: "the mean log w +{:.1f} nats [{:.1f}, {:.1f}]".format(*_paired_fields(
        _N4(j), "mean_log_w_difference_nats", "mean_log_w_difference_interval_16_84")), "{}",
     "the mean log w +0.2 nats [0.1, 0.3]"),
    ("bond_shift_ab_cycle4_n4000.json", lambda j: "carries {:.2f} (unshifted) and\n  {:.2f} (shifted) of the weight".format(
        _N4(j)["max_weight_base"], _N4(j)["max_weight"]), "{}", "carries 0.24 (unshifted) and\n  0.31 (shifted) of the weight"),
]


# The ship rule (README, "The ship rule"): why it reads the smoothed ESS at n = 4000.
CLAIMS += [
    ("bond_shift_ab_cycle4_n4000.json", lambda j: "no shift) is\n{:.2f}% on its first 2000 draws and {:.2f}% on all 4000".format(
        100 * _json("aaa_1fs_cycle4_headline_n2000/results.json")["ess_fraction"], *_paired_fields(_N4(j), "ess_fraction_base")),
     "{}", "no shift) is\n1.31% on its first 2000 draws and 0.31% on all 4000"),
    ("bond_shift_ab_cycle4_n4000.json", lambda j: "extension ({:.2f}% to {:.2f}%)".format(
        100 * _json("weight_bulk_1fs.json")["runs"]["benchmarks/results/aaa_1fs_cycle4_headline_n2000"]["psis_ess_fraction"],
        *_paired_fields(_N4(j), "psis_ess_fraction_base")), "{}", "extension (1.38% to 0.55%)"),
    ("training_ab_1fs_cycle7_vs_cycle6_shifted_n4000.json", lambda j: "point {:.2f}, interval [{:.2f},\n{:.2f}], "
     "median {:.2f}".format(
        *_paired_fields(_P1(j), "psis_ess_ratio", "psis_ess_ratio_interval_16_84", "psis_ess_ratio_bootstrap_median")), "{}",
     "point 2.25, interval [1.30,\n2.25], median 1.84"),
    ("training_ab_aaa_1fs_cycle7_shifted_n4000.json", lambda j: "are {:.2f}-{:.2f}, above the 0.7".format(
        *(lambda ks: (min(ks), max(ks)))([
            *_paired_fields(_P1(_json("training_ab_1fs_cycle6_shifted_n4000.json")), "pareto_khat", "pareto_khat_base"),
            *_paired_fields(_P1(j), "pareto_khat", "pareto_khat_base"),
            _P1(_json("training_ab_1fs_cycle7_vs_cycle6_shifted_n4000.json"))["pareto_khat"]])),
     "{}", "are 0.71-0.80, above the 0.7"),
    ("bond_shift_ab_cycle4_n4000.json", lambda j: ("it is {:.2f} [{:.2f}, {:.2f}] where the Kish ratio says "
                                                   "{:.2f} [{:.2f}, {:.2f}]").format(
        *_paired_fields(_N4(j), "psis_ess_ratio", "psis_ess_ratio_interval_16_84", "ess_ratio", "ess_ratio_interval_16_84")),
     "{}", "it is 1.13 [0.85, 1.51] where the Kish ratio says 0.70 [0.68, 0.98]"),
]

# The sixth and seventh cycles at n = 4000 under the ship rule (README, "The levers, measured").
_C6S4, _C7S4 = "training_ab_1fs_cycle6_shifted_n4000.json", "training_ab_aaa_1fs_cycle7_shifted_n4000.json"
_P1 = lambda j: next(iter(j["paired_samples"].values()))  # noqa: E731 (each JSON pairs one model)


def _n4000_pair(j, model_dir: str, base_dir: str = "aaa_1fs_cycle4_shifted_headline_n4000") -> dict:
    """The one pairing in ``j``, checked to be ``model_dir`` against ``base_dir`` at n = 4000, else {}."""
    p = _P1(j)
    ok = p["n"] == 4000 and p["dir"].endswith(model_dir) and p["baseline_dir"].endswith(base_dir) and p["bond_shift"]
    return p if ok else {}


CLAIMS += [
    (_C6S4, lambda j: "| ESS of Pareto-smoothed weights (the rule) | {:.2f}% | {:.2f}% ({:.2f} [{:.2f}, {:.2f}]) |".format(
        *_paired_fields(_n4000_pair(j, "aaa_1fs_cycle6_shifted_headline_n4000"), "psis_ess_fraction_base",
                        "psis_ess_fraction", "psis_ess_ratio", "psis_ess_ratio_interval_16_84")), "{}",
     "| ESS of Pareto-smoothed weights (the rule) | 0.62% | 0.97% (1.57 [1.31, 3.26]) | 2.18% (3.53 [2.26, 5.88]) |"),
    (_C7S4, lambda j: "| 0.97% (1.57 [1.31, 3.26]) | {:.2f}% ({:.2f} [{:.2f}, {:.2f}]) |".format(
        *_paired_fields(_n4000_pair(j, "aaa_1fs_cycle7_shifted_headline_n4000"), "psis_ess_fraction", "psis_ess_ratio",
                        "psis_ess_ratio_interval_16_84")), "{}",
     "| ESS of Pareto-smoothed weights (the rule) | 0.62% | 0.97% (1.57 [1.31, 3.26]) | 2.18% (3.53 [2.26, 5.88]) |"),
    (_C6S4, lambda j: "| Kish ESS | {:.2f}% | {:.2f}% ({:.2f} [{:.2f}, {:.2f}]) |".format(
        *_paired_fields(_n4000_pair(j, "aaa_1fs_cycle6_shifted_headline_n4000"), "ess_fraction_base", "ess_fraction",
                        "ess_ratio", "ess_ratio_interval_16_84")), "{}",
     "| Kish ESS | 0.22% | 0.94% (4.31 [2.70, 4.90]) | 2.40% (11.04 [4.92, 11.85]) |"),
    (_C7S4, lambda j: "| {:.2f}% ({:.2f} [{:.2f}, {:.2f}]) |".format(
        *_paired_fields(_n4000_pair(j, "aaa_1fs_cycle7_shifted_headline_n4000"), "ess_fraction", "ess_ratio",
                        "ess_ratio_interval_16_84")), "{}",
     "| Kish ESS | 0.22% | 0.94% (4.31 [2.70, 4.90]) | 2.40% (11.04 [4.92, 11.85]) |"),
    (_C6S4, lambda j: "| | +{:.2f} [{:.2f}, {:.2f}] | +{:.2f} [{:.2f}, {:.2f}] |".format(
        *_paired_fields(_n4000_pair(j, "aaa_1fs_cycle6_shifted_headline_n4000"), "median_log_w_difference_nats",
                        "median_log_w_difference_interval_16_84"),
        *_paired_fields(_n4000_pair(_json(_C7S4), "aaa_1fs_cycle7_shifted_headline_n4000"), "median_log_w_difference_nats",
                        "median_log_w_difference_interval_16_84")), "{}",
     "| median log w over the shipped model's (nats) | | +2.46 [2.37, 2.56] | +2.90 [2.80, 3.00] |"),
    (_C6S4, lambda j: "| Pareto k-hat | {:.2f} | {:.2f} | {:.2f} |".format(
        *_paired_fields(_n4000_pair(j, "aaa_1fs_cycle6_shifted_headline_n4000"), "pareto_khat_base", "pareto_khat"),
        _n4000_pair(_json(_C7S4), "aaa_1fs_cycle7_shifted_headline_n4000")["pareto_khat"]), "{}",
     "| Pareto k-hat | 0.80 | 0.79 | 0.71 |"),
    ("training_ab_aaa_1fs_cycle7.json", lambda j: "| -{:.2f} | -{:.2f} | -{:.2f} (-{:.2f}, SE {:.2f}) |".format(
        -_json("training_ab_1fs_cycle6_nll.json")["paired_nll"]["cycle6"]["nll_base_nats"],
        -_json("training_ab_1fs_cycle6_nll.json")["paired_nll"]["cycle6"]["nll_nats"],
        -j["paired_nll"]["aaa_1fs_cycle7"]["nll_nats"], -j["paired_nll"]["aaa_1fs_cycle7"]["nll_difference_nats"],
        j["paired_nll"]["aaa_1fs_cycle7"]["se_nats"]), "{}",
     "| test NLL, 1000 frames (nats per molecule) | -352.20 | -353.44 | -353.70 (-1.51, SE 0.03) |"),
    ("training_ab_1fs_cycle7_vs_cycle6_shifted_n4000.json", lambda j: (
        "smoothed ESS ratio {:.2f} [{:.2f},\n  {:.2f}]; Kish {:.2f} [{:.2f}, {:.2f}]").format(*_paired_fields(
            _n4000_pair(j, "aaa_1fs_cycle7_shifted_headline_n4000", "aaa_1fs_cycle6_shifted_headline_n4000"), "psis_ess_ratio",
            "psis_ess_ratio_interval_16_84", "ess_ratio", "ess_ratio_interval_16_84")), "{}",
     "smoothed ESS ratio 2.25 [1.30,\n  2.25]; Kish 2.56 [1.48, 2.81]"),
    ("training_ab_aaa_1fs_cycle7_n4000.json", lambda j: "smoothed {:.2f} [{:.2f}, {:.2f}], Kish {:.2f} [{:.2f}, {:.2f}]".format(
        *_paired_fields(_P1(j), "psis_ess_ratio", "psis_ess_ratio_interval_16_84", "ess_ratio", "ess_ratio_interval_16_84"))
     if _P1(j)["n"] == 4000 and not _P1(j)["bond_shift"] else "", "{}",
     "smoothed 4.43 [2.73, 6.49], Kish 6.47 [3.00, 8.60]"),
    ("training_ab_aaa_1fs_cycle7_shifted.json", lambda j: ("Kish ESS {:.2f}% against {:.2f}%, {:.2f} [{:.2f}, {:.2f}]; smoothed "
                                                           "{:.2f} [{:.2f},\n  {:.2f}]").format(
        *_paired_fields(_P1(j), "ess_fraction", "ess_fraction_base", "ess_ratio", "ess_ratio_interval_16_84", "psis_ess_ratio",
                        "psis_ess_ratio_interval_16_84")) if _P1(j)["n"] == 2000 and _P1(j)["bond_shift"] else "", "{}",
     "Kish ESS 2.92% against 2.15%, 1.36 [1.19, 1.67]; smoothed 1.74 [1.48,\n  2.12]"),
    ("aaa_1fs_cycle7_shifted_headline_n4000/results.json", lambda j: (
        "reweighted E-W2 of {:.2f} kT (MD floor at its ESS, n = {}: {:.2f}) and T-W2 {:.2f} rad (floor {:.2f})").format(
        j["E_W2_kT_reweighted"], j["noise_floor_reweighted"]["n"], j["noise_floor_reweighted"]["E_W2_kT"],
        j["T_W2_rad_reweighted"], j["noise_floor_reweighted"]["T_W2_rad"]), "{}",
     "reweighted E-W2 of 1.62 kT (MD floor at its ESS, n = 96: 0.96) and T-W2 0.90 rad (floor 0.94)"),
    ("aaa_1fs_cycle6_shifted_headline_n4000/results.json", lambda j: (lambda u: (
        "the sixth cycle's {} at {:.1e} kT move its mean by\n  about {:.0f} nats").format(
        {2: "two"}.get(int((u > 1e5).sum())), np.median(u[u > 1e5]), u[u > 1e5].sum() / len(u)).replace("e+0", "e"))(
        np.load(RESULTS / "aaa_1fs_cycle6_shifted_headline_n4000" / "arrays.npz")["u"]), "{}",
     "the sixth cycle's two at 1.2e5 kT move its mean by\n  about 59 nats"),
]

@pytest.mark.parametrize("claim", CLAIMS, ids=[f"{c[0]}:{c[3][:40]}" for c in CLAIMS])
def test_readme_number_equals_its_json(readme, claim):
    name, get, fmt, quote, *where = claim
    value = get(json.loads((RESULTS / name).read_text()))
    printed = fmt.format(value).replace("e-0", "e-")  # 6.8e-05 is written 6.8e-5
    assert quote in readme, f"the README no longer has the line quoting {name}: {quote!r}"
    if not where:
        # a guarded claim prints "" when its JSON is not the run the README describes; "" is in every quote
        assert printed, f"the claim quoting {quote!r} printed nothing: {name} is not the run the README describes"
        assert printed in quote, f"README quotes {quote!r}, but {name} gives {printed}"
        return
    cell, k = where[0] if isinstance(where[0], tuple) else (where[0], None)
    text = quote.split("|")[cell].strip()
    if k is not None:
        text = re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text)[k]
    assert text == printed, f"README cell {where[0]} of {quote!r} is {text!r}, but {name} gives {printed}"


@functools.cache  # every card row of a cycle reads the same logs
def _run_checks(run):
    """{step: row} of the likelihood checks in a run's CSV logs (every version, a resumed run's too)."""
    import csv
    return {int(row["step"]): row for f in sorted((ROOT / "checkpoints" / run / "csv").glob("version_*/metrics.csv"))
            for row in csv.DictReader(f.open()) if row.get("val/nll_nats")}


def _val_checks(*runs):
    """{(cycle, step): row} of the likelihood checks of a line of cycles: a run of the shipped model's line is
    labelled by its name, another by its place in runs."""
    checks = {}
    for i, run in enumerate(runs):
        cycle = _CYCLE_LABELS[run] if run in _CYCLE_LABELS else ("first", "second", "third", "fourth", "fifth")[i] + " cycle"
        checks.update({(cycle, step): row for step, row in _run_checks(run).items()})
    return checks


_CYCLE_LABELS = {"ala3_dit_aaa_1fs": "first cycle", "ala3_dit_aaa_1fs_cycle2": "second cycle",
                 "ala3_dit_aaa_1fs_cycle3": "third cycle", "ala3_dit_aaa_1fs_cycle4": "fourth cycle",
                 "ala3_dit_aaa_1fs_cycle5": "fifth cycle", "ala3_dit_aaa_1fs_time2": "fifth cycle, t ~ Beta(2, 1)",
                 "ala3_dit_aaa_1fs_cycle6": "sixth cycle", "ala3_dit_aaa_1fs_cycle7": "seventh cycle"}
_CYCLES = ("ala3_dit_aaa_1fs", "ala3_dit_aaa_1fs_cycle2", "ala3_dit_aaa_1fs_cycle3", "ala3_dit_aaa_1fs_cycle4",
           "ala3_dit_aaa_1fs_time2", "ala3_dit_aaa_1fs_cycle6", "ala3_dit_aaa_1fs_cycle7")  # the shipped model's seven


def _val_fm(run):
    import csv
    rows = [r for f in sorted((ROOT / "checkpoints" / run / "csv").glob("version_*/metrics.csv"))
            for r in csv.DictReader(f.open()) if r.get("val/fm_loss")]
    return float(rows[0]["val/fm_loss"]), float(rows[-1]["val/fm_loss"])


_RETRAIN_JSON = lambda: json.loads((RESULTS / RETRAIN).read_text())  # noqa: E731
MODEL_CARD_CLAIMS = [
    lambda j: "ESS {:.2f}% against {:.2f}%, a ratio of {:.2f} [{:.2f}, {:.2f}]; the median log w {:.2f} nats\n  "
    "[{:.2f}, {:.2f}]; the largest normalised weight {:.2f} against {:.2f}, Pareto k-hat {:.2f} against {:.2f}".format(
        100 * _RT(j)["ess_fraction"], 100 * _RT(j)["ess_fraction_base"], _RT(j)["ess_ratio"],
        *_RT(j)["ess_ratio_interval_16_84"], _RT(j)["median_log_w_difference_nats"],
        *_RT(j)["median_log_w_difference_interval_16_84"], _RT(j)["max_weight"], _RT(j)["max_weight_base"],
        _RT(j)["pareto_khat"], _RT(j)["pareto_khat_base"]),
    lambda j: "on {} of the 1000 headline NLL frames\n  the HMR model is lower by {:.2f} nats per molecule (SE {:.2f}), "
    "a difference of about\n  {:.1f} SE; on all {}, {:.2f} nats per molecule, {:.2f} below the HMR first cycle".format(
        j["paired_nll"]["cycle2"]["frames"], -j["paired_nll"]["cycle2"]["nll_difference_nats"],
        j["paired_nll"]["cycle2"]["se_nats"],
        -j["paired_nll"]["cycle2"]["nll_difference_nats"] / j["paired_nll"]["cycle2"]["se_nats"],
        j["paired_nll"]["first"]["frames"], j["paired_nll"]["first"]["nll_base_nats"],
        j["paired_nll"]["first"]["nll_difference_nats"]),
    lambda j: "flow-matching loss {:.4f} after the first epoch, {:.4f} at the end".format(*_val_fm("ala3_dit_aaa_1fs")),
    lambda j: "EMA validation loss **{:.4f}** at its last".format(_val_fm("ala3_dit_aaa_1fs_cycle2")[1]),
    *[(lambda j, key=key: "| {}, {:,} | {:.1f} | {:.1f}% | {} |".format(
        *key, float(_val_checks(*_CYCLES)[key]["val/nll_nats"]),
        100 * float(_val_checks(*_CYCLES)[key]["val/ess_fraction"]),
        int(float(_val_checks(*_CYCLES)[key]["val/n_folded"]))))
      for key in (("first cycle", 3851), ("first cycle", 7703), ("first cycle", 11555),
                  ("second cycle", 3851), ("second cycle", 7703), ("third cycle", 3851), ("third cycle", 7703),
                  ("fourth cycle", 3851), ("fourth cycle", 7703), ("fifth cycle, t ~ Beta(2, 1)", 3851),
                  ("fifth cycle, t ~ Beta(2, 1)", 7703),
                  ("sixth cycle", 3851), ("sixth cycle", 7703), ("seventh cycle", 3851), ("seventh cycle", 7703))],
    lambda j: "EMA validation loss **{:.4f}** at its last\n     validation. Shipped until the fourth".format(
        _val_fm("ala3_dit_aaa_1fs_cycle3")[1]),
    lambda j: "EMA validation loss **{:.4f}** at its last validation. Shipped\n     until the seventh".format(
        _val_fm("ala3_dit_aaa_1fs_cycle4")[1]),
    lambda j: "EMA validation loss\n     **{:.4f}** at its last validation.".format(_val_fm("ala3_dit_aaa_1fs_time2")[1]),
    lambda j: "Beta(2, 1) kept. EMA validation loss **{:.4f}**.".format(_val_fm("ala3_dit_aaa_1fs_cycle6")[1]),
    lambda j: "Beta(2, 1) kept. EMA validation loss **{:.4f}** at its last validation. This".format(
        _val_fm("ala3_dit_aaa_1fs_cycle7")[1]),
    lambda j: "give a\nmedian u of {:.1f} kT, at MD's own median, while their ESS is {:.2f}x the default's".format(
        _json("uniform_1fs_n2000/results.json")["median_u_samples_kT"],
        _json("grid_ab_1fs.json")["paired"]["uniform"]["ess_ratio"]),
]


@pytest.mark.parametrize("claim", range(len(MODEL_CARD_CLAIMS)))
def test_the_model_card_quotes_its_runs(claim):
    """The model card's numbers are the paired JSON's and the training logs', printed as the card prints them."""
    card = (ROOT / "models" / "ala3_dit.md").read_text()
    quote = MODEL_CARD_CLAIMS[claim](_RETRAIN_JSON())
    assert quote in card, f"the model card does not say {quote!r}"


def test_the_model_card_has_every_check_of_the_training_logs():
    """No likelihood check of the shipped model's seven cycles is left out of the card's table."""
    card = (ROOT / "models" / "ala3_dit.md").read_text()
    checks = _val_checks(*_CYCLES)
    labels = [_CYCLE_LABELS[run] for run in _CYCLES]
    assert sorted(checks) == sorted([("first cycle", 11555)] + [(c, step) for c in labels for step in (3851, 7703)])
    assert sum(card.count(f"| {c}, ") for c in labels) == len(checks)


def test_the_wide_second_cycle_pairs_with_the_shipped_model():
    ab = json.loads((RESULTS / AB).read_text())["paired_samples"]["w96c2"]
    assert (ab["baseline"], ab["baseline_dir"]) == ("cycle2", "benchmarks/results/ab_cycle2_logsnr_headline")
    assert ab["dir"] == "benchmarks/results/ab_w96c2_logsnr_headline"


def test_the_model_card_quotes_the_n2000_headlines():
    """The shipped model's n = 2000 headline and the HMR model's, as the card prints them."""
    card = (ROOT / "models" / "ala3_dit.md").read_text()
    j = json.loads((RESULTS / HEAD_1FS).read_text())
    b = j["bootstrap"]
    quote = ("ESS {:.2f}%\n[{:.2f}%, {:.2f}%], reweighted E-W2 {:.2f} kT [{:.2f}, {:.2f}] "
             "(MD floor at the ESS of {} draws: {:.2f}),\n"
             "reweighted T-W2 {:.2f} rad (floor {:.2f}), {} of {} draws folded; raw T-W2 {:.2f} rad (floor {:.2f})").format(
        100 * j["ess_fraction"], *(100 * v for v in b["ess_fraction_16_84"]), j["E_W2_kT_reweighted"],
        *b["E_W2_kT_reweighted_16_84"], j["noise_floor_reweighted"]["n"], j["noise_floor_reweighted"]["E_W2_kT"],
        j["T_W2_rad_reweighted"], j["noise_floor_reweighted"]["T_W2_rad"], j["n_folded"], j["n"], j["T_W2_rad"],
        j["noise_floor_raw"]["T_W2_rad"])
    assert quote in card, quote
    report = json.loads((ROOT / "checkpoints/ala3_dit_aaa_1fs_cycle2/report/report.json").read_text())
    quote = ("median u {:.1f} kT on the default log-SNR grid and\n{:.1f} kT with `rexmol model-report`'s Rex(rk4) on 40 "
             "uniform steps (MD {:.1f};").format(j["median_u_samples_kT"], report["median_u_model_kT"],
                                                 j["median_u_md_kT"])
    assert quote in card, quote
    h = json.loads((RESULTS / N2000_1FS).read_text())
    quote = ("ESS {:.2f}% [{:.2f}%, {:.2f}%], reweighted E-W2 {:.2f} kT (floor\n{:.2f} at n = {}), reweighted T-W2 "
             "{:.2f} rad (floor {:.2f}), raw T-W2 {:.2f} rad").format(
        100 * h["ess_fraction"], *(100 * v for v in h["bootstrap"]["ess_fraction_16_84"]), h["E_W2_kT_reweighted"],
        h["noise_floor_reweighted"]["E_W2_kT"], h["noise_floor_reweighted"]["n"], h["T_W2_rad_reweighted"],
        h["noise_floor_reweighted"]["T_W2_rad"], h["T_W2_rad"])
    assert quote in card, quote


def _card_pairing_quote(p, nll):
    """The card's sentence of a pairing at n = 2000 with the cycle before (Kish ESS, the old ship rule's)."""
    return ("ESS {:.2f}% against {:.2f}%, a ratio of {:.2f} [{:.2f}, {:.2f}]; the median log w +{:.2f} nats [{:.2f}, {:.2f}]; "
            "Pareto k-hat {:.2f} against {:.2f}, the largest normalised weight {:.2f} against {:.2f}; test NLL {:.2f} against "
            "{:.2f} nats per molecule ({:.2f}, SE {:.2f})").format(
        *_paired_fields(p, "ess_fraction", "ess_fraction_base", "ess_ratio", "ess_ratio_interval_16_84",
                        "median_log_w_difference_nats", "median_log_w_difference_interval_16_84", "pareto_khat",
                        "pareto_khat_base", "max_weight", "max_weight_base"),
        nll["nll_nats"], nll["nll_base_nats"], nll["nll_difference_nats"], nll["se_nats"])


def _card_rule_quote(p, nll):
    """The card's sentence of the ship rule's pairing (n = 4000, each with its own shift: smoothed ESS first)."""
    return ("the ESS of Pareto-smoothed weights is {:.2f}% against {:.2f}%, a ratio of {:.2f} [{:.2f}, {:.2f}]; Kish ESS "
            "{:.2f}% against {:.2f}%; the median log w +{:.2f} nats [{:.2f}, {:.2f}]; Pareto k-hat {:.2f} against {:.2f}, the "
            "largest normalised weight {:.2f} against {:.2f}; test NLL {:.2f} against {:.2f} nats per molecule ({:.2f}, SE "
            "{:.2f}").format(
        *_paired_fields(p, "psis_ess_fraction", "psis_ess_fraction_base", "psis_ess_ratio", "psis_ess_ratio_interval_16_84",
                        "ess_fraction", "ess_fraction_base", "median_log_w_difference_nats",
                        "median_log_w_difference_interval_16_84", "pareto_khat", "pareto_khat_base", "max_weight",
                        "max_weight_base"),
        nll["nll_nats"], nll["nll_base_nats"], nll["nll_difference_nats"], nll["se_nats"])


@pytest.mark.parametrize("cycle,head,report_dir,pairing", [
    ("seventh", HEAD7_SHIFTED4, "models/ala3_dit_report",
     lambda: _card_rule_quote(_R7(_json(RULE7)), _json(NLL7)["paired_nll"]["aaa_1fs_cycle7"])),
    ("fourth", HEAD_SHIPPED, "checkpoints/ala3_dit_aaa_1fs_cycle4/report",
     lambda: _card_pairing_quote(_json(CYCLE4_AB)["paired_samples"]["cycle4"], _json(CYCLE4_AB)["paired_nll"]["cycle4"])),
    ("third", HEAD_C3, "checkpoints/ala3_dit_aaa_1fs_cycle3/report",
     lambda: _card_pairing_quote(_json(CYCLE3_AB)["paired_samples"]["cycle3"], _json(CYCLE3_AB)["paired_nll"]["cycle3"]))])
def test_the_model_card_quotes_the_shipped_cycles(cycle, head, report_dir, pairing):
    """The card's numbers of the shipped model (the seventh cycle, with its shift at n = 4000) and of the
    fourth and third, shipped before it: headline, report and pairing with the model each replaced, as the
    card prints them (line breaks aside)."""
    card = " ".join((ROOT / "models" / "ala3_dit.md").read_text().split())
    j, b = _json(head), _json(head)["bootstrap"]
    report = json.loads((ROOT / report_dir / "report.json").read_text())
    for quote in (
        "ESS {:.2f}% [{:.2f}%, {:.2f}%], reweighted E-W2 {:.2f} kT [{:.2f}, {:.2f}] (MD floor at the ESS of {} draws: "
        "{:.2f}), reweighted T-W2 {:.2f} rad (floor {:.2f}), {} of {} draws folded; raw T-W2 {:.2f} rad (floor "
        "{:.2f})".format(100 * j["ess_fraction"], *(100 * v for v in b["ess_fraction_16_84"]), j["E_W2_kT_reweighted"],
                         *b["E_W2_kT_reweighted_16_84"], j["noise_floor_reweighted"]["n"],
                         j["noise_floor_reweighted"]["E_W2_kT"], j["T_W2_rad_reweighted"],
                         j["noise_floor_reweighted"]["T_W2_rad"], j["n_folded"], j["n"], j["T_W2_rad"],
                         j["noise_floor_raw"]["T_W2_rad"]),
        "Rex(rk4) on 40 uniform steps, 2000 draws): T-W2 {:.2f} rad, median u {:.1f} kT (MD {:.1f})".format(
            report["T_W2_rad"], report["median_u_model_kT"], report["median_u_test_kT"]),
        pairing(),
    ):
        assert quote in card, quote
    assert report["samples"] == 2000 and report["solver"] == "Rex(rk4, zeta=0.999), 40 steps"
    model = {"seventh": "models/ala3_dit.pt", "fourth": "checkpoints/ala3_dit_aaa_1fs_cycle4/ala3_dit.pt",
             "third": "checkpoints/ala3_dit_aaa_1fs_cycle3/ala3_dit.pt"}[cycle]
    assert report["model_sha256"] == hashlib.sha256((ROOT / model).read_bytes()).hexdigest()
    if cycle != "seventh":
        vs_hmr = _C4(_json(VS_HMR)) if cycle == "fourth" else _C3(_json("training_ab_1fs_cycle3_vs_hmr.json"))
        assert vs_hmr["baseline_dir"] == "benchmarks/results/aaa_headline_n2000_1fs_floors"
        quote = "{:.2f}x [{:.2f}, {:.2f}]".format(*_paired_fields(vs_hmr, "ess_ratio", "ess_ratio_interval_16_84"))
        assert quote in card, quote


def test_the_model_card_quotes_the_seventh_cycles_shift_report_and_n2000_pairing():
    """The card's shipped-model numbers beyond its headline: the shift at n = 4000 on its own draws, both
    reports' E-W2, the n = 2000 pairing with shifts, and the fourth cycle's n = 4000 fall (line breaks aside)."""
    card = " ".join((ROOT / "models" / "ala3_dit.md").read_text().split())
    sh = _json(SHIFT7)["paired_samples"]["shifted"]
    n2 = _R7(_json("training_ab_aaa_1fs_cycle7_shifted.json"))
    r7, r4 = (json.loads((ROOT / d / "report.json").read_text())
              for d in ("models/ala3_dit_report", "checkpoints/ala3_dit_aaa_1fs_cycle4/report"))
    assert sh["baseline_dir"] == "benchmarks/results/aaa_1fs_cycle7_headline_n4000" and sh["n"] == 4000
    for quote in (
        "(`aaa_1fs_cycle7_headline_n4000/`): ESS {:.2f}%; the shift's gain in ESS is not established (paired Kish ratio "
        "{:.2f} [{:.2f}, {:.2f}], smoothed {:.2f} [{:.2f}, {:.2f}]".format(
            100 * sh["ess_fraction_base"], *_paired_fields(sh, "ess_ratio", "ess_ratio_interval_16_84", "psis_ess_ratio",
                                                             "psis_ess_ratio_interval_16_84")),
        "for the mean log w it adds (+{:.1f} nats [{:.1f}, {:.1f}])".format(
            *_paired_fields(sh, "mean_log_w_difference_nats", "mean_log_w_difference_interval_16_84")),
        "its E-W2, {:.1f} kT (the fourth cycle's report: {:.1f})".format(r7["E_W2_kT"], r4["E_W2_kT"]),
        "Kish ESS {:.2f}% against {:.2f}%, a ratio of {:.2f} [{:.2f}, {:.2f}]".format(
            *_paired_fields(n2, "ess_fraction", "ess_fraction_base", "ess_ratio", "ess_ratio_interval_16_84")),
        "At n = 4000 that ESS fell to {:.2f}%, one new draw carrying {:.2f} of the weight".format(
            100 * _json(HEAD4_SHIFTED4)["ess_fraction"], _json(HEAD4_SHIFTED4)["max_weight"]),
    ):
        assert quote in card, quote


def test_the_model_card_quotes_the_integrators_alpha_r_populations():
    """The card's HMR and 1 fs alpha_R populations are the integrator benchmark's (12 runs a side),
    the same measurement as its "4.9 points"."""
    alpha = json.loads((RESULTS / "md_integrator_ensemble.json").read_text())["populations"][0]
    assert alpha["region"] == "residue 2 alpha_R"
    card = (ROOT / "models/ala3_dit.md").read_text()
    quote = "residue 2 spends\n{:.1f}% of the time in alpha_R against {:.1f}% at 1 fs".format(
        100 * alpha["candidate"], 100 * alpha["reference"])
    assert quote in card, quote


def test_judging_the_headline_against_the_60_ns_test_set_left_its_draws_and_weights_as_they_were():
    """The 60 ns table reuses the 20 ns headline's chunks: the same draws, weights and ESS (what the
    README's shared ESS row says); only the W2s, their reference and the floors' pool differ."""
    old, new = (json.loads((RESULTS / name).read_text()) for name in (N2000, N2000_60))
    for key in ("ess", "ess_fraction", "n_folded", "max_weight", "median_u_samples_kT"):
        assert new[key] == old[key], key
    assert new["bootstrap"]["ess_fraction_16_84"] == old["bootstrap"]["ess_fraction_16_84"]
    a_old, a_new = (np.load(RESULTS / name.replace("results.json", "arrays.npz")) for name in (N2000, N2000_60))
    np.testing.assert_array_equal(a_old["log_w"], a_new["log_w"])
    assert (old["md_test_frames"], new["md_test_frames"]) == (20_000, 60_000)


def test_the_floor_pools_autocorrelation_times_are_the_readmes():
    """The README's tau of the floor pool (E-W2: u; T-W2: the slowest torsion) and the number of
    T-W2 floor frames it holds are those the shipped headline's floors record, on the 1 fs pool of
    the shipped data and on the HMR pool of the version before."""
    readme = (ROOT / "README.md").read_text()
    floor = json.loads((RESULTS / N2000_1FS).read_text())["noise_floor_raw"]
    assert floor["tau_T_converged"]
    quote = ("autocorrelation time of u for E-W2 ({:.0f} ps on the shipped data) and of the slowest backbone torsion\n"
             "  for T-W2 ({:.0f} ps)").format(floor["tau_E_frames"], floor["tau_T_frames"])
    assert quote in readme, quote
    assert f"(T-W2: about {floor['n_T']} in 60 ns)" in readme
    old = json.loads((RESULTS / N2000_60).read_text())["noise_floor_raw"]
    assert not old["tau_T_converged"]
    assert f"the torsion's time came out at {old['tau_T_frames'] / 1000:.1f} ns, unconverged, and left {old['n_T']}" in readme


def test_rejudging_with_the_1_fs_floor_pool_changed_only_the_floors():
    """README: the ESS, the weights and the W2s of the 1 fs-floor judging are those of the 34af59ed
    judging (the same draws and test set); the floors' pool is the 1 fs val and train runs."""
    old, new = (json.loads((RESULTS / name).read_text()) for name in (N2000_60, N2000_1FS))
    for key in ("ess", "ess_fraction", "E_W2_kT", "T_W2_rad", "E_W2_kT_reweighted", "T_W2_rad_reweighted", "n_folded"):
        assert new[key] == old[key], key
    assert new["md_test_set"]["test_seeds"] == old["md_test_set"]["test_seeds"]
    a_old, a_new = (np.load(RESULTS / name.replace("results.json", "arrays.npz")) for name in (N2000_60, N2000_1FS))
    np.testing.assert_array_equal(a_old["log_w"], a_new["log_w"])
    assert new["noise_floor_raw"]["floor_runs"] == [*range(124, 136)]
    assert old["noise_floor_raw"]["floor_runs"] == [*range(105, 116), 201]


def test_the_main_job_timing_is_the_committed_runs():
    """The README's main-job timing: the wall time `time` printed, and the sampling and round-trip
    seconds of that run's own results.json (the round trip: the drawing call's wall time less the
    sampling time)."""
    folder = RESULTS / "main_job_timing"
    j = json.loads((folder / "results.json").read_text())
    real = re.search(r"real\s+(\d+)m([\d.]+)s", (folder / "time.txt").read_text())
    minutes, seconds = int(real.group(1)), round(float(real.group(2)))
    quote = ("it takes **{} min {} s** from the command to\nthe end: sampling {:.0f} s ({:.2f} s per conformer on two "
             "threads) plus {:.0f} s for the first\nchunk's round trip back to the noise (an independent reverse solve "
             "of {} draws with the exact\ndivergence), and about {:.0f} s of set-up, loading and judging").format(
        minutes, seconds, j["sampling_s"], j["sampling_s_per_sample"], j["wall_s_this_call"] - j["sampling_s"],
        j["roundtrip_samples"], 60 * minutes + float(real.group(2)) - j["wall_s_this_call"])
    assert quote in (ROOT / "README.md").read_text(), quote
    assert j["n"] == 64 and j["torch_threads"] == 2 and j["md_test_set"]["frames"] == 60_000


def test_the_alpha_r_shift_is_the_integrator_benchmarks():
    """Every "4.9 points" of the README and the model card is the integrator benchmark's alpha_R
    difference (12 runs a side)."""
    alpha = json.loads((RESULTS / "md_integrator_ensemble.json").read_text())["populations"][0]
    assert alpha["region"] == "residue 2 alpha_R"
    shift = "{:.1f} points".format(100 * (alpha["reference"] - alpha["candidate"]))
    readme = (ROOT / "README.md").read_text()
    assert readme.count("4.9 points") == readme.count(shift) >= 1, shift
    assert shift in (ROOT / "models" / "ala3_dit.md").read_text()



def test_the_replica_speed_in_production_is_the_runs_progress_records(readme):
    """README, "Several trajectories in one System": the group's first two chunk walls and the lone
    seed 131's chunks 5-9 over the same minutes, from their progress.json."""
    md_dir = ROOT / "data" / "ala3" / "md"
    group = [c["wall_s"] for c in json.loads((md_dir / "seed132" / "progress.json").read_text())["chunks"][:2]]
    lone = [c["wall_s"] for c in json.loads((md_dir / "seed131" / "progress.json").read_text())["chunks"][4:9]]
    assert f"took {group[0]:.0f} and {group[1]:.0f} s, {2000 / max(group):.1f}-{2000 / min(group):.1f} ps/s" in readme
    assert f"at {min(lone):.0f}-{max(lone):.0f} s per 0.5 ns ({500 / max(lone):.1f}-{500 / min(lone):.1f} ps/s" in readme
    ratio = (2000 / sum(group) * 2) / (500 * len(lone) / sum(lone))
    assert f"about **{ratio:.1f}x**" in readme


def test_the_replica_runs_mean_energies_are_the_noise_floors(readme):
    """README, "The shipped dataset": the mean u of the four runs made side by side against the
    range of the lone 1 fs runs, from noise_floor_aaa.json's per-run means."""
    means = {int(s): u for s, u in json.loads((RESULTS / "noise_floor_aaa.json").read_text())["mean_u_kT_by_run"].items()}
    group = [means[s] for s in range(132, 136)]
    lone = [u for s, u in means.items() if s not in range(132, 136)]
    quote = (f"Their mean u per run,\n  {max(group):.2f} to {min(group):.2f} kT, sits among the lone 1 fs runs' "
             f"({max(lone):.2f} to {min(lone):.2f} kT)")
    assert quote in readme, quote
    assert min(lone) < min(group) and max(group) < max(lone)




def test_weight_bulk_table_is_its_json(readme):
    """README's bulk-and-tail table of the 1 fs line, row by row, against results/weight_bulk_1fs.json
    (the runs in the JSON's order), and the prose read from it."""
    runs = json.loads((RESULTS / "weight_bulk_1fs.json").read_text())["runs"]
    head = "| run | n | ESS | smoothed ESS | k-hat | weight of the 10 heaviest |"
    start = readme.index(head)
    rows = []
    for line in readme[start:].splitlines()[2:]:
        if not line.strip().startswith("|"):
            break
        rows.append(line.strip())
    assert len(rows) == len(runs) == 12
    names = {"aaa_1fs_cycle2": "second cycle", "aaa_1fs_cycle3": "third cycle", "aaa_1fs_cycle4": "fourth cycle",
             "aaa_1fs_cycle5": "fifth cycle", "aaa_1fs_time2": "t ~ Beta(2, 1)", "aaa_1fs_cycle6": "sixth cycle",
             "aaa_1fs_cycle7": "seventh cycle (shipped)", "aaa_1fs_cycle8": "eighth cycle"}
    for row, (path, d) in zip(rows, runs.items()):
        name = Path(path).name.rsplit("_headline_", 1)[0]
        expected = "| {} | {} | {:.2f}% | {:.2f}% | {:.2f} | {:.2f} | {:.1f} | {:.1f} | {:.2f} | {:.3f} |".format(
            names[name], d["n"], 100 * d["ess_fraction"], 100 * d["psis_ess_fraction"], d["pareto_khat"], d["top10_weight"],
            -d["top10_median_u_minus_median_kT"], d["median_u_excess_kT"], d["log_w_spread_nats"],
            d["log_q_slope_on_minus_u"])
        assert row == expected
    line = [d for path, d in runs.items() if path.endswith("_n2000")]  # the line in training order
    for key in ("median_u_excess_kT", "log_w_spread_nats"):  # "every cycle moved every bulk column the same way"
        assert all(b[key] < a[key] for a, b in zip(line, line[1:]))
    assert all(b["log_q_slope_on_minus_u"] > a["log_q_slope_on_minus_u"] for a, b in zip(line, line[1:]))
    at4000 = [d for path, d in runs.items() if path.endswith("_n4000")]  # fourth, sixth, seventh, eighth
    smoothed = [d["psis_ess_fraction"] for d in at4000]
    assert len(at4000) == 4 and smoothed[:3] == sorted(smoothed[:3]) and smoothed[3] < smoothed[2]  # not the eighth
    assert all(b["log_q_slope_on_minus_u"] > a["log_q_slope_on_minus_u"] for a, b in zip(at4000, at4000[1:]))
    assert ("ranks the fourth, sixth and seventh cycles in the bulk's order, but not the eighth, whose\n  bulk is the best "
            f"yet and whose smoothed ESS falls to {100 * smoothed[3]:.2f}%") in readme
    for key in ("median_u_excess_kT", "log_w_spread_nats"):  # "the best yet" at n = 4000 too
        assert all(b[key] < a[key] for a, b in zip(at4000, at4000[1:]))
    pair = _C8("training_ab_aaa_1fs_cycle8_n4000.json")
    assert "(a paired {:.2f} [{:.2f}, {:.2f}] of the\n  seventh's".format(
        *_paired_fields(pair, "psis_ess_ratio", "psis_ess_ratio_interval_16_84")) in readme
    step = lambda a, b: b["log_q_slope_on_minus_u"] - a["log_q_slope_on_minus_u"]  # noqa: E731
    # line: ... sixth, seventh, eighth at n = 2000; at4000: fourth, sixth, seventh, eighth
    now2000, now4000, before = step(line[-2], line[-1]), step(at4000[2], at4000[3]), step(line[-3], line[-2])
    assert (f"(the slope gained\n  {now2000:.2f} at n = 2000 and {now4000:.2f} at n = 4000 from the seventh cycle to the "
            f"eighth, against {before:.2f} at both\n  from the sixth to the seventh)") in readme
    assert round(before, 2) == round(step(at4000[1], at4000[2]), 2)  # "at both"
    assert (f"shrank from {before:.2f} (sixth to seventh cycle) to {now2000:.2f}-{now4000:.2f} (seventh to eighth, at "
            "n = 2000\nand 4000)") in readme
    below = [-d["top10_median_u_minus_median_kT"] for d in runs.values()]
    assert f"sit {min(below):.1f}-{max(below):.1f} kT below their run's median u" in readme
    assert all(set(d["top10_states"]) <= {"aR", "bR"} for d in runs.values())
    first, last = line[0], line[-1]  # the second and the eighth cycle at n = 2000
    shipped4000 = next(d for path, d in runs.items() if path.endswith("aaa_1fs_cycle7_headline_n4000"))
    assert ("follows the target's energy with a slope of {:.2f} where a perfect model has 1: the weights grow by\n"
            "about {:.1f} nats per kT").format(shipped4000["log_q_slope_on_minus_u"],
                                              1 - shipped4000["log_q_slope_on_minus_u"]) in readme
    assert ("lowered the draws' median energy (from {:.0f} to {:.0f} kT above MD's) and narrowed log w (spread\n"
            "{:.1f} to {:.1f} nats)").format(first["median_u_excess_kT"], last["median_u_excess_kT"],
                                             first["log_w_spread_nats"], last["log_w_spread_nats"]) in readme
    assert ("median u from {:.0f} to {:.0f} kT above\n  MD's, the spread of log w from {:.1f} to {:.1f} nats, the slope "
            "from {:.2f} to {:.2f}").format(
        first["median_u_excess_kT"], last["median_u_excess_kT"], first["log_w_spread_nats"], last["log_w_spread_nats"],
        first["log_q_slope_on_minus_u"], last["log_q_slope_on_minus_u"]) in readme


def test_the_eighth_cycles_nll_gain_is_the_least_of_the_shipped_line(readme):
    """README: the eighth cycle's test NLL gain (0.19 nats) is the least of any cycle over the one before it,
    along the line (second, third, fourth, Beta(2, 1) fifth, sixth, seventh, eighth), each cycle's NLL read
    from the paired JSON that measured it on the same 1000 frames."""
    nll = {"cycle2": _json(CYCLE3_AB)["paired_nll"]["cycle3"]["nll_base_nats"],
           "cycle3": _json(CYCLE3_AB)["paired_nll"]["cycle3"]["nll_nats"],
           "cycle4": _json(CYCLE4_AB)["paired_nll"]["cycle4"]["nll_nats"],
           "time2": _json("training_ab_1fs_time2.json")["paired_nll"]["time2"]["nll_nats"],
           "cycle6": _json("training_ab_1fs_cycle6_nll.json")["paired_nll"]["cycle6"]["nll_nats"],
           "cycle7": _json(NLL7)["paired_nll"]["aaa_1fs_cycle7"]["nll_nats"],
           "cycle8": _json("training_ab_aaa_1fs_cycle8.json")["paired_nll"]["aaa_1fs_cycle8"]["nll_nats"]}
    assert _json(CYCLE4_AB)["paired_nll"]["cycle4"]["nll_base_nats"] == nll["cycle3"]  # one chain of the same frames
    assert _json("training_ab_aaa_1fs_cycle8.json")["paired_nll"]["aaa_1fs_cycle8"]["nll_base_nats"] == nll["cycle7"]
    values = list(nll.values())
    gains = [a - b for a, b in zip(values, values[1:])]
    assert all(g > 0 for g in gains) and gains[-1] == min(gains)
    assert f"its test NLL gained {gains[-1]:.2f} nats, the least of any cycle over the one\nbefore it" in readme
    assert f"its test NLL by {gains[-1]:.2f} nats, the smallest gain of any cycle over the one\n  before it" in readme


def test_sixth_cycles_mean_log_w_difference_is_its_two_clashes(readme):
    """README: at n = 4000 (each with its own shift) the sixth cycle's mean log w falls below the shipped
    model's only through its two draws at 1.2e5 kT; without them the difference is positive."""
    six, shipped = (np.load(RESULTS / f"{run}/arrays.npz") for run in
                    ("aaa_1fs_cycle6_shifted_headline_n4000", "aaa_1fs_cycle4_shifted_headline_n4000"))
    paired = _P1(_json("training_ab_1fs_cycle6_shifted_n4000.json"))
    assert paired["mean_log_w_difference_nats"] < -20
    keep = np.isfinite(six["log_w"]) & (six["u"] < 1e5)
    assert (~keep & np.isfinite(six["log_w"])).sum() == 2
    assert six["log_w"][keep].mean() - shipped["log_w"][np.isfinite(shipped["log_w"])].mean() > 0
    assert "without them its difference is positive" in readme
