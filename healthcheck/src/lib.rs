//! Real-server health checks under a sans-io scheduler.
#![warn(missing_docs)]

/// Placeholder until the scheduler lands.
pub const CRATE: &str = "ha-healthcheck";

#[cfg(test)]
mod tests {
    #[test]
    fn name() {
        assert_eq!(super::CRATE, "ha-healthcheck");
    }
}
