"""Combine the per-run test files of the supervised meta-learners study into accuracy_vs_minutes.csv (one row per snapshot).

    .venv/bin/python studies/supervised_meta_learners/summarize.py [--out FOLDER]

Reads every <out>/<run>.json that run.py eval wrote, writes <out>/accuracy_vs_minutes.csv.
"""
import csv, json, sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from study_config import study_parser, parse_study_args  # noqa: E402


def summarize(folder: Path) -> Path:
    rows = []
    for p in sorted(folder.glob('*.json')):
        d = json.loads(p.read_text())
        if 'rows' not in d: continue
        s = d['meta']['settings']
        maml = s['method'] == 'maml'
        for r in d['rows']:
            if not r['checkpoint'].startswith('snap_'): continue
            rows.append(dict(run=r['run'], method=r['method'], train_minutes=r['train_minutes'], step=r['step'],
                             accuracy=r['accuracy'], ci95=r['ci95'], n_test_tasks=r['n_tasks'],
                             train_way=s.get('train_way') or s['n_way'], q_query=s['q_query'], meta_batch=s['meta_batch'],
                             meta_lr=s['meta_lr'], rotations=s['rotations'],
                             inner_steps=s['inner_steps'] if maml else None, inner_lr=s['inner_lr'] if maml else None,
                             test_inner_steps=r['test_inner_steps'], first_order=s.get('first_order') if maml else None,
                             fo_warmup_minutes=s.get('fo_warmup_minutes') if maml else None))
    if not rows: raise FileNotFoundError(f"no run test files (<run>.json with 'rows') in {folder}")
    out = folder / 'accuracy_vs_minutes.csv'
    with open(out, 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0])); w.writeheader(); w.writerows(rows)
    print(f"{len(rows)} rows -> {out}")
    return out


if __name__ == '__main__':
    a = parse_study_args(study_parser(__doc__, paths=('out',), set_help=None), HERE)
    summarize(a.out)
