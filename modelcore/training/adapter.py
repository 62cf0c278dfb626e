"""LoRA fine-tuning of a `Transformer` with `peft`, saved in PEFT's format.

Data: JSONL, one example per line, either `{"prompt": str, "completion": str}` (plain text, no chat template:
the tokens of prompt, then of completion, then EOS; loss on completion + EOS; the two strings are joined as
written, so put a separating space at the start of the completion) or `{"messages": [{"role", "content"}, ...]}` whose last
message is the assistant's answer (rendered with the tokenizer's chat template; the prompt is the rendering of
the earlier messages with the generation prompt, the completion is the rest of the full rendering, e.g. the
answer and its end-of-turn token). The loss is cross-entropy on completion tokens only.

`peft` wraps our `Transformer` as it is: `get_peft_model` accepts any `nn.Module`, and with `task_type=None`
`PeftModel.forward` passes our `(input_ids, positions, kv_cache)` call straight through. The saved config says
`task_type="CAUSAL_LM"` (set just before saving), so `peft` loads the adapter onto transformers'
`LlamaForCausalLM` like any other and `modelcore.adapters` reads it back.

Padding: batches are right-padded; our causal attention never lets a real token see a later pad, and pad
positions carry no loss, so no attention mask is needed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..adapters import CONFIG_FILE, TARGET_MODULES, WEIGHTS_FILE, load_adapter_weights
from .distributed import DistContext
from .precision import PRECISIONS, Precision

IGNORE = -100  # label of tokens that carry no loss (prompt, padding)
SUMMARY_FILE = "training_summary.json"
MAX_LINE_BYTES = 1 << 20


class TokenizerLike(Protocol):
    eos_token_ids: frozenset[int]

    def encode(self, text: str, *, add_special_tokens: bool = False) -> list[int]: ...

    def apply_chat_template(
        self, messages: Sequence[dict[str, Any]], *, add_generation_prompt: bool = True
    ) -> str: ...


@dataclass(frozen=True)
class TrainOptions:
    rank: int = 8
    alpha: float = 16.0
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    dropout: float = 0.0
    use_rslora: bool = False
    epochs: int = 1
    lr: float = 2e-4
    weight_decay: float = 0.0
    max_steps: int | None = None
    seed: int = 0
    val_fraction: float = 0.1
    batch_size: int = 4
    max_length: int = 512
    precision: str = "fp32"  # see modelcore.training.precision: fp32 | bf16 | fp16 | fp8 | fp8_emulated

    def __post_init__(self) -> None:
        positive = {
            "rank": self.rank,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "max_length": self.max_length,
        }
        bad = [f"{k}={v!r}" for k, v in positive.items() if not (isinstance(v, int) and v > 0)]
        if self.max_steps is not None and not (isinstance(self.max_steps, int) and self.max_steps > 0):
            bad.append(f"max_steps={self.max_steps!r}")
        if bad:
            raise ValueError(f"TrainOptions: these must be positive integers: {', '.join(bad)}")
        if not (self.alpha > 0 and self.lr > 0 and self.weight_decay >= 0):
            raise ValueError(f"TrainOptions: alpha={self.alpha}, lr={self.lr} must be > 0, weight_decay >= 0")
        if not (0.0 <= self.dropout < 1.0 and 0.0 <= self.val_fraction < 1.0):
            raise ValueError(
                f"TrainOptions: dropout={self.dropout} and val_fraction={self.val_fraction} must be in [0, 1)"
            )
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"TrainOptions: precision={self.precision!r} must be one of {', '.join(PRECISIONS)}"
            )
        object.__setattr__(self, "target_modules", tuple(self.target_modules))
        unknown = [m for m in self.target_modules if m not in TARGET_MODULES]
        if unknown or not self.target_modules:
            raise ValueError(
                f"TrainOptions: target_modules {list(self.target_modules)} must be a non-empty subset of "
                f"{', '.join(TARGET_MODULES)}"
            )


@dataclass(frozen=True)
class Example:
    """One tokenized example: `ids` = prompt + completion tokens; loss on ids[n_prompt:]."""

    ids: tuple[int, ...]
    n_prompt: int
    line: int


# ------------------------------------------------------------------------------------------------- data
def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_jsonl(path: str | os.PathLike) -> list[tuple[int, dict[str, Any]]]:
    """[(line number, row)] of a JSONL file (blank lines skipped). ValueError naming the first bad line."""
    rows = []
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if len(raw) > MAX_LINE_BYTES:
                raise ValueError(f"{path}: line {line_no}: longer than {MAX_LINE_BYTES} bytes")
            try:
                text = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise ValueError(f"{path}: line {line_no}: not UTF-8") from None
            if not text:
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: line {line_no}: invalid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}: line {line_no}: expected a JSON object, got {type(row).__name__}")
            rows.append((line_no, row))
    if not rows:
        raise ValueError(f"{path}: no examples")
    return rows


def _eos_id(tokenizer: TokenizerLike) -> int | None:
    eos = getattr(tokenizer, "eos_token_id", None)
    if eos is None and tokenizer.eos_token_ids:
        eos = min(tokenizer.eos_token_ids)
    return eos


def _prompt_and_completion(row: dict[str, Any], tokenizer: TokenizerLike) -> tuple[list[int], list[int]]:
    """Token ids of the prompt and of the completion of one row (ValueError saying what is wrong)."""
    if "messages" in row:
        extra = set(row) - {"messages"}
        if extra:
            raise ValueError(f"unexpected keys {sorted(extra)} next to 'messages'")
        messages = row["messages"]
        if not isinstance(messages, list) or len(messages) < 2:
            raise ValueError("'messages' must be a list of at least two messages")
        for i, m in enumerate(messages):
            if not (
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            ):
                raise ValueError(f"messages[{i}] must be {{'role': str, 'content': str}}")
        if messages[-1]["role"] != "assistant":
            raise ValueError(f"the last message must be the assistant's (got role {messages[-1]['role']!r})")
        prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True)
        full = tokenizer.apply_chat_template(messages, add_generation_prompt=False)
        if not full.startswith(prompt) or len(full) == len(prompt):
            raise ValueError("the chat template's rendering of the conversation does not extend its prompt")
        return tokenizer.encode(prompt), tokenizer.encode(full[len(prompt) :])
    if set(row) != {"prompt", "completion"}:
        raise ValueError(f"expected keys 'prompt' and 'completion' (or 'messages'), got {sorted(row)}")
    if not (isinstance(row["prompt"], str) and isinstance(row["completion"], str)) or not row["completion"]:
        raise ValueError("'prompt' and 'completion' must be strings, the completion non-empty")
    eos = _eos_id(tokenizer)
    return tokenizer.encode(row["prompt"]), tokenizer.encode(row["completion"]) + (
        [] if eos is None else [eos]
    )


def tokenize_rows(
    rows: Sequence[tuple[int, dict[str, Any]]], tokenizer: TokenizerLike, *, max_length: int, vocab_size: int
) -> list[Example]:
    """Examples from (line, row) pairs, truncated to `max_length` tokens. A row whose completion would be
    cut away entirely, or whose ids fall outside the model's vocabulary, is an error naming its line."""
    examples = []
    for line, row in rows:
        try:
            prompt, completion = _prompt_and_completion(row, tokenizer)
        except ValueError as exc:
            raise ValueError(f"line {line}: {exc}") from None
        ids = (prompt + completion)[:max_length]
        if len(ids) <= len(prompt):
            raise ValueError(f"line {line}: the prompt alone fills max_length={max_length} tokens")
        if len(ids) < 2:
            raise ValueError(f"line {line}: fewer than two tokens")
        if max(ids) >= vocab_size:
            raise ValueError(
                f"line {line}: token id {max(ids)} is outside the model's vocabulary ({vocab_size})"
            )
        examples.append(Example(tuple(ids), len(prompt), line))
    return examples


def collate(examples: Sequence[Example], pad_id: int = 0) -> tuple[Tensor, Tensor]:
    """Right-padded ids (B, T) and labels (B, T): the token id where it is a completion token, else IGNORE."""
    t = max(len(e.ids) for e in examples)
    ids = torch.full((len(examples), t), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), t), IGNORE, dtype=torch.long)
    for b, e in enumerate(examples):
        ids[b, : len(e.ids)] = torch.tensor(e.ids)
        labels[b, e.n_prompt : len(e.ids)] = torch.tensor(e.ids[e.n_prompt :])
    return ids, labels


def completion_loss(
    model: Callable[[Tensor], Tensor], ids: Tensor, labels: Tensor, *, reduction: str = "mean"
) -> Tensor:
    """Next-token cross-entropy on completion tokens: logits at t predict labels at t + 1."""
    logits = model(ids)  # (B, T, V)
    v = logits.shape[-1]
    return F.cross_entropy(
        logits[:, :-1].reshape(-1, v).float(),
        labels[:, 1:].reshape(-1),
        ignore_index=IGNORE,
        reduction=reduction,
    )


# --------------------------------------------------------------------------------------------- training
def split_train_val(
    examples: Sequence[Example], val_fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """Seeded shuffle, then the first round(n * val_fraction) examples (at least one when val_fraction > 0
    and there are two or more) are held out."""
    order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = round(len(examples) * val_fraction)
    if val_fraction > 0 and len(examples) >= 2:
        n_val = min(max(n_val, 1), len(examples) - 1)
    val = [examples[i] for i in order[:n_val]]
    train = [examples[i] for i in order[n_val:]]
    return train, val


def target_count(labels: Tensor) -> int:
    """How many tokens of a (B, T) label batch carry loss (labels at t + 1 for t < T - 1)."""
    return int((labels[:, 1:] != IGNORE).sum())


@torch.no_grad()
def evaluate(
    model: nn.Module, examples: Sequence[Example], batch_size: int, precision: Precision | None = None
) -> float | None:
    """Mean completion-token loss over `examples` (None when there are none), under `precision`'s autocast."""
    if not examples:
        return None
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for i in range(0, len(examples), batch_size):
        ids, labels = collate(examples[i : i + batch_size])
        with precision.autocast() if precision is not None else contextlib.nullcontext():
            total += completion_loss(model, ids.to(device), labels.to(device), reduction="sum").item()
        count += target_count(labels)
    model.train(was_training)
    return total / count


def train_adapter(
    model: nn.Module,
    tokenizer: TokenizerLike,
    data_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    options: TrainOptions = TrainOptions(),
    base_name: str | None = None,
    progress: bool = True,
    dist: DistContext | None = None,
) -> dict[str, Any]:
    """Train a LoRA adapter on `model` (a `Transformer`, left unchanged afterwards) and save it to `out_dir`
    in PEFT's format plus `training_summary.json`. Returns the summary.

    Precision: `options.precision` (`modelcore.training.precision`). Distributed: under torchrun pass
    `DistContext.from_env(device)`; `options.batch_size` is then the global batch, each rank trains on its
    shard, and only rank 0 writes `out_dir` (see `modelcore.training.distributed`)."""
    from peft import LoraConfig, get_peft_model
    from tqdm.auto import tqdm

    started = time.perf_counter()
    config = model.config
    data_path = Path(data_path)
    sha256 = file_sha256(data_path)
    examples = tokenize_rows(
        read_jsonl(data_path), tokenizer, max_length=options.max_length, vocab_size=config.vocab_size
    )
    train, val = split_train_val(examples, options.val_fraction, options.seed)
    device = next(model.parameters()).device
    ctx = dist if dist is not None else DistContext(device=device)
    precision = Precision.resolve(options.precision, device)
    per_rank_batch = ctx.per_rank_batch(options.batch_size)
    sampler = ctx.sampler(train, seed=options.seed + 1)
    steps_per_epoch = math.ceil(len(sampler) / per_rank_batch)
    total_steps = options.epochs * steps_per_epoch
    if options.max_steps is not None:
        total_steps = min(total_steps, options.max_steps)

    requires_grad = {name: p.requires_grad for name, p in model.named_parameters()}
    torch.manual_seed(
        options.seed
    )  # peft's LoRA init (A: Kaiming-uniform, B: 0) and dropout use the global RNG
    lora_config = LoraConfig(
        r=options.rank,
        lora_alpha=options.alpha,
        target_modules=list(options.target_modules),
        lora_dropout=options.dropout,
        use_rslora=options.use_rslora,
        bias="none",
        task_type=None,  # plain PeftModel: forwards our (input_ids, positions, kv_cache) call unchanged
    )
    peft_model = get_peft_model(model, lora_config)  # freezes everything but the LoRA factors
    precision.prepare(peft_model)  # fp8: the frozen base Linear layers run their matmuls in fp8
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=options.lr, weight_decay=options.weight_decay)
    torch.manual_seed(options.seed + ctx.rank)  # dropout masks differ between ranks, like their data
    trained_model = ctx.wrap(peft_model)

    train_losses: list[float] = []
    val_losses: list[float | None] = []
    val_before = evaluate(peft_model, val, options.batch_size, precision)
    step = 0
    epochs_done = 0
    bar = tqdm(total=total_steps, desc="adapter", unit="step", disable=not (progress and ctx.is_main))
    out = Path(out_dir)
    try:
        peft_model.train()
        while step < total_steps:
            sampler.set_epoch(epochs_done)
            order = list(sampler)  # this rank's shard of the epoch's seeded permutation
            for i in range(0, len(order), per_rank_batch):
                ids, labels = collate([train[j] for j in order[i : i + per_rank_batch]])
                ids, labels = ids.to(device), labels.to(device)
                # the loss of the global batch: token-loss sum over the global token count (see distributed.py)
                n_tokens = ctx.all_sum(torch.tensor(float(target_count(labels)), device=device))
                with precision.autocast():
                    loss_sum = completion_loss(trained_model, ids, labels, reduction="sum")
                precision.backward(loss_sum * ctx.world_size / n_tokens)
                precision.step(optimizer)
                optimizer.zero_grad(set_to_none=True)
                step += 1
                loss = (ctx.all_sum(loss_sum) / n_tokens).item()
                train_losses.append(loss)
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}")
                if step >= total_steps:
                    break
            epochs_done += 1
            val_losses.append(evaluate(peft_model, val, options.batch_size, precision))
            if progress and ctx.is_main and val_losses[-1] is not None:
                bar.write(f"epoch {epochs_done}: val loss {val_losses[-1]:.4f}")
        peft_model.eval()
        precision.restore()  # plain Linear layers (holding the same parameters) before saving

        saved = peft_model.peft_config["default"]
        saved.task_type = "CAUSAL_LM"  # so peft loads it onto transformers' LlamaForCausalLM as usual
        saved.base_model_name_or_path = base_name if base_name is not None else (config.name or None)
        if ctx.is_main:  # one writer
            out.mkdir(parents=True, exist_ok=True)
            # save_embedding_layers=False: we never train embeddings, and "auto" would look the base name up
            # on the Hugging Face Hub.
            peft_model.save_pretrained(str(out), safe_serialization=True, save_embedding_layers=False)
    finally:
        bar.close()
        precision.restore()
        peft_model.unload()  # take the LoRA layers out again: `model` is the plain base afterwards
        for name, p in model.named_parameters():
            p.requires_grad_(requires_grad[name])

    summary = {
        "base": saved.base_model_name_or_path,
        "data": str(data_path),
        "data_sha256": sha256,
        "seed": options.seed,
        "steps": step,
        "epochs": epochs_done,
        "train_examples": len(train),
        "val_examples": len(val),
        "val_lines": sorted(e.line for e in val),
        "train_losses": train_losses,
        "val_loss_before": val_before,
        "val_losses": val_losses,
        "options": dataclasses.asdict(options),
        "precision": precision.name,
        "fp8_linear_layers": precision.converted_count,
        "world_size": ctx.world_size,
        "files": [CONFIG_FILE, WEIGHTS_FILE],
        "elapsed_s": round(time.perf_counter() - started, 3),
    }
    if ctx.is_main:
        load_adapter_weights(out, config)  # what we wrote passes our own strict reader
        with open(out / SUMMARY_FILE, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)
    ctx.barrier()  # the other ranks return once the adapter is on disk
    return summary
