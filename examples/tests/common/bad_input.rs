//! The malformed configuration files of the bad-input tables, shared by `director_bad_input`
//! (each reader, in process), `host_director_reload_bad_input` and `vm_ldirectord` (each as
//! a reload of a running director, which must keep its configuration). Each case names the
//! place its first error must give (`file:line:column`: the files are `k.conf`, `d.toml`,
//! `l.cf`, and heartbeat's `ha.cf`, `haresources`, `authkeys`) and the words that say what is
//! wrong. Each test uses the tables of the readers it drives.
#![allow(dead_code)]

/// One malformed input: its name, its text, and what the first error must contain (all of
/// the fragments, the first one being the place).
pub struct Case {
    /// What is wrong, in a few words.
    pub name: &'static str,
    /// The whole file.
    pub text: &'static str,
    /// Every fragment one error must contain.
    pub expect: &'static [&'static str],
}

/// One malformed heartbeat directory: ha.cf, haresources and authkeys.
pub struct HbCase {
    /// What is wrong, in a few words.
    pub name: &'static str,
    /// ha.cf, haresources, authkeys.
    pub files: [&'static str; 3],
    /// Every fragment one error must contain.
    pub expect: &'static [&'static str],
}

/// A valid keepalived.conf instance (every case breaks something like it).
pub const VI: &str = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  priority 100\n  virtual_ipaddress {\n    10.0.0.100\n  }\n}\n";

/// A valid TOML configuration.
pub const TOML_OK: &str =
    "[[instances]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\n";

/// A valid ha.cf: nodes alpha and beta.
pub const HA_CF: &str =
    "keepalive 1\ndeadtime 10\nbcast eth0\nnode alpha\nnode beta\nauto_failback on\n";
/// A valid haresources: alpha holds 10.0.0.100.
pub const HARESOURCES: &str = "alpha 10.0.0.100\n";
/// A valid authkeys (mode 0600 when written).
pub const AUTHKEYS: &str = "auth 1\n1 sha1 secret\n";

/// keepalived.conf, read as `k.conf`.
pub const KEEPALIVED: &[Case] = &[
    Case {
        name: "unterminated block",
        text: "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n",
        expect: &["k.conf:1:20", "never closed"],
    },
    Case {
        name: "stray closing brace",
        text: "}\n",
        expect: &["k.conf:1:1", "unexpected `}`"],
    },
    Case {
        name: "VRID out of range",
        text: "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 256\n  virtual_ipaddress {\n    10.0.0.100\n  }\n}\n",
        expect: &["k.conf:3:3", "virtual_router_id", "\"256\"", "1..=255"],
    },
    Case {
        name: "priority out of range",
        text: "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  priority 300\n  virtual_ipaddress {\n    10.0.0.100\n  }\n}\n",
        expect: &["k.conf:4:3", "priority", "\"300\"", "1..=255"],
    },
    Case {
        name: "bad address",
        text: "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    10.0.0.300\n  }\n}\n",
        expect: &["k.conf:5:5", "bad value \"10.0.0.300\"", "ADDRESS"],
    },
    Case {
        name: "duplicate VRID on one interface",
        text: "vrrp_instance A {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    10.0.0.100\n  }\n}\nvrrp_instance B {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    10.0.0.101\n  }\n}\n",
        expect: &[
            "k.conf:8:1",
            "vrid 51 on eth0 is already used by instance \"A\"",
        ],
    },
    Case {
        name: "one VIP in two instances",
        text: "vrrp_instance A {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    10.0.0.100\n  }\n}\nvrrp_instance B {\n  interface eth0\n  virtual_router_id 52\n  virtual_ipaddress {\n    10.0.0.100\n  }\n}\n",
        expect: &[
            "k.conf:8:1",
            "10.0.0.100 on eth0 is also an address of instance \"A\"",
        ],
    },
    Case {
        name: "include that does not exist",
        text: "include /nonexistent/ha-bad-input.conf\n",
        expect: &[
            "k.conf:1:1",
            "/nonexistent/ha-bad-input.conf",
            "No such file",
        ],
    },
    Case {
        name: "include of a device",
        text: "include /dev/zero\n",
        expect: &["k.conf:1:1", "/dev/zero", "a device"],
    },
    Case {
        name: "include of a directory",
        text: "include /\n",
        expect: &["k.conf:1:1", "a directory"],
    },
];

/// The TOML configuration, read as `d.toml`.
pub const TOML: &[Case] = &[
    Case {
        name: "unterminated table header",
        text: "[[instances]\nname = \"VI_1\"\n",
        expect: &["d.toml:1:13", "unclosed"],
    },
    Case {
        name: "unterminated string",
        text: "[[instances]]\nname = \"VI_1\ninterface = \"eth0\"\n",
        expect: &["d.toml:2:13", "string"],
    },
    Case {
        name: "unknown key",
        text: "[[instances]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\nno_such_key = 1\n",
        expect: &["d.toml:6:1", "unknown field `no_such_key`"],
    },
    Case {
        name: "VRID out of range",
        text: "[[instances]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 300\nvips = [\"10.0.0.100/24\"]\n",
        expect: &["d.toml:2:1", "vrid 300 is outside 1..=255"],
    },
    Case {
        name: "duplicate VRID on one interface",
        text: "[[instances]]\nname = \"A\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\n[[instances]]\nname = \"B\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.101/24\"]\n",
        expect: &[
            "d.toml:7:1",
            "vrid 51 on eth0 is already used by instance \"A\"",
        ],
    },
    Case {
        name: "one VIP in two instances",
        text: "[[instances]]\nname = \"A\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\n[[instances]]\nname = \"B\"\ninterface = \"eth0\"\nvrid = 52\nvips = [\"10.0.0.100/24\"]\n",
        expect: &[
            "d.toml:7:1",
            "10.0.0.100 on eth0 is also an address of instance \"A\"",
        ],
    },
    Case {
        name: "wrong type",
        text: "[[instances]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = \"fifty-one\"\nvips = [\"10.0.0.100/24\"]\n",
        expect: &["d.toml:4:8", "invalid type"],
    },
];

/// ldirectord.cf, read as `l.cf`.
pub const LDIRECTORD: &[Case] = &[
    Case {
        name: "unknown directive",
        text: "checktimeout=3\nno_such_directive=1\n",
        expect: &["l.cf:2:1", "no_such_directive"],
    },
    Case {
        name: "real server outside a virtual",
        text: "real=10.0.0.2:80 gate\n",
        expect: &["l.cf:1:1", "only valid inside a virtual section"],
    },
    Case {
        name: "bad port",
        text: "virtual=10.0.0.100:99999\n\treal=10.0.0.2:80 gate\n",
        expect: &["l.cf:1:9", "\"99999\""],
    },
    Case {
        name: "bad forwarding method",
        text: "virtual=10.0.0.100:80\n\treal=10.0.0.2:80 teleport\n",
        expect: &["l.cf:2:7", "forwarding method \"teleport\""],
    },
];

/// heartbeat's three files.
pub const HEARTBEAT: &[HbCase] = &[
    HbCase {
        name: "unknown directive",
        files: [
            "keepalive 1\ndeadtime 10\nno_such_directive 1\nbcast eth0\nnode alpha\nnode beta\n",
            HARESOURCES,
            AUTHKEYS,
        ],
        expect: &["ha.cf:3:1", "no_such_directive"],
    },
    HbCase {
        name: "deadtime not above twice keepalive",
        files: [
            "keepalive 2\ndeadtime 3\nbcast eth0\nnode alpha\nnode beta\n",
            HARESOURCES,
            AUTHKEYS,
        ],
        expect: &["ha.cf:2:", "deadtime"],
    },
    HbCase {
        name: "bad time",
        files: [
            "keepalive soon\ndeadtime 10\nbcast eth0\nnode alpha\nnode beta\n",
            HARESOURCES,
            AUTHKEYS,
        ],
        expect: &["ha.cf:1:", "soon"],
    },
    HbCase {
        name: "resource group of an unknown node",
        files: [HA_CF, "gamma 10.0.0.100\n", AUTHKEYS],
        expect: &["haresources:1:1", "gamma"],
    },
    HbCase {
        name: "authkeys selects a missing key",
        files: [HA_CF, HARESOURCES, "auth 2\n1 sha1 secret\n"],
        expect: &["authkeys:1:", "`auth 2` names key 2", "listed: 1)"],
    },
    HbCase {
        name: "authkeys unknown method",
        files: [HA_CF, HARESOURCES, "auth 1\n1 rot13 secret\n"],
        expect: &["authkeys:2:", "rot13"],
    },
];
