"""Backfill of the generator samples for the quick run (the sweep ran before `ssml.runs.full_run` kept them).

For each generator of the quick sweep, load its checkpoint from `runs/generators/` and write what the figures show of
it (`ssml.runs.record_generator_samples`: 64 prior samples, one LASIUM task per variant, seed 0) next to this file.
Runs made since keep these samples themselves. Run from the project root: `.venv/bin/python results/quick/generators/backfill.py`.
"""
import json
from pathlib import Path
from ssml.runs import RunArgs, ResultsStore, generator_path, load_generator, record_generator_samples

store = ResultsStore('results/quick')
seen = set()
for rec in store.records('ok'):
    args = RunArgs.from_dict(rec['params'])
    if args.gen_kind is None or args.gen_hash() in seen: continue
    seen.add(args.gen_hash())
    path = generator_path(args.replace(work_dir='runs'))
    out = record_generator_samples(args, load_generator(args, path, 'cpu'), out_dir='results/quick')
    print(json.dumps({'run': rec['run_id'], 'generator': str(path), 'samples': str(out)}))
