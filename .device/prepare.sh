#!/usr/bin/env bash
# Run HERE (the dev machine, which reaches PyPI) before lending calls: gathers what the GPU
# machine lacks into ignored folders that `run` carries: .whl/ (pure-Python wheels of the
# dependencies its image does not hold) and .parity/ (a copy of ../shared/parity, which does
# not travel). See .device/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
parity=${PIEBENCH_PARITY_DIR:-../shared/parity}
rm -rf .whl .parity && mkdir -p .whl
# the GPU image has torch, torchvision, transformers, torchmetrics, timm, accelerate, pandas,
# scikit-image, matplotlib, safetensors, regex, tqdm, scipy, pyyaml, pytest, pytest-xdist
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl diffusers==0.42.1 hydra-core==1.3.8 omegaconf==2.3.1 open_clip_torch==3.3.0 \
  lpips==0.1.4 torch-fidelity==0.4.0 ftfy==6.3.1 wcwidth==0.7.0 importlib_metadata==10.2.0
# hydra's parser runtime is published as a source archive only; its wheel is pure Python
python -m pip wheel -q --no-deps -w .whl antlr4-python3-runtime==4.9.3
cp -r "$parity" .parity
du -sh .whl .parity
echo "now: run(command='bash .device/check.sh', carry=['.whl', '.parity'], timeout_s=560)"
