"""Text encoders that map captions into the shared image-text space.

``TextTransformer`` is the encoder S-Seg trains from scratch (GroupViT's text side: 12 layers,
width 256, 4 heads, context 77, CLIP BPE vocabulary of 49408, the [EOS] token's feature, a 2-layer
projection). ``HFTextEncoder`` plugs in a (pretrained) Hugging Face ``transformers`` model instead.
Both expose ``tokenize(texts)`` and ``forward(tokens) -> (B, D)``; ``build_text_encoder`` picks one
from a name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ovseg.errors import OvsegUserError

CLIP_VOCAB_SIZE = 49408
TEXT_POOLINGS = ("cls", "mean", "eos")


class ProjectionMLP(nn.Module):
    """GroupViT's 2-layer projection: Linear → BatchNorm → ReLU → Linear, on (..., in_dim)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden_dim)
        self.norm = nn.BatchNorm1d(hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        hidden = self.norm(self.fc1(x.reshape(-1, shape[-1])))  # (M, H)
        return self.fc2(F.relu(hidden)).reshape(*shape[:-1], -1)  # (..., out_dim)


class CausalBlock(nn.Module):
    """Pre-LN transformer block with causal self-attention (CLIP's text block)."""

    def __init__(self, width: int, heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"text width {width} must be divisible by the number of heads {heads}.")
        self.heads = heads
        self.ln_1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.ln_2 = nn.LayerNorm(width)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        qkv = self.qkv(self.ln_1(x)).view(batch, length, 3, self.heads, width // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, h, L, d)
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, h, L, d)
        x = x + self.out(attended.transpose(1, 2).reshape(batch, length, width))  # (B, L, W)
        return x + self.mlp(self.ln_2(x))  # (B, L, W)


class TextTransformer(nn.Module):
    """A causal text Transformer trained from scratch; the [EOS] token's feature is projected.

    Tokens are CLIP BPE ids, ``[SOT] ... [EOT] 0 ...``; [EOT] has the largest id in the vocabulary,
    so its position is the argmax (as in CLIP). Causal attention means padding never reaches it.

    Args:
        embed_dim: output dimension (the shared image-text space).
        width: token width.
        layers: number of transformer blocks.
        heads: attention heads.
        context_length: maximum tokens per text.
        vocab_size: token vocabulary (CLIP BPE: 49408).
        projection_dim: hidden width of the 2-layer projection.
    """

    accepts_clip_tokens = True

    def __init__(
        self,
        embed_dim: int = 256,
        width: int = 256,
        layers: int = 12,
        heads: int = 4,
        context_length: int = 77,
        vocab_size: int = CLIP_VOCAB_SIZE,
        projection_dim: int = 4096,
    ) -> None:
        super().__init__()
        self.context_length = context_length
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, width))
        self.blocks = nn.ModuleList(CausalBlock(width, heads) for _ in range(layers))
        self.ln_final = nn.LayerNorm(width)
        self.projection = ProjectionMLP(width, projection_dim, embed_dim)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        self._tokenizer = None

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """Texts → int64 (T, context_length) CLIP BPE tokens."""
        if self._tokenizer is None:
            from ovseg.data.transforms import ClipTokenizer

            self._tokenizer = ClipTokenizer(self.context_length)
        return self._tokenizer(list(texts))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, L) token ids → (B, embed_dim) text features."""
        length = tokens.shape[1]
        if length > self.context_length:
            raise ValueError(
                f"captions have {length} tokens but the text encoder's context is {self.context_length}; "
                "set the data module's context_length to at most the model's (or raise the model's)."
            )
        x = self.token_embedding(tokens) + self.positional_embedding[:length]  # (B, L, W)
        for block in self.blocks:
            x = block(x)  # (B, L, W)
        x = self.ln_final(x)  # (B, L, W)
        eos = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]  # (B, W)
        return self.projection(eos)  # (B, D)


class HFTextEncoder(nn.Module):
    """A Hugging Face ``transformers`` encoder, pooled and projected into the shared space.

    Args:
        model: a hub name or local folder (loaded with ``AutoModel``), or a ready ``PreTrainedModel``.
        tokenizer: its tokenizer (a name, a folder or an object); None: the one beside ``model``.
        embed_dim: output dimension.
        projection_dim: hidden width of the 2-layer projection.
        pooling: "cls" (first token), "mean" (over real tokens) or "eos" (last real token).
        max_length: tokens per text after truncation.
    """

    accepts_clip_tokens = False

    def __init__(
        self,
        model: str | nn.Module,
        tokenizer: object | None = None,
        embed_dim: int = 256,
        projection_dim: int = 4096,
        pooling: str = "cls",
        max_length: int = 77,
    ) -> None:
        super().__init__()
        if pooling not in TEXT_POOLINGS:
            raise OvsegUserError(
                f"unknown text pooling '{pooling}'. Valid values: {', '.join(TEXT_POOLINGS)}."
            )
        if isinstance(model, str):
            tokenizer = tokenizer or model
            model = _load_hf("AutoModel", model)
        if tokenizer is None:
            raise OvsegUserError("HFTextEncoder given a model object needs its tokenizer too.")
        if isinstance(tokenizer, str):
            tokenizer = _load_hf("AutoTokenizer", tokenizer)
        self.model = model
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.max_length = max_length
        self.projection = ProjectionMLP(model.config.hidden_size, projection_dim, embed_dim)

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Texts → the model's inputs (input_ids, attention_mask, ...)."""
        encoded = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        return dict(encoded)

    def forward(self, tokens: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The tokenizer's output → (B, embed_dim) text features."""
        device = self.projection.fc1.weight.device
        inputs = {name: value.to(device) for name, value in tokens.items()}
        hidden = self.model(**inputs).last_hidden_state  # (B, L, H)
        mask = inputs["attention_mask"].to(hidden.dtype)  # (B, L)
        if self.pooling == "cls":
            pooled = hidden[:, 0]  # (B, H)
        elif self.pooling == "mean":
            pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)  # (B, H)
        else:
            last = mask.sum(1).long().clamp(min=1) - 1  # (B,)
            pooled = hidden[torch.arange(hidden.shape[0], device=device), last]  # (B, H)
        return self.projection(pooled)  # (B, D)


def _load_hf(factory: str, name: str):
    import transformers

    try:
        return getattr(transformers, factory).from_pretrained(name)
    except OSError as error:
        raise OvsegUserError(
            f"could not load the Hugging Face text model '{name}' ({error}). Without internet, download it "
            f"on a machine that has it (`hf download {name} --local-dir DIR`) and pass the folder "
            "instead: --model.text_model DIR."
        ) from None


def build_text_encoder(
    name: str = "transformer",
    embed_dim: int = 256,
    width: int = 256,
    layers: int = 12,
    heads: int = 4,
    context_length: int = 77,
    vocab_size: int = CLIP_VOCAB_SIZE,
    projection_dim: int = 4096,
    pooling: str = "cls",
) -> TextTransformer | HFTextEncoder:
    """ "transformer" → a ``TextTransformer`` from scratch; anything else → ``HFTextEncoder(name)``."""
    if name == "transformer":
        return TextTransformer(embed_dim, width, layers, heads, context_length, vocab_size, projection_dim)
    return HFTextEncoder(
        name, embed_dim=embed_dim, projection_dim=projection_dim, pooling=pooling, max_length=context_length
    )
