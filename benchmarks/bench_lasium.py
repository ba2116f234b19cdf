"""Throughput of LASIUM task generation: tasks per second for each variant (N, RO, OC) and model (GAN, VAE).

Run from the project root (or as `ssml bench lasium [args]`):

    python benchmarks/bench_lasium.py                    # trained Omniglot models if present, CPU, 1 thread
    python benchmarks/bench_lasium.py --device cuda --threads 4 --tasks 32

Models come from runs/generative/omniglot-{gan,vae}/final.pt; where one is missing, an untrained model of the
default architecture stands in (throughput does not depend on the weights) and the result says `trained: false`.
VAE anchors are encodings of the Omniglot training split (random images when the data is absent). Each line
gives the full rate (latents + one decode call + TaskBatch) and the latents-only rate; the last line is one JSON
object with every number.
"""
import argparse, json, sys, time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from ssml.lasium import LasiumSampler, VARIANTS  # noqa: E402


def load_model(kind, path, device):
    "The trained model at `path`, else an untrained one of the default architecture."
    from ssml.generative import make_model
    from ssml.gentrain import load_generative
    if Path(path).is_file(): return load_generative(path, device=device), True
    return make_model(kind).to(device).eval(), False


def anchor_images():
    "Omniglot training images (uint8), or random stand-ins when the data is absent."
    try:
        from ssml.data import load_omniglot
        return load_omniglot(download=False).split('train').images, 'omniglot/train'
    except Exception as e:  # no data here: the rate barely depends on which images are encoded
        print(f"# Omniglot not available ({type(e).__name__}: {e}); VAE anchors from random images", file=sys.stderr)
        return (torch.rand(2000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8), 'random'


def rate(fn, n_tasks, seconds, sync):
    "Tasks per second of `fn(n_tasks)`, after one warm-up call, over at least `seconds` and 3 calls."
    fn(n_tasks); sync()
    calls, t0 = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - t0 < seconds:
        fn(n_tasks); calls += 1
    sync()
    return calls * n_tasks / (time.perf_counter() - t0)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--gan', default=str(ROOT / 'runs/generative/omniglot-gan/final.pt'))
    p.add_argument('--vae', default=str(ROOT / 'runs/generative/omniglot-vae/final.pt'))
    p.add_argument('--models', nargs='*', default=['gan', 'vae'], choices=['gan', 'vae'])
    p.add_argument('--variants', nargs='*', default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument('--n-way', type=int, default=5)
    p.add_argument('--k-shot', type=int, default=1)
    p.add_argument('--q-query', type=int, default=5)
    p.add_argument('--tasks', type=int, default=32, help='tasks per meta-batch (one sample() call)')
    p.add_argument('--seconds', type=float, default=3.0, help='minimum timing per measurement')
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == 'cuda' else (lambda: None)
    results, images, images_src = [], None, None
    for kind in a.models:
        model, trained = load_model(kind, getattr(a, kind), dev)
        if kind == 'vae' and images is None: images, images_src = anchor_images()
        for variant in a.variants:
            t0 = time.perf_counter()
            s = LasiumSampler(model, variant, a.n_way, a.k_shot, a.q_query, seed=0,
                              anchor_images=images if kind == 'vae' else None)
            setup = time.perf_counter() - t0
            full = rate(s.sample, a.tasks, a.seconds, sync)
            lat = rate(s.latents, a.tasks, a.seconds, sync)
            r = dict(model=kind, trained=trained, variant=variant, latent_dim=s.latent_dim, eps=round(s.eps, 4),
                     tasks_per_s=round(full, 1), images_per_s=round(full * a.n_way * (a.k_shot + a.q_query), 1),
                     latents_tasks_per_s=round(lat, 1), setup_s=round(setup, 3))
            results.append(r)
            print(f"{kind} ({'trained' if trained else 'untrained'}, d={s.latent_dim}) LASIUM-{variant.upper():2s} "
                  f"{a.n_way}-way {a.k_shot}-shot {a.q_query}-query, {a.tasks} tasks/call: {full:9.1f} tasks/s "
                  f"({r['images_per_s']:.0f} images/s); latents only {lat:9.1f} tasks/s; setup {setup:.2f}s", flush=True)
    out = dict(benchmark='lasium', device=str(dev), threads=a.threads, torch=torch.__version__, n_way=a.n_way,
               k_shot=a.k_shot, q_query=a.q_query, tasks_per_call=a.tasks, vae_anchor_images=images_src,
               results=results)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
