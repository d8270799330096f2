#!/usr/bin/env bash
# Downloads, into .whl/ (git-ignored), the wheels that `make gpu-check` needs
# on a GPU machine without network access: the benchmark's peers and the
# test and build dependencies its image may lack, for that machine's Python
# (GPU_PYTHON_VERSION, default 3.12) on x86-64 Linux. sleap-nn comes without
# its dependencies: the benchmark loads only its identity module, which
# needs torch, numpy and scipy (idmatch.bench.sleap). setuptools stays below
# 82, as torch 2.11 (the GPU machine's) requires.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
mkdir -p .whl
for requirement in "setuptools>=77,<82" "expecttest==0.3.0" "lapx==0.11.1" "torch-linear-assignment==0.1.0" \
  "sleap-nn==0.3.5"; do
  "$python" -m pip download --quiet --no-deps --only-binary=:all: --python-version "${GPU_PYTHON_VERSION:-3.12}" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "$requirement"
done
ls -l .whl
