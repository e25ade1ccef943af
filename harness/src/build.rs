//! Builds function binaries per architecture (Go cross-compile) and caches them by content hash.
