"""Shared gamma-frailty Cox model (one random effect per cluster, e.g. study), as R survival 3.5
``coxph(Surv(time, event) ~ x + frailty(cluster))`` (``frailty.gamma``, ``method = "em"``, Efron ties).

Model and likelihoods (Therneau, Grambsch & Pankratz 2003; R ``frailty.gamma``):

* the hazard of subject i in cluster g is ``h0(t) exp(x_i beta + w_g)``; at a fixed frailty variance theta the
  log-frailties ``w`` are estimated jointly with ``beta`` by maximising the penalised partial likelihood
  ``PPL = PL(beta, w) - (1/theta) sum_g (exp(w_g) - w_g)`` (Efron ties). At its maximum
  ``mean(exp(w)) = 1`` (R re-centres the ``w`` to that at every step);
* R's ``fit$loglik[2]`` (:attr:`FrailtyCoxResult.loglik`) is the partial likelihood ``PL`` at the fit; its
  "I-likelihood" ``c.loglik`` (:attr:`FrailtyCoxResult.c_loglik`) is
  ``PL + sum(w)/theta + sum_g [d_g - nu log(1 + d_g/nu) + sum_{k<d_g} log((nu+k)/(nu+d_g))]`` with
  ``nu = 1/theta`` and ``d_g`` the events of cluster g (R ``frailty.gammacon``); for the gamma frailty this is
  the marginal (frailty-integrated) log-likelihood at the penalised solution, up to a constant;
* ``fit="r_default"`` reproduces R's own search for theta (``frailty.controlgam``): fits at theta = 0 and 1,
  then 0.5 or 2, then parabolic steps on sqrt(theta) (``frailty.brent``), stopping when c.loglik changes by
  less than a relative 1e-5 or after 10 outer iterations (``coxph.control(outer.max = 10)``). Each inner fit
  is R's ``coxfit5`` Newton iteration as R runs it: started from the stored fit whose theta is closest, with
  R's approximate Hessian (with more than 5 clusters R's ``sparse`` mode keeps only the diagonal of the
  frailty block), step halving when the penalised log-likelihood falls, stopping at a relative change below
  ``eps = 1e-9`` or after ``iter.max = 20`` steps. R reports the last fit; the search often stops well short
  of the maximum of c.loglik;
* ``fit="profile"`` maximises c.loglik over theta: each fixed-theta fit is converged to machine precision
  (Newton with the exact Hessian, started from the fits at the nearest thetas), theta is bracketed on a grid
  and then found as the root of dc.loglik/dtheta (the envelope derivative
  ``-sum(w)/theta^2 + d(correction)/dtheta``), accurate to ~1e-9 in theta (R's ``optimize()`` over tightly
  converged fixed-theta fits agrees within 1e-7, the limit of its c.loglik precision); a maximum below
  theta = 1e-4 is found on c.loglik values and reported as 0 unless it beats the plain Cox model;
* ``theta=`` given: one fit at that theta (R ``frailty(cluster, theta = ...)``), run as R runs it.

The reported variance is R's ``fit$var`` (``se(coef)``): the fixed-effect block of the inverse of the Hessian
of the penalised partial likelihood *as R forms it*. With more than 5 clusters (R's default ``sparse = TRUE``)
the off-diagonal elements of the frailty block of the information are dropped before inverting. That is not the
inverse of the exact Hessian: R's printed SE is larger by 0.3-2.4% on the test data (kidney: 0.46055 vs 0.44948
for sex, the latter what ``frailty(id, sparse = FALSE)`` reports). This module reports what R prints by default.
With at most 5 clusters R (and this module) use the full matrix. R's ``se2`` column is not computed.

Computation: one evaluation of the penalised PL, its score and R's information costs O((n + d) p^2 + G p)
time and memory (d events), with no (time x cluster) arrays: the per-cluster sums over Efron terms of the
risk-set shares, of their products with the covariate means and of their squares reduce to per-row weights
from prefix sums over the terms (``_row_weights``, ``_share_squares``; the within-cluster suffix sums of the
latter take log2(largest cluster) vectorised passes, summed without cancellation). With R's diagonal frailty
block the Newton step and ``fit$var`` come from the p x p Schur complement (O(G p^2)); the exact Newton steps
of ``fit="profile"`` (the full frailty block is dense) are solved by conjugate gradients preconditioned by R's
sparse information, whose products with the full block also cost O(n). About 0.2 s for R's search and 1 s for
the profile with 1,000 clusters of 40 subjects, 10 MiB (``benchmarks/frailty_speed.py``).

Clusters are ordered as ``numpy.unique`` sorts their labels (R's ``factor`` order for numbers and for
plain lower-case ASCII labels; R sorts strings by locale). Times are used as given (R's default ``timefix``
merges times equal up to rounding noise; round first, or compare with R's ``timefix = FALSE``). No strata,
weights, offsets, start-stop data, or other frailty distributions.

Example
-------
Fifteen subjects in three clusters. R: ``coxph(Surv(t, e) ~ x + frailty(g, theta = 0.5))`` prints coef 0.2009,
se(coef) 0.6839; the default ``coxph(Surv(t, e) ~ x + frailty(g))`` prints coef 0.400, se 0.635, "Iterations:
6 outer, 18 Newton-Raphson", "Variance of random effect= 5e-07" (its search walks theta down towards 0).

>>> t = [6, 9, 4, 12, 3, 8, 10, 5, 7, 2, 11, 6, 1, 13, 9]
>>> e = [1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 0]
>>> x = [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 0]
>>> g = ["a"] * 5 + ["b"] * 5 + ["c"] * 5
>>> fit = gamma_frailty_cox(t, e, x, g, theta=0.5)
>>> round(float(fit.coef[0]), 4), round(float(fit.se[0]), 4)
(0.2009, 0.6839)
>>> fit = gamma_frailty_cox(t, e, x, g)
>>> round(float(fit.coef[0]), 3), round(float(fit.se[0]), 3), fit.iterations, fit.newton_iterations, fit.theta
(0.4, 0.635, 6, 18, 5e-07)
>>> gamma_frailty_cox(t, e, x, g, fit="profile").theta  # c.loglik decreases from theta = 0
0.0
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import optimize, stats

from meta_bm.survival.coxph import _Data, _prepare, _suffix_sum, covariate_names

# R survival 3.5 defaults: coxph.control(eps = 1e-9, iter.max = 20, outer.max = 10), frailty.gamma(eps = 1e-5)
_R_EPS = 1e-9
_R_ITER_MAX = 20
_R_OUTER_MAX = 10
_R_FRAILTY_EPS = 1e-5
_SPARSE_MIN_CLUSTERS = 6  # frailty.gamma(sparse = nclass > 5)
_PROFILE_GRID = np.concatenate(([0.0], np.geomspace(1e-4, 20.0, 14)))
_PROFILE_FALLS = 3
_PROFILE_MAX_THETA = 1e4
_PCG_RTOL = 1e-14  # exact Newton steps in sparse mode: conjugate-gradient residual relative to the score
_PCG_MAX_ITER = 200


@dataclass(frozen=True)
class FrailtyCoxResult:
    """Result of :func:`gamma_frailty_cox` (R ``coxph(... + frailty(cluster))``).

    ``se`` is R's ``se(coef)`` (square root of the diagonal of ``fit$var``, see the module notes); ``z``, ``p``
    and the hazard-ratio interval use it. ``frailty`` are the estimated log-frailties (R ``fit$frail``) in
    ``cluster_labels`` order. ``loglik`` is R's ``fit$loglik[2]`` (partial likelihood at the fit),
    ``c_loglik`` R's ``fit$history[[1]]$c.loglik``. ``iterations`` counts outer (theta) iterations,
    ``newton_iterations`` the inner Newton steps summed over them (R ``fit$iter``); for ``fit="profile"``
    ``iterations`` is the number of fixed-theta fits. ``history`` holds rows (theta, penalised loglik
    ``PL + sum(w)/theta``, c.loglik): one per outer iteration for ``"r_default"`` (R
    ``fit$history[[1]]$history``), every evaluated theta (sorted) for ``"profile"``, the single fit for
    ``"fixed"`` (``fit`` is ``"fixed"`` when ``theta`` was given). ``converged`` is False when an inner fit
    did not converge or, for ``"r_default"``, when R's search ended at ``outer.max`` without meeting its
    criterion (R reports that fit without a warning). ``var`` is R's ``fit$var`` for the fixed effects;
    ``sparse`` tells whether R's sparse frailty computation (more than 5 clusters) was reproduced.
    For ``"profile"``, c.loglik uses the exact gamma correction also below theta = 1e-7/max(d) (see
    ``_gamma_correction``); above it, it equals R's.
    """

    names: list[str]
    coef: np.ndarray
    se: np.ndarray
    hr: np.ndarray
    hr_lower: np.ndarray
    hr_upper: np.ndarray
    z: np.ndarray
    p: np.ndarray
    theta: float
    fit: str
    frailty: np.ndarray
    cluster_labels: list
    loglik: float
    c_loglik: float
    n: int
    n_events: int
    n_clusters: int
    converged: bool
    iterations: int
    level: float
    var: np.ndarray
    newton_iterations: int
    sparse: bool
    history: np.ndarray


@dataclass(frozen=True)
class _Problem:
    data: _Data
    group: np.ndarray  # cluster index of each sorted row
    n_clusters: int
    deaths_by_group: np.ndarray  # events per cluster (int)
    sparse: bool
    # the rows re-ordered by (cluster, block), for the per-cluster sums of squared risk-set shares
    by_cluster: np.ndarray  # permutation of the sorted rows
    group_by_cluster: np.ndarray  # cluster of each row in that order (non-decreasing)
    block_by_cluster: np.ndarray  # block of each row in that order (non-decreasing within a cluster)
    cell: np.ndarray  # (cluster, block) cell of each row in that order, numbered 0, 1, ...
    event_cell_first: np.ndarray  # position in that order of the first row of each cell holding an event
    event_cells: np.ndarray  # the cells holding an event


def _make_problem(data: _Data, cluster: np.ndarray, n_clusters: int) -> _Problem:
    """The fit's fixed data: ``data`` from ``coxph._prepare``, ``cluster`` the cluster index (0..G-1) of each row
    in input order, and the (cluster, block) layout that ``_share_squares`` uses."""
    group = cluster[data.order]
    by_cluster = np.argsort(group, kind="stable")  # rows are time-sorted: stays block-sorted within a cluster
    gc, bc = group[by_cluster], data.block[by_cluster]
    new = np.ones(gc.size, dtype=bool)
    new[1:] = (gc[1:] != gc[:-1]) | (bc[1:] != bc[:-1])
    cell = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    event_cells = np.flatnonzero(np.bincount(cell, weights=data.event[by_cluster], minlength=first.size) > 0)
    return _Problem(
        data=data,
        group=group,
        n_clusters=n_clusters,
        deaths_by_group=np.bincount(group, weights=data.event.astype(float), minlength=n_clusters),
        sparse=n_clusters >= _SPARSE_MIN_CLUSTERS,
        by_cluster=by_cluster,
        group_by_cluster=gc,
        block_by_cluster=bc,
        cell=cell,
        event_cell_first=first[event_cells],
        event_cells=event_cells,
    )


@dataclass(frozen=True)
class _Eval:
    loglik: float  # partial likelihood PL
    u_beta: np.ndarray
    u_w: np.ndarray
    a: np.ndarray  # (p, p) information for beta
    b: np.ndarray  # (p, G) cross information beta x w
    f_full: np.ndarray | None  # (G, G) information for w (only without R's sparse mode, G <= 5)
    f_diag: np.ndarray  # (G,) its diagonal
    share_sum: np.ndarray  # (G,) sum over the Efron terms of each cluster's share of the risk set
    r: np.ndarray  # exp(eta - max eta) per sorted row
    s0: np.ndarray  # risk-set sum per Efron term


@dataclass
class _Fit:
    beta: np.ndarray
    w: np.ndarray
    loglik: float  # PL
    penalised: float  # R's coxfit$loglik: PL + sum(w)/theta (0 term when theta = 0)
    var: np.ndarray
    iterations: int
    converged: bool


# --------------------------------------------------------------------------------------------------------
# Efron partial likelihood with per-cluster sums, in O((n + d) p^2 + G p) without (time x cluster) arrays
#
# With mg[t, g] = (rg[t, g] - f_t dg[t, g]) / s0_t the share of cluster g in the Efron risk set of term t
# (rg: risk weight of g's rows at risk, dg: of g's events at the term's time), the score, the cross block and
# the diagonal of the information for the frailties are sums over terms of mg, mgx and mg^2. Row i (block b_i)
# is at risk in every term of a block <= b_i, and an event row enters the terms of its own block with weight
# 1 - f_t: a sum over terms of v_t mg[t, g] is sum_{i in g} r_i (V(b_i) - e_i Vf(b_i)), V the cumulative sum of
# v_t / s0_t over the blocks, Vf the per-block sum of f_t v_t / s0_t (``_row_weights``). Sums of mg^2 and
# products mg' v for the full information use the same device (``_share_squares``, ``_share_cross``).
# --------------------------------------------------------------------------------------------------------


def _per_block(data: _Data, values: np.ndarray) -> np.ndarray:
    """Sum of per-term values over the terms of each block (terms are block-sorted)."""
    out = np.zeros((data.block_start.size, *values.shape[1:]))
    blocks = np.flatnonzero(data.deaths)
    out[blocks] = np.add.reduceat(values, np.cumsum(data.deaths[blocks]) - data.deaths[blocks], axis=0)
    return out


def _row_weights(data: _Data, v: np.ndarray) -> np.ndarray:
    """Per row: sum over the Efron terms of v_t times the row's weight in term t's risk set (see above)."""
    f = data.term_frac if v.ndim == 1 else data.term_frac[:, None]
    cum = np.cumsum(_per_block(data, v), axis=0)  # one stratum: the risk set of block b holds rows at b or later
    own = _per_block(data, f * v)
    e = data.event if v.ndim == 1 else data.event[:, None]
    return cum[data.block] - np.where(e, own[data.block], 0.0)


def _segment_suffix_sum(values: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Inclusive suffix sums within runs of equal ``segment`` (log-depth doubling: no cancellation).

    >>> _segment_suffix_sum(np.array([1.0, 2.0, 4.0, 8.0, 16.0]), np.array([0, 0, 0, 3, 3])).tolist()
    [7.0, 6.0, 4.0, 24.0, 16.0]
    """
    out = values.copy()
    shift = 1
    while shift < out.size:
        same = segment[:-shift] == segment[shift:]
        if not same.any():
            break
        out[:-shift] = out[:-shift] + np.where(same, out[shift:], 0.0)
        shift *= 2
    return out


def _share_squares(prob: _Problem, r: np.ndarray, inv_s0: np.ndarray) -> np.ndarray:
    """Per cluster: sum over Efron terms of mg[t, g]^2.

    rg[t, g] = R_g(b) (risk weight of g's rows at block >= b = block of t) is constant between the blocks of
    g's own rows, so sum_t rg^2/s0^2 = sum_{i, k in g} r_i r_k Q(min(b_i, b_k)), Q the cumulative sum of
    1/s0^2 over the blocks: sum_j Q(b_j) r_j (2 S_j - r_j) over g's rows in block order, S_j the suffix sum.
    Efron's f dg part adds -2 f R D + f^2 D^2 (over s0^2) at the blocks where g has events (D = its weight).
    """
    data = prob.data
    inv2 = inv_s0 * inv_s0
    f = data.term_frac
    q = np.cumsum(_per_block(data, inv2))
    f1, f2 = _per_block(data, f * inv2), _per_block(data, f * f * inv2)
    gc, bc = prob.group_by_cluster, prob.block_by_cluster
    rc = r[prob.by_cluster]
    suffix = _segment_suffix_sum(rc, gc)
    out = np.bincount(gc, weights=q[bc] * rc * (2.0 * suffix - rc), minlength=prob.n_clusters)
    ev_weight = np.where(data.event[prob.by_cluster], rc, 0.0)
    d_cell = np.bincount(prob.cell, weights=ev_weight)[prob.event_cells]
    first = prob.event_cell_first
    r_cell, b_cell = suffix[first], bc[first]
    out += np.bincount(
        gc[first], weights=d_cell * (d_cell * f2[b_cell] - 2.0 * r_cell * f1[b_cell]), minlength=prob.n_clusters
    )
    return out


def _share_cross(prob: _Problem, ev: _Eval, v: np.ndarray) -> np.ndarray:
    """mg' (mg v) for a vector v over clusters: the off-diagonal product of the full frailty information."""
    data = prob.data
    rv = ev.r * v[prob.group]
    starts, tb, f = data.block_start, data.term_block, data.term_frac
    at_risk = _suffix_sum(np.add.reduceat(rv, starts), data)
    dying = np.add.reduceat(np.where(data.event, rv, 0.0), starts)
    y = (at_risk[tb] - f * dying[tb]) / ev.s0  # (mg v) per term
    return np.bincount(prob.group, weights=ev.r * _row_weights(data, y / ev.s0), minlength=prob.n_clusters)


def _evaluate(prob: _Problem, beta: np.ndarray, w: np.ndarray) -> _Eval:
    data = prob.data
    x, e, g, ng = data.x, data.event, prob.group, prob.n_clusters
    p = x.shape[1]
    # einsum rather than BLAS for products along n, the terms or the clusters: with p small, starting BLAS
    # threads costs more than the product (ms per call on a loaded machine)
    eta = np.einsum("ij,j->i", x, beta) + w[g]
    c = float(eta.max())
    r = np.exp(eta - c)
    rx = r[:, None] * x
    starts = data.block_start
    r0 = _suffix_sum(np.add.reduceat(r, starts), data)
    r1 = _suffix_sum(np.add.reduceat(rx, starts, axis=0), data)
    r2 = _suffix_sum(np.add.reduceat(rx[:, :, None] * x[:, None, :], starts, axis=0), data)
    rex = np.where(e[:, None], rx, 0.0)
    d0 = np.add.reduceat(np.where(e, r, 0.0), starts)
    d1 = np.add.reduceat(rex, starts, axis=0)
    d2 = np.add.reduceat(rex[:, :, None] * x[:, None, :], starts, axis=0)
    tb, f = data.term_block, data.term_frac
    s0 = r0[tb] - f * d0[tb]
    m = (r1[tb] - f[:, None] * d1[tb]) / s0[:, None]
    s2 = (r2[tb] - f[:, None, None] * d2[tb]) / s0[:, None, None]
    loglik = float(np.sum(eta[e] - c) - np.sum(np.log(s0)))
    u_beta = x[e].sum(axis=0) - m.sum(axis=0)
    a = s2.sum(axis=0) - np.einsum("ti,tj->ij", m, m)
    inv = 1.0 / s0
    h = _row_weights(data, inv)  # sum_t mg[t, g] = sum_{i in g} r_i h_i
    hm = _row_weights(data, m * inv[:, None])  # sum_t m_j mg[t, g] = sum_{i in g} r_i hm_ij
    share_sum = np.bincount(g, weights=r * h, minlength=ng)
    cross = rx * h[:, None] - r[:, None] * hm  # b = sum_t (mgx - m mg)
    b = np.stack([np.bincount(g, weights=cross[:, j], minlength=ng) for j in range(p)])
    f_diag = share_sum - _share_squares(prob, r, inv)
    ev = _Eval(loglik, u_beta, prob.deaths_by_group - share_sum, a, b, None, f_diag, share_sum, r, s0)
    if prob.sparse:
        return ev
    # at most 5 clusters: the full block diag(sum mg) - mg' mg, one column per cluster
    eye = np.eye(ng)
    f_full = np.diag(share_sum) - np.column_stack([_share_cross(prob, ev, eye[k]) for k in range(ng)])
    f_full = (f_full + f_full.T) / 2.0
    f_full[np.diag_indices(ng)] = f_diag
    return _Eval(loglik, ev.u_beta, ev.u_w, a, b, f_full, f_diag, share_sum, r, s0)


@dataclass(frozen=True)
class _Information:
    """R's (approximate) negative Hessian of the penalised PL ``[[a, b], [b', f]]``, frailties last.

    ``f`` is diagonal (``f_diag``; R's sparse mode, more than 5 clusters) or full (``f_full``). With a diagonal
    ``f`` solves go through the Schur complement ``a - b f^-1 b'`` (p x p), whose inverse is the fixed-effect
    block of the inverse (R's ``fit$var``); the dense (p + G) matrix is used only with ``f_full``.
    """

    a: np.ndarray
    b: np.ndarray
    f_diag: np.ndarray | None
    f_full: np.ndarray | None

    def solve(self, u: np.ndarray) -> np.ndarray:
        p = self.a.shape[0]
        if self.f_full is not None:
            return _solve(self._dense(), u)
        step_beta = _solve(self._schur, u[:p] - np.einsum("jg,g->j", self._b_over_f, u[p:]))
        return np.concatenate((step_beta, (u[p:] - np.einsum("jg,j->g", self.b, step_beta)) / self.f_diag))

    def fixed_effect_var(self) -> np.ndarray:
        p = self.a.shape[0]
        try:
            if self.f_full is not None:
                return np.linalg.inv(self._dense())[:p, :p]
            return np.linalg.inv(self._schur)
        except np.linalg.LinAlgError as exc:
            raise ValueError("singular information matrix: a covariate is constant or collinear") from exc

    @cached_property
    def _b_over_f(self) -> np.ndarray:
        return self.b / self.f_diag

    @cached_property
    def _schur(self) -> np.ndarray:
        return self.a - np.einsum("ig,jg->ij", self._b_over_f, self.b)

    def _dense(self) -> np.ndarray:
        p = self.a.shape[0]
        h = np.empty((p + self.f_full.shape[0],) * 2)
        h[:p, :p] = self.a
        h[:p, p:] = self.b
        h[p:, :p] = self.b.T
        h[p:, p:] = self.f_full
        return h


def _r_information(ev: _Eval, pen2: np.ndarray, sparse: bool) -> _Information:
    """R's information at theta > 0: the frailty block plus the penalty's ``pen2 = exp(w)/theta``."""
    if sparse:
        return _Information(ev.a, ev.b, ev.f_diag + pen2, None)
    return _Information(ev.a, ev.b, None, ev.f_full + np.diag(pen2))


def _theta0_information(ev: _Eval, n_clusters: int) -> _Information:
    """theta = 0: frailties held at zero, an identity block for them (R's penalty flag)."""
    return _Information(ev.a, np.zeros((ev.a.shape[0], n_clusters)), np.ones(n_clusters), None)


def _solve(h: np.ndarray, u: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(h, u)
    except np.linalg.LinAlgError as exc:
        raise ValueError("singular information matrix: a covariate is constant or collinear") from exc


def _exact_newton_step(
    prob: _Problem, ev: _Eval, pen2: np.ndarray, u: np.ndarray, rtol: float = _PCG_RTOL
) -> np.ndarray:
    """Newton step with the exact negative Hessian of the penalised PL (theta > 0).

    In sparse mode (G > 5) the full frailty block ``diag(sum mg) - mg' mg + diag(pen2)`` is dense, but its
    products with a vector cost O(n): preconditioned conjugate gradients, with R's sparse information (diagonal
    frailty block, solved via the Schur complement) as preconditioner, solve to ~machine precision in a few
    products (the dropped off-diagonal part is O(1/G) per element; the all-ones direction that the penalty alone
    pins down is one outlying eigenvalue).
    """
    if not prob.sparse:
        return _r_information(ev, pen2, sparse=False).solve(u)
    p = ev.a.shape[0]
    pre = _r_information(ev, pen2, sparse=True)
    diag = ev.share_sum + pen2

    def times(v: np.ndarray) -> np.ndarray:
        vb, vw = v[:p], v[p:]
        top = ev.a @ vb + np.einsum("jg,g->j", ev.b, vw)
        return np.concatenate((top, np.einsum("jg,j->g", ev.b, vb) + diag * vw - _share_cross(prob, ev, vw)))

    step = pre.solve(u)
    res = u - times(step)
    z = pre.solve(res)
    direction, rz = z, _dot(res, z)
    tol = rtol * np.sqrt(_dot(u, u))
    for _ in range(_PCG_MAX_ITER):
        if not np.sqrt(_dot(res, res)) > tol:
            break
        q = times(direction)
        dq = _dot(direction, q)
        if not dq > 0:  # (not positive definite in floating point: keep the current step)
            break
        alpha = rz / dq
        step = step + alpha * direction
        res = res - alpha * q
        z = pre.solve(res)
        rz_new = _dot(res, z)
        direction, rz = z + (rz_new / rz) * direction, rz_new
    return step


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.einsum("i,i->", a, b))


def _fit_r(prob: _Problem, theta: float, beta0: np.ndarray, w0: np.ndarray) -> _Fit:
    """One inner fit at fixed theta as R's ``coxfit5_b`` runs it (see the module notes)."""
    p, ng = beta0.size, prob.n_clusters
    beta, w = beta0.copy(), w0.copy()
    old_beta, old_w = beta.copy(), w.copy()
    loglik_prev, halving = 0.0, False
    converged = False
    it = 0
    for it in range(_R_ITER_MAX + 1):
        ev = _evaluate(prob, beta, w)
        if theta > 0:
            w = w - np.log(np.mean(np.exp(w)))  # R's re-centring (PL is unchanged by a common shift)
            ew = np.exp(w)
            u = np.concatenate((ev.u_beta, ev.u_w - (ew - 1.0) / theta))
            newlk = ev.loglik + float(np.sum(w)) / theta
            info = _r_information(ev, ew / theta, prob.sparse)
        else:  # theta = 0: frailties held at zero (R's penalty flag)
            u = np.concatenate((ev.u_beta, np.zeros(ng)))
            newlk = ev.loglik
            info = _theta0_information(ev, ng)
        if abs(newlk) < _R_EPS or (abs(1.0 - loglik_prev / newlk) <= _R_EPS and not halving):
            converged = True
            break
        if it == _R_ITER_MAX:
            break
        if it > 0 and newlk < loglik_prev:  # not improving: halve the step back towards the last point
            halving = True
            beta, w = (old_beta + beta) / 2.0, (old_w + w) / 2.0
        else:
            halving = False
            loglik_prev = newlk
            step = info.solve(u)
            old_beta, old_w = beta, w
            beta, w = beta + step[:p], w + step[p:]
    return _Fit(beta, w, ev.loglik, newlk, info.fixed_effect_var(), it, converged)


def _fit_tight(prob: _Problem, theta: float, beta0: np.ndarray, w0: np.ndarray) -> _Fit:
    """Fixed-theta fit converged to machine precision: full Newton on the (strictly concave) penalised PL."""
    p, ng = beta0.size, prob.n_clusters
    beta, w = beta0.copy(), (w0.copy() if theta > 0 else np.zeros(ng))

    def objective(ev: _Eval, w_: np.ndarray) -> float:
        return ev.loglik - (float(np.sum(np.expm1(w_) - w_)) / theta if theta > 0 else 0.0)

    ev = _evaluate(prob, beta, w)
    obj = objective(ev, w)
    converged = False
    it = 0
    for it in range(1, 101):  # noqa: B007 (it is reported)
        if theta > 0:
            # expm1: exp(w) - 1 loses all digits of w = O(theta) when theta is tiny
            u = np.concatenate((ev.u_beta, ev.u_w - np.expm1(w) / theta))
            # inexact Newton: residual relative to the score at most |score| (floored at ~machine precision)
            # keeps the convergence quadratic with fewer conjugate-gradient products far from the maximum
            forcing = min(1e-2, max(_PCG_RTOL, float(np.max(np.abs(u)))))
            step = _exact_newton_step(prob, ev, np.exp(w) / theta, u, forcing)
        else:
            step = np.concatenate((_solve(ev.a, ev.u_beta), np.zeros(ng)))
        for _ in range(60):  # step halving keeps the ascent monotone
            nb_, nw_ = beta + step[:p], w + step[p:]
            ev_new = _evaluate(prob, nb_, nw_)
            obj_new = objective(ev_new, nw_)
            if np.isfinite(obj_new) and obj_new >= obj - 1e-13 * max(1.0, abs(obj)):
                break
            step = step / 2.0
        beta, w, ev, change, obj = nb_, nw_, ev_new, obj_new - obj, obj_new
        # w is O(theta) for small theta and c.loglik uses sum(w)/theta: converge w relative to theta
        small = np.all(np.abs(step[:p]) < 1e-10 * np.maximum(1.0, np.abs(beta)))
        small &= np.all(np.abs(step[p:]) < 1e-10 * min(1.0, theta if theta > 0 else 1.0))
        if small and abs(change) <= 1e-12 * max(1.0, abs(obj)):
            converged = True
            break
    if theta > 0:
        info = _r_information(ev, np.exp(w) / theta, prob.sparse)  # R's var: its (sparse) Hessian at the maximum
        penalised = ev.loglik + float(np.sum(w)) / theta
    else:
        info = _theta0_information(ev, ng)
        penalised = ev.loglik
    return _Fit(beta, w, ev.loglik, penalised, info.fixed_effect_var(), it, converged)


# --------------------------------------------------------------------------------------------------------
# c.loglik correction and the theta searches
# --------------------------------------------------------------------------------------------------------


def _gamma_correction(d: np.ndarray, theta: float, r_branch: bool = True) -> float:
    """R ``frailty.gammacon(d, 1/theta)``: what turns the penalised loglik into c.loglik.

    For theta < 1e-7 / max(d) R replaces ``sum(d - nu log(1 + d/nu))`` by ``sum(d^2)/nu``, twice its limit
    ``sum(d^2)/(2 nu)``, so its c.loglik jumps up there; ``r_branch=False`` keeps the exact expression
    (evaluated without cancellation), as the profile search needs a continuous function.
    """
    if theta == 0:
        return 0.0
    nu = 1.0 / theta
    d = d.astype(float)
    if r_branch and nu > 1e7 * d.max():
        term1 = float(np.sum(d * d)) / nu
    else:
        term1 = float(np.sum(d - nu * np.log1p(d / nu)))
    dd = np.repeat(d, d.astype(np.int64))
    k = np.arange(dd.size) - np.repeat(np.cumsum(d) - d, d.astype(np.int64))
    term2 = float(np.sum(np.log1p((k - dd) / (nu + dd))))
    return term1 + term2


def _gamma_correction_dtheta(d: np.ndarray, theta: float) -> float:
    nu = 1.0 / theta
    d = d.astype(float)
    dd = np.repeat(d, d.astype(np.int64))
    k = np.arange(dd.size) - np.repeat(np.cumsum(d) - d, d.astype(np.int64))
    dnu = float(np.sum(1.0 / (nu + k)) - np.sum(np.log1p(d / nu)))
    return -nu * nu * dnu


def _parabola_step(x: np.ndarray, y: np.ndarray) -> float:
    """R ``frailty.brent(x, y, lower = 0)``: next abscissa from the history (x in R's order)."""
    n = x.size
    if n < 3:
        return float(np.mean(x))
    order = np.argsort(x, kind="stable")
    xx, yy = x[order], y[order]
    best = np.flatnonzero(yy == y.max())
    if best.size > 1:
        raise RuntimeError("frailty search: tied maxima of c.loglik")
    b = int(best[0])
    if b == 0:
        new = xx[0] - 3.0 * (xx[1] - xx[0])
        if new < 0:
            new = float(np.min(xx[xx > 0])) / 10.0
        return float(new)
    if b == n - 1:
        return float(xx[-1] + 3.0 * (xx[-1] - xx[-2]))
    x3, y3 = xx[b - 1 : b + 2], yy[b - 1 : b + 2]
    t1 = (x3[1] - x3[0]) ** 2 * (y3[1] - y3[2]) - (x3[1] - x3[2]) ** 2 * (y3[1] - y3[0])
    t2 = (x3[1] - x3[0]) * (y3[1] - y3[2]) - (x3[1] - x3[2]) * (y3[1] - y3[0])
    new = x3[1] - 0.5 * t1 / t2
    if new < x3[0] or new > x3[2] or (n > 4 and (new - x[-1]) > 0.5 * abs(x[-2] - x[-3])):
        if x3[1] - x3[0] > x3[2] - x3[1]:
            return float(x3[1] - 0.38 * (x3[1] - x3[0]))
        return float(x3[1] + 0.32 * (x3[2] - x3[1]))
    return float(new)


def _search_r(prob: _Problem, p: int) -> tuple[_Fit, float, np.ndarray, int, int, bool]:
    """R's ``frailty.controlgam`` outer loop with warm starts from the fit of closest theta."""
    d = prob.deaths_by_group
    ng = prob.n_clusters
    theta = 0.0
    thetas_tried = [theta]  # R's thetasave: the theta of each fit, then the next one
    saved: list[tuple[np.ndarray, np.ndarray]] = []
    init = (np.zeros(p), np.zeros(ng))
    hist: list[tuple[float, float, float]] = []
    newton = 0
    done = False
    failed = []
    for outer in range(1, _R_OUTER_MAX + 1):
        fit = _fit_r(prob, theta, *init)
        newton += fit.iterations
        if not fit.converged:
            failed.append(outer)
        c_loglik = fit.penalised + _gamma_correction(d, theta)
        hist.append((theta, fit.penalised, c_loglik))
        saved.append((fit.beta, fit.w))
        hx = np.array([h[0] for h in hist])
        hy = np.array([h[2] for h in hist])
        if outer == 1:
            new_theta = 1.0
        elif outer == 2:
            new_theta = float(np.mean(hx)) if hy[1] < hy[0] + 1.0 else 2.0 * hx[1]
        else:
            done = abs(1.0 - hy[-1] / hy[-2]) < _R_FRAILTY_EPS
            if hy[-1] == hy.max() and hx[-1] == hx.max():
                new_theta = 2.0 * hx.max()
            else:
                new_theta = _parabola_step(np.sqrt(hx), hy) ** 2
        if done:
            break
        # warm start: the fit whose theta is closest to the next one (first of ties)
        gap = (np.array(thetas_tried) - new_theta) ** 2
        init = saved[int(np.argmin(gap))]
        thetas_tried.append(new_theta)
        theta = new_theta
    if failed:
        _warn_inner(failed)
    return fit, hist[-1][0], np.array(hist), outer, newton, done and fit.converged


def _warn_inner(failed: list[int]) -> None:
    warnings.warn(
        f"inner Newton loop did not converge in {_R_ITER_MAX} iterations at outer iteration(s) "
        f"{', '.join(map(str, failed))} (R warns the same: 'Inner loop failed to coverge')",
        RuntimeWarning,
        stacklevel=3,
    )


def _warm_start(cache: dict, theta: float, p: int, n_clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """Start of a fixed-theta fit: linear in theta through the fits at the two closest thetas already fitted.

    (The solution path is smooth in theta: near the grid's geometric steps and brentq's converging iterates this
    saves one to three Newton steps a fit; the extrapolation is capped at two gaps so a far start stays sane.)
    """
    if not cache:
        return np.zeros(p), np.zeros(n_clusters)
    near = sorted(cache, key=lambda t: abs(t - theta))[:2]
    f1 = cache[near[0]][0]
    if len(near) < 2:
        return f1.beta, f1.w
    f0 = cache[near[1]][0]
    step = float(np.clip((theta - near[0]) / (near[0] - near[1]), -2.0, 2.0))
    return f1.beta + step * (f1.beta - f0.beta), f1.w + step * (f1.w - f0.w)


def _profile(prob: _Problem, p: int) -> tuple[_Fit, float, np.ndarray, int, int, bool]:
    """Maximise c.loglik over theta >= 0 with fixed-theta fits: grid bracket, then the root of the derivative."""
    d = prob.deaths_by_group
    cache: dict[float, tuple[_Fit, float]] = {}
    state = {"newton": 0}

    def fit_at(theta: float) -> tuple[_Fit, float]:
        if theta not in cache:
            ft = _fit_tight(prob, theta, *_warm_start(cache, theta, p, prob.n_clusters))
            state["newton"] += ft.iterations
            cache[theta] = (ft, ft.penalised + _gamma_correction(d, theta, r_branch=False))
        return cache[theta]

    def c_loglik(theta: float) -> float:
        return fit_at(theta)[1]

    def slope(theta: float) -> float:  # envelope theorem: d c.loglik / d theta at the fixed-theta maximum
        return -float(np.sum(fit_at(theta)[0].w)) / theta**2 + _gamma_correction_dtheta(d, theta)

    def brent_on_values(lo: float, hi: float) -> float:
        res = optimize.minimize_scalar(
            lambda t: -c_loglik(t), bounds=(lo, hi), method="bounded", options={"xatol": 1e-10}
        )
        return float(res.x)

    # the grid in increasing theta, stopped once c.loglik has fallen _PROFILE_FALLS times in a row past its
    # best value (the fits at large theta are the slow ones, and a gamma-frailty profile is unimodal in practice)
    grid, values = [], []
    for t in _PROFILE_GRID:
        grid.append(float(t))
        values.append(c_loglik(float(t)))
        if len(values) - 1 - int(np.argmax(values)) >= _PROFILE_FALLS:
            break
    while int(np.argmax(values)) == len(grid) - 1 and grid[-1] < _PROFILE_MAX_THETA:
        grid.append(grid[-1] * 2.0)
        values.append(c_loglik(grid[-1]))
    ib = int(np.argmax(values))
    converged = ib < len(grid) - 1  # else c.loglik still increases at the cap: no finite maximum found
    if not converged:
        theta_hat = grid[-1]
    elif ib <= 1 and (ib == 0 or slope(grid[1]) <= 0):
        # maximum in [0, grid[1]] (negligible heterogeneity): values only, theta = 0 unless it beats c(0)
        t = brent_on_values(0.0, grid[1])
        theta_hat = t if t > 0 and c_loglik(t) > values[0] else 0.0
    else:
        a, b = (grid[ib], grid[ib + 1]) if slope(grid[ib]) > 0 else (grid[ib - 1], grid[ib])
        if slope(a) > 0 >= slope(b):
            theta_hat = float(optimize.brentq(slope, a, b, xtol=1e-13, rtol=1e-12))
        else:  # no sign change (should not happen for a smooth unimodal profile)
            theta_hat = brent_on_values(grid[ib - 1], grid[ib + 1])
    fit = fit_at(theta_hat)[0]
    hist = np.array(sorted((t, ft.penalised, c) for t, (ft, c) in cache.items()))
    return fit, float(theta_hat), hist, len(cache), state["newton"], converged and fit.converged


# --------------------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------------------


def _check_inputs(time, event, x, cluster) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    t = np.asarray(time, dtype=float).reshape(-1)
    n = t.size
    if n == 0:
        raise ValueError("no observations")
    ev = np.asarray(event, dtype=float)
    if ev.shape != (n,):
        raise ValueError(f"event has length {ev.size}, time has {n}")
    xm = np.asarray(x, dtype=float)
    if xm.ndim == 1:
        xm = xm[:, None]
    if xm.ndim != 2 or xm.shape[0] != n or xm.shape[1] == 0:
        raise ValueError(f"x must be (n,) or (n, p) with n = {n} rows and p >= 1")
    cl = np.asarray(cluster)
    if cl.shape != (n,):
        raise ValueError(f"cluster has shape {cl.shape}, expected ({n},)")
    if not np.all(np.isfinite(t)):
        raise ValueError("time has missing or non-finite values")
    if np.any(t < 0):
        raise ValueError("time has negative values")
    if not np.all(np.isfinite(ev)) or not np.all((ev == 0) | (ev == 1)):
        raise ValueError("event must be coded 0 (censored) / 1 (event), without missing values")
    if not np.all(np.isfinite(xm)):
        raise ValueError("x has missing or non-finite values")
    if cl.dtype.kind == "f" and not np.all(np.isfinite(cl)):
        raise ValueError("cluster has missing values")
    if cl.dtype.kind == "O" and any(v is None for v in cl):
        raise ValueError("cluster has missing values")
    return t, ev, xm, cl


def gamma_frailty_cox(
    time,
    event,
    x,
    cluster,
    names=None,
    *,
    fit: str = "r_default",
    theta: float | None = None,
    level: float = 0.95,
) -> FrailtyCoxResult:
    """Cox model with a shared gamma frailty per cluster, as R ``coxph(Surv(time, event) ~ x + frailty(cluster))``.

    Parameters
    ----------
    time, event : array_like, shape (n,)
        Follow-up time (>= 0) and event indicator (1 event, 0 censored).
    x : array_like, shape (n,) or (n, p)
        Covariate matrix (numeric; the caller does any dummy coding).
    cluster : array_like, shape (n,)
        Cluster (study) labels; at least 2 distinct.
    names : list of str, optional
        Covariate names; default ``["x"]`` for 1-d ``x``, else ``["x1", ..., "xp"]``.
    fit : {"r_default", "profile"}
        ``"r_default"``: what R's default fit reports (its own outer search for theta, ``frailty.controlgam``);
        ``"profile"``: theta at the maximum of R's c.loglik, with converged fixed-theta fits.
        Ignored when ``theta`` is given.
    theta : float, optional
        Fixed frailty variance (R ``frailty(cluster, theta = ...)``); the fit is run as R runs it.
    level : float
        Confidence level of the hazard-ratio intervals.

    Returns
    -------
    FrailtyCoxResult

    Examples
    --------
    With theta = 0 the frailties are held at zero: the plain Cox model (R's first outer iteration).

    >>> from meta_bm.survival.coxph import cox_ph
    >>> t = [6, 9, 4, 12, 3, 8, 10, 5, 7, 2, 11, 6, 1, 13, 9]
    >>> e = [1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 0]
    >>> x = [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 0]
    >>> fit = gamma_frailty_cox(t, e, x, [1] * 5 + [2] * 5 + [3] * 5, theta=0)
    >>> round(float(fit.coef[0]), 6) == round(float(cox_ph(t, e, x).coef[0]), 6), fit.frailty.tolist()
    (True, [0.0, 0.0, 0.0])
    """
    if fit not in ("r_default", "profile"):
        raise ValueError('fit must be "r_default" or "profile"')
    if not (isinstance(level, float | int) and 0 < level < 1):
        raise ValueError("level must be in (0, 1)")
    if theta is not None:
        theta = float(theta)
        if not np.isfinite(theta) or theta < 0:
            raise ValueError("theta must be a finite number >= 0")
    t, ev, xm, cl = _check_inputs(time, event, x, cluster)
    n, p = xm.shape
    names = covariate_names(names, x, p)
    labels, gidx = np.unique(cl, return_inverse=True)
    gidx = gidx.reshape(-1)
    ng = labels.size
    if ng < 2:
        raise ValueError("at least 2 clusters are needed for a frailty model")
    n_events = int(ev.sum())
    if n_events == 0:
        raise ValueError("no events: the Cox model cannot be estimated")
    data, _ = _prepare(t, ev, xm, None)
    if np.linalg.matrix_rank(data.x) < p:
        raise ValueError("x is constant or collinear (rank-deficient after centring)")
    prob = _make_problem(data, gidx, ng)
    if theta is not None:
        res = _fit_r(prob, theta, np.zeros(p), np.zeros(ng))
        if not res.converged:
            _warn_inner([1])
        theta_hat = theta
        c_loglik = res.penalised + _gamma_correction(prob.deaths_by_group, theta)
        hist = np.array([[theta, res.penalised, c_loglik]])
        outer, newton, converged = 1, res.iterations, res.converged
    elif fit == "r_default":
        res, theta_hat, hist, outer, newton, converged = _search_r(prob, p)
        c_loglik = float(hist[-1, 2])
    else:
        res, theta_hat, hist, outer, newton, converged = _profile(prob, p)
        c_loglik = float(hist[hist[:, 0] == theta_hat, 2][0])

    beta = res.beta
    se = np.sqrt(np.diag(res.var))
    zq = float(stats.norm.ppf(0.5 + level / 2.0))
    z = beta / se
    with np.errstate(over="ignore"):  # (a diverging coefficient: infinite HR bound rather than a warning)
        hr, hr_lower, hr_upper = np.exp(beta), np.exp(beta - zq * se), np.exp(beta + zq * se)
    return FrailtyCoxResult(
        names=names,
        coef=beta,
        se=se,
        hr=hr,
        hr_lower=hr_lower,
        hr_upper=hr_upper,
        z=z,
        p=2.0 * stats.norm.sf(np.abs(z)),
        theta=float(theta_hat),
        fit="fixed" if theta is not None else fit,
        frailty=res.w if theta_hat > 0 else np.zeros(ng),
        cluster_labels=labels.tolist(),
        loglik=res.loglik,
        c_loglik=float(c_loglik),
        n=n,
        n_events=n_events,
        n_clusters=ng,
        converged=bool(converged),
        iterations=int(outer),
        level=float(level),
        var=res.var,
        newton_iterations=int(newton),
        sparse=prob.sparse,
        history=hist,
    )
