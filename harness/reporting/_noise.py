"""Is a latency shift between two runs more than noise? A block permutation test.

Deliveries are not independent draws: those of one change share its fate (one slow fan-out
delays the whole audience), and a burst of load or a GC pause slows everything for a while.
Tests that treat deliveries, or even changes, as independent call such bursts significant:
two identical real 30-user runs came out 37 % apart at p95 "beyond noise" that way, and a
block bootstrap still flagged synthetic bursty runs at p99. Here the unit is one second of
deliveries: under "nothing changed" the seconds of both runs are exchangeable, so shuffling
whole seconds between the runs shows how far apart their percentiles fall by chance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["BLOCK_SECONDS", "BlockedSample", "permutation_p_values"]

BLOCK_SECONDS = 1.0
_PERMUTATIONS = 500


@dataclass(frozen=True, slots=True)
class BlockedSample:
    """Latencies (ms) ordered by one-second block of receive time."""

    values: np.ndarray
    starts: np.ndarray  # offset of each block in `values`
    sizes: np.ndarray

    @classmethod
    def from_live(cls, live: pd.DataFrame, column: str) -> BlockedSample:
        frame = live[[column, "t_recv"]].dropna()
        seconds = frame["t_recv"].to_numpy(dtype=float)
        blocks = np.floor((seconds - seconds.min()) / BLOCK_SECONDS) if seconds.size else seconds
        codes = np.unique(blocks, return_inverse=True)[1].astype(int)
        order = np.argsort(codes, kind="stable")
        sizes = np.bincount(codes) if codes.size else np.zeros(0, dtype=int)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1])) if sizes.size else sizes
        return cls(frame[column].to_numpy(dtype=float)[order], starts, sizes)

    @property
    def blocks(self) -> int:
        return int(self.sizes.size)

    def quantiles(self, qs: Sequence[float]) -> np.ndarray:
        result: np.ndarray = np.quantile(self.values, qs)
        return result


def _gather(values: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Every value of the chosen blocks, without a Python loop over blocks."""
    firsts = np.repeat(starts - np.cumsum(sizes) + sizes, sizes)
    gathered: np.ndarray = values[firsts + np.arange(int(sizes.sum()))]
    return gathered


def permutation_p_values(
    base: BlockedSample, new: BlockedSample, qs: Sequence[float], *,
    permutations: int = _PERMUTATIONS, seed: int = 0,
) -> list[float]:  # fmt: skip
    """Two-sided p-value per quantile of "the runs' quantiles differ only by chance"."""
    observed = np.abs(new.quantiles(qs) - base.quantiles(qs))
    values = np.concatenate((base.values, new.values))
    starts = np.concatenate((base.starts, new.starts + base.values.size))
    sizes = np.concatenate((base.sizes, new.sizes))
    rng = np.random.default_rng(seed)
    as_large = np.zeros(len(qs))
    for _ in range(permutations):
        shuffled = rng.permutation(sizes.size)
        first, second = shuffled[: base.blocks], shuffled[base.blocks :]
        a = _gather(values, starts[first], sizes[first])
        b = _gather(values, starts[second], sizes[second])
        as_large += np.abs(np.quantile(b, qs) - np.quantile(a, qs)) >= observed
    return [float(x) for x in (1.0 + as_large) / (permutations + 1.0)]
