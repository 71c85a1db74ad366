"""Several trajectories side by side in one OpenMM System (md.run_replicas): each copy must be
exactly a lone run of the target, and each seed's folder must read as one."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rexmol.molecules import ala3, md
from rexmol.molecules.target import AAA

SETTINGS = md.MDSettings(chunk_frames=3, equilibration_ps=0.01, stride_steps=5)
CHUNK_NS = 3 * 5 * SETTINGS.timestep_ps / 1000  # one chunk of 3 frames, 5 steps apart


def _context(system, positions, platform="Reference"):
    import openmm
    from openmm import unit

    props = {"Threads": "1"} if platform == "CPU" else {}
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName(platform), props)
    ctx.setPositions(positions * unit.nanometer)
    return ctx


def _energy_forces(ctx, groups=-1):
    from openmm import unit

    state = ctx.getState(getEnergy=True, getForces=True, groups=groups)
    return (state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole),
            state.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer))


def _md_frames(indices):
    import mdtraj

    traj = mdtraj.load_dcd(str(ala3.TOPOLOGY_PDB.parent / "md" / "seed101" / "chunk0000.dcd"), top=str(ala3.TOPOLOGY_PDB))
    return traj.xyz[list(indices)].astype(np.float64)


def _replicas_against_lone_molecule(layout, outside=None, platform="Reference"):
    """Three different MD conformations (randomly rotated) placed as the copies of a k = 3 replica
    System, against the target's own one-molecule System built separately: (energy of the copies'
    own potential minus the sum of the lone energies (kJ/mol), the largest force difference
    (kJ/mol/nm), the restraint's energy and forces (3, atoms, 3), masses). Copy ``outside`` has its
    centre of mass 0.3 nm beyond its radius; the others sit inside."""
    sim, _, anchors, masses = md.build_replica_simulation(3, settings=SETTINGS, layout=layout, platform=platform)
    rng = np.random.default_rng(0)
    frames = _md_frames([0, 250, 499])
    placed = []
    for i, frame in enumerate(frames):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        q *= np.sign(np.linalg.det(q))  # a proper rotation: the molecule stays all-L
        x = (frame - (frame * masses[:, None]).sum(0) / masses.sum()) @ q.T
        offset = np.array([0.0, 0.0, layout.radius_nm + 0.3]) if i == outside else np.array([0.1, -0.1, 0.05])
        placed.append(x + anchors[i] + offset)
    topology, _ = ala3.load_topology()
    lone = _context(AAA.create_system(topology), frames[0], platform)
    lone_e, lone_f = zip(*(_energy_forces(_set(lone, x)) for x in placed))
    ctx = _context(sim.system, np.concatenate(placed), platform)
    e, f = _energy_forces(ctx, sum(1 << g for g in range(32) if g != md.RESTRAINT_GROUP))
    e_res, f_res = _energy_forces(ctx, 1 << md.RESTRAINT_GROUP)
    return (e - sum(lone_e), np.abs(f.reshape(3, -1, 3) - np.stack(lone_f)).max(), e_res, f_res.reshape(3, -1, 3),
            masses, np.stack(placed))


def _set(ctx, x):
    from openmm import unit

    ctx.setPositions(x * unit.nanometer)
    return ctx


def test_copies_do_not_interact_and_the_restraint_moves_only_their_centres():
    """The k-copy System without its restraints has, copy by copy, the lone molecule's forces and
    the sum of its energies. The restraint has its closed-form energy and gives every atom of a
    copy the same acceleration (a pure centre-of-mass force)."""
    layout = md.ReplicaLayout()
    de, df, e_res, f_res, masses, placed = _replicas_against_lone_molecule(layout, outside=2)
    # the copies sit beyond the cutoff, by direct atom-atom distances (not the replica code's bound)
    closest = min(np.linalg.norm(placed[i][:, None] - placed[j][None], axis=-1).min()
                  for i in range(3) for j in range(i + 1, 3))
    assert closest > AAA.cutoff_nm
    assert abs(de) < 1e-6 and df < 1e-6
    assert e_res == pytest.approx(0.5 * layout.k_kj_per_mol_nm2 * 0.3 ** 2, rel=1e-9)
    np.testing.assert_allclose(f_res[[0, 1]], 0.0, atol=1e-12)  # inside their radius: untouched
    accel = f_res[2] / masses[:, None]
    np.testing.assert_allclose(accel, np.broadcast_to(accel[0], accel.shape), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(f_res[2].sum(0), [0.0, 0.0, -layout.k_kj_per_mol_nm2 * 0.3], rtol=1e-9, atol=1e-9)


def test_the_comparison_sees_copies_that_do_interact(monkeypatch):
    """The same comparison resolves an interaction: copies 1.5 nm apart (the layout check bypassed)
    differ from lone molecules by far more than the tolerance above (about 0.9 kJ/mol)."""
    monkeypatch.setattr(md.ReplicaLayout, "check", lambda self, target: None)
    de, df, *_ = _replicas_against_lone_molecule(md.ReplicaLayout(spacing_nm=1.5, radius_nm=0.3))
    assert abs(de) > 0.1 and df > 1e-3


def test_on_the_cpu_platform_production_ran_on_the_copies_match_lone_molecules_to_single_precision():
    """The same comparison on OpenMM's CPU platform (single-precision forces, copies up to 7 nm from
    the origin): agreement to single precision, far inside the 1.5 nm control's difference."""
    de, df, *_ = _replicas_against_lone_molecule(md.ReplicaLayout(), outside=2, platform="CPU")
    assert abs(de) < 2e-3 and df < 2e-3  # measured: 1e-4 kJ/mol and 2.4e-4 kJ/mol/nm


def test_the_layout_refuses_copies_that_could_interact():
    from dataclasses import replace

    # reach = radius 1 + excursion sqrt(2 * 20 kT / 1000) = 0.321 nm + extent 0.9 = 2.221 nm each side
    excursion = np.sqrt(2 * 20 * AAA.kT / 1000)
    assert md.ReplicaLayout().excursion_nm(AAA.kT) == pytest.approx(excursion)
    tight = 2 * (1 + excursion + md.AAA_EXTENT_NM) + AAA.cutoff_nm
    md.ReplicaLayout(spacing_nm=tight + 0.01).check(AAA)
    with pytest.raises(ValueError, match="could interact"):
        md.ReplicaLayout(spacing_nm=tight - 0.01).check(AAA)
    with pytest.raises(ValueError, match="could interact"):  # a softer restraint lets copies wander further
        md.ReplicaLayout(spacing_nm=tight + 0.01, k_kj_per_mol_nm2=500.0).check(AAA)
    with pytest.raises(ValueError, match="finite cutoff"):
        md.ReplicaLayout().check(replace(AAA, cutoff_nm=None))
    with pytest.raises(ValueError, match="positive"):
        md.ReplicaLayout(radius_nm=0.0).check(AAA)
    anchors = md.ReplicaLayout(spacing_nm=7.0).anchors(9)
    d = np.linalg.norm(anchors[:, None] - anchors[None], axis=-1)
    assert len(anchors) == 9 and d[np.triu_indices(9, 1)].min() == pytest.approx(7.0)
    np.testing.assert_allclose(anchors.mean(0), 0.0, atol=1e-12)


def test_the_extent_bound_holds_for_the_test_runs():
    """AAA_EXTENT_NM against 6,000 frames of the 1 fs test runs (the first chunk of each of twelve)."""
    import mdtraj

    md_dir = ala3.TOPOLOGY_PDB.parent / "md"
    frames = mdtraj.join([mdtraj.load_dcd(str(md_dir / f"seed{s}" / "chunk0000.dcd"), top=str(ala3.TOPOLOGY_PDB))
                          for s in (101, 102, 103, 104, *range(116, 124))])
    masses = np.array([a.element.mass for a in frames.topology.atoms])
    com = (frames.xyz * masses[None, :, None]).sum(1) / masses.sum()
    extent = np.linalg.norm(frames.xyz - com[:, None], axis=-1).max()
    assert len(frames) == 6000 and extent < md.AAA_EXTENT_NM
    assert f"{extent:.2f}" == "0.65"  # the README's figure


def test_copy_gap_is_the_centre_distance_less_both_extents():
    unit_pair = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])  # equal masses: centre at x = 0.5, extent 0.5
    masses = np.ones(2)
    positions = np.stack([unit_pair, unit_pair + [4.0, 0.0, 0.0], unit_pair + [10.0, 0.0, 0.0]])
    gap, pair = md.copy_gap_nm(positions, masses)
    assert gap == pytest.approx(4.0 - 0.5 - 0.5) and pair == (0, 1)
    assert md.copy_gap_nm(positions[:1], masses)[0] == np.inf


def _mass_weighted_centres(path):
    import mdtraj

    traj = mdtraj.load_dcd(str(path), top=str(ala3.TOPOLOGY_PDB))
    masses = np.array([a.element.mass for a in traj.topology.atoms])
    return traj, (traj.xyz * masses[None, :, None]).sum(1) / masses.sum()


def test_replicas_write_each_seed_as_a_lone_run_and_resume_only_as_their_group(tmp_path):
    from rexmol.molecules import dataset

    layout = md.ReplicaLayout()
    md.run_replicas(tmp_path, [5, 6], CHUNK_NS, settings=SETTINGS, threads=1, progress=False)
    first = {}
    for i, seed in enumerate((5, 6)):
        record = json.loads((tmp_path / f"seed{seed}" / "progress.json").read_text())
        AAA.check(record["target"], "progress.json")
        assert record["replicas"]["copy"] == i and record["replicas"]["seeds"] == [5, 6]
        (chunk,) = record["chunks"]
        assert chunk["sha256"] == md.sha256(tmp_path / f"seed{seed}" / chunk["file"])
        first[seed] = chunk["sha256"]
        traj, com = _mass_weighted_centres(tmp_path / f"seed{seed}" / chunk["file"])
        assert traj.xyz.shape == (3, ala3.N_ATOMS, 3)
        # shifted back by its anchor: the centre of mass within the restraint's radius (+ its excursion)
        assert np.linalg.norm(com, axis=-1).max() < layout.radius_nm + layout.excursion_nm(AAA.kT)
    assert first[5] != first[6]  # two copies, two trajectories
    assert [f.name for f in (tmp_path / "replicas-5-6").iterdir()] == ["state-0001.xml"]

    md.run_replicas(tmp_path, [5, 6], 2 * CHUNK_NS, settings=SETTINGS, threads=1, progress=False)  # resume
    for seed in (5, 6):
        chunks = json.loads((tmp_path / f"seed{seed}" / "progress.json").read_text())["chunks"]
        assert len(chunks) == 2 and chunks[0]["sha256"] == first[seed]
    assert [f.name for f in (tmp_path / "replicas-5-6").iterdir()] == ["state-0002.xml"]
    runs = dataset.completed_runs(tmp_path)
    assert runs[5]["replicas"]["dir"] == "replicas-5-6" and runs[6]["frames"] == 6

    with pytest.raises(md.GroupMember, match="copy 0 of replicas-5-6"):  # alone it cannot resume
        md.run_trajectory(tmp_path, 5, 3 * CHUNK_NS, settings=SETTINGS, threads=1, progress=False)
    with pytest.raises(md.GroupMember, match="resumes only that way"):
        md.run_replicas(tmp_path, [6, 5], 3 * CHUNK_NS, settings=SETTINGS, threads=1, progress=False)
    assert not (tmp_path / "replicas-6-5").exists()
    assert len(json.loads((tmp_path / "seed5" / "progress.json").read_text())["chunks"]) == 2


def test_a_cut_off_between_progress_writes_resumes_every_member_from_the_matching_state(tmp_path):
    """Cut off after the state of chunk 2 and seed 5's record were written, before seed 6's: the
    group resumes from the state after chunk 1 (kept until every member counts 2) and redoes chunk
    2 for both, continuing from where chunk 1 ended. On the Reference platform: the bit-for-bit
    comparison below is of the resume logic, and the CPU platform's single-precision forces came
    back different once in a full suite run (not reproduced alone)."""
    md.run_replicas(tmp_path, [5, 6], CHUNK_NS, settings=SETTINGS, platform="Reference", progress=False)
    group = tmp_path / "replicas-5-6"
    state1 = (group / "state-0001.xml").read_bytes()
    md.run_replicas(tmp_path, [5, 6], 2 * CHUNK_NS, settings=SETTINGS, platform="Reference", progress=False)
    # roll seed 6 and the group back to the moment of the cut-off
    record6 = json.loads((tmp_path / "seed6" / "progress.json").read_text())
    del record6["chunks"][1:]
    (tmp_path / "seed6" / "progress.json").write_text(json.dumps(record6))
    (group / "state-0001.xml").write_bytes(state1)
    redone = json.loads((tmp_path / "seed5" / "progress.json").read_text())["chunks"][1]["sha256"]
    md.run_replicas(tmp_path, [5, 6], 2 * CHUNK_NS, settings=SETTINGS, platform="Reference", progress=False)
    for seed in (5, 6):
        chunks = json.loads((tmp_path / f"seed{seed}" / "progress.json").read_text())["chunks"]
        assert len(chunks) == 2
    # the same state and integrator seed as the first time: chunk 2 comes back bit for bit (from the
    # state after chunk 2 it would continue from 15 steps later and differ)
    assert json.loads((tmp_path / "seed5" / "progress.json").read_text())["chunks"][1]["sha256"] == redone
    assert [f.name for f in group.iterdir()] == ["state-0002.xml"]


def test_a_cut_off_in_the_first_chunk_restarts_the_group_without_a_stale_record(tmp_path):
    """Cut off after seed 5 recorded chunk 1 and before seed 6 did: no member has a finished chunk,
    so the group starts again, and seed 5's record of the interrupted chunk is dropped, not kept
    beside the new one."""
    md.run_replicas(tmp_path, [5, 6], CHUNK_NS, settings=SETTINGS, threads=1, progress=False)
    record6 = json.loads((tmp_path / "seed6" / "progress.json").read_text())
    record6["chunks"] = []
    (tmp_path / "seed6" / "progress.json").write_text(json.dumps(record6))
    md.run_replicas(tmp_path, [5, 6], CHUNK_NS, settings=SETTINGS, threads=1, progress=False)
    for seed in (5, 6):
        chunks = json.loads((tmp_path / f"seed{seed}" / "progress.json").read_text())["chunks"]
        assert [c["file"] for c in chunks] == ["chunk0000.dcd"]
        assert chunks[0]["sha256"] == md.sha256(tmp_path / f"seed{seed}" / "chunk0000.dcd")


def test_a_group_without_its_state_is_refused_not_restarted(tmp_path):
    md.run_replicas(tmp_path, [5, 6], CHUNK_NS, settings=SETTINGS, threads=1, progress=False)
    (tmp_path / "replicas-5-6" / "state-0001.xml").unlink()
    with pytest.raises(FileNotFoundError, match="state-0001.xml is missing"):
        md.run_replicas(tmp_path, [5, 6], 2 * CHUNK_NS, settings=SETTINGS, threads=1, progress=False)
    assert len(json.loads((tmp_path / "seed5" / "progress.json").read_text())["chunks"]) == 1


def test_a_frame_where_copies_could_interact_stops_the_run_before_its_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(md, "copy_gap_nm", lambda positions, masses: (1.5, (0, 1)))
    with pytest.raises(RuntimeError, match="seeds 7 and 8 came within 1.50 nm"):
        md.run_replicas(tmp_path, [7, 8], CHUNK_NS, settings=SETTINGS, threads=1, progress=False)
    assert not list(tmp_path.glob("seed*/chunk*.dcd"))


def test_simulate_groups_seeds_runs_a_remainder_alone_and_skips_what_it_cannot_resume(tmp_path, monkeypatch):
    """`rexmol simulate --seeds 1 2 3 4 5 --replicas 2`: groups [1, 2] and [3, 4], seed 5 alone; a group
    another process holds, or a seed that belongs to a group, is skipped with a message, not fatal."""
    calls = []

    def fake_group(out, seeds, length_ns, **kw):
        calls.append(("group", list(seeds)))
        if seeds == [3, 4]:
            raise md.RunInProgress("held by another process")

    def fake_lone(out, seed, length_ns, **kw):
        calls.append(("lone", seed))
        raise md.GroupMember("started as copy 0 of replicas-5-6")

    monkeypatch.setattr(md, "run_replicas", fake_group)
    monkeypatch.setattr(md, "run_trajectory", fake_lone)
    md.main(["--out", str(tmp_path), "--seeds", "1", "2", "3", "4", "5", "--replicas", "2"])
    assert calls == [("group", [1, 2]), ("group", [3, 4]), ("lone", 5)]
    calls.clear()
    md.main(["--out", str(tmp_path), "--seeds", "7", "8"])  # --replicas 1: every seed alone
    assert calls == [("lone", 7), ("lone", 8)]
