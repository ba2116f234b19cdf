"""One point of the unsupervised-LASIUM transfer ablation (issue 7): meta-train on generated tasks, evaluate on real
Omniglot 5-way 1-shot test tasks (1000 tasks, LASIUM split seed 0, 15 queries, TaskList seed 0), and append a JSON
record (settings, seed, git commit, durations, accuracy + 95% CI, diagnostics) to results/ablation/<name>.json;
results/ablation/ablation.csv is rewritten from all records.

Example (from the project root):
  SSML_DATA=/work/shared/data nohup .venv/bin/python benchmarks/ablation_lasium.py --name gan_n05_aug \
      --model gan --variant n --sigma 0.5 --aug --minutes 3 > runs/ablation/gan_n05_aug.log 2>&1 &
Re-running the same --name resumes the checkpointed training (runs/ablation/<name>/) and re-evaluates.
"""
import argparse, json, subprocess, sys, time
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from ssml.core import seed_everything, load_checkpoint
from ssml.data import load_omniglot
from ssml.episodes import EpisodeSampler, TaskList
from ssml.generative import load_generative
from ssml.lasium import AugmentedSource, LasiumSampler
from ssml.nets import omniglot_conv4
from ssml.maml import MAML, ProtoNet
from ssml.metatrain import meta_train, evaluate
from ssml.ablation import task_diagnostics, load_records, records_table

RUNS, RESULTS = ROOT / 'runs' / 'ablation', ROOT / 'results' / 'ablation'
MODELS = {'gan': 'runs/generative/omniglot-gan/final.pt', 'vae': 'runs/generative/omniglot-vae/final.pt',
          'ssgan': 'runs/generative/omniglot-ssgan/final.pt'}
SUPERVISED_PN = ROOT / 'runs/maml/pn_rot_q15/last.pt'  # fixed supervised embedding for the diagnostics (94.4% test)


def task_list(imageset, n_tasks, tag):
    path = RUNS / f'tasks_{tag}_5w1s15q_{n_tasks}_seed0.pt'
    if path.is_file(): return TaskList.load(path)
    tl = TaskList.draw(imageset, 5, 1, 15, n_tasks=n_tasks, seed=0)
    path.parent.mkdir(parents=True, exist_ok=True); tl.save(path)
    return tl


def make_learner(a):
    net = omniglot_conv4(a.n_way)
    if a.learner == 'protonet': return ProtoNet(net)
    return MAML(net, inner_lr=a.inner_lr, inner_steps=a.inner_steps, test_inner_steps=a.test_inner_steps,
                first_order=a.learner == 'maml-fo')


def make_source(a, n_way, q_query, seed, train_set=None):
    if a.model == 'real':
        return EpisodeSampler(train_set, n_way, a.k_shot, q_query, seed=seed)
    model = load_generative(ROOT / MODELS[a.model])
    kw = dict(eps=a.eps, include_anchor=not a.no_anchor, seed=seed)
    if a.variant == 'n': kw['sigma'] = a.sigma
    else: kw['alpha'] = a.alpha
    if a.model == 'vae' and a.vae_anchors == 'images': kw['anchor_images'] = train_set
    src = LasiumSampler(model, a.variant, n_way, a.k_shot, q_query, **kw)
    if a.aug:
        src = AugmentedSource(src, seed=seed + 1, rotate=a.aug_rotate, shift=a.aug_shift,
                              scale=(a.aug_scale_lo, a.aug_scale_hi), shear=a.aug_shear)
    return src


def git_commit():
    try: return subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except Exception: return None


def main(a):
    torch.set_num_threads(a.threads)
    started = datetime.now(timezone.utc).isoformat(timespec='seconds')
    run_dir = RUNS / a.name; run_dir.mkdir(parents=True, exist_ok=True)
    ds = load_omniglot(split='lasium', seed=0)
    train_set, val_set, test_set = ds.split('train'), ds.split('val'), ds.split('test')
    val, test = task_list(val_set, a.val_tasks, 'val'), task_list(test_set, 1000, 'test')
    seed_everything(a.seed)
    learner = make_learner(a)
    source = make_source(a, a.train_way or a.n_way, a.q_query, a.seed, train_set)
    gen_minutes = 0.0
    if a.model in MODELS:
        ck = load_checkpoint(ROOT / MODELS[a.model]); gen_minutes = ck.get('elapsed_s', 0) / 60
    t0 = time.time()
    out = dict(step=0, elapsed_s=0.0, best_val_acc=None, best_step=None, history=[])
    if a.minutes > 0:
        out = meta_train(learner, source, minutes=a.minutes, steps=a.steps, meta_batch=a.meta_batch, lr=a.meta_lr,
                         val_tasks=val, val_imageset=val_set, val_every=a.val_every, val_inner_steps=a.test_inner_steps,
                         ckpt_dir=run_dir, ckpt_every=100, seed=a.seed, restore_best=True, log_every=50,
                         progress=False)
    train_wall = time.time() - t0
    hist = out['history']
    train_task_acc = sum(h['acc'] for h in hist[-5:]) / max(1, len(hist[-5:])) if hist else None
    t1 = time.time()
    r = evaluate(learner, test, test_set, inner_steps=a.test_inner_steps if a.learner != 'protonet' else None)
    eval_s = time.time() - t1
    # diagnostics on 50 generated 5-way 1-shot 15-query tasks (same generation settings), and on 50 real val tasks
    diag = {}
    if SUPERVISED_PN.is_file():
        pn = ProtoNet(omniglot_conv4(5)); pn.load_state_dict(load_checkpoint(SUPERVISED_PN)['learner'])
        dsrc = make_source(a, 5, 15, 12345, train_set)
        with torch.no_grad(): diag = task_diagnostics(dsrc(50), pn)
    rec = dict(name=a.name, started=started, finished=datetime.now(timezone.utc).isoformat(timespec='seconds'),
               settings=vars(a), commit=git_commit(), threads=a.threads,
               test=dict(accuracy=r['accuracy'], ci95=r['ci95'], n_tasks=r['n_tasks'],
                         protocol='omniglot lasium split seed 0, test classes, 5-way 1-shot 15 queries, TaskList seed 0'),
               best_val_acc=out['best_val_acc'], best_step=out['best_step'], steps=out['step'],
               train_minutes=out['elapsed_s'] / 60, train_wall_s=train_wall, eval_s=eval_s,
               generator_minutes=gen_minutes, total_minutes=gen_minutes + out['elapsed_s'] / 60,
               train_task_acc=train_task_acc, diagnostics=diag,
               history=[{k: h[k] for k in ('step', 'elapsed_s', 'loss', 'acc', 'val_acc')} for h in hist])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f'{a.name}.json').write_text(json.dumps(rec, indent=1))
    records_table(load_records(RESULTS)).to_csv(RESULTS / 'ablation.csv', index=False)
    print(json.dumps({k: rec[k] for k in ('name', 'test', 'best_val_acc', 'steps', 'train_minutes', 'train_task_acc', 'diagnostics')}))


def figure():
    "Redraw figures/ablation_lasium.{png,pdf} and its sidecar JSON from all records (as `ssml reproduce` does)."
    import matplotlib; matplotlib.use('Agg')
    from ssml.figures import ablation_figure
    ablation_figure(RESULTS, ROOT / 'figures' / 'ablation_lasium', ROOT / 'results/issue5/pn_rot_q15.json')


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--name', required=True)
    p.add_argument('--model', choices=['gan', 'vae', 'ssgan', 'real'], default='gan', help="'real': supervised tasks (reference)")
    p.add_argument('--variant', choices=['n', 'ro', 'oc'], default='n')
    p.add_argument('--sigma', type=float, default=0.5)
    p.add_argument('--alpha', type=float, default=0.4)
    p.add_argument('--eps', type=float, default=None)
    p.add_argument('--no-anchor', action='store_true', help='do not include the anchor itself as a sample')
    p.add_argument('--vae-anchors', choices=['prior', 'images'], default='prior')
    p.add_argument('--aug', action='store_true', help='independent random affine per generated image')
    p.add_argument('--aug-rotate', type=float, default=15.)
    p.add_argument('--aug-shift', type=float, default=0.1)
    p.add_argument('--aug-scale-lo', type=float, default=0.8)
    p.add_argument('--aug-scale-hi', type=float, default=1.2)
    p.add_argument('--aug-shear', type=float, default=10.)
    p.add_argument('--learner', choices=['protonet', 'maml', 'maml-fo'], default='protonet')
    p.add_argument('--minutes', type=float, default=3)
    p.add_argument('--steps', type=int, default=0)
    p.add_argument('--n-way', type=int, default=5)
    p.add_argument('--train-way', type=int, default=0)
    p.add_argument('--k-shot', type=int, default=1)
    p.add_argument('--q-query', type=int, default=15)
    p.add_argument('--meta-batch', type=int, default=4)
    p.add_argument('--meta-lr', type=float, default=1e-3)
    p.add_argument('--inner-lr', type=float, default=0.4)
    p.add_argument('--inner-steps', type=int, default=1)
    p.add_argument('--test-inner-steps', type=int, default=3)
    p.add_argument('--val-tasks', type=int, default=100)
    p.add_argument('--val-every', type=int, default=200)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--figure-only', action='store_true', help='only redraw figures/ablation_lasium.{png,pdf} from the records')
    a = p.parse_args()
    if not a.figure_only: main(a)
    figure()
