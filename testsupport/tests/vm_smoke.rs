//! VM suite smoke test: the VM runner boots a kernel with IPVS, and ipvsadm can write and read
//! it back there.

use std::process::Command;

use ha_testsupport::{Lab, modprobe, require_vm};

fn ipvsadm(args: &[&str]) -> String {
    let out = Command::new("ipvsadm")
        .args(args)
        .output()
        .expect("run ipvsadm");
    assert!(
        out.status.success(),
        "ipvsadm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "vm suite: needs the VM kernel; run by cargo xtask test"]
fn vm_ipvsadm_writes_and_reads_back_a_service() {
    require_vm();
    modprobe(&["ip_vs"]);
    ipvsadm(&["-C"]);
    ipvsadm(&["-A", "-t", "10.10.0.1:80", "-s", "rr"]);
    ipvsadm(&[
        "-a",
        "-t",
        "10.10.0.1:80",
        "-r",
        "10.10.0.11:80",
        "-g",
        "-w",
        "3",
    ]);
    let saved = ipvsadm(&["-Sn"]);
    assert_eq!(
        saved.lines().collect::<Vec<_>>(),
        [
            "-A -t 10.10.0.1:80 -s rr",
            "-a -t 10.10.0.1:80 -r 10.10.0.11:80 -g -w 3"
        ],
        "ipvsadm -Sn read back:\n{saved}"
    );
    ipvsadm(&["-C"]);
    assert_eq!(ipvsadm(&["-Sn"]).trim(), "");
}

#[test]
#[ignore = "vm suite: needs the VM kernel; run by cargo xtask test"]
fn vm_netns_topologies_work_in_the_vm() {
    require_vm();
    modprobe(&["veth", "bridge"]);
    let mut lab = Lab::new("vm");
    let a = lab.add_host("a", &["10.79.0.1/24"]);
    lab.add_host("b", &["10.79.0.2/24"]);
    a.sh("ping -c 1 -W 2 10.79.0.2");
}
