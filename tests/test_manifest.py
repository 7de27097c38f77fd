"""What a run folder's manifest says about the arithmetic its images came from."""

import pytest
import torch

from piebench.manifest import device_numerics


@pytest.fixture
def restore_cuda_flags():
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = (matmul.allow_tf32, cudnn.allow_tf32)
    yield
    matmul.allow_tf32, cudnn.allow_tf32 = saved


def test_cuda_numerics_name_the_tf32_settings_in_force(restore_cuda_flags):
    """torch's defaults put float32 convolutions (not products) in TF32 on a GPU: a float32 run
    there is not the CPU's float32, and the manifest says which it was (no GPU needed to read)."""
    cuda = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = False, True
    assert device_numerics(cuda).startswith("tf32 matmul=off conv=on; reduced-precision")
    torch.backends.cudnn.allow_tf32 = False
    assert device_numerics(cuda).startswith("tf32 matmul=off conv=off;")


def test_cpu_numerics_name_the_thread_count():
    assert device_numerics(torch.device("cpu")) == f"cpu threads={torch.get_num_threads()}"
