//! Host suite: this host kernel has no IPVS, so connecting must say so plainly.
#![cfg(feature = "tokio")]

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_missing_ipvs_is_reported_plainly() {
    ha_testsupport::require_root();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let has_ipvs = std::path::Path::new("/proc/net/ip_vs").exists();
    // Without loading a module: the plain "not found".
    match rt.block_on(ha_ipvs::Client::connect_no_load()) {
        Ok(c) => assert!(
            has_ipvs,
            "connected (family {}) but /proc/net/ip_vs is absent",
            c.family_id()
        ),
        Err(e) => {
            assert!(!has_ipvs, "kernel has IPVS but connect failed: {e}");
            assert!(matches!(e, ha_ipvs::Error::FamilyNotFound), "{e:?}");
            assert_eq!(
                e.to_string(),
                "IPVS generic netlink family not found: is the ip_vs module loaded?"
            );
        }
    }
    // Loading it as ipvsadm does: this kernel has no module to load, and the error says what
    // modprobe said.
    match rt.block_on(ha_ipvs::Client::connect()) {
        Ok(_) => assert!(has_ipvs || std::path::Path::new("/proc/net/ip_vs").exists()),
        Err(e) => {
            assert!(matches!(e, ha_ipvs::Error::ModuleNotLoaded { .. }), "{e:?}");
            let msg = e.to_string();
            assert!(msg.contains("modprobe ip_vs"), "{msg}");
            assert!(msg.contains("CONFIG_IP_VS"), "{msg}");
        }
    }
}
