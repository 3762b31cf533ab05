# Reference values from R survival 3.5 / metafor 3.8 for meta_bm's pooled-analysis tests.
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
  if (length(yi) >= 2) {
    for (m in c("FE", "DL", "REML")) {
      r <- rma(yi, vi, method = m, control = list(threshold = 1e-10, maxiter = 1000))
      p <- predict(r)
      res[[m]] <- list(estimate = unname(r$b[1]), se = r$se, pval = r$pval, tau2 = r$tau2, I2 = r$I2, QE = r$QE,
                       QEp = r$QEp, pi_lb = p$pi.lb %||% p$ci.lb, pi_ub = p$pi.ub %||% p$ci.ub)
    }
  }
  meta[[lv]] <- res
}
out$meta <- meta
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null"), args[3])
