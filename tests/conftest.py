"""Test-suite hooks: tests marked `cuda` are skipped, with the reason, where no CUDA device is available."""
import os

import pytest


def pytest_collection_modifyitems(config, items):
    cuda_items = [it for it in items if 'cuda' in it.keywords]
    if not cuda_items or os.environ.get('SSML_TEST_DEVICE', 'cuda') == 'cpu': return
    import torch
    if torch.cuda.is_available(): return
    skip = pytest.mark.skip(reason=f"needs a CUDA device: torch.cuda.is_available() is False here (torch {torch.__version__}); "
                                   "SSML_TEST_DEVICE=cpu runs these tests on the CPU to check the tests themselves")
    for it in cuda_items: it.add_marker(skip)
