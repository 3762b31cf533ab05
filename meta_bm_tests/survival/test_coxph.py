"""Cox model (Efron ties, strata, cluster-robust variance) and cox.zph against published R output, closed
forms from Therneau & Grambsch, lifelines at tight convergence and independent brute-force computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.datasets import load_lung, load_rossi
from scipy import stats

from meta_bm.survival.coxph import CoxResult, cox_ph, cox_zph

LIFELINES_TIGHT = {"precision": 1e-14, "r_precision": 0.0, "max_steps": 100}
ROSSI_COLS = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]

# Therneau & Grambsch "test data 1" as used in survival's tests/book2.R and tests/zph.R (the row with a
# missing status is dropped): time 9 3 1 1 6 6 8, status 1 NA 1 0 1 1 0, x 0 2 1 1 1 0 0.
TEST1_TIME = [9, 1, 1, 6, 6, 8]
TEST1_STATUS = [1, 1, 0, 1, 1, 0]
TEST1_X = [0, 1, 1, 1, 0, 0]

# R survival's ovarian data (26 rows: futime, fustat, age, resid.ds, rx, ecog.ps), as printed by R.
OVARIAN = np.array(
    [
        [59, 1, 72.3315, 2, 1, 1], [115, 1, 74.4932, 2, 1, 1], [156, 1, 66.4658, 2, 1, 2],
        [421, 0, 53.3644, 2, 2, 1], [431, 1, 50.3397, 2, 1, 1], [448, 0, 56.4301, 1, 1, 2],
        [464, 1, 56.9370, 2, 2, 2], [475, 1, 59.8548, 2, 2, 2], [477, 0, 64.1753, 2, 1, 1],
        [563, 1, 55.1781, 1, 2, 2], [638, 1, 56.7562, 1, 1, 2], [744, 0, 50.1096, 1, 2, 1],
        [769, 0, 59.6301, 2, 2, 2], [770, 0, 57.0521, 2, 2, 1], [803, 0, 39.2712, 1, 1, 1],
        [855, 0, 43.1233, 1, 1, 2], [1040, 0, 38.8932, 2, 1, 2], [1106, 0, 44.6000, 1, 1, 1],
        [1129, 0, 53.9068, 1, 2, 1], [1206, 0, 44.2055, 2, 2, 1], [1227, 0, 59.5890, 1, 2, 2],
        [268, 1, 74.5041, 2, 1, 2], [329, 1, 43.1370, 2, 1, 1], [353, 1, 63.2192, 1, 2, 2],
        [365, 1, 64.4247, 2, 2, 1], [377, 0, 58.3096, 1, 2, 1],
    ]
)  # fmt: skip

# R survival's diabetic data (394 eyes of 197 patients; Rdatasets csv/survival/diabetic.csv), one entry per
# patient: id, age, trt of the left eye, left time, left status, right time, right status (the right eye
# has trt = 1 - left trt). Event times are tied (e.g. four events at 13.83 months).
DIABETIC = """
5,28,0,46.23,0,46.23,0; 14,12,1,42.5,0,31.3,1; 16,9,1,42.27,0,42.27,0; 25,9,0,20.6,0,20.6,0;
29,13,0,0.3,1,38.77,0; 46,12,1,65.23,0,54.27,1; 49,8,1,63.5,0,10.8,1; 56,12,1,23.17,0,23.17,0;
61,16,1,1.47,0,1.47,0; 71,21,1,58.07,0,13.83,1; 100,23,0,48.53,0,46.43,1; 112,44,1,44.4,0,7.9,1;
120,47,0,39.57,0,39.57,0; 127,48,1,30.83,1,38.57,1; 133,26,1,66.27,0,14.1,1; 150,10,0,6.9,1,20.17,1;
167,23,0,41.4,1,58.43,0; 176,5,1,58.2,0,58.2,0; 185,46,1,57.43,0,57.43,0; 190,5,1,56.03,0,56.03,0;
202,13,0,67.53,0,67.53,0; 214,45,1,61.4,0,0.6,1; 220,11,1,10.27,1,1.63,1; 243,1,0,66.2,0,66.2,0;
255,10,0,13.83,1,5.67,1; 264,12,1,58.83,0,29.97,1; 266,36,1,60.27,0,26.37,1; 284,53,0,1.33,1,5.77,1;
295,10,0,35.53,1,5.9,1; 300,25,0,21.9,1,25.63,1; 302,14,0,14.8,1,33.9,1; 315,16,0,6.2,1,1.73,1;
324,38,0,22,1,46.9,0; 328,14,0,31.13,0,31.13,0; 335,10,0,22,1,30.2,1; 342,17,0,70.9,0,70.9,0;
349,44,1,25.8,1,13.87,1; 357,21,0,48.3,1,5.73,1; 368,19,0,53.43,0,53.43,0; 385,13,1,1.9,1,51.1,0;
396,40,0,9.9,1,9.9,1; 405,9,1,34.2,0,34.2,0; 409,48,0,2.67,1,46.73,0; 419,42,1,18.73,0,13.83,1;
429,24,1,32.03,0,4.27,1; 433,55,0,13.9,1,69.87,0; 445,17,0,66.8,0,66.8,0; 454,5,1,64.73,0,64.73,0;
468,6,1,1.7,1,1.7,1; 480,19,1,1.77,1,43.03,1; 485,12,1,29.03,0,29.03,0; 491,45,0,56.57,0,56.57,0;
503,27,0,8.3,1,8.3,1; 515,43,1,21.57,0,18.43,1; 522,4,0,31.57,0,31.57,0; 538,45,0,31.63,1,31.63,0;
547,32,1,39.77,0,39.77,0; 550,3,0,6.53,1,18.7,1; 554,14,1,18.9,0,18.9,0; 557,13,1,56.8,0,22.23,1;
561,15,1,55.6,0,14,1; 568,10,0,42.17,1,42.17,1; 572,6,0,5.33,1,10.7,0; 576,17,0,59.8,1,66.33,0;
581,37,0,5.83,1,52.33,0; 606,18,1,58.17,0,2.17,1; 610,13,0,48.43,1,14.3,1; 615,14,0,25.83,0,25.83,0;
618,12,1,45.4,0,45.4,0; 624,9,1,47.6,0,47.6,0; 631,11,0,9.6,1,13.33,1; 636,10,0,42.1,0,42.1,0;
645,5,1,39.93,0,39.93,0; 653,15,0,7.6,1,14.27,1; 662,7,0,1.8,1,34.57,1; 664,2,0,4.3,1,65.8,0;
683,22,0,12.2,1,4.1,1; 687,5,0,60.93,0,60.93,0; 701,4,0,57.2,0,57.2,0; 706,27,1,38.07,0,12.73,1;
717,53,1,54.1,0,54.1,1; 722,10,1,59.27,0,9.4,1; 731,13,0,9.9,1,21.57,1; 740,12,0,54.1,0,54.1,0;
749,24,0,50.47,0,50.47,0; 757,17,0,46.17,0,46.17,0; 760,8,0,46.3,0,46.3,0; 766,58,1,38.83,0,38.83,0;
769,17,0,44.6,0,44.6,0; 772,12,0,43.07,0,43.07,0; 778,25,0,40.03,0,26.23,1; 780,15,1,41.6,0,18.03,1;
793,21,0,38.07,0,38.07,0; 800,20,1,65.23,0,65.23,0; 804,23,1,7.07,1,66.77,0; 810,13,0,13.77,1,13.77,1;
815,45,0,9.63,1,9.63,0; 832,5,1,46.23,0,46.23,0; 834,8,0,1.5,1,45.73,0; 838,30,0,33.63,1,33.63,1;
857,7,0,40.17,0,40.17,0; 866,39,0,27.6,1,63.33,1; 887,26,1,38.47,1,1.63,1; 903,50,1,55.23,0,55.23,0;
910,34,0,25.3,1,52.77,0; 920,10,0,46.2,1,57.17,0; 925,40,1,9.87,0,1.7,1; 931,13,0,57.9,0,57.9,0;
936,7,0,5.9,0,5.9,0; 945,11,0,32.2,0,32.2,0; 949,13,1,10.33,1,0.83,1; 952,9,0,50.9,0,6.13,1;
962,5,0,25.93,1,43.67,0; 964,10,0,38.3,0,38.3,0; 971,23,1,38.77,0,19.4,1; 978,2,0,21.97,1,38.07,0;
983,12,1,38.3,0,38.3,0; 987,7,0,70.03,0,26.2,1; 1002,13,0,18.03,1,62.57,0; 1017,50,0,1.57,1,13.83,1;
1029,20,1,46.5,0,13.37,1; 1034,15,0,1.97,1,11.07,1; 1037,30,1,42.47,0,22.2,1; 1042,32,0,38.73,0,38.73,0;
1069,39,0,51.13,0,51.13,0; 1074,4,0,46.5,0,6.1,1; 1098,3,0,11.3,1,2.1,1; 1102,10,1,17.73,1,42.3,0;
1112,6,0,26.47,0,26.47,0; 1117,15,1,10.77,0,10.77,0; 1126,33,1,55.33,0,55.33,0; 1135,15,1,58.67,0,58.67,0;
1145,44,0,4.97,1,12.93,1; 1148,48,0,26.47,1,54.2,0; 1167,4,0,49.57,0,49.57,0; 1184,46,0,9.87,1,24.43,1;
1191,25,0,50.23,0,50.23,0; 1205,12,0,30.4,1,13.97,1; 1213,12,1,43.33,0,43.33,1; 1228,26,1,42.23,0,42.23,0;
1247,11,0,74.93,0,74.93,0; 1250,36,1,66.93,0,66.93,0; 1253,12,1,73.43,0,73.43,0; 1267,50,1,67.47,0,38.57,1;
1281,44,1,3.67,0,3.67,1; 1287,8,0,67.03,0,48.87,1; 1293,14,1,65.6,0,65.6,0; 1296,18,0,15.83,1,15.83,0;
1309,56,1,20.07,0,8.83,1; 1312,9,0,67.43,0,67.43,0; 1317,15,1,1.47,0,1.47,0; 1321,5,1,62.93,0,22.13,1;
1333,1,1,6.3,1,56.97,0; 1347,1,1,59.7,0,18.93,1; 1361,14,0,19,1,13.8,1; 1366,57,1,55.13,0,55.13,0;
1373,8,0,5.43,1,13.57,1; 1397,33,1,42.2,0,42.2,0; 1410,46,0,38.27,0,38.27,0; 1413,3,1,7.1,0,7.1,1;
1425,35,0,26.17,1,63.63,0; 1447,8,0,24.73,1,59,0; 1461,30,1,54.37,0,54.37,0; 1469,51,1,54.6,0,10.97,1;
1480,42,0,21.1,1,63.87,0; 1487,20,1,62.37,0,43.7,1; 1491,23,0,62.8,0,62.8,0; 1499,22,1,63.33,0,14.37,1;
1503,25,0,58.53,0,58.53,0; 1513,45,0,58.07,0,58.07,0; 1524,20,0,58.5,0,58.5,0; 1533,41,0,14.37,0,1.5,1;
1537,19,1,54.73,0,38.4,1; 1552,4,1,50.63,0,2.83,1; 1554,36,0,51.1,0,51.1,0; 1562,20,1,49.93,0,6.57,1;
1572,24,1,46.27,0,46.27,1; 1581,28,1,10.6,0,10.6,0; 1585,51,1,42.77,0,42.77,0; 1596,16,1,34.37,1,42.27,0;
1600,16,1,42.07,0,42.07,0; 1603,10,0,38.77,0,38.77,0; 1619,20,0,61.83,1,74.97,0; 1627,10,0,66.97,0,6.57,1;
1636,16,1,38.87,1,68.3,0; 1640,10,0,46.63,1,42.43,1; 1643,11,1,67.07,0,67.07,0; 1649,1,1,2.7,1,2.7,0;
1666,17,0,63.8,0,63.8,0; 1672,7,0,32.63,0,32.63,0; 1683,29,1,62,0,62,0; 1688,5,0,54.8,0,13.1,1;
1705,1,0,8,0,8,0; 1717,22,0,42.33,1,51.6,0; 1727,33,1,49.97,0,2.9,1; 1746,3,1,45.9,0,1.43,1;
1749,32,1,41.93,0,41.93,0;
"""


def _diabetic():
    items = [item for item in DIABETIC.replace("\n", " ").split(";") if item.strip()]
    rows = np.array([[float(v) for v in item.split(",")] for item in items])
    ident = np.repeat(rows[:, 0], 2)
    age = np.repeat(rows[:, 1], 2)
    trt = np.column_stack([rows[:, 2], 1 - rows[:, 2]]).ravel()
    time = rows[:, [3, 5]].ravel()
    status = rows[:, [4, 6]].ravel()
    return time, status, trt, age, ident


def _lung(cols=()):
    d = load_lung().dropna(subset=list(cols))  # lifelines' lung: status 1 = death (R: 2), 0 = censored
    return d


# ------------------------------------------------------------------------------------------------------
# independent brute-force implementations (explicit loops, no code shared with the module)
# ------------------------------------------------------------------------------------------------------


def bf_loglik(time, event, z_of_t, beta, strata=None):
    """Efron log partial likelihood; ``z_of_t(t)`` gives the (n, q) covariates in force at time t."""
    time, event = np.asarray(time, float), np.asarray(event, int)
    strata = np.zeros(time.size) if strata is None else np.asarray(strata)
    total = 0.0
    for s in np.unique(strata):
        ins = strata == s
        for t in np.unique(time[ins & (event == 1)]):
            eta = z_of_t(t) @ beta
            risk = ins & (time >= t)
            dead = ins & (time == t) & (event == 1)
            d = int(dead.sum())
            r0, d0 = np.exp(eta[risk]).sum(), np.exp(eta[dead]).sum()
            total += eta[dead].sum()
            for r in range(d):
                total -= np.log(r0 - r / d * d0)
    return total


def bf_derivs(time, event, z_of_t, beta, strata=None):
    """Efron score vector and information (minus the Hessian) of ``bf_loglik``, by explicit loops."""
    time, event = np.asarray(time, float), np.asarray(event, int)
    strata = np.zeros(time.size) if strata is None else np.asarray(strata)
    q = beta.size
    score, info = np.zeros(q), np.zeros((q, q))
    for s in np.unique(strata):
        ins = strata == s
        for t in np.unique(time[ins & (event == 1)]):
            z = z_of_t(t)
            w = np.exp(z @ beta)
            risk = ins & (time >= t)
            dead = ins & (time == t) & (event == 1)
            d = int(dead.sum())
            score += z[dead].sum(0)
            for r in range(d):
                a = r / d
                s0 = w[risk].sum() - a * w[dead].sum()
                s1 = (w[risk, None] * z[risk]).sum(0) - a * (w[dead, None] * z[dead]).sum(0)
                s2 = np.einsum("i,ij,ik->jk", w[risk], z[risk], z[risk]) - a * np.einsum(
                    "i,ij,ik->jk", w[dead], z[dead], z[dead]
                )
                score -= s1 / s0
                info += s2 / s0 - np.outer(s1, s1) / s0**2
    return score, info


def num_grad_hess(f, x0, h):
    """Central-difference gradient and Hessian of f at x0 with per-coordinate steps h."""
    q = x0.size
    g = np.zeros(q)
    hess = np.zeros((q, q))
    e = [np.eye(q)[i] * h[i] for i in range(q)]
    for i in range(q):
        g[i] = (f(x0 + e[i]) - f(x0 - e[i])) / (2 * h[i])
        for j in range(i, q):
            v = (f(x0 + e[i] + e[j]) - f(x0 + e[i] - e[j]) - f(x0 - e[i] + e[j]) + f(x0 - e[i] - e[j])) / (
                4 * h[i] * h[j]
            )
            hess[i, j] = hess[j, i] = v
    return g, hess


def bf_score_residuals(time, event, x, beta, strata=None):
    """R's Efron score residuals written out subject by subject (Therneau & Grambsch, ch. 4 / appendix)."""
    time, event = np.asarray(time, float), np.asarray(event, int)
    x = np.asarray(x, float).reshape(time.size, -1)
    strata = np.zeros(time.size) if strata is None else np.asarray(strata)
    w = np.exp(x @ beta)
    # per stratum and death time: the Efron means m_r and denominators s0_r, r = 0..d-1
    terms = {}
    for s in np.unique(strata):
        ins = strata == s
        for t in np.unique(time[ins & (event == 1)]):
            risk = ins & (time >= t)
            dead = ins & (time == t) & (event == 1)
            d = int(dead.sum())
            rows = []
            for r in range(d):
                s0 = w[risk].sum() - r / d * w[dead].sum()
                s1 = (w[risk, None] * x[risk]).sum(0) - r / d * (w[dead, None] * x[dead]).sum(0)
                rows.append((s1 / s0, s0))
            terms[(s, t)] = rows
    resid = np.zeros_like(x)
    for i in range(time.size):
        for (s, t), rows in terms.items():
            if s != strata[i] or t > time[i]:
                continue
            d = len(rows)
            if t == time[i] and event[i] == 1:
                resid[i] += x[i] - np.mean([m for m, _ in rows], axis=0)
                for r, (m, s0) in enumerate(rows):
                    resid[i] -= (1 - r / d) * w[i] * (x[i] - m) / s0
            else:  # at risk (censored at t or leaving later): full hazard increment
                for m, s0 in rows:
                    resid[i] -= w[i] * (x[i] - m) / s0
    return resid


# ------------------------------------------------------------------------------------------------------
# published R output
# ------------------------------------------------------------------------------------------------------


def test_lung_sex_matches_r_summary():
    # R: summary(coxph(Surv(time, status) ~ sex, data = lung))
    #   coef -0.5310, se(coef) 0.1672, z -3.176, Pr(>|z|) 0.00149; exp(coef) 0.5880, lower .95 0.4237,
    #   upper .95 0.816; Likelihood ratio test= 10.63 on 1 df, p=0.001111; Wald test = 10.09, p=0.001491;
    #   Score (logrank) test = 10.33, p=0.001312; n= 228, number of events= 165
    d = _lung()
    fit = cox_ph(d["time"], d["status"], d["sex"], names=["sex"])
    assert fit.converged
    assert fit.coef[0] == pytest.approx(-0.5310, abs=5e-5)
    assert fit.se[0] == pytest.approx(0.1672, abs=5e-5)
    assert fit.z[0] == pytest.approx(-3.176, abs=5e-4)
    assert fit.p[0] == pytest.approx(0.00149, abs=5e-6)
    assert fit.hr[0] == pytest.approx(0.5880, abs=5e-5)
    assert fit.hr_lower[0] == pytest.approx(0.4237, abs=5e-5)
    assert fit.hr_upper[0] == pytest.approx(0.816, abs=5e-4)
    assert fit.lr_chisq == pytest.approx(10.63, abs=5e-3) and fit.lr_p == pytest.approx(0.001111, abs=5e-7)
    assert fit.wald_chisq == pytest.approx(10.09, abs=5e-3) and fit.wald_p == pytest.approx(0.001491, abs=5e-7)
    assert fit.score_chisq == pytest.approx(10.33, abs=5e-3) and fit.score_p == pytest.approx(0.001312, abs=5e-7)
    assert (fit.n, fit.n_events, fit.lr_df) == (228, 165, 1)
    assert fit.robust_se is None and fit.robust_var is None and fit.robust_score_chisq is None


def test_rossi_matches_fox_weisberg():
    # Fox & Weisberg, "Cox Proportional-Hazards Regression for Survival Data in R" (appendix to An R
    # Companion to Applied Regression, 3rd ed.): coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar +
    # paro + prio, data = Rossi) -- coef / se(coef) / p below; Likelihood ratio test = 33.27 on 7 df,
    # p = 2.362e-05; Wald test = 32.11, p = 3.871e-05; Score (logrank) test = 33.53, p = 2.11e-05.
    r = load_rossi()
    fit = cox_ph(r["week"], r["arrest"], r[ROSSI_COLS].to_numpy(float), names=ROSSI_COLS)
    coef = [-0.37942, -0.05744, 0.31390, -0.14980, -0.43370, -0.08487, 0.09150]
    se = [0.19138, 0.02200, 0.30799, 0.21222, 0.38187, 0.19576, 0.02865]
    p = [0.04742, 0.00903, 0.30812, 0.48029, 0.25606, 0.66461, 0.00140]
    np.testing.assert_allclose(fit.coef, coef, atol=5e-6)
    np.testing.assert_allclose(fit.se, se, atol=5e-6)
    np.testing.assert_allclose(fit.p, p, atol=5e-6)
    assert fit.hr_lower[0] == pytest.approx(0.4702, abs=5e-5) and fit.hr_upper[0] == pytest.approx(0.9957, abs=5e-5)
    assert fit.lr_chisq == pytest.approx(33.27, abs=5e-3) and fit.lr_p == pytest.approx(2.362e-05, abs=5e-9)
    assert fit.wald_chisq == pytest.approx(32.11, abs=5e-3) and fit.wald_p == pytest.approx(3.871e-05, abs=5e-9)
    assert fit.score_chisq == pytest.approx(33.53, abs=5e-3) and fit.score_p == pytest.approx(2.11e-05, abs=5e-8)
    assert fit.names == ROSSI_COLS and fit.lr_df == 7


def test_stratified_help_example_matches_r():
    # survival's coxph help example (tests/Examples/survival-Ex.Rout.save):
    # coxph(Surv(time, status) ~ x + strata(sex), test1): coef 0.8023, exp(coef) 2.2307, se(coef) 0.8224,
    # z 0.976, p 0.329; Likelihood ratio test=1.09 on 1 df, p=0.2971; n= 7, number of events= 5
    fit = cox_ph(
        [4, 3, 1, 1, 2, 2, 3], [1, 1, 1, 0, 1, 1, 0], [0, 2, 1, 1, 1, 0, 0], strata=["0", "0", "0", "0", "1", "1", "1"]
    )
    assert fit.coef[0] == pytest.approx(0.8023, abs=5e-5)
    assert fit.hr[0] == pytest.approx(2.2307, abs=5e-5)
    assert fit.se[0] == pytest.approx(0.8224, abs=5e-5)
    assert fit.z[0] == pytest.approx(0.976, abs=5e-4)
    assert fit.p[0] == pytest.approx(0.329, abs=5e-4)
    assert fit.lr_chisq == pytest.approx(1.09, abs=5e-3) and fit.lr_p == pytest.approx(0.2971, abs=5e-5)
    assert (fit.n, fit.n_events) == (7, 5)


def test_efron_closed_form_and_score_residuals_test_data_1():
    # Therneau & Grambsch appendix (survival tests/book2.R): for test data 1 with Efron ties and r = e^beta,
    #   loglik = 2 beta - log(3r + 3) - log((r + 5)/2) - log(r + 3),
    #   U = (30 + 23 r - r^3) / ((r+1)(r+3)(r+5)),  I = sum of m(1-m) for m = r/(r+1), r/(r+3), r/(r+5),
    # the MLE is r = 2 sqrt(23/3) cos(acos((45/23) sqrt(3/23)) / 3) (R prints coef 1.676857), and R prints
    # resid(fit, 'score') = 0.2208584, 0.1132780, -0.0442340, -0.1029199, -0.4078409, 0.2208584.
    r_hat = 2 * np.sqrt(23 / 3) * np.cos(np.arccos((45 / 23) * np.sqrt(3 / 23)) / 3)

    def loglik(r):
        return 2 * np.log(r) - np.log(3 * r + 3) - np.log((r + 5) / 2) - np.log(r + 3)

    def info(r):
        return sum(m * (1 - m) for m in (r / (r + 1), r / (r + 3), r / (r + 5)))

    fit = cox_ph(TEST1_TIME, TEST1_STATUS, TEST1_X, cluster=np.arange(6))
    assert fit.coef[0] == pytest.approx(np.log(r_hat), abs=1e-10)
    assert round(float(fit.coef[0]), 6) == 1.676857
    assert fit.loglik == pytest.approx(loglik(r_hat), abs=1e-12)
    assert fit.loglik_null == pytest.approx(loglik(1.0), abs=1e-12)
    assert fit.var[0, 0] == pytest.approx(1 / info(r_hat), rel=1e-9)
    u0 = (30 + 23 - 1) / (2 * 4 * 6)
    assert fit.score_chisq == pytest.approx(u0**2 / info(1.0), rel=1e-12)
    # with one subject per cluster, robust var = sum_i (L_i V)^2
    published = np.array([0.2208584, 0.1132780, -0.0442340, -0.1029199, -0.4078409, 0.2208584])
    assert fit.robust_var[0, 0] == pytest.approx(np.sum((published * fit.var[0, 0]) ** 2), rel=2e-6)
    bf = bf_score_residuals(TEST1_TIME, TEST1_STATUS, TEST1_X, fit.coef)
    np.testing.assert_allclose(bf[:, 0], published, atol=5e-8)


def test_diabetic_cluster_robust_se_with_ties_matches_r():
    # survival's diabetic help example (tests/Examples/survival-Ex.Rout.save):
    # coxph(Surv(time, status) ~ trt + juvenile, cluster = id, data = diabetic), juvenile = age < 20:
    #              coef exp(coef) se(coef) robust se      z        p
    #   trt      -0.77893   0.45890  0.16893   0.14851 -5.245 1.56e-07
    #   juvenile -0.05388   0.94754  0.16211   0.17864 -0.302    0.763
    #   Likelihood ratio test=22.48 on 2 df, p=1.312e-05; n= 394, number of events= 155
    # The event times are tied, so this checks R's Efron score residuals: lifelines' cluster_col gives
    # robust SEs 0.14840 / 0.17872 here (0.07% / 0.05% off), outside the printed precision.
    time, status, trt, age, ident = _diabetic()
    x = np.column_stack([trt, (age < 20).astype(float)])
    fit = cox_ph(time, status, x, names=["trt", "juvenile"], cluster=ident)
    assert (fit.n, fit.n_events, fit.n_clusters) == (394, 155, 197)
    np.testing.assert_allclose(fit.coef, [-0.77893, -0.05388], atol=5e-6)
    np.testing.assert_allclose(fit.hr, [0.45890, 0.94754], atol=5e-6)
    np.testing.assert_allclose(fit.se, [0.16893, 0.16211], atol=5e-6)
    np.testing.assert_allclose(fit.robust_se, [0.14851, 0.17864], atol=5e-6)
    np.testing.assert_allclose(fit.z, [-5.245, -0.302], atol=5e-4)  # z uses the robust SE, as in R
    assert fit.p[0] == pytest.approx(1.56e-07, abs=5e-10) and fit.p[1] == pytest.approx(0.763, abs=5e-4)
    assert fit.lr_chisq == pytest.approx(22.48, abs=5e-3) and fit.lr_p == pytest.approx(1.312e-05, abs=5e-9)
    # robust Wald test and robust CI use the robust variance
    assert fit.wald_chisq == pytest.approx(float(fit.coef @ np.linalg.solve(fit.robust_var, fit.coef)), rel=1e-12)
    zq = stats.norm.ppf(0.975)
    np.testing.assert_allclose(fit.hr_upper, np.exp(fit.coef + zq * fit.robust_se), rtol=1e-12)

    # independent brute force of the whole sandwich: explicit-loop residuals, summed by cluster
    resid = bf_score_residuals(time, status, x, fit.coef)
    ids = np.unique(ident)
    u_c = np.array([resid[ident == c].sum(0) for c in ids])
    sandwich = fit.var @ u_c.T @ u_c @ fit.var
    np.testing.assert_allclose(fit.robust_var, sandwich, rtol=1e-9)
    # robust score test (R's "Robust" score test): residuals at beta = 0 summed by cluster
    resid0 = bf_score_residuals(time, status, x, np.zeros(2))
    u0 = np.array([resid0[ident == c].sum(0) for c in ids])
    u = u0.sum(0)
    assert fit.robust_score_chisq == pytest.approx(float(u @ np.linalg.solve(u0.T @ u0, u)), rel=1e-9)


# ------------------------------------------------------------------------------------------------------
# lifelines at tight convergence (an independent implementation of the same estimator)
# ------------------------------------------------------------------------------------------------------


def test_matches_lifelines_unstratified_with_ties():
    r = load_rossi()
    fit = cox_ph(r["week"], r["arrest"], r[ROSSI_COLS].to_numpy(float), names=ROSSI_COLS)
    ref = CoxPHFitter().fit(r, "week", "arrest", fit_options=LIFELINES_TIGHT)
    np.testing.assert_allclose(fit.coef, ref.params_[ROSSI_COLS].to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(fit.se, ref.standard_errors_[ROSSI_COLS].to_numpy(), rtol=1e-8)
    assert fit.loglik == pytest.approx(ref.log_likelihood_, rel=1e-12)

    cols = ["age", "sex", "ph.ecog", "wt.loss"]
    d = _lung(cols)
    fit = cox_ph(d["time"], d["status"], d[cols].to_numpy(float))
    ref = CoxPHFitter().fit(d[["time", "status", *cols]], "time", "status", fit_options=LIFELINES_TIGHT)
    np.testing.assert_allclose(fit.coef, ref.params_[cols].to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(fit.se, ref.standard_errors_[cols].to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(fit.var, ref.variance_matrix_.loc[cols, cols].to_numpy(), rtol=1e-7, atol=1e-14)


@pytest.mark.parametrize("case", ["rossi-by-wexp", "lung-by-inst"])
def test_matches_lifelines_stratified(case):
    if case == "rossi-by-wexp":
        d = load_rossi()
        cols = [c for c in ROSSI_COLS if c != "wexp"]
        tcol, ecol, scol = "week", "arrest", "wexp"
    else:
        cols = ["age", "sex", "ph.ecog", "wt.loss"]
        d = _lung([*cols, "inst"])
        tcol, ecol, scol = "time", "status", "inst"
    fit = cox_ph(d[tcol], d[ecol], d[cols].to_numpy(float), strata=d[scol])
    ref = CoxPHFitter().fit(d[[tcol, ecol, scol, *cols]], tcol, ecol, strata=[scol], fit_options=LIFELINES_TIGHT)
    np.testing.assert_allclose(fit.coef, ref.params_[cols].to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(fit.se, ref.standard_errors_[cols].to_numpy(), rtol=1e-7)
    assert fit.loglik == pytest.approx(ref.log_likelihood_, rel=1e-12)


def _untied_clustered(seed, n=400, n_clusters=40):
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.integers(0, 2, n), rng.normal(size=n)]).astype(float)
    cluster = rng.integers(0, n_clusters, n)
    frailty = rng.gamma(2.0, 0.5, n_clusters)[cluster]
    t = rng.exponential(1 / (frailty * np.exp(x @ [0.7, -0.3])))
    censor = rng.exponential(2.0, n)
    event = (t <= censor).astype(int)
    return np.minimum(t, censor), event, x, cluster, rng.integers(0, 3, n)


@pytest.mark.parametrize("stratified", [False, True])
def test_robust_se_matches_lifelines_without_ties(stratified):
    # lifelines' cluster_col agrees with R when no event times are tied (see the survival notes)
    time, event, x, cluster, strata = _untied_clustered(3)
    assert np.unique(time).size == time.size
    df = pd.DataFrame({"t": time, "e": event, "a": x[:, 0], "b": x[:, 1], "cl": cluster})
    kw = {}
    if stratified:
        df["s"] = strata
        kw = {"strata": ["s"]}
    ref = CoxPHFitter().fit(df, "t", "e", cluster_col="cl", fit_options=LIFELINES_TIGHT, **kw)
    fit = cox_ph(time, event, x, names=["a", "b"], cluster=cluster, strata=strata if stratified else None)
    np.testing.assert_allclose(fit.coef, ref.params_[["a", "b"]].to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(fit.robust_se, ref.standard_errors_[["a", "b"]].to_numpy(), rtol=1e-8)
    assert fit.n_clusters == 40


def test_robust_variance_with_ties_and_strata_matches_brute_force():
    rng = np.random.default_rng(11)
    n = 150
    x = np.column_stack([rng.integers(0, 2, n), rng.normal(size=n), rng.integers(0, 3, n)]).astype(float)
    time = np.ceil(rng.exponential(6 * np.exp(-x @ [0.5, 0.3, -0.2])))  # heavy ties
    event = (rng.random(n) < 0.8).astype(int)
    strata = rng.choice(["s1", "s2"], n)
    cluster = rng.integers(0, 25, n)
    fit = cox_ph(time, event, x, strata=strata, cluster=cluster)
    resid = bf_score_residuals(time, event, x, fit.coef, strata)
    # score residuals add up to the score, which is 0 at the MLE
    np.testing.assert_allclose(resid.sum(0), 0.0, atol=1e-8)
    u_c = np.array([resid[cluster == c].sum(0) for c in np.unique(cluster)])
    np.testing.assert_allclose(fit.robust_var, fit.var @ u_c.T @ u_c @ fit.var, rtol=1e-9)

    # and the whole fit against numeric derivatives of an independently coded Efron likelihood
    def f(b):
        return bf_loglik(time, event, lambda t: x, b, strata)

    g, h = num_grad_hess(f, fit.coef, np.full(3, 1e-4))
    assert f(fit.coef) == pytest.approx(fit.loglik, rel=1e-12)
    np.testing.assert_allclose(g, 0.0, atol=1e-6)
    np.testing.assert_allclose(fit.var, np.linalg.inv(-h), rtol=1e-5)


# ------------------------------------------------------------------------------------------------------
# cox.zph
# ------------------------------------------------------------------------------------------------------


def test_zph_ovarian_matches_r_example():
    # survival's cox.zph help example (tests/Examples/survival-Ex.Rout.save, R 4.3 / survival 3.5):
    # fit <- coxph(Surv(futime, fustat) ~ age + ecog.ps, data = ovarian); cox.zph(fit)
    #           chisq df    p
    #   age     0.698  1 0.40
    #   ecog.ps 2.371  1 0.12
    #   GLOBAL  3.633  2 0.16
    t, e, x = OVARIAN[:, 0], OVARIAN[:, 1], OVARIAN[:, [2, 5]]
    fit = cox_ph(t, e, x, names=["age", "ecog.ps"])
    zph = cox_zph(t, e, x, fit)
    assert zph.transform == "km" and zph.names == ["age", "ecog.ps"]
    np.testing.assert_allclose(zph.chisq, [0.698, 2.371], atol=5e-4)
    np.testing.assert_allclose(zph.p, [0.40, 0.12], atol=5e-3)
    assert zph.df.tolist() == [1, 1]
    assert zph.global_chisq == pytest.approx(3.633, abs=5e-4)
    assert zph.global_df == 2 and zph.global_p == pytest.approx(0.16, abs=5e-3)


def _zph_closed_form(transform_of_death_times):
    # survival tests/zph.R (Therneau & Grambsch test data 1, Efron): per-death score and information
    # U = 1/(r+1), 3/(r+3), -r/(r+5), 0 and I = r/(r+1)^2, 3r/(r+3)^2, 5r/(r+5)^2, 0 at death times
    # 1, 6, 6, 9; the test is u' H^-1 u for u = (sum U, sum g U), H = [[sum I, sum g I], [., sum g^2 I]].
    r = 2 * np.sqrt(23 / 3) * np.cos(np.arccos((45 / 23) * np.sqrt(3 / 23)) / 3)
    u = np.array([1 / (r + 1), 3 / (r + 3), -r / (r + 5), 0])
    i = np.array([r / (r + 1) ** 2, 3 * r / (r + 3) ** 2, 5 * r / (r + 5) ** 2, 0])
    g = transform_of_death_times - transform_of_death_times.mean()
    uu = np.array([u.sum(), (g * u).sum()])
    hh = np.array([[i.sum(), (g * i).sum()], [(g * i).sum(), (g * g * i).sum()]])
    return float(uu @ np.linalg.solve(hh, uu))


def test_zph_efron_closed_form():
    death_times = np.array([1.0, 6, 6, 9])
    fit = cox_ph(TEST1_TIME, TEST1_STATUS, TEST1_X)
    zph_log = cox_zph(TEST1_TIME, TEST1_STATUS, TEST1_X, fit, transform="log")
    assert zph_log.chisq[0] == pytest.approx(_zph_closed_form(np.log(death_times)), rel=1e-9)
    assert zph_log.global_chisq == pytest.approx(zph_log.chisq[0], rel=1e-12)
    zph_id = cox_zph(TEST1_TIME, TEST1_STATUS, TEST1_X, fit, transform="identity")
    assert zph_id.chisq[0] == pytest.approx(_zph_closed_form(death_times), rel=1e-9)
    # zph.R "artificial stratification": two copies of the data as two strata doubles U, I and the test
    t2, e2, x2 = TEST1_TIME * 2, TEST1_STATUS * 2, TEST1_X * 2
    s2 = ["a"] * 6 + ["b"] * 6
    fit2 = cox_ph(t2, e2, x2, strata=s2)
    assert fit2.coef[0] == pytest.approx(fit.coef[0], abs=1e-10)
    zph2 = cox_zph(t2, e2, x2, fit2, strata=s2, transform="log")
    assert zph2.chisq[0] == pytest.approx(2 * zph_log.chisq[0], rel=1e-9)


def _bf_transform(time, event, transform):
    time = np.asarray(time, float)
    event = np.asarray(event, int)
    if transform == "identity":
        return time
    if transform == "log":
        return np.log(time)
    if transform == "rank":
        return np.array([np.sum(time < t) + (np.sum(time == t) + 1) / 2 for t in time])
    # km: 1 - S(t-), S the pooled Kaplan-Meier
    out = np.empty(time.size)
    for k, t in enumerate(time):
        s = 1.0
        for u in np.unique(time[(event == 1) & (time < t)]):
            s *= 1 - np.sum((time == u) & (event == 1)) / np.sum(time >= u)
        out[k] = 1 - s
    return out


def _bf_zph(time, event, x, beta, transform, strata=None):
    """Score test for gamma = 0 in the model with covariates (x, g(t) x) at (beta-hat, 0), from the
    explicit-loop Efron derivatives, with R's convention that the beta part of the score is taken as 0."""
    time, event = np.asarray(time, float), np.asarray(event, int)
    x = np.asarray(x, float)
    p = x.shape[1]
    g_all = _bf_transform(time, event, transform)
    g_all = g_all - g_all[event == 1].mean()
    g_of = {t: g_all[time == t][0] for t in np.unique(time)}
    grad, imat = bf_derivs(time, event, lambda t: np.hstack([x, g_of[t] * x]), np.r_[beta, np.zeros(p)], strata)
    chisq = []
    for j in range(p):
        kk = np.r_[np.arange(p), p + j]
        u = np.zeros(p + 1)
        u[-1] = grad[p + j]
        chisq.append(u @ np.linalg.solve(imat[np.ix_(kk, kk)], u))
    u = np.concatenate([np.zeros(p), grad[p:]])
    return np.array(chisq), float(u @ np.linalg.solve(imat, u))


def test_brute_force_derivatives_match_numeric_differentiation():
    # guards the explicit-loop derivatives used as truth below (time-dependent covariate x * t)
    r = load_rossi().iloc[:150]
    time, event = r["week"].to_numpy(float), r["arrest"].to_numpy(int)
    x = r[["fin", "prio"]].to_numpy(float)
    theta = np.array([-0.3, 0.08, 0.01, -0.002])

    def z_of_t(t):
        return np.hstack([x, (t / 52) * x])

    grad, info = bf_derivs(time, event, z_of_t, theta)
    h = 1e-4 / np.abs(z_of_t(52.0)).max(axis=0)
    g_num, h_num = num_grad_hess(lambda b: bf_loglik(time, event, z_of_t, b), theta, h)
    np.testing.assert_allclose(grad, g_num, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(info, -h_num, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("transform", ["km", "rank", "identity", "log"])
def test_zph_with_ties_matches_numeric_score_test(transform):
    r = load_rossi()
    cols = ["fin", "age", "prio"]
    x = r[cols].to_numpy(float)
    fit = cox_ph(r["week"], r["arrest"], x, names=cols)
    zph = cox_zph(r["week"], r["arrest"], x, fit, transform=transform)
    chisq, global_chisq = _bf_zph(r["week"], r["arrest"], x, fit.coef, transform)
    np.testing.assert_allclose(zph.chisq, chisq, rtol=1e-9)
    assert zph.global_chisq == pytest.approx(global_chisq, rel=1e-9)
    np.testing.assert_allclose(zph.p, stats.chi2.sf(zph.chisq, 1), rtol=1e-12)


def test_zph_stratified_with_ties_matches_numeric_score_test():
    r = load_rossi()
    cols = ["fin", "age", "prio"]
    x = r[cols].to_numpy(float)
    fit = cox_ph(r["week"], r["arrest"], x, strata=r["wexp"])
    zph = cox_zph(r["week"], r["arrest"], x, fit, strata=r["wexp"])
    chisq, global_chisq = _bf_zph(r["week"], r["arrest"], x, fit.coef, "km", strata=r["wexp"].to_numpy())
    np.testing.assert_allclose(zph.chisq, chisq, rtol=1e-9)
    assert zph.global_chisq == pytest.approx(global_chisq, rel=1e-9)


def test_zph_rejects_mismatched_fit_and_unknown_transform():
    fit = cox_ph(TEST1_TIME, TEST1_STATUS, TEST1_X)
    with pytest.raises(ValueError, match="number of coefficients"):
        cox_zph(TEST1_TIME, TEST1_STATUS, np.column_stack([TEST1_X, TEST1_X]), fit)
    with pytest.raises(ValueError, match="transform"):
        cox_zph(TEST1_TIME, TEST1_STATUS, TEST1_X, fit, transform="sqrt")


# ------------------------------------------------------------------------------------------------------
# edge cases
# ------------------------------------------------------------------------------------------------------


def test_monotone_likelihood_reports_non_convergence_without_crashing():
    # x = 1 has no events: the partial likelihood increases monotonically as beta -> -infinity
    time = np.array([1, 2, 3, 4, 5, 6, 7, 8.0])
    event = np.array([1, 1, 1, 0, 1, 1, 0, 1])
    x = np.array([0, 0, 0, 1, 0, 0, 1, 0.0])
    with pytest.warns(RuntimeWarning, match="may be infinite"):
        fit = cox_ph(time, event, x)
    assert isinstance(fit, CoxResult)
    assert not fit.converged
    assert fit.coef[0] < -10 and fit.se[0] > 1e3 and fit.hr[0] < 1e-4
    assert np.isfinite(fit.loglik) and fit.lr_chisq > 0 and 0 <= fit.p[0] <= 1
    # with a second, well-behaved covariate only the diverging one is flagged
    x2 = np.column_stack([x, np.arange(8) % 3])
    with pytest.warns(RuntimeWarning, match="coefficient\\(s\\) x1 may"):
        fit2 = cox_ph(time, event, x2)
    assert not fit2.converged and np.isfinite(fit2.se[1]) and fit2.se[1] < 10


def test_single_stratum_equals_unstratified():
    r = load_rossi()
    x = r[["fin", "age", "prio"]].to_numpy(float)
    a = cox_ph(r["week"], r["arrest"], x, cluster=r.index % 37)
    b = cox_ph(r["week"], r["arrest"], x, strata=np.ones(len(r)), cluster=r.index % 37)
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-12)
    np.testing.assert_allclose(a.var, b.var, rtol=1e-10)
    np.testing.assert_allclose(a.robust_var, b.robust_var, rtol=1e-10)
    assert a.loglik == pytest.approx(b.loglik, rel=1e-14)


def test_two_column_x_names_and_string_strata():
    d = _lung(["inst"])
    x = d[["sex", "age"]].to_numpy(float)
    fit = cox_ph(d["time"], d["status"], x, names=["sex", "age"], strata=d["inst"].map(lambda v: f"inst-{v:g}"))
    ref = cox_ph(d["time"], d["status"], x, strata=d["inst"])
    assert fit.names == ["sex", "age"] and ref.names == ["x1", "x2"]
    np.testing.assert_allclose(fit.coef, ref.coef, rtol=1e-12)
    assert fit.var.shape == (2, 2) and fit.lr_df == 2
    one = cox_ph(d["time"], d["status"], d["sex"])
    assert one.names == ["x"]


def test_level_changes_only_the_interval():
    d = _lung()
    a = cox_ph(d["time"], d["status"], d["sex"])
    b = cox_ph(d["time"], d["status"], d["sex"], level=0.9)
    assert b.level == 0.9 and b.coef[0] == a.coef[0]
    zq = stats.norm.ppf(0.95)
    assert b.hr_lower[0] == pytest.approx(np.exp(b.coef[0] - zq * b.se[0]), rel=1e-12)
    assert b.hr_lower[0] > a.hr_lower[0]


def test_input_validation():
    with pytest.raises(ValueError, match="no events"):
        cox_ph([1, 2, 3], [0, 0, 0], [0, 1, 0])
    with pytest.raises(ValueError, match="singular"):
        cox_ph([1, 2, 3, 4], [1, 1, 0, 1], [1, 1, 1, 1])
    with pytest.raises(ValueError, match="finite"):
        cox_ph([1, 2, 3], [1, 1, 1], [0, np.nan, 1])
    with pytest.raises(ValueError, match="0 \\(censored\\) / 1"):
        cox_ph([1, 2, 3], [1, 2, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="names"):
        cox_ph([1, 2, 3], [1, 1, 1], [0, 1, 1], names=["a", "b"])


def test_ten_thousand_rows_with_strata_and_clusters_converge():
    # (its speed is a benchmark's business, not a test's: a slow shared machine must not fail it)
    rng = np.random.default_rng(5)
    n = 10_000
    x = np.column_stack([rng.integers(0, 2, n), rng.normal(size=n), rng.normal(size=n)])
    time = np.round(rng.exponential(np.exp(-x @ [0.5, 0.2, -0.1])) * 100)
    event = rng.random(n) < 0.7
    strata = rng.integers(0, 20, n)
    cluster = rng.integers(0, 300, n)
    fit = cox_ph(time, event, x, strata=strata, cluster=cluster)
    zph = cox_zph(time, event, x, fit, strata=strata)
    assert fit.converged
    assert np.all(np.isfinite(fit.robust_se)) and np.all(np.asarray(zph.p) >= 0)
