"""The DiT and its training: shapes, mean-freeness, rotations, OT pairing, exact traces,
loss decrease on a tiny config, save/load, and clear errors for bad model files."""

import itertools

import pytest
import torch

import rexmol
from rexmol.flows import brute_force_trace, divergence
from rexmol.model import DiT, frame_atom_ids, token_ids
from rexmol.model.checkpoint import save_model
from rexmol.molecules import ala3
from rexmol.training import FlowMatchingModule, ot_pair, random_rotations

IDS = token_ids(ala3.TOPOLOGY_PDB)


def tiny_dit(dtype=torch.float32, width=16, depth=2, frame=False):
    torch.manual_seed(0)
    frame_atoms = frame_atom_ids(ala3.TOPOLOGY_PDB) if frame else None
    model = DiT(*IDS, width=width, depth=depth, heads=2, frame_atoms=frame_atoms).to(dtype)
    for p in model.parameters():  # leave the adaLN-Zero identity start: make the map non-trivial
        torch.nn.init.normal_(p, std=0.2)
    return model


def test_token_ids_follow_the_topology():
    atoms, residues, elements = IDS
    assert atoms == list(range(33)) and residues == [0] * 12 + [1] * 10 + [2] * 11
    assert elements[:4] == [0, 1, 1, 1] and max(elements) == 3  # N H H H ...; elements N, H, C, O


def test_dit_shapes_mean_free_output_and_translation_invariance():
    model = tiny_dit().requires_grad_(False)
    x = torch.randn(5, 33, 3)
    t = torch.rand(5)
    v = model(t, x)
    assert v.shape == (5, 33, 3)
    assert float(v.mean(dim=1).abs().max()) < 1e-6
    torch.testing.assert_close(model(t, x + torch.tensor([1.0, -2.0, 0.5])), v, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(model(torch.tensor(0.3), x), model(torch.full((5,), 0.3), x))
    with pytest.raises(ValueError, match=r"expected x of shape \(batch, 33, 3\)"):
        model(t, torch.randn(5, 32, 3))


def test_fresh_dit_is_the_zero_field():
    """adaLN-Zero: every block and the output start as the identity / zero map."""
    model = DiT(*IDS, width=16, depth=2, heads=2)
    with torch.no_grad():
        assert float(model(torch.rand(3), torch.randn(3, 33, 3)).abs().max()) == 0.0


def test_canonical_frame_makes_the_field_exactly_rotation_equivariant():
    """v(t, x Q^T) = v(t, x) Q^T for proper rotations Q; a mirror image is not mapped to the same input
    (the frame is a proper rotation, so chirality stays visible to the network)."""
    torch.manual_seed(1)
    model = DiT(*IDS, width=16, depth=2, heads=2, frame_atoms=frame_atom_ids(ala3.TOPOLOGY_PDB)).double()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    model.requires_grad_(False)
    x, t = torch.randn(4, 33, 3, dtype=torch.float64), torch.rand(4, dtype=torch.float64)
    q = random_rotations(4, dtype=torch.float64)
    v = model(t, x)
    torch.testing.assert_close(model(t, x @ q.transpose(1, 2)), v @ q.transpose(1, 2), rtol=1e-10, atol=1e-10)
    frame = model.canonical_frame(x - x.mean(1, keepdim=True))
    torch.testing.assert_close(torch.linalg.det(frame), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(frame.transpose(1, 2) @ frame, torch.eye(3, dtype=torch.float64).expand(4, 3, 3))
    mirror = x * torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)
    assert float((model(t, mirror) * torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64) - v).abs().max()) > 1e-3


def test_random_rotations_are_haar_rotations():
    r = random_rotations(20000, torch.Generator().manual_seed(0), torch.float64)
    eye = torch.eye(3, dtype=torch.float64)
    assert float((r @ r.transpose(1, 2) - eye).abs().max()) < 1e-12
    assert float((torch.linalg.det(r) - 1).abs().max()) < 1e-12
    # Haar measure: E[R] = 0, and R e_z is uniform on the sphere (each coordinate has variance 1/3)
    assert float(r.mean(0).abs().max()) < 0.02
    assert torch.allclose((r[:, :, 2] ** 2).mean(0), torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.01)


def test_rotation_augmentation_preserves_the_molecule():
    _, positions = ala3.load_topology()
    x = torch.tensor(positions - positions.mean(0), dtype=torch.float64)[None].repeat(4, 1, 1)
    r = random_rotations(4, torch.Generator().manual_seed(1), torch.float64)
    y = x @ r.transpose(1, 2)
    torch.testing.assert_close(torch.cdist(y, y), torch.cdist(x, x))
    assert float(y.mean(1).abs().max()) < 1e-12


def test_ot_pair_is_the_optimal_assignment():
    gen = torch.Generator().manual_seed(2)
    data = torch.randn(6, 4, 3, generator=gen)
    noise = torch.randn(6, 4, 3, generator=gen)
    paired = ot_pair(noise, data)
    cost = lambda z: float((z - data).square().sum())  # noqa: E731
    best = min(cost(noise[list(p)]) for p in itertools.permutations(range(6)))
    assert cost(paired) == pytest.approx(best)
    assert sorted(map(tuple, paired.reshape(6, -1).tolist())) == sorted(map(tuple, noise.reshape(6, -1).tolist()))


@pytest.mark.parametrize("method,frame", [("loop", False), ("vjp", False), ("jvp", False), ("fold", False),
                                          ("loop", True), ("jvp", True)])
def test_exact_trace_of_the_ala3_dit_equals_brute_force(method, frame):
    model = tiny_dit(torch.float64, frame=frame)
    fn = lambda y: model(torch.full((y.shape[0],), 0.4, dtype=y.dtype), y)  # noqa: E731
    x = torch.randn(3, 33, 3, dtype=torch.float64)
    _, div = divergence(fn, x, method, chunk=33)
    torch.testing.assert_close(div, brute_force_trace(fn, x), rtol=1e-10, atol=1e-10)


def md_frames(n=512):
    """Real conformations: the minimised structure, rotated and thermally perturbed."""
    _, positions = ala3.load_topology()
    x = torch.tensor(positions - positions.mean(0), dtype=torch.float32)
    gen = torch.Generator().manual_seed(3)
    r = random_rotations(n, gen)
    x = x[None] @ r.transpose(1, 2) + 0.01 * torch.randn(n, 33, 3, generator=gen)
    return x - x.mean(1, keepdim=True)


def test_a_few_training_steps_reduce_the_loss():
    torch.manual_seed(0)
    module = FlowMatchingModule(width=32, depth=1, heads=2, ot_coupling=False)
    data = md_frames()
    opt = torch.optim.Adam(module.model.parameters(), lr=3e-3)

    def evaluate():
        with torch.no_grad():
            return float(module.loss(data, module.model, generator=torch.Generator().manual_seed(9)))

    before = evaluate()
    for _ in range(60):
        batch = data[torch.randint(0, len(data), (64,))]
        loss = module.loss(batch, module.model, rotate=True, ot=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
        module.ema.update_parameters(module.model)
    after = evaluate()
    assert after < 0.8 * before, (before, after)


def test_save_then_load_reproduces_outputs_exactly(tmp_path):
    model = tiny_dit(width=16, depth=2)
    cfg = {"width": 16, "depth": 2, "heads": 2, "mlp_ratio": 4.0, "coord_scale": 5.0}
    path = save_model(model, cfg, tmp_path / "m.pt", info={"steps": 1})
    loaded = rexmol.load_model(path)
    x, t = torch.randn(4, 33, 3), torch.rand(4)
    assert torch.equal(loaded.model(t, x), model.eval()(t, x))
    assert loaded.coord_scale == 5.0 and loaded.info == {"steps": 1}
    with pytest.raises(FileExistsError):
        save_model(model, cfg, path)
    # the bytes (hence the SHA-256 every run records) depend on the weights, not on the file's name
    other = save_model(model, cfg, tmp_path / "sub" / "another_name.pt", info={"steps": 1})
    assert other.read_bytes() == path.read_bytes()


def test_bad_model_files_give_clear_errors(tmp_path):
    model = tiny_dit()
    cfg = {"width": 16, "depth": 2, "heads": 2, "mlp_ratio": 4.0, "coord_scale": 5.0}
    path = save_model(model, cfg, tmp_path / "m.pt")
    with pytest.raises(FileNotFoundError, match="not found"):
        rexmol.load_model(tmp_path / "missing.pt")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="corrupted or truncated"):
        rexmol.load_model(broken)
    # a topology with another atom order
    lines = ala3.TOPOLOGY_PDB.read_text().splitlines()
    atoms = [i for i, line in enumerate(lines) if line.startswith("ATOM")]
    lines[atoms[0]], lines[atoms[1]] = lines[atoms[1]], lines[atoms[0]]
    other = tmp_path / "other.pdb"
    other.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="trained on a topology with atoms"):
        rexmol.load_model(path, other)
    # a config that does not fit the weights
    payload = torch.load(path, weights_only=True)
    payload["config"]["width"] = 32
    torch.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(ValueError, match="weights do not fit the config"):
        rexmol.load_model(tmp_path / "mismatch.pt")
    torch.save({"format": "other"}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not a rexmol model file"):
        rexmol.load_model(tmp_path / "foreign.pt")


def test_ema_keeps_the_token_ids_intact():
    """Averaging integer buffers truncates them (a bug that corrupted validation of the EMA model)."""
    module = FlowMatchingModule(width=16, depth=1, heads=2)
    for _ in range(300):
        module.ema.update_parameters(module.model)
    for name in ("atom_ids", "residue_ids", "element_ids"):
        assert torch.equal(getattr(module.ema.module, name), getattr(module.model, name))


def test_the_shipped_model_loads_and_owns_no_coordinate_scale():
    """The scale y = 5 x lives in the model file (LoadedModel.coord_scale), applied by the generator;
    the DiT takes coordinates as given, so nothing can scale twice."""
    loaded = rexmol.load_model(ala3.TOPOLOGY_PDB.parents[2] / "models" / "ala3_dit.pt")
    assert loaded.coord_scale == 5.0 and not hasattr(loaded.model, "coord_scale")
    x = torch.randn(2, 33, 3)
    with torch.no_grad():
        v = loaded.model(torch.full((2,), 0.5), x)
    assert v.shape == x.shape and bool(torch.isfinite(v).all()) and float(v.abs().max()) > 0


def test_training_validation_and_the_model_report_sample_what_the_generator_samples():
    """One sampler: the training module's validation samples and the model report's samples are the
    generator's conformers for the same seed (same prior draws, flow, t1 and coordinate scale)."""
    from rexmol.boltzmann.generator import BoltzmannGenerator, fixed_step_spec, generator_for_model
    from rexmol.model.checkpoint import LoadedModel
    from rexmol.training.report import sample_model

    module = FlowMatchingModule(width=16, depth=1, heads=2, mlp_ratio=2.0, coord_scale=5.0)
    for p in module.ema.module.parameters():  # a non-trivial EMA field (adaLN-Zero starts as zero)
        torch.nn.init.normal_(p, std=0.2)
    loaded = LoadedModel(module.ema.module, 5.0, {}, {})
    gen = BoltzmannGenerator(loaded, fixed_step_spec(3))
    draw = gen.sample(4, seed=11)
    assert gen.flow.t1 == BoltzmannGenerator(loaded).flow.t1 == generator_for_model(module.ema.module, 5.0).flow.t1
    from_training = module.sample(4, steps=3, seed=11)
    from_report = sample_model(loaded, 4, steps=3, seed=11, batch=3)  # batched solves, same draws
    from_generator = gen.sample_conformers(4, seed=11)
    for x in (from_training, from_report, from_generator):
        assert x.shape == (4, 33, 3)
        assert abs(x - draw.x).max() < 1e-5
    assert abs(draw.x - draw.z / 5.0).max() > 1e-2  # the field moved the samples: the comparison means something
    assert abs(module.sample(4, steps=3, seed=12) - draw.x).max() > 1e-2  # another seed, other conformers


@pytest.mark.parametrize("power", [1.0, 3.0])
def test_training_times_follow_beta_power_one(power):
    """t ~ Beta(p, 1): Kolmogorov-Smirnov against the closed-form CDF s^p (20,000 draws; the 0.1%
    critical value is 1.95 / sqrt(n)); p = 3 puts 1 - 0.5^3 = 87.5% of the times above 0.5."""
    from rexmol.training.module import training_times

    n = 20_000
    t = torch.sort(training_times(n, torch.Generator().manual_seed(0), torch.float64, power)).values
    grid = torch.arange(1, n + 1, dtype=torch.float64) / n
    ks = torch.maximum((grid - t**power).abs(), (grid - 1 / n - t**power).abs()).max()
    assert float(ks) < 1.95 / n**0.5
    assert float((t > 0.5).double().mean()) == pytest.approx(1 - 0.5**power, abs=0.015)
    with pytest.raises(ValueError, match="time_power must be a positive number"):
        FlowMatchingModule(width=16, depth=1, heads=2, time_power=0.0)


def _bond_dit(bonds=True, seed=1):
    from rexmol.model import bond_graph

    torch.manual_seed(seed)
    return DiT(*IDS, width=16, depth=2, heads=2, frame_atoms=frame_atom_ids(ala3.TOPOLOGY_PDB),
               bonds=bond_graph(ala3.TOPOLOGY_PDB) if bonds else None).double()


def test_bond_slots_list_each_atoms_bonded_neighbours_and_pad_with_itself():
    from rexmol.model import bond_graph
    from rexmol.model.dit import bond_slots

    bonds = bond_graph(ala3.TOPOLOGY_PDB)
    slots = bond_slots(bonds, 33, 4)
    for i in range(33):
        neighbours = sorted({j for a, b in bonds for j in ((b,) if a == i else (a,) if b == i else ())})
        assert slots[i].tolist() == neighbours + [i] * (4 - len(neighbours))
    assert len(bonds) == 32  # a tree: 33 atoms, no ring
    with pytest.raises(ValueError, match="more than max_degree 3"):
        bond_slots(bonds, 33, 3)  # the carbons have 4 bonds
    with pytest.raises(ValueError, match=r"bond \(0, 40\) is not a pair of two distinct atoms of 33"):
        bond_slots([(0, 40)], 33, 4)


def test_bond_features_start_as_the_same_function_and_keep_exact_equivariance():
    """A DiT with bond features whose other weights are a plain DiT's is that DiT (the bond map
    starts at zero, which a warm start relies on). Once the bond map is non-zero: the field changes,
    stays exactly rotation equivariant and mean-free, and its exact trace is the brute-force one."""
    plain, bonded = _bond_dit(bonds=False), _bond_dit()
    for model in (plain, bonded):
        for name, p in model.named_parameters():
            if "bond_in" not in name:
                torch.nn.init.normal_(p, std=0.2)
    missing, unexpected = bonded.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(missing) == ["bond_in.bias", "bond_in.weight"] and not unexpected
    x, t = torch.randn(4, 33, 3, dtype=torch.float64), torch.rand(4, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(bonded(t, x), plain(t, x), rtol=0, atol=0)
        torch.nn.init.normal_(bonded.bond_in.weight, std=0.2)
        v = bonded(t, x)
        assert float((v - plain(t, x)).abs().max()) > 1e-2
        q = random_rotations(4, dtype=torch.float64)
        torch.testing.assert_close(bonded(t, x @ q.transpose(1, 2)), v @ q.transpose(1, 2), rtol=1e-10, atol=1e-10)
        assert float(v.mean(1).abs().max()) < 1e-12
    bonded.requires_grad_(False)
    fn = lambda y: bonded(torch.full((y.shape[0],), 0.4, dtype=y.dtype), y)  # noqa: E731
    for method in ("loop", "jvp"):
        _, div = divergence(fn, x[:2], method, chunk=33)
        torch.testing.assert_close(div, brute_force_trace(fn, x[:2]), rtol=1e-10, atol=1e-10)


def test_a_model_file_records_bond_features_only_where_it_has_them(tmp_path):
    """Files written without the option keep the config they had (so their bytes, and the SHA-256
    that runs record, do not change); a file with bond features loads back as the same field."""
    cfg = {"width": 16, "depth": 2, "heads": 2, "mlp_ratio": 4.0, "coord_scale": 5.0, "canonical_frame": True}
    plain = save_model(_bond_dit(bonds=False), cfg, tmp_path / "plain.pt")
    assert "bond_features" not in torch.load(plain, weights_only=True)["config"]
    bonded = _bond_dit()
    torch.nn.init.normal_(bonded.bond_in.weight, std=0.2)
    path = save_model(bonded.float(), {**cfg, "bond_features": True}, tmp_path / "bonded.pt")
    loaded = rexmol.load_model(path)
    assert loaded.config["bond_features"] is True and loaded.model.bond_in is not None
    x, t = torch.randn(3, 33, 3), torch.rand(3)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(t, x), bonded(t, x))
    assert rexmol.load_model(plain).model.bond_in is None
