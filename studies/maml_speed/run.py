"""The MAML speed study: benchmarks/bench_maml.py run several times in a row per MAML order, each run's JSON kept.

Settings: config.yaml (`bench`: the benchmark's options; `orders`: how many consecutive runs of each order). Run
from anywhere (about 2 minutes per run on 2 CPU cores; Omniglot tasks when the data root has it):

    .venv/bin/python studies/maml_speed/run.py --data ../shared/data [--order second_order] [--set orders.second_order.runs=3]

Writes <out>/bench_maml_<order>_runs.jsonl (one line per run: the benchmark's JSON) and the last run as
<out>/bench_maml_<order>.json.
"""
import json, os, subprocess, sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from study_config import ROOT, load_config, study_parser, parse_study_args  # noqa: E402

BENCH = ROOT / 'benchmarks' / 'bench_maml.py'


def bench_command(bench: dict, first_order: bool) -> list:
    "The command line of one benchmark run."
    cmd = [sys.executable, str(BENCH)]
    for k, v in bench.items():
        if v is None: continue
        cmd += [f"--{k.replace('_', '-')}", *(map(str, v) if isinstance(v, list) else [str(v)])]
    return cmd + (['--first-order'] if first_order else [])


def main(cfg, out, orders=None):
    orders = orders or list(cfg['orders'])
    unknown = [o for o in orders if o not in cfg['orders']]
    if unknown: raise ValueError(f"orders {unknown} are not in config.yaml's orders: {sorted(cfg['orders'])}")
    out.mkdir(parents=True, exist_ok=True)
    for order in orders:
        o = cfg['orders'][order]
        cmd, runs = bench_command(cfg['bench'], o['first_order']), []
        for i in range(o['runs']):
            print(f"{order} run {i + 1}/{o['runs']}:", ' '.join(cmd[1:]), flush=True)
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=os.environ.copy())
            if r.returncode != 0: raise RuntimeError(f"{BENCH.name} failed (exit {r.returncode}):\n{r.stderr[-3000:]}")
            runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
            print(f"  ratio {runs[-1]['ratio']} (ours {runs[-1]['ours_s']} s, reference {runs[-1]['reference_s']} s)", flush=True)
        (out / f'bench_maml_{order}_runs.jsonl').write_text(''.join(json.dumps(x) + '\n' for x in runs))
        (out / f'bench_maml_{order}.json').write_text(json.dumps(runs[-1]) + '\n')


if __name__ == '__main__':
    p = study_parser(__doc__, paths=('data', 'out'))
    p.add_argument('--order', nargs='*', help="orders to run (default: all of config.yaml's orders)")
    a = parse_study_args(p, HERE)
    main(load_config(HERE, a.overrides), a.out, a.order)
