"""One ensemble: the target that MD integrates is the target that scores samples."""

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
    The scorer (EnergyEvaluator) moves to this System with the AAA data set; until then it scores
    the old ensemble (README)."""
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
