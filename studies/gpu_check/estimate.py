"""Device hours of a sweep profile, from a throughput record of `benchmarks/bench_throughput.py`.

Each run of the profile costs its meta-training steps, its validations and its evaluation on the fixed test tasks at
the measured rates (seconds per step of the learner on its task source, seconds per evaluation task in each setting),
plus a fixed overhead per run (process, data, notebook kernel); each generator it needs costs its training steps,
once. A record made on one CPU thread is read in process CPU time (what an idle core takes, however loaded the
machine was), any other in wall-clock time. From a record made on the GPU the rates are the GPU's own and the runs overlap by the measured aggregate
speed-up of the concurrent processes. From a record made on one CPU thread every rate is divided by assumed
speed-ups, each an ESTIMATE to be replaced by the GPU check's record (config.yaml, `estimate:`):

- `train_speedup`: one run's training steps on the GPU against one CPU thread (small batches: launch-bound);
- `eval_speedup`: evaluation, 50 tasks per batch (compute-bound);
- `concurrency`: what `workers` concurrent runs do together, against one run.

The device time is the sum over runs and generators divided by the concurrency, and never less than the longest
chain (a generator, then the longest run that waits for it). The last line printed is the JSON written to `--out`.

  python studies/gpu_check/estimate.py --record studies/gpu_check/records/cpu/bench_throughput.json --profile paper
"""
from __future__ import annotations
import argparse, json, sys
from collections import defaultdict
from pathlib import Path

STUDY = Path(__file__).resolve().parent
sys.path.insert(0, str(STUDY.parent))
from study_config import load_config, relative  # noqa: E402  (also puts the project on sys.path)

GEN_FACTOR = {'gan': 1.0, 'ssgan': 1.0, 'vae': 0.5}  # generator step cost against the GAN's (quick profile: VAE 3.9, GAN 1.8-1.9 steps/s)


def eval_learner(args) -> str:
    "Which measured evaluation cost applies: ProtoNets, or MAML's (also for training from scratch: the same adaptation steps)."
    return 'maml' if args.method == 'scratch' or args.meta_learner != 'protonet' else 'protonet'


def uses_cpu_time(rec: dict) -> bool:
    "A one-thread CPU record with process CPU times: those are used (what an idle core takes, however loaded the machine was)."
    return rec['device'] == 'cpu' and rec.get('threads') == 1 and 'cpu_s_per_step' in rec['gan']


def step_s(rec: dict, key: str) -> float:
    "Seconds per step of measurement `key`: CPU time for a one-thread CPU record, else wall-clock."
    return rec[key]['cpu_s_per_step'] if uses_cpu_time(rec) else rec[key]['s_per_step']


def train_s_per_step(rec: dict, args) -> float:
    "Seconds per meta-training step of `args` at the record's rates."
    lasium_share = {'lasium': 1.0, 'ssml': args.mix_ratio, 'ssml-ssg': args.mix_ratio}.get(args.method, 0.0)
    if args.meta_learner == 'protonet':
        s = lasium_share * step_s(rec, 'protonet') + (1 - lasium_share) * step_s(rec, 'protonet_labeled')
        return s * (args.n_way / 5)  # 20-way ProtoNets was not measured: cost taken as proportional to the images
    key = 'maml_20way' if args.n_way == 20 and 'maml_20way' in rec else 'maml'
    measured = rec[key].get('n_way', 5)
    scale = 1.0 if measured == args.n_way else args.n_way / measured
    return step_s(rec, key) * scale * args.inner_steps / rec['setting']['maml_inner_steps']  # labeled tasks: the LASIUM rate (an upper bound)


def eval_s_per_task(rec: dict, args, setting: str) -> float:
    "Seconds per evaluation task of `args` in `setting` ('5w1s', ...), scaled to its adaptation steps."
    ev, who = rec['eval'], eval_learner(args)
    s = (ev['cpu_s_per_task'] if uses_cpu_time(rec) else ev['s_per_task'])[who][setting]
    return s * args.test_inner_steps / ev['test_inner_steps'] if who == 'maml' else s


def run_costs(rec: dict, args) -> dict:
    "Seconds of one run at the record's rates: train, validate, test (its generator apart)."
    from ssml.config import META_TRAINED
    out = dict(train=0.0, validate=0.0, test=0.0)
    if args.method in META_TRAINED:
        out['train'] = args.meta_steps * train_s_per_step(rec, args)
        n_val = -(-args.meta_steps // args.val_every)
        out['validate'] = n_val * args.n_val_tasks * eval_s_per_task(rec, args, f"{args.n_way}w{args.k_shot}s")
    out['test'] = args.n_test_tasks * sum(eval_s_per_task(rec, args, f"{n}w{k}s") for n, k in args.eval_pairs())
    return out


def estimate(rec: dict, runs: list, factors: dict, overhead_s: float) -> dict:
    "The device-time estimate of `runs` at the rates of `rec` (see the module docstring)."
    on_gpu = rec['device'] == 'cuda'
    if on_gpu:
        conc = [r for r in rec.get('concurrency', []) if 'aggregate_steps_per_s' in r and 'speedup_vs_1' in r]
        best = max(conc, key=lambda r: r['aggregate_steps_per_s']) if conc else {'speedup_vs_1': 1.0, 'workers': 1}
        f = dict(train_speedup=1.0, eval_speedup=1.0, concurrency=best['speedup_vs_1'], workers=best['workers'])
    else: f = dict(factors)
    fam, gens, chains = defaultdict(lambda: dict(runs=0, device_s=0.0)), {}, []
    for a in runs:
        c = run_costs(rec, a)
        s = c['train'] / f['train_speedup'] + (c['validate'] + c['test']) / f['eval_speedup'] + overhead_s
        key = f"{a.method}/{a.meta_learner if a.method != 'scratch' else '-'}/{a.n_way}-way"
        fam[key]['runs'] += 1; fam[key]['device_s'] += s
        g = 0.0
        if a.gen_kind is not None:
            g = a.gen_steps * step_s(rec, 'gan') * GEN_FACTOR[a.gen_kind] / f['train_speedup']
            gens[a.gen_hash()] = (a.gen_kind, g)
        chains.append(g + s)
    gen_s = sum(g for _, g in gens.values())
    total = (sum(v['device_s'] for v in fam.values()) + gen_s) / f['concurrency']
    wall = max(total, max(chains))
    return dict(hours=round(wall / 3600, 2), device_s=round(wall), summed_s=round(total), longest_chain_s=round(max(chains)),
                n_runs=len(runs), n_generators=len(gens), generator_s=round(gen_s),
                generators={k: sum(1 for kind, _ in gens.values() if kind == k) for k in sorted({kind for kind, _ in gens.values()})},
                families={k: dict(runs=v['runs'], device_s=round(v['device_s'])) for k, v in sorted(fam.items())},
                factors=f, factors_are='measured on the GPU' if on_gpu else 'ESTIMATE (assumed; replace by a GPU record)',
                overhead_s_per_run=overhead_s, record_device=rec['device'], record_device_name=rec.get('device_name'),
                record_threads=rec.get('threads'), record_times='process CPU time' if uses_cpu_time(rec) else 'wall-clock')


def main(argv=None):
    cfg = load_config(STUDY)['estimate']
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--record', default=str(STUDY/'records'/'cpu-1thread'/'bench_throughput.json'), help='a bench_throughput.py JSON')
    p.add_argument('--profile', default='paper', help='configs/<profile>.yaml or a sweep YAML path')
    p.add_argument('--out', default=None, help='write the estimate JSON here too')
    for k, v in cfg['factors'].items():
        p.add_argument(f"--{k.replace('_', '-')}", type=float, default=v, help=f'ESTIMATE used with a CPU record (default {v}, config.yaml)')
    p.add_argument('--overhead-s', type=float, default=cfg['overhead_s_per_run'], help='seconds per run beside its steps and tasks')
    a = p.parse_args(argv)
    rp = Path(a.record)
    if not rp.is_file(): p.error(f"--record {rp}: no such file (expected the JSON of benchmarks/bench_throughput.py)")
    rec = json.loads(rp.read_text())
    missing = [k for k in ('gan', 'protonet', 'protonet_labeled', 'maml', 'eval', 'setting', 'device') if k not in rec]
    if missing: p.error(f"--record {rp}: lacks {missing} (measure them: bench_throughput.py without --skip)")
    from ssml.sweep import load_sweep, profile_path
    sw = load_sweep(profile_path(a.profile))
    factors = {k: getattr(a, k) for k in cfg['factors']}
    out = dict(profile=sw['name'], record=relative(rp), **estimate(rec, sw['runs'], factors, a.overhead_s))
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(out, indent=1) + '\n')
    print(f"{sw['name']}: {out['n_runs']} runs, {out['n_generators']} generators: about {out['hours']} h on the device "
          f"(factors {out['factors_are']}: {out['factors']})")
    for k, v in out['families'].items(): print(f"  {k:32s} {v['runs']:4d} runs {v['device_s'] / 60:8.1f} device-min")
    print(json.dumps(out))


if __name__ == '__main__':
    main()
