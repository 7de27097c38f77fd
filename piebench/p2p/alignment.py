"""Token bookkeeping for Prompt-to-Prompt: which token positions hold a word, and how the target
prompt's tokens map onto the source prompt's.

These follow the P2P reference conventions exactly, because they decide which attention columns
are copied, re-weighted and blended:

- ``word_token_positions``: prompts are split on single spaces; a word matches only if it is
  equal to a whole space-separated word (so ``"cat,"`` does not match ``cat``); positions count
  the start token, so the first word's first token is position 1.
- ``refinement_mapper``: a global alignment (match +1, mismatch -1, gap 0) of the two token-id
  sequences (start/end tokens included); ties prefer a gap in the source, then a gap in the
  target, then the diagonal. Each target token maps to its aligned source token (alpha 1) or
  to none (alpha 0); padding positions map to themselves.
- ``replacement_mapper``: for prompts with the same word count, a (77, 77) matrix sending each
  changed source word's tokens to the target word's tokens (spread evenly when the token counts
  differ).
"""

from __future__ import annotations

import numpy as np
import torch

from piebench.models.prompt_text import Tokenizer

MAX_TOKENS = 77


def token_ids(prompt: str, tokenizer: Tokenizer) -> list[int]:
    """Token ids with start/end tokens, truncated to 77 like the text encoder's input."""
    return tokenizer(prompt, truncation=True, max_length=MAX_TOKENS).input_ids


def word_token_positions(prompt: str, word: str | int, tokenizer: Tokenizer) -> list[int]:
    """Token positions (start token = 0) of a word given as text or as a word index."""
    words = prompt.split(" ")
    wanted = {i for i, w in enumerate(words) if w == word} if isinstance(word, str) else {word}
    if not wanted:
        return []
    pieces = [tokenizer.decode([tok]).strip("#") for tok in token_ids(prompt, tokenizer)[1:-1]]
    positions, chars, word_index = [], 0, 0
    for position, piece in enumerate(pieces, start=1):
        chars += len(piece)
        if word_index in wanted:
            positions.append(position)
        if word_index < len(words) and chars >= len(words[word_index]):
            word_index, chars = word_index + 1, 0
    return positions


def _align(source: list[int], target: list[int]) -> list[int]:
    """For each target token, the index of its aligned source token or -1 (gap)."""
    n, m = len(source), len(target)
    score = np.zeros((n + 1, m + 1), dtype=np.int64)
    move = np.zeros((n + 1, m + 1), dtype=np.int8)  # 1: left (gap in source), 2: up, 3: diagonal
    move[0, 1:], move[1:, 0] = 1, 2
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            left, up = score[i, j - 1], score[i - 1, j]
            diag = score[i - 1, j - 1] + (1 if source[i - 1] == target[j - 1] else -1)
            best = max(left, up, diag)
            score[i, j] = best
            move[i, j] = 1 if best == left else 2 if best == up else 3
    mapping: list[int] = []
    i, j = n, m
    while i > 0 or j > 0:
        if move[i, j] == 3:
            i, j = i - 1, j - 1
            mapping.append(i)
        elif move[i, j] == 1:
            j -= 1
            mapping.append(-1)
        else:
            i -= 1
    return mapping[::-1]


def refinement_mapper(
    source: str, target: str, tokenizer: Tokenizer
) -> tuple[torch.Tensor, torch.Tensor]:
    """(77,) source index per target token (-1 mapped to 76 as Python indexing does) and (77,) alphas."""
    target_ids = token_ids(target, tokenizer)
    aligned = torch.tensor(_align(token_ids(source, tokenizer), target_ids), dtype=torch.int64)
    alphas = torch.ones(MAX_TOKENS)
    alphas[: aligned.numel()] = aligned.ne(-1).float()
    mapper = torch.arange(MAX_TOKENS)
    mapper[: aligned.numel()] = aligned
    return torch.where(mapper < 0, mapper + MAX_TOKENS, mapper), alphas


def replacement_mapper(source: str, target: str, tokenizer: Tokenizer) -> torch.Tensor:
    """(77, 77) matrix M with target attention = source attention @ M (word-swap edits only)."""
    words_src, words_tgt = source.split(" "), target.split(" ")
    if len(words_src) != len(words_tgt):
        raise ValueError(
            "the replace controller needs prompts with the same number of words, got "
            f"{len(words_src)} and {len(words_tgt)}; use controller=refine"
        )
    changed = [i for i, (a, b) in enumerate(zip(words_src, words_tgt)) if a != b]
    spans = [
        (word_token_positions(source, i, tokenizer), word_token_positions(target, i, tokenizer))
        for i in changed
    ]
    mapper = np.zeros((MAX_TOKENS, MAX_TOKENS))
    i = j = k = 0
    while i < MAX_TOKENS and j < MAX_TOKENS:
        if k < len(spans) and spans[k][0] and spans[k][0][0] == i:
            src, tgt = spans[k]
            if len(src) == len(tgt):
                mapper[src, tgt] = 1
            else:
                for position in tgt:
                    mapper[src, position] = 1 / len(tgt)
            k, i, j = k + 1, i + len(src), j + len(tgt)
        elif k < len(spans):
            mapper[i, j] = 1
            i, j = i + 1, j + 1
        else:
            mapper[j, j] = 1
            i, j = i + 1, j + 1
    return torch.from_numpy(mapper).float()


def equalizer(prompt: str, word: str, value: float, tokenizer: Tokenizer) -> torch.Tensor:
    """(77,) attention re-weighting: ``value`` on the word's tokens, 1 elsewhere."""
    weights = torch.ones(MAX_TOKENS)
    positions = word_token_positions(prompt, word, tokenizer)
    if positions:
        weights[positions] = value
    return weights
