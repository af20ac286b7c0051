//! Property tests: round trips, and arbitrary bytes never panic the parsers.

use std::net::{Ipv4Addr, Ipv6Addr};

use ha_arp::wire::frame::{ArpFrame, MAX_FRAME_LEN, NaFrame};
use ha_arp::wire::{arp, ethernet, ipv6, ndisc};
use ha_arp::{FrameRepr, GarpForm, MacAddr};
use proptest::prelude::*;

fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

fn op() -> impl Strategy<Value = arp::Operation> {
    any::<u16>().prop_map(arp::Operation::from)
}

fn arp_frame() -> impl Strategy<Value = FrameRepr> {
    (
        mac(),
        mac(),
        op(),
        mac(),
        any::<[u8; 4]>(),
        mac(),
        any::<[u8; 4]>(),
    )
        .prop_map(|(d, s, operation, sha, spa, tha, tpa)| {
            FrameRepr::Arp(ArpFrame {
                eth_dst: d,
                eth_src: s,
                arp: arp::Repr {
                    operation,
                    source_hardware_addr: sha,
                    source_protocol_addr: Ipv4Addr::from(spa),
                    target_hardware_addr: tha,
                    target_protocol_addr: Ipv4Addr::from(tpa),
                },
            })
        })
}

fn na_frame() -> impl Strategy<Value = FrameRepr> {
    (
        mac(),
        mac(),
        any::<u128>(),
        any::<u128>(),
        any::<(bool, bool, bool)>(),
        any::<u128>().prop_filter("target not multicast", |t| {
            !Ipv6Addr::from(*t).is_multicast()
        }),
        proptest::option::of(mac()),
    )
        .prop_map(|(d, s, src, dst, (r, sol, o), target, ll)| {
            let dst = Ipv6Addr::from(dst);
            FrameRepr::Na(NaFrame {
                eth_dst: d,
                eth_src: s,
                src_addr: Ipv6Addr::from(src),
                dst_addr: dst,
                na: ndisc::Repr {
                    router: r,
                    // RFC 4861 7.1.2: S must be clear when sent to multicast.
                    solicited: sol && !dst.is_multicast(),
                    override_flag: o,
                    target_addr: Ipv6Addr::from(target),
                    target_lladdr: ll,
                },
            })
        })
}

proptest! {
    #[test]
    fn arp_round_trip(repr in arp_frame()) {
        let mut buf = [0xa5u8; MAX_FRAME_LEN];
        let n = repr.emit(&mut buf);
        prop_assert_eq!(n, repr.buffer_len());
        prop_assert_eq!(FrameRepr::parse(&buf[..n]), Ok(repr));
    }

    #[test]
    fn na_round_trip(repr in na_frame()) {
        let mut buf = [0xa5u8; MAX_FRAME_LEN];
        let n = repr.emit(&mut buf);
        prop_assert_eq!(n, repr.buffer_len());
        prop_assert_eq!(FrameRepr::parse(&buf[..n]), Ok(repr));
    }

    #[test]
    fn gratuitous_helpers_round_trip(m in mac(), a in any::<[u8; 4]>(), t in any::<u128>(), form_idx in any::<u8>(), router in any::<bool>()) {
        let form = [GarpForm::Request, GarpForm::RequestBroadcastTarget, GarpForm::Reply][usize::from(form_idx % 3)];
        let g = FrameRepr::gratuitous_arp(m, Ipv4Addr::from(a), form);
        let mut buf = [0u8; MAX_FRAME_LEN];
        let n = g.emit(&mut buf);
        let parsed = FrameRepr::parse(&buf[..n]).unwrap();
        let FrameRepr::Arp(f) = parsed else { panic!("not ARP") };
        prop_assert!(f.arp.is_gratuitous());
        let t = Ipv6Addr::from(t);
        prop_assume!(!t.is_multicast());
        let na = FrameRepr::unsolicited_na(m, t, t, router);
        let n = na.emit(&mut buf);
        prop_assert_eq!(FrameRepr::parse(&buf[..n]), Ok(na));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = FrameRepr::parse(&bytes);
        exercise_views(&bytes);
    }

    /// Valid frames with a few bytes changed reach the deeper validation paths.
    #[test]
    fn mutated_frames_never_panic(
        repr in prop_oneof![arp_frame(), na_frame()],
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let mut buf = [0u8; MAX_FRAME_LEN];
        let n = repr.emit(&mut buf);
        for (i, v) in edits {
            buf[i % n] = v;
        }
        let len = if cut % 3 == 0 { cut % (n + 1) } else { n };
        let _ = FrameRepr::parse(&buf[..len]);
        exercise_views(&buf[..len]);
    }
}

/// After `new_checked` succeeds, no accessor panics.
fn exercise_views(bytes: &[u8]) {
    if let Ok(f) = ethernet::Frame::new_checked(bytes) {
        let _ = (f.dst_addr(), f.src_addr(), f.ethertype(), f.payload().len());
    }
    for off in [0, 14] {
        let b = bytes.get(off..).unwrap_or(&[]);
        if let Ok(p) = arp::Packet::new_checked(b) {
            let _ = (
                p.hardware_type(),
                p.protocol_type(),
                p.hardware_len(),
                p.protocol_len(),
                p.operation(),
            );
            let _ = (
                p.source_hardware_addr(),
                p.source_protocol_addr(),
                p.target_hardware_addr(),
                p.target_protocol_addr(),
            );
            let _ = arp::Repr::parse(&p);
        }
        if let Ok(p) = ipv6::Packet::new_checked(b) {
            let _ = (
                p.version(),
                p.traffic_class(),
                p.flow_label(),
                p.payload_len(),
                p.next_header(),
            );
            let _ = (p.hop_limit(), p.src_addr(), p.dst_addr(), p.payload().len());
            let _ = ipv6::Repr::parse(&p);
        }
        if let Ok(p) = ndisc::Packet::new_checked(b) {
            let _ = (
                p.msg_type(),
                p.msg_code(),
                p.checksum(),
                p.flags(),
                p.target_addr(),
                p.options().len(),
            );
            let _ = ndisc::Repr::parse(&p, &Ipv6Addr::UNSPECIFIED, &Ipv6Addr::LOCALHOST);
        }
    }
}
