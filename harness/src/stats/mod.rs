//! Pure statistics: percentiles, confidence intervals, comparisons. Each function cites its method.
