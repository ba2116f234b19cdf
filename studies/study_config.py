"""Settings of a study: its `config.yaml`, with `--set KEY=VALUE` overrides, and the paths every study script takes.

A study script starts with

    from study_config import study_parser, parse_study_args

(its folder's parent, `studies/`, is put on `sys.path` by the script) and gets the config as a dict. The command
line only picks paths (`--data`, `--work-dir`, `--out`, `--fig-dir`) and overrides; every setting lives in the
study's `config.yaml`.
"""
from __future__ import annotations
import argparse, copy, os, sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]  # the project
STUDIES = ROOT / 'studies'
if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))  # `import ssml` from this checkout
from ssml.cli import parse_overrides  # `--set KEY=VALUE`, parsed as the ssml command parses it
from ssml.core import project_path as relative  # noqa: F401  (records name places relative to the project)

PATHS = {
    'data': dict(default=None, help='data root holding omniglot-py/ (default: $SSML_DATA, else data/ in the project)'),
    'work_dir': dict(default=str(ROOT / 'runs'), help='checkpoints and scratch: generators, meta-training runs, task lists'),
    'out': dict(default=None, help="where the study's records go (default: its records/ folder)"),
    'fig_dir': dict(default=str(ROOT / 'figures'), help="where the study's figures go"),
}


def apply_overrides(cfg: dict,  # settings (not changed)
                    overrides: dict | None,  # {'key' or 'section.key': value}
                    where: str = 'config'  # what `cfg` is, for error messages
                   ) -> dict:
    "A copy of `cfg` with `overrides` applied; a key that is not already a setting is refused."
    cfg = copy.deepcopy(cfg)
    for key, v in (overrides or {}).items():
        d, parts = cfg, key.split('.')
        for i, p in enumerate(parts[:-1]):
            if not isinstance(d.get(p), dict):
                raise ValueError(f"--set {key}: {'.'.join(parts[:i + 1])!r} is not a section of {where} "
                                 f"(sections: {sorted(k for k, x in d.items() if isinstance(x, dict))})")
            d = d[p]
        if parts[-1] not in d: raise ValueError(f"--set {key}: no setting {parts[-1]!r} in {where}; known: {sorted(d)}")
        d[parts[-1]] = v
    return cfg


def load_config(study_dir: str | Path,  # the study's folder, holding config.yaml
                overrides: dict | None = None  # {'key' or 'section.key': value}
               ) -> dict:
    "The study's `config.yaml` as a dict, with `overrides` applied."
    path = Path(study_dir) / 'config.yaml'
    if not path.is_file(): raise FileNotFoundError(f"no study config {path} (expected config.yaml in the study's folder)")
    return apply_overrides(yaml.safe_load(path.read_text()) or {}, overrides, str(path))


def study_parser(doc: str,  # the script's docstring (the --help text)
                 paths: tuple = ('data', 'out'),  # which of PATHS the script takes
                 set_help: str | None = "override a setting of config.yaml (VALUE parsed as YAML; 'a.b' reaches into section a)"  # None: no --set
                ) -> argparse.ArgumentParser:
    "An argument parser with the study's paths and `--set KEY=VALUE` overrides; the script adds its own choices."
    unknown = [p for p in paths if p not in PATHS]
    if unknown: raise ValueError(f"paths {unknown} unknown; have {sorted(PATHS)}")
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in paths: p.add_argument('--' + name.replace('_', '-'), **PATHS[name])
    if set_help is not None: p.add_argument('--set', nargs='*', default=[], metavar='KEY=VALUE', help=set_help)
    return p


def parse_study_args(p: argparse.ArgumentParser,  # from `study_parser`
                     study_dir: str | Path,  # the study's folder
                     argv: list | None = None  # default: sys.argv[1:]
                    ) -> argparse.Namespace:
    "Parse the command line: `--data` becomes SSML_DATA, `--out` defaults to the study's records/, paths are absolute."
    a = p.parse_args(argv)
    a.overrides = parse_overrides(getattr(a, 'set', None))
    if getattr(a, 'data', None) is not None:
        if not Path(a.data).is_dir(): raise FileNotFoundError(f"--data {a.data}: folder not found (expected a data root holding omniglot-py/)")
        os.environ['SSML_DATA'] = str(Path(a.data).resolve())
    if hasattr(a, 'out'): a.out = Path(a.out or Path(study_dir) / 'records').resolve()
    for name in ('work_dir', 'fig_dir'):
        if hasattr(a, name): setattr(a, name, Path(getattr(a, name)).resolve())
    return a
