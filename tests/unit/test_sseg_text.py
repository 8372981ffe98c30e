"""Text encoders: the from-scratch Transformer ([EOS] pooling, causal) and the Hugging Face plug-in."""

from __future__ import annotations

import pytest
import torch
import transformers

from ovseg.data.transforms import ClipTokenizer
from ovseg.errors import OvsegUserError
from ovseg.nn.text import HFTextEncoder, ProjectionMLP, TextTransformer, build_text_encoder

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "photo", "of", "dog", "cat", "red", "ball"]


def tiny_text() -> TextTransformer:
    torch.manual_seed(0)
    return TextTransformer(
        embed_dim=16, width=32, layers=2, heads=4, context_length=24, projection_dim=8
    ).eval()


def tiny_bert() -> HFTextEncoder:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(WORDS),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    tokenizer = transformers.BertTokenizer(vocab={word: i for i, word in enumerate(WORDS)})
    return HFTextEncoder(transformers.BertModel(config), tokenizer, embed_dim=8, projection_dim=12).eval()


def test_paper_defaults():
    model = TextTransformer()
    assert len(model.blocks) == 12 and model.blocks[0].heads == 4
    assert model.token_embedding.weight.shape == (49408, 256)
    assert model.positional_embedding.shape == (77, 256)
    assert model.projection.fc2.out_features == 256


def test_eos_feature_ignores_padding_and_tokens_after_it():
    model = tiny_text()
    tokens = ClipTokenizer(24)(["a photo of a dog", "a red ball"])  # (2, 24)
    features = model(tokens)
    assert features.shape == (2, 16)
    short = tokens[:, :12]  # the same captions with less padding
    torch.testing.assert_close(model(short), features)
    changed = tokens.clone()
    changed[0, -1] = 5  # anything after [EOT] cannot reach it (causal attention)
    torch.testing.assert_close(model(changed)[0], features[0])
    other = ClipTokenizer(24)(["a photo of a cat", "a red ball"])
    assert not torch.allclose(model(other)[0], features[0])


def test_tokenize_matches_the_data_modules_tokens_and_long_context_is_an_error():
    model = tiny_text()
    assert torch.equal(model.tokenize(["a dog"]), ClipTokenizer(24)(["a dog"]))
    with pytest.raises(ValueError, match="context_length"):
        model(ClipTokenizer(30)(["a dog"]))


def test_projection_is_two_layers_on_any_leading_shape():
    projection = ProjectionMLP(6, 10, 4).eval()
    x = torch.randn(2, 3, 6)
    torch.testing.assert_close(projection(x)[1, 2], projection(x[1, 2][None])[0])


@pytest.mark.parametrize("pooling", ["cls", "mean", "eos"])
def test_hugging_face_encoder_pools_real_tokens(pooling):
    encoder = tiny_bert()
    encoder.pooling = pooling
    tokens = encoder.tokenize(["a red ball", "a photo of a dog"])
    assert (
        tokens["input_ids"].shape[0] == 2
        and tokens["attention_mask"][0].sum() < tokens["attention_mask"][1].sum()
    )
    features = encoder(tokens)
    assert features.shape == (2, 8)
    alone = encoder(encoder.tokenize(["a red ball"]))  # no padding: the same feature
    torch.testing.assert_close(alone[0], features[0], atol=1e-5, rtol=1e-5)


def test_hugging_face_encoder_trains_end_to_end():
    encoder = tiny_bert().train()
    loss = encoder(encoder.tokenize(["a dog", "a cat", "a red ball"])).pow(2).sum()
    loss.backward()
    assert encoder.model.embeddings.word_embeddings.weight.grad.abs().sum() > 0


def test_build_text_encoder_and_a_missing_hub_model(tmp_path):
    assert isinstance(
        build_text_encoder("transformer", layers=1, width=8, heads=2, projection_dim=4), TextTransformer
    )
    with pytest.raises(OvsegUserError, match=r"--model\.text_model DIR"):
        build_text_encoder(str(tmp_path / "no-such-model"))
    with pytest.raises(OvsegUserError, match="cls, mean, eos"):
        HFTextEncoder(tiny_bert().model, tiny_bert().tokenizer, pooling="max")
