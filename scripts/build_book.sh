#!/usr/bin/env bash
# Build the book offline into book/_build/html (assumes the project's virtualenv is active).
#   1. install MathJax from package-lock.json into node_modules/ if it is missing (npm ci);
#   2. copy the MathJax files the pages need into book/_vendor/mathjax (published as _static/mathjax);
#   3. write book/_toc.yml from the chapter notebooks that exist, and placeholder generated pages;
#   4. run jupyter-book from scratch with warnings as errors;
#   5. check that no page loads a script or stylesheet from the internet;
#   6. print the path of the built index.html.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BOOK="$ROOT/book"
MATHJAX_SRC="$ROOT/node_modules/mathjax/es5"
MATHJAX_DST="$BOOK/_vendor/mathjax"
cd "$ROOT"

# 1. MathJax from the lock file.
if [ ! -f "$MATHJAX_SRC/tex-chtml.js" ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi

# 2. The tex-chtml component and what it loads on demand (fonts, TeX extensions, menu, accessibility).
rm -rf "$MATHJAX_DST"
mkdir -p "$MATHJAX_DST/output"
cp "$MATHJAX_SRC/tex-chtml.js" "$MATHJAX_DST/"
cp -r "$MATHJAX_SRC/input" "$MATHJAX_SRC/ui" "$MATHJAX_SRC/a11y" "$MATHJAX_SRC/sre" "$MATHJAX_DST/"
cp -r "$MATHJAX_SRC/output/chtml" "$MATHJAX_DST/output/"
cp "$ROOT/node_modules/mathjax/LICENSE" "$MATHJAX_DST/"

# 3. Generated sources.
python "$BOOK/prepare_book.py" "$BOOK" >/dev/null

# 4. Build from scratch: an incremental build would not repeat warnings of unchanged pages, and
#    would keep pages of chapters that no longer exist.
rm -rf "$BOOK/_build"
jupyter-book build "$BOOK" --warningiserror --keep-going --quiet

# 5. Offline check: no <script src> or <link href> pointing at another host.
HTML="$BOOK/_build/html"
if grep -rlE --include='*.html' '<script[^>]+src="(https?:)?//|<link[^>]+href="(https?:)?//' "$HTML" >/dev/null; then
    echo "error: pages load remote assets:" >&2
    grep -rhoE --include='*.html' '<script[^>]+src="(https?:)?//[^"]*"|<link[^>]+href="(https?:)?//[^"]*"' "$HTML" | sort -u >&2
    exit 1
fi

# 6. Where it is.
echo "$HTML/index.html"
