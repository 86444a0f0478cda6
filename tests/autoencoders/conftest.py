import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """The test machine has 2 cores shared by several jobs: one intra-op thread avoids
    oversubscription (the results do not depend on it)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
