"""Shared gamma-frailty Cox model against R survival 3.5.3 ``coxph(... + frailty(cluster))``.

Expected values: ``meta_bm_tests/survival/data/frailty_*.r.json``, written by ``scripts/r_reference_frailty.R``
(R's default fit, fixed-theta fits with R's default and with tight control, and the maximum of R's
``c.loglik`` found by ``optimize()`` over fixed-theta fits converged to ``eps = 1e-13``). Data: R's
``survival::kidney``, the pipeline's pooled test data (``meta_bm_tests/analysis/data``; ``timefix = FALSE`` in R),
four of its studies (at most 5 clusters: R's non-sparse frailty), and ``frailty_sim.csv``: 10 clusters of 39
subjects simulated with numpy (``default_rng(330)``: gamma frailties of variance 0.6, binary x with log HR 0.5,
exponential event and censoring times, times rounded to 3 decimals), a data set on which R's default search
stops far from the maximum of its own c.loglik.

The ``*_dense_oracle`` tests compare the O(n) evaluation (no time x cluster arrays, Schur-complement solves,
conjugate-gradient Newton steps) with the module's earlier dense implementation, kept below as the oracle, on
random data with ties, 3 covariates, a one-subject cluster and a cluster without events.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from meta_bm.survival import frailty
from meta_bm.survival.frailty import gamma_frailty_cox

DATA = Path(__file__).parent / "data"
POOLED = Path(__file__).parents[1] / "analysis" / "data"
FOUR_STUDIES = ["brandt_2018", "haddad_2020", "lindqvist_2013", "wright_2023"]


def _r(name: str) -> dict:
    return json.loads((DATA / f"frailty_{name}.r.json").read_text())


def _pooled(name: str, studies: list[str] | None = None) -> tuple:
    d = pl.read_csv(POOLED / f"{name}.csv")
    if studies is not None:
        d = d.filter(pl.col("study_id").is_in(studies))
    levels = sorted(set(d["group"]) - {"non_surgical"})  # R factor: reference first, then sorted levels
    x = np.column_stack([(d["group"] == lv).to_numpy().astype(float) for lv in levels])
    return (d["time"].to_numpy(), d["event"].to_numpy(), x, d["study_id"].to_numpy()), levels


def _data(name: str) -> tuple:
    if name == "kidney":
        d = pl.read_csv(DATA / "frailty_kidney.csv")
        return d["time"].to_numpy(), d["status"].to_numpy(), d.select("age", "sex").to_numpy(), d["id"].to_numpy()
    if name == "sim":
        d = pl.read_csv(DATA / "frailty_sim.csv")
        return d["time"].to_numpy(), d["event"].to_numpy(), d["x"].to_numpy(), d["cluster"].to_numpy()
    if name == "four_studies":
        return _pooled("os_three_arms", FOUR_STUDIES)[0]
    return _pooled(name)[0]


def _check(fit, ref: dict, labels: list, coef: float, se: float, theta: float, frail: float) -> None:
    assert [str(v) for v in fit.cluster_labels] == [str(v) for v in labels]
    np.testing.assert_allclose(fit.coef, ref["coef"], rtol=0, atol=coef)
    np.testing.assert_allclose(fit.se, ref["se"], rtol=0, atol=se)
    assert fit.theta == pytest.approx(ref["theta"], abs=theta)
    np.testing.assert_allclose(fit.frailty, ref["frail"], rtol=0, atol=frail)


NAMES = ["kidney", "os_rr_ns", "os_three_arms", "four_studies", "sim"]


@pytest.mark.parametrize("name", NAMES)
def test_r_default_matches_r(name: str) -> None:
    """R's own theta search, step by step: the whole outer history and the inner iteration count agree."""
    ref = _r(name)
    r = ref["r_default"]
    if name == "kidney":  # R warns "Inner loop failed to coverge for iterations 3" (20 steps at theta = 2)
        with pytest.warns(RuntimeWarning, match="outer iteration"):
            fit = gamma_frailty_cox(*_data(name))
    else:
        fit = gamma_frailty_cox(*_data(name))
    _check(fit, r, ref["levels"], coef=1e-9, se=1e-9, theta=1e-9, frail=1e-8)
    assert fit.loglik == pytest.approx(r["loglik"], abs=1e-8)
    assert fit.c_loglik == pytest.approx(r["c_loglik"], abs=1e-8)
    assert (fit.iterations, fit.newton_iterations) == (r["outer"], r["newton"])
    np.testing.assert_allclose(fit.history, r["history"], rtol=1e-10)
    assert fit.fit == "r_default"
    assert fit.sparse == (len(ref["levels"]) > 5)


def test_kidney_r_default_printed() -> None:
    """``print(coxph(Surv(time, status) ~ age + sex + frailty(id), kidney))`` as R prints it."""
    d = _data("kidney")
    with pytest.warns(RuntimeWarning):
        fit = gamma_frailty_cox(*d, names=["age", "sex"])
    assert np.round(fit.coef, 5).tolist() == [0.00525, -1.58749]
    assert np.round(fit.se, 5).tolist() == [0.01189, 0.46055]
    assert round(fit.theta, 3) == 0.412 and round(fit.c_loglik, 1) == -181.6
    assert (fit.iterations, fit.newton_iterations, fit.n, fit.n_events, fit.n_clusters) == (7, 65, 76, 58, 38)
    assert round(float(fit.p[1]), 5) == 0.00057  # R: p 0.00057 (chisq 11.88114 on 1 df)
    assert fit.names == ["age", "sex"] and fit.converged


@pytest.mark.parametrize("name", NAMES)
def test_profile_maximum_matches_r(name: str) -> None:
    """theta = argmax of R's c.loglik (R: optimize() over tightly converged fixed-theta fits)."""
    ref = _r(name)
    r = ref["profile"]
    fit = gamma_frailty_cox(*_data(name), fit="profile")
    assert fit.fit == "profile" and fit.converged
    # R's maximiser is limited by its c.loglik precision (~1e-10): theta to ~1e-7, coef and se follow
    _check(fit, r, ref["levels"], coef=1e-6, se=1e-7, theta=1e-6, frail=1e-6)
    assert fit.c_loglik == pytest.approx(r["c_loglik"], abs=1e-9)
    # it is the maximum: above R's default fit and above R's tightly converged fixed-theta fits
    assert fit.c_loglik >= ref["r_default"]["c_loglik"] - 1e-9
    for f in ref["fixed_tight"]:
        assert fit.c_loglik > f["c_loglik"]


@pytest.mark.parametrize("name", NAMES)
def test_fixed_theta_matches_r(name: str) -> None:
    """R ``frailty(cluster, theta = t)`` with R's default control, and c.loglik of the converged fit."""
    ref = _r(name)
    for r, tight in zip(ref["fixed"], ref["fixed_tight"], strict=True):
        fit = gamma_frailty_cox(*_data(name), theta=r["theta"])
        _check(fit, r, ref["levels"], coef=1e-9, se=1e-9, theta=0, frail=1e-8)
        assert fit.loglik == pytest.approx(r["loglik"], abs=1e-8)
        assert fit.c_loglik == pytest.approx(r["c_loglik"], abs=1e-8)
        assert fit.newton_iterations == r["newton"] and fit.iterations == 1 and fit.fit == "fixed"
        # R's default inner convergence (relative 1e-9) is within 1e-4 of the converged fit
        np.testing.assert_allclose(fit.coef, tight["coef"], atol=1e-4)


def test_pooled_fixed_theta_03() -> None:
    """``coxph(Surv(time, event) ~ g + frailty(study_id, theta = 0.3), timefix = FALSE)`` on os_three_arms."""
    (data, levels), ref = _pooled("os_three_arms"), _r("os_three_arms")["fixed"][0]
    assert ref["theta"] == 0.3
    fit = gamma_frailty_cox(*data, names=levels, theta=0.3)
    assert fit.names == ["re_resection", "re_srs"]
    np.testing.assert_allclose(fit.coef, ref["coef"], atol=1e-9)
    np.testing.assert_allclose(fit.se, ref["se"], atol=1e-9)
    np.testing.assert_allclose(fit.hr_lower, np.exp(np.array(ref["coef"]) - 1.959963984540054 * np.array(ref["se"])))


def test_r_default_stops_short_of_the_profile_maximum() -> None:
    """Simulated data: R's search ends at its outer.max = 10 with theta 0.527, the c.loglik maximum is 0.303."""
    ref = _r("sim")
    d = _data("sim")
    r_fit = gamma_frailty_cox(*d)
    p_fit = gamma_frailty_cox(*d, fit="profile")
    assert ref["r_default"]["theta"] == pytest.approx(0.527142, abs=1e-6)
    assert ref["profile"]["theta"] == pytest.approx(0.303277, abs=1e-6)
    assert r_fit.theta == pytest.approx(0.527142, abs=1e-6) and r_fit.iterations == 10
    assert not r_fit.converged  # R's criterion was never met (R reports this fit without a warning)
    assert p_fit.theta == pytest.approx(0.303277, abs=1e-6) and p_fit.converged
    # c.loglik: -1450.513 (R default) vs -1449.887 (maximum); the log HR moves by 1%: 0.7318 vs 0.7240
    assert p_fit.c_loglik - r_fit.c_loglik == pytest.approx(0.626, abs=1e-3)
    assert (r_fit.coef[0], p_fit.coef[0]) == (pytest.approx(0.731765, abs=1e-6), pytest.approx(0.724039, abs=1e-6))


def test_profile_at_boundary_gives_zero() -> None:
    """When c.loglik decreases from theta = 0 the maximum is theta = 0, the plain Cox model (R walks its theta
    down to 5e-07 on these data: history 0, 1, 0.5, 0.005, 5e-05, 5e-07)."""
    t = [6, 9, 4, 12, 3, 8, 10, 5, 7, 2, 11, 6, 1, 13, 9]
    e = [1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 0]
    x = [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 0]
    g = ["a"] * 5 + ["b"] * 5 + ["c"] * 5
    fit = gamma_frailty_cox(t, e, x, g, fit="profile")
    assert fit.theta == 0.0 and fit.converged
    assert fit.c_loglik == pytest.approx(-21.81624, abs=1e-5)  # R: c.loglik at theta = 0
    np.testing.assert_array_equal(fit.frailty, 0.0)
    r = gamma_frailty_cox(t, e, x, g)
    np.testing.assert_allclose(r.history[:, 0], [0, 1, 0.5, 0.005, 5e-05, 5e-07])


def test_input_validation() -> None:
    t, e, x, c = [1.0, 2, 3, 4], [1, 0, 1, 1], [0.0, 1, 0, 1], ["a", "a", "b", "b"]
    cases = [
        (dict(time=[1.0, np.nan, 3, 4]), "time has missing"),
        (dict(time=[1.0, -2, 3, 4]), "negative"),
        (dict(event=[1, 2, 1, 1]), "event must be coded"),
        (dict(event=[1, 0, 1]), "event has length"),
        (dict(x=[0.0, np.inf, 0, 1]), "x has missing"),
        (dict(x=[0.0, 1, 0]), "x must be"),
        (dict(cluster=["a", "a", "a", "a"]), "at least 2 clusters"),
        (dict(cluster=["a", "b"]), "cluster has shape"),
        (dict(event=[0, 0, 0, 0]), "no events"),
        (dict(x=[1.0, 1, 1, 1]), "constant or collinear"),
    ]
    for kw, msg in cases:
        args = dict(time=t, event=e, x=x, cluster=c) | kw
        with pytest.raises(ValueError, match=msg):
            gamma_frailty_cox(**args)
    with pytest.raises(ValueError, match="fit must be"):
        gamma_frailty_cox(t, e, x, c, fit="em")
    with pytest.raises(ValueError, match="theta must be"):
        gamma_frailty_cox(t, e, x, c, theta=-0.1)
    with pytest.raises(ValueError, match="theta must be"):
        gamma_frailty_cox(t, e, x, c, theta=float("nan"))
    with pytest.raises(ValueError, match="level"):
        gamma_frailty_cox(t, e, x, c, level=1.0)
    with pytest.raises(ValueError, match="names"):
        gamma_frailty_cox(t, e, x, c, names=["a", "b"])


# --------------------------------------------------------------------------------------------------------
# Equivalence with the original dense implementation (the oracle below is that implementation's evaluation:
# (time block x cluster) arrays of the risk-set shares mg and a dense (p + G) Hessian, O(n G) memory)
# --------------------------------------------------------------------------------------------------------


def _dense_oracle(prob, beta: np.ndarray, w: np.ndarray) -> frailty._Eval:
    """Efron PL quantities from explicit per-term, per-cluster arrays (the pre-optimisation code)."""
    from meta_bm.survival.coxph import _suffix_sum

    data = prob.data
    x, e, g, ng = data.x, data.event, prob.group, prob.n_clusters
    nb, p = data.block_start.size, x.shape[1]
    eta = x @ beta + w[g]
    c = float(eta.max())
    r = np.exp(eta - c)
    rx = r[:, None] * x
    starts = data.block_start
    r0 = _suffix_sum(np.add.reduceat(r, starts), data)
    r1 = _suffix_sum(np.add.reduceat(rx, starts, axis=0), data)
    r2 = _suffix_sum(np.add.reduceat(rx[:, :, None] * x[:, None, :], starts, axis=0), data)
    cell = data.block * ng + g
    rg = _suffix_sum(np.bincount(cell, weights=r, minlength=nb * ng).reshape(nb, ng), data)
    rgx = np.stack([np.bincount(cell, weights=rx[:, j], minlength=nb * ng) for j in range(p)], axis=-1)
    rgx = _suffix_sum(rgx.reshape(nb, ng, p), data)
    re, rex = np.where(e, r, 0.0), np.where(e[:, None], rx, 0.0)
    d0, d1 = np.add.reduceat(re, starts), np.add.reduceat(rex, starts, axis=0)
    d2 = np.add.reduceat(rex[:, :, None] * x[:, None, :], starts, axis=0)
    dg = np.bincount(cell, weights=re, minlength=nb * ng).reshape(nb, ng)
    dgx = np.stack([np.bincount(cell, weights=rex[:, j], minlength=nb * ng) for j in range(p)], axis=-1)
    dgx = dgx.reshape(nb, ng, p)
    tb, f = data.term_block, data.term_frac
    s0 = r0[tb] - f * d0[tb]
    m = (r1[tb] - f[:, None] * d1[tb]) / s0[:, None]
    s2 = (r2[tb] - f[:, None, None] * d2[tb]) / s0[:, None, None]
    mg = (rg[tb] - f[:, None] * dg[tb]) / s0[:, None]
    mgx = (rgx[tb] - f[:, None, None] * dgx[tb]) / s0[:, None, None]
    return frailty._Eval(
        loglik=float(np.sum(eta[e] - c) - np.sum(np.log(s0))),
        u_beta=x[e].sum(axis=0) - m.sum(axis=0),
        u_w=prob.deaths_by_group - mg.sum(axis=0),
        a=s2.sum(axis=0) - m.T @ m,
        b=mgx.sum(axis=0).T - m.T @ mg,
        f_full=np.diag(mg.sum(axis=0)) - mg.T @ mg,
        f_diag=(mg * (1.0 - mg)).sum(axis=0),
        share_sum=mg.sum(axis=0),
        r=r,
        s0=s0,
    )


def _dense_information(ev, pen2: np.ndarray, sparse: bool):
    """R's information as one dense (p + G) matrix (the original code's solve and inverse)."""
    f_block = np.diag(ev.f_diag + pen2) if sparse else ev.f_full + np.diag(pen2)
    return frailty._Information(ev.a, ev.b, None, f_block)


def _random_data(seed: int, n_clusters: int, n: int = 160) -> tuple:
    """Ties (times on a 0.1 grid), 3 covariates, a cluster of size 1 and a cluster without events."""
    rng = np.random.default_rng(seed)
    g = np.concatenate((np.arange(n_clusters - 1), rng.integers(0, n_clusters - 1, n - n_clusters)))
    g = np.append(g, n_clusters - 1)  # the last cluster: one subject
    frail = rng.gamma(2.0, 0.5, n_clusters)
    x = np.column_stack((rng.integers(0, 2, n), rng.normal(size=n), rng.uniform(-1, 1, n)))
    t = np.round(rng.exponential(1.0 / (frail[g] * np.exp(x @ [0.5, -0.3, 0.2]))), 1) + 0.1
    e = (rng.random(n) < 0.75).astype(float)
    e[g == 0] = 0.0  # cluster 0 has no events
    return t, e, x, g


@pytest.mark.parametrize("n_clusters", [4, 13])
def test_evaluation_matches_dense_oracle(n_clusters: int) -> None:
    """Per-cluster sums, the information blocks, exact Newton steps and R's var equal the dense computation."""
    from meta_bm.survival.coxph import _prepare

    t, e, x, g = _random_data(7 + n_clusters, n_clusters)
    data, _ = _prepare(t, e, x, None)
    prob = frailty._make_problem(data, g, n_clusters)
    assert prob.sparse == (n_clusters > 5) and len(set(t)) < t.size
    rng = np.random.default_rng(n_clusters)
    beta, w, theta = rng.normal(0, 0.3, 3), rng.normal(0, 0.5, n_clusters), 0.7
    fast, dense = frailty._evaluate(prob, beta, w), _dense_oracle(prob, beta, w)
    assert fast.loglik == pytest.approx(dense.loglik, rel=1e-14)
    for key in ("u_beta", "u_w", "a", "b", "f_diag", "share_sum", "s0"):
        np.testing.assert_allclose(getattr(fast, key), getattr(dense, key), rtol=1e-12, atol=0, err_msg=key)
    v = rng.normal(size=n_clusters)
    np.testing.assert_allclose(
        fast.share_sum * v - frailty._share_cross(prob, fast, v), dense.f_full @ v, rtol=1e-12, atol=1e-14
    )
    if not prob.sparse:
        np.testing.assert_allclose(fast.f_full, dense.f_full, rtol=1e-12, atol=1e-15)
    pen2 = np.exp(w) / theta
    u = np.concatenate((dense.u_beta, dense.u_w - np.expm1(w) / theta))
    np.testing.assert_allclose(  # exact Newton step (conjugate gradients in sparse mode) vs a dense solve
        frailty._exact_newton_step(prob, fast, pen2, u),
        _dense_information(dense, pen2, sparse=False).solve(u),
        rtol=1e-11,
        atol=1e-13,
    )
    info, dense_info = frailty._r_information(fast, pen2, prob.sparse), _dense_information(dense, pen2, prob.sparse)
    np.testing.assert_allclose(info.solve(u), dense_info.solve(u), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(info.fixed_effect_var(), dense_info.fixed_effect_var(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("n_clusters", [4, 13])
def test_fits_match_dense_oracle(n_clusters: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole fits (R's search, the profile maximum, a fixed theta) equal those of the dense implementation."""
    t, e, x, g = _random_data(3 * n_clusters, n_clusters, n=140)
    kinds = [dict(fit="r_default"), dict(fit="profile"), dict(theta=0.8)]
    fast = [gamma_frailty_cox(t, e, x, g, **kw) for kw in kinds]
    monkeypatch.setattr(frailty, "_evaluate", _dense_oracle)
    monkeypatch.setattr(frailty, "_r_information", _dense_information)
    monkeypatch.setattr(
        frailty, "_exact_newton_step", lambda prob, ev, pen2, u, rtol=0.0: _dense_information(ev, pen2, False).solve(u)
    )
    slow = [gamma_frailty_cox(t, e, x, g, **kw) for kw in kinds]
    assert fast[1].theta > 0.05 and fast[0].theta > 0.05  # heterogeneity: the frailties matter
    for a, b in zip(fast, slow, strict=True):
        assert a.theta == pytest.approx(b.theta, rel=1e-11)
        for key in ("coef", "se", "frailty"):
            np.testing.assert_allclose(getattr(a, key), getattr(b, key), rtol=1e-10, atol=1e-12, err_msg=key)
        assert a.c_loglik == pytest.approx(b.c_loglik, rel=1e-13)
        assert a.loglik == pytest.approx(b.loglik, rel=1e-13)
    assert (fast[0].iterations, fast[0].newton_iterations) == (slow[0].iterations, slow[0].newton_iterations)
    np.testing.assert_allclose(fast[0].history, slow[0].history, rtol=1e-10)
