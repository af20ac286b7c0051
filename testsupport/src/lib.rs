//! Test support for host network tests.
#![warn(missing_docs)]
