"""One ensemble: the target that MD integrates is the target that scores samples."""

import hashlib
import json

import pytest

from rexmol.molecules import ala3, md
from rexmol.molecules.target import AAA, TargetMismatch


def test_aaa_is_the_published_protocol():
    assert AAA.forcefield_files == ("amber14-all.xml", "implicit/obc1.xml")
    assert (AAA.nonbonded_method, AAA.cutoff_nm, AAA.temperature_k) == ("CutoffNonPeriodic", 2.0, 310.0)
    assert AAA.kT == pytest.approx(2.5775, abs=1e-4)  # R * 310 K in kJ/mol
    assert AAA.record()["constraints"] is None


def test_the_md_system_is_the_flexible_obc1_target(tmp_path):
    """What MD integrates: AAA's System (built by md.run_trajectory through the target, which it
    records), with no constraints, OBC1's Born radii, the 2 nm cutoff, and X-H bonds that vibrate.
    The scorer (EnergyEvaluator) scores with this System by default, as the shipped data record."""
    import openmm
    from openmm import unit

    topology, positions = ala3.load_topology()
    system = AAA.create_system(topology)
    assert system.getNumConstraints() == 0
    gb = next(f for f in system.getForces() if isinstance(f, openmm.CustomGBForce))
    born = gb.getComputedValueParameters(1)[1]
    assert "tanh(0.8*psi+2.909125*psi^3)" in born  # OBC1: alpha, beta, gamma = 0.8, 0, 2.909125 (OBC2: 1, 0.8, 4.85)
    nb = next(f for f in system.getForces() if isinstance(f, openmm.NonbondedForce))
    assert nb.getNonbondedMethod() == openmm.NonbondedForce.CutoffNonPeriodic
    assert nb.getCutoffDistance().value_in_unit(unit.nanometer) == pytest.approx(2.0)
    # the shipped MD code records the target it integrated, and that record is AAA's
    settings = md.MDSettings(chunk_frames=3, equilibration_ps=0.01, stride_steps=5)
    md.run_trajectory(tmp_path, seed=1, length_ns=0.000015, settings=settings, threads=1, progress=False)
    AAA.check(json.loads((tmp_path / "seed1" / "progress.json").read_text())["target"], "progress.json")
    # X-H bonds are flexible: stretching N-H by 5% costs its harmonic term (k ~ 3.6e5 kJ/mol/nm^2)
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(positions)
    e0 = ctx.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    stretched = positions.copy()
    names = [a.name for a in topology.atoms()]
    h, n = names.index("H2"), names.index("N")
    stretched[h] = positions[n] + 1.05 * (positions[h] - positions[n])
    ctx.setPositions(stretched)
    e1 = ctx.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    assert e1 - e0 > 1.0


def test_a_record_of_another_target_is_refused_with_both_named():
    other = AAA.record() | {"temperature_k": 300.0, "forcefield_files": ["amber14-all.xml", "implicit/obc2.xml"]}
    with pytest.raises(TargetMismatch, match=r"ckpt\.pt was made for another target .*temperature_k=300\.0.*"
                                             r"the target in use is AAA .*temperature_k=310\.0"):
        AAA.check(other, "ckpt.pt")
    with pytest.raises(TargetMismatch, match="records no target"):
        AAA.check(None, "old.json")


def test_md_refuses_to_resume_a_run_of_another_target(tmp_path):
    settings = md.MDSettings(chunk_frames=2, equilibration_ps=0.01, stride_steps=5)
    md.run_trajectory(tmp_path, seed=2, length_ns=0.00001, settings=settings, threads=1, progress=False)
    progress = tmp_path / "seed2" / "progress.json"
    record = json.loads(progress.read_text())
    record["target"]["temperature_k"] = 300.0
    progress.write_text(json.dumps(record))
    with pytest.raises(TargetMismatch, match="progress.json was made for another target"):
        md.run_trajectory(tmp_path, seed=2, length_ns=0.00002, settings=settings, threads=1, progress=False)


def _constrained_frames(n_frames=30):
    """Frames of a short MD run with X-H bonds constrained (the mistake the check must catch)."""
    import openmm
    from openmm import app, unit

    topology, positions = ala3.load_topology()
    system = app.ForceField(*AAA.forcefield_files).createSystem(topology, constraints=app.HBonds)
    integrator = openmm.LangevinMiddleIntegrator(310 * unit.kelvin, 1 / unit.picosecond, 0.002 * unit.picosecond)
    ctx = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("CPU"), {"Threads": "1"})
    ctx.setPositions(positions)
    ctx.applyConstraints(1e-6)
    ctx.setVelocitiesToTemperature(310 * unit.kelvin, 1)
    frames = []
    for _ in range(n_frames):
        integrator.step(20)
        frames.append(ctx.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer))
    return frames


def test_rigid_x_h_bonds_are_recognised():
    """Frames of constrained MD are refused; the shipped AAA data (seed 101) vibrate with a thermal
    spread of a few 1e-3 nm and pass."""
    import mdtraj
    import numpy as np

    from rexmol.molecules.target import check_flexible_bonds, hydrogen_bond_pairs

    topology, _ = ala3.load_topology()
    pairs = hydrogen_bond_pairs(topology)
    assert len(pairs) == 17  # 3 HA, 9 HB, 3 H on N1 (NH3+), 2 amide H
    with pytest.raises(TargetMismatch, match=r"rigid\.dcd: the 17 X-H bonds are rigid"):
        check_flexible_bonds(_constrained_frames(), pairs, "rigid.dcd")
    chunk = ala3.TOPOLOGY_PDB.parent / "md" / "seed101" / "chunk0000.dcd"
    new = mdtraj.load_dcd(str(chunk), top=str(ala3.TOPOLOGY_PDB)).xyz[:200]
    check_flexible_bonds(new, pairs, "seed101")
    spread = np.linalg.norm(new[:, [p[0] for p in pairs]] - new[:, [p[1] for p in pairs]], axis=-1).std(0)
    assert 1e-3 < float(np.median(spread)) < 6e-3


def test_the_scorer_of_the_target_is_an_independently_built_aaa_system():
    """EnergyEvaluator(target=AAA) against a System built here from the published protocol's own
    arguments (not through Target.create_system), on frames of the AAA MD data."""
    import mdtraj
    import numpy as np
    import openmm
    from openmm import app, unit

    from rexmol.molecules.energies import EnergyEvaluator

    topology, _ = ala3.load_topology()
    system = app.ForceField("amber14-all.xml", "implicit/obc1.xml").createSystem(
        topology, nonbondedMethod=app.CutoffNonPeriodic, nonbondedCutoff=2.0 * unit.nanometer, constraints=None)
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    frames = mdtraj.load_dcd(str(ala3.TOPOLOGY_PDB.parent / "md" / "seed101" / "chunk0000.dcd"),
                             top=str(ala3.TOPOLOGY_PDB)).xyz[::50].astype(np.float64)
    expect = []
    for x in frames:
        ctx.setPositions(x)
        expect.append(ctx.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole))
    with EnergyEvaluator(target=AAA) as ev:
        got = ev.energies_kj(frames)
        np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-3)  # CPU platform (mixed precision) vs Reference
        np.testing.assert_allclose(ev.reduced(frames), got / (8.314462618e-3 * 310.0), rtol=1e-12)
    with EnergyEvaluator(target=AAA, n_workers=2, chunk=4) as pool:  # spawned workers build the same System
        np.testing.assert_allclose(pool.energies_kj(frames), got, rtol=1e-6)
    with EnergyEvaluator(target=None) as old:  # the old ensemble's scorer is another potential (OBC2, no cutoff)
        assert np.abs(old.energies_kj(frames) - got).min() > 1.0
    with pytest.raises(ValueError, match="contradicts the target AAA"):
        EnergyEvaluator(target=AAA, temperature_k=300.0)


def test_records_of_two_targets_must_agree():
    from rexmol.molecules.target import require_same_target

    require_same_target(None, "a", None, "b")  # both the old ensemble
    require_same_target(AAA.record(), "a", AAA.record(), "b")
    with pytest.raises(TargetMismatch, match=r"old\.pt records no target .* but data\.json is of the AAA target"):
        require_same_target(None, "old.pt", AAA.record(), "data.json")
    with pytest.raises(TargetMismatch, match=r"m\.pt and d\.json were made for different targets: temperature_k: 300\.0 vs 310"):
        require_same_target(AAA.record() | {"temperature_k": 300.0}, "m.pt", AAA.record(), "d.json")


@pytest.fixture(scope="module")
def aaa_manifest(tmp_path_factory):
    """A data manifest of four tiny AAA runs (10 frames each): train 1, 2; val 3; test 4."""
    from rexmol.molecules import dataset

    root = tmp_path_factory.mktemp("aaa")
    settings = md.MDSettings(chunk_frames=4, equilibration_ps=0.2, stride_steps=10)
    for seed in (1, 2, 3, 4):
        md.run_trajectory(root / "md", seed, length_ns=0.0001, settings=settings, threads=1, progress=False)
    manifest = root / "dataset.json"
    dataset.build_manifest({"train": [1, 2], "val": [3], "test": [4]}, md_dir=root / "md", out=manifest,
                           frames_per_run=10)
    return manifest


def old_ensemble_manifest(manifest, out):
    """A copy of ``manifest`` as the old ensemble recorded it: no target record (beside it, since
    a manifest's paths are relative to its folder)."""
    record = json.loads(manifest.read_text())
    del record["system"]["target"]
    out.write_text(json.dumps(record))
    return out


def old_ensemble_model(model, out):
    """A copy of the model file ``model`` as the old ensemble's models were: no target record."""
    import torch

    payload = torch.load(model, map_location="cpu", weights_only=True)
    payload["target"] = None
    torch.save(payload, out)
    return out


def test_target_records_read_back():
    from rexmol.molecules.target import Target

    assert Target.from_record(AAA.record()) == AAA and Target.from_record(None) is None
    with pytest.raises(TargetMismatch, match=r"inconsistent \(constraints: 'HBonds' vs None, recorded vs"):
        Target.from_record(AAA.record() | {"constraints": "HBonds"})
    with pytest.raises(TargetMismatch, match=r"kT_kJ_per_mol: 2\.577483 vs 2\.494339"):  # 300 K with 310 K's kT
        Target.from_record(AAA.record() | {"temperature_k": 300.0})


def test_md_settings_for_another_step_keep_1_ps_frames_and_refuse_bad_values():
    assert md.settings_for() == md.MDSettings()  # the protocol
    hmr = md.settings_for(2.0, 3.0)
    assert (hmr.timestep_ps, hmr.stride_steps, hmr.hydrogen_mass_amu) == (0.002, 500, 3.0)
    assert hmr.stride_steps * hmr.timestep_ps == pytest.approx(1.0)
    for bad, message in ((0, "positive number of fs"), (-1.0, "positive number of fs"),
                         (3.0, "does not divide the 1 ps frame stride")):
        with pytest.raises(ValueError, match=message):
            md.settings_for(bad)
    with pytest.raises(ValueError, match="not above hydrogen's own"):
        md.settings_for(2.0, 0.5)
    with pytest.raises(ValueError, match="above 4 amu: a methyl carbon would keep 0.04 amu"):
        md.settings_for(2.0, 5.0)
    with pytest.raises(ValueError, match="leaves an atom with"):  # the System itself refuses it too
        AAA.create_system(ala3.load_topology()[0], hydrogen_mass_amu=5.5)


def test_the_reference_and_its_samples_are_scored_by_the_manifests_target(aaa_manifest):
    """The switch to AAA is the data's: an AAA manifest makes MDReference and judge score with AAA's
    System and kT; the shipped manifest keeps the old scorer. (The floors and the model report score
    through MDReference.evaluator, the same scorer; tiny runs are too short for their tau_int.)"""
    import numpy as np

    from rexmol.boltzmann.sampling import MDReference, judge
    from rexmol.geometry import centre
    from rexmol.molecules import dataset
    from rexmol.molecules.energies import EnergyEvaluator

    reference = MDReference(aaa_manifest)
    assert reference.target == AAA and reference.kT_kJ_per_mol == pytest.approx(2.5775, abs=1e-4)
    frames = centre(dataset.load_split("test", aaa_manifest))
    with EnergyEvaluator(target=AAA) as ev:
        np.testing.assert_allclose(reference.u, ev.reduced(frames), rtol=1e-12)
        train = centre(dataset.load_split("train", aaa_manifest))[:4]
        numbers, arrays = judge(train, np.zeros(4), reference, floors=False)  # samples scored by the same target
        np.testing.assert_allclose(arrays["u"], ev.reduced(train), rtol=1e-6)  # another Context: CPU mixed precision
    assert numbers["median_u_md_kT"] == pytest.approx(float(np.median(reference.u)))
    assert dataset.manifest_target() == AAA  # the shipped data are the AAA target's


def test_diverged_training_stops_and_keeps_the_last_good_checkpoint(tmp_path, aaa_manifest):
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import ModelCheckpoint

    from rexmol.training import FlowMatchingModule
    from rexmol.training.data import Ala3DataModule

    module = FlowMatchingModule(width=16, depth=1, heads=2, max_steps=10, warmup_steps=1, ot_coupling=False)
    loss = module.loss

    def diverging(*args, **kwargs):  # finite for two steps, then NaN
        value = loss(*args, **kwargs)
        return value * float("nan") if module.global_step >= 2 else value

    module.loss = diverging
    trainer = L.Trainer(max_steps=10, accelerator="cpu", logger=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
                        callbacks=[ModelCheckpoint(dirpath=tmp_path, save_last=True, every_n_train_steps=1)])
    with pytest.raises(FloatingPointError, match="non-finite flow-matching loss .* at step 2"):
        trainer.fit(module, Ala3DataModule(str(aaa_manifest), batch_size=4, val_frames=10))
    assert torch.load(tmp_path / "last.ckpt", weights_only=False)["global_step"] == 2  # the last good one
    # and a module whose weights went non-finite refuses to be saved at all
    with torch.no_grad():
        next(module.model.parameters()).fill_(float("inf"))
    with pytest.raises(FloatingPointError, match="refusing to save a checkpoint"):
        trainer.save_checkpoint(tmp_path / "bad.ckpt")
    assert not (tmp_path / "bad.ckpt").exists()


def test_checkpoints_and_models_carry_the_target_of_their_data(tmp_path, aaa_manifest):
    """A real (tiny) Lightning fit on a manifest of AAA runs: its checkpoint and the exported model
    record AAA; resuming on data of another target is refused; so is judging that model against
    data of the old ensemble, and a model of the old ensemble against AAA data."""
    import lightning as L

    import rexmol
    from rexmol.boltzmann.sampling import load_model_for, sample_conformers
    from rexmol.model.checkpoint import export_lightning_checkpoint
    from rexmol.training import FlowMatchingModule
    from rexmol.training.data import Ala3DataModule

    manifest = aaa_manifest

    def fit(manifest_path, steps, ckpt_path=None, lr=1e-3):
        module = FlowMatchingModule(width=16, depth=1, heads=2, max_steps=10, warmup_steps=1, ot_coupling=False, lr=lr)
        trainer = L.Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                            limit_val_batches=0)
        trainer.fit(module, Ala3DataModule(str(manifest_path), batch_size=4, val_frames=10), ckpt_path=ckpt_path)
        return trainer

    ckpt = tmp_path / "a.ckpt"
    fit(manifest, 2).save_checkpoint(ckpt)
    import torch

    assert torch.load(ckpt, weights_only=False)["rexmol_target"] == AAA.record()
    model = export_lightning_checkpoint(ckpt, tmp_path / "m.pt")
    assert rexmol.load_model(model).target == AAA.record()
    assert load_model_for(model, manifest).target == AAA.record()
    # resuming on data recorded for another target: refused, with both named
    other = manifest.parent / "other.json"  # beside it: the manifest's paths are relative to its folder
    record = json.loads(manifest.read_text())
    record["system"]["target"]["temperature_k"] = 300.0
    other.write_text(json.dumps(record))
    with pytest.raises(TargetMismatch, match=r"checkpoint resumed from and the data of this run .*other\.json.*"
                                             r"temperature_k: 310\.0 vs 300\.0"):
        fit(other, 4, ckpt_path=ckpt)
    # ... on another version of the data of the same target, or with another config: refused too
    same_target = manifest.parent / "grown.json"
    record = json.loads(manifest.read_text())
    record["splits"]["train"] = [1]
    same_target.write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"trained on another version of the data: .*grown\.json has SHA-256"):
        fit(same_target, 4, ckpt_path=ckpt)
    with pytest.raises(ValueError, match=r"another module config: lr: 0\.001 in the checkpoint, 0\.01 now"):
        fit(manifest, 4, ckpt_path=ckpt, lr=1e-2)
    assert fit(manifest, 4, ckpt_path=ckpt).global_step == 4  # the same run resumes
    renamed = manifest.parent / "renamed.json"  # ... also from the same data under another name (by SHA-256)
    renamed.write_bytes(manifest.read_bytes())
    assert fit(renamed, 4, ckpt_path=ckpt).global_step == 4
    old = torch.load(ckpt, weights_only=False)
    del old["rexmol_run"]  # a checkpoint written before run records
    torch.save(old, tmp_path / "old.ckpt")
    with pytest.raises(ValueError, match="predates run records"):
        fit(manifest, 4, ckpt_path=tmp_path / "old.ckpt")
    with pytest.raises(ValueError, match=r"trainer.max_steps 20 runs past the learning-rate schedule"):
        fit(manifest, 20)
    # outside fit too (validate), the module scores with its data's target
    module = FlowMatchingModule(width=16, depth=1, heads=2, max_steps=10, ot_coupling=False)
    L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False).validate(
        module, Ala3DataModule(str(manifest), batch_size=4, val_frames=10))
    assert module.data_target == AAA.record()
    # the AAA model against a manifest of the old ensemble (no target): refused before anything is written
    old_manifest = old_ensemble_manifest(manifest, manifest.parent / "old_ensemble.json")
    with pytest.raises(TargetMismatch,
                       match=r"data manifest .*old_ensemble\.json records no target .* model .*m\.pt is of the AAA"):
        sample_conformers(model, tmp_path / "out", n=2, manifest=old_manifest)
    assert not (tmp_path / "out").exists()
    # and a model of the old ensemble against AAA data
    with pytest.raises(TargetMismatch, match=r"model .*old\.pt records no target"):
        load_model_for(old_ensemble_model(model, tmp_path / "old.pt"), manifest)


def test_a_warm_start_takes_the_weights_of_its_checkpoint_and_refuses_another_network(tmp_path, aaa_manifest):
    """``model.init_from``: a new run (fresh optimiser, schedule and step count) starts from the
    weights of another run's checkpoint, compared here with the tensors read back from the file;
    another width, another target or a missing file are refused, naming what differs."""
    import lightning as L
    import torch

    from rexmol.training import FlowMatchingModule
    from rexmol.training.data import Ala3DataModule

    def fit(manifest_path, steps, width=16, lr=1e-3, init_from=None, bond_features=False, ckpt_path=None):
        module = FlowMatchingModule(width=width, depth=1, heads=2, max_steps=10, warmup_steps=1, ot_coupling=False,
                                    lr=lr, init_from=init_from and str(init_from), bond_features=bond_features)
        trainer = L.Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                            limit_val_batches=0)
        trainer.fit(module, Ala3DataModule(str(manifest_path), batch_size=4, val_frames=10), ckpt_path=ckpt_path)
        return trainer, module

    first = tmp_path / "first.ckpt"
    fit(aaa_manifest, 3)[0].save_checkpoint(first)
    saved = torch.load(first, weights_only=False)["state_dict"]
    # lr ~ 0: one AdamW step moves a weight by ~lr, so the weights are the checkpoint's
    trainer, module = fit(aaa_manifest, 1, lr=1e-12, init_from=first)
    assert trainer.global_step == 1  # a new run: its own step count and schedule
    got = module.state_dict()
    for name, value in saved.items():
        if name.startswith("model.") and value.is_floating_point():
            assert torch.allclose(got[name], value, atol=1e-9), name
    assert int(got["ema.n_averaged"]) == int(saved["ema.n_averaged"]) + 1  # the average continues
    # ... and a fresh start is not close to them (the check above can fail)
    fresh = fit(aaa_manifest, 1, lr=1e-12)[1].state_dict()
    assert not torch.allclose(fresh["model.atom_emb.weight"], saved["model.atom_emb.weight"], atol=1e-3)
    second = tmp_path / "second.ckpt"
    trainer.save_checkpoint(second)
    import hashlib

    assert torch.load(second, weights_only=False)["rexmol_run"]["init_from_sha256"] == \
        hashlib.sha256(first.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match=r"first\.ckpt is another network or flow: width: 16 there, 24 here"):
        fit(aaa_manifest, 1, width=24, init_from=first)
    # a warm start may add bond features (their map is new and starts at zero), not drop them
    bonded_trainer, bonded = fit(aaa_manifest, 1, lr=1e-12, init_from=first, bond_features=True)
    got = bonded.state_dict()
    assert torch.allclose(got["model.atom_emb.weight"], saved["model.atom_emb.weight"], atol=1e-9)
    for name in ("model.bond_in.weight", "ema.module.bond_in.weight"):  # zero, moved by one step of lr 1e-12
        assert float(got[name].abs().max()) < 1e-9, name
    # ... from a checkpoint written before the option (its run record has no bond_features: it means
    # False), with or without the features: the warm-started field is the checkpoint's (its raw weights,
    # which one step of lr 1e-12 leaves in place; the EMA moves 0.1% towards them after the step)
    old = torch.load(first, weights_only=False)
    for record in (old["rexmol_run"]["module"], old["hyper_parameters"]):
        record.pop("bond_features")
    before = tmp_path / "before_the_option.ckpt"
    torch.save(old, before)
    from rexmol.model import DiT, token_ids
    from rexmol.molecules import ala3

    reference = DiT(*token_ids(ala3.TOPOLOGY_PDB), width=16, depth=1, heads=2)
    reference.load_state_dict({k[len("model."):]: v for k, v in saved.items() if k.startswith("model.")})
    x, t = torch.randn(3, 33, 3), torch.rand(3)
    for bond_features in (False, True):
        _, warm = fit(aaa_manifest, 1, lr=1e-12, init_from=before, bond_features=bond_features)
        with torch.no_grad():
            torch.testing.assert_close(warm.model(t, x), reference(t, x), rtol=1e-5, atol=1e-6)
            assert float(reference(t, x).abs().max()) > 1e-3  # not the zero field: the comparison can fail
    bonded_ckpt = tmp_path / "bonded.ckpt"
    bonded_trainer.save_checkpoint(bonded_ckpt)
    with pytest.raises(ValueError, match=r"bonded\.ckpt has bond features .* this run has none"):
        fit(aaa_manifest, 1, init_from=bonded_ckpt)
    # resuming a run with the option flipped: refused by name before Lightning loads the weights
    with pytest.raises(ValueError, match=r"another module config: bond_features: True in the checkpoint, False now"):
        fit(aaa_manifest, 2, lr=1e-12, init_from=first, ckpt_path=bonded_ckpt)
    with pytest.raises(ValueError, match=r"another module config: bond_features: False in the checkpoint, True now"):
        fit(aaa_manifest, 2, init_from=first, bond_features=True, ckpt_path=second)
    assert fit(aaa_manifest, 2, lr=1e-12, init_from=first, bond_features=True, ckpt_path=bonded_ckpt)[0].global_step == 2
    other = aaa_manifest.parent / "other_target.json"
    record = json.loads(aaa_manifest.read_text())
    record["system"]["target"]["temperature_k"] = 300.0
    other.write_text(json.dumps(record))
    with pytest.raises(TargetMismatch, match=r"warm-started from .*first\.ckpt.*temperature_k: 310\.0 vs 300\.0"):
        fit(other, 1, init_from=first)
    with pytest.raises(FileNotFoundError, match=r"init_from: checkpoint .*missing\.ckpt not found"):
        fit(aaa_manifest, 1, init_from=tmp_path / "missing.ckpt")


def test_training_likelihood_metrics_are_the_closed_form_on_the_identity_flow(aaa_manifest):
    """A fresh module's EMA DiT is the zero field (adaLN-Zero), so the flow is the identity map and
    q(x) = N(c x; 0, I) c^96 on the mean-free subspace in closed form (c = coord_scale): the logged
    NLL is minus its mean over the fixed validation frames, and the ESS is Kish's of
    w = exp(-u - log q) with u from an AAA scorer built here."""
    from types import SimpleNamespace

    import numpy as np

    from rexmol.boltzmann.generator import SolverSpec, generator_for_model
    from rexmol.flows import MeanFreeNormal
    from rexmol.molecules.energies import EnergyEvaluator
    from rexmol.training import FlowMatchingModule
    from rexmol.training.data import Ala3DataModule

    dm = Ala3DataModule(str(aaa_manifest), batch_size=4, val_frames=10)
    dm.setup()
    module = FlowMatchingModule(width=16, depth=1, heads=2, likelihood_frames=6, ess_samples=40, likelihood_steps=2)
    module._trainer = SimpleNamespace(datamodule=dm)
    module.data_target = dm.target
    got = module.likelihood_metrics()

    def closed_form(x, c=5.0):
        import torch

        y = torch.as_tensor(np.asarray(x) * c, dtype=torch.float64)
        return MeanFreeNormal(33).log_prob(y - y.mean(1, keepdim=True)).numpy() + 96 * np.log(c)

    frames = dm.val_xyz[np.linspace(0, len(dm.val_xyz) - 1, 6).round().astype(int)]
    assert got["nll_nats"] == pytest.approx(-closed_form(frames).mean(), rel=1e-5)
    x = generator_for_model(module.ema.module, 5.0, SolverSpec("princeps", "midpoint", steps=2)).prior_draws(40, 0)
    x = x.double().numpy() / 5.0  # the identity flow's conformers are its prior draws, unscaled
    with EnergyEvaluator(target=AAA) as ev:
        u = ev.reduced(x, nonfinite="inf")
    all_l = (ala3.chirality_volumes(None, x) > 0).all(axis=1)  # noise is often D somewhere: weight 0
    log_w = np.where(np.isfinite(u) & all_l, -u - closed_form(x), -np.inf)
    assert np.isfinite(log_w).sum() >= 2  # seed 0: several all-L draws with finite energies
    w = np.exp(log_w - log_w[np.isfinite(log_w)].max())
    assert got["ess_fraction"] == pytest.approx(w.sum() ** 2 / (40 * (w**2).sum()), rel=1e-6)
    assert got["n_folded"] == 0
    # most noise draws have weight 0 (D residues), and a draw of weight 0 counts as the lowest
    assert (~np.isfinite(log_w)).mean() > 0.5 and got["log_w_median"] == -np.inf


def test_two_processes_never_extend_one_trajectory(tmp_path, capsys):
    """The run's lock is held by whoever runs it; a second runner is refused (and `rexmol simulate`
    skips to its next seed), and the lock is free again once the first is done."""
    settings = md.MDSettings(chunk_frames=2, equilibration_ps=0.01, stride_steps=5)
    (tmp_path / "seed5").mkdir()
    held = md._lock_run(tmp_path / "seed5")
    with pytest.raises(md.RunInProgress, match="seed5 is being run by another process"):
        md.run_trajectory(tmp_path, seed=5, length_ns=0.00001, settings=settings, threads=1, progress=False)
    md.main(["--out", str(tmp_path), "--seeds", "5"])  # the command line goes on to its next seed
    assert "skipped seed 5: " in capsys.readouterr().out
    held.close()
    md.run_trajectory(tmp_path, seed=5, length_ns=0.00001, settings=settings, threads=1, progress=False)
    assert json.loads((tmp_path / "seed5" / "progress.json").read_text())["chunks"]


def test_the_fast_integrator_is_used_only_where_validated_and_started_seeds_keep_theirs(tmp_path, capsys):
    validation = tmp_path / "md_integrator_ensemble.json"
    fast = md.settings_for(2.0, 3.0)
    record = {"matches": True, "target": AAA.record(), "candidate": {"201": {"settings": md.asdict(fast)}}}
    validation.write_text(json.dumps(record))
    assert md.fast_if_validated(validation=validation) == fast
    validation.write_text(json.dumps(record | {"matches": False}))
    assert md.fast_if_validated(validation=validation) == md.MDSettings()
    assert md.fast_if_validated(validation=tmp_path / "none.json") == md.MDSettings()
    # a seed started with its own settings resumes with them under --fast-if-validated
    own = md.MDSettings(chunk_frames=2, equilibration_ps=0.01, stride_steps=5)
    md.run_trajectory(tmp_path, seed=7, length_ns=0.00001, settings=own, threads=1, progress=False)
    md.main(["--out", str(tmp_path), "--seeds", "7", "--length-ns", "0.00002", "--fast-if-validated"])
    resumed = json.loads((tmp_path / "seed7" / "progress.json").read_text())
    assert resumed["settings"] == md.asdict(own) and len(resumed["chunks"]) == 2


def test_the_shipped_integrator_benchmark_keeps_hmr_runs_out_of_new_manifests(tmp_path):
    """benchmarks/results/md_integrator_ensemble.json found HMR at 2 fs to shift residue 2's alpha_R
    population, so the gate that reads it refuses the committed HMR runs (seed 201) in a new data
    set, and `--fast-if-validated` runs the protocol's own integrator."""
    from rexmol.molecules import dataset

    record = json.loads(dataset.INTEGRATOR_VALIDATION.read_text())
    assert record["matches"] is False and not next(r for r in record["populations"] if r["region"] == "residue 2 alpha_R")["pass"]
    assert dataset.validated_integrators(AAA.record()) == []
    with pytest.raises(ValueError, match="seed 201 was run with the integrator .* nor validated against it"):
        dataset.build_manifest({"train": [201], "val": [103], "test": [101, 102]}, out=tmp_path / "m.json")
    assert not (tmp_path / "m.json").exists()
    assert md.fast_if_validated() == md.MDSettings()
    # nor may a manifest built while HMR was admitted train a model now (refused before any frame loads):
    # the shipped one with the committed HMR run 201 as its train split, as data version 34af59ed had
    from rexmol.training.data import Ala3DataModule

    record = dataset.load_manifest()
    record["splits"]["train"] = [201]
    record["md"]["settings_by_run"]["201"] = json.loads((dataset.MD_DIR / "seed201" / "progress.json").read_text())["settings"]
    (tmp_path / "hmr.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"train/val runs \[201\] were integrated with .* does not admit"):
        Ala3DataModule(manifest=str(tmp_path / "hmr.json")).setup()
    dataset.check_training_integrators()  # the shipped manifest (all 1 fs) may train


@pytest.mark.slow
def test_the_aaa_pipeline_end_to_end_on_the_shipped_aaa_runs(tmp_path):
    """The switch, rehearsed on the committed AAA runs (train: the 1 fs seed 116, val 103,
    test 101-102): a short real fit, export, and `rexmol sample` score and judge with AAA's System and
    kT, with AAA floors; a model of the old ensemble is refused against that data."""
    import lightning as L

    from rexmol.boltzmann.sampling import sample_conformers
    from rexmol.model.checkpoint import export_lightning_checkpoint
    from rexmol.molecules import dataset
    from rexmol.training import FlowMatchingModule
    from rexmol.training.data import Ala3DataModule

    manifest = tmp_path / "dataset.json"
    dataset.build_manifest({"train": [116], "val": [103], "test": [101, 102]}, out=manifest)
    module = FlowMatchingModule(width=32, depth=2, heads=2, max_steps=30, warmup_steps=5, canonical_frame=True)
    trainer = L.Trainer(max_steps=30, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(module, Ala3DataModule(str(manifest), batch_size=64, val_frames=200))
    trainer.save_checkpoint(tmp_path / "a.ckpt")
    model = export_lightning_checkpoint(tmp_path / "a.ckpt", tmp_path / "m.pt")
    res = sample_conformers(model, tmp_path / "s", n=4, chunk_size=4, manifest=manifest, progress=False, plots=False)
    assert res["target"] == AAA.record() and "2.5775" in res["units"]["u"]
    assert res["md_test_frames"] == 10_000 and res["noise_floor_raw"]["n_E"] == 4
    # the result names the test set it was judged against: this manifest's bytes and its test runs
    assert res["md_test_set"] == {"manifest": str(manifest), "frames": 10_000, "test_seeds": [101, 102],
                                  "manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest()}
    with pytest.raises(TargetMismatch, match="records no target"):
        sample_conformers(old_ensemble_model(model, tmp_path / "old.pt"), tmp_path / "old", n=2, manifest=manifest)
    assert not (tmp_path / "old").exists()


def test_the_test_sets_energies_are_cached_by_data_and_target_and_checked_on_load(aaa_manifest, tmp_path, monkeypatch):
    """MDReference keeps u of the test frames beside the manifest, under a name of the test chunks'
    SHA-256s and the target; a cached file that disagrees with energies recomputed on load (here: a
    tampered one) is rescored and replaced, with a warning; a quick check on a subset reads the cache
    but never writes it; the old ensemble's scorer has its own."""
    import numpy as np

    from rexmol.boltzmann.sampling import MDReference, reference_energy_cache_path
    from rexmol.geometry import centre
    from rexmol.molecules import dataset
    from rexmol.molecules.energies import EnergyEvaluator

    cache = reference_energy_cache_path(aaa_manifest, AAA)
    first = MDReference(aaa_manifest)
    with EnergyEvaluator(target=AAA) as ev:
        truth = ev.reduced(centre(dataset.load_split("test", aaa_manifest)))
    np.testing.assert_allclose(np.load(cache)["u"], truth, rtol=1e-12)
    np.testing.assert_allclose(MDReference(aaa_manifest).u, first.u, rtol=0)  # read back
    check = np.linspace(0, len(truth) - 1, MDReference.CACHE_CHECK_FRAMES).round().astype(int)
    unchecked = next(i for i in range(len(truth)) if i not in check)
    marked = truth.copy()
    marked[unchecked] += 1.0  # a frame the load does not recompute: only a cache read returns this
    np.savez(cache, u=marked)
    np.testing.assert_allclose(MDReference(aaa_manifest).u, marked, rtol=0)
    np.savez(cache, u=truth + 0.01)  # off by 10 times the tolerance
    with pytest.warns(UserWarning, match="disagrees with energies recomputed here"):
        again = MDReference(aaa_manifest)
    np.testing.assert_allclose(again.u, truth, rtol=1e-12)
    np.testing.assert_allclose(np.load(cache)["u"], truth, rtol=1e-12)
    keep = np.linspace(0, len(truth) - 1, 4).round().astype(int)  # a quick check's evenly spaced subset
    np.testing.assert_allclose(MDReference(aaa_manifest, max_frames=4).u, truth[keep], rtol=1e-12)  # from the cache
    np.savez(cache, u=truth + 0.01)
    with pytest.warns(UserWarning, match="disagrees"):  # a subset is rescored on its own, the cache left alone
        np.testing.assert_allclose(MDReference(aaa_manifest, max_frames=4).u, truth[keep], rtol=1e-12)
    np.testing.assert_allclose(np.load(cache)["u"], truth + 0.01, rtol=1e-12)
    cache.unlink()
    MDReference(aaa_manifest, max_frames=4)
    assert not cache.exists()
    import rexmol.boltzmann.sampling as sampling

    def unwritable(path, **arrays):
        raise PermissionError(f"read-only: {path}")

    monkeypatch.setattr(sampling, "atomic_savez", unwritable)
    with pytest.warns(UserWarning, match="could not cache the test set's energies"):  # the result still stands
        np.testing.assert_allclose(MDReference(aaa_manifest).u, truth, rtol=1e-12)
    assert not cache.exists()
    old = old_ensemble_manifest(aaa_manifest, aaa_manifest.parent / "old.json")
    assert reference_energy_cache_path(old, None).name != cache.name
    assert reference_energy_cache_path(old, AAA).name == cache.name  # the same chunks and target: the same key
    assert cache.parent == aaa_manifest.with_suffix(".cache")  # beside its manifest, named after it


def test_the_shipped_test_set_has_its_energies_cached():
    """The main job judges against the shipped test set: its energies are committed (see
    MDReference), so a fresh clone does not rescore every frame before its first result."""
    import numpy as np

    from rexmol.boltzmann.sampling import reference_energy_cache_path
    from rexmol.molecules import dataset

    manifest = dataset.load_manifest()
    path = reference_energy_cache_path(dataset.MANIFEST, dataset.manifest_target())
    assert path.exists(), f"{path} is missing: MDReference() writes it (e.g. one `rexmol sample`)"
    assert len(np.load(path)["u"]) == sum(manifest["runs"][str(s)]["frames"] for s in manifest["splits"]["test"])
    import warnings

    from rexmol.boltzmann.sampling import MDReference

    with warnings.catch_warnings():  # its values agree with OpenMM here, at the frames every load recomputes
        warnings.filterwarnings("error", message=".*disagrees with energies recomputed here")
        MDReference(max_frames=8)
