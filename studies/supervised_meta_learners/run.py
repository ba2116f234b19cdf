"""Supervised meta-training on real Omniglot with a wall-clock budget, then test accuracy against training minutes.

Settings: config.yaml: a run's settings are `defaults` updated by `runs.<RUN>`; the test tasks are `test`.

train RUN: meta-train a learner for `minutes` of training time, checkpointing regularly and keeping snapshots of
           the weights at `snapshots` minutes (into <work-dir>/maml/RUN/). Re-running resumes exactly.
eval RUN:  evaluate every snapshot (and best/last) of a run on the fixed test tasks (5-way 1-shot, 15 queries per
           class, TaskList seed 0, test classes) and write <out>/RUN.json and <out>/RUN.csv.

Then summarize.py combines the runs' files into <out>/accuracy_vs_minutes.csv. Run from anywhere, e.g.

    SSML_DATA=../shared/data nohup .venv/bin/python studies/supervised_meta_learners/run.py train pn_rot_q15 > pn.log 2>&1 &
    .venv/bin/python studies/supervised_meta_learners/run.py eval pn_rot_q15
"""
import csv, json, os, platform, re, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from study_config import load_config, apply_overrides, study_parser, parse_study_args  # noqa: E402

import torch  # noqa: E402
from ssml.core import seed_everything, load_checkpoint  # noqa: E402
from ssml.data import load_omniglot  # noqa: E402
from ssml.episodes import EpisodeSampler, TaskList  # noqa: E402
from ssml.nets import omniglot_conv4  # noqa: E402
from ssml.maml import MAML, ProtoNet  # noqa: E402
from ssml.metatrain import meta_train, evaluate  # noqa: E402


def run_settings(cfg: dict, run: str, overrides: dict | None = None) -> dict:
    "The settings of run `run`: the defaults, the run's entry, then `overrides` (keys of the defaults)."
    if run not in cfg['runs']: raise ValueError(f"run {run!r} is not in config.yaml's runs: {sorted(cfg['runs'])}")
    unknown = sorted(set(cfg['runs'][run]) - set(cfg['defaults']))
    if unknown: raise ValueError(f"runs.{run} sets {unknown}, which are not settings (defaults: {sorted(cfg['defaults'])})")
    return apply_overrides({**cfg['defaults'], **cfg['runs'][run]}, overrides, f'the settings of run {run}')


def task_list(work, imageset, n_way, k_shot, q_query, n_tasks, seed, tag):
    path = work / f'tasks_{tag}_{n_way}w{k_shot}s{q_query}q_{n_tasks}_seed{seed}.pt'
    if path.is_file(): return TaskList.load(path)
    tl = TaskList.draw(imageset, n_way, k_shot, q_query, n_tasks=n_tasks, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True); tl.save(path)
    return tl


def make_learner(s):
    net = omniglot_conv4(s['n_way'])
    if s['method'] == 'protonet': return ProtoNet(net)
    return MAML(net, inner_lr=s['inner_lr'], inner_steps=s['inner_steps'], test_inner_steps=s['test_inner_steps'],
                first_order=s['first_order'])


def train(name, s, cfg, work):
    torch.set_num_threads(s['threads'])
    run_dir = work / name
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / 'settings.json').write_text(json.dumps(dict(name=name, **s), indent=1))
    split = cfg['test']['split_seed']
    train_set = load_omniglot(split='random', seed=split, rotations=s['rotations']).split('train')
    val_set = load_omniglot(split='random', seed=split).split('val')
    val = task_list(work, val_set, s['n_way'], s['k_shot'], 15, s['val_tasks'], 0, 'val')
    seed_everything(s['seed'])
    learner = make_learner(s)
    source = EpisodeSampler(train_set, s['train_way'] or s['n_way'], s['k_shot'], s['q_query'], seed=s['seed'])
    # this study measures accuracy against training minutes: the time is its budget by design, so without a step
    # budget the step limit is unreachable and meta_train stops at `minutes` (its result then says truncated)
    kw = dict(steps=s['steps'] or 10**9, meta_batch=s['meta_batch'], lr=s['meta_lr'], val_tasks=val, val_imageset=val_set,
              val_every=s['val_every'], val_inner_steps=s['val_inner_steps'], ckpt_dir=run_dir, ckpt_every=s['ckpt_every'],
              snapshot_minutes=s['snapshots'], seed=s['seed'], log_every=s['log_every'], progress=True)
    t0 = time.time()
    if s['fo_warmup_minutes'] and s['method'] == 'maml' and not s['first_order']:
        learner.first_order = True
        meta_train(learner, source, minutes=s['fo_warmup_minutes'], **kw)
        learner.first_order = False
    out = meta_train(learner, source, minutes=s['minutes'], **kw)
    out['wall_total_s'] = time.time() - t0
    (run_dir / 'train_result.json').write_text(json.dumps(out, indent=1))
    print(json.dumps({k: v for k, v in out.items() if k != 'history'}))


def evaluate_run(name, overrides, cfg, work, results):
    run_dir = work / name
    if not (run_dir / 'settings.json').is_file(): raise FileNotFoundError(f"{run_dir / 'settings.json'} not found: train the run first")
    trained = json.loads((run_dir / 'settings.json').read_text())  # what was trained; only test_inner_steps may change
    bad = sorted(set(overrides) - {'test_inner_steps', 'threads'})
    if bad: raise ValueError(f"eval takes only test_inner_steps and threads from --set, got {bad}")
    s = {**trained, **overrides}
    torch.set_num_threads(s['threads'])
    ts = cfg['test']
    test_set = load_omniglot(split='random', seed=ts['split_seed']).split('test')
    tl = task_list(work, test_set, s['n_way'], s['k_shot'], ts['q_query'], ts['n_tasks'], ts['seed'], 'test')
    learner = make_learner(s)
    files = sorted(run_dir.glob('snap_*min.pt'), key=lambda p: float(re.findall(r'snap_(.*)min', p.name)[0]))
    files += [p for p in (run_dir / 'best.pt', run_dir / 'last.pt') if p.is_file()]
    maml = s['method'] == 'maml'
    rows = []
    for p in files:
        ck = load_checkpoint(p)
        learner.load_state_dict(ck['learner'])
        step = ck.get('step', ck.get('state', {}).get('step'))
        el = ck.get('elapsed_s', ck.get('state', {}).get('elapsed_s'))
        t = time.time()
        r = evaluate(learner, tl, test_set, inner_steps=s['test_inner_steps'] if maml else None, batch_size=ts['batch_size'])
        row = dict(run=name, checkpoint=p.name, method=s['method'] + ('-fo' if s.get('first_order') else ''),
                   step=step, train_minutes=round(el / 60, 3), accuracy=round(100 * r['accuracy'], 3),
                   ci95=round(100 * r['ci95'], 3), n_tasks=r['n_tasks'], test_inner_steps=s['test_inner_steps'] if maml else None,
                   eval_seconds=round(time.time() - t, 1))
        print(json.dumps(row), flush=True)
        rows.append(row)
    if not rows: raise FileNotFoundError(f"no checkpoints (snap_*min.pt, best.pt, last.pt) in {run_dir}")
    meta = dict(settings=trained, eval=dict(n_way=s['n_way'], k_shot=s['k_shot'], q_query=ts['q_query'], n_tasks=ts['n_tasks'],
                                              task_seed=ts['seed'], split=f"lasium seed {ts['split_seed']}, test classes ({test_set.n_classes})",
                                              threads=s['threads']),
                machine=dict(cpu=platform.processor() or platform.machine(), torch=torch.__version__, nproc=os.cpu_count()))
    results.mkdir(parents=True, exist_ok=True)
    (results / f'{name}.json').write_text(json.dumps(dict(meta=meta, rows=rows), indent=1))
    with open(results / f'{name}.csv', 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0])); w.writeheader(); w.writerows(rows)


if __name__ == '__main__':
    p = study_parser(__doc__, paths=('data', 'work_dir', 'out'),
                     set_help='override a setting of the run (a key of config.yaml\'s defaults; VALUE parsed as YAML); needs --name for train')
    p.add_argument('cmd', choices=['train', 'eval'])
    p.add_argument('run', help="a run of config.yaml's runs (eval: any trained run's name)")
    p.add_argument('--name', help='run name (default: the run; required with --set for train, so a name never carries other settings)')
    a = parse_study_args(p, HERE)
    cfg = load_config(HERE)
    work = a.work_dir / 'maml'
    if a.cmd == 'train':
        if a.overrides and a.name in (None, a.run): p.error("--set changes the run's settings: give it a new --name")
        train(a.name or a.run, run_settings(cfg, a.run, a.overrides), cfg, work)
    else: evaluate_run(a.name or a.run, a.overrides, cfg, work, a.out)
