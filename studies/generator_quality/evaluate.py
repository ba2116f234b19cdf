"""Fréchet distances and sample figures of the issue-3 Omniglot models (after train_omniglot.py).

Usage (from the project root, SSML_DATA pointing at the data):
    OMP_NUM_THREADS=1 .venv/bin/python results/issue3/evaluate_omniglot.py [--samples-only] [gan vae ssgan]
Writes results/issue3/fd.json (not with --samples-only), the record of the samples shown,
results/issue3/samples.pt (64 per model and 64 real images, uint8), and from it figures/samples_*.{png,pdf} and
figures/gan_vs_ssgan.{png,pdf} (`ssml.figures.sample_figures`; `ssml reproduce` redraws them from the record).
"""
import json, sys, time
from pathlib import Path

import torch

from ssml.data import load_omniglot
from ssml.generative import load_generative, image_features, sample_images, frechet_distance, _to_float

ROOT = Path(__file__).resolve().parents[2]
N_FD, SEED, SPREAD_SEEDS = 5000, 0, (1, 2)
NAMES = {'gan': 'GAN (MSGAN)', 'vae': 'VAE', 'ssgan': 'SS-GAN'}


def record_samples(train, kinds, perm):
    "Write results/issue3/samples.pt (what the sample figures show) and draw the figures from it."
    from ssml.core import to_uint8
    from ssml.figures import sample_figures
    images = {'real': to_uint8(_to_float(train.images[perm[-64:]]))}
    for kind in kinds:
        images[kind] = to_uint8(sample_images(load_generative(ROOT / 'runs' / 'generative' / f'omniglot-{kind}'), 64, seed=1))
    rec = ROOT / 'results' / 'issue3' / 'samples.pt'
    torch.save(dict(images=images, titles={'real': 'Omniglot (real)', **{k: NAMES[k] for k in kinds}},
                    pair={'GAN (MSGAN)': 'gan', 'SS-GAN (10% labels)': 'ssgan'} if {'gan', 'ssgan'} <= set(kinds) else {},
                    sampled='real: the last 64 of a seed-0 permutation of the train split; models: sample_images(model, 64, seed=1) '
                            'from runs/generative/omniglot-<kind>'), rec)
    return sample_figures(rec, ROOT / 'figures')


def main(kinds, samples_only=False):
    torch.set_num_threads(1)
    train = load_omniglot(split='lasium').split('train')
    if samples_only:
        perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(SEED))
        return record_samples(train, kinds, perm)
    net = load_generative(ROOT / 'runs' / 'fd' / 'omniglot-features')
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(SEED))
    ref, other = train.images[perm[:N_FD]], train.images[perm[N_FD:2 * N_FD]]
    t0 = time.time()
    f_ref = image_features(net, ref)
    out = dict(n_images=N_FD, seed=SEED, reference='5000 random Omniglot train-split images (lasium split, seed 0)',
               feature_net='runs/fd/omniglot-features (FeatureNet, 128-d pooled features)',
               fd={'real_vs_real': frechet_distance(image_features(net, other), f_ref)},
               spread_note='fd_other_seeds: the same models with samples drawn by seeds 1 and 2, and real_vs_real with the '
                           'second half taken from two other disjoint sets of 5000 train images (sampling noise only; '
                           'each model was trained once, with seed 0)',
               fd_other_seeds={'real_vs_real': [frechet_distance(image_features(net, train.images[perm[(k + 1) * N_FD:(k + 2) * N_FD]]), f_ref)
                                                for k in SPREAD_SEEDS]})
    for kind in kinds:
        path = ROOT / 'runs' / 'generative' / f'omniglot-{kind}'
        model = load_generative(path)
        x = sample_images(model, N_FD, seed=SEED)
        out['fd'][kind] = frechet_distance(image_features(net, x), f_ref)
        out['fd_other_seeds'][kind] = [frechet_distance(image_features(net, sample_images(model, N_FD, seed=s)), f_ref)
                                       for s in SPREAD_SEEDS]
        if kind == 'ssgan':  # the class head as a classifier of the training images whose labels were hidden
            from ssml.labels import label_mask
            hidden = ~label_mask(train.labels, 'instances', 0.1, 0)
            with torch.no_grad():
                pred = torch.cat([model.classify(_to_float(train.images[hidden][i:i + 500])).argmax(1)
                                  for i in range(0, int(hidden.sum()), 500)])
            out['ssgan_class_head_accuracy_on_unlabeled_train_images'] = (pred == train.labels[hidden]).float().mean().item()
    out['seconds'] = round(time.time() - t0, 1)
    out['fd'] = {k: round(v, 3) for k, v in out['fd'].items()}
    out['fd_other_seeds'] = {k: [round(v, 3) for v in vs] for k, vs in out['fd_other_seeds'].items()}
    print(json.dumps(out, indent=1))
    (ROOT / 'results' / 'issue3' / 'fd.json').write_text(json.dumps(out, indent=1))
    record_samples(train, kinds, perm)


if __name__ == '__main__':
    args = [a for a in sys.argv[1:] if a != '--samples-only']
    main(args or ['gan', 'vae', 'ssgan'], samples_only='--samples-only' in sys.argv[1:])
