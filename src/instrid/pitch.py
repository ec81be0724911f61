"""pYIN fundamental-frequency tracking: the same answers as ``librosa.pyin``, many times faster.

``librosa.pyin`` spends almost all of its time in two places:

* a dense Viterbi pass over ``2 * n_pitch_bins`` states (1,204 for C2–C7 at 10-cent resolution):
  ``O(T * S^2)``, although the transition matrix is banded — a pitch moves at most a few
  semitones per frame, so every state has at most ``2 * (2w + 1)`` possible predecessors;
* observation probabilities computed frame by frame with one ``scipy.stats`` call per frame.

Here the Viterbi pass visits only the band (``O(T * S * w)``), the observation probabilities are
computed for all frames at once, and the transition matrix is built once per parameter set.
Every floating-point operation that decides the result is the one librosa performs, in the same
order, so ``f0`` and ``voiced_flag`` are identical (``benchmarks/pitch.py`` and
``tests/test_pitch.py`` check this). The YIN difference function itself is librosa's own
(``librosa.core.pitch._cumulative_mean_normalized_difference``), which is why instrid pins the
librosa minor version.

With ``workers`` threads, a long signal's observation probabilities are computed chunk by chunk in
parallel while one thread runs the Viterbi pass over the chunks done. They are frame-wise, so the
result is again the same bit for bit. The Viterbi pass is not split: chunks decoded apart and stitched
where their paths agree differ from the whole signal's path (docs/implementation.md, "Fast pYIN").
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import librosa
import numba
import numpy as np
import scipy.stats
from librosa.core.pitch import _cumulative_mean_normalized_difference, _parabolic_interpolation

__all__ = ["pyin"]

CHUNK_SECONDS = 2.0  # with workers > 1: observations computed per chunk of at least this much audio


def pyin(
    y: np.ndarray,
    *,
    fmin: float,
    fmax: float,
    sr: float = 22050,
    frame_length: int = 2048,
    hop_length: int | None = None,
    n_thresholds: int = 100,
    beta_parameters: tuple[float, float] = (2, 18),
    boltzmann_parameter: float = 2,
    resolution: float = 0.1,
    max_transition_rate: float = 35.92,
    switch_prob: float = 0.01,
    no_trough_prob: float = 0.01,
    fill_na: float | None = np.nan,
    center: bool = True,
    pad_mode: str = "constant",
    workers: int | None = 1,
    chunk_seconds: float = CHUNK_SECONDS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probabilistic YIN, a drop-in replacement for ``librosa.pyin`` on mono audio.

    Parameters are librosa's, with the same meaning and defaults, plus two that change only the speed: with
    ``workers`` threads, a signal of at least two ``chunk_seconds`` has its observation probabilities computed
    chunk by chunk in parallel while the Viterbi pass runs over the chunks done (``_pipelined_forward``).
    The result is the same, bit for bit.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], real, finite
        mono audio.
    fmin, fmax : number > 0, fmin < fmax <= sr/2
        pitch search range in Hz.
    workers : int > 0 or None
        threads (None: one per core); 1 computes the whole signal at once, as librosa does.

    Returns
    -------
    f0 : np.ndarray [shape=(n_frames,)], Hz, ``fill_na`` where unvoiced
    voiced_flag : np.ndarray [shape=(n_frames,)], bool
    voiced_prob : np.ndarray [shape=(n_frames,)], in [0, 1]
    """
    if y.ndim != 1:
        raise librosa.ParameterError(f"pyin expects mono audio of shape (n,), got shape {y.shape}")
    # librosa's own checks: Nyquist, fmin < fmax, at least one period of fmin per frame.
    librosa.core.pitch.__dict__["__check_yin_params"](sr=sr, fmax=fmax, fmin=fmin, frame_length=frame_length)
    librosa.util.valid_audio(y)
    if hop_length is None:
        hop_length = frame_length // 4
    if center:
        y = np.pad(y, (frame_length // 2, frame_length // 2), mode=pad_mode)
    y_frames = librosa.util.frame(y, frame_length=frame_length, hop_length=hop_length)  # (frame_length, T)

    min_period = int(np.floor(sr / fmax))
    max_period = min(int(np.ceil(sr / fmin)), frame_length - 1)
    thresholds = np.linspace(0, 1, n_thresholds + 1)
    beta_probs = np.diff(scipy.stats.beta.cdf(thresholds, beta_parameters[0], beta_parameters[1]))
    n_bins_per_semitone = int(np.ceil(1.0 / resolution))
    n_pitch_bins = int(np.floor(12 * n_bins_per_semitone * np.log2(fmax / fmin))) + 1
    observe = functools.partial(
        _log_observations,
        sr=sr,
        thresholds=thresholds,
        beta_probs=beta_probs,
        boltzmann_parameter=boltzmann_parameter,
        no_trough_prob=no_trough_prob,
        min_period=min_period,
        max_period=max_period,
        fmin=fmin,
        n_pitch_bins=n_pitch_bins,
        n_bins_per_semitone=n_bins_per_semitone,
    )

    max_semitones_per_frame = round(max_transition_rate * 12 * hop_length / sr)
    transition_width = max_semitones_per_frame * n_bins_per_semitone + 1
    log_trans, band = _log_transition(n_pitch_bins, transition_width, switch_prob)
    epsilon = np.finfo(np.float64).tiny  # librosa.util.tiny of the (float64) observation probabilities
    log_p_init = np.log(np.full(2 * n_pitch_bins, 1.0 / (2 * n_pitch_bins)) + epsilon)

    workers = workers or os.cpu_count() or 1
    chunk = max(2, round(chunk_seconds * sr / hop_length))  # frames; not 1: numpy sums one column pairwise
    if workers == 1 or y_frames.shape[1] < 2 * chunk:
        log_prob, voiced_prob = observe(y_frames)  # (T, S), (T,)
        ptr = np.zeros(log_prob.shape, dtype=np.int32)
        value = _viterbi_forward(log_prob, log_trans, band, log_prob[0] + log_p_init, np.log(epsilon), ptr)
    else:
        log_prob, voiced_prob, ptr, value = _pipelined_forward(
            y_frames, observe, log_trans, band, log_p_init, np.log(epsilon), chunk, workers
        )
    states = _backtrack(ptr, np.argmax(value))

    freqs = fmin * 2 ** (np.arange(n_pitch_bins) / (12 * n_bins_per_semitone))
    f0 = freqs[states % n_pitch_bins]
    voiced_flag = states < n_pitch_bins
    if fill_na is not None:
        f0[~voiced_flag] = fill_na
    return f0, voiced_flag, voiced_prob


def _log_observations(
    y_frames: np.ndarray, *, min_period: int, max_period: int, **params
) -> tuple[np.ndarray, np.ndarray]:
    """Log observation likelihoods (T, S) and voiced probability (T,) of frames (frame_length, T).

    Every step works frame by frame, so the rows of a range of frames (two or more) are the whole signal's.
    """
    yin_frames = _cumulative_mean_normalized_difference(y_frames, min_period, max_period)  # (P, T)
    parabolic_shifts = _parabolic_interpolation(yin_frames)  # (P, T)
    observation_probs, voiced_prob = _observation_probabilities(
        yin_frames, parabolic_shifts, min_period=min_period, **params
    )
    # As librosa.sequence.viterbi: log-likelihoods with a `tiny` floor against log(0).
    return np.log(observation_probs.T + librosa.util.tiny(observation_probs)), voiced_prob


def _observation_probabilities(
    yin_frames: np.ndarray,
    parabolic_shifts: np.ndarray,
    *,
    sr: float,
    thresholds: np.ndarray,
    beta_probs: np.ndarray,
    boltzmann_parameter: float,
    no_trough_prob: float,
    min_period: int,
    fmin: float,
    n_pitch_bins: int,
    n_bins_per_semitone: int,
) -> tuple[np.ndarray, np.ndarray]:
    """pYIN observation probabilities for all frames at once (librosa's ``__pyin_helper``, vectorised).

    Returns ``observation_probs`` (2 * n_pitch_bins, T) — voiced states first, then unvoiced —
    and ``voiced_prob`` (T,).
    """
    n_frames = yin_frames.shape[1]
    # Troughs: local minima along the period axis; the first lag is a trough if it is below the second.
    is_trough = librosa.util.localmin(yin_frames, axis=0)  # (P, T)
    is_trough[0] = yin_frames[0] < yin_frames[1]
    frame_of, period_of = np.nonzero(is_trough.T)  # troughs in frame-major order
    heights = yin_frames[period_of, frame_of]  # (N,)
    _, seg_start, counts = np.unique(frame_of, return_index=True, return_counts=True)
    seg_end = seg_start + counts  # troughs of one frame are contiguous

    # Boltzmann prior over the troughs under each threshold (smaller periods weigh more), read from a
    # table of scipy's own values: pmf(rank, boltzmann_parameter, n_troughs_under_threshold).
    n_max = int(counts.max(initial=1))
    pmf_table = scipy.stats.boltzmann.pmf(
        np.arange(n_max)[:, None], boltzmann_parameter, np.arange(n_max + 1)[None, :]
    )  # (rank, count)
    prior, global_min, n_thresholds_below_min = _trough_priors(
        heights, seg_start, seg_end, thresholds[1:], pmf_table
    )  # (N, K), (F,), (F,)

    probs = np.empty(len(heights))
    for s, e in zip(seg_start, seg_end):
        # One matrix-vector product per frame with librosa's shapes: BLAS rounding depends on them.
        probs[s:e] = prior[s:e].copy().dot(beta_probs)
    # For each threshold with no trough under it, its mass goes to the frame's global minimum.
    mass_below = np.array([np.sum(beta_probs[:n]) for n in range(len(beta_probs) + 1)])
    probs[global_min] += no_trough_prob * mass_below[n_thresholds_below_min]

    # librosa enumerates candidates with np.nonzero over (period, frame): period-major order.
    keep = probs != 0
    order = np.lexsort((frame_of[keep], period_of[keep]))
    period_idx = period_of[keep][order]
    frame_idx = frame_of[keep][order]
    cand_probs = probs[keep][order]

    period_candidates = min_period + period_idx
    period_candidates = period_candidates + parabolic_shifts[period_idx, frame_idx]
    f0_candidates = sr / period_candidates
    bin_index = 12 * n_bins_per_semitone * np.log2(f0_candidates / fmin)
    bin_index = np.clip(np.round(bin_index), 0, n_pitch_bins).astype(int)

    observation_probs = np.zeros((2 * n_pitch_bins, n_frames))
    observation_probs[bin_index, frame_idx] = cand_probs
    voiced_prob = np.clip(np.sum(observation_probs[:n_pitch_bins, :], axis=0, keepdims=True), 0, 1)
    observation_probs[n_pitch_bins:, :] = (1 - voiced_prob) / n_pitch_bins
    return observation_probs, voiced_prob[0]


@numba.njit(cache=True, nogil=True)
def _trough_priors(heights, seg_start, seg_end, thresholds, pmf_table):  # pragma: no cover
    """Per-trough prior over thresholds, as librosa's ``__pyin_helper`` builds it frame by frame.

    heights: (N,) trough depths, frames contiguous in [seg_start[f], seg_end[f]); thresholds: (K,).
    Returns prior (N, K), the index of each frame's global minimum (F,), and for that minimum the
    number of thresholds it is not under (F,).
    """
    n_thresholds = thresholds.shape[0]
    prior = np.zeros((heights.shape[0], n_thresholds))
    first_under = np.searchsorted(thresholds, heights, side="right")  # (N,) under thresholds k >= this
    global_min = np.empty(seg_start.shape[0], dtype=np.int64)
    n_not_under = np.empty(seg_start.shape[0], dtype=np.int64)
    n_under = np.empty(n_thresholds, dtype=np.int64)
    rank = np.empty(n_thresholds, dtype=np.int64)
    for f in range(seg_start.shape[0]):
        n_under[:] = 0
        best = seg_start[f]
        for i in range(seg_start[f], seg_end[f]):
            if heights[i] < heights[best]:
                best = i
            n_under[first_under[i] :] += 1
        rank[:] = 0
        for i in range(seg_start[f], seg_end[f]):
            for k in range(first_under[i], n_thresholds):
                prior[i, k] = pmf_table[rank[k], n_under[k]]
                rank[k] += 1
        global_min[f] = best
        n_not_under[f] = first_under[best]
    return prior, global_min, n_not_under


@functools.lru_cache(maxsize=8)
def _log_transition(n_pitch_bins: int, transition_width: int, switch_prob: float) -> tuple[np.ndarray, np.ndarray]:
    """librosa's pYIN transition matrix in the log domain, dense and as a band.

    Returns ``log_trans`` (S, S), S = 2 * n_pitch_bins, ``log_trans[i, j] = log P(j | i)``, and
    ``band`` (2, 2, 2h + 1, n_pitch_bins): ``band[to_block, from_block, h + d, p]`` is
    ``log P(state to_block*n + p | state from_block*n + p + d)``, ``-inf`` where ``p + d`` is out
    of range. Every transition outside the band has probability 0 (log: librosa's ``tiny`` floor).
    """
    n = n_pitch_bins
    transition = librosa.sequence.transition_local(n, transition_width, window="triangle", wrap=False)
    transition = np.kron(librosa.sequence.transition_loop(2, 1 - switch_prob), transition)
    rows, cols = np.nonzero(transition)
    h = int(np.max(np.abs(rows % n - cols % n)))
    log_trans = np.log(transition + librosa.util.tiny(transition))
    band = np.full((2, 2, 2 * h + 1, n), -np.inf)
    p = np.arange(n)
    for to_block in range(2):
        for from_block in range(2):
            for d in range(-h, h + 1):
                ok = (p + d >= 0) & (p + d < n)
                band[to_block, from_block, h + d, ok] = log_trans[from_block * n + p[ok] + d, to_block * n + p[ok]]
    log_trans.setflags(write=False)
    band.setflags(write=False)
    return log_trans, band


def _pipelined_forward(
    y_frames: np.ndarray,
    observe: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    log_trans: np.ndarray,
    band: np.ndarray,
    log_p_init: np.ndarray,
    log_floor: float,
    chunk: int,
    workers: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The observations and forward pass of the whole signal, the former in ``workers`` threads.

    The observation likelihoods of chunks of at least ``chunk`` frames are computed in parallel (frame-wise,
    so exactly the whole signal's rows), while this thread runs the one forward pass over the chunks already
    done, in order. The forward pass is not split: every value carries the whole history, and a chunk decoded
    from other starting values breaks near-ties (paths whose values differ in the last bits) differently.
    Returns log_prob (T, S), voiced_prob (T,), ptr (T, S) and the values of the last frame (S,).
    """
    n_frames = y_frames.shape[1]
    bounds = np.linspace(0, n_frames, n_frames // chunk + 1).round().astype(int)  # chunk k: [bounds[k], bounds[k+1])
    log_prob = np.empty((n_frames, len(log_p_init)))
    voiced_prob = np.empty(n_frames)
    ptr = np.zeros((n_frames, len(log_p_init)), dtype=np.int32)

    def observe_chunk(a: int, b: int) -> None:
        log_prob[a:b], voiced_prob[a:b] = observe(y_frames[:, a:b])

    with ThreadPoolExecutor(workers) as pool:
        done = [pool.submit(observe_chunk, a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        for k, future in enumerate(done):
            future.result()
            if k == 0:
                value = log_prob[0] + log_p_init  # (S,)
            a, b = max(0, bounds[k] - 1), bounds[k + 1]  # from the last frame decoded
            value = _viterbi_forward(log_prob[a:b], log_trans, band, value, log_floor, ptr[a:b])
    return log_prob, voiced_prob, ptr, value


@numba.njit(cache=True, nogil=True)
def _viterbi_forward(log_prob, log_trans, band, value, log_floor, ptr):  # pragma: no cover
    """``librosa.sequence.viterbi``'s forward pass over in-band predecessors only, with its results.

    log_prob: (T, S) log observation likelihoods, S = 2n; log_trans: (S, S) [from, to];
    band: (2, 2, 2h + 1, n) as made by ``_log_transition``; value: (S,) the values of frame 0 (log_prob[0]
    is not read). Writes the best predecessor of each state at frames 1..T-1 into ptr (T, S) and returns
    the values of frame T-1.

    A predecessor outside the band has transition log-probability ``log_floor`` (log of librosa's
    ``tiny``). It can only win if the best value of the previous frame plus ``log_floor`` reaches the
    best in-band candidate; such a state is then decided over all predecessors, as the dense
    algorithm does. Ties go to the lowest predecessor index, as ``np.argmax`` does: predecessors are
    visited in increasing index order and only a strictly larger candidate replaces the best.
    """
    n_steps, n_states = log_prob.shape
    n = n_states // 2
    h = (band.shape[2] - 1) // 2
    padded = np.full((2, n + 2 * h), -np.inf)  # previous values, block-wise, with -inf margins
    best = np.empty(n_states)
    for t in range(1, n_steps):
        for b in range(2):
            padded[b, h : h + n] = value[b * n : (b + 1) * n]
        best[:] = -np.inf
        for to_block in range(2):
            out = to_block * n
            for from_block in range(2):
                for d in range(2 * h + 1):  # predecessor p + d - h: increasing state index
                    src = padded[from_block, d : d + n]
                    trans = band[to_block, from_block, d]
                    offset = from_block * n + d - h
                    for p in range(n):  # contiguous and branch-free: vectorised by LLVM
                        candidate = src[p] + trans[p]
                        if candidate > best[out + p]:
                            best[out + p] = candidate
                            ptr[t, out + p] = offset + p
        best_prev = value.max()
        for j in range(n_states):
            if best_prev + log_floor >= best[j]:  # an out-of-band predecessor might win: decide densely
                best[j] = -np.inf
                for k in range(n_states):
                    candidate = value[k] + log_trans[k, j]
                    if candidate > best[j]:
                        best[j] = candidate
                        ptr[t, j] = k
        value = log_prob[t] + best
    return value


@numba.njit(cache=True, nogil=True)
def _backtrack(ptr, last):  # pragma: no cover
    """The state path (T,) ending in state ``last`` through the pointers ptr (T, S)."""
    states = np.empty(ptr.shape[0], dtype=np.int64)
    states[-1] = last
    for t in range(ptr.shape[0] - 2, -1, -1):
        states[t] = ptr[t + 1, states[t + 1]]
    return states
