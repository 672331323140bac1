"""Length-bucketed batches: utterances of similar length share a batch.

Padding a batch to its longest utterance wastes compute on frames that are
masked away; sorting by length before batching keeps that waste small. For
training the order changes every epoch (a seeded jitter on the sort keys,
then a seeded shuffle of the batches), and every process of a DDP run gets
the same number of batches, as gradient synchronisation requires. For
evaluation every utterance is seen exactly once over all processes, with no
padding by repetition, so scores summed over processes count each test
utterance once.

The batch sampler follows the layout of ``torch.utils.data.BatchSampler``:
its ``sampler`` attribute holds the per-epoch order and ``set_epoch``, where
Lightning looks for it at the start of every epoch.
"""

import math
import random
from collections.abc import Iterator, Sequence

from torch.utils.data import Sampler

__all__ = ["LengthSortedSampler", "BucketBatchSampler", "padded_share"]


class LengthSortedSampler(Sampler[int]):
    """Indices sorted by length, with a seeded per-epoch jitter when shuffling.

    Arguments
    ---------
    lengths : sequence of int
        Length (frames) of every item.
    shuffle : bool
        Multiply every length by a random factor in ``[1 - jitter, 1 + jitter]``
        before sorting, drawn from ``(seed, epoch)``; otherwise sort exactly
        (ties keep their index order).
    seed : int
        Seed of the jitter and of the batch shuffle of :class:`BucketBatchSampler`.
    jitter : float
        Relative jitter of the sort keys.

    Example
    -------
    >>> sampler = LengthSortedSampler([30, 10, 20])
    >>> list(sampler)
    [1, 2, 0]
    """

    def __init__(
        self, lengths: Sequence[int], shuffle: bool = False, seed: int = 0, jitter: float = 0.02
    ):
        self.lengths = [int(length) for length in lengths]
        self.shuffle = shuffle
        self.seed = seed
        self.jitter = jitter
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the order of epoch ``epoch`` (Lightning calls this every epoch)."""
        self.epoch = epoch

    def rng(self) -> random.Random:
        """Return the random generator of the current epoch."""
        return random.Random(f"{self.seed}/{self.epoch}")

    def __iter__(self) -> Iterator[int]:
        keys = [float(length) for length in self.lengths]
        if self.shuffle:
            rng = self.rng()
            keys = [key * (1.0 + rng.uniform(-self.jitter, self.jitter)) for key in keys]
        return iter(sorted(range(len(keys)), key=keys.__getitem__))

    def __len__(self) -> int:
        return len(self.lengths)


class BucketBatchSampler(Sampler[list[int]]):
    """Group length-sorted indices into batches, one process's share at a time.

    Arguments
    ---------
    sampler : LengthSortedSampler
        The order of the items, and their lengths.
    batch_size : int
        Most items per batch.
    max_batch_frames : int, optional
        Most padded frames (items times longest length) per batch.
    num_replicas : int
        Number of processes (DDP world size).
    rank : int
        This process's rank.
    even_batches : bool
        Training mode: every process gets the same number of batches, by
        repeating a few batches when their count is not a multiple of
        ``num_replicas``. Otherwise (evaluation) the items are dealt out
        to the processes and each is seen exactly once.

    Example
    -------
    >>> lengths = [5, 50, 6, 49, 7, 51]
    >>> batches = BucketBatchSampler(LengthSortedSampler(lengths), batch_size=3)
    >>> list(batches)
    [[0, 2, 4], [3, 1, 5]]
    >>> round(padded_share(list(batches), lengths), 3)
    0.034
    """

    def __init__(
        self,
        sampler: LengthSortedSampler,
        batch_size: int,
        max_batch_frames: int | None = None,
        num_replicas: int = 1,
        rank: int = 0,
        even_batches: bool = False,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is not in [0, {num_replicas})")
        self.sampler = sampler
        self.batch_size = batch_size
        self.max_batch_frames = max_batch_frames
        self.num_replicas = num_replicas
        self.rank = rank
        self.even_batches = even_batches

    def set_epoch(self, epoch: int) -> None:
        """Select the batches of epoch ``epoch``."""
        self.sampler.set_epoch(epoch)

    def batches(self) -> list[list[int]]:
        """Return this process's batches for the current epoch."""
        order = list(self.sampler)
        if self.even_batches:
            batches = self._group(order)
            if self.sampler.shuffle:
                self.sampler.rng().shuffle(batches)
            total = math.ceil(len(batches) / self.num_replicas) * self.num_replicas
            batches += batches[: total - len(batches)]
            return batches[self.rank :: self.num_replicas]
        return self._group(order[self.rank :: self.num_replicas])

    def __iter__(self) -> Iterator[list[int]]:
        # Lazily: Lightning creates the loader's iterator before it calls set_epoch, so the
        # batches must be drawn at the first batch, not here (a resumed run would otherwise
        # repeat the order of the epoch its loader was built in).
        yield from self.batches()

    def __len__(self) -> int:
        return len(self.batches())

    def _group(self, order: list[int]) -> list[list[int]]:
        lengths = self.sampler.lengths
        batches: list[list[int]] = []
        current: list[int] = []
        longest = 0
        for index in order:
            longer = max(longest, lengths[index])
            too_many = len(current) >= self.batch_size
            too_long = (
                self.max_batch_frames is not None
                and (len(current) + 1) * longer > self.max_batch_frames
            )
            if current and (too_many or too_long):
                batches.append(current)
                current, longer = [], lengths[index]
            current.append(index)
            longest = longer
        if current:
            batches.append(current)
        return batches


def padded_share(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> float:
    """Share of padding frames when each batch is padded to its longest item.

    Arguments
    ---------
    batches : sequence of sequence of int
        Item indices per batch.
    lengths : sequence of int
        Length of every item.

    Returns
    -------
    float
        Padded frames over all frames (real plus padded), in [0, 1).

    Example
    -------
    >>> padded_share([[0, 1]], [10, 30])
    0.3333...
    """
    real = sum(lengths[i] for batch in batches for i in batch)
    total = sum(len(batch) * max(lengths[i] for i in batch) for batch in batches)
    return 1.0 - real / total if total else 0.0
