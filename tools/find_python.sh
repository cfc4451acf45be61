#!/bin/sh
# Print the path of a Python >= 3.12 interpreter, or explain what to install.
# Order: $PYTHON if given, interpreters on PATH, then pyenv-installed versions.
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
if [ -n "${PYTHON:-}" ]; then
  if ok "$PYTHON"; then command -v "$PYTHON" || echo "$PYTHON"; exit 0; fi
  echo "error: PYTHON=$PYTHON is not a working Python >= 3.12" >&2; exit 1
fi
for p in python3.14 python3.13 python3.12 python3 python; do
  if command -v "$p" >/dev/null 2>&1 && ok "$p"; then
    "$p" -c 'import sys; print(sys.executable)'; exit 0
  fi
done
root="${PYENV_ROOT:-$HOME/.pyenv}"
if command -v pyenv >/dev/null 2>&1; then root="$(pyenv root 2>/dev/null || echo "$root")"; fi
for exe in $(ls -d "$root"/versions/3.* 2>/dev/null | sort -t. -k2,2nr -k3,3nr | sed 's|$|/bin/python|'); do
  if [ -x "$exe" ] && ok "$exe"; then echo "$exe"; exit 0; fi
done
for exe in /usr/local/bin/python3.1[2-9] /usr/bin/python3.1[2-9] /opt/homebrew/bin/python3.1[2-9]; do
  if [ -x "$exe" ] && ok "$exe"; then echo "$exe"; exit 0; fi
done
echo "error: geobayes needs Python >= 3.12; install one (python.org, your package manager, or 'pyenv install 3.12') or run make with PYTHON=/path/to/python3.12" >&2
exit 1
