"""Generated chart images with questions whose answers are known, for proving the vision wiring learns.

Deterministic (numpy `default_rng(seed)`), no files. Images are (1, S, S) float32 in [0, 1] (S = image_size,
a multiple of 4; default 32): white marks on black, small Gaussian noise. Three question types:

| type      | chart                      | question (words)                   | answers            | chance |
|-----------|----------------------------|------------------------------------|--------------------|--------|
| `tallest` | 4 bars                     | which bar is tallest ?             | `0` `1` `2` `3`    | 1/4    |
| `trend`   | one line, left to right    | is the line going up or down ?     | `up` `down`        | 1/2    |
| `value`   | 4 bars                     | value of bar k ?  (k = 0..3)       | `v0` `v1` `v2` `v3`| 1/4    |

`value` answers the height bucket of bar k: bucket b means a height of 2..6 pixels above b * S/4 (S = 32:
heights 8b+2 .. 8b+6 of 32), so buckets are a few pixels apart. In `tallest` the tallest bar is at least
S/8 pixels above the next. In `trend` the line rises or falls by at least S/4 pixels. `generate` balances
answers exactly within each type (every answer equally often, up to the remainder of the division), so
the best image-blind guess scores the chance level in the table.

Token sequences: `<bos> question... answer` left-padded with `<pad>` to one length; the model reads them
and predicts the answer token at the last position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

QUESTION_TYPES = ("tallest", "trend", "value")
NUM_BARS = 4
ANSWERS: dict[str, tuple[str, ...]] = {
    "tallest": ("0", "1", "2", "3"),
    "trend": ("up", "down"),
    "value": ("v0", "v1", "v2", "v3"),
}
CHANCE: dict[str, float] = {q: 1.0 / len(a) for q, a in ANSWERS.items()}
QUESTIONS: dict[str, tuple[str, ...]] = {
    "tallest": ("which", "bar", "is", "tallest", "?"),
    "trend": ("is", "the", "line", "going", "up", "or", "down", "?"),
    "value": ("value", "of", "bar", "{k}", "?"),
}
SPECIALS = ("<pad>", "<bos>", "<eos>")
WORDS = (
    "which",
    "bar",
    "is",
    "tallest",
    "?",
    "the",
    "line",
    "going",
    "up",
    "or",
    "down",
    "value",
    "of",
    "answer",
)
VOCAB: tuple[str, ...] = SPECIALS + WORDS + ("0", "1", "2", "3", "v0", "v1", "v2", "v3")
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2
PROMPT_LEN = 1 + max(len(q) for q in QUESTIONS.values()) + 1  # <bos> question answer


class ChartVocab:
    """The tiny word-level vocabulary: `encode(words) -> ids`, `decode(ids) -> words`."""

    tokens = VOCAB
    ids = {t: i for i, t in enumerate(VOCAB)}

    @classmethod
    def size(cls) -> int:
        return len(cls.tokens)

    @classmethod
    def encode(cls, words: list[str] | tuple[str, ...]) -> list[int]:
        try:
            return [cls.ids[w] for w in words]
        except KeyError as e:
            raise ValueError(f"word {e.args[0]!r} is not in the chart vocabulary") from None

    @classmethod
    def decode(cls, ids: list[int]) -> list[str]:
        return [cls.tokens[i] for i in ids]


@dataclass
class ChartBatch:
    """images (B, 1, S, S) float32; input_ids (B, PROMPT_LEN) long, left-padded; text_key_mask (B, PROMPT_LEN)
    bool (False on padding); answer_ids (B,) long token ids; qtypes (B,) long indices into QUESTION_TYPES."""

    images: Tensor
    input_ids: Tensor
    text_key_mask: Tensor
    answer_ids: Tensor
    qtypes: Tensor

    def __len__(self) -> int:
        return self.input_ids.shape[0]


def _draw_bars(img: np.ndarray, heights: list[int]) -> None:
    s = img.shape[0]
    slot = s // NUM_BARS
    for i, h in enumerate(heights):
        x0 = i * slot + 1
        img[s - h :, x0 : x0 + slot - 2] = 1.0  # rows count from the top; a bar grows up from the bottom


def _bars_tallest(rng: np.random.Generator, answer: int, s: int) -> np.ndarray:
    img = np.zeros((s, s), np.float32)
    top = int(rng.integers(s // 2, s - 1))  # height of the tallest bar
    heights = [int(rng.integers(1, top - s // 8 + 1)) for _ in range(NUM_BARS)]
    heights[answer] = top
    _draw_bars(img, heights)
    return img


def _bars_value(rng: np.random.Generator, bar: int, bucket: int, s: int) -> np.ndarray:
    img = np.zeros((s, s), np.float32)
    q = s // 4
    heights = [int(rng.integers(1, s - 1)) for _ in range(NUM_BARS)]
    heights[bar] = bucket * q + int(rng.integers(q // 4, q - q // 4 + 1))
    heights[bar] = max(1, heights[bar])
    _draw_bars(img, heights)
    return img


def _line(rng: np.random.Generator, up: bool, s: int) -> np.ndarray:
    img = np.zeros((s, s), np.float32)
    lo = int(rng.integers(1, s // 2))
    hi = int(rng.integers(lo + s // 4, s - 1))
    y0, y1 = (lo, hi) if up else (hi, lo)
    xs = np.arange(s)
    ys = y0 + (y1 - y0) * xs / (s - 1) + rng.normal(0.0, 1.0, s)
    ys = np.clip(np.round(ys), 0, s - 2).astype(int)
    img[s - 1 - ys, xs] = 1.0
    img[s - 2 - ys, xs] = 1.0  # two pixels thick
    return img


def make_example(
    rng: np.random.Generator, qtype: str, answer: int, image_size: int = 32
) -> tuple[np.ndarray, list[str], str]:
    """One chart for `qtype` whose answer is `ANSWERS[qtype][answer]`: (image (S, S), question words,
    answer word). For `value` the asked bar is drawn from `rng`."""
    s = image_size
    if s % NUM_BARS != 0 or s < 16:
        raise ValueError(f"image_size={s} must be a multiple of {NUM_BARS} and >= 16")
    if qtype == "tallest":
        img, words = _bars_tallest(rng, answer, s), list(QUESTIONS["tallest"])
    elif qtype == "trend":
        img, words = _line(rng, answer == 0, s), list(QUESTIONS["trend"])
    elif qtype == "value":
        bar = int(rng.integers(0, NUM_BARS))
        img = _bars_value(rng, bar, answer, s)
        words = [str(bar) if w == "{k}" else w for w in QUESTIONS["value"]]
    else:
        raise ValueError(f"unknown question type {qtype!r}; known: {', '.join(QUESTION_TYPES)}")
    return img, words, ANSWERS[qtype][answer]


def generate(
    n: int,
    seed: int,
    *,
    image_size: int = 32,
    qtypes: tuple[str, ...] = QUESTION_TYPES,
    noise: float = 0.05,
) -> ChartBatch:
    """`n` examples, the types in turn and answers balanced within each type, shuffled; same seed, same batch."""
    if n <= 0:
        raise ValueError(f"n={n} must be positive")
    rng = np.random.default_rng(seed)
    plan: list[tuple[int, int]] = []  # (type index, answer index)
    for ti, q in enumerate(qtypes):
        count = n // len(qtypes) + (1 if ti < n % len(qtypes) else 0)
        k = len(ANSWERS[q])
        answers = rng.permutation(np.arange(count) % k)
        plan.extend((QUESTION_TYPES.index(q), int(a)) for a in answers)
    order = rng.permutation(len(plan))
    images = np.zeros((n, 1, image_size, image_size), np.float32)
    ids = np.full((n, PROMPT_LEN), PAD_ID, np.int64)
    answer_ids = np.zeros(n, np.int64)
    types = np.zeros(n, np.int64)
    for row, j in enumerate(order):
        ti, a = plan[j]
        img, words, ans = make_example(rng, QUESTION_TYPES[ti], a, image_size)
        if noise > 0:
            img = np.clip(img + rng.normal(0.0, noise, img.shape).astype(np.float32), 0.0, 1.0)
        images[row, 0] = img
        seq = ChartVocab.encode(["<bos>", *words, "answer"])
        ids[row, PROMPT_LEN - len(seq) :] = seq
        answer_ids[row] = ChartVocab.ids[ans]
        types[row] = ti
    input_ids = torch.from_numpy(ids)
    return ChartBatch(
        images=torch.from_numpy(images),
        input_ids=input_ids,
        text_key_mask=input_ids != PAD_ID,
        answer_ids=torch.from_numpy(answer_ids),
        qtypes=torch.from_numpy(types),
    )
