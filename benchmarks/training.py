"""Training throughput and a short CPU training run that shows the flow-matching loss falling.

1. Throughput of the shipped config (configs/ala3_dit.yaml: width 128, depth 4, batch 256):
   median seconds per optimisation step (rotations, OT pairing, AdamW, EMA) over ``--steps``
   steps after warm-up, as samples/s, against the same step without OT/rotation/EMA measured in
   the same run (the baseline).
2. A short run (``--short-steps``, small model width 64, depth 2) on the shipped training split:
   validation flow-matching loss on fixed noise every 50 steps. Under 10 minutes on 2 CPU cores.

    python benchmarks/training.py [--steps 10] [--short-steps 400] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import table, write_json  # noqa: E402
from rexmol.molecules import dataset  # noqa: E402
from rexmol.training import FlowMatchingModule, centre  # noqa: E402


def step_time(module, data, steps, full=True):
    opt = torch.optim.AdamW(module.model.parameters(), lr=5e-4)
    gen = torch.Generator().manual_seed(0)
    times = []
    for i in range(steps + 2):
        batch = data[torch.randint(0, len(data), (256,), generator=gen)]
        t0 = time.perf_counter()
        loss = module.loss(batch, module.model, rotate=full, ot=full)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.model.parameters(), 1.0)
        opt.step()
        if full:
            module.ema.update_parameters(module.model)
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--short-steps", type=int, default=400)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--manifest", type=Path, default=dataset.MANIFEST)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    train = torch.from_numpy(centre(dataset.load_split("train", args.manifest)))
    val = torch.from_numpy(centre(dataset.load_split("val", args.manifest)[::10][:2048]))

    shipped = FlowMatchingModule()
    full = step_time(shipped, train, args.steps, full=True)
    base = step_time(FlowMatchingModule(), train, args.steps, full=False)
    throughput = [
        {"step": "plain forward/backward/AdamW (baseline)", "s_per_step": base, "samples_per_s": 256 / base, "x_baseline": 1.0},
        {"step": "shipped: + rotations, OT pairing, EMA", "s_per_step": full, "samples_per_s": 256 / full,
         "x_baseline": full / base},
    ]
    print(f"Shipped config, batch 256, {torch.get_num_threads()} thread(s), median of {args.steps} steps")
    print(table(throughput))

    small = FlowMatchingModule(width=64, depth=2, heads=4, lr=2e-3, warmup_steps=50, max_steps=args.short_steps)
    opt_cfg = small.configure_optimizers()
    opt, sched = opt_cfg["optimizer"], opt_cfg["lr_scheduler"]["scheduler"]
    gen = torch.Generator().manual_seed(1)
    curve, t_start = [], time.perf_counter()

    def val_loss():
        with torch.no_grad():
            return float(small.loss(val, small.ema.module, generator=torch.Generator().manual_seed(7)))

    for step in range(args.short_steps + 1):
        if step % 50 == 0:
            curve.append({"step": step, "val_fm_loss_ema": val_loss(), "wall_s": time.perf_counter() - t_start})
            print(curve[-1], flush=True)
        if step == args.short_steps:
            break
        batch = train[torch.randint(0, len(train), (256,), generator=gen)]
        loss = small.loss(batch, small.model, rotate=True, ot=True)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(small.model.parameters(), 1.0)
        opt.step()
        sched.step()
        small.ema.update_parameters(small.model)
    print(table(curve))
    falling = curve[-1]["val_fm_loss_ema"] < curve[0]["val_fm_loss_ema"]
    print(f"validation loss {curve[0]['val_fm_loss_ema']:.3f} -> {curve[-1]['val_fm_loss_ema']:.3f} "
          f"({'falling' if falling else 'NOT falling'})")
    path = write_json("training", {"description": __doc__, "threads": torch.get_num_threads(),
                                   "train_frames": len(train), "throughput": throughput, "short_run": curve,
                                   "loss_fell": bool(falling), "np": np.__version__})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
