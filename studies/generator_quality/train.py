"""Train one generator of the generator-quality study (GAN, VAE, SS-GAN, or the FD feature net) and record its timings.

Settings: config.yaml (`train.<model>`, `ssgan_labels`, `features_held_out`, `data`, `threads`). Run from anywhere:

    OMP_NUM_THREADS=1 .venv/bin/python studies/generator_quality/train.py gan --data ../shared/data

Resumes exactly when run again with the same settings. Writes <work-dir>/generative/omniglot-<model>/{last,final}.pt
(the feature net: <work-dir>/fd/omniglot-features/) and the record <out>/<model>.json.
"""
import json, platform, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from study_config import load_config, study_parser, parse_study_args, relative  # noqa: E402

import torch  # noqa: E402
from ssml.data import load_omniglot  # noqa: E402
from ssml.gentrain import train_generative  # noqa: E402

MODELS = ('gan', 'vae', 'ssgan', 'features')


def run_dir(work_dir, kind):
    "Where a model's checkpoints go under the work folder."
    return Path(work_dir) / ('fd' if kind == 'features' else 'generative') / f'omniglot-{kind}'


def main(kind, cfg, work_dir, out):
    if kind not in MODELS: raise ValueError(f"model must be one of {MODELS}, got {kind!r}")
    torch.set_num_threads(cfg['threads'])
    kw = dict(cfg['train'][kind])
    train = load_omniglot(**cfg['data']).split('train')
    extra, record = {}, {}
    if kind == 'ssgan':
        from ssml.labels import label_mask
        extra['mask'] = label_mask(train.labels, **cfg['ssgan_labels'])
        record['labels'] = dict(cfg['ssgan_labels'], n_labeled=int(extra['mask'].sum()))
    if kind == 'features':  # train on the first drawings of each character, test on the held-out last ones
        pos = torch.empty(len(train), dtype=torch.int64)
        for c in range(train.n_classes):
            i = (train.labels == c).nonzero().squeeze(1); pos[i] = torch.arange(len(i))
        keep = int(pos.max()) + 1 - cfg['features_held_out']
        held_out, train = train.subset(pos >= keep), train.subset(pos < keep)
        record['held_out'] = f"{cfg['features_held_out']} of the {keep + cfg['features_held_out']} drawings of every train-split character"
    rd = run_dir(work_dir, kind)
    t0 = time.time()
    r = train_generative(kind, train, rd, ckpt_every=cfg['train']['ckpt_every'], **kw, **extra)
    record.update(kind=kind, data='omniglot %s split seed %d, train: %d images, %d classes, 28x28' % (cfg['data']['split'], cfg['data']['seed'], len(train), train.n_classes),
                  settings=kw, threads=torch.get_num_threads(), machine=platform.processor() or platform.machine(),
                  steps=r.step, steps_per_epoch=len(train) // kw['batch_size'], done=r.done, stop_reason=r.stop_reason,
                  train_seconds_total=round(r.elapsed_s, 1), epoch_seconds=[round(s, 1) for s in r.epoch_seconds],
                  mean_epoch_seconds=round(sum(r.epoch_seconds) / max(1, len(r.epoch_seconds)), 1),
                  history=r.history, run_dir=relative(rd), wall_seconds_this_session=round(time.time() - t0, 1))
    if kind == 'features':
        with torch.no_grad():
            pred = torch.cat([r.model(held_out.images[i:i + 500].float() / 255).argmax(1) for i in range(0, len(held_out), 500)])
        record['held_out_accuracy'] = (pred == held_out.labels).float().mean().item()
    out.mkdir(parents=True, exist_ok=True)
    (out / f'{kind}.json').write_text(json.dumps(record, indent=1))
    print('wrote', out / f'{kind}.json')


if __name__ == '__main__':
    p = study_parser(__doc__, paths=('data', 'work_dir', 'out'))
    p.add_argument('model', choices=MODELS)
    a = parse_study_args(p, HERE)
    main(a.model, load_config(HERE, a.overrides), a.work_dir, a.out)
