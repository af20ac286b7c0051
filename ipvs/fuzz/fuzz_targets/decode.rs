//! Fuzz the IPVS reply decoder: datagram splitting, attribute parsing and the
//! conversion to the model must never panic.
#![no_main]

use ha_ipvs::netlink_packet_core::NetlinkPayload;
use ha_ipvs::wire::{CmdAttr, IpvsCmd, decode_datagram, parse_cmd_attrs};
use ha_ipvs::{Destination, Family, Service, SyncDaemon};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for m in decode_datagram(data) {
        let Ok(m) = m else { break };
        if let NetlinkPayload::InnerMessage(g) = m.payload {
            for a in &g.payload.attrs {
                match a {
                    CmdAttr::Service(s) => {
                        let _ = Service::from_attrs(s);
                    }
                    CmdAttr::Dest(d) => {
                        let _ = Destination::from_attrs(d, Family::Inet6);
                    }
                    CmdAttr::Daemon(d) => {
                        let _ = SyncDaemon::from_attrs(d);
                    }
                    _ => {}
                }
            }
        }
    }
    let _ = parse_cmd_attrs(data, IpvsCmd::SetInfo);
});
