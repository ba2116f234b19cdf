"""Supervised meta-training on real Omniglot (LASIUM split) with a wall-clock budget, then accuracy-vs-minutes.

train: meta-train a learner (protonet | maml) for --minutes of training time, checkpointing regularly and writing
       snapshots of the weights at --snapshots minutes (into runs/maml/<name>/). Re-running resumes exactly.
eval:  evaluate every snapshot (and best/last) of a run on the fixed 1000 test tasks (5-way 1-shot, 15 queries per
       class, seed 0, test classes) and write results/issue5/<name>.json and .csv.

Run from the project root, e.g.
  SSML_DATA=/work/shared/data nohup .venv/bin/python results/issue5/omniglot_runs.py train --method protonet \
      --name pn --minutes 10 --snapshots 1 2 5 10 > runs/maml/pn.log 2>&1 &
"""
import argparse, csv, json, os, platform, re, sys, time
from pathlib import Path

import torch

from ssml.core import seed_everything, load_checkpoint
from ssml.data import load_omniglot
from ssml.episodes import EpisodeSampler, TaskList
from ssml.nets import omniglot_conv4
from ssml.maml import MAML, ProtoNet
from ssml.metatrain import meta_train, evaluate

ROOT = Path(__file__).resolve().parents[2]
RUNS, RESULTS = ROOT / 'runs' / 'maml', ROOT / 'results' / 'issue5'


def task_list(imageset, n_way, k_shot, q_query, n_tasks, seed, tag):
    path = RUNS / f'tasks_{tag}_{n_way}w{k_shot}s{q_query}q_{n_tasks}_seed{seed}.pt'
    if path.is_file(): return TaskList.load(path)
    tl = TaskList.draw(imageset, n_way, k_shot, q_query, n_tasks=n_tasks, seed=seed)
    tl.save(path)
    return tl


def make_learner(a):
    net = omniglot_conv4(a.n_way)
    if a.method == 'protonet': return ProtoNet(net)
    return MAML(net, inner_lr=a.inner_lr, inner_steps=a.inner_steps, test_inner_steps=a.test_inner_steps,
                first_order=a.first_order)


def train(a):
    torch.set_num_threads(a.threads)
    run_dir = RUNS / a.name
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / 'settings.json').write_text(json.dumps(vars(a), indent=1))
    ds = load_omniglot(split='lasium', seed=0, rotations=a.rotations)
    train_set = ds.split('train')
    val_set = load_omniglot(split='lasium', seed=0).split('val')
    val = task_list(val_set, a.n_way, a.k_shot, 15, a.val_tasks, 0, 'val')
    seed_everything(a.seed)
    learner = make_learner(a)
    source = EpisodeSampler(train_set, a.train_way or a.n_way, a.k_shot, a.q_query, seed=a.seed)
    kw = dict(steps=a.steps, meta_batch=a.meta_batch, lr=a.meta_lr, val_tasks=val, val_imageset=val_set,
              val_every=a.val_every, val_inner_steps=a.val_inner_steps, ckpt_dir=run_dir, ckpt_every=a.ckpt_every,
              snapshot_minutes=a.snapshots, seed=a.seed, log_every=a.log_every, progress=True)
    t0 = time.time()
    if a.fo_warmup_minutes and a.method == 'maml' and not a.first_order:
        learner.first_order = True
        meta_train(learner, source, minutes=a.fo_warmup_minutes, **kw)
        learner.first_order = False
    out = meta_train(learner, source, minutes=a.minutes, **kw)
    out['wall_total_s'] = time.time() - t0
    (run_dir / 'train_result.json').write_text(json.dumps(out, indent=1))
    print(json.dumps({k: v for k, v in out.items() if k != 'history'}))


def evaluate_run(a):
    torch.set_num_threads(a.threads)
    run_dir = RUNS / a.name
    settings = json.loads((run_dir / 'settings.json').read_text())
    s = argparse.Namespace(**{**settings, **{k: v for k, v in vars(a).items() if v is not None and k in ('test_inner_steps',)}})
    test_set = load_omniglot(split='lasium', seed=0).split('test')
    tl = task_list(test_set, s.n_way, s.k_shot, 15, a.n_test_tasks, 0, 'test')
    learner = make_learner(s)
    files = sorted(run_dir.glob('snap_*min.pt'), key=lambda p: float(re.findall(r'snap_(.*)min', p.name)[0]))
    files += [p for p in (run_dir / 'best.pt', run_dir / 'last.pt') if p.is_file()]
    rows = []
    for p in files:
        ck = load_checkpoint(p)
        learner.load_state_dict(ck['learner'])
        step = ck.get('step', ck.get('state', {}).get('step'))
        el = ck.get('elapsed_s', ck.get('state', {}).get('elapsed_s'))
        t = time.time()
        r = evaluate(learner, tl, test_set, inner_steps=s.test_inner_steps if s.method == 'maml' else None, batch_size=50)
        row = dict(run=a.name, checkpoint=p.name, method=s.method + ('-fo' if getattr(s, 'first_order', False) else ''),
                   step=step, train_minutes=round(el / 60, 3), accuracy=round(100 * r['accuracy'], 3),
                   ci95=round(100 * r['ci95'], 3), n_tasks=r['n_tasks'], test_inner_steps=s.test_inner_steps if s.method == 'maml' else None,
                   eval_seconds=round(time.time() - t, 1))
        print(json.dumps(row), flush=True)
        rows.append(row)
    meta = dict(settings=settings, eval=dict(n_way=s.n_way, k_shot=s.k_shot, q_query=15, n_tasks=a.n_test_tasks, task_seed=0,
                                               split='lasium seed 0, test classes (323)', threads=a.threads),
                machine=dict(cpu=platform.processor() or platform.machine(), torch=torch.__version__, nproc=os.cpu_count()))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f'{a.name}.json').write_text(json.dumps(dict(meta=meta, rows=rows), indent=1))
    with open(RESULTS / f'{a.name}.csv', 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0])); w.writeheader(); w.writerows(rows)


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('cmd', choices=['train', 'eval'])
    p.add_argument('--name', required=True)
    p.add_argument('--method', choices=['protonet', 'maml'], default='protonet')
    p.add_argument('--minutes', type=float, default=10)
    p.add_argument('--steps', type=int, default=0)
    p.add_argument('--snapshots', type=float, nargs='*', default=[1, 2, 5, 10, 20, 40, 60])
    p.add_argument('--n-way', type=int, default=5)
    p.add_argument('--train-way', type=int, default=0, help='ways of the training tasks (ProtoNet); 0: --n-way')
    p.add_argument('--k-shot', type=int, default=1)
    p.add_argument('--q-query', type=int, default=15)
    p.add_argument('--meta-batch', type=int, default=4)
    p.add_argument('--meta-lr', type=float, default=1e-3)
    p.add_argument('--inner-lr', type=float, default=0.4)
    p.add_argument('--inner-steps', type=int, default=1)
    p.add_argument('--test-inner-steps', type=int, default=None)
    p.add_argument('--val-inner-steps', type=int, default=None)
    p.add_argument('--first-order', action='store_true')
    p.add_argument('--fo-warmup-minutes', type=float, default=0)
    p.add_argument('--rotations', action='store_true')
    p.add_argument('--val-tasks', type=int, default=100)
    p.add_argument('--val-every', type=int, default=500)
    p.add_argument('--ckpt-every', type=int, default=100)
    p.add_argument('--log-every', type=int, default=50)
    p.add_argument('--n-test-tasks', type=int, default=1000)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args()
    if a.cmd == 'train':
        if a.test_inner_steps is None: a.test_inner_steps = 10
        train(a)
    else: evaluate_run(a)
