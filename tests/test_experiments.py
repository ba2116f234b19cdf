"""The papermill experiment notebooks (nbs/experiments/) and `ssml reproduce`, end to end.

- the `parameters` cell of every experiment notebook mirrors `ssml.runs.RunArgs` and survives `nbdev_clean`;
- `ssml reproduce --profile smoke` with the synthetic pipeline: runs the sweep through the notebooks, the figures
  notebook, and a restart recomputes nothing (seconds; always runs);
- the smoke profile on the full pipeline (real Omniglot, real generator and meta-learner): runs when the pipeline
  modules and the data are available, else it is skipped with the reason.
"""
import importlib.util, json, os, shutil
from pathlib import Path

import pytest

from ssml.cli import main
from ssml.runs import ResultsStore, RunArgs
from ssml.sweep import EXPERIMENT_NOTEBOOKS, check_parameters_cell, experiments_dir, load_sweep, profile_path

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize('name', EXPERIMENT_NOTEBOOKS)
def test_parameters_cell_mirrors_runargs(name):
    found = check_parameters_cell(experiments_dir() / name)
    assert list(found) == list(RunArgs().to_dict())


@pytest.mark.parametrize('name', EXPERIMENT_NOTEBOOKS)
def test_parameters_tag_survives_nbdev_clean(name, tmp_path):
    from nbdev.clean import nbdev_clean
    nb = tmp_path / name
    shutil.copy(experiments_dir() / name, nb)
    cwd = os.getcwd()
    try:
        os.chdir(ROOT)  # nbdev_clean reads settings.ini (allowed_cell_metadata_keys = tags)
        nbdev_clean(fname=str(nb))
    finally:
        os.chdir(cwd)
    check_parameters_cell(nb)
    cells = json.loads(nb.read_text())['cells']
    assert sum('parameters' in c.get('metadata', {}).get('tags', []) for c in cells) == 1


@pytest.mark.parametrize('profile', ['smoke', 'quick', 'paper'])
def test_profiles_expand(profile):
    sw = load_sweep(profile_path(profile))
    assert sw['runs'] and {r.profile for r in sw['runs']} == {profile}
    assert len({r.config_hash() for r in sw['runs']}) == len(sw['runs'])


def test_reproduce_smoke_synthetic(tmp_path, capsys):
    "The smoke profile through the notebooks with the synthetic pipeline: records, executed notebooks, figures."
    argv = ['reproduce', '--profile', 'smoke', '--out-dir', str(tmp_path / 'results'), '--fig-dir', str(tmp_path / 'figures'),
            '--set', 'pipeline=synthetic', '--set', f"work_dir={tmp_path / 'runs'}"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    n = len(load_sweep(profile_path('smoke'))['runs'])
    assert (summary['ok'], summary['failed'], summary['skipped']) == (n, 0, 0)
    store = ResultsStore(tmp_path / 'results')
    recs = store.records('ok')
    assert len(recs) == n and {r['params']['pipeline'] for r in recs} == {'synthetic'}
    for r in recs: assert (tmp_path / 'results' / 'notebooks' / f"{r['run_id']}.ipynb").is_file()
    assert len(list((tmp_path / 'results' / 'notebooks').glob('generator-*.ipynb'))) == 1  # one GAN, shared
    assert Path(summary['figures_notebook']).is_file()
    pngs = sorted(p.name for p in (tmp_path / 'figures').glob('*.png'))
    assert 'acc_vs_labeled-omniglot-5w1s-maml-synthetic.png' in pngs and 'published_comparison.png' in pngs, pngs
    side = json.loads((tmp_path / 'figures' / 'acc_vs_labeled-omniglot-5w1s-maml-synthetic.json').read_text())
    assert sorted(side['run_ids']) == sorted(r['run_id'] for r in recs)
    assert main(argv) == 0  # a restart recomputes nothing
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])['skipped'] == n


PIPELINE = ['ssml.data', 'ssml.labels', 'ssml.episodes', 'ssml.generative', 'ssml.lasium', 'ssml.maml', 'ssml.metatrain']


def _full_pipeline_missing():
    missing = [m for m in PIPELINE if importlib.util.find_spec(m) is None]
    if missing: return f"pipeline modules not available yet: {missing}"
    from ssml.data import has_omniglot
    if not has_omniglot(): return "Omniglot not found (set SSML_DATA to the folder holding omniglot-py/)"
    return None


@pytest.mark.skipif(_full_pipeline_missing() is not None, reason=str(_full_pipeline_missing()))
def test_reproduce_smoke_full(tmp_path, capsys):
    "The smoke profile on the full pipeline: every run ok, figures drawn."
    argv = ['reproduce', '--profile', 'smoke', '--out-dir', str(tmp_path / 'results'), '--fig-dir', str(tmp_path / 'figures'),
            '--set', f"work_dir={tmp_path / 'runs'}", '--set', 'device=cpu']
    code = main(argv)
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and summary['failed'] == 0, summary['failed_runs']
    assert (tmp_path / 'figures' / 'acc_vs_labeled-omniglot-5w1s-maml.png').is_file()
