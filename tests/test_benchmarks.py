"""Smoke runs of the benchmark scripts at tiny budgets: they run, and their last line is the JSON they promise."""
from pathlib import Path
import json, os, subprocess, sys

ROOT = Path(__file__).resolve().parents[1]


def test_bench_maml_smoke():
    cmd = [sys.executable, ROOT / 'benchmarks' / 'bench_maml.py', '--data', 'toy', '--reps', '2', '--warmup', '0',
           '--threads', '1', '2', '--inner-steps', '2']
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS='1'), timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    for k in ('ours_s', 'reference_s', 'ratio', 'autograd_s'): assert out[k] > 0, (k, out[k])
    assert abs(out['ratio'] - out['ours_s'] / out['reference_s']) < 1e-3
    assert out['max_rel_grad_err_float64'] < 1e-10 and out['autograd_max_rel_grad_err_float64'] < 1e-10  # float64: same math
    assert sorted(out['by_threads']) == ['1', '2'] and out['threads'] == 1
    for th, r in out['by_threads'].items():  # float32 at every thread count timed, against the reference and float64
        why = (th, r['max_rel_grad_err'], r['vs_float64'], 'ReLU sign differences', r['relu_flips'], r['relu_mismatch'])
        # within 1e-4 of the loop, unless a ReLU input lies on the other side of zero in the loop (a kink of the exact
        # function that float32 rounding crosses: no float32 path can promise agreement there, see 07_maml)
        assert r['max_rel_grad_err'] < 1e-4 or r['relu_mismatch']['ours'] > 0, why
        assert r['autograd_max_rel_grad_err'] < 1e-4 or r['relu_mismatch']['autograd'] > 0, why
        assert sorted(r['vs_float64']) == sorted(r['relu_flips']) == ['autograd', 'ours', 'reference'], why
        assert all(0 < v < 1e-2 for v in r['vs_float64'].values()), why  # float32 really differs from float64, and not wildly
        assert all(isinstance(v, int) and v >= 0 for v in [*r['relu_flips'].values(), *r['relu_mismatch'].values()]), why
    assert out['max_rel_grad_err'] == out['by_threads']['1']['max_rel_grad_err']  # the first thread count at top level
    assert out['setting']['inner_steps'] == 2 and out['setting']['data'] == 'toy'
    assert sorted(out['peak_mb']) == ['autograd', 'ours', 'reference']
    if os.access('/proc/self/clear_refs', os.W_OK):  # Linux, where the peak RSS can be reset: a real measurement
        assert all(v > 0 for v in out['peak_mb'].values()), out['peak_mb']


def test_bench_throughput_smoke(tmp_path):
    "bench_throughput.py on the CPU at a tiny budget (the Omniglot-format fixture): its JSON has every measurement."
    cmd = [sys.executable, ROOT / 'benchmarks' / 'bench_throughput.py', '--device', 'cpu', '--data', 'fixture', '--fixture-dir', tmp_path / 'data',
           '--warmup', '1', '--gen-steps', '2', '--meta-steps', '2', '--maml-steps', '1', '--eval-tasks', '2', '--test-inner-steps', '1',
           '--workers', '1', '2', '--worker-steps', '2', '--out', tmp_path / 'out.json']
    env = dict(os.environ, OMP_NUM_THREADS='1', SSML_CACHE=str(tmp_path / 'cache'))
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out == json.loads((tmp_path / 'out.json').read_text())
    assert (out['device'], out['data'], out['threads']) == ('cpu', 'fixture', 1)
    for k in ('gan', 'protonet', 'protonet_labeled', 'maml', 'maml_20way'):
        assert out[k]['steps_per_s'] > 0 and out[k]['cpu_s_per_step'] > 0, (k, out[k])
    assert (out['maml']['n_way'], out['maml_20way']['n_way'], out['protonet']['source'], out['protonet_labeled']['source']) == (5, 20, 'lasium', 'labeled')
    for times in ('s_per_task', 'cpu_s_per_task'):
        assert {k: sorted(v) for k, v in out['eval'][times].items()} == {k: sorted(['5w1s', '5w5s', '20w1s', '20w5s']) for k in ('protonet', 'maml')}
        assert all(x > 0 for v in out['eval'][times].values() for x in v.values())
    assert [c['workers'] for c in out['concurrency']] == [1, 2]
    for c in out['concurrency']:
        assert c['aggregate_steps_per_s'] > 0 and c['rss_peak_mb_max'] > 0 and c['steps_per_worker'] == 2, c
    assert out['concurrency'][0]['speedup_vs_1'] == 1.0


def test_bench_throughput_refuses_bad_input(tmp_path):
    for args, says in ((['--workers', '0'], '--workers'), (['--root', str(tmp_path / 'nowhere')], 'nowhere'), (['--meta-steps', '0'], '--meta-steps')):
        r = subprocess.run([sys.executable, ROOT / 'benchmarks' / 'bench_throughput.py', *args], capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert r.returncode == 2 and says in r.stderr, (args, r.stderr[-1000:])
