//! Criterion benchmarks of the ha-* crates live in `benches/`; this library is empty.
#![warn(missing_docs)]
#![forbid(unsafe_code)]
