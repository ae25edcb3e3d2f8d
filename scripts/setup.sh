#!/usr/bin/env bash
# Install obliviate into ./.venv (created if missing).
#   scripts/setup.sh          the package
#   scripts/setup.sh --test   the package, the test tools and the optional parts CI tests (PostgreSQL ledger, Ray)
# On a machine without a GPU, PyTorch is pinned to the CPU build 2.13.0 *before*
# anything else is installed (an unpinned torch would pull a multi-GB CUDA build).
# The venv sees the system's site-packages, so a torch you already have (say, a CUDA
# build on a GPU machine) is kept and used as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--test" ] && extras="[test,postgres,ray]"
python="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
    "$python" -m venv --system-site-packages .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)

if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        echo "setup: GPU found, installing PyTorch from PyPI"
        "${pip[@]}" install torch
    else
        echo "setup: no GPU found, installing the CPU build torch==2.13.0"
        "${pip[@]}" install "torch==2.13.0"
    fi
else
    echo "setup: keeping the installed $(.venv/bin/python -c 'import torch; print("torch", torch.__version__)')"
fi
"${pip[@]}" install -e ".${extras}"
echo "setup: done (.venv/bin/obliviate)"
