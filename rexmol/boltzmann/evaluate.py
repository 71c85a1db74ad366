"""``rexmol evaluate``: solvers side by side on one checkpoint, one sample size, one tolerance.

For each solver: n conformers (same seeds, so the same prior draws) with exact log q; OpenMM
energies; importance weights; E-W2 and T-W2 against the MD test set, raw and reweighted; Kish
ESS; NLL of m MD test frames; the round-trip gap (noise -> data -> noise with the solver's own
inverse: algebraic for Rex, a reverse solve for the others); NFE per solve and CPU time. Beside
them, the MD noise floor at the same n (validation frames against the test set). Every solver
runs in its own subfolder, so an interrupted evaluation resumes.

With ESS of a few samples the reweighted E-W2 is a noisy number, so each solver also gets a
paired bootstrap: the same resampled draw indices for every solver (they share prior draws),
the weights renormalised within each resample, giving a 16-84% interval for each reweighted
E-W2 and for its ratio to the non-reversible torchdiffeq baseline.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from rexmol.boltzmann.generator import BoltzmannGenerator, SolverSpec
from rexmol.boltzmann.likelihood import evenly_spaced, nll_summary
from rexmol.boltzmann.sampling import MDReference, load_model_for, sample_conformers
from rexmol.io import atomic_write_json
from rexmol.metrics.bootstrap import interval, paired_bootstrap_e_w2
from rexmol.molecules import dataset

COLUMNS = ["solver", "E_W2_kT", "E_W2_kT_reweighted", "T_W2_rad", "T_W2_rad_reweighted",
           "floor_at_ess_E_W2_kT", "floor_at_ess_T_W2_rad", "ess_fraction",
           "nll_nats_per_molecule", "roundtrip_log_q_max_abs", "roundtrip_z_max_abs", "nfe_per_solve",
           "sampling_s_per_sample", "E_W2_reweighted_over_torchdiffeq", "E_W2_reweighted_over_torchdiffeq_16_84"]


def default_specs(rtol: float = 1e-3, atol: float = 1e-3) -> list[SolverSpec]:
    return [SolverSpec("rex", coupling=0.999, rtol=rtol, atol=atol), SolverSpec("rex", coupling=0.5, rtol=rtol, atol=atol),
            SolverSpec("rex", coupling=0.001, rtol=rtol, atol=atol), SolverSpec("princeps", rtol=rtol, atol=atol),
            SolverSpec("torchdiffeq", rtol=rtol, atol=atol)]


def slug(spec: SolverSpec) -> str:
    return {"rex": f"rex_{spec.tableau}_zeta{spec.coupling:g}", "princeps": f"princeps_{spec.tableau}",
            "torchdiffeq": "torchdiffeq_dopri5"}[spec.solver]


def select_specs(specs: list[SolverSpec], slugs: list[str]) -> list[SolverSpec]:
    """The specs whose folder name (:func:`slug`) is in ``slugs``, in their order; unknown names raise."""
    unknown = set(slugs) - {slug(s) for s in specs}
    if unknown:
        raise ValueError(f"unknown solvers {sorted(unknown)}; choose from {[slug(s) for s in specs]}")
    return [s for s in specs if slug(s) in slugs]


def format_table(rows: list[dict], columns=COLUMNS) -> str:
    def fmt(v):
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.3g}"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(fmt(e) for e in v) + "]"
        return str(v)

    cells = [[c for c in columns]] + [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _bootstrap_rows(rows: list[dict], specs: list[SolverSpec], out_dir: Path, reference_u, seed: int) -> None:
    """Add each row's bootstrap interval and its ratio to the torchdiffeq row (point and interval)."""
    arrays = {}
    for row, spec in zip(rows, specs):
        path = out_dir / slug(spec) / "arrays.npz"
        if "error" not in row and path.exists():
            with np.load(path) as a:
                arrays[row["solver"]] = {"u": a["u"], "weights": a["weights"]}
    if not arrays:
        return
    boots = paired_bootstrap_e_w2(arrays, reference_u, seed=seed)
    base = next((r for r in rows if r["solver"].startswith("torchdiffeq") and r["solver"] in boots), None)
    for row in rows:
        if row["solver"] not in boots:
            continue
        row["E_W2_kT_reweighted_16_84"] = interval(boots[row["solver"]])
        if base is not None and row is not base and base.get("E_W2_kT_reweighted"):
            row["E_W2_reweighted_over_torchdiffeq"] = row["E_W2_kT_reweighted"] / base["E_W2_kT_reweighted"]
            row["E_W2_reweighted_over_torchdiffeq_16_84"] = interval(boots[row["solver"]] / boots[base["solver"]])


def evaluate(model_path, out_dir, n: int = 128, specs: list[SolverSpec] | None = None, nll_frames: int = 32,
             chunk_size: int = 32, seed: int = 0, workers: int = 1, manifest=dataset.MANIFEST,
             progress: bool = True, only: list[str] | None = None) -> dict:
    """Run every solver (or those whose folder name is in ``only``: a partial run that other
    processes can share, ``out_dir`` holding one folder per solver) and write the table."""
    out_dir = Path(out_dir)
    specs = specs or default_specs()
    if only:
        specs = select_specs(specs, only)
    if (out_dir / "evaluate.json").exists():
        raise FileExistsError(f"{out_dir} already holds evaluate.json; choose another --out")
    loaded = load_model_for(model_path, manifest)  # a model of another target is refused before anything is written
    out_dir.mkdir(parents=True, exist_ok=True)
    reference = MDReference(manifest, workers)
    nll_x = evenly_spaced(reference.xyz, nll_frames)
    rows = []
    for spec in specs:
        sub = out_dir / slug(spec)
        row = {"solver": spec.label}
        try:
            if (sub / "results.json").exists():
                res = json.loads((sub / "results.json").read_text())
            else:
                res = sample_conformers(model_path, sub, n=n, spec=spec, chunk_size=chunk_size, seed=seed,
                                        workers=workers, reference=reference, progress=progress)
            row.update({k: res.get(k) for k in COLUMNS[1:] if k in res})
            row.update(n_nonfinite_energy=res["n_nonfinite_energy"], n_d_chirality=res["n_d_chirality"],
                       sampling_s=res["sampling_s"], energy_s=res["energy_s"], ess=res["ess"])
            at_ess = res.get("noise_floor_reweighted")  # each row's reweighted numbers rest on its own ESS
            if at_ess:
                row.update(floor_at_ess_E_W2_kT=at_ess["E_W2_kT"], floor_at_ess_T_W2_rad=at_ess["T_W2_rad"])
            nll_path = sub / "nll.json"
            if nll_path.exists():
                nll = json.loads(nll_path.read_text())
            else:
                gen = BoltzmannGenerator(loaded, spec)
                t0 = time.perf_counter()
                log_q = gen.log_prob(nll_x, batch_size=chunk_size, progress=progress)
                nll = {**nll_summary(log_q, gen.dim), "seconds": time.perf_counter() - t0}
                atomic_write_json(nll_path, nll)
            row.update(nll_nats_per_molecule=nll["nll_nats_per_molecule"], nll_sem=nll["nll_sem"])
        except Exception as err:  # a solver setting that fails is a result, reported in its row
            row["error"] = f"{type(err).__name__}: {err}"
        rows.append(row)
    if only:
        return {"rows": rows, "partial": True}
    floor = reference.noise_floor(n, seed)
    # the raw floor at n; a reweighted number's floor is at its own ESS, in its row (floor_at_ess_*)
    floor_label = f"MD noise floor (n={floor['n']}: {floor['n_E']}/{floor['n_T']} frames tau_E/tau_T apart)"
    floor_row = {"solver": floor_label, "E_W2_kT": floor["E_W2_kT"], "T_W2_rad": floor["T_W2_rad"]}
    result = {"model": str(model_path), "n": n, "seed": seed, "nll_frames": len(nll_x), "rows": rows,
              "noise_floor": floor_row, "md_test_frames": len(reference.u),
              "md_test_set": reference.record(), "units": {"E_W2": f"kT = {reference.kT_kJ_per_mol:.4f} kJ/mol", "T_W2": "rad",
                        "nll": "nats per molecule, q per nm^96"}}
    _bootstrap_rows(rows, specs, out_dir, reference.u, seed)
    atomic_write_json(out_dir / "evaluate.json", result)
    (out_dir / "evaluate.txt").write_text(format_table(rows + [floor_row]) + "\n")
    return result
