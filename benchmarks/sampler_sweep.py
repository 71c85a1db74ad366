"""Which sampler gives the most effective samples per CPU-second? Fixed grids with the exact
Jacobian log-det against the adaptive divergence integral (today's default) and torchdiffeq.

Every setting draws the same n prior draws (chunk i of every setting uses seed (seed, i)), so
rows are paired. For each: ESS (Kish, as a count and a fraction), the std of the finite log
weights, reweighted and raw E-W2 (kT) and T-W2 (rad) against the MD test set, NFE per sample,
CPU-seconds per sample (process CPU time of drawing, one torch thread unless --threads), and
effective samples per CPU-second (ESS / CPU-seconds of drawing and scoring). Paired bootstrap
(same resampled draw indices for every row): 16-84% intervals of ESS and of the ratios of ESS
and reweighted E-W2 to the default row. Where a fixed-grid setting is run with both the
divergence integral and the Jacobian (same grid, hence the same samples), the integral's error
as the density of those samples is reported: log q_integral - log q_jacobian per draw.

Resumable: each setting's chunks are kept under --out. Prints a table, writes
results/sampler_sweep.json.

    python benchmarks/sampler_sweep.py [--n 64] [--settings NAME ...] [--out runs/sampler_sweep]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import table, write_json  # noqa: E402
from rexmol.boltzmann.generator import BoltzmannGenerator, SolverSpec  # noqa: E402
from rexmol.boltzmann.sampling import MDReference, chunk_seed, judge, load_model_for  # noqa: E402
from rexmol.io import atomic_savez, atomic_write_json  # noqa: E402
from rexmol.metrics.bootstrap import ess_count, interval, paired_bootstrap, paired_bootstrap_e_w2  # noqa: E402

DEFAULT = "rex_dopri5_z0.5_adaptive_div"


def name(spec: SolverSpec) -> str:
    solver = {"rex": f"rex_{spec.tableau}_z{spec.coupling:g}", "princeps": f"princeps_{spec.tableau}",
              "torchdiffeq": "torchdiffeq_dopri5"}[spec.solver]
    grid = "adaptive" if spec.steps is None else f"{spec.steps}{'' if spec.grid == 'uniform' else spec.grid}"
    return f"{solver}_{grid}_{'jac' if spec.density == 'jacobian' else 'div'}"


def rex_base_setting(key: str) -> str | None:
    """The Princeps setting a fixed-grid Rex setting couples (the same spec with the solver
    swapped: same tableau, grid and density), e.g. ``rex_midpoint_z0.5_16_jac`` ->
    ``princeps_midpoint_16_jac``; None for a non-Rex or adaptive setting or an unknown key."""
    spec = settings().get(key)
    if spec is None or spec.solver != "rex" or spec.steps is None:
        return None
    return name(dataclasses.replace(spec, solver="princeps"))


def _ratio(x, y):
    """x / y, or None where a row has no finite weight (judge reports None there, not raises)."""
    return x / y if x is not None and y else None


def settings() -> dict[str, SolverSpec]:
    jac = dict(density="jacobian")
    specs = [
        SolverSpec(),  # today's default: Rex(dopri5) zeta 0.5, rtol = atol = 1e-3, divergence integral
        SolverSpec("torchdiffeq"),
        SolverSpec("princeps", "euler", steps=16, **jac),
        SolverSpec("princeps", "midpoint", steps=8, **jac),
        SolverSpec("princeps", "midpoint", steps=16, **jac),
        SolverSpec("princeps", "midpoint", steps=32, **jac),
        SolverSpec("princeps", "midpoint", steps=64, **jac),
        SolverSpec("princeps", "midpoint", steps=16, grid="quadratic", **jac),
        SolverSpec("princeps", "midpoint", steps=16, grid="logsnr", **jac),
        SolverSpec("princeps", "midpoint", steps=32, grid="logsnr", **jac),
        SolverSpec("princeps", "midpoint", steps=16),  # the divergence integral on the same grid
        SolverSpec("princeps", "rk4", steps=4, **jac),
        SolverSpec("princeps", "rk4", steps=8, **jac),
        SolverSpec("rex", "midpoint", coupling=0.5, steps=16, **jac),
        SolverSpec("rex", "midpoint", coupling=0.5, steps=8, **jac),
        SolverSpec("rex", "midpoint", coupling=0.999, steps=8, **jac),
        SolverSpec("rex", "midpoint", coupling=0.5, steps=16, grid="logsnr", **jac),
        SolverSpec("rex", "rk4", coupling=0.5, steps=4, **jac),
    ]
    return {name(s): s for s in specs}


def draw(gen: BoltzmannGenerator, n: int, chunk: int, seed: int, out: Path, progress: bool) -> dict:
    """Draw (or resume) n conformers in chunks; returns x, log q, NFE and CPU/wall seconds."""
    out.mkdir(parents=True, exist_ok=True)
    parts = []
    for i in range(-(-n // chunk)):
        path = out / f"chunk_{i:04d}.npz"
        if not path.exists():
            m = min(chunk, n - i * chunk)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            d = gen.sample(m, chunk_seed(seed, i))
            atomic_savez(path, x=d.x.astype(np.float32), log_q=d.log_q, nfe=d.nfe, n_folded=d.stats.get("n_folded", 0),
                         cpu_s=time.process_time() - cpu0, wall_s=time.perf_counter() - wall0)
            if progress:
                print(f"  {out.name} chunk {i}: {m} draws, {time.perf_counter() - wall0:.0f} s", flush=True)
        with np.load(path) as a:
            parts.append({k: a[k] for k in a.files})
    return {"x": np.concatenate([p["x"] for p in parts]).astype(np.float64),
            "log_q": np.concatenate([p["log_q"] for p in parts]),
            "nfe_per_sample": float(np.mean([float(p["nfe"]) for p in parts])),
            "n_folded": int(sum(int(p["n_folded"]) for p in parts)),
            "cpu_s": float(sum(float(p["cpu_s"]) for p in parts)),
            "wall_s": float(sum(float(p["wall_s"]) for p in parts))}


def claim_chunk_folder(out: Path, model: Path, seed: int, chunk: int) -> str:
    """The SHA-256 of ``model``, recorded with the seed and chunk size in ``out/model.json``; refuses
    a folder whose chunks were drawn by another model, seed or chunk size (or by an unrecorded one),
    since resuming would mix draws of two runs."""
    sha = hashlib.sha256(Path(model).read_bytes()).hexdigest()
    record = out / "model.json"
    if record.exists():
        recorded = json.loads(record.read_text())
        if recorded["model_sha256"] != sha:
            raise SystemExit(f"{out} holds chunks of the model with SHA-256 {recorded['model_sha256'][:12]}..., not "
                             f"{model} ({sha[:12]}...); choose another --out or pass that model")
        for key, value in (("seed", seed), ("chunk", chunk)):
            if recorded.get(key) != value:
                raise SystemExit(f"{out} holds chunks drawn with {key} {recorded.get(key)!r}, not {value!r}; "
                                 f"choose another --out or pass --{key} {recorded.get(key)}")
    elif any(out.glob("*/chunk_*.npz")):
        raise SystemExit(f"{out} holds chunks but no model.json, so it is not known which model drew them; "
                         "choose another --out")
    else:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(record, {"model": str(model), "model_sha256": sha, "seed": seed, "chunk": chunk})
    return sha


def markdown_rows(result: dict) -> list[str]:
    """The README's table rows of a sweep's JSON: setting, NFE, CPU-s per draw and its ratio to the
    default, ESS of n [16-84%], ESS ratio to the default [16-84%], reweighted E-W2 and T-W2, folded
    draws, effective samples per CPU-s over the default's. ``tests/test_readme.py`` checks that the
    README holds exactly these lines."""
    def span(v):
        return "[{:.2f}, {:.2f}]".format(*v) if v else ""

    lines = []
    for r in result["rows"]:
        default = r["setting"] == DEFAULT
        cells = [r["label"], f"{r['nfe_per_sample']:.0f}", f"{r['cpu_s_per_sample']:.2f}",
                 "1" if default else f"{r['cost_per_sample_over_default']:.2f}",
                 f"{r['ess']:.2f} {span(r['ess_16_84'])}",
                 "1" if default else f"{r['ess'] / _default_ess(result):.2f} {span(r.get('ess_over_default_16_84'))}",
                 f"{r['E_W2_kT_reweighted']:.2f}", f"{r['T_W2_rad_reweighted']:.2f}", str(r["n_folded"]),
                 "1" if default else f"{r['eff_per_cpu_s_over_default']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _default_ess(result: dict) -> float:
    return next(r["ess"] for r in result["rows"] if r["setting"] == DEFAULT)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=Path("models/ala3_dit.pt"))
    p.add_argument("--out", type=Path, default=Path("runs/sampler_sweep"))
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--chunk", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--boot", type=int, default=200)
    p.add_argument("--settings", nargs="*", default=None, help=f"subset of {list(settings())}")
    p.add_argument("--draw-only", action="store_true",
                   help="draw the chunks of --settings only (not the baseline's), skip the table: "
                   "several processes share the work")
    p.add_argument("--json-name", default="sampler_sweep", help="results/<name>.json")
    a = p.parse_args(argv)

    torch.set_num_threads(a.threads)
    all_specs = settings()
    chosen = a.settings or list(all_specs)
    unknown = set(chosen) - set(all_specs)
    if unknown:
        raise SystemExit(f"unknown settings {sorted(unknown)}; choose from {list(all_specs)}")
    if DEFAULT not in chosen and not a.draw_only:  # the baseline of every ratio; drawn last, it is the costliest
        chosen = [*chosen, DEFAULT]
    loaded = load_model_for(a.model)  # refuses a model of another target than the shipped data's
    model_sha256 = claim_chunk_folder(a.out, a.model, a.seed, a.chunk)
    drawn = {}
    for key in chosen:
        print(f"{key}: {all_specs[key].label}", flush=True)
        drawn[key] = draw(BoltzmannGenerator(loaded, all_specs[key]), a.n, a.chunk, a.seed, a.out / key, True)
    if a.draw_only:
        return
    reference = MDReference()
    rows, weights, boot_in = [], {}, {}
    for key in chosen:
        d = drawn[key]
        t0 = time.process_time()
        numbers, arrays = judge(d["x"], d["log_q"], reference, floors=False, n_boot=0)  # timed: energies and weights only
        energy_cpu = time.process_time() - t0
        w = arrays["weights"]
        finite = np.isfinite(arrays["log_w"])
        ess = numbers["ess"]
        cpu = d["cpu_s"] + energy_cpu
        rows.append({"setting": key, "label": all_specs[key].label, "n": a.n, "nfe_per_sample": d["nfe_per_sample"],
                     "cpu_s_per_sample": d["cpu_s"] / a.n, "wall_s_per_sample": d["wall_s"] / a.n,
                     "ess": ess, "ess_fraction": numbers["ess_fraction"],
                     "log_w_std": float(np.std(arrays["log_w"][finite])) if finite.sum() > 1 else None,
                     "n_folded": d["n_folded"], "n_nonfinite_energy": numbers["n_nonfinite_energy"],
                     "E_W2_kT": numbers["E_W2_kT"], "E_W2_kT_reweighted": numbers["E_W2_kT_reweighted"],
                     "T_W2_rad": numbers["T_W2_rad"], "T_W2_rad_reweighted": numbers["T_W2_rad_reweighted"],
                     "effective_samples_per_cpu_s": ess / cpu})
        weights[key] = w
        boot_in[key] = {"u": arrays["u"], "weights": w}
    ess_boot = paired_bootstrap({k: {"weights": w} for k, w in weights.items()}, ess_count, a.boot, a.seed)
    ew2_boot = paired_bootstrap_e_w2(boot_in, reference.u, n_boot=a.boot, seed=a.seed)
    base = rows[chosen.index(DEFAULT)]
    for row in rows:
        k = row["setting"]
        row["ess_16_84"] = interval(ess_boot[k])
        row["E_W2_kT_reweighted_16_84"] = interval(ew2_boot[k])
        if k != DEFAULT:
            with np.errstate(divide="ignore", invalid="ignore"):
                row["ess_over_default_16_84"] = interval(ess_boot[k] / ess_boot[DEFAULT])
                row["E_W2_reweighted_over_default_16_84"] = interval(ew2_boot[k] / ew2_boot[DEFAULT])
            row["cost_per_sample_over_default"] = row["cpu_s_per_sample"] / base["cpu_s_per_sample"]
            row["eff_per_cpu_s_over_default"] = (row["effective_samples_per_cpu_s"]
                                                 / base["effective_samples_per_cpu_s"])
    # Rex against its non-reversible base solver at equal settings (same tableau, grid and density)
    rex_vs_base = {}
    for key in chosen:
        base_key = rex_base_setting(key)
        if base_key in chosen:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = ew2_boot[key] / ew2_boot[base_key]
                ess_ratio = ess_boot[key] / ess_boot[base_key]
            r, b = rows[chosen.index(key)], rows[chosen.index(base_key)]
            rex_vs_base[key] = {"base": base_key,
                                "E_W2_reweighted_ratio": _ratio(r["E_W2_kT_reweighted"], b["E_W2_kT_reweighted"]),
                                "E_W2_reweighted_ratio_16_84": interval(ratio),
                                "ess_ratio": _ratio(r["ess"], b["ess"]), "ess_ratio_16_84": interval(ess_ratio)}
    # the divergence integral as the density of fixed-grid samples (same grid => same x)
    integral_error = {}
    for key in chosen:
        if key.endswith("_div") and key.replace("_div", "_jac") in drawn:
            j = drawn[key.replace("_div", "_jac")]
            same_x = float(np.abs(drawn[key]["x"] - j["x"]).max())
            diff = drawn[key]["log_q"] - j["log_q"]
            diff = diff[np.isfinite(diff)]
            integral_error[key] = {"max_abs_x_difference_nm": same_x, "mean_nats": float(diff.mean()),
                                   "std_nats": float(diff.std()), "max_abs_nats": float(np.abs(diff).max())}
    cols = ["setting", "nfe_per_sample", "cpu_s_per_sample", "ess", "ess_16_84", "log_w_std", "n_folded",
            "E_W2_kT", "E_W2_kT_reweighted", "E_W2_kT_reweighted_16_84", "T_W2_rad_reweighted",
            "effective_samples_per_cpu_s", "cost_per_sample_over_default", "eff_per_cpu_s_over_default"]
    print(table(rows, cols))
    for key, v in rex_vs_base.items():
        print(f"{key} against {v['base']}: reweighted E-W2 ratio {v['E_W2_reweighted_ratio']} "
              f"{v['E_W2_reweighted_ratio_16_84']}, ESS ratio {v['ess_ratio']} {v['ess_ratio_16_84']}")
    for key, v in integral_error.items():
        print(f"divergence integral vs exact discrete density ({key}): {v}")
    best = max(rows, key=lambda r: r["effective_samples_per_cpu_s"])
    result = {"model": str(a.model), "model_sha256": model_sha256,
              "n": a.n, "seed": a.seed, "threads": a.threads, "bootstrap_resamples": a.boot,
              "rows": rows,
              "integral_vs_jacobian": integral_error, "rex_vs_base_solver": rex_vs_base,
              "best_effective_per_cpu_s": best["setting"],
              "md_test_frames": len(reference.u), "md_test_set": reference.record(),
              "units": {"E_W2": "kT", "T_W2": "rad (5 backbone torsions: psi1, phi2, psi2, phi3, psi3)",
                        "cpu_s": "process CPU seconds"},
              "notes": "reweighted metrics rest on about ESS draws; intervals are paired bootstrap 16-84%"}
    write_json(a.json_name, result)
    print(f"most effective samples per CPU-second: {best['setting']}")
    if DEFAULT in {r["setting"] for r in rows}:
        print("\nREADME rows:\n" + "\n".join(markdown_rows(result)))


if __name__ == "__main__":
    main()
