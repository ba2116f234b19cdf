"""Seconds per MAML meta-iteration: our MAML vs a straightforward per-task reference, same math.

One meta-iteration = meta-loss of a meta-batch (inner loop on every task, query loss) + backward to the
meta-parameters. "ours" is what `ssml.maml.MAML` runs for the Omniglot backbone, `ssml.maml.maml_loss_fused` (all
tasks as one grouped computation, the meta-gradient written out by hand); "autograd" is `ssml.maml.maml_loss_batched`
(the same grouped computation differentiated by autograd); "reference" is `ssml.maml.maml_loss_loop` (a Python loop
over tasks, each adapted with `torch.func.functional_call`). All run in the same process on the same tasks,
interleaved (ours, reference, autograd, ours, ...), and the medians of the wall-clock times are reported
(`ours_s`, `reference_s`, `ratio`; `autograd_s`, `autograd_ratio`), with the fastest runs (`*_min_s`, less sensitive to other
processes on a shared machine), the process CPU time (`*_cpu_s`, `cpu_ratio`: for 1 thread, time actually
computing, whatever else the machine runs; for 2 threads it adds both threads' time), and the quartiles of the
per-round ratios (`ratio_iqr`: each round times ours and the reference back to back, so this spread shows how much
the ratio itself moves on a shared machine). `ours_conv_s` is the time ours spends inside its convolution kernels
(timed around each call, in separate rounds), and `conv_floor_ratio` = ours_conv_s / reference_s: the ratio ours
would reach if everything but its convolutions (the same arithmetic as the reference's) took no time.

The gradient check compares the meta-gradients on the same tasks: max over parameters of
max|ours - ref| / max|ref|, in float32 (the timed setting) and in float64 (where rounding cannot hide a
difference in the math); `autograd_max_rel_grad_err` is the same for the autograd path. The float32 check runs at
every thread count timed (under 'by_threads', the first one also at top level): `max_rel_grad_err` and
`autograd_max_rel_grad_err` against the float32 reference, `vs_float64` each path's float32 meta-gradient against
the float64 one (the reference's, computed once), and the ReLU sign patterns behind them: `relu_flips` counts the
ReLU inputs (pre-activations, every block, inner step and task) whose sign differs from the float64 run, and
`relu_mismatch` those whose sign differs between a path and the float32 reference. The meta-gradient jumps where a
ReLU input crosses zero (the inner-loop gradient changes by a finite amount), and a meta-batch has millions of ReLU
inputs, some within float32 rounding of zero: a path whose rounding puts one on the other side follows another
piece of the function, and its meta-gradient can differ by up to about 1e-2 with no error in the arithmetic. With
`relu_mismatch` 0 the two paths took the same branch and must agree to rounding.

`peak_mb` is the memory one meta-iteration adds at its peak, per path (MiB), after a warm-up iteration: on a GPU the
allocator's peak, on CPU (Linux) the rise of the peak resident set size of a fresh process per path (toy tasks of
the same shapes).

Tasks are real Omniglot training tasks when the data is found ($SSML_DATA), else toy tasks. The LAST line printed is
one JSON object (results of the first thread count at top level, all of them under 'by_threads'; by default the
first is all of this machine's cores, then 1 thread).

  .venv/bin/python benchmarks/bench_maml.py                 # CPU, all cores and 1 thread, Omniglot 5-way 1-shot, 5 steps, 2nd order
  .venv/bin/python benchmarks/bench_maml.py --device cuda
"""
import argparse, gc, json, platform, statistics, sys, time

import torch
import torch.nn.functional as F

from ssml.core import get_device
from ssml.nets import omniglot_conv4
from ssml.maml import maml_loss_batched, maml_loss_fused, maml_loss_loop, toy_tasks

PATHS = {'ours': maml_loss_fused, 'reference': maml_loss_loop, 'autograd': maml_loss_batched}  # the timed order


def get_tasks(a):
    if a.data in ('auto', 'omniglot'):
        try:
            from ssml.data import load_omniglot
            from ssml.episodes import EpisodeSampler
            train = load_omniglot(split='random', seed=0).split('train')
            return EpisodeSampler(train, a.n_way, a.k_shot, a.q_query, seed=a.seed).sample(a.meta_batch), 'omniglot train (random split, seed 0)'
        except (FileNotFoundError, ImportError, RuntimeError) as e:
            if a.data == 'omniglot': raise
            print(f"Omniglot not available ({e}); using toy tasks", file=sys.stderr)
    return toy_tasks(a.meta_batch, a.n_way, a.k_shot, a.q_query, seed=a.seed), 'toy'


class ReluSigns:
    """Records the sign pattern of every ReLU input while active, in call order: the input of `F.relu` (the reference,
    through `Conv4.features`) and the output of `torch.native_batch_norm` (the grouped paths apply ReLU to it in place)."""
    def __enter__(self):
        self.masks, self._relu, self._bn = [], F.relu, torch.native_batch_norm
        def relu(x, inplace=False):
            self.masks.append((x > 0).cpu()); return self._relu(x, inplace)
        def bn(*args, **kw):
            out = self._bn(*args, **kw); self.masks.append((out[0] > 0).cpu()); return out
        F.relu, torch.native_batch_norm = relu, bn
        return self

    def __exit__(self, *exc): F.relu, torch.native_batch_norm = self._relu, self._bn


def per_task_masks(masks, B):
    "A grouped path's masks (per step and block, tasks side by side along channels) in the reference's order (per task, step, block)."
    return [m.unflatten(1, (B, -1))[:, b] for b in range(B) for m in masks]


def sign_mismatches(m1, m2):
    "How many ReLU inputs have different signs in two recorded runs (the same computation in the reference's order)."
    if len(m1) != len(m2) or any(x.shape != y.shape for x, y in zip(m1, m2)): raise ValueError("the sign patterns are of different computations")
    return sum(int((x != y).sum()) for x, y in zip(m1, m2))


def grads_and_signs(net, params, tb, a):
    "Meta-gradient and ReLU sign pattern (reference order) of each path."
    out = {}
    for k, fn in PATHS.items():
        with ReluSigns() as rec: g = meta_grad(fn, net, params, tb, a)
        out[k] = g, (rec.masks if k == 'reference' else per_task_masks(rec.masks, len(tb)))
    return out


def grad_check(a, threads, net, params, tb, truth):
    "The float32 meta-gradients at `threads` threads against the float32 reference and the float64 `truth` (gradient, signs)."
    torch.set_num_threads(threads)
    r = grads_and_signs(net, params, tb, a)
    ref, t64 = r['reference'][0], {k: v.float() for k, v in truth[0].items()}
    rnd = lambda v: float(f"{v:.3e}")
    return dict(max_rel_grad_err=rnd(max_rel_err(r['ours'][0], ref)), autograd_max_rel_grad_err=rnd(max_rel_err(r['autograd'][0], ref)),
                vs_float64={k: rnd(max_rel_err({p: v.cpu() for p, v in g.items()}, t64)) for k, (g, _) in r.items()},
                relu_flips={k: sign_mismatches(m, truth[1]) for k, (_, m) in r.items()},
                relu_mismatch={k: sign_mismatches(r[k][1], r['reference'][1]) for k in ('ours', 'autograd')})


def meta_grad(fn, net, params, tb, a):
    ps = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
    loss, _ = fn(net, ps, tb, a.inner_lr, a.inner_steps, a.first_order)
    return dict(zip(ps, torch.autograd.grad(loss, list(ps.values()))))


def max_rel_err(g, ref):
    return max(((g[k] - ref[k]).abs().max() / ref[k].abs().max().clamp_min(1e-30)).item() for k in ref)


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()


def _one_iteration(fn, a, net, params, tb):
    "One meta-iteration of path `fn`: the meta-loss and its gradient w.r.t. fresh leaves of `params`."
    ps = {k: v.detach().requires_grad_() for k, v in params.items()}
    loss, _ = fn(net, ps, tb, a.inner_lr, a.inner_steps, a.first_order)
    torch.autograd.grad(loss, list(ps.values()))


def bench(a, threads, device, tb, net, params):
    torch.set_num_threads(threads)
    def once(fn):
        sync(device); t, c = time.perf_counter(), time.process_time()
        _one_iteration(fn, a, net, params, tb)
        sync(device)
        return time.perf_counter() - t, time.process_time() - c
    for _ in range(a.warmup):
        for f in PATHS.values(): once(f)
    wall, cpu = {k: [] for k in PATHS}, {k: [] for k in PATHS}
    for _ in range(a.reps):
        for k, f in PATHS.items():
            w, c = once(f); wall[k].append(w); cpu[k].append(c)
    med = lambda d, k: statistics.median(d[k])
    ours, ref, auto = med(wall, 'ours'), med(wall, 'reference'), med(wall, 'autograd')
    conv = statistics.median(conv_seconds(lambda: once(PATHS['ours']), device) for _ in range(max(3, a.reps // 2)))
    return dict(threads=threads, ours_s=round(ours, 5), reference_s=round(ref, 5), ratio=round(ours / ref, 4),
                ours_min_s=round(min(wall['ours']), 5), reference_min_s=round(min(wall['reference']), 5),
                ratio_min=round(min(wall['ours']) / min(wall['reference']), 4),
                ours_cpu_s=round(med(cpu, 'ours'), 5), reference_cpu_s=round(med(cpu, 'reference'), 5),
                cpu_ratio=round(med(cpu, 'ours') / med(cpu, 'reference'), 4),
                ratio_iqr=[round(q, 4) for q in paired_quartiles(wall['ours'], wall['reference'])],
                ours_conv_s=round(conv, 5), conv_floor_ratio=round(conv / ref, 4),
                autograd_s=round(auto, 5), autograd_ratio=round(auto / ref, 4),
                autograd_ratio_iqr=[round(q, 4) for q in paired_quartiles(wall['autograd'], wall['reference'])])


def conv_seconds(run, device):
    "Seconds one call of `run` spends inside our convolution kernels (forward and backward), timed around each call."
    import torch.nn.functional as F
    import ssml.nets as nets
    spent, conv, bwd = [0.], F.conv2d, nets._conv_bwd
    def timed(f):
        def g(*args, **kw):
            sync(device); t = time.perf_counter(); out = f(*args, **kw); sync(device)
            spent[0] += time.perf_counter() - t
            return out
        return g
    F.conv2d, nets._conv_bwd = timed(conv), timed(bwd)
    try: run()
    finally: F.conv2d, nets._conv_bwd = conv, bwd
    return spent[0]


def _proc_status_kb(field):
    for line in open('/proc/self/status'):
        if line.startswith(field + ':'): return int(line.split()[1])


def peak_memory_mb(a, device, tb, net, params):
    """Memory one meta-iteration (loss and meta-gradient) adds at its peak, per path, in MiB, after a warm-up iteration:
    on a GPU the allocator's peak above what was allocated before; on CPU (Linux) the rise of the peak resident set
    size of a fresh process per path (`--memory-of`), whose glibc returns every block of 64 KiB or more when it is
    freed, so that the resident size follows the live tensors. None where it cannot be read."""
    if device.type == 'cuda':
        out = {}
        for k, fn in PATHS.items():
            _one_iteration(fn, a, net, params, tb); torch.cuda.synchronize(device)
            base = torch.cuda.memory_allocated(device); torch.cuda.reset_peak_memory_stats(device)
            _one_iteration(fn, a, net, params, tb); torch.cuda.synchronize(device)
            out[k] = round((torch.cuda.max_memory_allocated(device) - base) / 2**20, 1)
        return out
    import os, subprocess
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(64 * 1024))
    out = {}
    for k in PATHS:
        cmd = [sys.executable, __file__, '--memory-of', k, '--threads', str(a.threads[0])] + [
            f'--{n.replace("_", "-")}={getattr(a, n)}' for n in ('meta_batch', 'n_way', 'k_shot', 'q_query', 'inner_steps', 'inner_lr', 'seed')]
        if a.first_order: cmd.append('--first-order')
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        try: out[k] = json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError): out[k] = None
        if r.returncode: print(f"peak memory of {k}: the measuring process failed:\n{r.stderr[-2000:]}", file=sys.stderr)
    return out


def memory_of(a):
    "The child of `peak_memory_mb`: the peak RSS rise (MiB) of one meta-iteration of path `a.memory_of` on toy tasks of the same shapes."
    torch.set_num_threads(a.threads[0]); torch.manual_seed(a.seed)
    net = omniglot_conv4(a.n_way)
    tb = toy_tasks(a.meta_batch, a.n_way, a.k_shot, a.q_query, seed=a.seed)
    params = {k: v.detach() for k, v in net.named_parameters()}
    fn = PATHS[a.memory_of]
    _one_iteration(fn, a, net, params, tb); gc.collect()
    try:
        with open('/proc/self/clear_refs', 'w') as f: f.write('5')  # reset the peak RSS (VmHWM)
        base = _proc_status_kb('VmRSS')
        _one_iteration(fn, a, net, params, tb)
        print(json.dumps(round((_proc_status_kb('VmHWM') - base) / 1024, 1)))
    except (OSError, TypeError): print('null')


def paired_quartiles(ours, ref):
    "Lower and upper quartile of the per-round ratios ours/reference (each round times both back to back)."
    r = sorted(o / f for o, f in zip(ours, ref))
    q = statistics.quantiles(r, n=4) if len(r) > 1 else [r[0]] * 3
    return q[0], q[2]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, nargs='+', default=None,
                   help='CPU thread counts to measure (torch.set_num_threads); default: all cores, then 1')
    p.add_argument('--meta-batch', type=int, default=4)
    p.add_argument('--n-way', type=int, default=5)
    p.add_argument('--k-shot', type=int, default=1)
    p.add_argument('--q-query', type=int, default=5)
    p.add_argument('--inner-steps', type=int, default=5)
    p.add_argument('--inner-lr', type=float, default=0.4)
    p.add_argument('--first-order', action='store_true')
    p.add_argument('--reps', type=int, default=20)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--data', choices=['auto', 'omniglot', 'toy'], default='auto')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--memory-of', choices=list(PATHS), default=None, help=argparse.SUPPRESS)  # child process of peak_memory_mb
    a = p.parse_args()
    if a.threads is None: a.threads = sorted({torch.get_num_threads(), 1}, reverse=True)
    if a.memory_of: return memory_of(a)
    device = get_device(a.device)
    torch.manual_seed(a.seed)
    net = omniglot_conv4(a.n_way)
    tb, data = get_tasks(a)
    params = {k: v.detach() for k, v in net.named_parameters()}

    # gradients: float64 on CPU (the math, and the truth float32 is measured against), then float32 on the device
    # (the timed setting) at every thread count timed
    net, tb32, p32 = net.to(device), tb.to(device), {k: v.to(device) for k, v in params.items()}
    net64 = omniglot_conv4(a.n_way).double()
    tb64 = type(tb)(tb.support_x.double(), tb.support_y, tb.query_x.double(), tb.query_y, tb.n_way, tb.source)
    p64 = {k: v.double().cpu() for k, v in params.items()}
    g64 = grads_and_signs(net64, p64, tb64, a)
    err64, auto64 = (max_rel_err(g64[k][0], g64['reference'][0]) for k in ('ours', 'autograd'))
    print(f"max relative meta-gradient difference vs reference in float64: ours {err64:.2e}, autograd {auto64:.2e}")

    runs = []
    for th in (a.threads if device.type == 'cpu' else [torch.get_num_threads()]):
        chk = grad_check(a, th, net, p32, tb32, g64['reference'])
        print(f"{device.type} {th} thread(s), float32 meta-gradient vs reference: ours {chk['max_rel_grad_err']:.2e}, "
              f"autograd {chk['autograd_max_rel_grad_err']:.2e}; vs float64: " + ", ".join(f"{k} {v:.2e}" for k, v in chk['vs_float64'].items()) +
              "; ReLU inputs on the other side of zero than in float64: " + ", ".join(f"{k} {v}" for k, v in chk['relu_flips'].items()) +
              "; than in the float32 reference: " + ", ".join(f"{k} {v}" for k, v in chk['relu_mismatch'].items()), flush=True)
        r = dict(bench(a, th, device, tb32, net, p32), **chk)
        runs.append(r)
        print(f"{device.type} {th} thread(s): ours {r['ours_s']:.4f} s/it, reference {r['reference_s']:.4f} s/it, "
              f"ratio {r['ratio']:.3f} (wall-clock medians; per-round ratios' quartiles {r['ratio_iqr'][0]:.3f}-{r['ratio_iqr'][1]:.3f}; "
              f"fastest runs {r['ratio_min']:.3f}; "
              f"process CPU time {r['ours_cpu_s']:.4f} vs {r['reference_cpu_s']:.4f} s, ratio {r['cpu_ratio']:.3f}; "
              f"ours inside convolutions {r['ours_conv_s']:.4f} s: floor {r['conv_floor_ratio']:.3f}); "
              f"autograd path {r['autograd_s']:.4f} s/it, ratio {r['autograd_ratio']:.3f}", flush=True)
    mem = peak_memory_mb(a, device, tb32, net, p32)
    print("peak memory one meta-iteration adds (MiB): " + ", ".join(f"{k} {v}" for k, v in mem.items()))
    out = dict(runs[0], max_rel_grad_err_float64=float(f"{err64:.3e}"), autograd_max_rel_grad_err_float64=float(f"{auto64:.3e}"),
               peak_mb=mem, by_threads={str(r['threads']): r for r in runs}, device=device.type,
               device_name=torch.cuda.get_device_name(device) if device.type == 'cuda' else platform.processor() or platform.machine(),
               setting=dict(meta_batch=a.meta_batch, n_way=a.n_way, k_shot=a.k_shot, q_query=a.q_query, inner_steps=a.inner_steps,
                            inner_lr=a.inner_lr, order='first' if a.first_order else 'second', data=data, reps=a.reps),
               torch=torch.__version__)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
