"""Truth sets for the reconstruction benchmark: the public datasets are the published ones, the simulated
trials are reproducible and sized as documented."""

from __future__ import annotations

import numpy as np

from meta_bm.simulation import parametric_pairs, public_pairs


def test_public_pairs_are_the_published_datasets():
    pairs = {p.name: p for p in public_pairs()}
    assert len(pairs) == 10

    def counts(name: str) -> list[tuple[int, int]]:
        return [(t.size, int(e.sum())) for t, e in pairs[name].arms]

    # R survival: survdiff(Surv(time, status) ~ sex, lung): sex=1 N=138, 112 deaths; sex=2 N=90, 53 deaths
    assert counts("lung:sex") == [(138, 112), (90, 53)]
    # Freireich's 6-MP trial: all 21 placebo patients relapsed, 9 of the 21 on 6-MP
    assert counts("leukemia:Rx") == [(21, 21), (21, 9)]
    # Rossi et al. recidivism: 432 released prisoners, half given financial aid; 66 vs 48 arrested
    assert counts("rossi:fin") == [(216, 66), (216, 48)]
    # GBSG2 (German Breast Cancer Study Group 2): 440 without and 246 with hormonal therapy; 205 and 94 events
    assert counts("gbsg2:horTh") == [(440, 205), (246, 94)]
    for p in pairs.values():
        for t, e in p.arms:
            assert t.size == e.size > 0 and np.all(t >= 0) and set(np.unique(e)) <= {0, 1}, p.name


def test_parametric_pairs_are_reproducible_by_seed():
    a = list(parametric_pairs(6, seed=3))
    b = list(parametric_pairs(6, seed=3))
    for pa, pb in zip(a, b, strict=True):
        assert pa.name == pb.name
        for (ta, ea), (tb, eb) in zip(pa.arms, pb.arms, strict=True):
            np.testing.assert_array_equal(ta, tb)
            np.testing.assert_array_equal(ea, eb)
    # a generator: the first pairs do not depend on how many are asked for
    first = next(iter(parametric_pairs(50, seed=3)))
    np.testing.assert_array_equal(first.arms[1][0], a[0].arms[1][0])
    other = next(iter(parametric_pairs(1, seed=4)))
    assert not np.array_equal(other.arms[0][0], a[0].arms[0][0])


def test_parametric_pairs_arm_sizes_as_documented():
    pairs = list(parametric_pairs(200, seed=2012))
    assert [p.name for p in pairs[:2]] == ["weibull000", "weibull001"]
    sizes = [(p.arms[0][0].size, p.arms[1][0].size) for p in pairs]
    assert {n for n, _ in sizes} <= {25, 40, 60, 90, 130, 200, 300, 400}
    for n, m in sizes:
        # the other arm: 0.6-1.4 times the reference arm (truncated to an integer), at least 15
        assert m == 15 or int(0.6 * n) <= m <= int(1.4 * n), (n, m)
    for p in pairs:
        for t, e in p.arms:
            assert np.all(t >= 0) and set(np.unique(e)) <= {0, 1} and 0 < e.sum() <= t.size
