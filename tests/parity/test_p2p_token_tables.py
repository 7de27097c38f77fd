"""Prompt tokenization and P2P token bookkeeping against the reference code's own tables.

``data/p2p_token_tables_reference.json`` was written by running the reference (cure-lab/
PnPInversion @ 07f97f4) in its p2p environment (diffusers 0.10.0, transformers 4.25.1 with its
slow ``CLIPTokenizer``, ftfy 6.3.1; the parity checkpoint's tokenizer):

- ``token_ids``: ids of awkward texts (curly quotes, ligatures, full-width letters, HTML entities,
  accents, apostrophes, runs of punctuation) under ftfy cleaning and, with ``fix_text`` unset as
  transformers does without ftfy, under BERT's basic tokenizer (the reference's EDICT env).
- ``p2p_controllers``: for 46 PIE-Bench-style mapping entries, what ``run_editing_p2p.py``'s
  ``make_controller`` builds from them (brackets stripped, ``blended_word`` split on spaces,
  refine controller, local blend on the blended words, x2 on the target word, 50 steps,
  cross 0.4): the refinement mapper, its zero alphas, the re-weighted positions and factors, the local blend's
  word positions per prompt, the cross-replace step count, and the replace controller's mapper
  where the word counts agree. The entries include words with trailing punctuation, repeated
  words, multi-token words, double spaces, blended words absent from the prompt, and curly quotes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from piebench.data.pie_bench import parse_blended_word, strip_brackets
from piebench.models.prompt_text import CleanedTokenizer
from piebench.models.tokenizer import build_clip_tokenizer
from piebench.p2p.alignment import replacement_mapper
from piebench.p2p.controller import EditPair, P2PController, P2PSettings

TABLES = json.loads(
    (Path(__file__).parent / "data" / "p2p_token_tables_reference.json").read_text("utf-8")
)
CASES = TABLES["p2p_controllers"]
RAW = build_clip_tokenizer()


@pytest.mark.parametrize("cleaning", ["ftfy", "basic"])
def test_cleaned_prompts_tokenize_like_the_reference(cleaning: str) -> None:
    tokenizer = CleanedTokenizer(RAW, cleaning)
    for row in TABLES["token_ids"]:
        assert tokenizer(row["text"]).input_ids == row[cleaning], row["text"]


def test_without_cleaning_the_texts_tokenize_differently() -> None:
    """The data exercises the cleaning: today's tokenizer alone gets a third of it wrong."""
    differ = [r["text"] for r in TABLES["token_ids"] if RAW(r["text"]).input_ids != r["ftfy"]]
    assert len(differ) >= 5


def controller_tables(case: dict, cleaning: str) -> dict:
    """Our P2P controller's token tables for one mapping entry, in the data file's terms."""
    source, target = strip_brackets(case["original_prompt"]), strip_brackets(case["editing_prompt"])
    words, _ = parse_blended_word(case["blended_word"])
    tokenizer = CleanedTokenizer(RAW, cleaning)
    pair = EditPair(source, target, words)
    ctrl = P2PController(P2PSettings(), [pair], tokenizer, 50, (64, 64), torch.device("cpu"))
    eq = ctrl.equalizer.flatten()
    tables = {
        "mapper": ctrl.mapper[0].tolist(),
        "unaligned": ctrl.alphas.flatten().eq(0).nonzero().flatten().tolist(),
        "reweighted": [[i, eq[i].item()] for i in eq.ne(1).nonzero().flatten().tolist()]
        if words
        else None,
        "blend_positions": [r.nonzero().flatten().tolist() for r in ctrl.blend_words[0]]
        if words
        else None,
        "cross_replace_steps": ctrl.cross_end,
    }
    if "replace_mapper" in case:
        m = replacement_mapper(source, target, tokenizer)
        tables["replace_mapper"] = [[i, j, m[i, j].item()] for i, j in m.nonzero().tolist()]
    return tables


@pytest.mark.parametrize("case", CASES, ids=[f"{i}" for i in range(len(CASES))])
def test_p2p_controller_tables_equal_the_reference(case: dict) -> None:
    ours = controller_tables(case, "ftfy")
    assert ours == {key: case[key] for key in ours}


def test_without_cleaning_some_controllers_differ() -> None:
    """Curly quotes, HTML entities and ligatures move tokens: the check above can fail."""
    differ = [c for c in CASES if controller_tables(c, "none") != controller_tables(c, "ftfy")]
    assert len(differ) >= 4
