"""LASIUM tasks of the generator-quality study's generators (figures/lasium_tasks.{png,pdf}) and a class-separation diagnostic.

Settings: config.yaml (`lasium_tasks`, `data`, `threads`). After train.py has trained the GAN and the VAE; run
from anywhere:

    .venv/bin/python studies/generator_quality/lasium_tasks.py --data ../shared/data

The tasks drawn are kept in <out>/lasium_tasks.pt (uint8), and the figure is drawn from that record
(`ssml.study_figures.lasium_task_figure`), so `make reproduce` redraws it without the generators.

One panel per model (GAN, VAE) and variant (LASIUM-N, -RO, -OC): an N-way task, rows = classes, columns = the
K support images (the anchor, left of the red line) and Q queries. The diagnostic is the mean pixel L2
distance between images of the same class and of different classes over `lasium_tasks.diag_tasks` generated tasks
per variant, next to the same numbers for real Omniglot training tasks of the same shape. The last line printed is
one JSON object.
"""
import json, sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from study_config import load_config, study_parser, parse_study_args, relative  # noqa: E402

import torch  # noqa: E402
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


def main(cfg, work_dir, out, fig_dir):
    c = cfg['lasium_tasks']
    torch.set_num_threads(cfg['threads'])
    from ssml.data import load_omniglot
    from ssml.gentrain import load_generative
    train = load_omniglot(download=False, **cfg['data']).split('train')
    N, K, Q = c['n_way'], c['k_shot'], c['q_query']
    models = {kind: Path(work_dir) / 'generative' / f'omniglot-{kind}' / 'final.pt' for kind in c['models']}
    panels, diag = {}, {}
    for kind, path in models.items():
        model = load_generative(path, device='cpu')
        for v in VARIANTS:
            s = LasiumSampler(model, v, N, K, Q, seed=c['seed'], anchor_images=train if kind == 'vae' else None)
            par = f"σ={s.sigma}" if v == 'n' else f"α={s.alpha}"
            panels[f"{kind.upper()} · LASIUM-{v.upper()} ({par}, ε={s.eps:.2f})"] = s.sample(1)
            d = class_distances(s.sample(c['diag_tasks']))
            diag[f"{kind}-{v}"] = {k: round(x, 3) for k, x in d.items()} | dict(eps=round(s.eps, 4), sigma=s.sigma, alpha=s.alpha)
            print(f"{kind} LASIUM-{v.upper():2s}: within-class {d['within']:.3f}, between-class {d['between']:.3f}, "
                  f"ratio {d['ratio']:.3f}  ({par}, ε={s.eps:.3f})", flush=True)
    d = class_distances(real_tasks(train, c['diag_tasks'], N, K, Q, c['seed']))
    diag['real-omniglot'] = {k: round(x, 3) for k, x in d.items()}
    print(f"real Omniglot tasks: within-class {d['within']:.3f}, between-class {d['between']:.3f}, ratio {d['ratio']:.3f}")
    from ssml.core import task_record
    record = Path(out) / 'lasium_tasks.pt'
    record.parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(panels={k: task_record(tb) for k, tb in panels.items()},
                    suptitle=f"LASIUM {N}-way tasks on Omniglot: rows = classes; left of the red line the support image "
                             f"(the anchor), right {Q} queries", ncols=3,
                    models={k: relative(p) for k, p in models.items()}, seed=c['seed'], pixel_l2=diag), record)
    from ssml.study_figures import lasium_task_figure
    paths = lasium_task_figure(record, Path(fig_dir) / 'lasium_tasks')
    print(json.dumps(dict(figure=[relative(p) for p in paths], record=relative(record), n_way=N, k_shot=K,
                          q_query=Q, diag_tasks=c['diag_tasks'], pixel_l2=diag)))


if __name__ == '__main__':
    p = study_parser(__doc__, paths=('data', 'work_dir', 'out', 'fig_dir'))
    a = parse_study_args(p, HERE)
    main(load_config(HERE, a.overrides), a.work_dir, a.out, a.fig_dir)
