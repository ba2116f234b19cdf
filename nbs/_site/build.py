"""Build the documentation site into `_docs/` (`make docs`), offline, with Sphinx + MyST-NB (no Quarto).

1. Every library notebook `nbs/NN_*.ipynb` goes through nbdev's own doc processors (`nbdev.processors`): a
   `show_doc` entry after each exported definition, hidden and export cells dropped, backticked symbols linked.
   Only definitions, import-only cells and `show_doc` run (their docments become the API entries); test cells are
   shown as examples and never run. Each `show_doc` output becomes a markdown cell, so every API entry is a section
   of its page (in the page's contents and the search index, with the anchor nbdev's links use).
2. The index (README.md), DESIGN.md and the results pages (figures/ and the tables beside them, drawn from
   results/) are written as MyST markdown beside the processed notebooks in `_proc/`.
3. Sphinx renders `_proc/` with the configuration in this folder (conf.py).

    python nbs/_site/build.py [--out _docs] [--proc _proc]
"""
from __future__ import annotations
import argparse, ast, csv, importlib, inspect, json, os, re, shutil, sys, time
from pathlib import Path

SITE = Path(__file__).resolve().parent
ROOT = SITE.parents[1]
DOCS_PACKAGES = {'sphinx': 'sphinx', 'myst_nb': 'myst-nb', 'furo': 'furo', 'jupyter_server_mathjax': 'jupyter-server-mathjax'}


def missing_packages() -> list[str]:
    "The docs packages (pip names) that cannot be imported here."
    import importlib.util
    return [pip for mod, pip in DOCS_PACKAGES.items() if importlib.util.find_spec(mod) is None]


def library_notebooks(nbs: Path = ROOT / 'nbs') -> list[Path]:
    "The library notebooks, in order: `nbs/NN_*.ipynb`."
    return sorted(nbs.glob('[0-9]*.ipynb'))


def page_name(nb: Path) -> str:
    "The name nbdev gives a notebook's page (and its symbol links): `06_lasium.ipynb` -> `lasium`."
    return re.sub(r'^\d+[a-z]?_', '', nb.stem)


_re_image_line = re.compile(r'^!\[([^\]]*)\]\(([^)\s]+)\)[ \t]*$', re.M)


def linked_images(md: str) -> str:
    "Images alone on their line as MyST `image` directives: they fill the column and link to the full-size file."
    return _re_image_line.sub(lambda m: f'```{{image}} {m[2]}\n:alt: {m[1]}\n:width: 100%\n```', md)


# ---------------------------------------------------------------- notebooks
def _safe_eval(cell):
    "Cells the API entries need: definitions, import-only cells and `show_doc` calls; tests never run."
    from nbdev.processors import _show_docs
    if cell.cell_type != 'code' or not cell.source: return
    if cell.directives_.get('eval:', [''])[0].lower() == 'false': return
    if cell.directives_.keys() & {'export', 'exports', 'exporti', 'exec_doc'}: return True
    trees = cell.parsed_()
    if not trees: return
    if all(isinstance(t, (ast.Import, ast.ImportFrom)) for t in trees): return True
    return len(_show_docs(trees)) == len(trees) or None


_re_directive = re.compile(r'^\s*#\|.*(?:\n|$)', re.M)
_re_source_link = re.compile(r'^\[source\]\([^)]*\)\{[^}]*\}[ \t]*\n?', re.M)  # a link to the (unpublished) repository


def _show_doc_to_markdown(module):
    "A processor turning each `show_doc` cell into a markdown cell holding its entry; `#|` directives leave the rest."
    from nbdev.process import Processor

    class ShowDocToMarkdown(Processor):
        def cell(self, cell):
            if cell.cell_type != 'code' or not cell.get('source'): return
            m = re.match(r'(?:\s*#\|.*\n)*\s*show_doc\(([\w.]+)', cell.source)
            if not m:
                cell.source = _re_directive.sub('', cell.source).strip()
                return
            md = ''.join(''.join(o['data']['text/markdown']) for o in cell.get('outputs', [])
                         if 'text/markdown' in o.get('data', {}))
            md = _re_source_link.sub('', md)
            md = re.sub(r'^---\s*\n', '', md.lstrip()).strip()
            name = m[1].split('.')[-1]
            if inspect.isclass(getattr(module, m[1], None)):  # fastcore writes a class's signature as `def Name(`
                md = md.replace(f'def {name}(', f'class {name}(', 1)
            cell.cell_type, cell.source, cell.metadata = 'markdown', md, {}
            for k in ('outputs', 'execution_count', 'has_sd'): cell.pop(k, None)
    return ShowDocToMarkdown


def _slug(title: str) -> str:
    "The anchor MyST gives a heading (GitHub's rule): `### TaskBatch.to` -> `taskbatchto`."
    return re.sub(r'[^\w\- ]', '', title.strip().lower()).replace(' ', '-')


def _anchors(nb) -> set[str]:
    "The anchors of the headings (sections and API entries) of a processed notebook."
    src = '\n'.join(c.source for c in nb.cells if c.cell_type == 'markdown')
    src = re.sub(r'^```.*?^```', '', src, flags=re.M | re.S)
    return {_slug(re.sub(r'[`*]', '', t)) for t in re.findall(r'^#{1,6}\s+(.+?)\s*#*\s*$', src, re.M)}


def _link_rewriter(pages: dict[str, tuple[str, set[str]]]):
    "Point nbdev's symbol links (`<doc_host><doc_baseurl>/<page>.html#<anchor>`) at this site; unlink those with no entry."
    from nbdev.config import get_config
    cfg = get_config()
    base = re.escape(cfg.doc_host.rstrip('/') + '/' + cfg.doc_baseurl.strip('/'))
    pat = re.compile(r'\[([^\]]*)\]\(' + base + r'/([\w-]+)\.html(?:#([^)\s]*))?\)')
    def sub(m):
        text, name, anchor = m.groups()
        if name not in pages: return m.group(0)
        stem, anchors = pages[name]
        if not anchor: return f'[{text}]({stem}.ipynb)'
        return f'[{text}]({stem}.ipynb#{_slug(anchor)})' if _slug(anchor) in anchors else text
    return lambda s: pat.sub(sub, s)


def process_notebook(src: Path):
    "`src` as its documentation page: nbdev's doc processors, `show_doc` entries as markdown cells."
    from execnb.nbio import read_nb
    from nbdev.config import get_config
    from nbdev.process import NBProcessor
    import nbdev.processors as P
    P._do_eval = _safe_eval  # exec_show_docs would also run test cells that import something
    nb = read_nb(src)
    exp = next((m[1] for c in nb.cells if c.cell_type == 'code' for m in [P._re_defaultexp.search(c.source)] if m), None)
    module = importlib.import_module(f'{get_config().lib_name}.{exp}') if exp else None
    procs = [P.populate_language, P.add_show_docs, P.strip_ansi, P.hide_line, P.filter_stream_, P.rm_header_dash,
             P.exec_show_docs, P.rm_export, P.clean_magics, P.hide_, _show_doc_to_markdown(module), P.add_links,
             P.strip_hidden_metadata]
    NBProcessor(nb=nb, procs=procs).process()
    nb.cells = [c for c in nb.cells if c.get('source')]
    return nb


def process_notebooks(nbs: list[Path]) -> dict[str, object]:
    "The processed notebooks by stem, their symbol links pointing at this site's pages."
    done = {p.stem: process_notebook(p) for p in nbs}
    relink = _link_rewriter({page_name(p): (p.stem, _anchors(done[p.stem])) for p in nbs})
    for nb in done.values():
        for c in nb.cells:
            if c.cell_type == 'markdown': c.source = linked_images(relink(c.source).replace('](../figures/', '](figures/'))
    return done


# ---------------------------------------------------------------- pages
FIGURES = {  # file-name prefix: (title, what the figure shows); the figures carry their own legends
    'acc_vs_labeled': ('Accuracy against the labeled share', 'Test accuracy against the share of the training set '
                       'labeled, for each labeling scheme: SSML and supervised-only as curves, the unsupervised and '
                       'reference methods as lines, each point with its 95% interval; the seed counts are under each '
                       'panel, and its title says how many images the lowest fraction labels.'),
    'ssml_comparison': ('SSML against its two halves', 'Every SSML point beside supervised-only and unsupervised '
                        'LASIUM on the same labels (accuracy in %, ± the 95% interval); "beats both" marks a point '
                        'above both intervals.'),
    'mix_ratio': ('The mixing ratio', 'SSML accuracy against the generated share of each meta-batch, with '
                  'supervised-only at share 0 and LASIUM at share 1.'),
    'published_comparison': ('Against the published numbers', 'Our accuracies beside the published ones '
                             '(`configs/published.csv`, each row naming where it was read).'),
    'generator_samples': ("The run's generators", 'Samples of the generators the run trained.'),
    'lasium_tasks-': ('LASIUM tasks', "Tasks from one of the run's generators: rows are classes, the anchor left of "
                      'the red line, then the queries.'),
    'lasium_tasks': ('LASIUM tasks', 'LASIUM-N / RO / OC tasks from the trained Omniglot GAN and VAE.'),
    'samples_': ('Samples', 'Samples of one generative model of the generator study (trained longer than in the '
                 'profiles), or real images for comparison.'),
    'gan_vs_ssgan': ('GAN and SS-GAN', 'GAN and semi-supervised GAN samples side by side.'),
    'ablation_lasium': ('The LASIUM ablation', 'Test accuracy of each configuration (left) and the transfer '
                        'diagnostics against it (right); one seed per point.'),
}
RUN_COLUMNS = ['run_id', 'status', 'method', 'generator', 'scheme', 'label_fraction', 'mix_ratio', 'meta_learner',
               'seed', 'accuracy', 'ci95', 'duration_s']
ABLATION_COLUMNS = ['name', 'model', 'variant', 'sigma', 'alpha', 'aug', 'learner', 'minutes', 'steps', 'test_acc',
                    'test_ci95', 'train_task_acc']


def _title_note(stem: str) -> tuple[str, str]:
    "A figure's title (with what its file name adds, e.g. the generator) and what it shows."
    key = next((k for k in FIGURES if stem.startswith(k)), None)
    if key is None: return stem, ''
    title, note = FIGURES[key]
    rest = stem[len(key):].strip('-_')
    return (f'{title}: {rest}' if rest else title), note


def data_table(md_table: str) -> str:
    "A markdown table in a container whose cells do not wrap (wide tables scroll sideways; see static/site.css)."
    return '```{container} data-table\n' + md_table.strip() + '\n```\n'


def _fmt(v: str) -> str:
    try: f = float(v)
    except ValueError: return v.replace('|', '\\|')
    return v if f.is_integer() and '.' not in v else f'{f:.4g}'


def csv_table(path: Path, columns: list[str] | None = None, pct: tuple = ()) -> str:
    "A markdown table of the CSV at `path` (only `columns` that exist, when given; `pct` columns x100)."
    with open(path, newline='', encoding='utf-8') as f: rows = list(csv.DictReader(f))
    if not rows: return f'*`{path.relative_to(ROOT)}` is empty.*\n'
    cols = [c for c in (columns or rows[0].keys()) if c in rows[0]]
    def cell(r, c):
        v = r.get(c) or ''
        if c in pct and v:
            try: return f'{100 * float(v):.2f}'
            except ValueError: pass
        return _fmt(v)
    out = ['| ' + ' | '.join(cols) + ' |', '|' + ' --- |' * len(cols)]
    out += ['| ' + ' | '.join(cell(r, c) for c in cols) + ' |' for r in rows]
    return '\n'.join(out) + '\n'


def _figure(png: Path, rel: str) -> str:
    "A section for one figure or table: what it shows, the image (or the table, from its Markdown), the records behind it."
    title, note = _title_note(png.stem)
    md, table = [f'### {title}\n', note + '\n' if note else ''], png.with_suffix('.md')
    if table.exists(): md.append(data_table(table.read_text(encoding='utf-8')))  # a table (older code also drew it as a picture)
    else: md.append(f'![{png.stem}]({rel})\n')
    if png.suffix == '.md':  # the site does not carry the CSV: named, not linked
        line = f'File `{png.with_suffix(".csv").relative_to(ROOT)}` (every column)'
    else: line = f'File [`{png.relative_to(ROOT)}`]({rel})'
    side = png.with_suffix('.json')
    if side.exists():
        meta = json.loads(side.read_text(encoding='utf-8'))
        src = [f'{len(meta["run_ids"])} run records' if meta.get('run_ids') else '',
               ', '.join(f'`{r}`' for r in meta.get('records', []))]
        src = ' and '.join(s for s in src if s)
        if src: line += f', drawn from {src} (listed in `{side.relative_to(ROOT)}`)'
    md.append(line + '.\n')
    return '\n'.join(m for m in md if m)


PROFILE_PAGES = ('study', 'quick')  # profiles with a results page (figures/<profile>/README.md tells what they found)

def profile_page(profile: str) -> str:
    "The results page of a profile: its story (figures/<profile>/README.md), its figures and tables, every run."
    fig = ROOT / 'figures'
    def order(p):  # summary figures first, in the order the READMEs discuss them
        keys = ['lasium_table', 'lasium_vs_published', 'ssml_policies', 'acc_vs_labeled', 'ssml_comparison', 'mix_ratio',
                'published_comparison', 'generator_samples']
        return (next((i for i, k in enumerate(keys) if p.stem.startswith(k)), len(keys)), p.stem)
    story = fig / profile / 'README.md'  # what the profile found, written beside its figures
    text = story.read_text(encoding='utf-8') if story.exists() else f'# Results: the {profile} profile\n'
    text = re.sub(r'\]\(([^)/\s]+\.png)\)', rf'](figures/{profile}/\1)', text)  # the story's pictures sit beside it
    page = [text,
            f'Every figure and table below is drawn from the run records in `results/{profile}/` (`ssml figures --results '
            f'results/{profile} --fig-dir figures/{profile}`, part of `make reproduce`); accuracy is the mean over the '
            f'same 1000 fixed test tasks, ± the 95% interval.\n',
            '## Figures and tables\n']
    shown = list((fig / profile).glob('*.png'))  # the figures, and the tables (Markdown with a sidecar) not drawn as pictures
    shown += [t for t in (fig / profile).glob('*.md') if t.with_suffix('.json').exists() and not t.with_suffix('.png').exists()]
    page += [_figure(p, f'figures/{profile}/{p.name}') for p in sorted(shown, key=order)]
    runs = ROOT / 'results' / profile / 'runs.csv'
    if runs.exists():
        page += ['## Every run\n', f'From `{runs.relative_to(ROOT)}` (accuracy and ci95 in %; the full record of '
                 f'each run, with all its parameters, is `results/{profile}/records/<run_id>.json`).\n',
                 data_table(csv_table(runs, RUN_COLUMNS, pct=('accuracy', 'ci95')))]
    return '\n'.join(page)

def results_pages() -> dict[str, str]:
    "The results pages: one per profile with results (`PROFILE_PAGES`), and the studies behind the defaults."
    fig = ROOT / 'figures'
    pages = {f'results-{p}': linked_images(profile_page(p)) for p in PROFILE_PAGES if (fig / p).is_dir()}
    studies = ['# Results: the studies behind the defaults\n',
               'The generative models of the generator study (trained longer than in the profiles) and the LASIUM '
               'ablation behind the profiles\' defaults; `make reproduce` redraws these figures from their kept records '
               '(`ssml.figures.study_figures`).\n', '## Figures\n']
    studies += [_figure(p, f'figures/{p.name}') for p in sorted(fig.glob('*.png'))]
    tables = [('The LASIUM ablation', ROOT / 'studies' / 'lasium_ablation' / 'records' / 'ablation.csv', ABLATION_COLUMNS),
              ('Supervised meta-learners against training minutes', ROOT / 'studies' / 'supervised_meta_learners' / 'records' / 'accuracy_vs_minutes.csv', None)]
    for title, path, cols in tables:
        if path.exists(): studies += [f'## {title}\n', f'From `{path.relative_to(ROOT)}`.\n', data_table(csv_table(path, cols))]
    fd = ROOT / 'studies' / 'generator_quality' / 'records' / 'fd.json'
    if fd.exists():
        d = json.loads(fd.read_text(encoding='utf-8'))
        studies += ['## Fréchet distance of the generators\n',
                    f'From `{fd.relative_to(ROOT)}`: {d.get("reference", "")}; features: {d.get("feature_net", "")}.\n',
                    '| model | Fréchet distance |\n| --- | --- |\n' +
                    '\n'.join(f'| {k} | {v} |' for k, v in d.get('fd', {}).items()) + '\n']
    return {**pages, 'results-studies': linked_images('\n'.join(studies))}


def index_page(nbs: list[Path]) -> str:
    "README.md as the index: notebook names link to their pages; the site's navigation."
    md = (ROOT / 'README.md').read_text(encoding='utf-8')
    stems = {p.stem for p in nbs}
    md = re.sub(r'`(\d+[a-z]?_\w+)`', lambda m: f'[`{m[1]}`]({m[1]}.ipynb)' if m[1] in stems else m[0], md)
    md = md.replace('](nbs/)', f']({nbs[0].stem}.ipynb)')
    shown = [p for p in PROFILE_PAGES if (ROOT / 'figures' / p).is_dir()]
    for p in shown: md = md.replace(f'](figures/{p}/README.md)', f'](results-{p}.md)')  # repo files shown as site pages
    md = md.replace('](studies/)', '](results-studies.md)')
    site = {'DESIGN.md', 'results-studies.md'} | {f'results-{p}.md' for p in shown} | {f'{p.stem}.ipynb' for p in nbs}
    md = re.sub(r'\[([^\]]+)\]\(([^)#:]+)\)', lambda m: m[0] if m[2] in site or m[2].startswith(('http', 'figures/')) else f'{m[1]} (`{m[2]}` in the repository)', md)  # other repository files are not pages of the site
    nav = ['```{toctree}\n:hidden:\n:caption: Results\n\n' + ''.join(f'results-{p}\n' for p in shown) + 'results-studies\n```',
           '```{toctree}\n:hidden:\n:caption: Library\n\n' + '\n'.join(p.stem for p in nbs) + '\n```',
           '```{toctree}\n:hidden:\n:caption: Design\n\nDESIGN\n```']
    return linked_images(md).rstrip() + '\n\n' + '\n\n'.join(nav) + '\n'


# ---------------------------------------------------------------- build
def build(out: Path = ROOT / '_docs', proc: Path = ROOT / '_proc', quiet: bool = True) -> Path:
    "Process the notebooks into `proc` and render the site into `out`; returns `out`."
    miss = missing_packages()
    if miss: raise RuntimeError(f'the docs packages {miss} are not installed: run `make setup` (they are dev requirements)')
    from execnb.nbio import write_nb
    from sphinx.cmd.build import build_main
    os.chdir(ROOT)  # nbdev reads settings.ini from the working directory
    out, proc = Path(out).resolve(), Path(proc).resolve()
    nbs = library_notebooks()
    if not nbs: raise FileNotFoundError(f'no library notebooks (NN_*.ipynb) in {ROOT / "nbs"}')
    for d in (out, proc):  # a fresh build each time: no page of a removed notebook survives
        ours = d in (ROOT / '_docs', ROOT / '_proc') or (d / 'index.html').exists() or (d / 'index.md').exists()
        if d.exists() and any(d.iterdir()) and not ours:
            raise FileExistsError(f'{d} holds files but no site: refusing to replace it')
        shutil.rmtree(d, ignore_errors=True)
    proc.mkdir(parents=True)
    for stem, nb in process_notebooks(nbs).items(): write_nb(nb, proc / f'{stem}.ipynb')
    pages = {'index': index_page(nbs), **results_pages(), 'DESIGN': (ROOT / 'DESIGN.md').read_text(encoding='utf-8')}
    for name, text in pages.items(): (proc / f'{name}.md').write_text(text, encoding='utf-8')
    shutil.copytree(ROOT / 'figures', proc / 'figures', ignore=shutil.ignore_patterns('*.pdf', '*.json', '*.md', '*.csv', '*.html'))
    html = proc / '.build' / 'html'  # myst-nb writes jupyter_execute/ beside the HTML folder: keep it in proc
    args = ['-b', 'html', '-c', str(SITE), '-d', str(proc / '.build' / 'doctrees'), str(proc), str(html)]
    rc = build_main((['-q'] if quiet else []) + args)
    if rc: raise RuntimeError(f'sphinx-build failed ({rc}): sphinx-build {" ".join(args)}')
    shutil.move(html, out)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default=str(ROOT / '_docs'), help='the site folder (default _docs/)')
    ap.add_argument('--proc', default=str(ROOT / '_proc'), help='where the processed pages go (default _proc/)')
    ap.add_argument('--verbose', action='store_true', help="Sphinx's progress, not only its warnings")
    a = ap.parse_args(argv)
    t = time.time()
    try: out = build(Path(a.out), Path(a.proc), quiet=not a.verbose)
    except (RuntimeError, FileNotFoundError, FileExistsError) as e: sys.exit(f'make docs: {e}')
    print(f'site built in {time.time() - t:.0f} s: {out / "index.html"}')


if __name__ == '__main__': main()
