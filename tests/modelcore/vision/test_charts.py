"""Generated charts: deterministic, balanced answers, images that show the answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modelcore.vision.charts import (
    ANSWERS,
    CHANCE,
    PAD_ID,
    PROMPT_LEN,
    QUESTION_TYPES,
    ChartVocab,
    generate,
    make_example,
)


def test_same_seed_same_batch_other_seed_other_batch():
    a, b, c = generate(30, 7), generate(30, 7), generate(30, 8)
    assert torch.equal(a.images, b.images) and torch.equal(a.input_ids, b.input_ids)
    assert torch.equal(a.answer_ids, b.answer_ids)
    assert not torch.equal(a.images, c.images)


def test_shapes_and_padding():
    batch = generate(12, 0, image_size=32)
    assert batch.images.shape == (12, 1, 32, 32) and batch.images.dtype == torch.float32
    assert 0.0 <= float(batch.images.min()) and float(batch.images.max()) <= 1.0
    assert batch.input_ids.shape == (12, PROMPT_LEN)
    assert torch.equal(batch.text_key_mask, batch.input_ids != PAD_ID)
    assert (batch.input_ids[:, -1] == ChartVocab.ids["answer"]).all()  # the answer is predicted from here


def test_answers_balanced_within_each_type():
    batch = generate(600, 3)
    for ti, q in enumerate(QUESTION_TYPES):
        answers = batch.answer_ids[batch.qtypes == ti].tolist()
        assert len(answers) == 200
        counts = {ChartVocab.tokens[a]: answers.count(a) for a in set(answers)}
        assert set(counts) == set(ANSWERS[q])
        assert len(set(counts.values())) == 1, counts  # every answer equally often
        assert CHANCE[q] == pytest.approx(1 / len(ANSWERS[q]))


def _bar_heights(img: np.ndarray) -> list[int]:
    s = img.shape[0]
    slot = s // 4
    return [int((img[:, i * slot + slot // 2] > 0.5).sum()) for i in range(4)]


@pytest.mark.parametrize("seed", range(5))
def test_images_show_their_answers(seed):
    rng = np.random.default_rng(seed)
    for answer in range(4):
        img, words, ans = make_example(rng, "tallest", answer)
        heights = _bar_heights(img)
        assert ans == str(answer) and int(np.argmax(heights)) == answer
        assert sorted(heights)[-1] - sorted(heights)[-2] >= 4
        img, words, ans = make_example(rng, "value", answer)
        bar = int(words[3])
        assert ans == f"v{answer}" and heights is not None
        assert _bar_heights(img)[bar] // 8 == answer
    for answer, word in enumerate(ANSWERS["trend"]):
        img, _, ans = make_example(rng, "trend", answer)
        rows = [float(np.nonzero(img[:, x])[0].mean()) for x in (0, 1, 30, 31)]
        assert ans == word
        assert (rows[2] + rows[3] < rows[0] + rows[1]) == (word == "up")  # row 0 is the top


def test_vocab_round_trip_and_errors():
    words = ["<bos>", "which", "bar", "is", "tallest", "?", "answer"]
    assert ChartVocab.decode(ChartVocab.encode(words)) == words
    with pytest.raises(ValueError, match="'pie'"):
        ChartVocab.encode(["pie"])
    with pytest.raises(ValueError, match="question type"):
        make_example(np.random.default_rng(0), "pie", 0)
    with pytest.raises(ValueError, match="image_size"):
        make_example(np.random.default_rng(0), "trend", 0, image_size=30)
