"""The target ensemble: one definition of the Boltzmann distribution exp(-U(x)/kT).

MD integrates it, the importance weights target it, and every metric's reference is drawn
from it, so all of them build their OpenMM System here and nowhere else (see
``shared/design/boltzmann.md``, "One ensemble, everywhere"). MD does; the scorer
(``EnergyEvaluator``, AAA by default) does, and the pipeline scores with the target its data
manifest records: the shipped data set is AAA's (a manifest that records no target, the old
ensemble's in git history, is scored by the old potential).

:data:`AAA` is the published tri-alanine protocol of the Boltzmann-generator results we
compare with (the Rex paper, SBG, FALCON): amber14-all + implicit/obc1, ``CutoffNonPeriodic``
with a 2.0 nm cutoff, **no constraints** (X-H bonds vibrate), 310 K, so
kT = k_B * 310 K = 2.5775 kJ/mol. Units: nm, kJ/mol, K.

A target has no constraints by construction. With holonomic constraints the configurational
density is not exp(-U/kT) of the full potential (the constrained degrees of freedom are
frozen, and a mass-dependent metric factor enters), so MD frames and importance weights
would describe two ensembles; measured here (the "one ensemble" issue: 100 ps of flexible MD
against the old X-H-constrained data), rigid X-H bonds put the MD mean energy 8.4 kT below the flexible
ensemble's, as equipartition predicts (17 bonds x kT/2).

Without constraints the configurational distribution does not depend on the masses, which is
why a dynamics-only change such as hydrogen mass repartitioning leaves the target unchanged
(it only changes the integrator's discretisation error, which must be measured).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: Molar gas constant R = N_A k_B in kJ/(mol K): kT in kJ/mol is R * T.
GAS_CONSTANT_KJ_PER_MOL_K = 8.314462618e-3


class TargetMismatch(ValueError):
    """Data, a checkpoint or a system made for a different target than the one in use."""


def differing_keys(a: dict, b: dict) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def _differences(a: dict, b: dict) -> str:
    """'key: a vs b; ...' for every key whose values differ."""
    return "; ".join(f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in differing_keys(a, b))


@dataclass(frozen=True)
class Target:
    """A Boltzmann target: force field, nonbonded treatment and temperature (no constraints)."""

    name: str
    forcefield_files: tuple[str, ...]
    nonbonded_method: str
    cutoff_nm: float | None
    temperature_k: float

    @property
    def kT(self) -> float:
        """Thermal energy kT = R T in kJ/mol."""
        return GAS_CONSTANT_KJ_PER_MOL_K * self.temperature_k

    def record(self) -> dict:
        """JSON-ready description, stored in MD progress files, dataset manifests, training
        checkpoints and model files."""
        out = asdict(self)
        out["forcefield_files"] = list(self.forcefield_files)
        out["constraints"] = None
        out["kT_kJ_per_mol"] = round(self.kT, 6)
        return out

    @classmethod
    def from_record(cls, record: dict | None) -> Target | None:
        """The target a record (:meth:`record`) describes; None for None (the old ensemble)."""
        if record is None:
            return None
        target = cls(record["name"], tuple(record["forcefield_files"]), record["nonbonded_method"],
                     record["cutoff_nm"], float(record["temperature_k"]))
        diff = _differences(record, target.record())
        if diff:
            raise TargetMismatch(f"target record of {record.get('name')!r} is inconsistent ({diff}, "
                                 "recorded vs what its fields define): edited by hand, or not a flexible-bond target")
        return target

    def check(self, recorded: dict | None, source: str) -> None:
        """Raise :class:`TargetMismatch` unless ``recorded`` (from :meth:`record`) is this target.

        ``source`` names the file or object the record came from, for the error message.
        """
        if recorded is None:
            raise TargetMismatch(f"{source} records no target; it predates the {self.name} target "
                                 f"({self._describe(self.record())}) and cannot be used with it")
        mine = self.record()
        diff = differing_keys(mine, recorded)
        if diff:
            theirs = ", ".join(f"{k}={recorded.get(k)!r}" for k in diff)
            ours = ", ".join(f"{k}={mine.get(k)!r}" for k in diff)
            raise TargetMismatch(f"{source} was made for another target ({theirs}); "
                                 f"the target in use is {self.name} ({ours})")

    @staticmethod
    def _describe(record: dict) -> str:
        cutoff = "" if record["cutoff_nm"] is None else f" {record['cutoff_nm']:g} nm"
        return (f"{' + '.join(record['forcefield_files'])}, {record['nonbonded_method']}{cutoff}, "
                f"constraints {record['constraints']}, {record['temperature_k']:g} K")

    def create_system(self, topology, hydrogen_mass_amu: float | None = None):
        """The OpenMM System whose potential U defines exp(-U/kT), with every bond flexible.

        ``hydrogen_mass_amu`` repartitions mass onto hydrogens. It changes dynamics only:
        with no constraints, configurational averages do not depend on the masses.
        """
        from openmm import app, unit

        kwargs = {"nonbondedMethod": getattr(app, self.nonbonded_method), "constraints": None,
                  "rigidWater": False}
        if self.cutoff_nm is not None:
            kwargs["nonbondedCutoff"] = self.cutoff_nm * unit.nanometer
        if hydrogen_mass_amu is not None:
            kwargs["hydrogenMass"] = hydrogen_mass_amu * unit.amu
        system = app.ForceField(*self.forcefield_files).createSystem(topology, **kwargs)
        lightest = min(system.getParticleMass(i).value_in_unit(unit.dalton) for i in range(system.getNumParticles()))
        if lightest <= 0.5:  # OpenMM does not check what repartitioning leaves on the heavy atoms
            raise ValueError(f"hydrogen mass {hydrogen_mass_amu} amu leaves an atom with {lightest:.2f} amu")
        if system.getNumConstraints():
            raise RuntimeError(f"{self.name}: OpenMM added {system.getNumConstraints()} constraints; "
                               "the target has flexible bonds")
        return system


AAA = Target(
    name="AAA",
    forcefield_files=("amber14-all.xml", "implicit/obc1.xml"),
    nonbonded_method="CutoffNonPeriodic",
    cutoff_nm=2.0,
    temperature_k=310.0,
)


def require_same_target(record_a: dict | None, source_a: str, record_b: dict | None, source_b: str) -> None:
    """Raise :class:`TargetMismatch` unless two recorded targets (:meth:`Target.record`, or None for
    the old ensemble, which predates target records) are the same, naming both sources and every
    field that differs. A model and the data it is judged against must agree; so must a resumed
    training run and its data."""
    if record_a == record_b:
        return
    if record_a is None or record_b is None:
        old, new = (source_a, source_b) if record_a is None else (source_b, source_a)
        recorded = record_b if record_a is None else record_a
        raise TargetMismatch(f"{old} records no target (the old ensemble), but {new} is of the "
                             f"{recorded.get('name')} target ({Target._describe(recorded)}); they cannot be used together")
    raise TargetMismatch(f"{source_a} and {source_b} were made for different targets: {_differences(record_a, record_b)}")


#: Below this spread (nm) over frames an X-H bond is rigid: constrained MD keeps X-H lengths to
#: ~1e-6 nm (measured 5.5e-7 nm on the old constrained data), while in the flexible target their
#: thermal spread is ~3e-3 nm.
RIGID_BOND_STD_NM = 1e-4


def check_flexible_bonds(xyz_nm, hydrogen_bonds, source: str) -> None:
    """Raise :class:`TargetMismatch` if the X-H bonds of frames ``xyz_nm`` (frames, atoms, 3), in nm,
    are rigid: their length spread over frames is below :data:`RIGID_BOND_STD_NM` for every bond.

    ``hydrogen_bonds`` lists (heavy atom, hydrogen) index pairs. Fewer than 10 frames are not judged
    (a spread over fewer says little). Called by ``dataset.load_split`` for data of a flexible target."""
    import numpy as np

    xyz = np.asarray(xyz_nm, dtype=np.float64)
    pairs = np.asarray(hydrogen_bonds, dtype=int)
    if len(xyz) < 10 or len(pairs) == 0:
        return
    lengths = np.linalg.norm(xyz[:, pairs[:, 0]] - xyz[:, pairs[:, 1]], axis=-1)
    spread = float(lengths.std(axis=0).max())
    if spread < RIGID_BOND_STD_NM:
        raise TargetMismatch(f"{source}: the {len(pairs)} X-H bonds are rigid (largest length spread "
                             f"{spread:.1e} nm over {len(xyz)} frames; ~3e-3 nm in the flexible target): these "
                             f"frames come from constrained MD, not from the target's ensemble")


def hydrogen_bond_pairs(topology) -> list[tuple[int, int]]:
    """(heavy atom, hydrogen) index pairs of the bonds to hydrogen in an OpenMM topology."""
    pairs = []
    for bond in topology.bonds():
        a, b = bond[0], bond[1]
        a_h = a.element is not None and a.element.symbol == "H"
        b_h = b.element is not None and b.element.symbol == "H"
        if a_h != b_h:
            heavy, h = (b, a) if a_h else (a, b)
            pairs.append((heavy.index, h.index))
    return pairs
