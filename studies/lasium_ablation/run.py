"""One point of the LASIUM transfer ablation: meta-train on generated tasks, evaluate on real Omniglot test tasks.

Settings: config.yaml: a point's settings are `defaults` updated by `points.<POINT>`; the test tasks (`test`: 1000
5-way 1-shot tasks of the random character split's test classes (omniglot_split: random), 15 queries, TaskList seed 0) and the diagnostics
(`diagnostics`) are shared. Run from anywhere, e.g.

    SSML_DATA=../shared/data nohup .venv/bin/python studies/lasium_ablation/run.py gan_n10_aug > gan_n10_aug.log 2>&1 &
    .venv/bin/python studies/lasium_ablation/run.py gan_n10_aug --set minutes=8 --name gan_n10_aug_8min  # a variation
    .venv/bin/python studies/lasium_ablation/run.py --figure-only   # redraw figures/ablation_lasium from the records

Writes the record <out>/<name>.json (settings, seed, git commit, durations, accuracy + 95% CI, diagnostics),
rewrites <out>/ablation.csv from all records, and redraws figures/ablation_lasium.{png,pdf,json}. Re-running a
point resumes its checkpointed training (<work-dir>/ablation/<name>/) and re-evaluates. Needs the generators of the
generator-quality study and the supervised ProtoNet of the supervised meta-learners study under --work-dir (see
config.yaml); without the ProtoNet the record has no diagnostics.
"""
import json, subprocess, sys, time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from study_config import ROOT, STUDIES, load_config, apply_overrides, study_parser, parse_study_args  # noqa: E402

import torch  # noqa: E402
from ssml.core import seed_everything, load_checkpoint  # noqa: E402
from ssml.data import load_omniglot  # noqa: E402
from ssml.episodes import EpisodeSampler, TaskList  # noqa: E402
from ssml.gentrain import load_generative  # noqa: E402
from ssml.lasium import AugmentedSource, LasiumSampler  # noqa: E402
from ssml.nets import omniglot_conv4  # noqa: E402
from ssml.maml import MAML, ProtoNet  # noqa: E402
from ssml.metatrain import meta_train, evaluate  # noqa: E402
from ssml.study_figures import ablation_records, ablation_table  # noqa: E402
from diagnostics import task_diagnostics  # noqa: E402


def point_settings(cfg: dict, point: str, overrides: dict | None = None) -> dict:
    "The settings of ablation point `point`: the defaults, the point's entry, then `overrides` (keys of the defaults)."
    if point not in cfg['points']: raise ValueError(f"point {point!r} is not in config.yaml's points: {sorted(cfg['points'])}")
    unknown = sorted(set(cfg['points'][point]) - set(cfg['defaults']))
    if unknown: raise ValueError(f"points.{point} sets {unknown}, which are not settings (defaults: {sorted(cfg['defaults'])})")
    return apply_overrides({**cfg['defaults'], **cfg['points'][point]}, overrides, f'the settings of point {point}')


def task_list(work, imageset, n_tasks, tag, q_query=15, seed=0):
    path = work / f'tasks_{tag}_5w1s{q_query}q_{n_tasks}_seed{seed}.pt'
    if path.is_file(): return TaskList.load(path)
    tl = TaskList.draw(imageset, 5, 1, q_query, n_tasks=n_tasks, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True); tl.save(path)
    return tl


def make_learner(s):
    net = omniglot_conv4(s['n_way'])
    if s['learner'] == 'protonet': return ProtoNet(net)
    return MAML(net, inner_lr=s['inner_lr'], inner_steps=s['inner_steps'], test_inner_steps=s['test_inner_steps'],
                first_order=s['learner'] == 'maml-fo')


def make_source(s, generators, n_way, q_query, seed, train_set=None):
    if s['model'] == 'real':
        return EpisodeSampler(train_set, n_way, s['k_shot'], q_query, seed=seed)
    model = load_generative(generators[s['model']])
    kw = dict(eps=s['eps'], include_anchor=not s['no_anchor'], seed=seed)
    if s['variant'] == 'n': kw['sigma'] = s['sigma']
    else: kw['alpha'] = s['alpha']
    if s['model'] == 'vae' and s['vae_anchors'] == 'images': kw['anchor_images'] = train_set
    src = LasiumSampler(model, s['variant'], n_way, s['k_shot'], q_query, **kw)
    if s['aug']:
        src = AugmentedSource(src, seed=seed + 1, rotate=s['aug_rotate'], shift=s['aug_shift'],
                              scale=(s['aug_scale_lo'], s['aug_scale_hi']), shear=s['aug_shear'])
    return src


def git_commit():
    try: return subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except Exception: return None


def main(name, s, cfg, work_dir, out):
    torch.set_num_threads(s['threads'])
    generators = {k: Path(work_dir) / v for k, v in cfg['generators'].items()}
    if s['model'] != 'real' and not generators[s['model']].is_file():
        raise FileNotFoundError(f"generator {generators[s['model']]} not found (train it: studies/generator_quality/train.py {s['model']})")
    work = Path(work_dir) / 'ablation'
    started = datetime.now(timezone.utc).isoformat(timespec='seconds')
    run_dir = work / name; run_dir.mkdir(parents=True, exist_ok=True)
    ts = cfg['test']
    ds = load_omniglot(split='random', seed=ts['split_seed'])
    train_set, val_set, test_set = ds.split('train'), ds.split('val'), ds.split('test')
    val = task_list(work, val_set, s['val_tasks'], 'val')
    test = task_list(work, test_set, ts['n_tasks'], 'test', ts['q_query'], ts['seed'])
    seed_everything(s['seed'])
    learner = make_learner(s)
    source = make_source(s, generators, s['train_way'] or s['n_way'], s['q_query'], s['seed'], train_set)
    gen_minutes = 0.0
    if s['model'] in generators:
        ck = load_checkpoint(generators[s['model']]); gen_minutes = ck.get('elapsed_s', 0) / 60
    t0 = time.time()
    res = dict(step=0, elapsed_s=0.0, best_val_acc=None, best_step=None, history=[])
    if s['minutes'] > 0:
        res = meta_train(learner, source, minutes=s['minutes'], steps=s['steps'] or 10**9,  # time-budgeted study: no step limit unless set
                         meta_batch=s['meta_batch'], lr=s['meta_lr'],
                         val_tasks=val, val_imageset=val_set, val_every=s['val_every'], val_inner_steps=s['test_inner_steps'],
                         ckpt_dir=run_dir, ckpt_every=100, seed=s['seed'], restore_best=True, log_every=50, progress=False)
    train_wall = time.time() - t0
    hist = res['history']
    train_task_acc = sum(h['acc'] for h in hist[-5:]) / max(1, len(hist[-5:])) if hist else None
    t1 = time.time()
    r = evaluate(learner, test, test_set, inner_steps=s['test_inner_steps'] if s['learner'] != 'protonet' else None)
    eval_s = time.time() - t1
    diag, dc = {}, cfg['diagnostics']
    pn_path = Path(work_dir) / cfg['supervised_protonet']
    if pn_path.is_file():
        pn = ProtoNet(omniglot_conv4(5)); pn.load_state_dict(load_checkpoint(pn_path)['learner'])
        dsrc = make_source(s, generators, 5, dc['q_query'], dc['seed'], train_set)
        with torch.no_grad(): diag = task_diagnostics(dsrc(dc['n_tasks']), pn)
    else: print(f"no supervised ProtoNet at {pn_path}: the record has no diagnostics", file=sys.stderr)
    rec = dict(name=name, started=started, finished=datetime.now(timezone.utc).isoformat(timespec='seconds'),
               settings=dict(name=name, **s), commit=git_commit(), threads=s['threads'],
               test=dict(accuracy=r['accuracy'], ci95=r['ci95'], n_tasks=r['n_tasks'],
                         protocol=f"omniglot random split seed {ts['split_seed']}, test classes, 5-way 1-shot {ts['q_query']} queries, TaskList seed {ts['seed']}"),
               best_val_acc=res['best_val_acc'], best_step=res['best_step'], steps=res['step'],
               train_minutes=res['elapsed_s'] / 60, train_wall_s=train_wall, eval_s=eval_s,
               generator_minutes=gen_minutes, total_minutes=gen_minutes + res['elapsed_s'] / 60,
               train_task_acc=train_task_acc, diagnostics=diag,
               history=[{k: h[k] for k in ('step', 'elapsed_s', 'loss', 'acc', 'val_acc')} for h in hist])
    out.mkdir(parents=True, exist_ok=True)
    (out / f'{name}.json').write_text(json.dumps(rec, indent=1))
    print(json.dumps({k: rec[k] for k in ('name', 'test', 'best_val_acc', 'steps', 'train_minutes', 'train_task_acc', 'diagnostics')}))


def figure(cfg, out, fig_dir):
    "Rewrite <out>/ablation.csv and redraw <fig-dir>/ablation_lasium.{png,pdf,json} from all records (as `make reproduce` does)."
    import matplotlib; matplotlib.use('Agg')
    from ssml.study_figures import ablation_figure
    ablation_table(ablation_records(out)).to_csv(out / 'ablation.csv', index=False)
    return ablation_figure(out, Path(fig_dir) / 'ablation_lasium', STUDIES / cfg['supervised_record'])


if __name__ == '__main__':
    p = study_parser(__doc__, paths=('data', 'work_dir', 'out', 'fig_dir'),
                     set_help="override a setting of the point (a key of config.yaml's defaults; VALUE parsed as YAML); needs --name")
    p.add_argument('point', nargs='?', help="a point of config.yaml's points")
    p.add_argument('--name', help='record name (default: the point; required with --set, so a record never carries a point name with other settings)')
    p.add_argument('--figure-only', action='store_true', help='only rewrite ablation.csv and redraw the figure from the records')
    a = parse_study_args(p, HERE)
    cfg = load_config(HERE)
    if not a.figure_only:
        if a.point is None: p.error(f"give a point (one of {sorted(cfg['points'])}) or --figure-only")
        if a.overrides and a.name in (None, a.point): p.error('--set changes the point\'s settings: give the record a new --name')
        main(a.name or a.point, point_settings(cfg, a.point, a.overrides), cfg, a.work_dir, a.out)
    figure(cfg, a.out, a.fig_dir)
