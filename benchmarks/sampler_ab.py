"""A/B of samplers on one model: ``rexmol sample`` runs from the same noise, paired draw by draw.

    python benchmarks/sampler_ab.py uniform=benchmarks/results/aaa_headline \
        logsnr=benchmarks/results/aaa_logsnr_headline

The first folder is the baseline. Each other folder must hold draws of the same model (its
SHA-256), n, seed and chunk size, so draw i of every folder comes from the same prior draw; the
solver settings differ (that is the comparison). Per sampler: the Kish ESS with its ratio to the
baseline's, and the paired differences of the mean and median of log w = -u - log q (nats;
the median counts a draw of weight 0 as the lowest;
log Z is the target's, the same for every row, so a higher median means q is closer to p on
typical draws), each with a 16-84% interval over the same bootstrap resamples of the draws
(``benchmarks/training_ab.py``'s ``paired_sample_comparison``). Writes results/sampler_ab.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import RESULTS, table, write_json  # noqa: E402
from benchmarks.training_ab import PAIRED_SAMPLE_COLUMNS, named_dirs, paired_sample_comparison, paired_sample_row, read_samples  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("samples", nargs="+", metavar="NAME=DIR", help="rexmol sample folders; the first is the baseline")
    p.add_argument("--boot", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--json-name", default="sampler_ab")
    p.add_argument("--out-dir", type=Path, default=RESULTS, help="where the JSON goes")
    args = p.parse_args(argv)
    named = [(name, read_samples(Path(path)), path) for name, path in named_dirs(args.samples, "samples")]
    if len(named) < 2:
        raise SystemExit("give a baseline folder and at least one more")
    base_name, base, base_path = named[0]
    names = [name for name, _, _ in named]
    if len(set(names)) != len(names):
        raise SystemExit(f"each folder needs its own NAME, got {names}")
    for _, samples, path in named:
        if not samples["settings"].get("model_sha256"):
            raise SystemExit(f"{path} records no model_sha256, so it cannot be paired as the same model")
    for name, samples, path in named[1:]:
        if samples["settings"].get("solver") == base["settings"].get("solver"):
            raise SystemExit(f"{name} ({path}) has the baseline's solver settings: nothing to compare")
    payload = {"baseline": base_name, "baseline_dir": base_path, "baseline_solver": base["settings"].get("solver"),
               "model_sha256": base["settings"].get("model_sha256"), "paired": {}}
    rows = []
    for name, other, path in named[1:]:
        d = paired_sample_comparison(base, other, n_boot=args.boot, same="model_sha256")
        payload["paired"][name] = {"dir": path, "solver": other["settings"].get("solver"), **d}
        rows.append(paired_sample_row("sampler", name, d))
    print(f"Paired draws of one model against {base_name} (same noise; n = {len(base['weights'])}; "
          "16-84% bootstrap intervals; log w differences in nats, positive is better):")
    print(table(rows, ["sampler", *PAIRED_SAMPLE_COLUMNS]))
    print(f"wrote {write_json(args.json_name, payload, args.out_dir)}")


if __name__ == "__main__":
    main()
