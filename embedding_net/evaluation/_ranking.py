"""Exact ranks of the relevant items of each query, without a full argsort.

For every query row, the rank of a relevant item ("match") is one plus the number of
valid items placed before it. Ties are resolved pessimistically: a non-match at exactly the
same distance as a match is placed before it (the result does not depend on gallery order
and collapsed embeddings cannot score well). Ties among matches do not change AP / CMC.
"""

from __future__ import annotations

import numpy as np


def match_ranks(dist: np.ndarray, match_rows, match_cols, nonmatch_mask):
    """Ranks of the matches of each row of a distance block.

    Args:
        dist: float array (rows, n_items), smaller is closer.
        match_rows, match_cols: int arrays (n_matches,), coordinates of the matches.
        nonmatch_mask: bool array (rows, n_items), or None meaning "every non-match item";
            the valid items that are not matches. Items in neither set are ignored.

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

    nonmatch = np.full(dist.shape, np.inf, dtype=dist.dtype)
    np.copyto(nonmatch, dist, where=nonmatch_mask)
    nonmatch.sort(axis=1)
    n_before = np.empty(rows.shape[0], dtype=np.int64)
    for r in np.flatnonzero(counts):
        s = slice(starts[r], starts[r] + counts[r])
        n_before[s] = np.searchsorted(nonmatch[r], match_d[s], side="right")
    rank = position + 1 + n_before
    return rows, position, rank, counts
