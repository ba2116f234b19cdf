"""Screenshots of the built site as a reader sees it (`make docs-shots`): headless Chromium on a local server.

    python nbs/_site/shots.py [--site _docs] [--out _proc/shots] [--pages index 06_lasium results-quick]

Each page is taken `--height` pixels tall and cut into `--tile`-pixel PNGs (`<page>_<i>.png`) small enough to view.
Needs Debian's chromium (`apt-get install -y chromium`) and Pillow (a requirement of the package).
"""
from __future__ import annotations
import argparse, functools, http.server, shutil, subprocess, sys, tempfile, threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync',
                  '--hide-scrollbars', '--virtual-time-budget=8000']  # time for MathJax to typeset


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass


def serve(site: Path):
    "An HTTP server for `site` on 127.0.0.1 (a free port), in a daemon thread; returns it."
    handler = functools.partial(_Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def shoot(url: str, png: Path, width: int, height: int, browser: str):
    "One screenshot of `url`, `width` x `height` pixels, into `png`."
    with tempfile.TemporaryDirectory() as profile:
        cmd = [browser, *CHROMIUM_FLAGS, f'--user-data-dir={profile}', f'--screenshot={png}',
               f'--window-size={width},{height}', url]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    if not png.exists(): raise RuntimeError(f'{browser} wrote no screenshot of {url}')


def tiles(png: Path, tile: int) -> list[Path]:
    "Cut `png` into `tile`-pixel-tall pieces, dropping those past the page's end (all rows like the last one)."
    from PIL import Image, ImageChops
    im, out = Image.open(png).convert('RGB'), []
    last_row = im.crop((0, im.height - 1, im.width, im.height))
    for i, y in enumerate(range(0, im.height, tile)):
        piece = im.crop((0, y, im.width, min(y + tile, im.height)))
        if i and ImageChops.difference(piece, last_row.resize(piece.size)).getbbox() is None: break
        p = png.with_name(f'{png.stem}_{i}.png'); piece.save(p); out.append(p)
    png.unlink()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--site', default=str(ROOT / '_docs'), help='the built site (default _docs/)')
    ap.add_argument('--out', default=str(ROOT / '_proc' / 'shots'), help='where the PNGs go (default _proc/shots/)')
    ap.add_argument('--pages', nargs='+', default=['index', '06_lasium', 'results-quick'], help='page names, no .html')
    ap.add_argument('--width', type=int, default=1280)
    ap.add_argument('--height', type=int, default=6000, help='how much of each page to take')
    ap.add_argument('--tile', type=int, default=1600, help='height of each PNG piece')
    a = ap.parse_args(argv)
    site, out = Path(a.site), Path(a.out)
    browser = shutil.which('chromium') or shutil.which('chromium-browser')
    if browser is None: sys.exit('make docs-shots: no chromium here (Debian: apt-get update && apt-get install -y chromium)')
    missing = [p for p in a.pages if not (site / f'{p}.html').exists()]
    if missing: sys.exit(f'make docs-shots: no page {missing} in {site} (run make docs first)')
    out.mkdir(parents=True, exist_ok=True)
    httpd = serve(site)
    try:
        for page in a.pages:
            png = out / f'{page}.png'
            shoot(f'http://127.0.0.1:{httpd.server_address[1]}/{page}.html', png, a.width, a.height, browser)
            print(*tiles(png, a.tile), sep='\n')
    finally: httpd.shutdown()


if __name__ == '__main__': main()
