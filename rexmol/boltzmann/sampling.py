"""``rexmol sample``: draw conformers, score them with OpenMM, reweight, judge against MD, write it all.

The drawing is chunked: chunk i of ``chunk_size`` conformers uses seed (seed, i), so the result
does not depend on how chunks are spread over devices or on interruptions. Each finished chunk
is written atomically to ``<out>/chunks/``; rerunning the same command resumes where it
stopped. The chunks run through Lightning's ``Trainer.predict`` (so several GPUs each take a
share when present; on this CPU it is a plain loop with a progress bar).

Outputs in ``<out>/`` (a new folder; results are never replaced without ``overwrite``):
``results.json`` (every number), ``arrays.npz`` (x, log q, u, log w, weights), ``samples.dcd``
(all conformers), ``samples_lowest_energy.pdb`` (a few), ``resampled.dcd`` (if asked),
``ramachandran.png``, ``energies.png`` and ``weights.png``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import torch

from rexmol.boltzmann.bond_shift import BondShift
from rexmol.boltzmann.generator import BoltzmannGenerator, SolverSpec
from rexmol.boltzmann.reweighting import importance_weights, systematic_resample
from rexmol.geometry import centre
from rexmol.io import atomic_path, atomic_savez, atomic_write_json, file_sha256
from rexmol.metrics import backbone_torsions, energy_w2, torus_w2
from rexmol.metrics.autocorrelation import integrated_time, torsion_times_and_convergence
from rexmol.metrics.bootstrap import ess_fraction, interval, paired_bootstrap, reweighted_energy_w2, reweighted_torus_w2
from rexmol.metrics.plots import _pyplot, _save, energy_histogram, ramachandran
from rexmol.model.checkpoint import model_sha256
from rexmol.molecules import ala3, dataset
from rexmol.molecules.energies import EnergyEvaluator
from rexmol.molecules.target import require_same_target


def load_model_for(model_path, manifest=dataset.MANIFEST):
    """Load a model and refuse it (:class:`~rexmol.molecules.target.TargetMismatch`, naming both files)
    unless it was trained on data of the same target as the data manifest it is to be judged against."""
    import rexmol

    loaded = rexmol.load_model(model_path)
    data_target = dataset.load_manifest(manifest)["system"].get("target")
    require_same_target(loaded.target, f"model {model_path}", data_target, f"data manifest {manifest}")
    return loaded


def chunk_seed(seed: int, index: int) -> int:
    """Seed of chunk ``index``: a hash, so chunks of nearby runs never share noise."""
    return int.from_bytes(hashlib.sha256(f"rexmol-chunk:{seed}:{index}".encode()).digest()[:7], "little")


class ChunkSampler(L.LightningModule):
    """``predict_step`` draws one chunk of conformers and writes it to ``chunk_dir``."""

    def __init__(self, generator: BoltzmannGenerator, n: int, chunk_size: int, seed: int, chunk_dir: Path,
                 roundtrip_chunks: int = 1, progress: bool = True):
        super().__init__()
        self.generator, self.n, self.chunk_size, self.seed = generator, n, chunk_size, seed
        self.model = generator.loaded.model  # registered, so Lightning moves it to the device
        self.chunk_dir, self.roundtrip_chunks, self.progress = Path(chunk_dir), roundtrip_chunks, progress

    def _within_chunk_bar(self, index: int):
        """A callback showing the solver's progress inside one chunk (steps, or time reached when
        adaptive): a chunk can take minutes on a CPU. None when progress is off."""
        if not self.progress:
            return None, None
        from tqdm.auto import tqdm

        bar = tqdm(desc=f"chunk {index} (solver)", leave=False, unit="step",
                   bar_format="{desc}: {percentage:3.0f}% | {elapsed}<{remaining}")

        def update(done, total):
            bar.total = total
            bar.n = done
            bar.refresh()

        return bar, update

    def predict_step(self, batch, batch_idx):
        for index in batch.flatten().tolist():
            path = self.chunk_dir / f"chunk_{index:05d}.npz"
            if path.exists():
                continue
            m = min(self.chunk_size, self.n - index * self.chunk_size)
            bar, update = self._within_chunk_bar(index)
            draw = self.generator.sample(m, chunk_seed(self.seed, index), roundtrip=index < self.roundtrip_chunks,
                                         progress=update)
            if bar is not None:
                bar.close()
            atomic_savez(path, x=draw.x.astype(np.float32), log_q=draw.log_q, nfe=draw.nfe, seconds=draw.seconds,
                         stats=json.dumps(draw.stats))
        return batch  # the chunk indices (predictions are on disk)


def draw_chunks(generator: BoltzmannGenerator, n: int, chunk_dir: Path, chunk_size: int = 32, seed: int = 0,
                roundtrip_chunks: int = 1, accelerator: str = "auto", devices="auto", progress: bool = True,
                from_end: bool = False, read_back: bool = True, first_chunk: int = 0) -> dict | None:
    """Draw every missing chunk, then read all chunks back: {x, log_q, nfe, seconds, stats}.

    Chunk i depends only on (seed, i), the model and the solver, and each is written atomically
    and skipped once it exists, so two processes can share ``chunk_dir``: one in order, one with
    ``from_end`` (the missing chunks last first) and ``read_back=False`` (returns None: the other
    process may still be drawing). Where they meet, a chunk may be drawn twice, never differently.
    ``first_chunk`` (with ``read_back=False`` only): chunks below it are another process's to supply."""
    if n < 1 or chunk_size < 1:
        raise ValueError(f"n and chunk_size must be positive, got n={n}, chunk_size={chunk_size}")
    chunk_dir = Path(chunk_dir)
    chunk_dir.mkdir(parents=True, exist_ok=True)
    n_chunks = -(-n // chunk_size)
    if first_chunk and read_back:
        raise ValueError("first_chunk leaves chunks to another process: it needs read_back=False")
    todo = [i for i in range(first_chunk, n_chunks) if not (chunk_dir / f"chunk_{i:05d}.npz").exists()]
    if from_end:
        todo.reverse()
    if todo:
        loader = torch.utils.data.DataLoader(torch.tensor(todo), batch_size=1)
        trainer = L.Trainer(accelerator=accelerator, devices=devices, logger=False, enable_checkpointing=False,
                            enable_progress_bar=progress, enable_model_summary=False, inference_mode=False)
        trainer.predict(ChunkSampler(generator, n, chunk_size, seed, chunk_dir, roundtrip_chunks, progress), loader,
                        return_predictions=False)
    if not read_back:
        return None
    parts = [np.load(chunk_dir / f"chunk_{i:05d}.npz") for i in range(n_chunks)]
    stats = [json.loads(str(p["stats"])) for p in parts]
    return {"x": np.concatenate([p["x"] for p in parts]).astype(np.float64),
            "log_q": np.concatenate([p["log_q"] for p in parts]),
            "nfe": [int(p["nfe"]) for p in parts], "seconds": float(sum(float(p["seconds"]) for p in parts)),
            "stats": stats}


def _evenly_spaced(n: int, k: int) -> np.ndarray:
    """k indices spread evenly over range(n), both ends included."""
    return np.linspace(0, n - 1, k).round().astype(int)


def reference_energy_cache_path(manifest, target) -> Path:
    """Where the reduced energies of ``manifest``'s test set under ``target`` are kept: a folder
    beside the manifest named after it (``data/ala3/dataset.cache/`` for the shipped one), the file
    named by a hash of the test chunks' SHA-256s and the target record (the two things u depends
    on), so another data version or target never reads them."""
    record = dataset.load_manifest(manifest)
    key = json.dumps({"chunks": [c["sha256"] for s in record["splits"]["test"] for c in record["runs"][str(s)]["chunks"]],
                      "target": None if target is None else target.record()}, sort_keys=True)
    return Path(manifest).with_suffix(".cache") / f"test_u_{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


class MDReference:
    """The MD test set's reduced energies and torsions (the reference of every metric), and the
    noise floor: the same metrics for independent MD frames (the validation and training
    trajectories, never the test set's) at a given sample size.

    ``target`` is the manifest's (:func:`rexmol.molecules.dataset.manifest_target`): the MD's own
    ensemble, so MD frames and samples alike are scored by the System the MD integrated (None: the
    old ensemble's scorer). :meth:`evaluator` gives that scorer."""

    def __init__(self, manifest=dataset.MANIFEST, workers: int = 1, max_frames: int | None = None, seed: int = 0):
        """``max_frames``: an evenly spaced subset of the test set (quick checks only)."""
        test = centre(dataset.load_split("test", manifest))
        self.manifest = manifest
        self.workers = workers
        self.target = dataset.manifest_target(manifest)
        # which data version this is, read now (one read: hash and seeds of the same bytes), since the
        # manifest file may be rebuilt while a long job runs
        raw = Path(manifest).read_bytes()
        self._record = {"manifest": str(manifest), "manifest_sha256": hashlib.sha256(raw).hexdigest(),
                        "test_seeds": sorted(json.loads(raw)["splits"]["test"])}
        keep = _evenly_spaced(len(test), max_frames) if max_frames and len(test) > max_frames else None
        self.u = self._test_energies(test, keep)
        self.xyz = test if keep is None else test[keep]
        self.torsions, self.torsion_names = backbone_torsions(self.xyz)
        self._floor_pool = None

    #: frames of the cached test-set energies recomputed on every load, and the largest difference
    #: (kT) allowed: the CPU platform's single-precision energies repeat to about 1e-4 kT here
    CACHE_CHECK_FRAMES, CACHE_TOLERANCE_KT = 8, 1e-3

    def _test_energies(self, test: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
        """u = U/kT of the test frames (of ``test[keep]`` where ``keep`` is given). Scoring 60,000
        frames costs a minute of OpenMM, so the full set's energies are cached
        (:func:`reference_energy_cache_path`, written atomically). A cached file is trusted only after
        :attr:`CACHE_CHECK_FRAMES` evenly spaced frames, recomputed here, agree with it (another
        OpenMM version or platform could differ); otherwise the frames are rescored, and the cache
        replaced when the whole set was scored. A subset (``keep``) never writes the cache."""
        cache = reference_energy_cache_path(self.manifest, self.target)
        with self.evaluator() as ev:
            if cache.exists():
                u = np.load(cache)["u"]
                check = _evenly_spaced(len(test), self.CACHE_CHECK_FRAMES)
                if len(u) == len(test) and np.abs(ev.reduced(test[check]) - u[check]).max() <= self.CACHE_TOLERANCE_KT:
                    return u if keep is None else u[keep]
                warnings.warn(f"{cache} disagrees with energies recomputed here; rescoring the test set", stacklevel=3)
            if keep is not None:
                return ev.reduced(test[keep])
            u = ev.reduced(test)
        try:
            atomic_savez(cache, u=u)
        except OSError as err:  # e.g. a read-only data folder: the result stands, only the cache is lost
            warnings.warn(f"could not cache the test set's energies at {cache}: {err}", stacklevel=3)
        return u

    def record(self) -> dict:
        """Which test set this reference is: the manifest (path and SHA-256, the data version, as
        read when the reference was built), its test seeds and the frames used, so that a result
        names the set it was judged against."""
        return {**self._record, "frames": len(self.u)}

    def evaluator(self, workers: int | None = None) -> EnergyEvaluator:
        """The scorer of this reference's target (u = U/kT with the target's kT)."""
        return EnergyEvaluator(n_workers=self.workers if workers is None else workers, target=self.target)

    @property
    def kT_kJ_per_mol(self) -> float:
        return self.target.kT if self.target is not None else ala3.kT_kJ_per_mol()

    def floor_pool(self) -> dict:
        """Frames for the floor, spaced by the integrated autocorrelation time (loaded once).

        From every validation and training trajectory: tau_E (frames) of u on the first 2000
        frames of up to three of them, and tau_T (frames) of the slowest backbone torsion
        component (cos or sin) over all of them. E-W2 floors draw from frames tau_E apart, T-W2
        floors from frames tau_T apart, so each floor's frames are nearly independent for its
        own metric (consecutive MD frames are not, and would understate the floor)."""
        if self._floor_pool is None:
            runs = {**dataset.load_split("val", self.manifest, by_run=True),
                    **dataset.load_split("train", self.manifest, by_run=True)}
            runs = {seed: centre(xyz) for seed, xyz in runs.items()}
            torsions = {seed: backbone_torsions(xyz)[0] for seed, xyz in runs.items()}
            short = [xyz[:2000] for xyz in list(runs.values())[:3]]
            with self.evaluator() as ev:
                u_short = [ev.reduced(xyz) for xyz in short]
            tau_e = integrated_time(u_short)  # pooled over runs of any lengths
            # The slowest mode (residue 2's visits to the left-handed basin, ns long) can outlast what
            # 5 ns runs resolve; then tau_T is the estimate at the longest window (a lower bound), flagged.
            times = torsion_times_and_convergence(list(torsions.values()), self.torsion_names)
            tau_t = max(tau for tau, _ in times.values())
            tau_t_converged = all(ok for _, ok in times.values())
            md = dataset.load_manifest(self.manifest)["md"]
            integrators = {seed: dataset.integrator(md.get("settings_by_run", {}).get(str(seed), md)) for seed in runs}
            self._floor_pool = {"runs": runs, "torsions": torsions, "tau_E_frames": tau_e, "tau_T_frames": tau_t,
                                "tau_T_converged": tau_t_converged,
                                "integrators": integrators}
        return self._floor_pool

    @staticmethod
    def _spaced(runs: dict, tau: float, n: int, rng) -> list[tuple[int, int]]:
        stride = max(1, int(np.ceil(tau)))
        pool = [(seed, i) for seed, xyz in runs.items() for i in range(int(rng.integers(stride)), len(xyz), stride)]
        pick = rng.choice(len(pool), min(n, len(pool)), replace=False)
        return [pool[k] for k in pick]

    def noise_floor(self, n: int, seed: int = 0, n_max: int = 2000, repeats: int = 5) -> dict:
        """E-W2 (kT) and T-W2 (rad) of n independent MD frames against the test set: the median over
        ``repeats`` independent draws of frames (one draw at a small n is itself noisy).

        Frames come from the floor pool (:meth:`floor_pool`), spaced by each metric's tau_int; if
        the pool holds fewer than n such frames the floor uses them all and says so (``n_E``,
        ``n_T`` below ``n``): the MD at hand cannot resolve a floor at that size. ``draws`` lists
        each draw's values and (seed, frame) pairs, so anyone can recompute the floor."""
        if n < 1 or repeats < 1:
            raise ValueError(f"a noise floor needs n >= 1 frames and repeats >= 1, got n={n}, repeats={repeats}")
        pool = self.floor_pool()
        draws = []
        with self.evaluator() as ev:
            for r in range(repeats):
                rng = np.random.default_rng([seed, r])
                pick_e = self._spaced(pool["runs"], pool["tau_E_frames"], n, rng)
                pick_t = self._spaced(pool["runs"], pool["tau_T_frames"], n, rng)
                u = ev.reduced(np.stack([pool["runs"][s][i] for s, i in pick_e]))
                tors = np.stack([pool["torsions"][s][i] for s, i in pick_t])
                draws.append({"E_W2_kT": energy_w2(u, self.u).value,
                              "T_W2_rad": torus_w2(tors, self.torsions, n_max=n_max, seed=seed + r),
                              "frames_E": [[int(s), int(i)] for s, i in pick_e],
                              "frames_T": [[int(s), int(i)] for s, i in pick_t]})
        return {"E_W2_kT": float(np.median([d["E_W2_kT"] for d in draws])),
                "T_W2_rad": float(np.median([d["T_W2_rad"] for d in draws])),
                "n": n, "n_E": len(draws[0]["frames_E"]), "n_T": len(draws[0]["frames_T"]), "repeats": repeats,
                "tau_E_frames": pool["tau_E_frames"], "tau_T_frames": pool["tau_T_frames"],
                "tau_T_converged": pool["tau_T_converged"],
                "floor_runs": sorted(pool["runs"]), "draws": draws,
                # the integrators the floor's frames come from (the test set is the protocol's)
                "floor_integrators": sorted({json.dumps(v, sort_keys=True) for v in pool["integrators"].values()})}


def judge(x: np.ndarray, log_q: np.ndarray, reference: MDReference, workers: int = 1, clip_quantile=None,
          seed: int = 0, n_max: int = 2000, floors: bool = True, n_boot: int = 200, progress: bool = False
          ) -> tuple[dict, dict]:
    """Energies, weights and metrics of samples against MD. Returns (numbers, arrays).

    With ``floors``, each metric stands beside the MD noise floor at the size it rests on: the
    raw metrics at the number of finite draws, the reweighted ones at the ESS (rounded, at least
    1), since a reweighted metric rests on about ESS draws, not on n. With ``n_boot`` > 0, the
    ESS fraction and the reweighted E-W2 and T-W2 get 16-84% bootstrap intervals over ``n_boot``
    resamples of the draws (``rexmol.metrics.bootstrap``; weights renormalised per resample).
    ``progress`` shows the resamples done (at n = 2000 the T-W2 intervals take minutes)."""
    t0 = time.perf_counter()
    with reference.evaluator(workers) as ev:  # the reference's own target scores the samples
        u = ev.reduced(x, nonfinite="inf")
    energy_s = time.perf_counter() - t0
    l_chiral = (ala3.chirality_volumes(None, x) > 0).all(axis=1)
    rw = importance_weights(u, log_q, l_chiral, clip_quantile)
    tors, _ = backbone_torsions(x)
    finite = rw.weights > 0
    raw_ok = np.isfinite(u)
    numbers = {
        "E_W2_kT": energy_w2(u, reference.u).value,
        # no draw with a finite weight (e.g. every map folded): reported as None, not raised
        "E_W2_kT_reweighted": energy_w2(u[finite], reference.u, w_a=rw.weights[finite]).value if finite.any() else None,
        "T_W2_rad": torus_w2(tors[raw_ok], reference.torsions, n_max=n_max, seed=seed),
        "T_W2_rad_reweighted": torus_w2(tors[finite], reference.torsions, w_a=rw.weights[finite], n_max=n_max,
                                        seed=seed) if finite.any() else None,
        **rw.summary(),
        "median_u_samples_kT": float(np.median(u[raw_ok])) if raw_ok.any() else None,
        "median_u_md_kT": float(np.median(reference.u)), "energy_s": energy_s,
    }
    if floors and raw_ok.any():
        numbers["noise_floor_raw"] = reference.noise_floor(int(raw_ok.sum()), seed, n_max)
        if numbers["ess"] > 0:
            numbers["noise_floor_reweighted"] = reference.noise_floor(max(1, round(numbers["ess"])), seed, n_max)
    arrays = {"u": u, "log_w": rw.log_w, "weights": rw.weights, "torsions": tors}
    if n_boot and finite.any():
        numbers["bootstrap"] = bootstrap_intervals(arrays, reference, n_boot, seed, n_max, progress)
    return numbers, arrays


def bootstrap_intervals(arrays: dict, reference: MDReference, n_boot: int, seed: int, n_max: int = 2000,
                        progress: bool = False) -> dict:
    """16-84% intervals of the ESS fraction and the reweighted E-W2 (kT) and T-W2 (rad) over
    ``n_boot`` resamples of the draws; T-W2 against the same reference subsample as judge's."""
    one = {"draws": arrays}
    stats = {"ess_fraction": ess_fraction, "E_W2_kT_reweighted": reweighted_energy_w2(reference.u),
             "T_W2_rad_reweighted": reweighted_torus_w2(reference.torsions, n_max, seed)}
    out = {"n_boot": n_boot, "seed": seed, "percentiles": [16, 84]}
    from tqdm.auto import tqdm

    with tqdm(total=n_boot * len(stats), desc="bootstrap intervals", unit="resample", leave=False,
              disable=not progress) as bar:
        for name, statistic in stats.items():
            out[f"{name}_16_84"] = interval(paired_bootstrap(one, _counted(statistic, bar), n_boot, seed)["draws"])
    return out


def _counted(statistic, bar):
    """``statistic`` that advances a progress bar by one per call (one call per resample)."""
    def counted(a: dict, idx: np.ndarray) -> float:
        value = statistic(a, idx)
        bar.update()
        return value
    return counted


def weight_histogram(log_w: np.ndarray, path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    finite = log_w[np.isfinite(log_w)]
    if len(finite):
        ax.hist(finite - finite.max(), bins=60)
    else:
        ax.text(0.5, 0.5, "no draw has a finite weight", ha="center", transform=ax.transAxes)
    ax.set_xlabel("log w - max log w (nats)")
    ax.set_ylabel("samples")
    ax.set_yscale("log")
    return _save(fig, path)


def write_conformers(x: np.ndarray, out_dir: Path, u: np.ndarray, resample_idx=None, n_pdb: int = 5) -> None:
    import mdtraj

    top = mdtraj.load_topology(str(ala3.TOPOLOGY_PDB))
    for name, xyz in (("samples.dcd", x), ("resampled.dcd", None if resample_idx is None else x[resample_idx])):
        if xyz is None:
            continue
        with atomic_path(out_dir / name) as tmp:
            mdtraj.Trajectory(xyz.astype(np.float32), top).save_dcd(str(tmp))
    order = np.argsort(np.where(np.isfinite(u), u, np.inf))[:n_pdb]
    with atomic_path(out_dir / "samples_lowest_energy.pdb") as tmp:
        mdtraj.Trajectory(x[order].astype(np.float32), top).save_pdb(str(tmp))


def _worst(gaps) -> float | str:
    """Largest round-trip gap; 'overflow' if any inverse overflowed (a gap of None)."""
    gaps = list(gaps)
    return "overflow" if any(g is None for g in gaps) else max(gaps)


def prepare_out_dir(out_dir: Path, settings: dict, overwrite: bool, what: str = "run", result: str = "results.json",
                    outputs=("chunks", "results.json", "settings.json", "arrays.npz")) -> None:
    """Create ``out_dir`` or resume in it; refuse to mix settings or to replace results unasked.

    ``out_dir`` holding ``result`` is finished (refused unless ``overwrite``, which removes
    ``outputs``); holding ``settings.json`` it is a partial ``what`` that resumes only under equal
    settings (else a ValueError naming each field that differs); holding anything else, or the
    settings of another job (their ``"job"``; a sample run's records none), it is not ours and is
    refused, even with ``overwrite``."""
    out_dir = Path(out_dir)
    settings_path = out_dir / "settings.json"
    if out_dir.exists() and any(out_dir.iterdir()):
        old = json.loads(settings_path.read_text()) if settings_path.exists() else None
        if old is not None and old.get("job") != settings.get("job"):
            raise FileExistsError(f"{out_dir} holds another job's run (settings.json); choose another --out")
        if overwrite:
            for name in outputs:
                p = out_dir / name
                shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
        elif (out_dir / result).exists():
            raise FileExistsError(f"{out_dir} already holds {result}; choose another --out or pass --overwrite")
        elif old is not None:
            if old != json.loads(json.dumps(settings)):
                new = json.loads(json.dumps(settings))
                diff = {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}
                hint = (" (its bond shift differs: a model's own shift file beside it is applied by default, so "
                        "resume with --bond-shift as the run began, e.g. --bond-shift none)") if "bond_shift" in diff else ""
                raise ValueError(f"{out_dir} holds a partial {what} with other settings {diff}{hint}; "
                                 f"rerun with the same settings to resume, or pass --overwrite")
        else:
            raise FileExistsError(f"{out_dir} is not empty and holds no rexmol {what}; choose another --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(settings_path, settings)


def run_settings(model_path, n: int, spec: SolverSpec, chunk_size: int, seed: int, clip_quantile=None) -> dict:
    """What a ``rexmol sample`` run records in settings.json, and what resuming or reusing it checks."""
    model_path = Path(model_path)
    return {"model": str(model_path), "model_sha256": model_sha256(model_path),
            "n": n, "chunk_size": chunk_size, "seed": seed, "solver": spec.record(), "clip_quantile": clip_quantile}


def check_reusable(source_dir, out_dir, settings: dict) -> dict:
    """The settings of ``source_dir`` if its chunks are chunks of a run with ``settings`` (same model
    SHA-256, chunk size, seed and solver), else a ValueError naming the difference."""
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    source_settings = source_dir / "settings.json"
    if not source_settings.is_file():
        raise FileNotFoundError(f"{source_settings} does not exist: reuse takes a rexmol sample output folder")
    if source_dir.resolve() == out_dir.resolve():
        raise ValueError(f"--reuse-chunks {source_dir} is the output folder itself; rerun without it to resume")
    old = json.loads(source_settings.read_text())
    for key in ("model_sha256", "chunk_size", "seed", "solver"):
        if old.get(key) != json.loads(json.dumps(settings[key])):
            raise ValueError(f"{source_dir} differs in {key!r} ({old.get(key)!r} against {settings[key]!r}): "
                             f"its chunks are not this run's")
    return old


def reuse_chunks(source_dir, out_dir: Path, settings: dict) -> int:
    """Copy into ``out_dir/chunks`` the chunks of an earlier run that this run would draw itself.

    Chunk i depends only on the model's bytes, the seed (its noise is seed (seed, i)), the chunk size
    and the solver, so the chunks of a run that agrees on all of them (the SHA-256, not the path,
    decides the model; n may differ: a run of 1000 is the first 20 chunks of 50 of a run of 2000)
    are this run's first chunks. Only full chunks below this run's n are taken. Returns how many
    were copied; refuses a source that differs in anything else, naming it."""
    source_dir = Path(source_dir)
    old = check_reusable(source_dir, out_dir, settings)
    chunk = settings["chunk_size"]
    full = min(old["n"], settings["n"]) // chunk
    (out_dir / "chunks").mkdir(parents=True, exist_ok=True)
    copied = 0
    for i in range(full):
        src, dst = source_dir / "chunks" / f"chunk_{i:05d}.npz", out_dir / "chunks" / f"chunk_{i:05d}.npz"
        if src.is_file() and not dst.exists():
            tmp = dst.with_suffix(".tmp")
            shutil.copyfile(src, tmp)
            tmp.replace(dst)
            copied += 1
    return copied


def sample_conformers(model_path, out_dir, n: int = 64, spec: SolverSpec | None = None, chunk_size: int = 32,
                      seed: int = 0, resample: int | None = None, workers: int = 1, overwrite: bool = False,
                      reference: MDReference | None = None, manifest=dataset.MANIFEST, accelerator: str = "auto",
                      devices="auto", clip_quantile: float | None = None, progress: bool = True,
                      roundtrip_chunks: int = 1, plots: bool = True, reuse_from=None,
                      draw_only_from_end: bool = False, bond_shift=None) -> dict:
    """The whole ``rexmol sample`` job; returns the results dict also written to results.json.
    ``reuse_from``: an earlier run whose chunks this run would draw (:func:`reuse_chunks`).
    ``bond_shift``: a ``rexmol fit-bond-shift`` file fitted to this model and sampler; every draw is
    moved by it after the flow, with log q' = log q - log |det| (:mod:`rexmol.boltzmann.bond_shift`).
    The chunks stay the flow's own draws, so a run with the shift reuses the chunks of one without.
    ``draw_only_from_end``: a helper beside a run in the same ``out_dir`` (same settings): it draws
    the missing chunks last first and stops (:func:`draw_chunks`); it judges nothing and writes no
    results, so the run it helps stays the one that does. With ``reuse_from`` (the helped run's) it
    leaves alone the chunks that run will copy from there, which may still be being drawn, and
    copies nothing itself. Returns {"n", "chunks", "drawn_s"}."""
    spec = spec or SolverSpec()
    out_dir = Path(out_dir)
    model_path = Path(model_path)
    # fails early and clearly (a missing, corrupt or other-target model), before anything is written
    loaded = load_model_for(model_path, reference.manifest if reference is not None else manifest)
    settings = run_settings(model_path, n, spec, chunk_size, seed, clip_quantile)
    shift = None
    if bond_shift is not None:
        shift = BondShift.load(bond_shift)
        shift.require_for(model_path, spec, bond_shift)
        settings["bond_shift"] = {"path": str(bond_shift), "sha256": file_sha256(bond_shift)}
    if draw_only_from_end and resample:
        raise ValueError("a draw-only helper takes no --resample: the run it helps does")
    source = None
    if reuse_from is not None:  # checked before anything is written to out_dir
        source = check_reusable(reuse_from, out_dir, settings)
    prepare_out_dir(out_dir, settings, overwrite)
    generator = BoltzmannGenerator(loaded, spec)
    if draw_only_from_end:
        t0 = time.perf_counter()
        reused = 0 if source is None else min(source["n"], n) // chunk_size  # the helped run copies these
        draw_chunks(generator, n, out_dir / "chunks", chunk_size, seed, roundtrip_chunks, accelerator, devices,
                    progress, from_end=True, read_back=False, first_chunk=reused)
        return {"n": n, "chunks": -(-n // chunk_size), "drawn_s": time.perf_counter() - t0}
    if reuse_from is not None:
        copied = reuse_chunks(reuse_from, out_dir, settings)
        if progress:
            print(f"reused {copied} chunks of {reuse_from}", flush=True)
    t0 = time.perf_counter()
    drawn = draw_chunks(generator, n, out_dir / "chunks", chunk_size, seed, roundtrip_chunks, accelerator, devices,
                        progress)
    wall_draw = time.perf_counter() - t0
    log_det_shift = None
    if shift is not None:
        had_density = np.isfinite(drawn["log_q"])
        drawn["x"], drawn["log_q"], log_det_shift = shift.apply(drawn["x"], drawn["log_q"])
    reference = reference or MDReference(manifest, workers)
    numbers, arrays = judge(drawn["x"], drawn["log_q"], reference, workers, clip_quantile, seed, progress=progress)
    roundtrip = [s for s in drawn["stats"] if "roundtrip_z_max_abs" in s]
    results = {
        "solver": spec.label, "n": n, "seed": seed, "model": str(model_path),
        "nfe_per_solve": float(np.mean(drawn["nfe"])), "chunks": len(drawn["nfe"]),
        "sampling_s": drawn["seconds"],  # wall seconds drawing (summed over chunks, excluding round trips)
        "wall_s_this_call": wall_draw,
        "sampling_s_per_sample": drawn["seconds"] / n,
        "roundtrip_z_max_abs": _worst(s["roundtrip_z_max_abs"] for s in roundtrip) if roundtrip else None,
        **{key: _worst(s[key] for s in roundtrip) for key in ("roundtrip_log_q_max_abs",
                                                              "integral_minus_jacobian_log_q_max_abs")
           if roundtrip and key in roundtrip[0]},
        "roundtrip_samples": sum(min(chunk_size, n - i * chunk_size) for i in range(min(roundtrip_chunks,
                                                                                          len(drawn["stats"])))),
        "mean_log_q_nats": float(np.nanmean(drawn["log_q"])) if np.isfinite(drawn["log_q"]).any() else None,
        **numbers, "md_test_frames": len(reference.u), "md_test_set": reference.record(),
        "torch_threads": torch.get_num_threads(),
        "units": {"u": f"U/kT, kT = {reference.kT_kJ_per_mol:.4f} kJ/mol", "log_q": "nats per nm^96", "T_W2": "rad"},
        "target": None if reference.target is None else reference.target.record(),
    }
    if shift is not None:
        moved = np.isfinite(drawn["log_q"])
        results["bond_shift"] = {**settings["bond_shift"], "fit": shift.fit, "mean_shift_nm": float(shift.shift_nm.mean()),
                                 "mean_log_det": float(log_det_shift[moved].mean()) if moved.any() else None,
                                 "moved": int(moved.sum()),
                                 # clashes the map cannot move (a bond of length <= 0): weight 0, counted as folded
                                 "not_movable": int((had_density & ~moved).sum())}
    resample_idx = None
    if resample and arrays["weights"].any():  # no draw with a finite weight: nothing to resample
        resample_idx = systematic_resample(arrays["weights"], resample, seed)
        results["resampled"] = int(resample)
    elif resample:
        results["resampled"] = 0
    write_conformers(drawn["x"], out_dir, arrays["u"], resample_idx)
    atomic_savez(out_dir / "arrays.npz", x=drawn["x"].astype(np.float32), log_q=drawn["log_q"], u=arrays["u"],
                  log_w=arrays["log_w"], weights=arrays["weights"], torsions=arrays["torsions"],
                  **({} if shift is None else {"log_det_bond_shift": log_det_shift}))
    if plots:
        tors, w, names = arrays["torsions"], arrays["weights"], reference.torsion_names
        ok = np.isfinite(arrays["u"])
        ramachandran({"MD test": (reference.torsions, None), "samples (raw)": (tors[ok], None),
                      f"samples (reweighted, ESS {numbers['ess']:.1f})": (tors[w > 0], w[w > 0])}, names,
                     out_dir / "ramachandran.png")
        energy_histogram({"MD test": (reference.u, None), "samples (raw)": (arrays["u"], None),
                          "samples (reweighted)": (arrays["u"], w)}, out_dir / "energies.png",
                         span=(float(np.percentile(reference.u, 0.1)) - 5, float(np.percentile(reference.u, 99.9)) + 30))
        weight_histogram(arrays["log_w"], out_dir / "weights.png")
    atomic_write_json(out_dir / "results.json", results)
    return results
