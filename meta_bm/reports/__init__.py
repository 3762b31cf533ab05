"""What the pooled results look like to a reader: figures and the HTML report (no Dagster here).

* :mod:`meta_bm.reports.figures`: KM curves with numbers at risk, forest plots, and the reconstruction
  overlay of a study (digitized clicks vs the reconstructed KM); matplotlib on the Agg canvas, no pyplot.
* :mod:`meta_bm.reports.html`: the self-contained ``report.html`` with every table as CSV, and the
  results in the studies' layout (median [95% CI], HR [95% CI], p), as the report shows and the CLI prints.

Nothing is imported here, so ``import meta_bm.reports.html`` does not load matplotlib.
"""
