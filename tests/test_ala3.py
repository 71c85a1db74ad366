"""Tri-alanine: the pinned topology, the offline build, resumable MD, OpenMM energies."""

import json

import numpy as np
import pytest

from rexmol.molecules import ala3, md
from rexmol.molecules.energies import EnergyEvaluator

ATOM_NAMES = ["N", "H", "H2", "H3", "CA", "HA", "C", "O", "CB", "HB1", "HB2", "HB3",
              "N", "H", "CA", "HA", "C", "O", "CB", "HB1", "HB2", "HB3",
              "N", "H", "CA", "HA", "C", "O", "CB", "HB1", "HB2", "HB3", "OXT"]


def test_shipped_topology_is_pinned():
    topology, positions = ala3.load_topology()
    atoms = list(topology.atoms())
    assert [a.name for a in atoms] == ATOM_NAMES
    assert [a.residue.index for a in atoms] == [0] * 12 + [1] * 10 + [2] * 11
    assert {a.residue.name for a in atoms} == {"ALA"}
    assert "".join(a.element.symbol for a in atoms) == "NHHHCHCOCHHHNHCHCOCHHHNHCHCOCHHHO"
    assert topology.getNumBonds() == 32  # a tree: 33 atoms, no rings
    assert positions.shape == (33, 3)


def test_every_residue_is_l_alanine():
    """PDBFixer's C-terminal template fit builds a D residue; the builder must correct it."""
    topology, positions = ala3.load_topology()
    assert (ala3.chirality_volumes(topology, positions) > 0).all()
    built_topology, built = ala3.build_structure()
    assert (ala3.chirality_volumes(built_topology, built) > 0).all()
    mirrored = built.copy()
    mirrored[:, 2] *= -1  # the mirror image: all three residues D
    assert (ala3.chirality_volumes(built_topology, mirrored) < 0).all()
    fixed = ala3.enforce_l_chirality(built_topology, mirrored)
    assert (ala3.chirality_volumes(built_topology, fixed) > 0).all()


def test_chirality_volume_is_the_hand_computed_signed_volume():
    """One function serves single conformations and batches: ((N - CA) x (C - CA)) . (CB - CA)."""
    topology, positions = ala3.load_topology()
    quads = ala3.chirality_atoms(topology)
    assert quads.tolist() == ala3.chirality_atoms().tolist() == [[0, 4, 6, 8], [12, 14, 16, 18], [22, 24, 26, 28]]
    x = np.zeros((2, 33, 3))
    for r, (n, ca, c, cb) in enumerate(quads):
        x[:, ca] = [r, 0.0, 0.0]  # CA at (r, 0, 0): the volume does not depend on the origin
        x[:, n] = x[:, ca] + [0.1, 0.0, 0.0]
        x[:, c] = x[:, ca] + [0.0, 0.2, 0.0]
        x[:, cb] = x[:, ca] + [0.05, -0.1, 0.3]  # only the component normal to N-CA-C counts
    x[1, quads[2, 3], 2] = -0.3  # frame 1: residue 3 mirrored (D)
    expected = 0.1 * 0.2 * 0.3  # (0.1 e1 x 0.2 e2) . CB = 0.02 e3 . CB
    vols = ala3.chirality_volumes(None, x)
    assert vols.shape == (2, 3) and vols.dtype == np.float64
    np.testing.assert_allclose(vols, [[expected] * 3, [expected, expected, -expected]], rtol=1e-12)
    np.testing.assert_allclose(ala3.chirality_volumes(topology, x[1].astype(np.float32)), vols[1], rtol=1e-6)
    batch = np.stack([positions, positions])
    np.testing.assert_allclose(ala3.chirality_volumes(topology, batch)[1], ala3.chirality_volumes(topology, positions))


def test_offline_build_reproduces_the_shipped_atom_order_and_minimises():
    topology, positions = ala3.build_structure()
    assert [a.name for a in topology.atoms()] == ATOM_NAMES
    _, energy = ala3.minimize(topology, positions)
    assert -650.0 < energy < -500.0  # kJ/mol; the shipped structure minimises to about -579


def test_topology_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="rexmol build-system"):
        ala3.load_topology(tmp_path / "missing.pdb")
    with pytest.raises(FileExistsError, match="overwrite"):
        ala3.write_topology_pdb(ala3.TOPOLOGY_PDB)


def test_md_chunks_resume_and_refuse_other_settings(tmp_path):
    settings = md.MDSettings(chunk_frames=5, equilibration_ps=0.4, stride_steps=25)
    md.run_trajectory(tmp_path, seed=3, length_ns=0.00025, settings=settings, threads=1, progress=False)  # 10 frames
    run = tmp_path / "seed3"
    first = json.loads((run / "progress.json").read_text())
    assert [c["frames"] for c in first["chunks"]] == [5, 5]
    mtime = (run / "chunk0000.dcd").stat().st_mtime_ns
    md.run_trajectory(tmp_path, seed=3, length_ns=0.0005, settings=settings, threads=1, progress=False)  # resume
    second = json.loads((run / "progress.json").read_text())
    assert [c["file"] for c in second["chunks"]] == [f"chunk{i:04d}.dcd" for i in range(4)]
    assert second["chunks"][:2] == first["chunks"][:2] and (run / "chunk0000.dcd").stat().st_mtime_ns == mtime
    with pytest.raises(ValueError, match="other MD settings"):
        md.run_trajectory(tmp_path, seed=3, length_ns=0.002, settings=md.MDSettings(), threads=1, progress=False)


@pytest.fixture(scope="module")
def conformations():
    """Perturbed copies of the minimised structure: realistic, varied energies."""
    _, positions = ala3.load_topology()
    rng = np.random.default_rng(0)
    return positions[None] + 0.01 * rng.standard_normal((300, 33, 3))


def reference_energies(xyz):
    import openmm
    from openmm import unit

    topology, _ = ala3.load_topology()
    ctx = openmm.Context(ala3.create_system(topology), openmm.VerletIntegrator(0.001),
                         openmm.Platform.getPlatformByName("CPU"), {"Threads": "1"})
    out = []
    for x in xyz:
        ctx.setPositions(x)
        out.append(ctx.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole))
    return np.array(out)


def test_energies_agree_with_a_single_openmm_context(conformations):
    reference = reference_energies(conformations)
    kT = ala3.kT_kJ_per_mol()
    assert kT == pytest.approx(2.4943, abs=1e-4)
    with EnergyEvaluator(n_workers=2, chunk=64, target=None) as ev:  # the old ensemble's scorer
        u = ev.reduced(conformations)
    np.testing.assert_allclose(u * kT, reference, rtol=1e-6)
    assert EnergyEvaluator(target=None).energies_kj(conformations[:5]) == pytest.approx(reference[:5], rel=1e-6)
    assert EnergyEvaluator().target.name == "AAA"  # the default is the shipped data's target


def test_forces_are_minus_the_energy_gradient(conformations):
    ev = EnergyEvaluator(platform="Reference")
    x = conformations[:1]
    energy, forces = ev.forces(x)
    h = 1e-5
    for atom, axis in [(0, 0), (4, 1), (32, 2)]:
        plus, minus = x.copy(), x.copy()
        plus[0, atom, axis] += h
        minus[0, atom, axis] -= h
        numeric = -(ev.energies_kj(plus)[0] - ev.energies_kj(minus)[0]) / (2 * h)
        assert forces[0, atom, axis] == pytest.approx(numeric, rel=1e-4, abs=1e-2)
    assert np.isfinite(energy).all()


def test_energy_bad_input_and_non_finite_results(conformations):
    ev = EnergyEvaluator()
    with pytest.raises(ValueError, match=r"shape \(n, 33, 3\)"):
        ev.reduced(np.zeros((4, 32, 3)))
    bad = conformations[:4].copy()
    bad[2, 5, 1] = np.nan
    with pytest.raises(ValueError, match=r"1 of 4 conformations have NaN/inf coordinates \(rows \[2\]\)"):
        ev.reduced(bad)
    u = ev.reduced(bad, nonfinite="inf")
    assert np.isinf(u[2]) and np.isfinite(u[[0, 1, 3]]).all()
    clash = conformations[:1].copy()
    clash[0, 1] = clash[0, 0]  # two atoms on top of each other
    assert np.isposinf(ev.reduced(clash)[0])


def test_energy_terms_sum_to_u_and_the_bond_term_is_its_closed_form(conformations):
    import openmm
    from openmm import unit

    from rexmol.molecules.energies import energy_terms
    from rexmol.molecules.target import AAA

    x = conformations[:8]
    terms = energy_terms(x)
    assert {"HarmonicBondForce", "HarmonicAngleForce", "PeriodicTorsionForce", "NonbondedForce",
            "CustomGBForce"} <= set(terms)
    np.testing.assert_allclose(sum(terms.values()), EnergyEvaluator().reduced(x), rtol=1e-6, atol=1e-5)
    # the bond term from the force's own parameters: sum over bonds of k/2 (r - r0)^2, in kT
    topology, _ = ala3.load_topology()
    system = AAA.create_system(topology)  # held: its forces are views into it
    bonds = next(f for f in system.getForces() if isinstance(f, openmm.HarmonicBondForce))
    expected = np.zeros(len(x))
    for b in range(bonds.getNumBonds()):
        i, j, r0, k = bonds.getBondParameters(b)
        r = np.linalg.norm(x[:, i] - x[:, j], axis=-1)
        k_kj_nm2 = k.value_in_unit(unit.kilojoule_per_mole / unit.nanometer ** 2)
        expected += 0.5 * k_kj_nm2 * (r - r0.value_in_unit(unit.nanometer)) ** 2
    np.testing.assert_allclose(terms["HarmonicBondForce"], expected / AAA.kT, rtol=1e-5)
    bad = x[:2].copy()
    bad[1, 3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN/inf coordinates"):
        energy_terms(bad)
    scored = energy_terms(bad, nonfinite="inf")
    assert all(np.isinf(v[1]) and np.isfinite(v[0]) for v in scored.values())
