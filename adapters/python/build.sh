#!/usr/bin/env bash
# Build warden's Python engine (CPython 3.14 through componentize-py 0.25.1).
#
#   adapters/python/build.sh                         -> target/engines/python-engine.wasm
#   adapters/python/build.sh engine [OUT.wasm]       -> the same, or OUT.wasm
#   adapters/python/build.sh plugin FILE.py OUT.wasm [DIR...]
#                                                    -> FILE.py baked in: `run` calls its run(input);
#                                                       DIRs (e.g. `pip install --target` vendor
#                                                       dirs of pure-Python packages) go on its path
#
# Run from anywhere; paths are resolved against the current directory, the
# build runs from the repository root. Needs .venv/bin/componentize-py
# (`.venv/bin/pip install componentize-py==0.25.1`). Each build takes ~15 s and
# gives an ~18 MB component, pre-initialized by componentize-py (app.py and the
# plugin are imported at build time).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cpy="$root/.venv/bin/componentize-py"

abspath() {
  case "$1" in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s/%s\n' "$PWD" "$1" ;;
  esac
}

usage() {
  sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[ -x "$cpy" ] || { echo "build.sh: $cpy not found (pip install componentize-py==0.25.1 into .venv)" >&2; exit 1; }

# componentize-py [-p extra dir]... -o OUT
componentize() {
  local out="$1"
  shift
  local extra=()
  for dir in "$@"; do extra+=(-p "$dir"); done
  mkdir -p "$(dirname "$out")"
  local start end
  start=$(date +%s%N)
  (
    cd "$root"
    # With VIRTUAL_ENV set, componentize-py adds the venv's site-packages.
    env -u VIRTUAL_ENV "$cpy" -d wit -w script-engine componentize app \
      -p adapters/python/engine -p adapters/python "${extra[@]}" -o "$out"
  ) || { echo >&2; return 1; }
  echo >&2 # componentize-py ends its line without a newline
  end=$(date +%s%N)
  local ms=$(((end - start) / 1000000))
  printf 'build.sh: %s (%s bytes) in %d.%01d s\n' "$out" "$(stat -c %s "$out")" \
    $((ms / 1000)) $((ms % 1000 / 100)) >&2
}

mode="${1:-engine}"
case "$mode" in
  engine)
    [ $# -le 2 ] || usage
    out="$(abspath "${2:-$root/target/engines/python-engine.wasm}")"
    componentize "$out"
    ;;
  plugin)
    [ $# -ge 3 ] || usage
    src="$(abspath "$2")"
    out="$(abspath "$3")"
    shift 3
    dirs=()
    for d in "$@"; do
      [ -d "$d" ] || { echo "build.sh: $d: not a directory" >&2; exit 2; }
      dirs+=("$(abspath "$d")")
    done
    [ -f "$src" ] || { echo "build.sh: $src: no such file" >&2; exit 2; }
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/warden-py-plugin.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    cp "$src" "$tmp/warden_plugin.py"
    if ! componentize "$out" "$tmp" "${dirs[@]}"; then
      cat >&2 <<EOF
build.sh: building the plugin $src failed (Python traceback above). Note: its
top-level code runs at build time, where capability calls (warden.kv, log, call,
emit) fail; it must define run(input) (or main).
EOF
      exit 1
    fi
    ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
