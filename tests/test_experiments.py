"""The papermill experiment notebooks (nbs/experiments/), `ssml reproduce`, and reproducibility end to end.

- the `parameters` cell of every experiment notebook mirrors `ssml.config.RunArgs` and survives `nbdev_clean`;
- papermill refuses a mistyped parameter;
- the smoke profile on the full pipeline (real Omniglot, real generator and meta-learner) through the notebooks,
  and a restart recomputes nothing;
- the smoke sweep run cold (generator trained in-process), warm (generator cached), with 2 local worker processes
  and on a Dask scheduler with 2 workers on the loopback interface gives identical numbers, run for run.
The full-pipeline tests need Omniglot (SSML_DATA); without it they are skipped with the reason.
"""
import importlib.util, json, os, shutil, socket, subprocess, sys, time
from pathlib import Path

import pytest

from ssml.cli import main
from ssml.config import RunArgs
from ssml.records import ResultsStore
from ssml.sweep import EXPERIMENT_NOTEBOOKS, check_parameters_cell, experiments_dir, load_sweep, profile_path, run_sweep

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


@pytest.mark.parametrize('profile', ['smoke', 'quick', 'paper', 'paper-smoke', 'paper-full'])
def test_profiles_expand(profile):
    sw = load_sweep(profile_path(profile))
    assert sw['runs'] and {r.profile for r in sw['runs']} == {profile}
    assert len({r.config_hash() for r in sw['runs']}) == len(sw['runs'])


def test_study_records_keep_their_config_hash():
    "A field added to `RunArgs` leaves the study's committed configs as they were: each record's params hash to its hash, so the sweep skips it."
    recs = [json.loads(p.read_text()) for p in sorted((ROOT / 'results' / 'study' / 'records').glob('*.json'))]
    assert len(recs) >= 150
    changed = [r['run_id'] for r in recs if RunArgs.from_dict(r['params']).config_hash() != r['config_hash']]
    assert not changed, f"{len(changed)} study records would be rerun, e.g. {changed[:3]}"
    planned = {r.run_id() for r in load_sweep(profile_path('study'))['runs']}
    assert {r['run_id'] for r in recs} <= planned  # every committed run is still one the profile asks for


BUDGETS = ('meta_steps', 'gen_steps', 'val_every', 'n_val_tasks', 'n_test_tasks')


def _family(r):
    return (r.method, r.meta_learner, r.n_way, r.k_shot, tuple(r.eval_settings))


def test_paper_smoke_is_paper_at_tiny_budgets():
    "Every paper-smoke run is a paper run with smaller budgets only, and every method family of paper is in paper-smoke."
    paper, smoke = (load_sweep(profile_path(p))['runs'] for p in ('paper', 'paper-smoke'))
    strip = lambda r: r.replace(**{k: getattr(RunArgs(), k) for k in BUDGETS}, profile='', out_dir='', fig_dir='').config_hash()
    paper_cfgs = {strip(r) for r in paper}
    assert all(strip(r) in paper_cfgs for r in smoke), [r.run_id() for r in smoke if strip(r) not in paper_cfgs]
    assert {_family(r) for r in smoke} == {_family(r) for r in paper}
    for r in smoke:
        p = next(q for q in paper if strip(q) == strip(r))
        assert all(getattr(r, k) <= getattr(p, k) for k in BUDGETS), r.run_id()
    assert {r.device for r in paper + smoke} == {'cuda'}


def test_paper_records_draw_every_figure(tmp_path):
    "Records of every paper run (made up here: ok, random accuracies) draw each figure of the study in the four settings."
    import random
    from ssml.core import write_json
    from ssml.figures import make_figures
    from ssml.records import new_record, record_path
    rng = random.Random(0)
    runs = load_sweep(profile_path('paper'))['runs']
    for a in runs:
        a = a.replace(out_dir=str(tmp_path / 'results'))
        rec = new_record(a)
        evals = [dict(n_way=n, k_shot=k, accuracy=rng.uniform(0.5, 0.95), ci95=0.01, n_tasks=a.n_test_tasks, task_list_digest='x')
                 for n, k in a.eval_pairs()]
        rec.update(status='ok', duration_s=1.0, device='cuda:0 (made up)', metrics=dict(evals=evals, train={'step': a.meta_steps}))
        write_json(rec, record_path(a))
    made = make_figures(tmp_path / 'results', tmp_path / 'figures')
    settings = ['5w1s', '5w5s', '20w1s', '20w5s']
    want = [f'{f}-omniglot-{s}-{ml}' for s in settings for ml in ('protonet', 'maml') for f in ('acc_vs_labeled', 'ssml_comparison')]
    want += [f'mix_ratio-omniglot-{s}-protonet' for s in settings] + ['published_comparison']
    assert not set(want) - set(made), sorted(set(want) - set(made))


PIPELINE = ['ssml.data', 'ssml.labels', 'ssml.episodes', 'ssml.generative', 'ssml.gentrain', 'ssml.lasium', 'ssml.maml', 'ssml.metatrain']


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
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and summary['failed'] == 0, summary['failed_runs']
    n = len(load_sweep(profile_path('smoke'))['runs'])
    assert (summary['ok'], summary['skipped']) == (n, 0)
    assert 'sweep: [1/' in out and 'min left' in out, out[-2000:]  # it says what it does
    recs = ResultsStore(tmp_path / 'results').records('ok')
    assert len(recs) == n
    for r in recs:
        assert (tmp_path / 'results' / 'notebooks' / f"{r['run_id']}.ipynb").is_file()
        assert r['metrics']['evals'][0]['task_list_digest'] and len(r['code_digest']) == 16
        assert str(tmp_path) not in json.dumps(r)  # no path of this machine in a record
        if r['params']['method'] != 'scratch': assert (tmp_path / 'results' / r['curve']).is_file()
    assert (tmp_path / 'figures' / 'acc_vs_labeled-omniglot-5w1s-maml.png').is_file()
    assert main(argv) == 0  # a restart recomputes nothing
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])['skipped'] == n


def test_papermill_refuses_unknown_parameter(tmp_path):
    "`papermill ... -p meta_minuts 0.5` (a typo) fails with the name, instead of running the defaults."
    import papermill as pm
    with pytest.raises(pm.PapermillExecutionError, match="unknown parameter.*meta_minuts"):
        pm.execute_notebook(str(experiments_dir() / 'meta_train.ipynb'), str(tmp_path / 'out.ipynb'), kernel_name='python3',
                            parameters={'meta_minuts': 0.5, 'out_dir': str(tmp_path / 'r'), 'work_dir': str(tmp_path / 'w')},
                            progress_bar=False, cwd=str(experiments_dir()))
    assert not (tmp_path / 'r').exists()  # nothing ran


def _evals(out_dir):
    return {r['run_id']: r['metrics']['evals'] for r in ResultsStore(out_dir).records('ok')}


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


@pytest.mark.skipif(_full_pipeline_missing() is not None, reason=str(_full_pipeline_missing()))
def test_smoke_sweep_same_numbers_cold_warm_workers_scheduler(tmp_path):
    """The smoke sweep gives identical accuracies run for run: cold (generator trained in-process), warm (generator
    cached), with 2 local worker processes, and through a Dask scheduler with 2 workers on the loopback interface."""
    runs = load_sweep(profile_path('smoke'), {'device': 'cpu', 'progress': False})['runs']
    assert any(r.gen_kind for r in runs)
    cold = run_sweep([r.replace(work_dir=str(tmp_path / 'w1')) for r in runs], out_dir=tmp_path / 'cold', verbose=False)
    warm = run_sweep([r.replace(work_dir=str(tmp_path / 'w1')) for r in runs], out_dir=tmp_path / 'warm', verbose=False)
    par = run_sweep([r.replace(work_dir=str(tmp_path / 'w2')) for r in runs], out_dir=tmp_path / 'par', workers=2, verbose=False)
    assert all(s['failed'] == 0 and s['ok'] == len(runs) for s in (cold, warm, par)), (cold, warm, par)
    ref = _evals(tmp_path / 'cold')
    assert len(ref) == len(runs)
    assert _evals(tmp_path / 'warm') == ref
    assert _evals(tmp_path / 'par') == ref
    port, procs = _free_port(), []
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'DASK_DISTRIBUTED__WORKER__DAEMON': 'False'}
    bindir = Path(sys.executable).parent
    try:
        procs.append(subprocess.Popen([str(bindir / 'dask'), 'scheduler', '--host', '127.0.0.1', '--port', str(port),
                                       '--no-dashboard'], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for _ in range(2):
            procs.append(subprocess.Popen([str(bindir / 'dask'), 'worker', f'tcp://127.0.0.1:{port}', '--nthreads', '1',
                                           '--no-dashboard', '--host', '127.0.0.1'], env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        from dask.distributed import Client
        with Client(f'tcp://127.0.0.1:{port}', timeout=60) as c: c.wait_for_workers(2, timeout=120)
        dsk = run_sweep([r.replace(work_dir=str(tmp_path / 'w3')) for r in runs], out_dir=tmp_path / 'dask', executor='dask',
                        scheduler=f'tcp://127.0.0.1:{port}', verbose=False)
    finally:
        for p in procs[::-1]: p.terminate()
        for p in procs: p.wait(timeout=60)
    assert dsk['failed'] == 0 and dsk['ok'] == len(runs), dsk
    assert _evals(tmp_path / 'dask') == ref
