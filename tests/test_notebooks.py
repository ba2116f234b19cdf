"""Every library notebook in nbs/ runs clean, `slow`-flagged cells included (nbdev's own test runner)."""
from pathlib import Path
import os
import pytest
from nbdev.test import test_nb as run_nb

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / 'nbs').glob('[0-9]*.ipynb'))


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook(nb):
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    ok, secs = run_nb(nb, force_flags=['slow'], do_print=False, showerr=True, basepath=ROOT)
    assert ok, f'{nb.name} failed (see the traceback above)'
