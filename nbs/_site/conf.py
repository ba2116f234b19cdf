"""Sphinx configuration of the documentation site (`make docs`; nbs/_site/build.py writes the pages it renders)."""
from configparser import ConfigParser
from pathlib import Path
import shutil

_root = Path(__file__).resolve().parents[2]
_cfg = ConfigParser(delimiters=['=']); _cfg.read(_root / 'settings.ini', encoding='utf-8'); _cfg = _cfg['DEFAULT']

project = _cfg['lib_name']
author = _cfg['author']
copyright = _cfg['copyright']
release = _cfg['version']

extensions = ['myst_nb']
exclude_patterns = ['.build', 'shots']
nb_execution_mode = 'off'  # pages show the outputs stored in the notebooks; only show_doc ran (in build.py)
nb_merge_streams = True
myst_enable_extensions = ['dollarmath', 'amsmath']
myst_heading_anchors = 3   # `### pool_eps` gets the anchor #pool_eps, the one nbdev's symbol links use
suppress_warnings = ['myst.header']  # an API entry (###) may follow a section title (#) directly

html_theme = 'furo'
html_title = f"{project} {release}"
html_static_path = ['static']
html_css_files = ['site.css']
html_show_sourcelink = False
html_copy_source = False

# MathJax 2 from the jupyter-server-mathjax package, copied into the site: the pages render math offline.
mathjax_path = 'mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full'
mathjax2_config = {
    'tex2jax': {'inlineMath': [['\\(', '\\)']], 'displayMath': [['\\[', '\\]']], 'processEscapes': True,
                'processClass': 'math|tex2jax_process'},
    'HTML-CSS': {'availableFonts': [], 'webFont': 'STIX-Web', 'imageFont': None, 'preferredFont': None},
    'messageStyle': 'none',
}


def _copy_mathjax(app, exc):
    if exc is not None or app.builder.format != 'html': return
    import jupyter_server_mathjax
    src = Path(jupyter_server_mathjax.__file__).parent / 'static'
    dst = Path(app.outdir) / '_static' / 'mathjax'
    if not (dst / 'MathJax.js').exists(): shutil.copytree(src, dst, dirs_exist_ok=True)


def setup(app):
    app.connect('build-finished', _copy_mathjax)
