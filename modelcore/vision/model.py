"""`VisionLanguageModel`: a text `Transformer` + a `VisionEncoder` + `DualCrossBlock`s after chosen decoder
layers.

The text model is wrapped, not copied: its own `LlamaModel.forward` runs, with the cross blocks inserted
through its `after_layer` hook, then its lm_head, so with every gate at 0 (fresh init) or without images the
logits equal the text model's bit for bit.

Notation: B batch, T text tokens, N image tokens, Ct text width, Ci image width, V vocab.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..kv_cache import KVCache
from ..model import Transformer, apply_linear, check_inputs
from .config import CrossModalConfig, VisionConfig
from .cross import DualCrossBlock, normalize_image_mask
from .encoder import VisionEncoder


@dataclass
class ImageState:
    """Image streams kept across the calls of one generation (prefix-LM image->text, see `cross.py`).

    Pass an empty `ImageState()` with the images to the prefill forward: it records the image stream that
    enters each cross block (image->text saw the prefill's `text_key_mask` tokens). Later forwards given the
    filled state (and no images) run text->image against those streams and skip the encoder and image->text.
    streams: one (B, N, Ci) tensor per cross block, in layer order; image_mask: (B, N) bool.
    """

    streams: list[Tensor] = field(default_factory=list)
    image_mask: Tensor | None = None

    @property
    def filled(self) -> bool:
        return self.image_mask is not None


class VisionLanguageModel(nn.Module):
    """Text decoder with cross-modal blocks. forward(input_ids (B, T), images (B, C, H, W) | None, ...)
    -> logits (B, T, V)."""

    def __init__(
        self,
        text_model: Transformer,
        vision: VisionConfig,
        cross: CrossModalConfig,
        *,
        attn_impl: str = "sdpa",
        cross_impl: str = "sdpa",
    ) -> None:
        super().__init__()
        cross.check_text_layers(text_model.config.num_hidden_layers)
        self.text_model = text_model
        self.vision_config = vision
        self.cross_config = cross
        self.vision = VisionEncoder(vision, attn_impl=attn_impl)
        text_dim = text_model.config.hidden_size
        # Keys are decoder layer indices as strings (ModuleDict keys must be strings). The last block has no
        # image->text direction: no later block would read its image stream.
        last = cross.layers[-1]
        self.cross_blocks = nn.ModuleDict(
            {
                str(i): DualCrossBlock(
                    text_dim, vision.hidden_size, cross, cross_impl, image_update=i != last
                )
                for i in cross.layers
            }
        )

    def set_cross_impl(self, impl: str) -> None:
        for block in self.cross_blocks.values():
            block.set_impl(impl)

    def gates(self) -> list[nn.Parameter]:
        """Every tanh gate (text->image and image->text of each block)."""
        return [p for name, p in self.cross_blocks.named_parameters() if name.endswith(".gate")]

    def encode_images(self, images: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, N, Ci)."""
        return self.vision(images)

    def forward(
        self,
        input_ids: Tensor,
        images: Tensor | None = None,
        image_mask: Tensor | None = None,
        positions: Tensor | None = None,
        *,
        text_key_mask: Tensor | None = None,
        kv_cache: KVCache | None = None,
        image_state: ImageState | None = None,
        times: Tensor | None = None,
    ) -> Tensor:
        """input_ids (B, T) -> logits (B, T, V).

        images: (B, C, H, W) float or None (then this is the text model exactly).
        image_mask: (B,) bool (row has an image) or (B, N) bool (real image tokens); None = all.
        positions: (B, T) absolute positions for RoPE (default 0 .. T-1).
        text_key_mask: (B, T) bool, the text tokens image tokens read (the prompt); None = all T.
        kv_cache: the text decoder's cache (see modelcore README); image_state: see `ImageState`.
        times: (B, T) float time stamps for attention kinds that read them, as in `Transformer.forward`.
        """
        positions = check_inputs(input_ids, positions, times)
        b, t = input_ids.shape
        if text_key_mask is not None and (text_key_mask.dtype != torch.bool or text_key_mask.shape != (b, t)):
            raise ValueError(
                f"text_key_mask must be bool {(b, t)}, got {text_key_mask.dtype} {tuple(text_key_mask.shape)}"
            )

        reuse = image_state is not None and image_state.filled
        image: Tensor | None = None
        mask: Tensor | None = None
        if reuse:
            if images is not None:
                raise ValueError("pass either images or a filled image_state, not both")
            mask = image_state.image_mask
            if mask.shape[0] != b:
                raise ValueError(f"image_state holds {mask.shape[0]} rows, input_ids has {b}")
        elif images is not None:
            if images.shape[0] != b:
                raise ValueError(f"images has {images.shape[0]} rows, input_ids has {b}")
            image = self.encode_images(images)  # (B, N, Ci)
            mask = normalize_image_mask(image_mask, b, image.shape[1], image.device)  # (B, N)
        elif image_mask is not None:
            raise ValueError("image_mask given without images")
        recorded: list[Tensor] = []  # the image stream entering each block

        def cross(i: int, x: Tensor) -> Tensor:
            nonlocal image
            block = self.cross_blocks[str(i)] if mask is not None and str(i) in self.cross_blocks else None
            if block is None:
                return x
            if reuse:  # decode: text reads the image stream this block saw at prefill
                stream = image_state.streams[len(recorded)]
                recorded.append(stream)
                return block.text_step(x, stream, mask)
            recorded.append(image)  # kept for later decode steps
            x, image = block(x, image, mask, text_key_mask)  # both from the input streams
            return x

        text = self.text_model
        h = text.model(input_ids, positions, kv_cache, times, after_layer=cross)  # (B, T, Ct)
        if image_state is not None and not reuse and mask is not None:
            image_state.streams = recorded
            image_state.image_mask = mask
        return apply_linear(text.lm_head, h)  # (B, T, V)


@torch.no_grad()
def greedy_generate(
    model: VisionLanguageModel,
    prompt_ids: Tensor,
    images: Tensor | None = None,
    image_mask: Tensor | None = None,
    *,
    max_new_tokens: int,
    text_key_mask: Tensor | None = None,
) -> Tensor:
    """Greedy decoding with a `DenseKVCache` and an `ImageState`: prefill the prompt (B, P) once (the image
    streams read `text_key_mask` of the prompt, default all of it), then one token per step.
    Returns the new tokens (B, max_new_tokens). Equals taking the argmax of full forwards over prompt + tokens
    so far with `text_key_mask` True on the prompt only (tested)."""
    from ..kv_cache import DenseKVCache

    if max_new_tokens <= 0:
        raise ValueError(f"max_new_tokens={max_new_tokens} must be positive")
    b, p = prompt_ids.shape
    param = next(model.parameters())
    cache = DenseKVCache(model.text_model.config, b, p + max_new_tokens, param.dtype, prompt_ids.device)
    state = ImageState()
    positions = cache.next_positions(p)
    cache.begin(positions)
    logits = model(
        prompt_ids,
        images,
        image_mask,
        positions,
        text_key_mask=text_key_mask,
        kv_cache=cache,
        image_state=state,
    )
    cache.advance(p)
    out = [logits[:, -1].argmax(-1)]  # (B,)
    for _ in range(max_new_tokens - 1):
        positions = cache.next_positions(1)
        cache.begin(positions)
        logits = model(out[-1][:, None], positions=positions, kv_cache=cache, image_state=state)
        cache.advance(1)
        out.append(logits[:, -1].argmax(-1))
    return torch.stack(out, dim=1)  # (B, max_new_tokens)
