//! The results store: run directory, provenance manifest, raw samples, HdrHistogram logs.
