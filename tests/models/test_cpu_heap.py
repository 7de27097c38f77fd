"""Loading a model on the CPU keeps freed tensor memory in the heap (glibc), unless switched off.

The check runs in a fresh interpreter: the setting is process-wide and one-way, and glibc's own
counters (``mallinfo2``) show where a block came from. One process loads the model first with
the switch off (glibc's defaults must stay), then with it on.
"""

from __future__ import annotations

import ctypes.util
import json
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)

BLOCK = 48 << 20

PROBE = """
import ctypes, json, sys
import torch
from piebench.models.loading import load_model
from tests.conftest import compose_config

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2

def big_block():
    before = libc.mallinfo2()
    block = torch.empty(BLOCK, dtype=torch.uint8)
    block.fill_(1)
    alive = libc.mallinfo2()
    del block
    after = libc.mallinfo2()
    return {"mapped": alive.hblkhd - before.hblkhd, "kept": after.arena - before.arena}

found = {"before": big_block()}
load_model(compose_config(*sys.argv[1:], "model.keep_cpu_heap=false").model)
found["switched_off"] = big_block()
load_model(compose_config(*sys.argv[1:]).model)
found["after"] = big_block()
print(json.dumps(found))
"""


@pytest.mark.skipif(not ctypes.util.find_library("c"), reason="no C library found")
def test_cpu_model_keeps_big_freed_blocks_in_the_heap_unless_switched_off() -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"BLOCK = {BLOCK}\n{PROBE}", "model=tiny", "model.device=cpu"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    half = BLOCK // 2  # glibc's counters also move with other allocations in between
    assert found["before"]["mapped"] > half  # glibc's default: a fresh mapping, then unmapped
    assert found["switched_off"]["mapped"] > half  # model.keep_cpu_heap=false: unchanged
    assert found["after"]["mapped"] < half  # served from the heap ...
    assert found["after"]["kept"] > half  # ... and kept there after the free
