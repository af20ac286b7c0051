//! The Linux IPVS generic-netlink API (family `IPVS`, version 1).
#![warn(missing_docs)]

/// The generic netlink family name of IPVS (`IPVS_GENL_NAME`).
pub const FAMILY_NAME: &str = "IPVS";

#[cfg(test)]
mod tests {
    #[test]
    fn family_name() {
        assert_eq!(super::FAMILY_NAME, "IPVS");
    }
}
