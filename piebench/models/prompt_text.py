"""Prompt text cleaning before BPE, as each reference environment's CLIP tokenizer did it.

The reference methods tokenize with transformers' slow ``CLIPTokenizer``, which cleans the text
before BPE in one of two ways, depending on whether ``ftfy`` is installed in that environment:

- ``ftfy``: ``ftfy.fix_text``, whitespace runs collapsed, stripped, lower-cased. Curly quotes
  become straight ones, ligatures and full-width letters plain letters, HTML entities characters.
  The reference's ``p2p`` environment lists ftfy (DDIM/NTI/NPI/Direct Inversion + P2P, Blended
  Latent Diffusion), and its ``pix2pix_zero`` one gets it through salesforce-lavis.
- ``basic``: without ftfy, BERT's basic tokenizer: lower-cased, accents stripped, every
  punctuation character a word of its own (``man's`` -> ``man ' s``). The reference's ``edict``
  environment (transformers 4.19, no ftfy) tokenizes this way.
- ``none``: the text as given. Today's ``CLIPTokenizer`` (tokenizers-backed) only NFC-normalises,
  collapses whitespace and lower-cases, so without cleaning ``a man’s face`` has other token ids
  than in the reference, and P2P's token alignment, local blend words and re-weighted word differ.

Which one a method uses is its ``method.text_cleaning``. Only the tokenizer's input is cleaned:
word positions still split the prompt as written, as the reference's ``get_word_inds`` does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import ftfy
from tokenizers import normalizers, pre_tokenizers
from transformers import BatchEncoding, PreTrainedTokenizerBase

TEXT_CLEANINGS = ("ftfy", "basic", "none")

_BERT_NORMALIZER = normalizers.BertNormalizer(lowercase=True)  # accents stripped with lowercase
_BERT_WORDS = pre_tokenizers.BertPreTokenizer()  # whitespace and punctuation splits


def clean_prompt(text: str, cleaning: str) -> str:
    """``text`` as the tokenizer of a reference environment saw it (``cleaning``: see module)."""
    if cleaning == "ftfy":
        return re.sub(r"\s+", " ", ftfy.fix_text(text)).strip().lower()
    if cleaning == "basic":
        words = _BERT_WORDS.pre_tokenize_str(_BERT_NORMALIZER.normalize_str(text))
        return " ".join(word for word, _ in words)
    if cleaning == "none":
        return text
    raise ValueError(f"unknown text cleaning {cleaning!r}; valid: {', '.join(TEXT_CLEANINGS)}")


class CleanedTokenizer:
    """A CLIP tokenizer whose input is cleaned first; the interface the harness uses of one
    (call, ``decode``, ``model_max_length``)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, cleaning: str) -> None:
        clean_prompt("", cleaning)  # rejects an unknown cleaning now, not at the first prompt
        self.tokenizer = tokenizer
        self.cleaning = cleaning

    @property
    def model_max_length(self) -> int:
        return int(self.tokenizer.model_max_length)

    def __call__(self, text: str | Sequence[str], **kwargs: Any) -> BatchEncoding:
        if isinstance(text, str):
            return self.tokenizer(clean_prompt(text, self.cleaning), **kwargs)
        return self.tokenizer([clean_prompt(t, self.cleaning) for t in text], **kwargs)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(ids)


Tokenizer = PreTrainedTokenizerBase | CleanedTokenizer
"""What the P2P and EDICT token bookkeeping accepts."""
