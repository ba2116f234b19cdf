"""A synthetic pipeline for the tests of the run machinery (records, CSV, hashing, sweeps, figures): seconds, no data.

`synthetic_run(args)` has the shape of `ssml.pipeline.run`: few-shot classification of synthetic Gaussian classes by
nearest centroid.
- 64 training and 32 test classes in 32 dimensions; class means ~ N(0, I), within-class noise with standard
  deviations spread over [0.5, 6] per dimension (so a good metric matters).
- The "generator" is the per-dimension total variance of half of the unlabeled training points, trained once per
  `gen_hash` and shared through `ssml.pipeline.ensure_generator`, as a real generator is.
- Labeled points (chosen by `scheme` and `label_fraction`) give the within-class variance; the metric whitens by
  what the method knows. More labels, a better metric, a higher accuracy.
Its numbers say nothing about meta-learning.
"""
import json, time
from pathlib import Path

import numpy as np

from ssml.config import RunArgs, USES_LABELS
from ssml.core import mean_ci95, write_json, stream_seed
from ssml.pipeline import ensure_generator


def _world(dim=32, n_train=64, n_test=32, per_class=20):
    rng = np.random.default_rng(10_000)
    scale = np.logspace(np.log10(0.5), np.log10(6), dim)
    def draw(n): return rng.normal(size=(n, 1, dim)) + scale * rng.normal(size=(n, per_class, dim))
    return draw(n_train), draw(n_test)


def synthetic_train_generator(args: RunArgs, path: Path):
    "Fit the synthetic 'generator' (per-dimension total variance of half the training points) and save it to `path`."
    train, _ = _world()
    pts = train.reshape(-1, train.shape[-1])
    pts = pts[np.random.default_rng(stream_seed(args.gen_seed, 'generator')).permutation(len(pts))[:len(pts) // 2]]
    time.sleep(min(0.5, 0.001 * args.gen_steps))  # stands in for training time, so concurrent workers overlap
    with open(path.parent/'train.log', 'a') as f: f.write(f"trained for run {args.run_id()}\n")
    write_json({'total_var': pts.var(0).tolist()}, path)


def _labeled(n_classes, per_class, scheme, fraction, rng):
    lab = np.zeros((n_classes, per_class), dtype=bool)
    if scheme == 'instances':
        k = max(1, int(round(fraction * per_class)))
        for c in range(n_classes): lab[c, rng.choice(per_class, k, replace=False)] = True
    elif scheme == 'classes': lab[rng.choice(n_classes, max(1, int(round(fraction * n_classes))), replace=False)] = True
    else: lab.flat[rng.choice(lab.size, max(1, int(round(fraction * lab.size))), replace=False)] = True
    return lab


def synthetic_run(args: RunArgs) -> dict:
    "Nearest-centroid few-shot accuracy on synthetic Gaussian classes; the output format of `ssml.pipeline.run`."
    train, test = _world()
    rng = np.random.default_rng(stream_seed(args.seed, 'labels'))
    dim, out, var = train.shape[-1], {'pipeline': 'synthetic'}, np.ones(train.shape[-1])
    if args.gen_kind is not None:
        gpath = ensure_generator(args, synthetic_train_generator)
        var = np.asarray(json.loads(Path(gpath).read_text())['total_var']) / 2
        out['generator'] = {'id': gpath.parent.name, 'steps': args.gen_steps}
    if args.method in USES_LABELS or args.method == 'oracle':
        oracle = args.method == 'oracle'
        lab = _labeled(train.shape[0], train.shape[1], 'instances' if oracle else args.scheme, 1.0 if oracle else args.label_fraction, rng)
        dev = [train[c, lab[c]] - train[c, lab[c]].mean(0) for c in range(train.shape[0]) if lab[c].sum() >= 2]
        n_dof = sum(len(d) - 1 for d in dev)
        if n_dof:
            w = n_dof / (n_dof + 50)  # shrinkage toward the prior variance
            var = w * sum((d ** 2).sum(0) for d in dev) / n_dof + (1 - w) * var
        out['n_labeled'] = int(lab.sum())
    out['train'] = {'step': args.meta_steps, 'history': [{'step': args.meta_steps, 'loss': float(var.mean())}]}
    out['evals'] = []
    for (n, k) in args.eval_pairs():
        trng = np.random.default_rng(args.task_list_seed)  # the same test tasks for every run
        acc = []
        for _ in range(args.n_test_tasks):
            c = trng.choice(test.shape[0], size=n, replace=False)
            inst = np.stack([trng.permutation(test.shape[1])[:k + args.q_query] for _ in range(n)])
            x = test[c[:, None], inst] / np.sqrt(var)
            proto, q = x[:, :k].mean(1), x[:, k:].reshape(-1, dim)
            pred = ((q[:, None] - proto[None]) ** 2).sum(-1).argmin(1)
            acc.append((pred == np.repeat(np.arange(n), args.q_query)).mean())
        m, ci = mean_ci95(acc)
        out['evals'].append(dict(n_way=n, k_shot=k, accuracy=m, ci95=ci, n_tasks=len(acc)))
    return out

def sleepy_run(args: RunArgs) -> dict:
    "`synthetic_run` after writing the run id to `$SSML_TEST_CALLS` and sleeping `$SSML_TEST_SLEEP` seconds (a long run to interrupt)."
    import os
    with open(os.environ['SSML_TEST_CALLS'], 'a') as f: f.write(args.run_id() + '\n')
    time.sleep(float(os.environ.get('SSML_TEST_SLEEP', '60')))
    return synthetic_run(args)
