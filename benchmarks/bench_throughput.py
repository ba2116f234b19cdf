"""Steps per second of the study's trainers on one device, and how many runs that device carries at once.

Measured at the study's settings (Omniglot 28x28, 5-way 1-shot, 15 queries per class, meta-batch 4; MAML second
order with 5 inner steps; GAN batches of 128 with a 128-d latent), through the same code the runs use
(`ssml.gentrain.train_generative`, `ssml.pipeline.make_learner` / `task_source`, `ssml.metatrain.meta_train`,
`ssml.metatrain.evaluate`):

- `gan`: generator training steps per second (`train_generative('gan', ...)`, timed per step by its callback,
  after `--warmup` steps);
- `protonet`, `maml`, `maml_20way`: meta-training steps per second on LASIUM-N tasks with augmentation (what LASIUM
  and SSML runs meta-train on; the GAN is freshly initialised, which costs the same as a trained one), 5-way (MAML
  also 20-way: its head fixes N), and `protonet_labeled` on labeled episodes (supervised-only and the oracle), each
  after `--warmup` steps;
- `eval`: seconds per evaluation task of each learner in the four evaluation settings (5/20-way, 1/5-shot, 15
  queries; MAML adapting for `--test-inner-steps` steps, with a 5- or 20-way head), over `--eval-tasks` tasks;
- `concurrency`: N = `--workers` concurrent worker processes (plain processes, each 1 CPU thread and its own copy
  of the data) each doing `--worker-steps` ProtoNet meta-steps on LASIUM tasks after a common start: the aggregate
  steps per second over all of them (total steps / the span from the first start to the last end), the speed-up
  over N = 1, and per process the peak resident memory and, on CUDA, the allocator's peak and the device memory in
  use (all processes' CUDA contexts included) divided by N.

Times are wall-clock (`s_per_step`, `s_per_task`; on CUDA synchronised) and, beside them, the process CPU time
(`cpu_s_per_step`, `cpu_s_per_task`): with one thread on a CPU, what an idle core would take, whatever else loads
the machine (on a GPU it counts only the host's share).

Tasks are real Omniglot (the LASIUM split) when the data root has it (`--data auto|omniglot`, `--root` or
$SSML_DATA), else the Omniglot-format fixture (`ssml.data.make_omniglot_fixture`, same shapes). The LAST line
printed is one JSON object; `--out FILE` also writes it there, after each measurement (a run cut short keeps what
it measured; `elapsed_s` is written last).

  python benchmarks/bench_throughput.py --device cuda                      # the GPU check's measurement
  python benchmarks/bench_throughput.py --device cpu --threads 1 --workers 1 2
"""
import argparse, json, os, platform, subprocess, sys, tempfile, time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))

from ssml.config import RunArgs  # noqa: E402

EVAL_SETTINGS = ('5w1s', '5w5s', '20w1s', '20w5s')


def run_args(a, **kw) -> RunArgs:
    "The study's settings as a `RunArgs` (the fields the pipeline's builders read)."
    return RunArgs.from_dict({**dict(dataset='omniglot', image_size=28, n_way=5, k_shot=1, q_query=15, meta_batch=4, inner_steps=5,
                                     test_inner_steps=a.test_inner_steps, latent_dim=128, lasium_sigma=1.0, device=a.device,
                                     progress=False, data_root=a.root or ''), **kw})


def load_data(a):
    "(train, test) ImageSets: Omniglot when available (--data auto/omniglot), else the fixture; and what was used."
    from ssml.data import has_omniglot, load_omniglot, make_omniglot_fixture
    if a.data in ('auto', 'omniglot'):
        if has_omniglot(a.root):
            ds = load_omniglot(a.root, image_size=28)
            return ds.split('train'), ds.split('test'), 'omniglot'
        if a.data == 'omniglot':
            raise FileNotFoundError(f"--data omniglot: no Omniglot under {a.root or '$SSML_DATA'} (expected omniglot-py/ with the two zips)")
    if a.fixture_dir is None: a.fixture_dir, a.own_fixture = tempfile.mkdtemp(prefix='ssml-fixture-'), True  # the workers reuse it
    root = Path(a.fixture_dir)
    if not (root/'omniglot-py').is_dir(): make_omniglot_fixture(root, image_size=8)
    ds = load_omniglot(root, image_size=28)
    return ds.split('train'), ds.split('test'), 'fixture'


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize(device)


def random_gan(device):
    "A freshly initialised GAN at the study's settings (sampling it costs what sampling a trained one does)."
    from ssml.core import seeded
    from ssml.generative import make_model
    with seeded(0): return make_model('gan', latent_dim=128, image_size=28).to(device).eval()


def meta_setup(a, train, device, learner='protonet', source='lasium', n_way=5):
    "(learner, task source) exactly as the pipeline builds them for a run of that kind."
    from ssml.pipeline import make_learner, task_source, label_mask_for
    method = 'lasium' if source == 'lasium' else 'oracle'
    args = run_args(a, method=method, meta_learner=learner, n_way=n_way)
    model = random_gan(device) if source == 'lasium' else None
    mask = label_mask_for(args, train)
    return make_learner(args, tuple(train.images.shape[1:]), device), task_source(args, train, mask, model, device)


def meta_steps_per_s(a, train, device, learner, source, steps, n_way=5):
    "Meta-training steps per second after `--warmup` steps (meta_train's own per-step times; loss.item() syncs every step)."
    from ssml.metatrain import meta_train
    lrn, src = meta_setup(a, train, device, learner, source, n_way)
    c0 = time.process_time()
    res = meta_train(lrn, src, steps=a.warmup + steps, meta_batch=4, device=device, log_every=1, progress=False, seed=0)
    cpu = (time.process_time() - c0) / (a.warmup + steps)
    h = {r['step']: r['elapsed_s'] for r in res['history']}
    dt = h[a.warmup + steps] - (h[a.warmup] if a.warmup else 0.0)
    return dict(steps_per_s=round(steps / dt, 3), s_per_step=round(dt / steps, 5), cpu_s_per_step=round(cpu, 5), steps=steps,
                warmup=a.warmup, source=source, n_way=n_way)


def gan_steps_per_s(a, train, device):
    "GAN training steps per second (batches of 128), timed by the per-step callback after `--warmup` steps."
    from ssml.gentrain import train_generative
    stamps = []
    def cb(step, model, losses): sync(device); stamps.append((time.perf_counter(), time.process_time()))
    n = a.warmup + a.gen_steps
    with tempfile.TemporaryDirectory() as d:
        t0 = (time.perf_counter(), time.process_time())
        train_generative('gan', train, run_dir=d, steps=n, batch_size=128, latent_dim=128, seed=0, device=str(device),
                         progress=False, callback=cb, ckpt_every=10**9)
    start = stamps[a.warmup - 1] if a.warmup else t0
    dt, cpu = stamps[n - 1][0] - start[0], stamps[n - 1][1] - start[1]
    return dict(steps_per_s=round(a.gen_steps / dt, 3), s_per_step=round(dt / a.gen_steps, 5), cpu_s_per_step=round(cpu / a.gen_steps, 5),
                steps=a.gen_steps, warmup=a.warmup, batch=128, images_per_s=round(128 * a.gen_steps / dt, 1))


def eval_seconds(a, train, test, device):
    "Seconds per evaluation task, per learner and evaluation setting."
    from ssml.episodes import TaskList
    from ssml.metatrain import evaluate
    out, cpu = {}, {}
    for learner in ('protonet', 'maml'):
        out[learner], cpu[learner] = {}, {}
        for s in EVAL_SETTINGS:
            n, k = (int(x) for x in s[:-1].split('w'))
            lrn, _ = meta_setup(a, train, device, learner, 'labeled', n_way=n if learner == 'maml' else 5)
            tl = TaskList.draw(test, n, k, 15, n_tasks=a.eval_tasks, seed=0)
            evaluate(lrn, [next(iter(tl.batches(test, 1)))], None)  # warm-up: one task
            sync(device); t, c = time.perf_counter(), time.process_time()
            r = evaluate(lrn, tl, test, batch_size=50)
            sync(device)
            out[learner][s] = round((time.perf_counter() - t) / r['n_tasks'], 5)
            cpu[learner][s] = round((time.process_time() - c) / r['n_tasks'], 5)
    return dict(s_per_task=out, cpu_s_per_task=cpu, n_tasks=a.eval_tasks, test_inner_steps=a.test_inner_steps, batch_size=50)


# --- concurrent workers

def _status_kb(field):
    try:
        for line in open('/proc/self/status'):
            if line.startswith(field + ':'): return int(line.split()[1])
    except OSError: return None


def worker(a):
    "One concurrent process: set up, warm up, say ready, wait for the common start, time `--worker-steps` ProtoNet steps."
    from ssml.metatrain import meta_train
    torch.set_num_threads(1)
    device = torch.device(a.device)
    train, _, _ = load_data(a)
    lrn, src = meta_setup(a, train, device, 'protonet', 'lasium')
    sync_dir = Path(a.sync_dir)
    if a.warmup: meta_train(lrn, src, steps=a.warmup, device=device, progress=False, seed=1)
    sync(device)
    (sync_dir/f'ready-{a.worker_id}').write_text('')
    t_wait = time.time()
    while not (sync_dir/'go').exists():
        if time.time() - t_wait > a.worker_timeout: raise TimeoutError(f"worker {a.worker_id}: no start signal in {a.worker_timeout} s")
        time.sleep(0.02)
    start = time.time()
    meta_train(lrn, src, steps=a.worker_steps, device=device, progress=False, seed=2)
    sync(device)
    end = time.time()
    out = dict(worker=a.worker_id, start=start, end=end, steps=a.worker_steps, rss_peak_mb=round((_status_kb('VmHWM') or 0) / 1024, 1))
    if device.type == 'cuda':
        free, total = torch.cuda.mem_get_info(device)
        out.update(cuda_peak_allocated_mb=round(torch.cuda.max_memory_allocated(device) / 2**20, 1),
                   cuda_reserved_mb=round(torch.cuda.max_memory_reserved(device) / 2**20, 1),
                   device_used_mb=round((total - free) / 2**20, 1))
    print(json.dumps(out), flush=True)


def concurrency(a, n):
    "Start `n` workers, release them together once all are ready, and sum what they did."
    with tempfile.TemporaryDirectory() as d:
        cmd = [sys.executable, __file__, '--worker', '--device', a.device, '--data', a.data, '--warmup', str(a.warmup),
               '--worker-steps', str(a.worker_steps), '--sync-dir', d, '--worker-timeout', str(a.worker_timeout)]
        cmd += ['--root', a.root] if a.root else []
        cmd += ['--fixture-dir', a.fixture_dir] if a.fixture_dir else []
        env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get('PYTHONPATH')])))
        t0 = time.time()
        procs = [subprocess.Popen(cmd + ['--worker-id', str(i)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for i in range(n)]
        try:
            while len(list(Path(d).glob('ready-*'))) < n:
                dead = [p for p in procs if p.poll() not in (None, 0)]
                if dead: raise RuntimeError(f"a worker failed before its start: {dead[0].communicate()[1][-1500:]}")
                if time.time() - t0 > a.worker_timeout: raise TimeoutError(f"{n} workers not ready after {a.worker_timeout} s")
                time.sleep(0.05)
            setup_s = time.time() - t0
            (Path(d)/'go').write_text('')
            outs = []
            for p in procs:
                so, se = p.communicate(timeout=a.worker_timeout)
                if p.returncode: raise RuntimeError(f"a worker failed (exit {p.returncode}): {se[-1500:]}")
                outs.append(json.loads(so.strip().splitlines()[-1]))
        finally:
            for p in procs:
                if p.poll() is None: p.kill(); p.wait()
    span = max(o['end'] for o in outs) - min(o['start'] for o in outs)
    total = sum(o['steps'] for o in outs)
    row = dict(workers=n, steps_per_worker=a.worker_steps, aggregate_steps_per_s=round(total / span, 3),
               per_worker_steps_per_s=round(sum(o['steps'] / (o['end'] - o['start']) for o in outs) / n, 3),
               span_s=round(span, 2), setup_s=round(setup_s, 1), rss_peak_mb_max=max(o['rss_peak_mb'] for o in outs))
    if 'device_used_mb' in outs[0]:
        row.update(cuda_peak_allocated_mb_max=max(o['cuda_peak_allocated_mb'] for o in outs),
                   cuda_reserved_mb_max=max(o['cuda_reserved_mb'] for o in outs),
                   device_used_mb_per_worker=round(max(o['device_used_mb'] for o in outs) / n, 1))
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', default='cpu', help="'cpu', 'cuda' or 'cuda:N'")
    p.add_argument('--threads', type=int, default=1, help='torch CPU threads of the single-process measurements (default 1, as in the sweeps)')
    p.add_argument('--data', choices=['auto', 'omniglot', 'fixture'], default='auto')
    p.add_argument('--root', default=None, help='data root holding omniglot-py/ (default: $SSML_DATA, else data/ in the project)')
    p.add_argument('--fixture-dir', default=None, help='where the fixture is written when it is used (default: a temporary folder)')
    p.add_argument('--warmup', type=int, default=5, help='untimed steps before each timed measurement')
    p.add_argument('--gen-steps', type=int, default=100, help='timed GAN steps')
    p.add_argument('--meta-steps', type=int, default=100, help='timed ProtoNet meta-steps')
    p.add_argument('--maml-steps', type=int, default=30, help='timed MAML meta-steps')
    p.add_argument('--test-inner-steps', type=int, default=50, help='MAML adaptation steps at evaluation')
    p.add_argument('--eval-tasks', type=int, default=100, help='timed evaluation tasks per learner and setting')
    p.add_argument('--workers', type=int, nargs='*', default=[1, 4, 8, 16], help='concurrent process counts (none: skip)')
    p.add_argument('--worker-steps', type=int, default=200, help='ProtoNet meta-steps per concurrent process')
    p.add_argument('--worker-timeout', type=float, default=300, help='seconds a concurrency level may take before it is abandoned')
    p.add_argument('--skip', nargs='*', default=[], choices=['gan', 'protonet', 'protonet_labeled', 'maml', 'maml_20way', 'eval'], help='measurements to leave out')
    p.add_argument('--out', default=None, help='also write the JSON here')
    p.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    p.add_argument('--worker-id', type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument('--sync-dir', default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    for name in ('threads', 'gen_steps', 'meta_steps', 'maml_steps', 'eval_tasks', 'worker_steps', 'test_inner_steps'):
        if getattr(a, name) < 1: p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(a, name)}")
    if a.warmup < 0: p.error(f"--warmup must be >= 0, got {a.warmup}")
    if any(n < 1 for n in a.workers): p.error(f"--workers must all be >= 1, got {a.workers}")
    if a.root is not None and not Path(a.root).is_dir(): p.error(f"--root {a.root}: no such folder (expected the folder holding omniglot-py/)")
    from ssml.core import get_device
    device = get_device(a.device)
    if device.type == 'cuda' and not torch.cuda.is_available(): p.error(f"--device {a.device}: CUDA is not available here")
    if a.worker: return worker(a)
    t0 = time.time()
    torch.set_num_threads(a.threads)
    train, test, data = load_data(a)
    out = dict(device=device.type, device_name=torch.cuda.get_device_name(device) if device.type == 'cuda' else (platform.processor() or platform.machine()),
               threads=a.threads, torch=torch.__version__, data=data,
               setting=dict(image_size=28, n_way=5, k_shot=1, q_query=15, meta_batch=4, maml_inner_steps=5, maml_order='second',
                            test_inner_steps=a.test_inner_steps, gan_batch=128, latent_dim=128, lasium='n, sigma 1.0, augmented'))
    def save():  # after each measurement, so that a run stopped by a time limit keeps what it measured
        if a.out:
            Path(a.out).parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(a.out).with_name(Path(a.out).name + '.tmp'); tmp.write_text(json.dumps(out, indent=1) + '\n'); os.replace(tmp, a.out)
    def say(k): print(f"{k}: {json.dumps(out[k])}", flush=True); save()
    if 'gan' not in a.skip: out['gan'] = gan_steps_per_s(a, train, device); say('gan')
    if 'protonet' not in a.skip: out['protonet'] = meta_steps_per_s(a, train, device, 'protonet', 'lasium', a.meta_steps); say('protonet')
    if 'protonet_labeled' not in a.skip:
        out['protonet_labeled'] = meta_steps_per_s(a, train, device, 'protonet', 'labeled', a.meta_steps); say('protonet_labeled')
    if 'maml' not in a.skip: out['maml'] = meta_steps_per_s(a, train, device, 'maml', 'lasium', a.maml_steps); say('maml')
    if 'maml_20way' not in a.skip:
        out['maml_20way'] = meta_steps_per_s(a, train, device, 'maml', 'lasium', a.maml_steps, n_way=20); say('maml_20way')
    if 'eval' not in a.skip: out['eval'] = eval_seconds(a, train, test, device); say('eval')
    rows = []
    for n in a.workers:
        try: rows.append(concurrency(a, n))
        except (RuntimeError, TimeoutError, subprocess.TimeoutExpired) as e:
            rows.append(dict(workers=n, error=f"{type(e).__name__}: {str(e)[-500:]}"))
            print(f"concurrency {n}: {rows[-1]['error']}", file=sys.stderr, flush=True)
            break  # more processes will not do better
        base = next((r['aggregate_steps_per_s'] for r in rows if r.get('workers') == 1 and 'error' not in r), None)
        if base: rows[-1]['speedup_vs_1'] = round(rows[-1]['aggregate_steps_per_s'] / base, 2)
        out['concurrency'] = rows
        print(f"concurrency {n}: {json.dumps(rows[-1])}", flush=True); save()
    out['concurrency'] = rows
    out['elapsed_s'] = round(time.time() - t0, 1)
    if getattr(a, 'own_fixture', False):
        import shutil; shutil.rmtree(a.fixture_dir, ignore_errors=True)
    save()
    print(json.dumps(out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
