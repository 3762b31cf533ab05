"""One analysis's figure set: what is written (PNG 300 dpi, SVG, PDF), and stale files removed without touching
another analysis whose id shares the prefix."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from PIL import Image

from meta_bm.analysis.adhoc import analyze_table
from meta_bm.reports.analysis_figures import write_analysis_figures

DATA = Path(__file__).parents[1] / "analysis" / "data"


def test_twelve_studies_get_every_figure_and_stale_files_go(tmp_path):
    df = pl.read_csv(DATA / "os_many_studies.csv")
    res = analyze_table(df, "time", "event", "group", study="study_id", reference="non_surgical", rmst_horizon=24)
    figs = tmp_path / "figures"
    figs.mkdir()
    (figs / "forest_adhoc_gone.png").write_bytes(b"not ours: 'gone' is no group of this analysis")
    (figs / "forest_adhoc_re_resection_old.png").write_bytes(b"not ours either")
    (figs / "funnel_adhoc_x_re_resection.png").write_bytes(b"analysis adhoc_x")
    (figs / "forest_adhoc.svg").write_bytes(b"an earlier version's single forest plot")
    written = write_analysis_figures(res, figs)
    stems = {
        "km_adhoc",
        "forest_adhoc_re_resection",
        "leave1out_adhoc_re_resection",
        "cumulative_adhoc_re_resection",
        "funnel_adhoc_re_resection",  # 12 studies: Egger and the funnel plot
    }
    assert set(written) == stems
    for stem in stems:
        assert all((figs / f"{stem}.{ext}").stat().st_size > 1000 for ext in ("png", "svg", "pdf"))
    with Image.open(figs / "km_adhoc.png") as im:
        assert round(im.info["dpi"][0]) == 300
    assert not (figs / "forest_adhoc.svg").exists()
    for other in ("forest_adhoc_gone.png", "forest_adhoc_re_resection_old.png", "funnel_adhoc_x_re_resection.png"):
        assert (figs / other).exists(), other
    # three studies: no funnel plot, and the one of the run before is removed
    few = analyze_table(
        df.filter(pl.col("study_id").is_in(["study_01", "study_02", "study_03"])),
        "time",
        "event",
        "group",
        study="study_id",
        reference="non_surgical",
        rmst_horizon=24,
    )
    assert set(write_analysis_figures(few, figs)) == stems - {"funnel_adhoc_re_resection"}
    assert not list(figs.glob("funnel_adhoc_re_resection.*"))


def test_worker_pool_writes_the_same_figures_and_reraises_a_workers_error(tmp_path):
    from meta_bm.reports.analysis_figures import FigurePool

    df = pl.read_csv(DATA / "os_many_studies.csv")
    res = analyze_table(df, "time", "event", "group", study="study_id", reference="non_surgical", rmst_horizon=24)
    inline = write_analysis_figures(res, tmp_path / "inline")
    with FigurePool(workers=2) as pool:
        pool.submit(res, tmp_path / "pool")
        written = pool.wait()
    assert set(written) == {"adhoc"} and set(written["adhoc"]) == set(inline)
    for stem, path in inline.items():  # drawn by another process, byte for byte the same image
        assert written["adhoc"][stem].read_bytes() == path.read_bytes(), stem
    # a worker that cannot save (a folder where the PNG goes) fails the wait, naming the file
    (tmp_path / "bad" / "km_adhoc.png").mkdir(parents=True)
    with FigurePool(workers=1) as pool:
        pool.submit(res, tmp_path / "bad")
        with pytest.raises(OSError, match=r"km_adhoc\.png"):
            pool.wait()
