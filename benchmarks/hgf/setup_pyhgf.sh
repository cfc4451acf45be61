#!/bin/sh
# Create benchmarks/.venvs/pyhgf with pyhgf 0.3.2 and jax 0.6.x (float64 CPU), for the
# HGF speed comparison only; geobayes never needs pyhgf.  The interpreter (Python >= 3.12)
# comes from $PYHGF_PYTHON, else from tools/find_python.sh (PATH, then pyenv).
set -e
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/benchmarks/.venvs/pyhgf"
py="${PYHGF_PYTHON:-$(sh "$root/tools/find_python.sh")}"
if [ ! -x "$venv/bin/python" ]; then
  echo "creating $venv with $py"
  "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "pyhgf==0.3.2" "jax==0.6.*" "jaxlib==0.6.*"
"$venv/bin/python" -c "import pyhgf, jax; print('pyhgf', pyhgf.__version__, 'jax', jax.__version__)"
