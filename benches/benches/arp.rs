//! Benchmarks (placeholder: being written).
fn main() {}
