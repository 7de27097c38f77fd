"""Loading a model on the CPU keeps freed tensor memory in the heap (glibc), unless switched off.

Each check runs in a fresh interpreter: the setting is process-wide and one-way, and glibc's
own counters (``mallinfo2``) show where a block came from.
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
    block = torch.empty(48 << 20, dtype=torch.uint8)
    block.fill_(1)
    alive = libc.mallinfo2()
    del block
    after = libc.mallinfo2()
    return {"mapped": alive.hblkhd - before.hblkhd, "kept": after.arena - before.arena}

found = {"before": big_block()}
load_model(compose_config(*sys.argv[1:]).model)
found["after"] = big_block()
print(json.dumps(found))
"""


def probe(*overrides: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, "model=tiny", "model.device=cpu", *overrides],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not ctypes.util.find_library("c"), reason="no C library found")
def test_cpu_model_keeps_big_freed_blocks_in_the_heap() -> None:
    found = probe()
    assert found["before"]["mapped"] >= 48 << 20  # glibc's default: a fresh mapping, then unmapped
    assert found["after"]["mapped"] == 0  # served from the heap ...
    assert found["after"]["kept"] >= 48 << 20  # ... and kept there after the free


def test_switch_off_leaves_glibc_defaults() -> None:
    found = probe("model.keep_cpu_heap=false")
    assert found["after"]["mapped"] >= 48 << 20
