"""Which training examples each step sees: shuffled epochs, or batches of similar length.

A batch is padded to its longest row, so a random batch spends compute on padding in proportion
to how much its lengths vary. Length bucketing sorts a pool of a few batches' worth of shuffled
examples by length before cutting it into batches, and visits those batches in random order:
rows of a batch are then nearly the same length and almost nothing is padding, while every
example is still seen once per epoch and the order still comes from the seeded generator.
"""

from __future__ import annotations

import torch


class BatchOrder:
    """Endless batches of example indices, drawn from `gen`.

    Without `lengths`: a fresh permutation per epoch, batches running on across epochs (what
    `train_prompt` has always drawn). With `lengths` (tokens per example): length-bucketed
    batches, `pool` batches sorted at a time; an epoch's last batch may be smaller.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        gen: torch.Generator,
        lengths: list[int] | None = None,
        pool: int = 16,
    ) -> None:
        if lengths is not None and len(lengths) != n:
            raise ValueError(f"got {len(lengths)} lengths for {n} examples")
        self.n, self.batch_size, self.gen = n, min(batch_size, n), gen
        self.lengths, self.pool = lengths, max(1, pool)
        self._order: list[int] = []
        self._batches: list[list[int]] = []

    def next(self) -> list[int]:
        if self.lengths is None:
            batch: list[int] = []
            while len(batch) < self.batch_size:
                if not self._order:  # a fresh shuffle per epoch
                    self._order = torch.randperm(self.n, generator=self.gen).tolist()
                batch.append(self._order.pop())
            return batch
        if not self._batches:
            self._batches = self._bucketed_epoch()
        return self._batches.pop()

    def _bucketed_epoch(self) -> list[list[int]]:
        assert self.lengths is not None
        lengths = self.lengths
        order = torch.randperm(self.n, generator=self.gen).tolist()
        size = self.batch_size * self.pool
        batches = []
        for start in range(0, self.n, size):
            pool = sorted(order[start : start + size], key=lambda i: lengths[i])  # stable
            batches += [pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        visit = torch.randperm(len(batches), generator=self.gen).tolist()
        return [batches[i] for i in visit]
