import pytest
import torch

from piebench.models.tokenizer import build_clip_tokenizer
from piebench.p2p.alignment import (
    equalizer,
    refinement_mapper,
    replacement_mapper,
    word_token_positions,
)

TOK = build_clip_tokenizer()


def test_word_positions_count_the_start_token_and_match_whole_words():
    assert word_token_positions("a photo of a cat", "cat", TOK) == [5]
    assert word_token_positions("a photo of a cat", "a", TOK) == [1, 4]
    assert word_token_positions("a cat, sitting", "cat", TOK) == []  # "cat," is not "cat"
    positions = word_token_positions("a photo of a hummingbird", "hummingbird", TOK)
    assert len(positions) >= 1 and positions[0] == 5


def test_refinement_mapper_aligns_an_inserted_word():
    mapper, alphas = refinement_mapper(
        "a cat sitting on a sofa", "a black cat sitting on a sofa", TOK
    )
    assert mapper[:9].tolist() == [0, 1, 76, 2, 3, 4, 5, 6, 7]  # "black" has no source token
    assert alphas[:9].tolist() == [1, 1, 0, 1, 1, 1, 1, 1, 1]
    assert torch.equal(mapper[9:], torch.arange(9, 77)) and alphas[9:].eq(1).all()


def test_identical_prompts_map_to_identity():
    mapper, alphas = refinement_mapper("a red car", "a red car", TOK)
    assert torch.equal(mapper, torch.arange(77)) and alphas.eq(1).all()
    assert torch.equal(replacement_mapper("a red car", "a red car", TOK), torch.eye(77))


def test_replacement_mapper_swaps_words_and_needs_equal_word_counts():
    m = replacement_mapper("a cat on a sofa", "a dog on a sofa", TOK)
    assert torch.equal(m, torch.eye(77))  # one token each: the word swap is the identity


def test_replacement_mapper_spreads_a_word_over_more_tokens_like_the_reference():
    """ "cat" (1 token) -> "armadillo" (2 tokens): the source token spreads 1/2 over both; after the
    last changed word the reference sets M[j, j] = 1 by TARGET index (its loop's quirk), so
    source token 3 maps nowhere."""
    source, target = "a cat on a sofa", "a armadillo on a sofa"
    assert len(TOK(target).input_ids) == len(TOK(source).input_ids) + 1
    m = replacement_mapper(source, target, TOK)
    expected = torch.zeros(77, 77)
    expected[0, 0] = expected[1, 1] = 1
    expected[2, 2] = expected[2, 3] = 0.5
    for j in range(4, 77):
        expected[j, j] = 1
    assert torch.equal(m, expected)


def test_replacement_mapper_needs_equal_word_counts():
    with pytest.raises(ValueError, match="same number of words"):
        replacement_mapper("a cat", "a big dog", TOK)


def test_equalizer_reweights_the_target_word():
    eq = equalizer("a photo of a dog", "dog", 2.0, TOK)
    assert eq[5] == 2 and eq.sum() == 78
