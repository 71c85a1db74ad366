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
