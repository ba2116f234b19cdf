"""The README's library example runs as written (on the real Omniglot copy when the data root has it)."""
import os, re, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    text = (ROOT / 'README.md').read_text()
    m = re.search(r'<!-- readme-example[^>]*-->\s*```python\n(.*?)```', text, re.S)
    assert m, 'README.md has no marked library example'
    return m.group(1)


def test_readme_example_is_short():
    lines = [l for l in readme_example().splitlines() if l.strip()]
    assert len(lines) <= 11, len(lines)  # ten lines and its import


def _no_omniglot():
    from ssml.data import has_omniglot
    return None if has_omniglot() else 'Omniglot not found (set SSML_DATA to the folder holding omniglot-py/)'


@pytest.mark.skipif(_no_omniglot() is not None, reason=str(_no_omniglot()))
def test_readme_example_runs(tmp_path):
    r = subprocess.run([sys.executable, '-c', readme_example()], cwd=tmp_path, capture_output=True, text=True, timeout=1200,
                       env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, r.stderr[-3000:]
    m = re.search(r'5-way 1-shot: ([\d.]+) ± ([\d.]+)% over 200 test tasks', r.stdout)
    assert m, r.stdout[-2000:]
    assert 20 < float(m.group(1)) <= 100 and 0 < float(m.group(2)) < 10  # above chance (20%), a real interval
    assert (tmp_path / 'runs' / 'readme-gan' / 'final.pt').is_file()


def test_readme_headline_is_the_generated_table():
    "The README's headline table is `figures/quick/headline.md`, drawn from the records by `make reproduce`: no typed number."
    text = (ROOT / 'README.md').read_text()
    m = re.search(r'<!-- headline[^>]*-->\n(.*?)\n<!-- /headline -->', text, re.S)
    assert m, 'README.md has no headline block'
    assert m.group(1).strip() == (ROOT / 'figures' / 'quick' / 'headline.md').read_text().strip()


def test_readme_tables_are_the_generated_ones():
    "Every table block of the READMEs (`<!-- table: <path> ... -->` ... `<!-- /table -->`) is the file it names, as drawn from the records."
    readmes = [ROOT / 'README.md'] + sorted((ROOT / 'figures').glob('*/README.md'))
    blocks = [(r, *b) for r in readmes for b in re.findall(r'<!-- table: ([^,\s]+)[^>]*-->\n(.*?)\n<!-- /table -->', r.read_text(), re.S)]
    assert any(r.name == 'README.md' and r.parent == ROOT for r, _, _ in blocks), 'README.md has no table block'
    for readme, path, body in blocks:
        assert (ROOT / path).is_file(), f'{readme.relative_to(ROOT)}: its table block names {path}, which does not exist'
        assert body.strip() == (ROOT / path).read_text().strip(), f'{readme.relative_to(ROOT)}: its table block differs from {path}'
