"""The GPU check's summary: one JSON (`gpu_check.json` in `--out`) and one screen of text, from the files the stages
of `benchmarks/gpu_check.sh` left (its stage table, tests.xml, bench_maml.json, bench_throughput.json and the smoke
sweep's results folder), with the device-time estimate of the paper profiles at the measured rates (estimate.py).
Exit code 0 when every stage passed, else 1.

  python studies/gpu_check/summarize.py --out studies/gpu_check/records/cuda --stages STAGES.tsv --smoke RESULTS_DIR
"""
from __future__ import annotations
import argparse, csv, json, platform, sys
import xml.etree.ElementTree as ET
from pathlib import Path

STUDY = Path(__file__).resolve().parent
sys.path.insert(0, str(STUDY.parent)); sys.path.insert(0, str(STUDY))
from study_config import load_config  # noqa: E402  (also puts the project on sys.path)

STAGES = ('tests', 'bench_maml', 'bench_throughput', 'paper_smoke')


def read_json(path: Path):
    try: return json.loads(path.read_text())
    except (OSError, ValueError): return None


def read_stages(path: Path) -> dict:
    "{stage: {'rc', 'seconds', 'limit_s'}} from the check's stage table; stages never started are 'not run'."
    out = {s: dict(rc='not run', seconds=0, limit_s=None) for s in STAGES}
    if path.is_file():
        for row in csv.DictReader(path.open(), delimiter='\t'):
            rc = row['rc']
            out[row['stage']] = dict(rc=int(rc) if rc.lstrip('-').isdigit() else rc, seconds=int(row['seconds']), limit_s=int(row['limit_s']))
    return out


def read_junit(path: Path) -> dict | None:
    "Counts and failures of a pytest JUnit XML."
    if not path.is_file(): return None
    root = ET.parse(path).getroot()
    suite = root if root.tag == 'testsuite' else root.find('testsuite')
    out = {k: int(suite.get(k, 0)) for k in ('tests', 'failures', 'errors', 'skipped')}
    out['failed'] = []
    for tc in suite.iter('testcase'):
        for bad in [*tc.findall('failure'), *tc.findall('error')]:
            out['failed'].append(f"{tc.get('name')}: {(bad.get('message') or '').splitlines()[0][:200] if bad.get('message') else ''}")
    out['skip_reasons'] = sorted({(s.get('message') or '')[:200] for tc in suite.iter('testcase') for s in tc.findall('skipped')})
    return out


def read_smoke(results: Path) -> dict | None:
    "Status counts and one line per run of the smoke sweep's records."
    if not (results/'records').is_dir(): return None
    from ssml.records import ResultsStore
    recs = ResultsStore(results).records()
    runs = []
    for r in recs:
        p = r['params']
        runs.append(dict(run_id=r['run_id'], method=p['method'], meta_learner=p['meta_learner'], n_way=p['n_way'], status=r['status'],
                         device=r.get('device'), duration_s=r.get('duration_s'), error=(r.get('error') or '')[:300] or None,
                         accuracy={f"{e['n_way']}w{e['k_shot']}s": round(e['accuracy'], 4) for e in (r.get('metrics') or {}).get('evals', [])}))
    counts = {s: sum(r['status'] == s for r in runs) for s in ('ok', 'truncated', 'failed')}
    figs = sorted(p.name for p in (results.parent/'figures').glob('*.png')) if (results.parent/'figures').is_dir() else []
    return dict(n_runs=len(runs), **counts, runs=runs, figures=figs)


def estimates(rec: dict | None) -> dict:
    "The paper profiles' device hours at this record's rates (estimate.py), or why there are none."
    if not rec: return {'error': 'no bench_throughput.json'}
    import estimate as est
    from ssml.sweep import load_sweep, profile_path
    cfg = load_config(STUDY)['estimate']
    out = {}
    for prof in ('paper', 'paper-full'):
        try:
            e = est.estimate(rec, load_sweep(profile_path(prof))['runs'], cfg['factors'], cfg['overhead_s_per_run'])
            out[prof] = {k: e[k] for k in ('hours', 'n_runs', 'n_generators', 'factors', 'factors_are')}
        except (KeyError, ValueError, FileNotFoundError) as x: out[prof] = {'error': f"{type(x).__name__}: {x}"}
    return out


def environment(device: str) -> dict:
    import torch
    from ssml.records import git_commit, code_digest
    env = dict(python=platform.python_version(), torch=torch.__version__, cuda_available=torch.cuda.is_available(),
               git=git_commit(), code_digest=code_digest(), device=device)
    if torch.cuda.is_available():
        env.update(gpu=torch.cuda.get_device_name(0), cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                   gpu_memory_gib=round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1))
    return env


def screen(s: dict) -> str:
    "The one-screen text of a summary."
    L = [f"GPU check on {s['environment'].get('gpu', s['environment']['device'])} (torch {s['environment']['torch']}), "
         f"{s['seconds']} s, {'PASSED' if s['passed'] else 'NOT PASSED'}"]
    L.append('stages: ' + ', '.join(f"{k} {v['rc']} ({v['seconds']} s)" for k, v in s['stages'].items()))
    t = s['tests']
    if t: L.append(f"tests: {t['tests']} run, {t['failures'] + t['errors']} failed, {t['skipped']} skipped" + ''.join(f"\n  FAILED {f}" for f in t['failed']))
    m = s['bench_maml']
    if m:
        L.append(f"bench_maml: ours {m['ours_s'] * 1e3:.1f} ms, loop {m['reference_s'] * 1e3:.1f} ms, ratio {m['ratio']:.3f}; "
                 f"autograd {m['autograd_ratio']:.3f}; grad err float32 {m['max_rel_grad_err']:.1e}, float64 {m['max_rel_grad_err_float64']:.1e}; "
                 f"peak MiB {m.get('peak_mb')}")
    b = s['bench_throughput']
    if b:
        rate = lambda k: f"{b[k]['steps_per_s']:.1f}" if k in b else '-'
        L.append(f"throughput (steps/s, 1 process): GAN {rate('gan')}, ProtoNet {rate('protonet')} (labeled {rate('protonet_labeled')}), "
                 f"MAML 5-way {rate('maml')}, 20-way {rate('maml_20way')}")
        if 'eval' in b:
            L.append('eval s/task: ' + '; '.join(f"{k} " + ' '.join(f"{st} {v:.4f}" for st, v in d.items()) for k, d in b['eval']['s_per_task'].items()))
        for r in b.get('concurrency', []):
            if 'error' in r: L.append(f"  {r['workers']:2d} processes: {r['error'][:150]}"); continue
            mem = f", device {r['device_used_mb_per_worker']:.0f} MiB/process" if 'device_used_mb_per_worker' in r else ''
            L.append(f"  {r['workers']:2d} processes: {r['aggregate_steps_per_s']:.1f} ProtoNet steps/s together (x{r.get('speedup_vs_1', 1):.2f}), "
                     f"RSS {r['rss_peak_mb_max']:.0f} MiB/process{mem}")
    e = s['estimates']
    for k, v in e.items():
        if isinstance(v, dict): L.append(f"estimate {k}: " + (v['error'] if 'error' in v else f"{v['hours']} h for {v['n_runs']} runs (factors {v['factors_are']})"))
    sm = s['paper_smoke']
    if sm:
        L.append(f"paper-smoke: {sm['n_runs']} runs, {sm['ok']} ok, {sm['failed']} failed, {sm['truncated']} truncated; {len(sm['figures'])} figures")
        for r in sm['runs']:
            if r['status'] != 'ok': L.append(f"  {r['status'].upper()} {r['run_id']}: {r['error']}")
    return '\n'.join(L)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True, help='the check\'s output folder (holds tests.xml, bench_*.json)')
    p.add_argument('--stages', default=None, help="the check's stage table (TSV: stage, rc, seconds, limit_s)")
    p.add_argument('--smoke', default=None, help="the smoke sweep's results folder (records/; figures/ beside it)")
    p.add_argument('--device', default='cuda')
    p.add_argument('--seconds', type=int, default=0, help='how long the check ran so far')
    a = p.parse_args(argv)
    out = Path(a.out)
    if not out.is_dir(): p.error(f"--out {out}: no such folder")
    s = dict(stages=read_stages(Path(a.stages)) if a.stages else {}, tests=read_junit(out/'tests.xml'),
             bench_maml=read_json(out/'bench_maml.json'), bench_throughput=read_json(out/'bench_throughput.json'),
             paper_smoke=read_smoke(Path(a.smoke)) if a.smoke else None, environment=environment(a.device), seconds=a.seconds)
    s['estimates'] = estimates(s['bench_throughput'])
    t, sm = s['tests'], s['paper_smoke']
    s['passed'] = (all(v['rc'] == 0 for v in s['stages'].values()) and bool(t) and t['failures'] + t['errors'] == 0
                   and bool(sm) and sm['n_runs'] > 0 and sm['ok'] == sm['n_runs'])
    (out/'gpu_check.json').write_text(json.dumps(s, indent=1, default=str) + '\n')
    print(screen(s))
    return 0 if s['passed'] else 1


if __name__ == '__main__':
    sys.exit(main())
