"""The documentation site (`make docs`, nbs/_site/build.py) builds offline: a page per library notebook, API entries
from the docments, the results pages; and the build runs only what the API entries need, never the tests."""
from html import unescape
from pathlib import Path
import importlib.util, inspect, os, re, subprocess, sys

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / 'nbs' / '_site' / 'build.py'


def _build_module():
    spec = importlib.util.spec_from_file_location('ssml_docs_build', BUILD)
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


build = _build_module()


def _text(html):
    "The visible text of an HTML fragment."
    return unescape(re.sub(r'<[^>]+>', '', html))


def test_only_definitions_imports_and_show_doc_run():
    from execnb.nbio import mk_cell
    run = lambda src: bool(build._safe_eval(mk_cell(src)))
    assert run('show_doc(stream_seed)')
    assert run('import torch\nfrom ssml.core import stream_seed')
    assert not run('from ssml.core import stream_seed\ntest_eq(stream_seed(0, "a"), stream_seed(0, "a"))')  # a test
    assert not run('x = expensive_training()')


def test_docs_site(tmp_path):
    missing = build.missing_packages()
    if missing: pytest.skip(f'the docs packages {missing} are not installed (`make setup` installs the dev requirements)')
    out, proc = tmp_path / 'site', tmp_path / 'proc'
    r = subprocess.run([sys.executable, str(BUILD), '--out', str(out), '--proc', str(proc)], capture_output=True,
                       text=True, timeout=900, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, f'the docs build failed:\n{r.stdout}\n{r.stderr}'
    warnings = [l for l in r.stderr.splitlines() if 'WARNING' in l]
    assert not warnings, 'the docs build warned (a broken link, image or cross-reference?):\n' + '\n'.join(warnings)

    nbs = build.library_notebooks()
    assert len(nbs) >= 10
    pages = [f'{p.stem}.html' for p in nbs] + ['index.html', 'results-quick.html', 'results-studies.html', 'DESIGN.html']
    assert not [p for p in pages if not (out / p).is_file()], 'pages missing'
    index = (out / 'index.html').read_text(encoding='utf-8')
    assert not [p for p in nbs if f'href="{p.stem}.html"' not in index], 'the navigation misses a notebook'

    # the API entry of ssml.core.stream_seed: a section of the core page with its signature, every parameter's
    # docment and its docstring, then the notebook's test cell shown as an example
    from fastcore.docments import docments
    from ssml.core import stream_seed
    html = (out / '00_core.html').read_text(encoding='utf-8')
    entry = re.search(r'<section id="stream-seed">(.*?)</section>', html, re.S)
    assert entry, 'no API entry for stream_seed on the core page'
    text = _text(entry.group(1))
    assert 'def stream_seed(' in text
    for name, comment in docments(stream_seed).items():
        if comment: assert comment in text, f'the docment of {name!r} is not on the page'
    assert inspect.getdoc(stream_seed).replace('`', '') in text
    assert 'cell_input' in entry.group(1) and 'test_eq(' in text, 'no test cell shown after the entry'

    # offline: MathJax is in the site and no page loads anything from elsewhere
    assert (out / '_static' / 'mathjax' / 'MathJax.js').is_file()
    remote = {m for p in out.glob('*.html') for m in re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="(https?://[^"]+)"',
                                                                  p.read_text(encoding='utf-8'))}
    assert not remote, f'pages load remote files: {remote}'

    # every figure of the quick profile is on its results page (a table drawn as a figure: the table)
    results = (out / 'results-quick.html').read_text(encoding='utf-8')
    for png in (ROOT / 'figures' / 'quick').glob('*.png'):
        assert png.name in results, f'{png.name} is not on the results page'
    for table in (ROOT / 'figures' / 'quick').glob('*.md'):  # and every table (Markdown with a sidecar), as a table
        if table.with_suffix('.json').exists():
            assert table.stem in results and '<table' in results, f'the table {table.name} is not on the results page'
