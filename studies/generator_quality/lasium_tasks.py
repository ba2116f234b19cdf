"""Figure of generated LASIUM tasks (figures/lasium_tasks.{png,pdf}) and a class-separation diagnostic.

The tasks drawn are kept in results/issue3/lasium_tasks.pt (uint8), and the figure is drawn from that record
(`ssml.figures.lasium_task_figure`), so `ssml reproduce` redraws it without the generators.

Run from the project root:

    SSML_DATA=../shared/data python benchmarks/fig_lasium_tasks.py

One panel per model (GAN, VAE) and variant (LASIUM-N, -RO, -OC): a 5-way task, rows = classes, columns = the
K = 1 support image (the anchor, left of the red line) and Q = 5 queries. The diagnostic is the mean pixel L2
distance between images of the same class and of different classes over `--diag-tasks` generated tasks per
variant, next to the same numbers for real Omniglot training tasks of the same shape. The last line printed is
one JSON object.
"""
import argparse, json, sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from ssml.core import TaskBatch, class_major_labels  # noqa: E402
from ssml.lasium import LasiumSampler, VARIANTS, class_distances  # noqa: E402


def real_tasks(imageset, n_tasks, n_way, k_shot, q_query, seed=0):
    "Labeled Omniglot tasks of the same shape, for reference (N classes, K + Q images each, class-major)."
    g = torch.Generator().manual_seed(seed)
    x, y = imageset.float_images(), imageset.labels
    by_class = [torch.nonzero(y == c).squeeze(1) for c in range(imageset.n_classes)]
    sx, qx = [], []
    for _ in range(n_tasks):
        classes = torch.randperm(imageset.n_classes, generator=g)[:n_way]
        idx = torch.stack([by_class[c][torch.randperm(len(by_class[c]), generator=g)[:k_shot + q_query]] for c in classes])
        sx.append(x[idx[:, :k_shot].flatten()]); qx.append(x[idx[:, k_shot:].flatten()])
    return TaskBatch(torch.stack(sx), class_major_labels(n_way, k_shot).repeat(n_tasks, 1), torch.stack(qx),
                     class_major_labels(n_way, q_query).repeat(n_tasks, 1), n_way, 'labeled:omniglot/train')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--gan', default=str(ROOT / 'runs/generative/omniglot-gan/final.pt'))
    p.add_argument('--vae', default=str(ROOT / 'runs/generative/omniglot-vae/final.pt'))
    p.add_argument('--out', default=str(ROOT / 'figures/lasium_tasks'))
    p.add_argument('--record', default=str(ROOT / 'results/issue3/lasium_tasks.pt'), help='where the drawn tasks are kept (uint8)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--n-way', type=int, default=5)
    p.add_argument('--k-shot', type=int, default=1)
    p.add_argument('--q-query', type=int, default=5)
    p.add_argument('--diag-tasks', type=int, default=200)
    p.add_argument('--threads', type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    from ssml.data import load_omniglot
    from ssml.generative import load_generative
    train = load_omniglot(download=False).split('train')
    N, K, Q = a.n_way, a.k_shot, a.q_query
    panels, diag = {}, {}
    for kind in ('gan', 'vae'):
        model = load_generative(getattr(a, kind), device='cpu')
        for v in VARIANTS:
            s = LasiumSampler(model, v, N, K, Q, seed=a.seed, anchor_images=train if kind == 'vae' else None)
            par = f"σ={s.sigma}" if v == 'n' else f"α={s.alpha}"
            panels[f"{kind.upper()} · LASIUM-{v.upper()} ({par}, ε={s.eps:.2f})"] = s.sample(1)
            d = class_distances(s.sample(a.diag_tasks))
            diag[f"{kind}-{v}"] = {k: round(x, 3) for k, x in d.items()} | dict(eps=round(s.eps, 4), sigma=s.sigma, alpha=s.alpha)
            print(f"{kind} LASIUM-{v.upper():2s}: within-class {d['within']:.3f}, between-class {d['between']:.3f}, "
                  f"ratio {d['ratio']:.3f}  ({par}, ε={s.eps:.3f})", flush=True)
    d = class_distances(real_tasks(train, a.diag_tasks, N, K, Q, a.seed))
    diag['real-omniglot'] = {k: round(x, 3) for k, x in d.items()}
    print(f"real Omniglot tasks: within-class {d['within']:.3f}, between-class {d['between']:.3f}, ratio {d['ratio']:.3f}")
    from ssml.core import task_record
    Path(a.record).parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(panels={k: task_record(tb) for k, tb in panels.items()},
                    suptitle=f"LASIUM {N}-way tasks on Omniglot: rows = classes; left of the red line the support image "
                             f"(the anchor), right {Q} queries", ncols=3,
                    models=dict(gan=a.gan, vae=a.vae), seed=a.seed, pixel_l2=diag), a.record)
    from ssml.figures import lasium_task_figure
    paths = lasium_task_figure(a.record, a.out)
    print(json.dumps(dict(figure=[str(p) for p in paths], record=a.record, n_way=N, k_shot=K,
                          q_query=Q, diag_tasks=a.diag_tasks, pixel_l2=diag)))


if __name__ == '__main__':
    main()
