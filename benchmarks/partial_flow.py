"""Where along t a model's draws pick up their excess energy: the flow run from noised MD frames.

A draw of the 1 fs models sits 15-18 kT above MD in median u, most of it in bonds and angles
(``benchmarks/energy_terms.py``). This asks which part of the time interval puts it there. For
each start time s, test frames x1 (nm, randomly rotated, y1 = coord_scale * x1) are paired with
prior noise y0 as in training (minibatch OT in batches of 256, ``rexmol.training.module.ot_pair``),
put on the training path y_s = s y1 + (1 - s) y0, and carried from s to 1 by the model's ODE
dy/dt = v(t, y) (classical RK4, ``--steps`` steps over [0, 1], a share (1 - s) of them here). s = 0
is a plain draw from the prior; as s -> 1 the endpoint tends to the MD frame itself. The median
excess of each energy term over the MD frames' (kT, u = U/kT at the target's temperature) at each
s then says where the excess is made: if it is already there from s = 0.9, the last tenth of the
flow (the data end, where training's t ~ Beta(p, 1) puts more weight for p > 1) makes it; if it
vanishes by s = 0.5, the early part does. Also the median RMS distance over atoms (nm) of each
endpoint from its own (centred, rotated) MD frame: how much of the frame the flow keeps.

No weights or likelihoods: the path from a noised MD frame is not a draw of the model, so this is
a diagnostic of the velocity field, not a metric. Writes results/<json-name>.json.

    python benchmarks/partial_flow.py [--model models/ala3_dit.pt] [--frames 512] [--steps 64] [--starts 0 0.9]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import table, write_json  # noqa: E402
from rexmol.model.checkpoint import load_model, model_sha256  # noqa: E402
from rexmol.molecules import dataset  # noqa: E402
from rexmol.molecules.energies import energy_terms  # noqa: E402
from rexmol.molecules.target import Target, require_same_target  # noqa: E402
from rexmol.training.module import ot_pair, random_rotations  # noqa: E402

STARTS = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98)


def rk4(field, y: torch.Tensor, t0: float, steps: int) -> torch.Tensor:
    """Classical RK4 for dy/dt = field(t, y) from t0 to 1 in ``steps`` equal steps."""
    h = (1.0 - t0) / steps
    for k in range(steps):
        t = t0 + k * h
        k1 = field(t, y)
        k2 = field(t + h / 2, y + h / 2 * k1)
        k3 = field(t + h / 2, y + h / 2 * k2)
        k4 = field(t + h, y + h * k3)
        y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return y


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=Path("models/ala3_dit.pt"))
    p.add_argument("--manifest", type=Path, default=dataset.MANIFEST)
    p.add_argument("--frames", type=int, default=512, help="test frames, evenly spaced (a multiple of 256)")
    p.add_argument("--steps", type=int, default=64, help="RK4 steps over the whole interval [0, 1]")
    p.add_argument("--starts", type=float, nargs="+", default=list(STARTS), help="start times s in [0, 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json-name", default="partial_flow")
    args = p.parse_args(argv)
    if args.frames < 256 or args.frames % 256:
        raise SystemExit(f"--frames must be a positive multiple of 256 (the OT batch), got {args.frames}")
    if args.steps < 1:
        raise SystemExit(f"--steps must be at least 1, got {args.steps}")
    if not all(0 <= s < 1 for s in args.starts):
        raise SystemExit(f"--starts must lie in [0, 1), got {args.starts}")
    if not args.model.is_file():
        raise SystemExit(f"no model file {args.model}")
    loaded = load_model(args.model)
    target_record = dataset.load_manifest(args.manifest)["system"].get("target")
    require_same_target(loaded.target, str(args.model), target_record, str(args.manifest))
    target = Target.from_record(target_record)
    md = dataset.load_split("test", args.manifest)
    md = md[np.linspace(0, len(md) - 1, args.frames).round().astype(int)]
    md_terms = energy_terms(md, target)
    md_terms = {k: v for k, v in md_terms.items() if np.any(v)}  # CMMotionRemover has no energy
    md_u = sum(md_terms.values())

    scale, model = loaded.coord_scale, loaded.model
    gen = torch.Generator().manual_seed(args.seed)
    x1 = torch.as_tensor(md, dtype=torch.float32)
    x1 = x1 - x1.mean(1, keepdim=True)
    y1 = scale * x1 @ random_rotations(len(x1), gen).transpose(1, 2)
    y0 = loaded.prior.sample_like(y1, gen)
    y0 = torch.cat([ot_pair(y0[i:i + 256], y1[i:i + 256]) for i in range(0, len(y1), 256)])

    def field(t, y):
        return model(torch.tensor(t, dtype=y.dtype), y)

    rows = []
    with torch.no_grad():
        for s in args.starts:
            steps = max(1, round(args.steps * (1 - s)))
            y = rk4(field, s * y1 + (1 - s) * y0, s, steps)
            x = (y / scale).numpy().astype(np.float64)
            terms = energy_terms(x, target, nonfinite="inf")
            u = sum(terms[k] for k in md_terms)
            back = (y - y1) / scale
            row = {"start_s": s, "rk4_steps": steps,
                   "rms_to_frame_nm": float(back.square().sum(-1).mean(-1).sqrt().median()),
                   "u_median_excess_kT": float(np.median(u) - np.median(md_u))}
            for k in md_terms:
                row[k.replace("Force", "") + "_excess_kT"] = float(np.median(terms[k]) - np.median(md_terms[k]))
            rows.append(row)
            print(table([row], floatfmt="{:.3g}"), flush=True)
    print(f"{args.model} (SHA-256 {model_sha256(args.model)[:8]}), {args.frames} test frames, RK4 {args.steps} steps "
          "over [0, 1]; median excess over the same MD frames (kT):")
    print(table(rows, floatfmt="{:.3g}"))
    path = write_json(args.json_name, {"description": __doc__, "model": str(args.model),
                                       "model_sha256": model_sha256(args.model), "manifest": str(args.manifest),
                                       "frames": args.frames, "steps": args.steps, "starts": args.starts, "seed": args.seed,
                                       "md_median_u_kT": float(np.median(md_u)), "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
