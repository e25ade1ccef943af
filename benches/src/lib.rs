//! Benchmark support crate: criterion benches of harness internals live in `benches/`.
