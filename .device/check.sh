#!/usr/bin/env bash
# Run THERE, through the device tool, after .device/prepare.sh here:
#   run(command="bash .device/check.sh", carry=[".whl", ".parity"], timeout_s=560)
# Installs the carried wheels and piebench, checks the CUDA path (a tiny-model run, then the
# reference-parity tests on cuda), then times `bench` jobs in order of value until the
# deadline. Everything lands in $OUT: log.txt and bench/<device>.csv (one row per measured job).
# KIT_DEADLINE (seconds from start, default 520) bounds the whole script; a job that would cross
# it is cut short by `timeout` (rows of a sweep's finished jobs are kept) and later jobs skipped.
# KIT_MODEL=tiny KIT_DEVICE=cpu rehearse the same script on a CPU in a few minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/kit-out}
mkdir -p "$OUT/bench"
deadline=${KIT_DEADLINE:-520}
model=${KIT_MODEL:-sd14_random}
device=${KIT_DEVICE:-cuda}
py=${KIT_PYTHON:-python3}
exec > >(tee -a "$OUT/log.txt") 2>&1
export PYTHONUNBUFFERED=1 HYDRA_FULL_ERROR=1

stage() { echo "=== [$SECONDS s] $*"; }

stage install
if [ -d .whl ]; then
  $py -m pip install -q --no-index --no-deps --no-cache-dir .whl/*.whl || exit 1
  $py -m pip install -q --no-index --no-deps --no-build-isolation -e . || exit 1
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null
$py -c "import torch, diffusers, transformers; print('torch', torch.__version__, 'cuda', \
torch.cuda.is_available(), 'diffusers', diffusers.__version__, 'transformers', transformers.__version__)"

stage "smoke: every editing method, tiny model, 2 samples, 5 steps on $device"
timeout 150 $py -m piebench run -m method=ddim,npi,direct,nti,edict,bld model=tiny \
  model.device="$device" method.steps=5 data.limit=2 evaluate=false progress=false \
  output_dir=/tmp/kit-smoke | grep -E "edited|error" || echo "smoke: FAILED"
timeout 60 $py -m piebench run method=pix2pix_zero method.caption=source_prompt model=tiny \
  model.device="$device" method.steps=5 data.limit=2 evaluate=false progress=false \
  output_dir=/tmp/kit-smoke | grep -E "edited|error" || echo "smoke: FAILED"  # no BLIP there

if [ -d .parity ]; then
  stage "reference parity on $device (CPU float32 bounds)"
  PIEBENCH_TEST_DEVICE=$device PIEBENCH_PARITY_DIR=.parity timeout 180 $py -m pytest -v -s \
    -p no:cacheprovider -o addopts="" tests/parity/test_p2p_image_parity.py -k "not nti" \
    tests/parity/test_bld_parity.py tests/parity/test_metric_parity.py 2>&1 | grep -E "passed|failed|PASSED|FAILED|psnr_db|deviation|Error" | head -40
fi

# job NAME CAP_SECONDS OVERRIDES...: one `bench` process, cut at CAP or at the deadline
job() {
  local name=$1 cap=$2
  shift 2
  local left=$((deadline - SECONDS))
  if ((left < 45)); then
    stage "skip $name: ${left} s left"
    return
  fi
  ((cap > left)) && cap=$left
  stage "bench $name (at most $cap s)"
  timeout -k 5 "$cap" $py -m piebench bench "$@" model="$model" model.device="$device" \
    data.root=/tmp/kit-pie40 bench.out_dir="$OUT/bench" bench.work_dir=/tmp/kit-work \
    | grep -vE "^\[|INFO" || echo "bench $name: stopped (exit or timeout)"
}

$py -m piebench.data.sample_benchmark /tmp/kit-pie40 --copies 4 >/dev/null || exit 1
job direct-bf16 170 -m model.dtype=bf16 method=direct batch_size=1,4,8,16 data.limit=16 \
  bench.baseline_limit=2 bench.metrics=false
job direct-fp32 100 -m model.dtype=fp32 method=direct batch_size=1,8 data.limit=8 \
  bench.baseline=false bench.metrics=false
job ddim-npi-bf16 80 -m model.dtype=bf16 method=ddim,npi batch_size=16 data.limit=16 \
  bench.baseline=false bench.metrics=false
job metrics-bf16 90 model.dtype=bf16 method=direct batch_size=16 data.limit=16 \
  bench.baseline=false bench.metric_networks=random
job nti-bf16 90 model.dtype=bf16 method=nti batch_size=4 data.limit=4 \
  bench.baseline=false bench.metrics=false
job direct-bf16-compiled 200 -m model.dtype=bf16 model.compile=true,reduce-overhead method=direct \
  batch_size=16,1 data.limit=16 bench.baseline=false bench.metrics=false
stage done
