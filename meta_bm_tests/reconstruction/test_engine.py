"""Reconstruction against known truth: hand examples, simulated digitizations of real and parametric IPD."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from meta_bm.errors import InputError
from meta_bm.reconstruction import clicks_from_arrays, reconstruct, reconstruct_arrays, risk_table_from_arrays
from meta_bm.simulation import CAREFUL, SLOPPY, digitize, km_area_difference, parametric_pairs, public_pairs
from meta_bm.survival.coxph import cox_ph
from meta_bm.survival.km import kaplan_meier


def corner_clicks(time, event):
    """Noise-free corner clicks of the KM curve of (time, event), ending at the last time."""
    km = kaplan_meier(np.asarray(time, float), np.asarray(event))
    has = km.n_event > 0
    ts, after = km.time[has], km.survival[has]
    before = np.concatenate(([1.0], after[:-1]))
    t = np.concatenate(([0.0], np.repeat(ts, 2), [float(np.max(time))]))
    s = np.concatenate(([1.0], np.column_stack([before, after]).ravel(), [after[-1]]))
    return t, s


def test_uncensored_curve_is_recovered_exactly():
    # 10 patients, all die at 1..10: a noise-free curve with N must give back exactly that IPD.
    time = np.arange(1.0, 11.0)
    event = np.ones(10, int)
    t, s = corner_clicks(time, event)
    rec = reconstruct_arrays(t, s, total_n=10)
    assert rec.event.sum() == 10
    np.testing.assert_allclose(np.sort(rec.time[rec.event == 1]), time)
    assert rec.fidelity.max_abs_error == pytest.approx(0.0, abs=1e-12)


def test_hand_example_interval_counts():
    # 20 at risk; S drops 1 -> .9 at t=2 (2 events of 20); table says 16 at t=4, so 2 censored in [0, 4).
    rec = reconstruct_arrays([0, 2, 2, 5, 5, 8], [1, 1, 0.9, 0.9, 0.75, 0.75], risk_time=[0, 4], n_risk=[20, 16])
    first = rec.intervals.row(0, named=True)
    assert (first["events"], first["censored"]) == (2, 2)
    assert rec.time.size == 20
    assert (rec.time[rec.event == 1] == 2).sum() == 2
    # 16 at risk at 4 and S(5)/S(5-) = .75/.9 = 1 - 2.67/16: not a whole number of events, so some of the
    # 16 were censored before 5. The step height is matched exactly by 2 events among 12 at risk.
    assert (rec.time[rec.event == 1] == 5).sum() == 2
    assert ((rec.time >= 4) & (rec.time < 5)).sum() == 4
    assert rec.fidelity.max_abs_error == pytest.approx(0.0, abs=1e-12)
    assert rec.fidelity.risk_table["difference"].to_list() == [0, 0]


@pytest.mark.parametrize("pair", public_pairs()[:6], ids=lambda p: p.name)
def test_noise_free_public_data_is_nearly_exact(pair):
    for t_true, e_true in pair.arms:
        t, s = corner_clicks(t_true, e_true)
        sim = digitize(t_true, e_true, CAREFUL, seed=0)  # only for its risk table
        rec = reconstruct_arrays(t, s, risk_time=sim.risk_time, n_risk=sim.n_risk)
        assert rec.fidelity.risk_table["difference"].abs().max() == 0
        # Heavily tied data (waltons: whole days) makes the tail after the last risk time the weak spot.
        assert abs(int(rec.event.sum()) - int(e_true.sum())) <= max(2, 0.08 * e_true.size)
        assert km_area_difference(rec.time, rec.event, t_true, e_true, t_true.max()) < 0.006


def _sets(n):
    return public_pairs() + list(parametric_pairs(n, seed=11))


@pytest.fixture(scope="module")
def simulated_results():
    """Reconstruct every arm of the truth sets, digitized careful and sloppy, in four modes."""
    out = []
    for i, pair in enumerate(_sets(14)):
        for style in (CAREFUL, SLOPPY):
            sims = [digitize(t, e, style, seed=31 * i + a) for a, (t, e) in enumerate(pair.arms)]
            for mode in ("table", "none", "events", "none+events"):
                recs = []
                for sim in sims:
                    clicks = clicks_from_arrays(sim.click_time, sim.click_survival, pair.name)
                    table = None if mode.startswith("none") else risk_table_from_arrays(sim.risk_time, sim.n_risk)
                    ev = sim.total_events if mode.endswith("events") else None
                    recs.append(reconstruct(clicks, table, total_n=sim.total_n, total_events=ev))
                out.append((pair, style.name, mode, sims, recs))
    return out


def test_published_numbers_at_risk_are_reproduced(simulated_results):
    for pair, style, mode, sims, recs in simulated_results:
        if mode.startswith("none"):
            continue
        for _sim, rec in zip(sims, recs, strict=True):
            diff = rec.fidelity.risk_table["difference"].abs().max()
            capped = any("capped" in w or "events, published" in w for w in rec.warnings)
            assert diff == 0 or capped, (pair.name, style, mode, rec.warnings)


def test_total_events_are_met_exactly(simulated_results):
    for _, _, mode, sims, recs in simulated_results:
        if mode.endswith("events"):
            for sim, rec in zip(sims, recs, strict=True):
                assert int(rec.event.sum()) == sim.total_events
                assert rec.time.size == sim.total_n


def test_accuracy_against_truth(simulated_results):
    area = {}
    loghr = {}
    events = {}
    for pair, style, mode, _, recs in simulated_results:
        key = (style, mode)
        for (t, e), rec in zip(pair.arms, recs, strict=True):
            area.setdefault(key, []).append(km_area_difference(rec.time, rec.event, t, e, float(t.max())))
            events.setdefault(key, []).append(abs(int(rec.event.sum()) - int(e.sum())) / t.size)
        x = np.r_[np.zeros(recs[0].time.size), np.ones(recs[1].time.size)]
        b = cox_ph(np.r_[recs[0].time, recs[1].time], np.r_[recs[0].event, recs[1].event], x).coef[0]
        xt = np.r_[np.zeros(pair.arms[0][0].size), np.ones(pair.arms[1][0].size)]
        bt = cox_ph(np.r_[pair.arms[0][0], pair.arms[1][0]], np.r_[pair.arms[0][1], pair.arms[1][1]], xt).coef[0]
        loghr.setdefault(key, []).append(abs(b - bt))
    mean = {k: float(np.mean(v)) for k, v in area.items()}
    # Bounds sit about 25% above what this engine measures on these sets (seed 11; see
    # benchmarks/reconstruction_accuracy.py for the larger set).
    assert mean[("careful", "table")] < 0.0021  # measured 0.00189 (one placement prior: 0.00220)
    assert mean[("sloppy", "table")] < 0.0040  # 0.00371
    assert mean[("careful", "none")] < 0.0037  # 0.00298
    # the published total helps, or at least does not hurt, without a risk table
    assert mean[("careful", "none+events")] < 1.1 * mean[("careful", "none")]  # 0.00296 vs 0.00298
    assert mean[("sloppy", "none+events")] < 1.1 * mean[("sloppy", "none")]  # 0.00440 vs 0.00454
    # with a risk table, a published total costs little area (both ways of meeting it are tried;
    # calibrating it in alone gave 1.16 here)
    assert mean[("sloppy", "events")] < 1.15 * mean[("sloppy", "table")]  # 0.00419 vs 0.00371
    assert np.mean(loghr[("careful", "table")]) < 0.016  # 0.0119
    assert np.mean(loghr[("careful", "events")]) < 0.019  # 0.0150
    assert np.mean(events[("careful", "table")]) < 0.0075  # 0.0058
    assert np.mean(events[("careful", "none")]) < 0.065  # 0.0489
    assert np.mean(events[("sloppy", "none")]) < 0.07  # 0.0529
    assert np.mean(loghr[("careful", "none")]) < 0.037  # 0.0292


def test_placement_prior_is_chosen_by_the_clicks(monkeypatch):
    # a small, heavily censored trial: the kept placement is the candidate whose curve stays
    # nearest the clicks, and here that is also nearer the truth than the default prior weight alone
    from meta_bm.reconstruction import engine

    sims = {}
    for i, pair in enumerate(_sets(14)):
        for a, (t, e) in enumerate(pair.arms):
            if t.size <= 80 and (1 - e.mean()) > 0.3:
                sims[(pair.name, a)] = (t, e, digitize(t, e, CAREFUL, seed=31 * i + a))
    assert len(sims) >= 5

    def run():
        out = {}
        for key, (t, e, sim) in sims.items():
            table = risk_table_from_arrays(sim.risk_time, sim.n_risk)
            rec = reconstruct(clicks_from_arrays(sim.click_time, sim.click_survival), table, total_n=sim.total_n)
            out[key] = (rec.fidelity.mean_abs_error, km_area_difference(rec.time, rec.event, t, e, float(t.max())))
        return out

    chosen = run()
    monkeypatch.setattr(engine, "PRIOR_WEIGHTS", (1.0,))
    default = run()
    assert all(chosen[k][0] <= default[k][0] + 1e-12 for k in sims)
    assert sum(chosen[k][0] < default[k][0] - 1e-12 for k in sims) >= 3  # the choice is not idle (5 of 10)
    # area 0.00106 against 0.00154
    assert np.mean([v[1] for v in chosen.values()]) < 0.8 * np.mean([v[1] for v in default.values()])


def test_medians_match_truth(simulated_results):
    errs = []
    for pair, style, mode, _, recs in simulated_results:
        if style != "careful" or mode != "table":
            continue
        for (t, e), rec in zip(pair.arms, recs, strict=True):
            true_median = kaplan_meier(t, e).median()
            if np.isfinite(true_median):
                errs.append(abs(rec.fidelity.median - true_median) / float(t.max()))
    assert np.median(errs) < 0.01
    assert np.mean(errs) < 0.03


def test_risk_table_ending_in_zeros_and_starting_late():
    t_true = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10.0])
    e_true = np.array([1, 1, 0, 1, 1, 0, 1, 1, 1, 1])
    t, s = corner_clicks(t_true, e_true)
    # table ends in zeros (beyond the curve) and starts after 0; N given
    rec = reconstruct_arrays(t, s, risk_time=[2.5, 5.5, 11, 12], n_risk=[8, 4, 0, 0], total_n=10)
    assert rec.time.size == 10
    assert rec.fidelity.risk_table["difference"].to_list() == [0, 0, 0, 0]
    assert int(rec.event.sum()) == int(e_true.sum())
    # same without N: an assumption is stated
    rec2 = reconstruct_arrays(t, s, risk_time=[2.5, 5.5, 11, 12], n_risk=[8, 4, 0, 0])
    assert any("no total N" in w for w in rec2.warnings)
    assert rec2.fidelity.risk_table["difference"].abs().max() == 0


def test_interval_without_clicks_and_clicks_beyond_table():
    t = [0, 1, 1, 2, 2, 9, 9, 12]
    s = [1, 1, 0.9, 0.9, 0.8, 0.8, 0.6, 0.6]
    rec = reconstruct_arrays(t, s, risk_time=[0, 3, 6], n_risk=[20, 15, 10])
    assert rec.fidelity.risk_table["difference"].to_list() == [0, 0, 0]
    mid = rec.intervals.row(1, named=True)  # [3, 6): no clicks -> censorings only
    assert mid["events"] == 0 and mid["censored"] == 5
    assert (rec.time[rec.event == 1] == 9).sum() >= 2  # drop after the last risk time is kept


def test_impossible_table_is_reported_not_hidden():
    # The curve halves between 0 and 5 (10 events of 20) but the table says only 3 left the risk set.
    rec = reconstruct_arrays([0, 2, 2, 8], [1, 1, 0.5, 0.5], risk_time=[0, 5], n_risk=[20, 17])
    assert rec.fidelity.risk_table["difference"].to_list() == [0, 0]
    assert any("disagree" in w for w in rec.warnings)


def test_total_events_outside_last_interval_reach():
    # Table forces events early; total events larger than the last interval can absorb.
    rec = reconstruct_arrays(
        [0, 1, 1, 3, 3, 7, 7, 9],
        [1, 1, 0.8, 0.8, 0.6, 0.6, 0.5, 0.5],
        risk_time=[0, 2, 5],
        n_risk=[30, 20, 12],
        total_events=16,
    )
    assert int(rec.event.sum()) == 16
    assert rec.fidelity.risk_table["difference"].to_list() == [0, 0, 0]


def test_deterministic():
    sim = digitize(*public_pairs()[1].arms[0], SLOPPY, seed=5)
    a = reconstruct_arrays(sim.click_time, sim.click_survival, sim.risk_time, sim.n_risk)
    b = reconstruct_arrays(sim.click_time, sim.click_survival, sim.risk_time, sim.n_risk)
    np.testing.assert_array_equal(a.time, b.time)
    np.testing.assert_array_equal(a.event, b.event)


def test_input_errors():
    with pytest.raises(InputError, match="total N is required"):
        reconstruct_arrays([0, 1, 2], [1, 0.9, 0.8])
    with pytest.raises(InputError, match="smaller than the first number at risk"):
        reconstruct_arrays([0, 1, 2], [1, 0.9, 0.8], risk_time=[0, 1], n_risk=[10, 9], total_n=8)
    with pytest.raises(InputError, match="total events"):
        reconstruct_arrays([0, 1, 2], [1, 0.9, 0.8], total_n=5, total_events=6)


@st.composite
def valid_inputs(draw):
    k = draw(st.integers(3, 40))
    times = np.sort(np.asarray(draw(st.lists(st.floats(0, 100), min_size=k, max_size=k))))
    if times[-1] - times[0] <= 0:
        times[-1] = times[0] + 1.0
    surv = np.sort(np.asarray(draw(st.lists(st.floats(0, 1), min_size=k, max_size=k))))[::-1]
    n0 = draw(st.integers(1, 500))
    m = draw(st.integers(0, 6))
    rt = np.unique(np.asarray(draw(st.lists(st.floats(0, 120), min_size=m, max_size=m))))
    counts = np.sort(np.asarray(draw(st.lists(st.integers(0, n0), min_size=rt.size, max_size=rt.size)), int))[::-1]
    ev = draw(st.one_of(st.none(), st.integers(0, n0)))
    return times, surv, rt, counts, n0, ev


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_inputs())
# a time range so small that the censoring grid's shortest beta underflowed to 0 (found by hypothesis)
@example((np.array([0.0, 0.0, 5e-324]), np.zeros(3), np.zeros(0), np.zeros(0, np.int64), 1, None))
# a first risk interval so short (a denormal risk time) that its censoring hazard overflowed to inf
@example(
    (
        np.array([0.0] * 11 + [1.0]),
        np.array([0.5, 0.375, 0.25] + [0.0] * 9),
        np.array([2.22507386e-309]),
        np.array([8]),
        13,
        None,
    )
)
# survival down to 1e-306 over subnormal times: the risk-set path's band became infinite and its
# pruning ran below the array (found by the pure-Python reference, NUMBA_DISABLE_JIT=1)
@example(
    (
        np.array([2.2250738585e-313, 1.674443284712423e-234, 6.103515625e-05, 0.03, 1.5, 21.25, 32.89, 40.98, 42.37]),
        np.array([0.86, 0.63, 0.437, 0.03, 1.192092896e-07, 2.220446049250313e-16, 3.2e-80, 1.1e-290, 0.0]),
        np.zeros(0),
        np.zeros(0, np.int64),
        1,
        None,
    )
)
def test_never_crashes_on_valid_input(inp):
    times, surv, rt, counts, n0, ev = inp
    kw = {"risk_time": rt, "n_risk": counts} if rt.size else {}
    first_n = int(counts[0]) if rt.size and rt[0] == 0 else n0
    if ev is not None and ev > max(first_n, n0):
        ev = None
    try:
        rec = reconstruct_arrays(times, surv, total_n=max(n0, int(counts[0]) if rt.size else 0), total_events=ev, **kw)
    except InputError as exc:  # only the documented consistency errors are allowed
        assert "total events" in str(exc)
        return
    assert np.all(rec.time >= 0)
    assert set(np.unique(rec.event)).issubset({0, 1})
    assert np.all(np.diff(rec.time) >= 0)
    if ev is not None and not any("events, published" in w for w in rec.warnings):
        assert int(rec.event.sum()) == ev


def test_split_drops_do_not_pile_censorings_on_one_click():
    # A top corner clicked a little low splits one drop over two clicks at one time. Read
    # separately, the small piece implies a risk set far above the table and the big one far
    # below, which used to put many of an interval's censorings at that very time (up to 8 here).
    piles = []
    for p_i, pair in enumerate(parametric_pairs(12, 7)):
        for a, (t, e) in enumerate(pair.arms):
            sim = digitize(t, e, CAREFUL, seed=100 + 2 * p_i + a)
            clicks = clicks_from_arrays(sim.click_time, sim.click_survival)
            rec = reconstruct(clicks, risk_table_from_arrays(sim.risk_time, sim.n_risk))
            cens = rec.time[(rec.event == 0) & (rec.time < sim.risk_time[-1])]
            _, counts = np.unique(cens[np.isin(cens, rec.curve.time)], return_counts=True)
            piles.append(int(counts.max()) if counts.size else 0)
    assert max(piles) <= 1
