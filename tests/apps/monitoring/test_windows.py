"""The packed per-request unigrams: many requests joined end to end sum like their token lists."""
from collections import Counter

import numpy as np

from apps.monitoring.windows import aligned_counts, unigrams_pack, unigrams_sum, unigrams_unpack


def test_joined_unigrams_sum_like_the_token_lists():
    a, b = [5, 3, 5, 900, 3, 5], [3, 7, 7]
    ids, counts = unigrams_unpack(unigrams_pack(a))
    assert ids.tolist() == [3, 5, 900] and counts.tolist() == [2, 3, 1]
    keys, summed = unigrams_sum(unigrams_pack(a) + unigrams_pack(b))
    assert dict(zip(keys.tolist(), summed.tolist(), strict=True)) == Counter(a + b)


def test_aligned_counts_cover_the_union_of_tokens():
    p = (np.array([1, 4]), np.array([2.0, 3.0]))
    q = (np.array([4, 9]), np.array([1.0, 5.0]))
    x, y = aligned_counts(p, q)
    assert x.tolist() == [2.0, 3.0, 0.0] and y.tolist() == [0.0, 1.0, 5.0]
