"""Exact ranks of the relevant items of each query, without a full argsort.

For every query row, the rank of a relevant item ("match") is one plus the number of
valid items placed before it. Ties are resolved pessimistically: a non-match at exactly the
same distance as a match is placed before it (the result does not depend on gallery order
and collapsed embeddings cannot score well). Ties among matches do not change AP / CMC.

The distances of the same-label items (matches and ignored items) are read first, then
overwritten with +inf, so what is left of a row are its non-matches; each match is placed by
binary search among the sorted non-matches that are not farther than the row's farthest
match. When the ranking is good those are few and only they are sorted; otherwise (random
embeddings) the whole chunk is sorted in place at once.
"""

from __future__ import annotations

import numpy as np

# above this fraction of relevant non-matches, a chunk is sorted whole instead of per row
FULL_SORT_FRACTION = 0.25


class LabelGroups:
    """Positions of each label in a reference set, to list same-label pairs in O(pairs)."""

    def __init__(self, labels: np.ndarray):
        self.order = np.argsort(labels, kind="stable")
        sorted_labels = labels[self.order]
        boundaries = np.flatnonzero(sorted_labels[1:] != sorted_labels[:-1]) + 1
        self.starts = np.concatenate([[0], boundaries]).astype(np.int64)
        self.sizes = np.diff(np.concatenate([self.starts, [labels.shape[0]]])).astype(np.int64)
        self.values = sorted_labels[self.starts] if labels.shape[0] else sorted_labels

    def pairs(self, query_labels: np.ndarray):
        """(rows, cols): every (query row, reference position) with equal labels."""
        group = np.searchsorted(self.values, query_labels)
        group = np.minimum(group, max(self.values.shape[0] - 1, 0))
        found = (
            self.values[group] == query_labels
            if self.values.shape[0]
            else np.zeros(query_labels.shape[0], dtype=bool)
        )
        counts = np.where(found, self.sizes[group] if self.values.shape[0] else 0, 0)
        starts = np.where(found, self.starts[group] if self.values.shape[0] else 0, 0)
        rows = np.repeat(np.arange(query_labels.shape[0]), counts)
        offsets = np.repeat(starts - np.cumsum(counts) + counts, counts)
        cols = self.order[np.arange(rows.shape[0]) + offsets]
        return rows, cols


def match_ranks(dist, match_rows, match_cols, blank_rows, blank_cols, overwrite=False):
    """Ranks of the matches of each row of a distance block.

    Args:
        dist: float array (rows, n_items), smaller is closer.
        match_rows, match_cols: int arrays (n_matches,), coordinates of the matches.
        blank_rows, blank_cols: coordinates of every item that is NOT a non-match (the
            matches plus ignored items); all other items of a row are its non-matches.
        overwrite: ``dist`` may be modified in place (else it is copied).

    Returns:
        (rows, position, rank, counts): for each match sorted by (row, distance), its row,
        its 0-based position among the row's matches and its 1-based rank among valid
        items; ``counts`` (rows,) is the number of matches per row.
    """
    n_rows = dist.shape[0]
    match_d = dist[match_rows, match_cols]
    order = np.lexsort((match_d, match_rows))
    rows = match_rows[order]
    match_d = match_d[order]
    counts = np.bincount(rows, minlength=n_rows)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.arange(rows.shape[0]) - np.repeat(starts, counts)

    nonmatch = dist if overwrite else dist.copy()
    nonmatch[blank_rows, blank_cols] = np.inf
    n_before = np.empty(rows.shape[0], dtype=np.int64)
    with_matches = np.flatnonzero(counts)
    # only non-matches up to a row's farthest match can precede a match
    last = np.full(n_rows, -np.inf, dtype=dist.dtype)
    last[with_matches] = match_d[starts[with_matches] + counts[with_matches] - 1]
    relevant = nonmatch <= last[:, None]
    per_row = relevant.sum(axis=1)
    if per_row.sum() > FULL_SORT_FRACTION * nonmatch.size:
        nonmatch.sort(axis=1)  # most of each row is needed: one batched sort
        for r in with_matches:
            s = slice(starts[r], starts[r] + counts[r])
            n_before[s] = np.searchsorted(nonmatch[r], match_d[s], side="right")
    else:  # well-ranked queries: sort only the few relevant non-matches of each row
        values = nonmatch[relevant]  # row-major: grouped by row
        offsets = np.concatenate([[0], np.cumsum(per_row)])
        for r in with_matches:
            s = slice(starts[r], starts[r] + counts[r])
            head = np.sort(values[offsets[r] : offsets[r + 1]])
            n_before[s] = np.searchsorted(head, match_d[s], side="right")
    rank = position + 1 + n_before
    return rows, position, rank, counts
