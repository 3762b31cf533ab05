# Reference values from R survival 3.5 / metafor 3.8 for meta_bm's pooled-analysis tests: KM, median CIs,
# landmarks, RMST, log-rank (plain and stratified), Cox (plain, stratified, cluster-robust), cox.zph, shared gamma
# frailty (R's default fit and the profile maximum), and per contrast rma FE/DL/REML (z and knha), leave1out,
# cumul and, with >= 10 studies, regtest (rma and lm).
# Not run by the tests (CI has no R): its output is committed as meta_bm_tests/analysis/data/*.r.json.
# Usage: Rscript scripts/r_reference_pooled.R IN.csv REFERENCE_GROUP OUT.json [landmark ...]
suppressMessages({library(survival); library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
ref <- args[2]
landmarks <- if (length(args) > 3) as.numeric(args[4:length(args)]) else c(6, 12, 24)
horizon <- 24
levels_ <- c(ref, setdiff(sort(unique(d$group)), ref))
d$g <- factor(d$group, levels = levels_)
out <- list(survival = as.character(packageVersion("survival")), metafor = as.character(packageVersion("metafor")))
groups <- list()
for (lv in sort(unique(d$group))) {
  s <- d[d$group == lv, ]
  fl <- survfit(Surv(time, event) ~ 1, data = s, conf.type = "log", timefix = FALSE)
  fll <- survfit(Surv(time, event) ~ 1, data = s, conf.type = "log-log", timefix = FALSE)
  ql <- quantile(fl, 0.5); qll <- quantile(fll, 0.5)
  sm <- summary(fl, times = landmarks, extend = TRUE)
  rm <- summary(fl, rmean = horizon)$table
  groups[[lv]] <- list(n = nrow(s), events = sum(s$event),
    median = unname(ql$quantile), log_lower = unname(ql$lower), log_upper = unname(ql$upper),
    loglog_lower = unname(qll$lower), loglog_upper = unname(qll$upper),
    landmark_surv = sm$surv, landmark_se = sm$std.err, landmark_lower = sm$lower, landmark_upper = sm$upper,
    rmst = unname(rm["rmean"]), rmst_se = unname(rm["se(rmean)"]))
}
out$groups <- groups
lr <- survdiff(Surv(time, event) ~ g, data = d)
lrs <- survdiff(Surv(time, event) ~ g + strata(study_id), data = d)
out$logrank <- list(chisq = lr$chisq, p = pchisq(lr$chisq, length(lr$n) - 1, lower.tail = FALSE))
out$logrank_strat <- list(chisq = lrs$chisq, p = pchisq(lrs$chisq, length(levels_) - 1, lower.tail = FALSE))
cox <- function(f) {
  fit <- coxph(f, data = d, ties = "efron", timefix = FALSE, control = coxph.control(eps = 1e-12, toler.chol = 1e-15, iter.max = 50))
  s <- summary(fit)
  list(coef = unname(coef(fit)), se = unname(sqrt(diag(fit$naive.var %||% fit$var))),
       robust_se = if (!is.null(fit$naive.var)) unname(sqrt(diag(fit$var))) else NULL,
       p = unname(s$coefficients[, ncol(s$coefficients)]),
       lr = unname(s$logtest["test"]), lr_p = unname(s$logtest["pvalue"]),
       wald = unname(fit$wald.test), score = unname(fit$score), loglik = fit$loglik)
}
`%||%` <- function(a, b) if (is.null(a)) b else a
out$cox_unstratified <- cox(Surv(time, event) ~ g)
out$cox_stratified <- cox(Surv(time, event) ~ g + strata(study_id))
out$cox_cluster <- cox(Surv(time, event) ~ g + cluster(study_id))
fit <- coxph(Surv(time, event) ~ g, data = d, ties = "efron", timefix = FALSE, control = coxph.control(eps = 1e-12, toler.chol = 1e-15))
z <- cox.zph(fit, terms = FALSE)
out$zph <- list(chisq = unname(z$table[, "chisq"]), p = unname(z$table[, "p"]))
# two-stage: per study with both groups, each non-reference level vs reference
meta <- list()
for (lv in setdiff(levels_, ref)) {
  yi <- c(); vi <- c(); st <- c()
  for (sid in sort(unique(d$study_id))) {
    s <- d[d$study_id == sid & d$group %in% c(lv, ref), ]
    if (length(unique(s$group)) < 2) next
    if (min(tapply(s$event, s$group, sum)) == 0) next
    f <- coxph(Surv(time, event) ~ I(group == lv), data = s, ties = "efron", timefix = FALSE,
               control = coxph.control(eps = 1e-12, toler.chol = 1e-15))
    yi <- c(yi, unname(coef(f))); vi <- c(vi, unname(f$var[1, 1])); st <- c(st, sid)
  }
  res <- list(studies = st, yi = yi, vi = vi)
  ctl <- list(threshold = 1e-10, maxiter = 1000)
  if (length(yi) >= 2) {
    for (m in c("FE", "DL", "REML")) {
      r <- rma(yi, vi, method = m, control = ctl)
      p <- predict(r)
      res[[m]] <- list(estimate = unname(r$b[1]), se = r$se, pval = r$pval, tau2 = r$tau2, I2 = r$I2, QE = r$QE,
                       QEp = r$QEp, pi_lb = p$pi.lb %||% p$ci.lb, pi_ub = p$pi.ub %||% p$ci.ub)
    }
    # Hartung-Knapp-Sidik-Jonkman (test = "knha"): t with k - 1 df, SE rescaled (not truncated)
    for (m in c("DL", "REML")) {
      r <- rma(yi, vi, method = m, test = "knha", control = ctl)
      p <- predict(r)
      res[[paste0(m, "_knha")]] <- list(estimate = unname(r$b[1]), se = r$se, pval = r$pval, ci_lb = r$ci.lb,
                                        ci_ub = r$ci.ub, pi_lb = p$pi.lb, pi_ub = p$pi.ub)
    }
    reml <- rma(yi, vi, method = "REML", control = ctl)
    l1 <- leave1out(reml)
    res$leave1out <- list(estimate = unname(l1$estimate), se = unname(l1$se), pval = unname(l1$pval),
                          ci_lb = unname(l1$ci.lb), ci_ub = unname(l1$ci.ub), tau2 = unname(l1$tau2),
                          I2 = unname(l1$I2), Q = unname(l1$Q), Qp = unname(l1$Qp))
    # cumulative in study order (meta_bm adds studies by publication year, then study id; the test data have
    # no years, so study id order)
    cu <- cumul(reml, order = seq_along(yi))
    res$cumul <- list(estimate = unname(cu$estimate), se = unname(cu$se), pval = unname(cu$pval),
                      ci_lb = unname(cu$ci.lb), ci_ub = unname(cu$ci.ub), tau2 = unname(cu$tau2), I2 = unname(cu$I2))
    if (length(yi) >= 10) {
      eg <- regtest(reml)
      el <- regtest(reml, model = "lm")
      res$regtest_rma <- list(zval = eg$zval, pval = eg$pval, est = unname(eg$est), ci_lb = unname(eg$ci.lb),
                              ci_ub = unname(eg$ci.ub))
      res$regtest_lm <- list(tval = el$zval, dfs = el$dfs, pval = el$pval, est = unname(el$est),
                             ci_lb = unname(el$ci.lb), ci_ub = unname(el$ci.ub))
    }
  }
  meta[[lv]] <- res
}
out$meta <- meta
# Shared gamma frailty by study: R's default fit (its own outer search for theta) and the maximum of the
# profile of its corrected log-likelihood c.loglik over fixed-theta fits.
frail_fit <- function(theta = NULL) {
  if (is.null(theta)) return(coxph(Surv(time, event) ~ g + frailty(study_id), data = d, timefix = FALSE))
  # fixed theta (the profile): each fit converged tightly, so c.loglik is smooth in theta
  f <- Surv(time, event) ~ g + frailty(study_id, theta = theta)
  environment(f) <- environment()
  coxph(f, data = d, timefix = FALSE, control = coxph.control(eps = 1e-13, toler.chol = 1e-15, iter.max = 1000))
}
frail_out <- function(fit) {
  h <- fit$history[[1]]
  # the theta of the last fit of R's outer search, the one its coefficients belong to and print() shows as
  # "Variance of random effect" (h$theta is the search's next proposal, never fitted)
  theta <- if (!is.null(h$history)) unname(h$history[nrow(h$history), 1]) else h$theta
  list(coef = unname(coef(fit)), se = unname(sqrt(diag(fit$var))), theta = theta, c_loglik = h$c.loglik)
}
out$frailty_default <- frail_out(frail_fit())
prof <- optimize(function(th) frail_fit(th)$history[[1]]$c.loglik, c(1e-6, 5), maximum = TRUE, tol = 1e-9)
out$frailty_profile <- frail_out(frail_fit(prof$maximum))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null"), args[3])
