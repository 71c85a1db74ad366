"""A/B of training levers: the training runs' own likelihood checks, and a paired NLL on one frame set.

1. ``--runs`` (checkpoint folders of ``scripts/train_aaa.sh``, the first one the baseline): from
   each run's CSV log (every ``version_*`` of a resumed run), the EMA model's likelihood checks at
   the steps they ran: ``val/nll_nats`` (exact NLL of the same 32 validation frames, the
   sampler's 16-step midpoint grid), ``val/ess_fraction`` and ``val/n_folded`` (64 draws), and
   the last validation flow-matching loss (uniform times in every run, so comparable across
   time-sampling levers; not across priors, whose paths differ).
2. ``--nll NAME=DIR`` (``rexmol likelihood`` output folders, the first one the baseline): the
   paired difference of per-frame NLL, model minus baseline, in nats per molecule, on the same
   frames (checked: the same solver, and each frame's coordinates equal to a baseline frame's, so
   a run on a subset of the baseline's frames, ``rexmol likelihood --frames BASE/log_q.npz
   --n-frames K``, pairs on that subset). Negative is better. The SE and the
   16-84% bootstrap interval treat frames as independent: evenly spaced frames of a few long runs
   are correlated through slow conformational changes, so they are lower bounds on the real
   uncertainty.
3. ``--samples NAME=DIR`` (``rexmol sample`` output folders; the first folder of each setting,
   n, seed, chunk size, solver and clipping, is the baseline of the folders with that setting, so
   one call pairs models on several samplers): the two models' draws from the same noise (checked: same n, seed, chunk size and
   solver settings), so statistics of the draws are paired by the noise that produced them. Per
   model: the Kish ESS and the mean and median of log w = -u - log q. The mean of log w is
   -KL(q || p) + log Z, and log Z is the target's, the same for both models, so the difference
   of mean log w is KL_base - KL_model in nats (positive is better), an estimate far less noisy
   than an ESS of a few draws; it is over each model's draws with a finite weight, so where the
   two lose different draws (folds, clashes) it is not paired draw for draw. The median is
   shown beside it because a few clashing draws (u of 10^6 kT) dominate the mean. The median is
   ``rexmol.metrics.weights.log_w_quantiles``'s, the one the training checks log: a draw of
   weight 0 counts as the lowest, so a model that loses draws cannot raise its median. The ESS
   ratio and both differences come with 16-84% intervals over the same bootstrap resamples of
   the draws. Also per model: the spread of log w (half its 16-84% range) and the largest
   normalised weight, which say whether an ESS is decided by the bulk or by one draw, and the
   Pareto k-hat of the weights' tail (``rexmol.metrics.weights.pareto_khat``; above 0.7 the ESS
   at this n is not reliable) with the ESS of the Pareto-smoothed weights
   (``rexmol.metrics.weights.psis_ess``), which one heavy draw moves less; its ratio comes with
   an interval over the same resamples (each resample's tail refitted) and the resamples' median
   (the interval can sit off-centre: a resample duplicates or drops the few heaviest draws). At
   k-hat near 1 one or two draws can move the Kish ESS 4x between n = 2000 and 4000 while its
   bootstrap interval stays narrow, so the ship rule (README, "The ship rule") reads the smoothed
   ratio at n = 4000.
   ``--versus NAME=BASE`` pairs folder NAME with folder BASE instead (same settings, checked),
   e.g. a candidate against the model shipped now rather than the group's first.

Writes results/training_ab.json (``--json-name`` for another name).

    python benchmarks/training_ab.py --runs checkpoints/ala3_dit_aaa checkpoints/ala3_dit_aaa_harmonic \
        [--nll shipped=runs/nll_val_shipped harmonic=runs/nll_val_harmonic] \
        [--samples shipped=benchmarks/results/aaa_headline time2=runs/aaa_time2_headline]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import table, write_json  # noqa: E402
from rexmol.metrics.bootstrap import ess_fraction, interval, resample_indices  # noqa: E402
from rexmol.metrics.weights import log_w_quantiles, pareto_khat, psis_ess  # noqa: E402

CHECKS = ("val/nll_nats", "val/ess_fraction", "val/n_folded", "val/log_w_median", "val/log_w_spread")


def read_run_log(run_dir: Path) -> dict:
    """The likelihood checks {step: {metric: value}} and the last val/fm_loss of one training run."""
    logs = sorted(Path(run_dir).glob("csv/version_*/metrics.csv"))
    if not logs:
        raise SystemExit(f"{run_dir} has no csv/version_*/metrics.csv: not a checkpoint folder of scripts/train_aaa.sh")
    checks: dict[int, dict] = {}
    last_fm = None
    for log in logs:
        with open(log, newline="") as f:
            for row in csv.DictReader(f):
                step = int(row["step"])
                for key in CHECKS:
                    if row.get(key):
                        checks.setdefault(step, {})[key] = float(row[key])
                if row.get("val/fm_loss") and (last_fm is None or step >= last_fm[0]):
                    last_fm = (step, float(row["val/fm_loss"]))
    return {"checks": dict(sorted(checks.items())), "last_val_fm_loss": last_fm}


def read_likelihood(out_dir: Path) -> dict:
    """Per-frame log q, frames and solver of one ``rexmol likelihood`` output folder."""
    meta_path, arrays_path = Path(out_dir) / "likelihood.json", Path(out_dir) / "log_q.npz"
    for f in (meta_path, arrays_path):
        if not f.is_file():
            raise SystemExit(f"{f} does not exist: --nll takes rexmol likelihood output folders")
    meta = json.loads(meta_path.read_text())
    arrays = np.load(arrays_path)
    return {"meta": meta, "log_q": arrays["log_q"].astype(np.float64), "x": arrays["x"]}


def matching_rows(base_x: np.ndarray, other_x: np.ndarray, atol_nm: float = 1e-6) -> np.ndarray | None:
    """For each frame of ``other_x`` the index of the same frame in ``base_x`` (every coordinate
    within ``atol_nm``: a re-centred float32 copy differs in the last bit), or None if one has none."""
    if base_x.shape[1:] != other_x.shape[1:] or len(other_x) > len(base_x):
        return None
    a, b = base_x.reshape(len(base_x), -1), other_x.reshape(len(other_x), -1)
    if a.shape == b.shape and np.abs(a - b).max(initial=0.0) <= atol_nm:  # (False with any NaN)
        return np.arange(len(a))
    rows = np.empty(len(b), dtype=int)
    for i, frame in enumerate(b):
        dev = np.abs(a - frame).max(axis=1)
        dev = np.where(np.isnan(dev), np.inf, dev)  # a NaN frame matches nothing
        rows[i] = int(dev.argmin())
        if not dev[rows[i]] <= atol_nm:
            return None
    return rows


def paired_nll_difference(base: dict, other: dict, n_boot: int = 2000, seed: int = 0, same: str = "solver") -> dict:
    """mean_i [-log q_other(x_i) + log q_base(x_i)] with its SE and a 16-84% bootstrap interval.

    ``same`` names what the two runs must share besides the frames: the solver (an A/B of models)
    or the model (a comparison of solvers, benchmarks/nll_solver_gap.py)."""
    rows = matching_rows(base["x"], other["x"])
    if rows is None:
        raise SystemExit("the frames of the second likelihood run are not frames of the first: rerun with the same "
                         "--frames/--n-frames, or --frames <first run>/log_q.npz for a subset of its frames")
    base = {**base, "log_q": base["log_q"][rows], "x": base["x"][rows]}  # a subset: pair on its frames
    if base["meta"].get(same) != other["meta"].get(same):
        raise SystemExit(f"different {same}s: {base['meta'].get(same)!r} against {other['meta'].get(same)!r}")
    finite = np.isfinite(base["log_q"]) & np.isfinite(other["log_q"])
    diff = base["log_q"][finite] - other["log_q"][finite]  # NLL_other - NLL_base
    rng = np.random.default_rng(seed)
    boot = diff[rng.integers(0, diff.size, size=(n_boot, diff.size))].mean(axis=1)
    return {"frames": int(diff.size), "frames_nonfinite": int((~finite).sum()),
            "nll_difference_nats": float(diff.mean()),
            "se_nats": float(diff.std(ddof=1) / math.sqrt(diff.size)),
            "interval_16_84": [float(np.percentile(boot, 16)), float(np.percentile(boot, 84))],
            "nll_base_nats": float(-base["log_q"][finite].mean()),
            "nll_nats": float(-other["log_q"][finite].mean())}


#: settings.json entries that must agree for two sample folders to share their noise draws
SAMPLE_SETTINGS = ("n", "chunk_size", "seed", "solver", "clip_quantile")


def read_samples(out_dir: Path) -> dict:
    """Settings and arrays (log q, u, log w, weights, and torsions where saved) of one ``rexmol sample`` output folder."""
    settings_path, arrays_path = Path(out_dir) / "settings.json", Path(out_dir) / "arrays.npz"
    for f in (settings_path, arrays_path):
        if not f.is_file():
            raise SystemExit(f"{f} does not exist: --samples takes rexmol sample output folders")
    arrays = np.load(arrays_path)
    return {"settings": json.loads(settings_path.read_text()),
            **{k: arrays[k].astype(np.float64) for k in ("log_q", "u", "log_w", "weights", "torsions") if k in arrays}}


def paired_sample_comparison(base: dict, other: dict, n_boot: int = 2000, seed: int = 0, same: str = "solver",
                             across_bond_shift: bool = False) -> dict:
    """ESS of each, ESS_other / ESS_base, and the paired differences (other - base) of the mean and
    median log w, each with a 16-84% interval over the same bootstrap resamples of the draws.

    ``same`` names what the two runs share besides their noise: the solver (an A/B of models) or
    the model (``"model_sha256"``: an A/B of samplers, benchmarks/sampler_ab.py). A run whose draws
    were moved by a bond shift (``rexmol sample --bond-shift``) pairs only with another such run (each
    model with its own shift), unless ``across_bond_shift``: then the comparison is the shift itself."""
    keys = [k for k in SAMPLE_SETTINGS if k != "solver"] + [same]
    for key in keys:
        if base["settings"].get(key) != other["settings"].get(key):
            raise SystemExit(f"the sample runs differ in {key!r}: {base['settings'].get(key)!r} against "
                             f"{other['settings'].get(key)!r}; a paired comparison needs the same noise and {same}")
    shifted = (bool(base["settings"].get("bond_shift")), bool(other["settings"].get("bond_shift")))
    if shifted[0] != shifted[1] and not across_bond_shift:
        raise SystemExit(f"one run's draws were moved by a bond shift and the other's were not (baseline {shifted[0]}, "
                         f"other {shifted[1]}); pass --across-bond-shift if the shift is what you compare")
    idx = resample_indices(len(base["weights"]), n_boot, seed)
    everything = np.arange(len(base["weights"]))

    def log_w_stats(a, i):
        lw = a["log_w"][i]
        finite = lw[np.isfinite(lw)]
        return (float(finite.mean()) if finite.size else np.nan, log_w_quantiles(lw)["log_w_median"])

    ess = {name: ess_fraction(a, everything) for name, a in (("base", base), ("other", other))}
    boot_ess = np.array([[ess_fraction(base, i), ess_fraction(other, i)] for i in idx])
    psis = {name: psis_ess(a["log_w"])["ess_fraction"] for name, a in (("base", base), ("other", other))}
    # the smoothed ESS of each resample: its tail refitted, so the interval shows how far the draws
    # at hand move it (a tail heavier than any draw seen is beyond every bootstrap)
    boot_psis = np.array([[psis_ess(base["log_w"][i])["ess_fraction"], psis_ess(other["log_w"][i])["ess_fraction"]]
                          for i in idx])
    boot_psis_ratio = boot_psis[:, 1] / boot_psis[:, 0]
    boot_lw = np.array([[*log_w_stats(base, i), *log_w_stats(other, i)] for i in idx])
    (mean_b, med_b), (mean_o, med_o) = log_w_stats(base, everything), log_w_stats(other, everything)
    finite = np.isfinite(base["log_w"]) & np.isfinite(other["log_w"])
    return {"n": int(len(base["weights"])), "n_nonfinite_log_w": [int((~np.isfinite(a["log_w"])).sum())
                                                                   for a in (base, other)],
            "ess_fraction_base": ess["base"], "ess_fraction": ess["other"],
            "ess_ratio": ess["other"] / ess["base"],
            "ess_ratio_interval_16_84": interval(boot_ess[:, 1] / boot_ess[:, 0]),
            "mean_log_w_base": mean_b, "mean_log_w": mean_o,
            "mean_log_w_difference_nats": mean_o - mean_b,
            "mean_log_w_difference_interval_16_84": interval(boot_lw[:, 2] - boot_lw[:, 0]),
            "median_log_w_difference_nats": med_o - med_b,
            "median_log_w_difference_interval_16_84": interval(boot_lw[:, 3] - boot_lw[:, 1]),
            "per_draw_log_w_difference_median": float(np.median(other["log_w"][finite] - base["log_w"][finite])),
            # half the 16-84% range of log w (weight-0 draws lowest): the bulk's width, which the ESS
            # of a few heavy draws does not show; and the largest normalised weight
            "log_w_spread_base": log_w_quantiles(base["log_w"])["log_w_spread"],
            "log_w_spread": log_w_quantiles(other["log_w"])["log_w_spread"],
            "max_weight_base": float(np.max(base["weights"])), "max_weight": float(np.max(other["weights"])),
            # the Pareto tail shape of each weight set (PSIS): above 0.7 its ESS is not reliable at this n
            "pareto_khat_base": pareto_khat(base["log_w"])["khat"], "pareto_khat": pareto_khat(other["log_w"])["khat"],
            # the ESS of Pareto-smoothed weights: one heavy draw counts by what the fitted tail says
            "psis_ess_fraction_base": psis["base"], "psis_ess_fraction": psis["other"],
            "psis_ess_ratio": psis["other"] / psis["base"],
            "psis_ess_ratio_interval_16_84": interval(boot_psis_ratio),
            # resampling duplicates or drops the few heaviest draws, so the resamples' ratios need not
            # centre on the point estimate: their median says how far they are skewed
            "psis_ess_ratio_bootstrap_median": float(np.median(boot_psis_ratio)),
            "bootstrap": {"resamples": n_boot, "seed": seed}}


def paired_sample_row(name_key: str, name: str, d: dict) -> dict:
    """One printed row of a paired_sample_comparison: ESS of both, their ratio and the log w
    differences with their 16-84% intervals (shared by this script and sampler_ab.py)."""
    return {name_key: name, "ess_base": f"{100 * d['ess_fraction_base']:.2f}%",
            "ess": f"{100 * d['ess_fraction']:.2f}%",
            "ess_ratio": "{:.2f} [{:.2f}, {:.2f}]".format(d["ess_ratio"], *d["ess_ratio_interval_16_84"]),
            "psis_ess_base": f"{100 * d['psis_ess_fraction_base']:.2f}%", "psis_ess": f"{100 * d['psis_ess_fraction']:.2f}%",
            "psis_ess_ratio": "{:.2f} [{:.2f}, {:.2f}]".format(d["psis_ess_ratio"], *d["psis_ess_ratio_interval_16_84"]),
            "mean_log_w_diff": "{:.1f} [{:.1f}, {:.1f}]".format(
                d["mean_log_w_difference_nats"], *d["mean_log_w_difference_interval_16_84"]),
            "median_log_w_diff": "{:.2f} [{:.2f}, {:.2f}]".format(
                d["median_log_w_difference_nats"], *d["median_log_w_difference_interval_16_84"])}


PAIRED_SAMPLE_COLUMNS = ["ess_base", "ess", "ess_ratio", "psis_ess_base", "psis_ess", "psis_ess_ratio", "mean_log_w_diff",
                         "median_log_w_diff"]


def named_dirs(items: list[str], flag: str) -> list[tuple[str, str]]:
    named = []
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"{flag} takes NAME=DIR, got {item!r}")
        named.append((name, path))
    return named


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, nargs="*", default=[], help="checkpoint folders; the first is the baseline")
    p.add_argument("--nll", nargs="*", default=[], metavar="NAME=DIR",
                   help="rexmol likelihood output folders on the same frames; the first is the baseline")
    p.add_argument("--samples", nargs="*", default=[], metavar="NAME=DIR",
                   help="rexmol sample output folders from the same noise; the first of each solver setting "
                        "is that setting's baseline")
    p.add_argument("--json-name", default="training_ab", help="results/<name>.json (default: training_ab)")
    p.add_argument("--versus", nargs="*", default=[], metavar="NAME=BASE",
                   help="pair --samples folder NAME with folder BASE instead of its setting's first folder")
    p.add_argument("--across-bond-shift", action="store_true",
                   help="allow pairing draws moved by a bond shift with draws that were not (the shift is the A/B)")
    args = p.parse_args(argv)
    if not args.runs and not args.nll and not args.samples:
        raise SystemExit("nothing to compare: give --runs, --nll and/or --samples")
    payload: dict = {"runs": {}, "paired_nll": {}, "paired_samples": {}}

    if args.runs:
        rows = []
        for run in args.runs:
            log = read_run_log(run)
            payload["runs"][str(run)] = {"checks": {str(s): v for s, v in log["checks"].items()},
                                         "last_val_fm_loss": log["last_val_fm_loss"]}
            for step, values in log["checks"].items():
                rows.append({"run": run.name, "step": step, **{k: values.get(k, "") for k in CHECKS}})
            if log["last_val_fm_loss"]:
                rows.append({"run": run.name, "step": log["last_val_fm_loss"][0], "val/fm_loss": log["last_val_fm_loss"][1]})
        print("Likelihood checks of the training runs (32 fixed validation frames; ESS of 64 draws):")
        print(table(rows, ["run", "step", *CHECKS, "val/fm_loss"], floatfmt="{:.4g}"))

    if args.nll:
        named = [(name, read_likelihood(Path(path)), path) for name, path in named_dirs(args.nll, "--nll")]
        base_name, base, _ = named[0]
        rows = [{"model": base_name, "nll_nats": float(-base["log_q"][np.isfinite(base["log_q"])].mean()),
                 "minus_baseline": 0.0}]
        for name, other, path in named[1:]:
            d = paired_nll_difference(base, other)
            payload["paired_nll"][name] = {"dir": path, "baseline": base_name, **d}
            rows.append({"model": name, "nll_nats": d["nll_nats"], "baseline_on_its_frames": d["nll_base_nats"],
                         "minus_baseline": d["nll_difference_nats"],
                         "se": d["se_nats"], "interval_16_84": "[{:.2f}, {:.2f}]".format(*d["interval_16_84"]),
                         "frames": d["frames"]})
        print(f"\nPaired NLL (nats per molecule; {base['meta'].get('frames')} frames of "
              f"{base['meta'].get('frames_from')}, {base['meta'].get('solver')}); negative is better:")
        print(table(rows, ["model", "nll_nats", "baseline_on_its_frames", "minus_baseline", "se", "interval_16_84",
                           "frames"], floatfmt="{:.2f}"))
    if args.samples:
        named = [(name, read_samples(Path(path)), path) for name, path in named_dirs(args.samples, "--samples")]
        names = [name for name, _, _ in named]
        if len(set(names)) != len(names):
            raise SystemExit(f"--samples needs a NAME per folder, got {names}")
        versus = dict(named_dirs(args.versus, "--versus"))
        unknown = sorted({*versus, *versus.values()} - set(names))
        if unknown or any(name == base for name, base in versus.items()):
            raise SystemExit(f"--versus pairs {versus}: each NAME=BASE names two different --samples folders ({names})")
        by_name = {item[0]: item for item in named}
        setting = lambda run: json.dumps({k: run["settings"].get(k) for k in SAMPLE_SETTINGS}, sort_keys=True)  # noqa: E731
        first: dict[str, str] = {}  # the first folder of each setting (n, seed, chunk, solver) is its baseline
        for name, run, _ in named:
            first.setdefault(setting(run), name)
        pairs: dict[str, list] = {}  # baseline name -> the folders paired with it, in the order given
        for name, run, _ in named:
            base = versus.get(name) or first[setting(run)]
            if base != name:
                pairs.setdefault(base, []).append(by_name[name])
        paired = set(pairs) | {other[0] for group in pairs.values() for other in group}
        for name, run, path in named:
            if name not in paired:
                raise SystemExit(f"--samples {name}={path} has no other folder of its settings to pair "
                                 f"with: {({k: run['settings'].get(k) for k in SAMPLE_SETTINGS})}")
        for base_name, others in pairs.items():
            _, base, base_path = by_name[base_name]
            rows = []
            for name, other, path in others:
                d = paired_sample_comparison(base, other, across_bond_shift=args.across_bond_shift)
                payload["paired_samples"][name] = {"dir": path, "baseline": base_name, "baseline_dir": base_path,
                                                   "bond_shift_base": base["settings"].get("bond_shift"),
                                                   "bond_shift": other["settings"].get("bond_shift"), **d}
                rows.append(paired_sample_row("model", name, d))
            print(f"\nPaired draws against {base_name} (same noise; n = {len(base['weights'])}; "
                  f"{base['settings'].get('solver')}; log w differences in nats, model minus baseline, positive "
                  "is better; 16-84% bootstrap intervals):")
            print(table(rows, ["model", *PAIRED_SAMPLE_COLUMNS]))
    print(f"wrote {write_json(args.json_name, payload)}")


if __name__ == "__main__":
    main()
