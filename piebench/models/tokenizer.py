"""A real CLIP BPE tokenizer built offline from the vocabulary that ships in ``open_clip``.

Stable Diffusion 1.x/2.x and ``openai/clip-vit-large-patch14`` use the same 49,408-token CLIP
BPE. ``open_clip`` ships its merges as ``bpe_simple_vocab_16e6.txt.gz``; from them we write the
``vocab.json`` / ``merges.txt`` pair that ``transformers.CLIPTokenizer`` reads, so tests and the
tiny model tokenize exactly like the real models without any download.
"""

from __future__ import annotations

import functools
import gzip
import json
import tempfile
from pathlib import Path

from transformers import CLIPTokenizer

NUM_MERGES = 49152 - 256 - 2
MAX_LENGTH = 77
START, END = "<|startoftext|>", "<|endoftext|>"


def _byte_alphabet() -> list[str]:
    """GPT-2/CLIP's reversible byte -> printable-unicode alphabet, in vocabulary order."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes, extra = list(printable), 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]


def _bpe_file() -> Path:
    import open_clip

    path = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"
    if not path.is_file():
        raise FileNotFoundError(f"open_clip_torch is installed but {path} is missing")
    return path


@functools.lru_cache(maxsize=1)
def clip_tokenizer_files() -> Path:
    """Write ``vocab.json`` and ``merges.txt`` once per process; returns their folder."""
    with gzip.open(_bpe_file(), "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = [tuple(line.split()) for line in lines[1 : NUM_MERGES + 1]]
    alphabet = _byte_alphabet()
    vocab = alphabet + [c + "</w>" for c in alphabet] + ["".join(m) for m in merges] + [START, END]
    folder = Path(tempfile.mkdtemp(prefix="piebench-clip-bpe-"))
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges))
    return folder


def build_clip_tokenizer(max_length: int = MAX_LENGTH) -> CLIPTokenizer:
    """The CLIP tokenizer (SD 1.x settings: pad with ``<|endoftext|>``, 77 tokens)."""
    return CLIPTokenizer.from_pretrained(
        str(clip_tokenizer_files()),
        model_max_length=max_length,
        bos_token=START,
        eos_token=END,
        pad_token=END,
        unk_token=END,
    )
