"""The ``rexmol`` command line.

    rexmol demo            exact-likelihood solver demo on a Gaussian flow (the main job is `rexmol sample`)
    rexmol build-system    build data/ala3/topology.pdb offline (ideal backbone + PDBFixer)
    rexmol simulate        resumable tri-alanine Langevin MD
    rexmol dataset         write data/ala3/dataset.json: trajectories assigned to train/val/test
    rexmol train           flow-matching training with LightningCLI (--config configs/ala3_dit.yaml)
    rexmol export          EMA weights of a training checkpoint -> a shipped model file
    rexmol model-report    unweighted samples of a model vs the MD test set (E-W2, T-W2, plots)
    rexmol sample          the Boltzmann generator: conformers, exact log q, OpenMM energies, weights, metrics
    rexmol likelihood      exact log q (NLL) of MD frames, and the agreement of both directions
    rexmol evaluate        solvers side by side (Rex for several zeta, Princeps, torchdiffeq dopri5)
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path


def _demo(args) -> int:
    from rexmol.demo import format_rows, run_demo

    out = args.out or Path("outputs") / time.strftime("demo-%Y%m%d-%H%M%S")
    result = run_demo(out, n=args.n, dim=args.dim, seed=args.seed, overwrite=args.overwrite)
    print(f"Gaussian flow, d={args.dim}, n={args.n}: exact log q vs the closed form (nats)\n")
    print(format_rows(result["rows"]))
    print(f"\nwrote {Path(out) / 'results.json'}")
    return 0


def _build_system(args) -> int:
    from rexmol.molecules import ala3

    path = ala3.write_topology_pdb(args.out, overwrite=args.overwrite)
    print(f"wrote {path}")
    return 0


def _simulate(args) -> int:
    from rexmol.molecules import md

    argv = ["--out", str(args.out), "--seeds", *map(str, args.seeds), "--length-ns", str(args.length_ns)]
    if args.platform:
        argv += ["--platform", args.platform]
    if args.threads:
        argv += ["--threads", str(args.threads)]
    argv += ["--timestep-fs", str(args.timestep_fs)]
    if args.hydrogen_mass_amu is not None:
        argv += ["--hydrogen-mass-amu", str(args.hydrogen_mass_amu)]
    if args.fast_if_validated:
        argv += ["--fast-if-validated"]
    argv += ["--replicas", str(args.replicas)]
    if args.replica_spacing_nm is not None:
        argv += ["--replica-spacing-nm", str(args.replica_spacing_nm)]
    md.main(argv)
    return 0


def _dataset(args) -> int:
    from rexmol.molecules import dataset

    if args.frames_per_run < 0:
        raise ValueError(f"--frames-per-run must be >= 0 (0: any length), got {args.frames_per_run}")
    manifest = dataset.build_manifest({"train": args.train, "val": args.val, "test": args.test}, md_dir=args.md,
                                      out=args.out, frames_per_run=args.frames_per_run or None,
                                      overwrite=args.overwrite)
    for name, ns in manifest["split_ns"].items():
        print(f"{name:5s}: {len(manifest['splits'][name]):2d} trajectories, {ns:.1f} ns")
    print(f"wrote {args.out}")
    return 0


def _export(args) -> int:
    from rexmol.model.checkpoint import export_lightning_checkpoint

    path = export_lightning_checkpoint(args.ckpt, args.out, overwrite=args.overwrite)
    print(f"wrote {path}")
    return 0


def _model_report(args) -> int:
    from rexmol.training.report import model_report

    report = model_report(args.model, args.out, n=args.n, steps=args.steps, seed=args.seed, manifest=args.manifest,
                          training_csv=args.training_csv, overwrite=args.overwrite)
    for key in ("E_W2_kT", "noise_floor_E_W2_kT", "T_W2_rad", "noise_floor_T_W2_rad", "non_finite_energies",
                "median_u_model_kT", "median_u_test_kT", "fraction_below_md_max_energy", "fraction_all_L"):
        print(f"{key:30s} {report[key]:.4g}")
    print(f"wrote {args.out}/report.json and plots")
    return 0


def _spec(args):
    from rexmol.boltzmann.generator import SolverSpec

    return SolverSpec(args.solver, args.tableau, args.zeta, args.rtol, args.atol, args.steps,
                      grid=args.grid or "uniform")


def _threads(args) -> None:
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)


def _print_metrics(res: dict, keys) -> None:
    for key in keys:
        v = res.get(key)
        print(f"  {key:28s} {v:.4g}" if isinstance(v, float) else f"  {key:28s} {v}")


def _sample(args) -> int:
    from rexmol.boltzmann import bond_shift
    from rexmol.boltzmann.sampling import sample_conformers

    _threads(args)
    out = args.out or Path("outputs") / time.strftime("sample-%Y%m%d-%H%M%S")
    spec = _sample_spec(args)
    shift_path, why = bond_shift.resolve(args.bond_shift, args.model, spec)
    print(why, flush=True)
    res = sample_conformers(args.model, out, n=args.n, spec=spec, chunk_size=args.chunk, seed=args.seed,
                            resample=args.resample, workers=args.workers, overwrite=args.overwrite,
                            manifest=args.manifest, accelerator=args.accelerator, clip_quantile=args.clip_quantile,
                            reuse_from=args.reuse_chunks, draw_only_from_end=args.draw_only_from_end,
                            bond_shift=shift_path)
    if args.draw_only_from_end:
        print(f"drew the missing chunks of {out} from the end ({res['drawn_s']:.0f} s); the run it helped judges them")
        return 0
    print(f"\n{res['solver']}: {res['n']} conformers against {res['md_test_frames']} MD test frames")
    _print_metrics(res, ["E_W2_kT", "E_W2_kT_reweighted", "T_W2_rad", "T_W2_rad_reweighted", "ess_fraction", "ess",
                         "n_nonfinite_energy", "n_d_chirality", "n_folded", "roundtrip_log_q_max_abs",
                         "integral_minus_jacobian_log_q_max_abs", "nfe_per_solve",
                         "sampling_s_per_sample"])
    for kind in ("raw", "reweighted"):
        floor = res.get(f"noise_floor_{kind}")
        if floor:
            print(f"  MD noise floor ({kind}, at n = {floor['n']}, median of {floor['repeats']} draws of "
                  f"{floor['n_E']} / {floor['n_T']} frames spaced by "
                  f"tau_int {floor['tau_E_frames']:.0f} / {floor['tau_T_frames']:.0f} frames): "
                  f"E-W2 {floor['E_W2_kT']:.3g} kT, T-W2 {floor['T_W2_rad']:.3g} rad")
    print(f"wrote {out}/results.json, arrays.npz, samples.dcd, plots")
    return 0


def _fit_bond_shift(args) -> int:
    from rexmol.boltzmann.bond_shift import fit_bond_shift

    _threads(args)
    if args.out.exists() and not args.overwrite:  # before minutes of drawing
        raise FileExistsError(f"{args.out} exists; choose another --out or pass --overwrite")
    shift = fit_bond_shift(args.model, _sample_spec(args), n=args.n, seed=args.seed, manifest=args.manifest,
                           batch_size=args.batch, workers=args.workers)
    shift.save(args.out, overwrite=args.overwrite)
    fit = shift.fit
    print(f"per-bond shift from {fit['n_used']} of {fit['n_draws']} draws (seed {fit['seed']}) against {fit['md_frames']} "
          f"MD frames: mean {1000 * fit['mean_shift_nm']:.3f} pm, largest |s| {1000 * fit['max_abs_shift_nm']:.3f} pm, "
          f"median standard error {1000 * fit['shift_sem_nm_median']:.3f} pm")
    print(f"wrote {args.out}")
    return 0


def _likelihood(args) -> int:
    from rexmol.boltzmann.likelihood import likelihood_job

    _threads(args)
    out = args.out or Path("outputs") / time.strftime("likelihood-%Y%m%d-%H%M%S")
    res = likelihood_job(args.model, out, frames=args.frames, n_frames=args.n_frames, spec=_spec(args),
                         check_samples=args.check_samples, seed=args.seed, overwrite=args.overwrite,
                         manifest=args.manifest)
    _print_metrics(res, ["solver", "frames", "nll_nats_per_molecule", "nll_sem", "nll_nats_per_dof", "seconds"])
    if "both_directions" in res:
        _print_metrics(res["both_directions"], ["samples", "log_q_gap_max", "log_q_gap_mean"])
    print(f"wrote {out}/likelihood.json")
    return 0


def _evaluate(args) -> int:
    from rexmol.boltzmann.evaluate import default_specs, evaluate, format_table

    _threads(args)
    out = args.out or Path("outputs") / time.strftime("evaluate-%Y%m%d-%H%M%S")
    res = evaluate(args.model, out, n=args.n, specs=default_specs(args.rtol, args.atol), nll_frames=args.nll_frames,
                   chunk_size=args.chunk, seed=args.seed, workers=args.workers, manifest=args.manifest, only=args.only)
    print(format_table(res["rows"] + ([res["noise_floor"]] if "noise_floor" in res else [])))
    for r in res["rows"]:
        if "error" in r:
            print(f"{r['solver']}: {r['error']}")
    print(f"wrote {out}/evaluate.json")
    return 0


def _solver_args(p, rtol=1e-3, sample: bool = False) -> None:
    """Solver options. For ``sample`` they default to None: :func:`_sample_spec` resolves them."""
    d = (lambda v: None) if sample else (lambda v: v)
    p.add_argument("--solver", choices=["rex", "princeps", "torchdiffeq"], default=d("rex"))
    p.add_argument("--tableau", default=d("dopri5"))
    p.add_argument("--zeta", type=float, default=d(0.5), help="Rex coupling in (0, 1]; 0.5 by default (see "
                   "SolverSpec: 0.999 drifts at loose tolerances)")
    p.add_argument("--rtol", type=float, default=d(rtol))
    p.add_argument("--atol", type=float, default=d(rtol))
    p.add_argument("--steps", type=int, default=None,
                   help="fixed steps instead of adaptive rtol/atol" + (" (on the default sampler's log-SNR grid unless "
                                                                        "--grid or --solver is given)" if sample else ""))
    p.add_argument("--grid", choices=["uniform", "quadratic", "logsnr"], default=None,
                   help="time grid of the fixed steps (default: " + ("the default sampler's, log-SNR; uniform with "
                                                                      "--solver" if sample else "uniform") + ")")
    if sample:
        p.add_argument("--density", choices=["divergence", "jacobian"], default=None,
                       help="log q of a sample: the divergence integral of the continuous flow, or the exact "
                            "Jacobian log-det of the solver's discrete map (needs --steps)")
        p.add_argument("--prior-scale", type=float, default=None,
                       help="draw the prior noise scaled by this dimensionless factor (a tempered latent: below 1 "
                            "a colder proposal, above 1 a hotter one; log q and the weights stay exact for it); "
                            "default 1")
        p.add_argument("--adaptive", action="store_true",
                       help="the previous default: adaptive Rex(dopri5), zeta 0.5, rtol = atol = 1e-3, divergence "
                            "integral (overrides the other solver options)")


def _sample_spec(args):
    """:func:`_sampler_solver_spec` with ``--prior-scale`` (it combines with every solver)."""
    spec = _sampler_solver_spec(args)
    scale = getattr(args, "prior_scale", None)
    return spec if scale is None else dataclasses.replace(spec, prior_scale=scale)


def _sampler_solver_spec(args):
    """The sampling spec: the default sampler (``SolverSpec.default_sampler()``) when no solver was
    named (fixed-grid options given, --tableau, --steps, --grid, --density, replace its own:
    ``--grid uniform`` is the same 16 midpoint steps placed uniformly in t), the old adaptive
    default with --adaptive (refused with any other solver option, which it would ignore), otherwise
    (--solver, --rtol or --atol given) the options given with the old defaults, adaptive
    Rex(dopri5), filling the rest."""
    from rexmol.boltzmann.generator import SolverSpec

    zeta = 0.5 if args.zeta is None else args.zeta
    if args.adaptive:
        ignored = [f"--{k}" for k in ("solver", "tableau", "zeta", "rtol", "atol", "steps", "grid", "density")
                   if getattr(args, k) is not None]
        if ignored:
            raise ValueError(f"--adaptive is the fixed old default (adaptive Rex(dopri5), zeta 0.5, rtol = atol = "
                             f"1e-3, divergence) and would ignore {', '.join(ignored)}; name the solver instead "
                             "(e.g. --solver rex --tableau dopri5 --zeta 0.999)")
        return SolverSpec("rex", "dopri5", 0.5, 1e-3, 1e-3, None)
    default = all(getattr(args, k) is None for k in ("solver", "rtol", "atol"))
    solver = SolverSpec.default_sampler().solver if default else (args.solver or "rex")
    if args.zeta is not None and solver != "rex":
        raise ValueError(f"--zeta is Rex's coupling; {solver} has none and would ignore it (add --solver rex)")
    if default:
        given = {k: getattr(args, k) for k in ("tableau", "steps", "grid", "density") if getattr(args, k) is not None}
        return dataclasses.replace(SolverSpec.default_sampler(), **given)
    return SolverSpec(args.solver or "rex", args.tableau or "dopri5", zeta, args.rtol or 1e-3,
                      args.atol or args.rtol or 1e-3, args.steps, grid=args.grid or "uniform",
                      density=args.density or "divergence")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["train"]:  # LightningCLI parses its own arguments
        from rexmol.training.cli import train

        train(argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="rexmol", description="Molecular Boltzmann sampling with Rex solvers")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="exact-likelihood solver demo on a Gaussian flow")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: outputs/demo-<time>)")
    p.add_argument("--n", type=int, default=256)
    p.add_argument("--dim", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace results already in --out")
    p.set_defaults(func=_demo)

    p = sub.add_parser("build-system", help="build the tri-alanine topology offline")
    p.add_argument("--out", type=Path, default=Path("data/ala3/topology.pdb"))
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_build_system)

    p = sub.add_parser("simulate", help="resumable tri-alanine Langevin MD")
    p.add_argument("--out", type=Path, default=Path("data/ala3/md"))
    p.add_argument("--seeds", type=int, nargs="+", required=True)
    p.add_argument("--length-ns", type=float, default=5.0)
    p.add_argument("--platform", default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--timestep-fs", type=float, default=1.0, help="default 1 fs (the AAA protocol)")
    p.add_argument("--hydrogen-mass-amu", type=float, default=None, help="HMR; default standard masses (the protocol)")
    p.add_argument("--fast-if-validated", action="store_true",
                   help="new seeds use HMR 2 fs if benchmarks/results/md_integrator_ensemble.json validates it")
    p.add_argument("--replicas", type=int, default=1,
                   help="run the seeds this many at a time side by side in one System (far-apart copies, each "
                        "exactly a lone run of the protocol); more ns per CPU-second than lone runs (README)")
    p.add_argument("--replica-spacing-nm", type=float, default=None,
                   help="anchor spacing of --replicas copies (default: ReplicaLayout's)")
    p.set_defaults(func=_simulate)

    sub.add_parser("train", help="train the DiT (LightningCLI; see `rexmol train --help`)", add_help=False)

    p = sub.add_parser("export", help="write the EMA weights of a training checkpoint as a model file")
    p.add_argument("--ckpt", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("models/ala3_dit.pt"))
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_export)

    p = sub.add_parser("model-report", help="unweighted samples of a model against the MD test set")
    p.add_argument("--model", type=Path, default=Path("models/ala3_dit.pt"))
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--manifest", type=Path, default=Path("data/ala3/dataset.json"))
    p.add_argument("--training-csv", type=Path, default=None)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_model_report)

    p = sub.add_parser("sample", help="draw, score and reweight conformers (the Boltzmann generator)")
    p.add_argument("--model", type=Path, default=Path("models/ala3_dit.pt"))
    p.add_argument("--out", type=Path, default=None, help="output folder (default: outputs/sample-<time>)")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--chunk", type=int, default=32, help="conformers per chunk (the unit of resuming)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resample", type=int, default=None, help="also write this many resampled conformers")
    p.add_argument("--clip-quantile", type=float, default=None, help="cap log-weights at this quantile (biased)")
    p.add_argument("--workers", type=int, default=1, help="OpenMM energy processes")
    p.add_argument("--threads", type=int, default=None, help="torch threads")
    p.add_argument("--accelerator", default="auto")
    p.add_argument("--manifest", type=Path, default=Path("data/ala3/dataset.json"))
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--reuse-chunks", type=Path, default=None, metavar="DIR",
                   help="start from the chunks of an earlier run of the same model (SHA-256), seed, chunk size and "
                        "solver, e.g. to grow n = 1000 to 2000; its first n // chunk chunks are this run's")
    p.add_argument("--draw-only-from-end", action="store_true",
                   help="help a run of the same settings in the same --out on another core: draw its missing chunks "
                        "last first, then stop (no judging, no results; the helped run does that). Give it the "
                        "helped run's --reuse-chunks, if any: it then leaves the chunks that run copies alone")
    p.add_argument("--bond-shift", default="auto", metavar="auto|none|JSON",
                   help="move every draw's bond lengths by a rexmol fit-bond-shift file fitted to this model and "
                        "sampler (log q and the weights stay exact). auto (default): the model's own "
                        "<model stem>_bond_shift.json beside it, when it exists and was fitted to this sampler")
    _solver_args(p, sample=True)
    p.set_defaults(func=_sample)

    p = sub.add_parser("fit-bond-shift", help="fit the per-bond length shift that moves a model's draws onto MD's means")
    p.add_argument("--model", type=Path, default=Path("models/ala3_dit.pt"))
    p.add_argument("--out", type=Path, required=True, help="the shift file to write (JSON)")
    p.add_argument("--n", type=int, default=20000, help="conformers drawn (without log q) to measure the mean bonds on")
    p.add_argument("--seed", type=int, default=1, help="noise seed: not a seed of the runs the shift is judged on")
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--workers", type=int, default=1, help="OpenMM energy processes")
    p.add_argument("--threads", type=int, default=None, help="torch threads")
    p.add_argument("--manifest", type=Path, default=Path("data/ala3/dataset.json"))
    p.add_argument("--overwrite", action="store_true")
    _solver_args(p, sample=True)
    p.set_defaults(func=_fit_bond_shift)

    p = sub.add_parser("likelihood", help="exact NLL of MD frames; agreement of both directions")
    p.add_argument("--model", type=Path, default=Path("models/ala3_dit.pt"))
    p.add_argument("--frames", default="test",
                   help="a split (train/val/test), a trajectory file (DCD, PDB), or an earlier run's .npz (its x)")
    p.add_argument("--n-frames", type=int, default=64, help="evenly spaced frames to evaluate")
    p.add_argument("--check-samples", type=int, default=8, help="samples for the both-directions check (0: skip)")
    p.add_argument("--manifest", type=Path, default=Path("data/ala3/dataset.json"), help="the data set of --frames SPLIT")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--overwrite", action="store_true")
    _solver_args(p)
    p.set_defaults(func=_likelihood)

    p = sub.add_parser("evaluate", help="Rex (several zeta), Princeps and torchdiffeq side by side")
    p.add_argument("--model", type=Path, default=Path("models/ala3_dit.pt"))
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--n", type=int, default=128)
    p.add_argument("--nll-frames", type=int, default=32)
    p.add_argument("--chunk", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rtol", type=float, default=1e-3)
    p.add_argument("--atol", type=float, default=1e-3)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--manifest", type=Path, default=Path("data/ala3/dataset.json"))
    p.add_argument("--only", nargs="*", default=None, help="run only these solver folders (share work between processes)")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("dataset", help="assign finished MD trajectories to train/val/test")
    p.add_argument("--train", type=int, nargs="+", required=True, help="seeds")
    p.add_argument("--val", type=int, nargs="*", default=[])
    p.add_argument("--test", type=int, nargs="*", default=[])
    p.add_argument("--md", type=Path, default=Path("data/ala3/md"))
    p.add_argument("--out", type=Path, default=Path("data/ala3/dataset.json"))
    p.add_argument("--frames-per-run", type=int, default=5000,
                   help="frames every run must have (default 5000: 5 ns at 1 ps); 0 takes each run's finished "
                        "chunks, so runs still growing join with what they have")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_dataset)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (FileExistsError, FileNotFoundError, ValueError) as err:
        print(f"rexmol {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
