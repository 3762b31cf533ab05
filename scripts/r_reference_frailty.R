# Reference values from R survival 3.5 for meta_bm's gamma-frailty Cox model (meta_bm/survival/frailty.py).
# Not run by the tests (CI has no R): its output is committed as meta_bm_tests/survival/data/frailty_*.r.json.
# Usage, from the repository root:  Rscript scripts/r_reference_frailty.R
# Inputs: meta_bm_tests/survival/data/frailty_kidney.csv (R's survival::kidney, written by this script),
#         meta_bm_tests/survival/data/frailty_sim.csv (simulated, see test_frailty.py),
#         meta_bm_tests/analysis/data/os_rr_ns.csv and os_three_arms.csv (the pipeline's pooled data).
# For each data set: R's default fit (coxph(Surv(time, event) ~ x + frailty(cluster))), the profile maximum of
# c.loglik (optimize() over theta with fixed-theta fits converged tightly), and fixed-theta fits.
suppressMessages({library(survival); library(jsonlite)})
dir <- "meta_bm_tests/survival/data"
tight <- coxph.control(eps = 1e-13, toler.chol = 1e-15, iter.max = 1000, timefix = FALSE)

summ <- function(fit) {
  h <- fit$history[[1]]
  list(coef = unname(coef(fit)), se = unname(sqrt(diag(fit$var))), se2 = unname(sqrt(diag(fit$var2))),
       theta = if (!is.null(h$history)) unname(h$history[nrow(h$history), 1]) else h$theta,
       loglik = fit$loglik[2], c_loglik = h$c.loglik, outer = fit$iter[1], newton = fit$iter[2],
       frail = fit$frail,
       history = if (!is.null(h$history)) unname(h$history) else NULL)
}
`%||%` <- function(a, b) if (is.null(a)) b else a

reference <- function(d, rhs, cluster, out, fixed_thetas, interval, profile = TRUE) {
  d$cl <- d[[cluster]]
  f_default <- as.formula(paste("Surv(time, event) ~", rhs, "+ frailty(cl)"))
  fit <- coxph(f_default, data = d, control = coxph.control(timefix = FALSE))
  res <- list(survival = as.character(packageVersion("survival")), levels = levels(factor(d$cl)),
              r_default = summ(fit))
  if (is.null(fit$frail)) {  # <= 5 clusters: R's non-sparse frailty, the frailties are coefficients
    k <- grep("^gamma:", names(coef(fit)))
    res$r_default$frail <- unname(coef(fit)[k]); res$r_default$coef <- unname(coef(fit)[-k])
    res$r_default$se <- unname(sqrt(diag(fit$var)))[-k]; res$r_default$se2 <- NULL
  }
  fixed_fit <- function(theta, control) {
    f <- as.formula(paste("Surv(time, event) ~", rhs, "+ frailty(cl, theta =", format(theta, digits = 17), ")"))
    ft <- coxph(f, data = d, control = control)
    s <- summ(ft)
    if (is.null(ft$frail)) {
      k <- grep("^gamma:", names(coef(ft)))
      s$frail <- unname(coef(ft)[k]); s$coef <- unname(coef(ft)[-k]); s$se <- unname(sqrt(diag(ft$var)))[-k]
      s$se2 <- NULL
    }
    s
  }
  # fixed theta with R's default control (as a user would run it) and converged tightly
  res$fixed <- lapply(fixed_thetas, function(th) fixed_fit(th, coxph.control(timefix = FALSE)))
  res$fixed_tight <- lapply(fixed_thetas, function(th) fixed_fit(th, tight))
  if (profile) {
    cl <- function(th) fixed_fit(th, tight)$c_loglik
    opt <- optimize(cl, interval, maximum = TRUE, tol = 1e-10)
    res$profile <- fixed_fit(opt$maximum, tight)
    res$profile$theta <- opt$maximum
  }
  writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, na = "null"), file.path(dir, out))
}

kidney <- survival::kidney[, c("id", "time", "status", "age", "sex")]
write.csv(kidney, file.path(dir, "frailty_kidney.csv"), row.names = FALSE)
kidney$event <- kidney$status
reference(kidney, "age + sex", "id", "frailty_kidney.r.json", c(0.3, 1), c(0.05, 2))

for (fn in c("os_rr_ns", "os_three_arms")) {
  d <- read.csv(file.path("meta_bm_tests/analysis/data", paste0(fn, ".csv")), stringsAsFactors = FALSE)
  d$g <- factor(d$group, levels = c("non_surgical", setdiff(sort(unique(d$group)), "non_surgical")))
  reference(d, "g", "study_id", paste0("frailty_", fn, ".r.json"), c(0.3, 0.05), c(0.001, 1))
}
# <= 5 clusters: R's non-sparse frailty (full information matrix)
d <- read.csv("meta_bm_tests/analysis/data/os_three_arms.csv", stringsAsFactors = FALSE)
d <- d[d$study_id %in% c("brandt_2018", "haddad_2020", "lindqvist_2013", "wright_2023"), ]
d$g <- factor(d$group, levels = c("non_surgical", setdiff(sort(unique(d$group)), "non_surgical")))
reference(d, "g", "study_id", "frailty_four_studies.r.json", c(0.3), c(0.001, 1))

sim <- read.csv(file.path(dir, "frailty_sim.csv"))
reference(sim, "x", "cluster", "frailty_sim.r.json", c(0.3), c(0.01, 3))
