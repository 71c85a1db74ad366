"""A/B of training levers: the training runs' own likelihood checks, and a paired NLL on one frame set.

1. ``--runs`` (checkpoint folders of ``scripts/train_aaa.sh``, the first one the baseline): from
   each run's CSV log (every ``version_*`` of a resumed run), the EMA model's likelihood checks at
   the steps they ran: ``val/nll_nats`` (exact NLL of the same 32 validation frames, the
   sampler's 16-step midpoint grid), ``val/ess_fraction`` and ``val/n_folded`` (64 draws), and
   the last validation flow-matching loss (uniform times in every run, so comparable across
   time-sampling levers; not across priors, whose paths differ).
2. ``--nll NAME=DIR`` (``rexmol likelihood`` output folders, the first one the baseline): the
   paired difference of per-frame NLL, model minus baseline, in nats per molecule, on the same
   frames (checked: equal coordinates and the same solver). Negative is better. The SE and the
   16-84% bootstrap interval treat frames as independent: evenly spaced frames of a few long runs
   are correlated through slow conformational changes, so they are lower bounds on the real
   uncertainty.

Writes results/training_ab.json.

    python benchmarks/training_ab.py --runs checkpoints/ala3_dit_aaa checkpoints/ala3_dit_aaa_harmonic \
        [--nll shipped=runs/nll_val_shipped harmonic=runs/nll_val_harmonic]
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

CHECKS = ("val/nll_nats", "val/ess_fraction", "val/n_folded")


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


def paired_nll_difference(base: dict, other: dict, n_boot: int = 2000, seed: int = 0) -> dict:
    """mean_i [-log q_other(x_i) + log q_base(x_i)] with its SE and a 16-84% bootstrap interval."""
    if base["x"].shape != other["x"].shape or not np.array_equal(base["x"], other["x"]):
        raise SystemExit("the two likelihood runs are not of the same frames: rerun with the same --frames/--n-frames")
    if base["meta"].get("solver") != other["meta"].get("solver"):
        raise SystemExit(f"different solvers: {base['meta'].get('solver')!r} against {other['meta'].get('solver')!r}")
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, nargs="*", default=[], help="checkpoint folders; the first is the baseline")
    p.add_argument("--nll", nargs="*", default=[], metavar="NAME=DIR",
                   help="rexmol likelihood output folders on the same frames; the first is the baseline")
    args = p.parse_args(argv)
    if not args.runs and not args.nll:
        raise SystemExit("nothing to compare: give --runs and/or --nll")
    payload: dict = {"runs": {}, "paired_nll": {}}

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
        named = []
        for item in args.nll:
            name, sep, path = item.partition("=")
            if not sep or not name or not path:
                raise SystemExit(f"--nll takes NAME=DIR, got {item!r}")
            named.append((name, read_likelihood(Path(path)), path))
        base_name, base, _ = named[0]
        rows = [{"model": base_name, "nll_nats": float(-base["log_q"][np.isfinite(base["log_q"])].mean()),
                 "minus_baseline": 0.0}]
        for name, other, path in named[1:]:
            d = paired_nll_difference(base, other)
            payload["paired_nll"][name] = {"dir": path, "baseline": base_name, **d}
            rows.append({"model": name, "nll_nats": d["nll_nats"], "minus_baseline": d["nll_difference_nats"],
                         "se": d["se_nats"], "interval_16_84": "[{:.2f}, {:.2f}]".format(*d["interval_16_84"]),
                         "frames": d["frames"]})
        print(f"\nPaired NLL (nats per molecule; {base['meta'].get('frames')} frames of "
              f"{base['meta'].get('frames_from')}, {base['meta'].get('solver')}); negative is better:")
        print(table(rows, ["model", "nll_nats", "minus_baseline", "se", "interval_16_84", "frames"], floatfmt="{:.2f}"))
    print(f"wrote {write_json('training_ab', payload)}")


if __name__ == "__main__":
    main()
