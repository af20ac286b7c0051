//! Host suite: the lab itself works (namespaces, bridge, processes, captures, link cuts,
//! partitions, cleanup).

use std::time::Duration;

use ha_testsupport::{Lab, require_root, tshark_fields, wait_until};

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_lab_hosts_reach_each_other_and_captures_see_it() {
    require_root();
    let mut lab = Lab::new("self");
    let a = lab.add_host("a", &["10.77.0.1/24", "fd77::1/64"]);
    let b = lab.add_host("b", &["10.77.0.2/24", "fd77::2/64"]);
    assert_eq!(a.ifname(), "eth0");
    assert_ne!(a.mac(), b.mac());
    assert!(a.addresses().contains(&"10.77.0.1/24".to_owned()));

    let cap = lab.capture(&b, "eth0", Some("icmp or icmp6"));
    a.sh("ping -c 2 -i 0.2 -W 2 10.77.0.2");
    a.sh("ping -6 -c 1 -W 2 fd77::2");
    let pcap = cap.stop();
    let rows = tshark_fields(&pcap, "icmp.type == 8", &["ip.src", "ip.dst"]);
    assert_eq!(rows.len(), 2, "two echo requests seen: {rows:?}");
    assert_eq!(
        rows[0],
        vec!["10.77.0.1".to_owned(), "10.77.0.2".to_owned()]
    );
    let rows6 = tshark_fields(&pcap, "icmpv6.type == 128", &["ipv6.src"]);
    assert_eq!(rows6, vec![vec!["fd77::1".to_owned()]]);

    // run_in really runs inside the namespace: the interface list is the host's.
    let names = a.run_in(|| {
        std::fs::read_dir("/sys/class/net")
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
    });
    assert!(names.contains(&"eth0".to_owned()), "{names:?}");
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_lab_cut_isolate_and_processes() {
    require_root();
    let mut lab = Lab::new("cut");
    let a = lab.add_host("a", &["10.78.0.1/24"]);
    let b = lab.add_host("b", &["10.78.0.2/24"]);
    let ping = |h: &ha_testsupport::Host| h.exec(&["ping", "-c", "1", "-W", "1", "10.78.0.2"]);

    lab.isolate(&a);
    assert!(!ping(&a).status.success(), "isolated host still reaches b");
    assert!(
        a.sh("ip link show eth0").contains("LOWER_UP"),
        "isolate keeps carrier"
    );
    lab.heal(&a);
    assert!(
        wait_until(Duration::from_secs(5), || ping(&a).status.success()),
        "healed host reaches b"
    );

    lab.cut_link(&a);
    assert!(
        wait_until(Duration::from_secs(5), || a
            .sh("ip link show eth0")
            .contains("NO-CARRIER")),
        "cut link shows no carrier"
    );
    lab.restore_link(&a);
    assert!(wait_until(Duration::from_secs(5), || ping(&a)
        .status
        .success()));

    let p = lab.spawn(&b, &["sleep", "60"]);
    assert!(p.is_running());
    let first = p.pid();
    p.restart();
    assert!(p.is_running());
    assert_ne!(first, p.pid());
    p.kill(libc::SIGKILL);
    assert!(!p.is_running());
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_lab_cleans_up_on_drop_and_panic() {
    require_root();
    let exists = |ns: &str| std::path::Path::new("/run/netns").join(ns).exists();
    let (host_ns, switch_ns) = {
        let mut lab = Lab::new("drop");
        let a = lab.add_host("a", &[]);
        assert!(exists(a.netns()) && exists(lab.switch_netns()));
        (a.netns().to_owned(), lab.switch_netns().to_owned())
    };
    assert!(
        !exists(&host_ns) && !exists(&switch_ns),
        "drop removed the namespaces"
    );
    let made = std::sync::Mutex::new(Vec::new());
    let r = std::panic::catch_unwind(|| {
        let mut lab = Lab::new("panic");
        let a = lab.add_host("a", &[]);
        made.lock().unwrap().push(a.netns().to_owned());
        made.lock().unwrap().push(lab.switch_netns().to_owned());
        panic!("deliberate");
    });
    assert!(r.is_err());
    let made = made.into_inner().unwrap();
    assert_eq!(made.len(), 2);
    assert!(
        made.iter().all(|ns| !exists(ns)),
        "a panicking test cleaned up too"
    );
}
