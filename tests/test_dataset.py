"""The dataset manifest: splits by trajectory, provenance, and clear errors on damaged files."""

import hashlib
import json
import shutil
from dataclasses import asdict

import numpy as np
import pytest

from rexmol.molecules import dataset, md
from rexmol.molecules.target import AAA

SETTINGS = md.MDSettings(chunk_frames=4, equilibration_ps=0.2, stride_steps=10)


@pytest.fixture(scope="module")
def md_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("md")
    for seed in (1, 2, 3):
        md.run_trajectory(root, seed, length_ns=0.0001, settings=SETTINGS, threads=1, progress=False)  # 10 frames
    return root


def build(tmp_path, md_dir, splits=None, **kw):
    out = tmp_path / "dataset.json"
    splits = splits or {"train": [1, 2], "val": [], "test": [3]}
    return out, dataset.build_manifest(splits, md_dir=md_dir, out=out, frames_per_run=10, **kw)


def test_manifest_records_provenance_and_loads_by_trajectory(tmp_path, md_dir):
    out, manifest = build(tmp_path, md_dir)
    assert manifest["splits"] == {"train": [1, 2], "val": [], "test": [3]}
    assert manifest["system"]["target"] == AAA.record()
    assert manifest["system"]["forcefield"] == ["amber14-all.xml", "implicit/obc1.xml"]
    assert manifest["md"]["timestep_ps"] == 0.001 and manifest["md"]["stride_ps"] == pytest.approx(0.01)
    assert "openmm" in manifest["versions"] and len(manifest["runs"]["1"]["chunks"]) == 3
    assert manifest["split_ns"]["train"] == pytest.approx(2 * 10 * 0.01 / 1000)
    train = dataset.load_split("train", out)
    assert train.shape == (20, 33, 3) and train.dtype == np.float32
    by_run = dataset.load_split("test", out, by_run=True)
    assert list(by_run) == [3] and by_run[3].shape == (10, 33, 3)
    # frames are real conformations: bonded atoms about 0.1 nm apart (N-H of residue 1)
    assert 0.09 < float(np.linalg.norm(train[:, 0] - train[:, 1], axis=-1).mean()) < 0.11
    with pytest.raises(FileExistsError, match="overwrite"):
        build(tmp_path, md_dir)


def test_split_rules(tmp_path, md_dir):
    with pytest.raises(ValueError, match="seed 2 is in both 'train' and 'test'"):
        build(tmp_path, md_dir, {"train": [1, 2], "val": [], "test": [2]})
    with pytest.raises(ValueError, match=r"seeds \[7\] have no finished run"):
        build(tmp_path, md_dir, {"train": [1, 7], "val": [], "test": [3]})
    with pytest.raises(ValueError, match="splits must name exactly"):
        build(tmp_path, md_dir, {"train": [1], "test": [3]})


def test_damaged_files_give_clear_errors(tmp_path, md_dir):
    copy = tmp_path / "md"
    shutil.copytree(md_dir, copy)
    out, _ = build(tmp_path, copy)
    chunk = copy / "seed3" / "chunk0001.dcd"
    with pytest.raises(ValueError, match="unknown split 'validation'"):
        dataset.load_split("validation", out)
    data = chunk.read_bytes()
    chunk.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(ValueError, match="chunk0001.dcd: checksum mismatch"):
        dataset.load_split("test", out)
    with pytest.raises(ValueError, match="chunk0001.dcd: (cannot be read|.*frames, the manifest says)"):
        dataset.load_split("test", out, verify=False)
    chunk.unlink()
    with pytest.raises(FileNotFoundError, match="chunk0001.dcd is missing"):
        dataset.load_split("test", out)
    with pytest.raises(FileNotFoundError, match="rexmol dataset"):
        dataset.load_split("train", tmp_path / "nope.json")
    manifest = json.loads(out.read_text())
    assert manifest["runs"]["1"]["dir"] == "md/seed1"


def test_frames_of_the_wrong_molecule_are_refused(tmp_path, md_dir):
    import mdtraj

    from rexmol.molecules import ala3

    frames = dataset.load_split("train", build(tmp_path, md_dir)[0])
    assert (ala3.chirality_volumes(None, frames) > 0).all()
    mirror = tmp_path / "mirror.dcd"
    flipped = frames.copy()
    flipped[..., 2] *= -1  # the enantiomer: D-Ala-D-Ala-D-Ala
    mdtraj.Trajectory(flipped, mdtraj.load_topology(str(ala3.TOPOLOGY_PDB))).save_dcd(str(mirror))
    with pytest.raises(ValueError, match="D-alanine residue"):
        dataset.load_chunk(mirror)


def test_runs_of_another_integrator_join_only_when_validated(tmp_path, md_dir):
    """A run with HMR at 2 fs (same target, frames 0.01 ps apart like the protocol runs of md_dir) is refused
    beside the protocol's runs until an ensemble benchmark's results say that integrator matches."""
    hmr = md.MDSettings(timestep_ps=0.002, hydrogen_mass_amu=3.0, stride_steps=5, chunk_frames=4, equilibration_ps=0.2)
    root = tmp_path / "md"
    shutil.copytree(md_dir, root)
    md.run_trajectory(root, 9, length_ns=0.0001, settings=hmr, threads=1, progress=False)
    splits = {"train": [1, 9], "val": [], "test": [3]}
    validation = tmp_path / "md_integrator_ensemble.json"
    with pytest.raises(ValueError, match=r"seed 9 was run with the integrator .*'timestep_ps': 0\.002.*nor validated"):
        dataset.build_manifest(splits, md_dir=root, out=tmp_path / "a.json", frames_per_run=10, validation=validation)
    record = {"matches": False, "target": AAA.record(), "candidate": {"9": {"settings": asdict(hmr)}}}
    validation.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="nor validated"):
        dataset.build_manifest(splits, md_dir=root, out=tmp_path / "a.json", frames_per_run=10, validation=validation)
    validation.write_text(json.dumps(record | {"matches": True, "target": AAA.record() | {"temperature_k": 300.0}}))
    with pytest.raises(ValueError, match="nor validated"):  # validated, but for another target
        dataset.build_manifest(splits, md_dir=root, out=tmp_path / "a.json", frames_per_run=10, validation=validation)
    validation.write_text(json.dumps(record | {"matches": True}))
    manifest = dataset.build_manifest(splits, md_dir=root, out=tmp_path / "a.json", frames_per_run=10,
                                      validation=validation)
    assert manifest["md"]["settings_by_run"]["9"]["timestep_ps"] == 0.002
    assert manifest["md"]["settings_by_run"]["1"]["timestep_ps"] == 0.001 and "timestep_ps" not in manifest["md"]
    assert manifest["md"]["integrator_validation"]["file"] == "md_integrator_ensemble.json"
    assert manifest["md"]["integrator_validation"]["sha256"] == hashlib.sha256(validation.read_bytes()).hexdigest()
    assert dataset.load_split("train", tmp_path / "a.json").shape == (20, 33, 3)
    dataset.check_training_integrators(tmp_path / "a.json", validation)  # admitted: it may train
    # the benchmark rejects the integrator later: the manifest built while it was admitted may not train
    validation.write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"train/val runs \[9\] were integrated with .*0\.002.* does not admit"):
        dataset.check_training_integrators(tmp_path / "a.json", validation)
    dataset.check_training_integrators(build(tmp_path, md_dir)[0], validation)  # protocol runs always may
    # a validated integrator with another frame stride is still refused (tau_int and floors count frames)
    odd = md.MDSettings(timestep_ps=0.002, hydrogen_mass_amu=3.0, stride_steps=10, chunk_frames=4, equilibration_ps=0.2)
    md.run_trajectory(root, 8, length_ns=0.0002, settings=odd, threads=1, progress=False)
    with pytest.raises(ValueError, match="frames 0.02 ps apart"):
        dataset.build_manifest({"train": [1, 8], "val": [], "test": [3]}, md_dir=root, out=tmp_path / "b.json",
                               frames_per_run=10, validation=validation)


def test_runs_of_two_targets_are_refused_as_such(tmp_path, md_dir):
    """An old-ensemble run (its progress records no target) beside AAA runs: the error is the target,
    whichever seed comes first, not the integrator settings."""
    root = tmp_path / "md"
    shutil.copytree(md_dir, root)
    progress = root / "seed2" / "progress.json"
    record = json.loads(progress.read_text())
    del record["target"]
    progress.write_text(json.dumps(record))
    for splits in ({"train": [1, 2], "val": [], "test": [3]}, {"train": [2, 1], "val": [], "test": [3]}):
        with pytest.raises(dataset.TargetMismatch, match="was run for another target"):
            dataset.build_manifest(splits, md_dir=root, out=tmp_path / "m.json", frames_per_run=10)


def test_cli_frames_per_run_zero_takes_runs_still_growing(tmp_path, md_dir, capsys):
    """`rexmol dataset --frames-per-run 0` admits runs of any length with the chunks they have
    finished (a data set built while MD still grows); a length no run has is refused."""
    from rexmol import cli

    growing = tmp_path / "md"
    shutil.copytree(md_dir, growing)
    progress = growing / "seed2" / "progress.json"
    record = json.loads(progress.read_text())
    record["chunks"] = record["chunks"][:2]  # seed 2 as if its last chunk were still running
    progress.write_text(json.dumps(record))
    args = ["dataset", "--train", "1", "2", "--test", "3", "--md", str(growing)]
    assert cli.main(args + ["--frames-per-run", "10", "--out", str(tmp_path / "a.json")]) == 2
    assert "seeds [2] have no finished run of 10 frames" in capsys.readouterr().err
    assert cli.main(args + ["--frames-per-run", "0", "--out", str(tmp_path / "b.json")]) == 0
    manifest = json.loads((tmp_path / "b.json").read_text())
    assert manifest["runs"]["2"]["frames"] == 8 and len(manifest["runs"]["2"]["chunks"]) == 2
    assert manifest["runs"]["1"]["frames"] == 10
    assert dataset.load_split("train", tmp_path / "b.json").shape == (18, 33, 3)
