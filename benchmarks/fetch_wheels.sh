#!/usr/bin/env bash
# Download the wheels of benchmarks/gpu_wheels.txt (no dependencies beyond those listed) for a Python 3.12 x86-64
# Linux machine without network access, into DEST (default: .whl/ in the project, which git ignores).
# benchmarks/gpu_check.sh installs whatever .whl/ holds before it starts.
#   benchmarks/fetch_wheels.sh [DEST]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST=${1:-$ROOT/.whl}
PY=${PYTHON:-python3}
mkdir -p "$DEST"
mapfile -t PKGS < <(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$ROOT/benchmarks/gpu_wheels.txt")
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$DEST" "${PKGS[@]}"
n=$(ls "$DEST"/*.whl | wc -l)
[ "$n" -eq "${#PKGS[@]}" ] || { echo "fetch_wheels: $DEST holds $n wheels, expected ${#PKGS[@]} (one per line of gpu_wheels.txt; remove stale versions)" >&2; exit 1; }
echo "fetch_wheels: ${#PKGS[@]} wheels in $DEST ($(du -sh "$DEST" | cut -f1))"
