"""Flow matching of the DiT on the linear path, as a LightningModule.

Coordinates y = coord_scale * x (x in nm, centred); this module owns the scale (the DiT has none,
and the exported model file records it for the generator). The path runs from the mean-free standard
normal (t = 0) to data (t = 1): y_t = t y_1 + (1 - t) y_0, and the network regresses the
conditional velocity y_1 - y_0 with the mean squared error

    L = E_{t ~ U[0, 1], y_0, y_1} || v_theta(t, y_t) - (y_1 - y_0) ||^2 / (3 n_atoms).

Augmentation: each data conformation is rotated uniformly at random (the Boltzmann density is
rotation invariant, so the flow should be too). Optional minibatch OT coupling (POT's exact EMD
between noise and data of a batch) straightens paths. An exponential moving average of the
weights is kept (decay min(ema_decay, (1 + n)/(10 + n)) after n updates); validation and
sampling use it. Validation samples come from the Boltzmann generator's flow
(:meth:`rexmol.boltzmann.generator.BoltzmannGenerator.sample_conformers`), so the validation
metrics, the model report and ``rexmol sample`` judge one distribution.
"""

from __future__ import annotations

import hashlib
import io
import math
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel

from rexmol.metrics.weights import log_w_quantiles
from rexmol.model import DiT, bond_graph, build_prior, frame_atom_ids, harmonic_alpha, token_ids
from rexmol.model.checkpoint import LATER_CONFIG_DEFAULTS
from rexmol.molecules import ala3
from rexmol.molecules.target import Target, differing_keys, require_same_target


def random_rotations(n: int, generator: torch.Generator | None = None, dtype=torch.float32) -> torch.Tensor:
    """n rotation matrices drawn uniformly from SO(3) (Haar): QR of a Gaussian matrix with the
    signs of R's diagonal moved into Q, then a reflection fixed to make det = +1."""
    a = torch.randn(n, 3, 3, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]
    det = torch.linalg.det(q)
    q[:, :, 0] = q[:, :, 0] * det[:, None]
    return q.to(dtype)


def ot_pair(noise: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    """Permute ``noise`` to the exact OT assignment to ``data`` under squared Euclidean cost."""
    import ot

    b = noise.shape[0]
    cost = torch.cdist(noise.reshape(b, -1).double(), data.reshape(b, -1).double()).square().cpu().numpy()
    plan = ot.emd(np.full(b, 1.0 / b), np.full(b, 1.0 / b), cost)
    return noise[torch.from_numpy(plan.argmax(axis=0))]


def training_times(n: int, generator: torch.Generator | None = None, dtype=torch.float32,
                   power: float = 1.0) -> torch.Tensor:
    """n times t = u^(1/power), u ~ U(0, 1): t ~ Beta(power, 1), CDF P(t <= s) = s^power."""
    t = torch.rand(n, generator=generator, dtype=dtype)
    return t if power == 1.0 else t ** (1.0 / power)


def _without_manifest_path(data_hparams: dict) -> dict:
    """A datamodule's hyperparameters without the manifest's path: the data are identified by the
    manifest's SHA-256 (which covers every chunk's checksum), so a renamed copy is the same data."""
    return {k: v for k, v in data_hparams.items() if k != "manifest"}


class FlowMatchingModule(L.LightningModule):
    """DiT velocity field trained by flow matching; ``ema`` holds the averaged weights.

    ``bond_features`` gives each atom's token the displacements to its bonded neighbours (the
    topology's bond graph) and their lengths (:class:`rexmol.model.DiT`'s ``bonds``); a warm start
    (``init_from``) may add them to a run without them, starting from the same function."""

    def __init__(self, width: int = 128, depth: int = 4, heads: int = 4, mlp_ratio: float = 4.0,
                 coord_scale: float = 5.0, lr: float = 5e-4, weight_decay: float = 0.0, warmup_steps: int = 500,
                 max_steps: int = 100_000, ema_decay: float = 0.999, rotations: bool = True, ot_coupling: bool = True,
                 sample_every_n_epochs: int = 0, sample_size: int = 256, sample_steps: int = 20,
                 topology: str = str(ala3.TOPOLOGY_PDB), canonical_frame: bool = False,
                 likelihood_every_n_epochs: int = 0, likelihood_frames: int = 32, ess_samples: int = 64,
                 likelihood_steps: int = 16, time_power: float = 1.0, prior: str = "isotropic",
                 prior_alpha: float | None = None, init_from: str | None = None, bond_features: bool = False):
        super().__init__()
        if not (isinstance(time_power, (int, float)) and math.isfinite(time_power) and time_power > 0):
            raise ValueError(f"time_power must be a positive number, got {time_power!r}")
        self.save_hyperparameters()
        if prior == "harmonic" and prior_alpha is None:  # matched to the molecule; recorded, so export keeps it
            self.hparams.prior_alpha = harmonic_alpha(topology, coord_scale)
        atom_ids, residue_ids, element_ids = token_ids(topology)
        frame = frame_atom_ids(topology) if canonical_frame else None
        self.model = DiT(atom_ids, residue_ids, element_ids, width=width, depth=depth, heads=heads, mlp_ratio=mlp_ratio,
                         frame_atoms=frame, bonds=bond_graph(topology) if bond_features else None)
        decay = float(ema_decay)

        def ema_update(averaged, current, n_averaged):
            # warm-up: early on the average would be dominated by the untrained start
            d = min(decay, (1.0 + float(n_averaged)) / (10.0 + float(n_averaged)))
            return d * averaged + (1.0 - d) * current

        # use_buffers=False: the DiT's only buffers are integer token ids, which averaging (then copying
        # back into a long tensor) truncates; measured: 26 of 33 ids corrupted after 300 updates.
        self.ema = AveragedModel(self.model, avg_fn=ema_update, use_buffers=False)
        # the base distribution of the flow, in scaled coordinates y (isotropic, or harmonic on the bonds)
        self.prior = build_prior(dict(self.hparams), topology, self.model.n_atoms)
        self._val_reference = None
        self.data_target: dict | None = None  # the target of the data it is fitted to, saved in checkpoints
        self._resumed: dict | None = None
        self._init_sha256: str | None = None  # SHA-256 of the ``init_from`` checkpoint, saved in checkpoints

    # A run's identity travels with every checkpoint: the target of its data, the data manifest's
    # SHA-256, and the module's and datamodule's hyperparameters (the topology and the manifest by
    # their SHA-256, not their paths, so a checkout elsewhere or a renamed manifest of the same
    # content resumes). Resuming with any of them changed is refused, naming what differs
    # (Lightning restores the checkpoint before on_fit_start); the exported model records the target.
    def _identity(self) -> dict:
        dm = self.trainer.datamodule
        module = dict(self.hparams)
        module["topology"] = hashlib.sha256(Path(module["topology"]).read_bytes()).hexdigest()
        return {"data_sha256": getattr(dm, "manifest_sha256", None), "module": module,
                "data": _without_manifest_path(dict(getattr(dm, "hparams", {})))}

    def setup(self, stage: str) -> None:
        # every stage (fit, validate, test, predict) scores with the target of the data it is given
        dm = self.trainer.datamodule
        self.data_target = getattr(dm, "target", None)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._resumed = {"target": checkpoint.get("rexmol_target"), "run": checkpoint.get("rexmol_run")}
        self._init_sha256 = (checkpoint.get("rexmol_run") or {}).get("init_from_sha256")
        # Lightning loads the weights strictly right after this hook: a network of another shape would
        # fail there with a list of missing tensors, so name the setting that differs first
        old = {**LATER_CONFIG_DEFAULTS, **((checkpoint.get("rexmol_run") or {}).get("module") or {})}
        shape_keys = ("width", "depth", "heads", "mlp_ratio", "canonical_frame", *LATER_CONFIG_DEFAULTS)
        diff = [k for k in shape_keys if k in old and old[k] != self.hparams.get(k, LATER_CONFIG_DEFAULTS.get(k))]
        if diff:
            raise ValueError("the checkpoint resumed from has another module config: "
                             + "; ".join(f"{k}: {old[k]!r} in the checkpoint, {self.hparams.get(k)!r} now" for k in diff)
                             + " (start a new run, or resume with the checkpoint's settings)")

    #: hyperparameters that fix the network and the flow's end points: a warm start needs them equal
    WARM_START_KEYS = ("width", "depth", "heads", "mlp_ratio", "coord_scale", "canonical_frame", "topology",
                       "prior", "prior_alpha")

    def _warm_start(self, path: str) -> None:
        """Start a new run from the weights (and EMA weights) of another run's checkpoint, with a
        fresh optimiser and learning-rate schedule: a second cosine cycle continues training where
        the first one annealed to 1% of lr. The checkpoint must be of the same target, network and
        flow (``WARM_START_KEYS``); the data, recipe and schedule may differ."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"model.init_from: checkpoint {path} not found")
        blob = path.read_bytes()  # hashed and loaded from the same bytes
        try:
            ckpt = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=False)
        except Exception as err:
            raise ValueError(f"model.init_from: {path} cannot be read as a Lightning checkpoint ({err})") from err
        run = ckpt.get("rexmol_run") if isinstance(ckpt, dict) else None
        if run is None or "state_dict" not in ckpt:
            raise ValueError(f"model.init_from: {path} is not a rexmol training checkpoint with a run record "
                             "(give a run's last.ckpt, not an exported model file)")
        manifest = getattr(self.trainer.datamodule, "hparams", {}).get("manifest", "datamodule")
        require_same_target(ckpt.get("rexmol_target"), f"the checkpoint warm-started from ({path})", self.data_target,
                            f"the data of this run ({manifest})")
        now, then = self._identity()["module"], {**LATER_CONFIG_DEFAULTS, **run["module"]}
        diff = differing_keys({k: then.get(k) for k in self.WARM_START_KEYS},
                              {k: now.get(k) for k in self.WARM_START_KEYS})
        if diff:
            raise ValueError(f"model.init_from: {path} is another network or flow: "
                             + "; ".join(f"{k}: {then.get(k)!r} there, {now.get(k)!r} here" for k in diff))
        if then["bond_features"] and not now["bond_features"]:
            raise ValueError(f"model.init_from: {path} has bond features (model.bond_features) and this run has none")
        # a warm start may add bond features: their input map is new, and starts at zero (the same function)
        missing, unexpected = self.load_state_dict(ckpt["state_dict"], strict=False)
        added = [k for k in missing if ".bond_in." in k] if now["bond_features"] and not then["bond_features"] else []
        if unexpected or set(missing) - set(added):
            raise ValueError(f"model.init_from: {path}'s weights do not fit this network: missing "
                             f"{sorted(set(missing) - set(added))}, unexpected {sorted(unexpected)}")
        self._init_sha256 = hashlib.sha256(blob).hexdigest()

    def on_fit_start(self) -> None:
        dm = self.trainer.datamodule  # (setup() has taken data_target from it)
        if self.trainer.max_steps > self.hparams.max_steps:
            raise ValueError(f"trainer.max_steps {self.trainer.max_steps} runs past the learning-rate schedule "
                             f"(model.max_steps {self.hparams.max_steps}), whose last steps are at 1% of lr; "
                             "give both the same length (a longer schedule is a new run)")
        if self._resumed is None:  # a new run; resumed runs carry their warm start in their weights
            if self.hparams.init_from:
                self._warm_start(self.hparams.init_from)
            return
        manifest = getattr(dm, "hparams", {}).get("manifest", "datamodule")
        require_same_target(self._resumed["target"], "the checkpoint resumed from", self.data_target,
                            f"the data of this run ({manifest})")
        old = self._resumed["run"]
        if old is None:
            raise ValueError("the checkpoint resumed from predates run records (data version and config are "
                             "not in it), so resuming cannot be checked; start a new run")
        now = self._identity()
        if old["data_sha256"] != now["data_sha256"]:
            raise ValueError(f"the checkpoint resumed from was trained on another version of the data: {manifest} "
                             f"has SHA-256 {now['data_sha256']}, the checkpoint's data {old['data_sha256']}")
        # records made before the path was dropped, or before a later option (it means its default)
        old = {**old, "data": _without_manifest_path(old["data"]), "module": {**LATER_CONFIG_DEFAULTS, **old["module"]}}
        for part in ("module", "data"):
            diff = differing_keys(old[part], now[part])
            if diff:
                raise ValueError(f"the checkpoint resumed from has another {part} config: "
                                 + "; ".join(f"{k}: {old[part].get(k)!r} in the checkpoint, {now[part].get(k)!r} now"
                                             for k in diff)
                                 + " (start a new run, or resume with the checkpoint's settings)")

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        bad = [name for name, p in self.state_dict().items() if p.is_floating_point() and not torch.isfinite(p).all()]
        if bad:  # never overwrite the last good checkpoint with a diverged one
            raise FloatingPointError(f"refusing to save a checkpoint at step {self.global_step}: non-finite weights "
                                     f"in {bad[:3]}{' ...' if len(bad) > 3 else ''}")
        checkpoint["rexmol_target"] = self.data_target
        checkpoint["rexmol_run"] = {**self._identity(), "init_from_sha256": self._init_sha256}

    # y = coord_scale * x: the network sees (and predicts velocities of) scaled coordinates.
    def loss(self, x_nm: torch.Tensor, model: torch.nn.Module, generator: torch.Generator | None = None,
             rotate: bool = False, ot: bool = False, time_power: float = 1.0) -> torch.Tensor:
        """Flow-matching loss E |v(t, y_t) - (y1 - y0)|^2 with y_t = t y1 + (1 - t) y0.

        t = u^(1 / time_power), u ~ U(0, 1): t ~ Beta(time_power, 1), density p t^(p-1). p = 1 is
        uniform; p > 1 puts more of the training near the data end (t = 1), where the stiff
        fine structure (X-H bonds fluctuating by ~0.003 nm) is resolved. Training uses the
        hparam; validation always uses p = 1, so its loss stays comparable across settings."""
        y1 = x_nm * self.hparams.coord_scale
        if rotate:
            y1 = y1 @ random_rotations(y1.shape[0], generator, y1.dtype).to(y1.device).transpose(1, 2)
        y0 = self.prior.sample_like(y1, generator)
        if ot:
            y0 = ot_pair(y0, y1)
        t = training_times(y1.shape[0], generator, y1.dtype, time_power).to(y1.device)
        yt = t[:, None, None] * y1 + (1 - t[:, None, None]) * y0
        return (model(t, yt) - (y1 - y0)).square().mean()

    def training_step(self, batch, batch_idx):
        loss = self.loss(batch[0], self.model, rotate=self.hparams.rotations, ot=self.hparams.ot_coupling,
                         time_power=self.hparams.time_power)
        if not torch.isfinite(loss):  # stop before the update: the checkpoints on disk stay the last good ones
            raise FloatingPointError(f"training diverged: non-finite flow-matching loss ({float(loss)}) at step "
                                     f"{self.global_step}; the last checkpoint saved before it is the last good one")
        self.log("train/fm_loss", loss, prog_bar=True)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.ema.update_parameters(self.model)

    def validation_step(self, batch, batch_idx):
        # Same noise and times every epoch, and the training coupling: with OT pairing the model
        # learns the OT-coupled marginal velocity, so an independent-coupling loss is not comparable
        # (measured: it rose from 1.5 to 2.1 while the OT loss fell). Pairing runs in sub-batches of
        # the training batch size, since the coupling's strength depends on the batch size.
        gen = torch.Generator().manual_seed(1000 + batch_idx)
        x = batch[0]
        dm = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        size = dm.hparams.batch_size if dm is not None and "batch_size" in dm.hparams else x.shape[0]
        losses = [self.loss(part, self.ema.module, generator=gen, ot=self.hparams.ot_coupling) * part.shape[0]
                  for part in x.split(size)]
        self.log("val/fm_loss", torch.stack(losses).sum() / x.shape[0], prog_bar=True, batch_size=x.shape[0])

    def on_validation_epoch_end(self):
        if self.trainer.sanity_checking:
            return
        for every, metrics in ((self.hparams.sample_every_n_epochs, self.sample_metrics),
                               (self.hparams.likelihood_every_n_epochs, self.likelihood_metrics)):
            if every and (self.current_epoch + 1) % every == 0:
                for name, value in metrics().items():
                    self.log(f"val/{name}", value)

    def sample(self, n: int, steps: int, seed: int = 0) -> np.ndarray:
        """n conformations (n, n_atoms, 3) in nm, float64, from the EMA model: the Boltzmann
        generator's flow (same prior, end time and coordinate scale as ``rexmol sample`` and the
        model report) with :func:`~rexmol.boltzmann.generator.fixed_step_spec`, no likelihood."""
        from rexmol.boltzmann.generator import fixed_step_spec, generator_for_model

        gen = generator_for_model(self.ema.module, self.hparams.coord_scale, fixed_step_spec(steps), self.prior)
        return gen.sample_conformers(n, seed)

    def sample_metrics(self) -> dict[str, float]:
        """E-W2 (kT) and T-W2 (rad) of a small EMA sample against the validation frames."""
        from rexmol.metrics import backbone_torsions, energy_w2, torus_w2
        from rexmol.molecules.energies import EnergyEvaluator

        # scored by the target of the data it is fitted to (None: the old ensemble's scorer)
        evaluator = EnergyEvaluator(self.hparams.topology, target=Target.from_record(self.data_target))
        if self._val_reference is None:
            val = self.trainer.datamodule.val_xyz
            self._val_reference = (evaluator.reduced(val), backbone_torsions(val, self.hparams.topology)[0])
        x = self.sample(self.hparams.sample_size, self.hparams.sample_steps)
        u = evaluator.reduced(x, nonfinite="inf")
        u_ref, tors_ref = self._val_reference
        ew2 = energy_w2(u, u_ref)
        return {"E_W2_kT": ew2.value, "T_W2_rad": torus_w2(backbone_torsions(x, self.hparams.topology)[0], tors_ref,
                                                           n_max=1000),
                "finite_energy_fraction": float(np.isfinite(u).mean())}

    def likelihood_metrics(self) -> dict[str, float]:
        """What the flow-matching loss does not show (it plateaued while the ESS did not move): the
        EMA model's likelihood of data and the quality of its importance weights.

        - ``nll_nats``: -mean log q (nats per nm^96) of the same ``likelihood_frames`` validation
          frames every time (evenly spaced), by the exact divergence integrated data -> noise on
          ``likelihood_steps`` fixed Princeps(midpoint) steps: a fixed, comparable measurement
          across checkpoints (the grid's own error is part of it, the same for every checkpoint);
        - ``ess_fraction``: Kish ESS / n of ``ess_samples`` draws (fixed seed) of the sampler
          ``rexmol sample`` used before its log-SNR grid (Princeps(midpoint), ``likelihood_steps``
          uniform steps, kept so that checks stay comparable across runs; the exact Jacobian
          density), weighted against the data's target; ``n_folded`` its draws with a folded map;
        - ``log_w_median`` and ``log_w_spread`` (half the 16-84% range) of log w = -u - log q over all
          those draws, a draw of weight 0 counted as the lowest (:func:`rexmol.metrics.weights.log_w_quantiles`):
          the ESS of a few dozen draws is decided by one or two of them, these are not. The draws
          come from the same noise at every check of a run (and of runs with the same prior and
          ``ess_samples``), and log w = log Z - log(q/p) with log Z the target's, so a rising median
          means q is closer to p on typical draws; for normally distributed log w the ESS fraction
          is exp(-spread^2)."""
        from rexmol.boltzmann.generator import SolverSpec, generator_for_model
        from rexmol.boltzmann.reweighting import importance_weights
        from rexmol.molecules.energies import EnergyEvaluator

        steps, model, scale = self.hparams.likelihood_steps, self.ema.module, self.hparams.coord_scale
        val = self.trainer.datamodule.val_xyz
        frames = val[np.linspace(0, len(val) - 1, min(self.hparams.likelihood_frames, len(val))).round().astype(int)]
        was_training = model.training
        model.eval()
        try:
            log_q = generator_for_model(model, scale, SolverSpec("princeps", "midpoint", steps=steps),
                                        self.prior).log_prob(frames)
            sampler = generator_for_model(model, scale, SolverSpec("princeps", "midpoint", steps=steps, density="jacobian"),
                                          self.prior)
            draw = sampler.sample(self.hparams.ess_samples, seed=0)
        finally:
            model.train(was_training)
        with EnergyEvaluator(self.hparams.topology, target=Target.from_record(self.data_target)) as ev:
            u = ev.reduced(draw.x, nonfinite="inf")
        weights = importance_weights(u, draw.log_q, (ala3.chirality_volumes(None, draw.x) > 0).all(axis=1))
        return {"nll_nats": float(-np.mean(log_q)), "ess_fraction": float(weights.ess_fraction),
                "n_folded": float(weights.n_folded), **log_w_quantiles(weights.log_w)}

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        warm, total = self.hparams.warmup_steps, self.hparams.max_steps

        def schedule(step: int) -> float:  # linear warm-up, then cosine decay to 1% of lr
            if step < warm:
                return (step + 1) / warm
            progress = min(1.0, (step - warm) / max(1, total - warm))
            return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
