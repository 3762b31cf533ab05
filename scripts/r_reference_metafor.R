# Reference values from R metafor 3.8-1 for meta_bm's meta-analysis extensions (knha, leave1out, cumul,
# meta-regression, regtest). Not run by the tests (CI has no R): its output is committed as
# meta_bm_tests/metaanalysis/data/metafor_reference.r.json.
# Usage (from the repository root):
#   Rscript scripts/r_reference_metafor.R meta_bm_tests/metaanalysis/data/metafor_reference.r.json
# Needs metafor and jsonlite. REML is iterated as meta_bm does: control = list(threshold = 1e-10, maxiter = 1000).
suppressMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out_path <- if (length(args) >= 1) args[1] else "metafor_reference.r.json"
ctl <- list(threshold = 1e-10, maxiter = 1000)
`%||%` <- function(a, b) if (is.null(a)) b else a

# ---- data sets --------------------------------------------------------------------------------------
bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
# A made-up set of 12 log hazard ratios with standard errors (values chosen by hand, not from a study);
# the years are out of study order, with a tie (2012), to exercise cumul(order=).
hr_yi <- c(-0.35, -0.12, -0.48, 0.05, -0.29, -0.61, -0.18, -0.05, -0.42, -0.22, 0.10, -0.33)
hr_se <- c(0.21, 0.15, 0.28, 0.19, 0.11, 0.33, 0.17, 0.24, 0.14, 0.09, 0.26, 0.20)
hr_year <- c(2011, 2005, 2014, 2003, 2016, 2008, 2012, 2020, 2009, 2018, 2006, 2012)
datasets <- list(
  bcg = list(labels = paste(bcg$author, bcg$year), yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi),
             x = bcg$ablat, order = bcg$year),
  loghr12 = list(labels = sprintf("trial %02d", 1:12), yi = hr_yi, vi = hr_se^2, x = hr_year, order = hr_year),
  # the pipeline example's per-study Cox log HRs (re_resection vs reference, scripts/r_reference_pooled.R)
  pipeline_k3 = list(labels = c("institutional_2025", "lindqvist_2013", "tanaka_2015"),
                     yi = c(-0.571019443879682, 0.427773690047261, -1.31319773808935),
                     vi = c(0.0850578797974804, 0.0806385254870093, 0.151474805759024),
                     x = c(2025, 2013, 2015), order = c(2025, 2013, 2015)),
  two = list(labels = c("A", "B"), yi = c(-0.5, 0.4), vi = c(0.02, 0.05), x = c(1, 2), order = c(2, 1)),
  # homogeneous: Q below its df, so DL/REML tau^2 = 0
  homog = list(labels = paste("s", 1:5), yi = c(0.2, 0.25, 0.15, 0.22, 0.18), vi = c(0.04, 0.05, 0.03, 0.06, 0.02),
               x = c(0.5, 1.5, 1.0, 2.5, 2.0), order = c(5, 4, 3, 2, 1))
)

fitinfo <- function(r) {
  p <- predict(r)
  list(k = r$k, estimate = unname(r$b[1]), se = r$se, zval = r$zval, pval = r$pval, ci_lb = r$ci.lb,
       ci_ub = r$ci.ub, dfs = r$dfs %||% NA, test_used = r$test, tau2 = r$tau2, se_tau2 = r$se.tau2 %||% NA,
       I2 = r$I2, H2 = r$H2, QE = r$QE, QEp = r$QEp, pi_lb = p$pi.lb %||% p$ci.lb, pi_ub = p$pi.ub %||% p$ci.ub)
}
tabinfo <- function(t) {
  t <- unclass(t)
  list(estimate = t$estimate, se = t$se, stat = t$zval %||% t$tval, pval = t$pval %||% t$pvals, ci_lb = t$ci.lb,
       ci_ub = t$ci.ub, Q = t$Q, Qp = t$Qp, tau2 = t$tau2, I2 = t$I2, H2 = t$H2, order = t$ids %||% t$slab)
}

rma_out <- list(); l1o_out <- list(); cum_out <- list(); mreg_out <- list(); reg_out <- list()
for (nm in names(datasets)) {
  d <- datasets[[nm]]
  for (m in c("FE", "DL", "REML")) for (tst in c("z", "knha")) {
    r <- rma(d$yi, d$vi, method = m, test = tst, control = ctl)
    rma_out[[length(rma_out) + 1]] <- c(list(dataset = nm, method = m, test = tst, level = 0.95), fitinfo(r))
    l1 <- suppressWarnings(leave1out(r))
    l1o_out[[length(l1o_out) + 1]] <- c(list(dataset = nm, method = m, test = tst), tabinfo(l1))
    cu <- suppressWarnings(cumul(r, order = d$order))
    cum_out[[length(cum_out) + 1]] <- c(list(dataset = nm, method = m, test = tst, by = "order"), tabinfo(cu))
  }
  # 90% level, and cumulative in study order
  r <- rma(d$yi, d$vi, method = "REML", test = "knha", level = 90, control = ctl)
  rma_out[[length(rma_out) + 1]] <- c(list(dataset = nm, method = "REML", test = "knha", level = 0.90), fitinfo(r))
  cu <- suppressWarnings(cumul(rma(d$yi, d$vi, method = "DL", control = ctl)))
  cum_out[[length(cum_out) + 1]] <- c(list(dataset = nm, method = "DL", test = "z", by = "study"), tabinfo(cu))
  if (length(d$yi) >= 3) {
    for (m in c("FE", "DL", "REML")) for (tst in c("z", "knha")) {
      r <- rma(d$yi, d$vi, mods = ~ d$x, method = m, test = tst, control = ctl)
      mreg_out[[length(mreg_out) + 1]] <- list(
        dataset = nm, method = m, test = tst, k = r$k, b = unname(as.numeric(r$b)), se = unname(r$se),
        stat = unname(r$zval), pval = unname(r$pval), ci_lb = unname(r$ci.lb), ci_ub = unname(r$ci.ub),
        dfs = r$dfs %||% NA, tau2 = r$tau2, se_tau2 = r$se.tau2 %||% NA, I2 = r$I2, H2 = r$H2, QE = r$QE,
        QEp = r$QEp, QM = r$QM, QMp = r$QMp, vb = unname(as.numeric(vcov(r))))
      if (tst == "z" || m == "REML") {
        g <- regtest(rma(d$yi, d$vi, method = m, test = tst, control = ctl))
        reg_out[[length(reg_out) + 1]] <- list(
          dataset = nm, model = "rma", method = m, test = tst, stat = g$zval, pval = g$pval, dfs = g$dfs %||% NA,
          est = g$est, ci_lb = g$ci.lb, ci_ub = g$ci.ub, tau2 = g$fit$tau2, slope = unname(g$fit$b[2]),
          QE = g$fit$QE, QEp = g$fit$QEp)
      }
    }
    g <- regtest(rma(d$yi, d$vi, control = ctl), model = "lm")
    reg_out[[length(reg_out) + 1]] <- list(
      dataset = nm, model = "lm", method = NA, test = "t", stat = g$zval, pval = g$pval, dfs = g$dfs, est = g$est,
      ci_lb = g$ci.lb, ci_ub = g$ci.ub, slope = unname(coef(g$fit)[2]),
      sigma2 = summary(g$fit)$sigma^2)
  }
}
# two moderators (absolute latitude and year) on dat.bcg
mreg2_out <- list()
for (m in c("FE", "DL", "REML")) for (tst in c("z", "knha")) {
  r <- rma(yi, vi, mods = ~ ablat + year, data = bcg, method = m, test = tst, control = ctl)
  mreg2_out[[length(mreg2_out) + 1]] <- list(
    dataset = "bcg", method = m, test = tst, k = r$k, b = unname(as.numeric(r$b)), se = unname(r$se),
    stat = unname(r$zval), pval = unname(r$pval), ci_lb = unname(r$ci.lb), ci_ub = unname(r$ci.ub),
    dfs = r$dfs %||% NA, tau2 = r$tau2, se_tau2 = r$se.tau2 %||% NA, I2 = r$I2, H2 = r$H2, QE = r$QE,
    QEp = r$QEp, QM = r$QM, QMp = r$QMp, vb = unname(as.numeric(vcov(r))))
}
out <- list(metafor = as.character(packageVersion("metafor")), R = R.version.string, datasets = datasets,
            rma = rma_out, leave1out = l1o_out, cumul = cum_out, metareg = mreg_out, metareg2 = mreg2_out, regtest = reg_out)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null"), out_path)
