"""Training batches: the plain order is what training always drew; bucketing keeps every example."""

from __future__ import annotations

import torch

from softloop.prompts.batch_order import BatchOrder


def test_plain_order_is_one_permutation_per_epoch_running_across_epochs() -> None:
    order = BatchOrder(10, 4, torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(0)
    expected: list[int] = []
    for _ in range(3):
        expected += torch.randperm(10, generator=gen).tolist()[::-1]  # popped from the end
    drawn = [i for _ in range(7) for i in order.next()]
    assert drawn == expected[:28]


def test_bucketed_epochs_see_every_example_once_in_batches_of_similar_length() -> None:
    lengths = [((i * 37) % 23) + 1 for i in range(50)]
    order = BatchOrder(50, 8, torch.Generator().manual_seed(1), lengths, pool=3)
    spread = []
    for _ in range(2):  # two epochs of 7 batches (the last of each pool smaller)
        epoch = [order.next() for _ in range(7)]
        assert sorted(i for b in epoch for i in b) == list(range(50))
        spread += [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in epoch]
    assert max(spread) < max(lengths) - min(lengths)


def test_bucketing_is_seeded() -> None:
    lengths = list(range(30))

    def first(seed: int) -> list[list[int]]:
        order = BatchOrder(30, 4, torch.Generator().manual_seed(seed), lengths)
        return [order.next() for _ in range(8)]

    assert first(3) == first(3)
    assert first(3) != first(4)
