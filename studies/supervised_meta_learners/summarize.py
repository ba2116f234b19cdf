"""Combine the per-run evaluation files of results/issue5/ into accuracy_vs_minutes.csv (one row per checkpoint)."""
import csv, json
from pathlib import Path

HERE = Path(__file__).resolve().parent
rows = []
for p in sorted(HERE.glob('*.json')):
    if p.name in ('accuracy_vs_minutes.json', 'bench_maml.json') or p.name.startswith('bench'): continue
    d = json.loads(p.read_text())
    if 'rows' not in d: continue
    s = d['meta']['settings']
    for r in d['rows']:
        if not r['checkpoint'].startswith('snap_'): continue
        rows.append(dict(run=r['run'], method=r['method'], train_minutes=r['train_minutes'], step=r['step'],
                         accuracy=r['accuracy'], ci95=r['ci95'], n_test_tasks=r['n_tasks'],
                         train_way=s.get('train_way') or s['n_way'], q_query=s['q_query'], meta_batch=s['meta_batch'],
                         meta_lr=s['meta_lr'], rotations=s['rotations'],
                         inner_steps=s['inner_steps'] if s['method'] == 'maml' else None,
                         inner_lr=s['inner_lr'] if s['method'] == 'maml' else None,
                         test_inner_steps=r['test_inner_steps'], first_order=s.get('first_order') if s['method'] == 'maml' else None,
                         fo_warmup_minutes=s.get('fo_warmup_minutes') if s['method'] == 'maml' else None))
with open(HERE / 'accuracy_vs_minutes.csv', 'w', newline='') as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0])); w.writeheader(); w.writerows(rows)
print(f"{len(rows)} rows -> {HERE / 'accuracy_vs_minutes.csv'}")
