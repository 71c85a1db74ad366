"""Training throughput and a short CPU training run that shows the flow-matching loss falling.

1. Throughput of the shipped config (the ``model`` section of configs/ala3_dit.yaml, batch 256):
   median seconds per optimisation step (rotations, OT pairing, AdamW, EMA) over ``--steps``
   steps after warm-up, as samples/s, against the same step without OT/rotation/EMA measured in
   the same run (the baseline).
2. The cost of one exact divergence evaluation (the full 96-dimensional Jacobian trace, the
   default method) of the shipped architecture relative to one forward pass, batch 32.
3. A short run (``--short-steps``, the shipped architecture, lr 1e-3 with a 50-step warm-up) on
   the shipped training split: the EMA model's validation flow-matching loss (fixed noise, OT
   pairing as in training) every 50 steps. Under 10 minutes on 2 CPU cores.

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
from rexmol.geometry import centre  # noqa: E402
from rexmol.molecules import dataset  # noqa: E402
from rexmol.training import FlowMatchingModule  # noqa: E402


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


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


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

    import yaml

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs" / "ala3_dit.yaml").read_text())["model"]
    shipped = FlowMatchingModule(**config)
    full = step_time(shipped, train, args.steps, full=True)
    base = step_time(FlowMatchingModule(**config), train, args.steps, full=False)
    throughput = [
        {"step": "plain forward/backward/AdamW (baseline)", "s_per_step": base, "samples_per_s": 256 / base, "x_baseline": 1.0},
        {"step": "shipped: + rotations, OT pairing, EMA", "s_per_step": full, "samples_per_s": 256 / full,
         "x_baseline": full / base},
    ]
    print(f"Shipped config, batch 256, {torch.get_num_threads()} thread(s), median of {args.steps} steps")
    print(table(throughput))

    from rexmol.flows import divergence

    model = shipped.ema.module
    for prm in model.parameters():  # a trained-like dense Jacobian (adaLN-Zero starts as the zero map)
        torch.nn.init.normal_(prm, std=0.05)
    x = 0.2 * torch.randn(32, 33, 3)
    fn = lambda y: model(torch.full((y.shape[0],), 0.5), y)  # noqa: E731
    with torch.no_grad():
        forward_s = statistics.median(_timed(lambda: fn(x)) for _ in range(5))
    div_s = statistics.median(_timed(lambda: divergence(fn, x)) for _ in range(3))
    div_rows = [{"evaluation": "forward pass, batch 32", "seconds": forward_s, "x_forward": 1.0},
                {"evaluation": "exact divergence (1 forward + 99 reverse passes), batch 32", "seconds": div_s,
                 "x_forward": div_s / forward_s}]
    print(table(div_rows))

    small = FlowMatchingModule(**{**config, "lr": 1e-3, "warmup_steps": 50, "max_steps": args.short_steps})
    opt_cfg = small.configure_optimizers()
    opt, sched = opt_cfg["optimizer"], opt_cfg["lr_scheduler"]["scheduler"]
    gen = torch.Generator().manual_seed(1)
    curve, t_start = [], time.perf_counter()

    def val_loss():
        with torch.no_grad():
            gen_v = torch.Generator().manual_seed(7)
            parts = [small.loss(v, small.ema.module, generator=gen_v, ot=True) for v in val.split(256)]
            return float(torch.stack(parts).mean())

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
                                   "config": config, "train_frames": len(train), "throughput": throughput,
                                   "divergence_cost": div_rows, "short_run": curve,
                                   "loss_fell": bool(falling), "np": np.__version__})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
