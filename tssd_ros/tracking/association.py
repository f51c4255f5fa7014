"""Association primitives shared by every OTA mode: unit vectors (eq. 6's cosines) and one-to-one assignment.

Why a module of its own: the paper's greedy rule and the Hungarian alternative are used by each stage of the
motion mode as well as by the paper's single stage, and the tests pin their tie rules down.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tssd_ros.boxes import box_iou

if TYPE_CHECKING:
    from tssd_ros.tracking.store import TubeletStore


def unit_rows(v: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero: their cosine with anything is 0); float32 input stays
    float32 (attention vectors), anything else becomes float64."""
    v = np.asarray(v)
    if v.dtype != np.float32:
        v = v.astype(np.float64)
    n = np.sqrt(np.einsum("...k,...k->...", v, v))[..., None]
    return v / np.maximum(n, np.finfo(v.dtype).tiny)  # a zero row stays 0 (0 / tiny); no masked divide


def assign_greedy(S: np.ndarray, T: float) -> tuple[np.ndarray, np.ndarray]:
    """The paper's association: each detection (row) takes its best tubelet (column, ties: lowest index);
    when several take the same one only the highest S keeps it (ties: lowest row); matched iff S > T.

    Returns (rows, cols) of the matches.
    """
    if S.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    best = np.argmax(S, axis=1)
    best_s = S.max(axis=1)
    rows = np.nonzero(best_s > T)[0]
    if len(rows) == 0:
        return rows, rows.copy()
    if np.bincount(best[rows]).max() == 1:  # no two rows claim one column (the usual frame): all win
        return rows, best[rows]
    order = rows[np.argsort(-best_s[rows], kind="stable")]  # S descending, then row ascending (stable)
    cols = best[order]
    first = np.full(S.shape[1], len(order))
    np.minimum.at(first, cols, np.arange(len(order)))  # each column's first (best) claim; no sort needed
    winners = np.sort(order[first[first < len(order)]])
    return winners, best[winners]


def assign_hungarian(S: np.ndarray, T: float) -> tuple[np.ndarray, np.ndarray]:
    """Globally optimal one-to-one assignment: maximises sum(S - T) over pairs with S > T."""
    from scipy.optimize import linear_sum_assignment  # lazy: scipy.optimize takes ~0.5 s to import

    if S.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    gate = S > T
    w = np.where(gate, S - T, 0.0)
    r, c = linear_sum_assignment(w, maximize=True)
    keep = gate[r, c]
    return r[keep].astype(np.int64), c[keep].astype(np.int64)


def associate_paper(st: TubeletStore, assignment: str, boxes: np.ndarray, labels: np.ndarray,
                    units: np.ndarray | None, term: str, T: float, appearance: bool) -> np.ndarray:
    """The paper's single stage (attention and iou modes): per class, eq. 7's S against the newest boxes;
    returns the slot matched by each detection, or -1."""
    det_slot = np.full(len(boxes), -1, np.int64)
    if len(boxes) and st.alive.any():
        assign = assign_greedy if assignment == "greedy" else assign_hungarian
        for c in np.unique(labels):
            d_idx = np.nonzero(labels == c)[0]
            t_idx = np.nonzero(st.alive & (st.labels == c))[0]
            if len(t_idx) == 0:
                continue
            iou = box_iou(boxes[d_idx], st.newest(t_idx))
            S = np.exp(iou) if term == "exp" else iou
            if appearance and units is not None and st.vsum is not None:
                mean, cnt = st.mean_units(t_idx)
                # einsum, not BLAS: multi-threaded OpenBLAS GEMM of this size spins for ~20 ms on a busy CPU
                # (the ROS node shares it with the detector); einsum costs ~0.5 ms at 100 x 100 and is exact
                # to float32 whatever the thread count
                app = np.einsum("dk,tk->dt", units[d_idx], mean).astype(np.float64)
                app[:, cnt == 0] = 1.0  # a tubelet born without vectors has no appearance evidence
                S = S * app
            r, k = assign(S, T)
            det_slot[d_idx[r]] = t_idx[k]
    return det_slot
