"""Train the issue-3 Omniglot models (GAN, VAE, SS-GAN, FD feature net) on 1 CPU thread and record their timings.

Usage (from the project root, SSML_DATA pointing at the data):
    OMP_NUM_THREADS=1 .venv/bin/python results/issue3/train_omniglot.py gan
Resumes exactly when run again with the same arguments. Writes runs/generative/omniglot-<kind>/{last,final}.pt
and results/issue3/<kind>.json.
"""
import json, os, platform, sys, time
from pathlib import Path

import torch

from ssml.data import load_omniglot
from ssml.generative import train_generative

ROOT = Path(__file__).resolve().parents[2]
RUNS = {  # settings of the runs reported in results/issue3
    'gan': dict(epochs=20, minutes=60, batch_size=128, seed=0, latent_dim=128, width=64, ms_weight=1.0),
    'vae': dict(epochs=15, minutes=20, batch_size=128, seed=0, latent_dim=64, width=64),
    'ssgan': dict(epochs=20, minutes=30, batch_size=128, seed=0, latent_dim=128, width=64, ms_weight=1.0, cls_weight=1.0),
    'features': dict(epochs=6, minutes=15, batch_size=128, seed=0, width=64),
}
LABELS = dict(scheme='instances', fraction=0.1, seed=0)  # SS-GAN: 10% of the images of every class labeled


def main(kind):
    torch.set_num_threads(1)
    kw = dict(RUNS[kind])
    train = load_omniglot(split='lasium').split('train')
    extra, record = {}, {}
    if kind == 'ssgan':
        from ssml.labels import label_mask
        extra['mask'] = label_mask(train.labels, **LABELS)
        record['labels'] = dict(LABELS, n_labeled=int(extra['mask'].sum()))
    if kind == 'features':  # train on 18 of the 20 drawings of each character, test on the other 2
        pos = torch.empty(len(train), dtype=torch.int64)
        for c in range(train.n_classes):
            i = (train.labels == c).nonzero().squeeze(1); pos[i] = torch.arange(len(i))
        held_out, train = train.subset(pos >= 18), train.subset(pos < 18)
        record['held_out'] = '2 of the 20 drawings of every train-split character'
    run_dir = ROOT / 'runs' / ('fd' if kind == 'features' else 'generative') / f'omniglot-{kind}'
    t0 = time.time()
    r = train_generative(kind, train, run_dir, ckpt_every=100, **kw, **extra)
    record.update(kind=kind, data='omniglot lasium split seed 0, train: %d images, %d classes, 28x28' % (len(train), train.n_classes),
                  settings=kw, threads=torch.get_num_threads(), machine=platform.processor() or platform.machine(),
                  steps=r.step, steps_per_epoch=len(train) // kw['batch_size'], done=r.done, stop_reason=r.stop_reason,
                  train_seconds_total=round(r.elapsed_s, 1), epoch_seconds=[round(s, 1) for s in r.epoch_seconds],
                  mean_epoch_seconds=round(sum(r.epoch_seconds) / max(1, len(r.epoch_seconds)), 1),
                  history=r.history, run_dir=str(run_dir.relative_to(ROOT)), wall_seconds_this_session=round(time.time() - t0, 1))
    if kind == 'features':
        with torch.no_grad():
            pred = torch.cat([r.model(held_out.images[i:i + 500].float() / 255).argmax(1) for i in range(0, len(held_out), 500)])
        record['held_out_accuracy'] = (pred == held_out.labels).float().mean().item()
    out = ROOT / 'results' / 'issue3' / f'{kind}.json'
    out.write_text(json.dumps(record, indent=1))
    print('wrote', out)


if __name__ == '__main__':
    main(sys.argv[1])
