"""Quality report of a shipped model: unweighted Rex samples against the MD test set.

Draws n conformers from the Boltzmann generator's flow (same prior, end time and coordinate scale
as ``rexmol sample``) with Rex(rk4), zeta = 0.999, fixed steps and no likelihood, scores them with
OpenMM, and compares with the test split:
- E-W2 (kT) and T-W2 (rad) of the samples against the test set, beside the MD noise floor
  measured the same way: n independent frames of the validation and training trajectories,
  spaced by tau_int (``MDReference.noise_floor``), against the same test set; energies from the
  manifest's target;
- a Ramachandran figure (samples vs MD) and energy histograms;
- the training curve from Lightning's CSV log, if given.
Writes ``report.json`` and PNGs into ``out_dir`` (a new folder; never overwritten unless asked).
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np

from rexmol.boltzmann.generator import BoltzmannGenerator, fixed_step_spec
from rexmol.boltzmann.sampling import MDReference, load_model_for
from rexmol.io import atomic_path, atomic_write_json
from rexmol.metrics import backbone_torsions, energy_w2, torus_w2
from rexmol.metrics.plots import energy_histogram, ramachandran
from rexmol.model.checkpoint import model_sha256
from rexmol.molecules import ala3, dataset


def sample_model(loaded, n: int, steps: int = 40, seed: int = 0, batch: int = 500) -> np.ndarray:
    """n conformations in nm (centred) from a :class:`LoadedModel`: the generator's
    :meth:`~BoltzmannGenerator.sample_conformers` with :func:`fixed_step_spec` (``steps`` steps)."""
    return BoltzmannGenerator(loaded, fixed_step_spec(steps)).sample_conformers(n, seed, batch_size=batch)


def training_curve(csv_path: Path, png_path: Path) -> dict:
    """Plot train/val flow-matching loss against step from a Lightning CSVLogger file."""
    from rexmol.metrics.plots import _pyplot, _save

    rows = list(csv.DictReader(open(csv_path)))
    series = {}
    for key in ("train/fm_loss", "val/fm_loss"):
        pts = [(int(r["step"]), float(r[key])) for r in rows if r.get(key)]
        series[key] = pts
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, pts in series.items():
        if pts:
            ax.plot(*zip(*pts), label=key)
    ax.set_xlabel("optimisation step")
    ax.set_ylabel("flow-matching loss")
    ax.set_yscale("log")
    ax.legend()
    _save(fig, png_path)
    return {k: (v[-1] if v else None) for k, v in series.items()}


def model_report(model_path, out_dir, n: int = 2000, steps: int = 40, seed: int = 0,
                 manifest=dataset.MANIFEST, training_csv=None, overwrite: bool = False, workers: int = 2) -> dict:
    out_dir = Path(out_dir)
    if (out_dir / "report.json").exists() and not overwrite:
        raise FileExistsError(f"{out_dir} already holds report.json; choose another folder or pass overwrite")
    loaded = load_model_for(model_path, manifest)  # refused before anything is written
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    spec = fixed_step_spec(steps)
    x = sample_model(loaded, n, steps, seed)
    sample_s = time.perf_counter() - t0
    reference = MDReference(manifest, workers)  # the test set, scored by the manifest's target
    u_test, tors_test = reference.u, reference.torsions
    with reference.evaluator() as ev:
        u_model = ev.reduced(x, nonfinite="inf")
    tors_model, names = backbone_torsions(x)
    ew2_model = energy_w2(u_model, u_test)
    floor = reference.noise_floor(n, seed, n_max=min(n, 2000))
    report = {
        "model": str(model_path), "model_sha256": model_sha256(model_path), "samples": n, "seed": seed,
        "solver": spec.label,
        "sampling_s": sample_s, "test_frames": len(u_test),
        "E_W2_kT": ew2_model.value, "non_finite_energies": ew2_model.n_dropped_a,
        "T_W2_rad": torus_w2(tors_model, tors_test, n_max=min(n, 2000), seed=seed),
        # n independent MD frames (val + train runs, spaced by tau_int; fewer if the MD holds fewer)
        "noise_floor_E_W2_kT": floor["E_W2_kT"], "noise_floor_T_W2_rad": floor["T_W2_rad"],
        "noise_floor_frames_E_T": [floor["n_E"], floor["n_T"]],
        "median_u_model_kT": float(np.median(u_model)), "median_u_test_kT": float(np.median(u_test)),
        "u_model_percentiles_kT": dict(zip(("5", "25", "50", "75", "95"),
                                           np.percentile(u_model, [5, 25, 50, 75, 95]).tolist())),
        "fraction_below_md_max_energy": float(np.mean(u_model <= u_test.max())),
        "fraction_all_L": float((ala3.chirality_volumes(None, x) > 0).all(axis=1).mean()),
        "torsions": names, "global_step": loaded.info.get("global_step"), "md_test_set": reference.record(),
    }
    ramachandran({"MD test": (tors_test, None), "model (unweighted)": (tors_model, None)}, names,
                 out_dir / "ramachandran.png")
    energy_histogram({"MD test": (u_test, None), "model (unweighted)": (u_model, None)}, out_dir / "energies.png")
    if training_csv:
        report["final_losses"] = training_curve(Path(training_csv), out_dir / "training_curve.png")
    with atomic_path(out_dir / "samples_nm.npy") as tmp:
        np.save(tmp, x.astype(np.float32))
    atomic_write_json(out_dir / "report.json", report)  # last: its presence marks a finished report
    return report
