#!/usr/bin/env bash
# Create bench/.venv-fastai: fastai 2.8.12 beside this package, for bench/bench.py's comparison.
#
# torch goes in first, pinned to the same CPU build as .venv; fastai itself with --no-deps, so that pip can
# neither replace torch nor pull torchvision; then fastai 2.8.12's other requirements by name. torchvision
# is left out on purpose: no build of it loads beside torch 2.13 here ("operator torchvision::nms does not
# exist"), and `import fastai.text.all` does not need it (checked at the end; pip's warning "fastai requires
# torchvision, which is not installed" is expected). This package is installed too (editable, no deps), so
# one interpreter imports both and the two sides run on the very same torch.
#
# Usage: bash bench/setup_fastai.sh        (idempotent; a few minutes the first time)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
VENV=bench/.venv-fastai
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/pip install --quiet"
$PIP --upgrade pip
$PIP torch==2.13.0
$PIP --no-deps fastai==2.8.12
# fastai 2.8.12's install_requires without torch/torchvision (versions as resolved when this was written),
# then what this package and bench.py need.
$PIP "fastcore==2.2.41" "fastprogress==1.1.6" "fasttransform==0.0.5" "plum-dispatch==2.9.0" \
     "fastdownload==0.0.8" "spacy==3.8.18" "numpy==2.4.6" "pandas==3.1.1" "matplotlib==3.11.2" \
     "scikit-learn==1.9.1" "scipy==1.17.1" requests pyyaml pillow packaging cloudpickle \
     "safetensors==0.8.0" "tqdm==4.70.1" psutil
$PIP --no-deps -e .
"$VENV/bin/python" - <<'PY'
import fastai, torch
import fastai.text.all  # noqa: F401  (would fail here if fastai needed torchvision)
import ulmfit_core.awd_lstm  # noqa: F401
print(f"bench/.venv-fastai ready: fastai {fastai.__version__}, torch {torch.__version__}")
PY
