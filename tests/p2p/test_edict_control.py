"""The reference EDICT's attention control: SequenceMatcher token matching, processors restored,
only target rows changed, and the target taking the source's maps."""

import pytest
import torch

from piebench.p2p.edict_control import source_attention_control, token_match

SKY = "a white star above green hills under a blue sky"


def test_token_match_on_the_parity_prompt_pair(tiny_model):
    """'blue' (1 token) -> 'starry night' (2 tokens): a replace of unequal length stays unmatched;
    everything after it maps one source position back; the last target pad (a trailing insert)
    keeps its own attention."""
    mask, index = token_match(tiny_model.tokenizer, SKY, SKY.replace("blue", "starry night"))
    assert mask.shape == index.shape == (77,)
    assert mask[:9].tolist() == [1] * 9 and index[:9].tolist() == list(range(9))
    assert mask[9:11].tolist() == [0, 0] and index[9:11].tolist() == [0, 0]
    assert mask[11:].tolist() == [1] * 66 and index[11:].tolist() == list(range(10, 76))


def test_token_match_maps_equal_length_replacements_and_leaves_insertions(tiny_model):
    mask, index = token_match(
        tiny_model.tokenizer, "a red car on the road", "a blue car on the road"
    )
    assert mask.tolist() == [1] * 77 and index.tolist() == list(range(77))  # blue <- red
    mask, index = token_match(tiny_model.tokenizer, "a cat on a sofa", "a black cat on a sofa")
    assert mask[2] == 0 and mask.sum() == 76  # "black" keeps its own column
    assert index[3:].tolist() == list(range(2, 76))  # last target pad: trailing insert
    assert mask[:2].tolist() == [1, 1] and index[:2].tolist() == [0, 1]


def rows(model, sources, targets):
    x = torch.randn(len(sources), 4, 8, 8)
    cond = model.encode_prompts([""] * len(sources) + list(sources) + list(targets))
    return torch.cat([x, x, x]), cond


def test_processors_restored_after_run_and_after_exception(tiny_model):
    unet = tiny_model.unet
    before = dict(unet.attn_processors)
    x, cond = rows(tiny_model, ["a cat"], ["a dog"])
    with source_attention_control(unet, tiny_model.tokenizer, ["a cat"], ["a dog"]):
        assert {type(p).__name__ for p in unet.attn_processors.values()} == {
            "SourceAttentionProcessor"
        }
        tiny_model.predict(x, 500, cond)
    assert unet.attn_processors == before
    control = source_attention_control(unet, tiny_model.tokenizer, ["a cat"], ["a dog"])
    with pytest.raises(RuntimeError, match="boom"), control:
        raise RuntimeError("boom")
    assert unet.attn_processors == before


def test_only_target_rows_change_and_identical_prompts_change_nothing(tiny_model):
    sources = ["a photo of a cat on a sofa", "a red car on the road"]
    targets = ["a photo of a black cat on a sofa", "a blue car on the road"]
    x, cond = rows(tiny_model, sources, targets)
    plain = tiny_model.predict(x, 300, cond)
    with source_attention_control(tiny_model.unet, tiny_model.tokenizer, sources, targets):
        controlled = tiny_model.predict(x, 300, cond)
    torch.testing.assert_close(controlled[:4], plain[:4], atol=1e-5, rtol=0)
    assert (controlled[4:] - plain[4:]).abs().max() > 1e-4
    # same prompt twice: the target's own maps are the source's, so nothing changes
    x, cond = rows(tiny_model, sources, sources)
    plain = tiny_model.predict(x, 300, cond)
    with source_attention_control(tiny_model.unet, tiny_model.tokenizer, sources, sources):
        controlled = tiny_model.predict(x, 300, cond)
    torch.testing.assert_close(controlled, plain, atol=1e-5, rtol=0)


def test_target_rows_equal_the_source_rows_when_every_map_is_the_sources(tiny_model):
    """Equal-length prompts map every token, so the target attends exactly like the source; its
    output differs from the source's only through its own values (here: the same embedding)."""
    sources, targets = ["a red car on the road"], ["a blue car on the road"]
    x, cond = rows(tiny_model, sources, targets)
    cond[2] = cond[1]  # target embedding := source embedding, token ids still differ
    with source_attention_control(tiny_model.unet, tiny_model.tokenizer, sources, targets):
        out = tiny_model.predict(x, 300, cond)
    torch.testing.assert_close(out[2], out[1], atol=1e-6, rtol=0)
