"""Microseconds per convolution kernel of the fused MAML's shapes: the grouped call it makes against other ways of
computing the same thing.

The fused MAML (`ssml.maml.maml_loss_fused`) runs the meta-batch's B tasks as one grouped convolution per layer
(groups = tasks). At 1 thread its convolutions alone take about half the per-task loop's time, so a faster
convolution is the only way below a ratio of 0.5. This times, for every layer of the Omniglot Conv4 (stride 2,
3x3, 64 channels; inputs 1x28x28, 64x14x14, 64x7x7, 64x4x4), the support (n=5 images per task) and query (n=25)
batches, and each thread count:

- `fwd`, `dgrad`, `wgrad`: the grouped kernels the library calls (forward, input gradient, weight gradient);
- `*_per_task`: the same as B ungrouped calls, one per task (what the per-task loop runs);
- `dgrad_convT`: the input gradient as `conv_transpose2d`; `dgrad_bmm_fold`: as a batched matmul and `fold` (col2im);
  `dgrad_phases`: as four stride-1 convolutions, one per output phase (no multiplications by inserted zeros).

Each variant is checked against the grouped kernel, then timed in interleaved rounds (the minimum over rounds).
glibc returns large freed blocks to the system and maps fresh pages for the next one, so a kernel timed alone in a
loop pays page faults for its output that it does not pay inside a meta-iteration (the benchmark's outputs differ
by up to 2x between processes); `--keep-freed-memory` (the default) sets glibc's thresholds with `mallopt` so that
freed blocks stay in the heap, as they do in a warmed-up training loop. The last line printed is one JSON object.

    .venv/bin/python studies/maml_speed/conv_kernels.py | tail -1 > conv_kernels.json   # records/conv_kernels.json
    .venv/bin/python studies/maml_speed/conv_kernels.py --no-keep-freed-memory             # records/conv_kernels_freed_memory_returned.json
"""
import argparse, ctypes, json, platform, sys, time

import torch
import torch.nn.functional as F

conv_bwd = torch.ops.aten.convolution_backward
LAYERS = [(1, 28), (64, 14), (64, 7), (64, 4)]  # (input channels, input size) of the Omniglot Conv4's blocks


def keep_freed_memory():
    "glibc: never return freed blocks to the system, never serve allocations by fresh mmap (M_TRIM/M_MMAP_THRESHOLD); False where there is no glibc."
    try: libc = ctypes.CDLL('libc.so.6')
    except OSError:
        print("keep_freed_memory: no glibc here (libc.so.6 not found); timing with the system allocator as it is", file=sys.stderr)
        return False
    return bool(libc.mallopt(-1, 1 << 30)) and bool(libc.mallopt(-3, 1 << 30))


def dgrad_phases(go, w, B, H):
    "Input gradient of conv2d(x, w, stride 2, padding 1, groups B), x of size H x H: one stride-1 conv per output phase."
    n, _, h, _ = go.shape
    wt = w.view(B, -1, w.shape[1], 3, 3).transpose(1, 2).reshape(-1, w.shape[0] // B, 3, 3)
    taps = {0: [1], 1: [2, 0]}  # even outputs see the middle tap, odd outputs the outer two
    gp, out = F.pad(go, (0, 1, 0, 1)), go.new_empty(n, wt.shape[0], H, H)
    for a in (0, 1):
        for b in (0, 1):
            r = F.conv2d(gp if a or b else go, wt[:, :, taps[a]][:, :, :, taps[b]].contiguous(), None, 1, 0, 1, B)
            out[:, :, a::2, b::2] = r[:, :, :(H - a + 1) // 2, :(H - b + 1) // 2]
    return out


def variants(x, w, go, B):
    "name -> (function, the grouped kernel it must agree with)."
    n, cin, hw = x.shape[0], x.shape[1] // B, x.shape[-1]
    C = w.shape[0] // B
    args = ([2, 2], [1, 1], [1, 1], False, [0, 0])
    xs, ws, gos = [t.contiguous() for t in x.chunk(B, 1)], list(w.chunk(B, 0)), [t.contiguous() for t in go.chunk(B, 1)]
    fwd = lambda: F.conv2d(x, w, None, 2, 1, 1, B)
    dgrad = lambda: conv_bwd(go, x, w, None, *args, B, [True, False, False])[0]
    wgrad = lambda: conv_bwd(go, x, w, None, *args, B, [False, True, False])[1]
    out = {'fwd': (fwd, None), 'dgrad': (dgrad, None), 'wgrad': (wgrad, None),
           'fwd_per_task': (lambda: torch.cat([F.conv2d(a, b, None, 2, 1) for a, b in zip(xs, ws)], 1), fwd),
           'dgrad_per_task': (lambda: torch.cat([conv_bwd(g, a, b, None, *args, 1, [True, False, False])[0] for g, a, b in zip(gos, xs, ws)], 1), dgrad),
           'wgrad_per_task': (lambda: torch.cat([conv_bwd(g, a, b, None, *args, 1, [False, True, False])[1] for g, a, b in zip(gos, xs, ws)], 0), wgrad)}
    if cin > 1:  # the first layer's input gradient is never needed
        out['dgrad_convT'] = (lambda: F.conv_transpose2d(go, w, None, 2, 1, 1 - hw % 2, B), dgrad)
        out['dgrad_bmm_fold'] = (lambda: F.fold(torch.bmm(w.view(B, C, cin * 9).transpose(1, 2), go.view(n, B, C, -1).permute(1, 2, 0, 3).reshape(B, C, -1))
                                                .view(B, cin * 9, n, -1).permute(2, 0, 1, 3).reshape(n, B * cin * 9, -1), (hw, hw), 3, padding=1, stride=2), dgrad)
        out['dgrad_phases'] = (lambda: dgrad_phases(go, w, B, hw), dgrad)
    else:
        for k in ('dgrad', 'dgrad_per_task'): out.pop(k)
    return out


def main(a):
    kept = keep_freed_memory() if a.keep_freed_memory else False
    rows = []
    for threads in a.threads:
        torch.set_num_threads(threads)
        for n in a.batch:
            for cin, hw in LAYERS:
                g = torch.Generator().manual_seed(a.seed)
                x = torch.randn(n, a.tasks * cin, hw, hw, generator=g)
                w = torch.randn(a.tasks * 64, cin, 3, 3, generator=g)
                go = torch.randn(n, a.tasks * 64, (hw + 1) // 2, (hw + 1) // 2, generator=g)
                vs = variants(x, w, go, a.tasks)
                for name, (f, ref) in vs.items():
                    if ref is None: continue
                    r, o = ref(), f()
                    err = ((o - r).abs().max() / r.abs().max()).item()
                    if err > 1e-5: raise AssertionError(f"{name} at layer {cin}x{hw}, n={n}: relative error {err:.1e}")
                us = {k: [] for k in vs}
                for f, _ in vs.values(): f(); f()
                for _ in range(a.rounds):
                    for k, (f, _) in vs.items():
                        t = time.perf_counter()
                        for _ in range(a.reps): f()
                        us[k].append((time.perf_counter() - t) / a.reps * 1e6)
                row = dict(threads=threads, n=n, layer=f'{cin}x{hw}x{hw}', **{k: round(min(v), 1) for k, v in us.items()})
                rows.append(row)
                print(' '.join(f'{k}={v}' for k, v in row.items()), flush=True)
    print(json.dumps(dict(us_per_call=rows, tasks=a.tasks, reps=a.reps, rounds=a.rounds, keep_freed_memory=kept,
                          torch=torch.__version__, machine=platform.processor() or platform.machine())))


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--threads', type=int, nargs='+', default=[1, 2], help='torch thread counts timed')
    p.add_argument('--batch', type=int, nargs='+', default=[5, 25], help='images per task: support (5-way 1-shot) and query (5 per class)')
    p.add_argument('--tasks', type=int, default=4, help='tasks per meta-batch (conv groups)')
    p.add_argument('--reps', type=int, default=20, help='calls per timed round')
    p.add_argument('--rounds', type=int, default=5, help='interleaved rounds; the minimum is reported')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--no-keep-freed-memory', dest='keep_freed_memory', action='store_false',
                   help="leave glibc's allocator as it is (kernels timed alone then pay page faults for their outputs)")
    main(p.parse_args())
