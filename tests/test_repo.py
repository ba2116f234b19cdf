"""Repository invariants: notebooks and the generated package agree, notebooks are clean, conda and pip agree."""
from configparser import ConfigParser
from pathlib import Path
import re, shlex, shutil, subprocess, sys, filecmp

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _settings():
    cfg = ConfigParser(delimiters=['=']); cfg.read(ROOT / 'settings.ini'); return cfg['DEFAULT']


def _copy_project(dst):
    for name in ('settings.ini', 'setup.py', 'pyproject.toml', 'README.md'):
        shutil.copy(ROOT / name, dst / name)
    shutil.copytree(ROOT / 'nbs', dst / 'nbs', ignore=shutil.ignore_patterns('.ipynb_checkpoints'))
    shutil.copytree(ROOT / 'ssml', dst / 'ssml', ignore=shutil.ignore_patterns('__pycache__'))


def _diff_trees(a, b):
    cmp = filecmp.dircmp(a, b, ignore=['__pycache__', '.ipynb_checkpoints'])
    out = [f'only in one: {x}' for x in cmp.left_only + cmp.right_only] + [f'differs: {x}' for x in cmp.diff_files]
    for sub, c in cmp.subdirs.items(): out += [f'{sub}/{x}' for x in _diff_trees(Path(a) / sub, Path(b) / sub)]
    return out


def test_nbdev_export_leaves_no_diff(tmp_path):
    _copy_project(tmp_path)
    subprocess.run([BIN / 'nbdev_export'], cwd=tmp_path, check=True, capture_output=True)
    diffs = _diff_trees(ROOT / 'ssml', tmp_path / 'ssml')
    assert not diffs, f'ssml/ is out of date with nbs/ (run nbdev_export and commit): {diffs}'


def test_nbdev_clean_leaves_no_diff(tmp_path):
    _copy_project(tmp_path)
    subprocess.run([BIN / 'nbdev_clean'], cwd=tmp_path, check=True, capture_output=True)
    diffs = _diff_trees(ROOT / 'nbs', tmp_path / 'nbs')
    assert not diffs, f'notebooks are not clean (run nbdev_clean and commit): {diffs}'


def _norm(req):
    "Requirement string -> {conda package name: version spec}."
    m = re.match(r'^([A-Za-z0-9_.-]+)(\[[^\]]+\])?(.*)$', req.strip())
    name, extras, spec = m.group(1).lower(), m.group(2), m.group(3).replace(' ', '')
    name = {'torch': 'pytorch'}.get(name, name)
    out = {name: spec}
    if name == 'dask' and extras and 'distributed' in extras: out['distributed'] = ''
    return out


def test_environment_yml_matches_settings():
    s = _settings()
    want = {}
    for r in shlex.split(s['requirements']) + shlex.split(s['dev_requirements']): want.update(_norm(r))
    env = yaml.safe_load((ROOT / 'environment.yml').read_text())
    got = {}
    for d in env['dependencies']:
        if isinstance(d, str) and not re.match(r'^(python|pip)\b', d): got.update(_norm(d))
    assert got == want, f'environment.yml and settings.ini disagree: only in yml {set(got.items()) - set(want.items())}, only in settings.ini {set(want.items()) - set(got.items())}'


def test_ci_runs_the_readme_test_command():
    readme, ci = (ROOT / 'README.md').read_text(), (ROOT / '.ci' / 'run').read_text()
    cmds = re.findall(r'^make (test|reproduce)\b', readme, flags=re.M)
    assert 'test' in cmds and 'reproduce' in cmds, 'README.md must give `make reproduce` and `make test`'
    assert re.search(r'^make test\b', ci, flags=re.M), '.ci/run must call `make test`'


def test_no_paths_named_after_tickets():
    "Folders and files are named after their subject (e.g. studies/generator_quality/), never a ticket number; nothing points at the old names."
    files = subprocess.run(['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True, check=True).stdout.splitlines()
    assert files, 'git ls-files listed nothing'
    bad = [f for f in files if re.search(r'issue[-_ ]?\d', f, flags=re.I)]
    assert not bad, f'paths named after an issue number: {bad}'
    old = re.compile(r'results/(issue\d+|ablation)\b|benchmarks/(ablation_lasium|fig_lasium_tasks)\.py|ssml\.ablation\b')
    texts = [f for f in files if not f.startswith('results/') and f.endswith(('.py', '.md', '.ipynb', '.yaml', '.ini', '.json'))
             or f == 'Makefile']
    stale = [f for f in texts if (ROOT / f).is_file() and old.search((ROOT / f).read_text(errors='replace'))]
    assert not stale, f'files still pointing at the old study paths: {stale}'


def test_library_modules_fit_in_ones_head():
    "No library module is over 500 lines (the generated `_modidx.py` index aside): a module that grows past it is split by subject."
    mods = sorted(p for p in (ROOT / 'ssml').glob('*.py') if p.name != '_modidx.py')
    assert len(mods) > 10, mods
    long = {p.name: n for p in mods if (n := len(p.read_text().splitlines())) > 500}
    assert not long, f'library modules over 500 lines: {long}'


_MACHINE_PATH = re.compile(r'(?<![\w.])/(?:work|home|Users|root|mnt|scratch|tmp)/[^\s"\'\\]+')


def _kept_text(path: Path) -> str:
    "The text a kept file holds: a torch record is read back and its contents written out."
    if path.suffix == '.pt':
        import torch
        return repr(torch.load(path, map_location='cpu', weights_only=False))
    return path.read_text(errors='replace')


def test_kept_results_name_no_machine_folder():
    "Records, executed notebooks and figure data name places relative to the project, never one machine's folders."
    kept = [p for d in ('results', 'studies', 'figures') for p in (ROOT / d).rglob('*')
            if p.is_file() and p.suffix in {'.json', '.csv', '.ipynb', '.pt', '.md', '.yaml'} and p.stat().st_size < 50_000_000]
    assert len(kept) > 100, f'expected the kept records under results/, studies/ and figures/, found {len(kept)} files'
    found = {}
    for p in kept:
        if p.suffix == '.md' and p.parent.name != 'records': continue  # prose may show a command's example folder
        hits = _MACHINE_PATH.findall(_kept_text(p))
        if hits: found[str(p.relative_to(ROOT))] = sorted(set(hits))[:3]
    assert not found, f'{len(found)} kept file(s) name a machine folder, e.g. {dict(list(found.items())[:5])}'
