//! The error type of `crate::stats` and the one input check every entry point shares.

/// Errors from the statistics functions: bad inputs or parameters, never internal failures.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// A sample that must hold at least one value was empty.
    #[error(
        "sample `{which}` is empty; collect at least one measurement before computing statistics"
    )]
    Empty { which: &'static str },
    /// A sample held NaN or ±inf; these are rejected, not skipped.
    #[error("sample `{which}` holds a non-finite value ({value}) at index {index}; drop or fix that measurement")]
    NonFinite {
        which: &'static str,
        index: usize,
        value: f64,
    },
    /// A probability parameter (quantile order, confidence level, alpha) was out of range.
    #[error("parameter `{name}` = {value} is out of range; it must lie in {range}")]
    OutOfRange {
        name: &'static str,
        value: f64,
        range: &'static str,
    },
    /// The bootstrap was asked for zero resamples.
    #[error("`resamples` must be at least 1 (2000 is the usual choice)")]
    NoResamples,
    /// A ratio's denominator statistic was zero or not finite, so the ratio is undefined.
    #[error("the statistic of sample `{which}` is {value}, so a ratio against it is undefined; use a metric that is positive for this sample")]
    BadDenominator { which: &'static str, value: f64 },
}

/// Check that `data` is non-empty and every value is finite; `which` names the sample in errors.
pub(crate) fn check_sample(which: &'static str, data: &[f64]) -> Result<(), StatsError> {
    if data.is_empty() {
        return Err(StatsError::Empty { which });
    }
    match data.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(StatsError::NonFinite {
            which,
            index,
            value: data[index],
        }),
        None => Ok(()),
    }
}

/// Check `lo < value < hi` (open interval) for a named probability parameter.
pub(crate) fn check_open_unit(name: &'static str, value: f64) -> Result<(), StatsError> {
    if value > 0.0 && value < 1.0 {
        Ok(())
    } else {
        Err(StatsError::OutOfRange {
            name,
            value,
            range: "the open interval (0, 1)",
        })
    }
}
