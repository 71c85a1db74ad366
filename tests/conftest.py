import pytest
import torch

# One torch thread: the suite must pass quickly while MD runs beside it on a 2-core machine, where
# two threads per process oversubscribe the cores (one DiT evaluation measured 26 s with 2 threads
# against 0.5 s with 1 on the loaded machine). The tensors in the tests are small.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _deterministic_torch():
    """Each test starts from the same RNG state and float32 default."""
    torch.manual_seed(0)
    prev = torch.get_default_dtype()
    yield
    torch.set_default_dtype(prev)


@pytest.fixture(scope="module")
def zero_model(tmp_path_factory):
    """A fresh DiT: adaLN-Zero makes it the zero field, so the flow is the identity and
    q(x) = N(c x; 0, I) c^96 on the mean-free subspace, in closed form (c = coord_scale = 5)."""
    from rexmol.model import DiT, token_ids
    from rexmol.model.checkpoint import save_model
    from rexmol.molecules import ala3
    from rexmol.molecules.target import AAA

    path = tmp_path_factory.mktemp("model") / "zero.pt"
    torch.manual_seed(0)
    config = {"width": 16, "depth": 1, "heads": 2, "mlp_ratio": 2.0, "coord_scale": 5.0}
    return save_model(DiT(*token_ids(ala3.TOPOLOGY_PDB), width=16, depth=1, heads=2, mlp_ratio=2.0), config, path,
                      target=AAA.record())  # a model of the shipped data's target


@pytest.fixture(scope="module")
def reference():
    """The MD test set's first 1000 frames, as the sample job judges against."""
    from rexmol.boltzmann.sampling import MDReference

    return MDReference(max_frames=1000)
