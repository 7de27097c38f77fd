import pytest
import torch

from piebench.models.first_attention_memo import MemoizedProcessor, memoized_first_attention


def _calls(model, latents, embeddings):
    return [model.predict(latents, 500, e) for e in embeddings]


def test_memo_reuses_the_first_self_attention_with_the_same_values(tiny_model):
    """Same latents, new embeddings: the stored output is handed back and the UNet's output is
    bit-identical to recomputing; new latents recompute."""
    torch.manual_seed(0)
    latents = torch.randn(2, 4, 8, 8)
    embeddings = [torch.randn(2, 77, 32) for _ in range(3)]
    with torch.no_grad():
        plain = _calls(tiny_model, latents, embeddings)
        with memoized_first_attention(tiny_model.unet) as memo:
            memoised = _calls(tiny_model, latents, embeddings)
            assert memo.hits == 2
            tiny_model.predict(latents + 1, 500, embeddings[0])
            tiny_model.predict(latents[:1], 500, embeddings[0][:1])
            assert memo.hits == 2
    for a, b in zip(plain, memoised):
        assert torch.equal(a, b)


def test_memo_keeps_gradients_and_restores_the_processors(tiny_model):
    original = tiny_model.unet.attn_processors
    latents = torch.randn(1, 4, 8, 8)
    phi = torch.randn(1, 77, 32, requires_grad=True)
    with memoized_first_attention(tiny_model.unet) as memo:
        for _ in range(2):
            tiny_model.predict(latents, 500, phi).square().sum().backward()
        assert memo.hits == 1
        grad = phi.grad.clone()
        leaf = latents.clone().requires_grad_(True)  # a gradient to the latents: never reused
        tiny_model.predict(leaf, 500, phi).sum().backward()
        assert memo.hits == 1 and leaf.grad.abs().sum() > 0
    with pytest.raises(RuntimeError), memoized_first_attention(tiny_model.unet):
        raise RuntimeError
    phi.grad = None
    tiny_model.predict(latents, 500, phi).square().sum().backward()
    torch.testing.assert_close(phi.grad, grad / 2, atol=0, rtol=0)
    assert tiny_model.unet.attn_processors == original


def test_a_cross_attention_is_never_reused(tiny_model):
    """The memo keys on the layer's input alone, so a layer with a context must bypass it."""
    layer = tiny_model.unet.down_blocks[0].attentions[0].transformer_blocks[0].attn2
    memo = MemoizedProcessor(layer.processor)
    hidden = torch.randn(1, 64, layer.to_q.in_features)
    first, second = (
        memo(layer, hidden, encoder_hidden_states=torch.randn(1, 77, layer.to_k.in_features))
        for _ in range(2)
    )
    assert memo.hits == 0 and not torch.equal(first, second)
