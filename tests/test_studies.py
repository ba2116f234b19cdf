"""The studies in studies/: each folder is complete, its config.yaml agrees with its records, and its scripts run."""
from pathlib import Path
import csv, json, os, shutil, subprocess, sys

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / 'studies'
sys.path.insert(0, str(STUDIES))
from study_config import load_config, apply_overrides, parse_overrides  # noqa: E402

NAMES = ['generator_quality', 'gpu_check', 'lasium_ablation', 'maml_speed', 'supervised_meta_learners']


def _module(study, name):
    "Import studies/<study>/<name>.py as a module."
    import importlib.util
    spec = importlib.util.spec_from_file_location(f'{study}_{name}', STUDIES / study / f'{name}.py')
    m = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(STUDIES / study))
    try: spec.loader.exec_module(m)
    finally: sys.path.remove(str(STUDIES / study))
    return m


def test_every_study_has_readme_config_and_records():
    found = sorted(p.name for p in STUDIES.iterdir() if p.is_dir() and not p.name.startswith(('_', '.')))
    assert found == NAMES, found
    for s in NAMES:
        d = STUDIES / s
        readme = (d / 'README.md').read_text()
        assert 'config.yaml' in readme and 'records/' in readme, f'{s}/README.md must say where settings and records are'
        assert f'studies/{s}/' in readme, f'{s}/README.md must give the command that reproduces it'
        assert isinstance(yaml.safe_load((d / 'config.yaml').read_text()), dict)
        assert any((d / 'records').iterdir()), f'{s}/records is empty'


def test_overrides_reach_known_settings_only():
    cfg = dict(a=1, sec=dict(b=2))
    test = apply_overrides(cfg, parse_overrides(['a=0.5', 'sec.b=[1, 2]']))
    assert test == dict(a=0.5, sec=dict(b=[1, 2])) and cfg == dict(a=1, sec=dict(b=2))  # a copy
    with pytest.raises(ValueError, match='no setting'): apply_overrides(cfg, {'c': 1})
    with pytest.raises(ValueError, match='not a section'): apply_overrides(cfg, {'a.b': 1})
    with pytest.raises(ValueError, match='KEY=VALUE'): parse_overrides(['a'])
    with pytest.raises(FileNotFoundError, match='config.yaml'): load_config(STUDIES / 'nowhere')


def test_ablation_points_are_the_records():
    cfg = load_config(STUDIES / 'lasium_ablation')
    run = _module('lasium_ablation', 'run')
    recs = {p.stem: json.loads(p.read_text()) for p in (STUDIES / 'lasium_ablation' / 'records').glob('*.json')}
    assert sorted(recs) == sorted(cfg['points'])
    for name, r in recs.items():
        got = {k: v for k, v in r['settings'].items() if k not in ('name', 'figure_only')}
        assert got == run.point_settings(cfg, name), name
    for profile, rec in cfg['recommended'].items():  # what the ablation recommends is what its point measured
        s = recs[rec['point']]['settings']
        assert {k: s[k] for k in rec if k != 'point'} == {k: v for k, v in rec.items() if k != 'point'}, profile
    with pytest.raises(ValueError, match='not a setting|no setting'): run.point_settings(cfg, 'gan_n05', {'sigmaa': 1})
    with pytest.raises(ValueError, match='gan_n99'): run.point_settings(cfg, 'gan_n99')


def test_supervised_runs_are_the_records():
    cfg = load_config(STUDIES / 'supervised_meta_learners')
    run = _module('supervised_meta_learners', 'run')
    recs = {p.stem: json.loads(p.read_text()) for p in (STUDIES / 'supervised_meta_learners' / 'records').glob('*.json')}
    assert sorted(recs) == sorted(cfg['runs'])
    for name, r in recs.items():
        want = run.run_settings(cfg, name)
        got = {k: v for k, v in r['meta']['settings'].items() if k not in ('cmd', 'name', 'n_test_tasks')}
        if 'train_way' not in got: got['train_way'] = 0  # the earliest record predates the setting (its default)
        assert got == want, name
        ev = r['meta']['eval']
        assert (ev['n_tasks'], ev['q_query'], ev['task_seed']) == (cfg['test']['n_tasks'], cfg['test']['q_query'], cfg['test']['seed'])


def test_summarize_remakes_accuracy_vs_minutes(tmp_path):
    shutil.copytree(STUDIES / 'supervised_meta_learners' / 'records', tmp_path / 'records')
    (tmp_path / 'records' / 'accuracy_vs_minutes.csv').unlink()
    r = subprocess.run([sys.executable, STUDIES / 'supervised_meta_learners' / 'summarize.py', '--out', tmp_path / 'records'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / 'records' / 'accuracy_vs_minutes.csv').read_bytes() == \
        (STUDIES / 'supervised_meta_learners' / 'records' / 'accuracy_vs_minutes.csv').read_bytes()


def test_maml_speed_records_match_config():
    cfg = load_config(STUDIES / 'maml_speed')
    b, rec = cfg['bench'], STUDIES / 'maml_speed' / 'records'
    for order, o in cfg['orders'].items():
        runs = [json.loads(line) for line in (rec / f'bench_maml_{order}_runs.jsonl').read_text().splitlines()]
        assert len(runs) == o['runs'], order
        for x in runs:
            assert x['setting'] == dict({k: b[k] for k in ('meta_batch', 'n_way', 'k_shot', 'q_query', 'inner_steps', 'inner_lr')},
                                        order='first' if o['first_order'] else 'second', data=x['setting']['data'], reps=b['reps'])
        assert json.loads((rec / f'bench_maml_{order}.json').read_text()) == runs[-1]
    cmd = _module('maml_speed', 'run').bench_command(b, True)
    assert cmd[-1] == '--first-order' and cmd[cmd.index('--reps') + 1] == str(b['reps']) and '--threads' not in cmd


def test_generator_quality_records_match_config():
    cfg = load_config(STUDIES / 'generator_quality')
    rec = STUDIES / 'generator_quality' / 'records'
    for kind in ('gan', 'vae', 'ssgan', 'features'):
        r = json.loads((rec / f'{kind}.json').read_text())
        assert r['settings'] == cfg['train'][kind] and r['threads'] == cfg['threads'], kind
    assert {k: v for k, v in json.loads((rec / 'ssgan.json').read_text())['labels'].items() if k != 'n_labeled'} == cfg['ssgan_labels']
    fd, ev = json.loads((rec / 'fd.json').read_text()), cfg['evaluate']
    assert (fd['n_images'], fd['seed']) == (ev['n_images'], ev['seed']) and sorted(fd['fd']) == sorted(['real_vs_real', *ev['models']])
    samples = torch.load(rec / 'samples.pt', weights_only=False)
    assert sorted(samples['images']) == sorted(['real', *ev['models']]) and samples['pair'] == ev['pair']
    assert all(len(x) == ev['n_shown'] for x in samples['images'].values())
    tasks = torch.load(rec / 'lasium_tasks.pt', weights_only=False)
    assert len(tasks['panels']) == 3 * len(cfg['lasium_tasks']['models']) and tasks['seed'] == cfg['lasium_tasks']['seed']


def test_transfer_diagnostics():
    from ssml.core import TaskBatch, class_major_labels
    from ssml.maml import ProtoNet
    from ssml.nets import omniglot_conv4
    diag = _module('lasium_ablation', 'diagnostics')
    x = torch.rand(3, 10, 1, 28, 28, generator=torch.Generator().manual_seed(1))  # 3 toy 5-way 1-shot 1-query tasks
    tb = TaskBatch(x[:, :5], class_major_labels(5, 1).repeat(3, 1), x[:, 5:], class_major_labels(5, 1).repeat(3, 1), 5, 'toy')
    torch.manual_seed(0)
    pn = ProtoNet(omniglot_conv4(5))
    d = diag.task_diagnostics(tb, pn)
    assert {'pix_mean', 'pix_ink', 'pix_grey', 'pix_ratio', 'emb_acc', 'emb_ratio'} <= set(d)
    assert 0 <= d['emb_acc'] <= 1 and d['pix_ratio'] > 0
    assert abs(d['pix_mean'] - x.mean().item()) < 1e-6
    assert not any(k.startswith('emb_') for k in diag.task_diagnostics(tb))  # without a ProtoNet: pixel numbers only
    same = TaskBatch(tb.support_x, tb.support_y, tb.support_x.clone(), tb.support_y, 5)  # queries = supports: trivially solved
    assert diag.embedding_diagnostics(pn, same)['acc'] == 1.0
    s = diag.pixel_stats(torch.tensor([0.0, 0.05, 0.5, 1.0]))
    assert abs(s['mean'] - 0.3875) < 1e-6 and (s['ink'], s['grey']) == (0.25, 0.25)  # ink: > 0.5; grey: in (0.1, 0.9)


def test_ablation_figure_only_remakes_table_and_figure(tmp_path):
    shutil.copytree(STUDIES / 'lasium_ablation' / 'records', tmp_path / 'records')
    (tmp_path / 'records' / 'ablation.csv').unlink()
    r = subprocess.run([sys.executable, STUDIES / 'lasium_ablation' / 'run.py', '--figure-only', '--out', tmp_path / 'records',
                        '--fig-dir', tmp_path / 'fig'], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / 'records' / 'ablation.csv').read_bytes() == (STUDIES / 'lasium_ablation' / 'records' / 'ablation.csv').read_bytes()
    side = json.loads((tmp_path / 'fig' / 'ablation_lasium.json').read_text())
    assert side['records'][-1] == 'studies/supervised_meta_learners/records/pn_rot_q15.json'
    assert (tmp_path / 'fig' / 'ablation_lasium.png').is_file()


@pytest.mark.parametrize('script', ['generator_quality/train.py', 'generator_quality/evaluate.py', 'generator_quality/lasium_tasks.py',
                                    'gpu_check/estimate.py', 'gpu_check/summarize.py',
                                    'lasium_ablation/run.py', 'maml_speed/run.py', 'supervised_meta_learners/run.py',
                                    'supervised_meta_learners/summarize.py'])
def test_script_help(script):
    "Every study script imports what it needs and takes its paths from the command line."
    r = subprocess.run([sys.executable, STUDIES / script, '--help'], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert '--out' in r.stdout


def test_bad_paths_are_refused():
    r = subprocess.run([sys.executable, STUDIES / 'maml_speed' / 'run.py', '--data', '/nonexistent/data'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and '/nonexistent/data' in r.stderr
    r = subprocess.run([sys.executable, STUDIES / 'lasium_ablation' / 'run.py', 'gan_n10_aug', '--set', 'minutes=8'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and '--name' in r.stderr


def test_gpu_check_estimates_are_the_records():
    "The committed paper estimates are what estimate.py gives on the committed CPU record with config.yaml's factors and today's profiles."
    cfg = load_config(STUDIES / 'gpu_check')
    est = _module('gpu_check', 'estimate')
    rec_dir = STUDIES / 'gpu_check' / 'records' / 'cpu-1thread'
    rec = json.loads((rec_dir / 'bench_throughput.json').read_text())
    assert (rec['device'], rec['threads'], rec['data']) == ('cpu', 1, 'omniglot') and est.uses_cpu_time(rec)
    from ssml.sweep import load_sweep, profile_path
    for prof in ('paper', 'paper-full'):
        saved = json.loads((rec_dir / f'{prof}_estimate.json').read_text())
        now = est.estimate(rec, load_sweep(profile_path(prof))['runs'], cfg['estimate']['factors'], cfg['estimate']['overhead_s_per_run'])
        assert {k: v for k, v in saved.items() if k not in ('profile', 'record')} == json.loads(json.dumps(now)), prof
    paper = json.loads((rec_dir / 'paper_estimate.json').read_text())
    assert paper['hours'] <= 1.1 and paper['factors_are'].startswith('ESTIMATE'), paper['hours']  # sized for about one GPU-hour
    text = (ROOT / 'configs' / 'paper.yaml').read_text()
    assert f"{paper['hours']} h" in text and 'ESTIMATE' in text, 'configs/paper.yaml must quote its estimate, marked ESTIMATE'


def test_gpu_check_summary(tmp_path):
    "summarize.py on a check's files: the estimate from a throughput record, tests counted, not passed without the smoke sweep."
    shutil.copy(STUDIES / 'gpu_check' / 'records' / 'cpu-1thread' / 'bench_throughput.json', tmp_path / 'bench_throughput.json')
    (tmp_path / 'tests.xml').write_text('<testsuites><testsuite name="pytest" tests="2" failures="1" errors="0" skipped="0">'
                                        '<testcase classname="t" name="test_a"/><testcase classname="t" name="test_b">'
                                        '<failure message="AssertionError: differs">x</failure></testcase></testsuite></testsuites>')
    (tmp_path / 'stages.tsv').write_text('stage\trc\tseconds\tlimit_s\ntests\t1\t30\t120\nbench_maml\t124\t75\t75\n')
    r = subprocess.run([sys.executable, STUDIES / 'gpu_check' / 'summarize.py', '--out', tmp_path, '--stages', tmp_path / 'stages.tsv',
                        '--smoke', tmp_path / 'none', '--device', 'cpu'], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr[-2000:]
    s = json.loads((tmp_path / 'gpu_check.json').read_text())
    assert not s['passed'] and s['tests']['failures'] == 1 and s['tests']['failed'] == ['test_b: AssertionError: differs']
    assert s['stages']['bench_maml']['rc'] == 124 and s['stages']['paper_smoke']['rc'] == 'not run'
    assert s['estimates']['paper']['hours'] > 0 and 'FAILED test_b' in r.stdout and 'estimate paper:' in r.stdout


def test_gpu_check_refuses_bad_arguments(tmp_path):
    script = ROOT / 'benchmarks' / 'gpu_check.sh'
    for args, env, says in (([], {}, 'usage'), ([str(tmp_path)], {}, 'omniglot-py'), ([str(tmp_path)], {'GPU_CHECK_DEVICE': 'tpu'}, 'GPU_CHECK_DEVICE')):
        r = subprocess.run(['bash', script, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **env})
        assert r.returncode == 2 and says in r.stderr, (args, r.stderr)
    assert not any(tmp_path.iterdir())  # nothing written


def test_conv_kernel_variants_agree_and_readme_shows_the_record():
    "Every alternative kernel of the MAML speed study computes the grouped kernel's result (the script checks it), and the README's table is its record."
    r = subprocess.run([sys.executable, STUDIES / 'maml_speed' / 'conv_kernels.py', '--threads', '1', '--batch', '2', '--reps', '1', '--rounds', '1'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads(r.stdout.strip().splitlines()[-1])['us_per_call']
    assert {row['layer'] for row in rows} == {'1x28x28', '64x14x14', '64x7x7', '64x4x4'}
    assert all({'dgrad_convT', 'dgrad_bmm_fold', 'dgrad_phases', 'dgrad_per_task'} <= set(row) for row in rows if row['layer'] != '1x28x28')
    rec = json.loads((STUDIES / 'maml_speed' / 'records' / 'conv_kernels.json').read_text())
    readme = (STUDIES / 'maml_speed' / 'README.md').read_text()
    for row in rec['us_per_call']:
        if (row['threads'], row['n']) != (1, 5): continue
        cells = [f"{round(row[k])}" for k in ('fwd', 'dgrad', 'wgrad', 'dgrad_convT', 'dgrad_bmm_fold', 'dgrad_phases') if k in row]
        line = next(l for l in readme.splitlines() if l.startswith(f"| {row['layer'].replace('x', '×', 1).replace('x', '×')} |"))
        assert all(f' {c} ' in line for c in cells), (line, cells)
    ratios = {k: json.loads((STUDIES / 'maml_speed' / 'records' / f'bench_maml_glibc_{k}.json').read_text())['by_threads'] for k in ('default', 'keep_freed')}
    quoted = f"ratio {ratios['keep_freed']['2']['ratio']:.2f} against {ratios['default']['2']['ratio']:.2f} at 2 threads, " \
             f"{ratios['keep_freed']['1']['ratio']:.2f} against {ratios['default']['1']['ratio']:.2f} at 1 thread"
    assert quoted in ' '.join(readme.split()), quoted
