//! Pure statistics: percentiles, confidence intervals, comparisons. Each function cites its method.
//!
//! Everything here is a pure function of its inputs: no I/O, no clocks, and randomness only from
//! an explicit `seed`. Values carry the unit of the samples they were computed from (for example
//! latencies in `_ms` in, quantiles in `_ms` out); ratios are unitless.
//!
//! Non-finite inputs (NaN, ±inf) are rejected with [`StatsError::NonFinite`], never skipped, so a
//! bad measurement cannot silently vanish from a report.

mod error;

pub mod bootstrap;
pub mod ci;
pub mod compare;
pub mod mannwhitney;
pub mod noise;
pub mod quantile;
pub mod summary;
#[cfg(test)]
mod testdata;

pub use bootstrap::{
    bootstrap_quantile_ratio, bootstrap_quantile_ratio_runs, bootstrap_ratio, geometric_mean,
    BootstrapOpts, RatioEstimate,
};
pub use ci::{
    mean_ci, median_ci, order_stat_indices, quantile_ci, IndexMethod, MeanInterval,
    OrderStatInterval, EXACT_BINOMIAL_MAX_N,
};
pub use compare::{
    classify, classify_runs, ratio_between, CompareOpts, Comparison, Metric, Verdict,
};
pub use error::StatsError;
pub use mannwhitney::{mann_whitney, MannWhitney};
pub use noise::{RunNoise, NOISE_LEVEL};
pub use quantile::{
    quantile, quantile_sorted, select_quantile, sorted_finite, PERCENTILE_DEFINITION,
};
pub use summary::Summary;
