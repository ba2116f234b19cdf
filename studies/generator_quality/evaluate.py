"""Frechet distances of the generator-quality study's models, and the record of the samples its figures show.

Settings: config.yaml (`evaluate`, `data`, `threads`, `ssgan_labels`). After train.py has trained the models and
the feature net; run from anywhere:

    OMP_NUM_THREADS=1 .venv/bin/python studies/generator_quality/evaluate.py --data ../shared/data [--samples-only]

Writes <out>/fd.json (not with --samples-only) and <out>/samples.pt (the images shown, uint8: `evaluate.n_shown`
per model and as many real images), and from it figures/samples_*.{png,pdf} and the pair figure (e.g.
figures/gan_vs_ssgan.{png,pdf}) with `ssml.study_figures.sample_figures`; `make reproduce` redraws them from the record.
"""
import json, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from study_config import load_config, study_parser, parse_study_args  # noqa: E402

import torch  # noqa: E402
from ssml.data import load_omniglot  # noqa: E402
from ssml.gentrain import load_generative, _to_float  # noqa: E402
from ssml.frechet import image_features, sample_images, frechet_distance  # noqa: E402


def record_samples(train, ev, perm, work_dir, out, fig_dir):
    "Write <out>/samples.pt (what the sample figures show) and draw the figures from it."
    from ssml.core import to_uint8
    from ssml.study_figures import sample_figures
    kinds, n = ev['models'], ev['n_shown']
    images = {'real': to_uint8(_to_float(train.images[perm[-n:]]))}
    for kind in kinds:
        images[kind] = to_uint8(sample_images(load_generative(Path(work_dir) / 'generative' / f'omniglot-{kind}'), n, seed=ev['shown_seed']))
    pair = ev['pair'] if set(ev['pair'].values()) <= set(kinds) else {}
    rec = out / 'samples.pt'
    out.mkdir(parents=True, exist_ok=True)
    torch.save(dict(images=images, titles={k: ev['titles'][k] for k in ['real', *kinds]}, pair=pair,
                    sampled=f"real: the last {n} of a seed-{ev['seed']} permutation of the train split; models: "
                            f"sample_images(model, {n}, seed={ev['shown_seed']}) from runs/generative/omniglot-<kind>"), rec)
    return sample_figures(rec, fig_dir)


def main(cfg, work_dir, out, fig_dir, samples_only=False):
    torch.set_num_threads(cfg['threads'])
    ev, N = cfg['evaluate'], cfg['evaluate']['n_images']
    train = load_omniglot(**cfg['data']).split('train')
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(ev['seed']))
    if samples_only: return record_samples(train, ev, perm, work_dir, out, fig_dir)
    net = load_generative(Path(work_dir) / 'fd' / 'omniglot-features')
    ref, other = train.images[perm[:N]], train.images[perm[N:2 * N]]
    t0 = time.time()
    f_ref = image_features(net, ref)
    split = f"{cfg['data']['split']} split, seed {cfg['data']['seed']}"
    out_rec = dict(n_images=N, seed=ev['seed'], reference=f'{N} random Omniglot train-split images ({split})',
                   feature_net='runs/fd/omniglot-features (FeatureNet, 128-d pooled features)',
                   fd={'real_vs_real': frechet_distance(image_features(net, other), f_ref)},
                   spread_note=f"fd_other_seeds: the same models with samples drawn by seeds {' and '.join(map(str, ev['spread_seeds']))}, "
                               f"and real_vs_real with the second half taken from other disjoint sets of {N} train images "
                               f"(sampling noise only; each model was trained once, with seed 0)",
                   fd_other_seeds={'real_vs_real': [frechet_distance(image_features(net, train.images[perm[(k + 1) * N:(k + 2) * N]]), f_ref)
                                                    for k in ev['spread_seeds']]})
    for kind in ev['models']:
        model = load_generative(Path(work_dir) / 'generative' / f'omniglot-{kind}')
        x = sample_images(model, N, seed=ev['seed'])
        out_rec['fd'][kind] = frechet_distance(image_features(net, x), f_ref)
        out_rec['fd_other_seeds'][kind] = [frechet_distance(image_features(net, sample_images(model, N, seed=s)), f_ref)
                                           for s in ev['spread_seeds']]
        if kind == 'ssgan':  # the class head as a classifier of the training images whose labels were hidden
            from ssml.labels import label_mask
            hidden = ~label_mask(train.labels, **cfg['ssgan_labels'])
            with torch.no_grad():
                pred = torch.cat([model.classify(_to_float(train.images[hidden][i:i + 500])).argmax(1)
                                  for i in range(0, int(hidden.sum()), 500)])
            out_rec['ssgan_class_head_accuracy_on_unlabeled_train_images'] = (pred == train.labels[hidden]).float().mean().item()
    out_rec['seconds'] = round(time.time() - t0, 1)
    out_rec['fd'] = {k: round(v, 3) for k, v in out_rec['fd'].items()}
    out_rec['fd_other_seeds'] = {k: [round(v, 3) for v in vs] for k, vs in out_rec['fd_other_seeds'].items()}
    print(json.dumps(out_rec, indent=1))
    out.mkdir(parents=True, exist_ok=True)
    (out / 'fd.json').write_text(json.dumps(out_rec, indent=1))
    return record_samples(train, ev, perm, work_dir, out, fig_dir)


if __name__ == '__main__':
    p = study_parser(__doc__, paths=('data', 'work_dir', 'out', 'fig_dir'))
    p.add_argument('--samples-only', action='store_true', help='only record the samples shown and draw their figures')
    a = parse_study_args(p, HERE)
    main(load_config(HERE, a.overrides), a.work_dir, a.out, a.fig_dir, a.samples_only)
