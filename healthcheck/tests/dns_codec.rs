//! The DNS codec (`wire::dns`) against an independent one (hickory-proto): our queries parse
//! there, and the answers it builds (with name compression) read back here with the same
//! text, for every record type the DNS check names.

use std::net::{Ipv4Addr, Ipv6Addr};

use ha_healthcheck::wire::dns::{MAX_QUERY_LEN, Reply, encode_query, rtype};
use hickory_proto::op::{Message, MessageType, Query};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    proptest::collection::vec("[a-z0-9][a-z0-9-]{0,12}", 1..5).prop_map(|l| l.join("."))
}

fn rdata() -> impl Strategy<Value = RData> {
    let n = || name().prop_map(|s| Name::from_ascii(format!("{s}.")).unwrap());
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| RData::A(A(Ipv4Addr::from(o)))),
        any::<[u8; 16]>().prop_map(|o| RData::AAAA(AAAA(Ipv6Addr::from(o)))),
        n().prop_map(|x| RData::NS(NS(x))),
        n().prop_map(|x| RData::CNAME(CNAME(x))),
        n().prop_map(|x| RData::PTR(PTR(x))),
        (any::<u16>(), n()).prop_map(|(p, x)| RData::MX(MX::new(p, x))),
        (any::<u16>(), any::<u16>(), any::<u16>(), n())
            .prop_map(|(p, w, port, x)| RData::SRV(SRV::new(p, w, port, x))),
        (n(), n(), any::<[u32; 4]>(), any::<u32>()).prop_map(|(m, r, t, min)| RData::SOA(
            SOA::new(
                m,
                r,
                t[0],
                t[1] as i32 & 0x7fff_ffff,
                t[2] as i32 & 0x7fff_ffff,
                t[3] as i32 & 0x7fff_ffff,
                min
            )
        )),
        proptest::collection::vec("[ -~]{0,30}", 1..4).prop_map(|t| RData::TXT(TXT::new(t))),
    ]
}

fn type_of(d: &RData) -> u16 {
    u16::from(d.record_type())
}

proptest! {
    #[test]
    fn query_parses_in_hickory(qname in name(), id in any::<u16>(),
                               qtype in prop::sample::select(vec![rtype::A, rtype::AAAA,
                                   rtype::NS, rtype::CNAME, rtype::SOA, rtype::MX,
                                   rtype::TXT, rtype::PTR, rtype::SRV])) {
        let mut buf = [0u8; MAX_QUERY_LEN];
        let n = encode_query(id, &qname, qtype, &mut buf).unwrap();
        let m = Message::from_vec(&buf[..n]).unwrap();
        prop_assert_eq!(m.id(), id);
        prop_assert_eq!(m.message_type(), MessageType::Query);
        prop_assert!(m.recursion_desired());
        prop_assert_eq!(m.queries().len(), 1);
        let q = &m.queries()[0];
        prop_assert_eq!(q.name().to_ascii(), format!("{qname}."));
        prop_assert_eq!(u16::from(q.query_type()), qtype);
    }

    #[test]
    fn hickory_answers_read_back(qname in name(), rcode in 0u8..6,
                                 data in proptest::collection::vec(rdata(), 0..6)) {
        let owner = Name::from_ascii(format!("{qname}.")).unwrap();
        let mut m = Message::new();
        m.set_id(0x5a5a).set_message_type(MessageType::Response);
        m.set_response_code(hickory_proto::op::ResponseCode::from(0, rcode));
        m.add_query(Query::query(owner.clone(), RecordType::A));
        for d in &data {
            m.add_answer(Record::from_rdata(owner.clone(), 60, d.clone()));
        }
        let bytes = m.to_vec().unwrap();
        let r = Reply::parse(&bytes).unwrap();
        prop_assert_eq!(r.id, 0x5a5a);
        prop_assert_eq!(r.rcode, rcode);
        let (q, qt) = r.question.unwrap();
        prop_assert!(q.eq_dotted(&qname));
        prop_assert_eq!(qt, rtype::A);
        let got: Vec<_> = r.answers().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(got.len(), data.len());
        for (g, d) in got.iter().zip(&data) {
            prop_assert_eq!(g.rtype, type_of(d));
            prop_assert_eq!(g.ttl, 60);
            prop_assert!(g.name.eq_dotted(&qname));
            // The text the check compares `expect_answer` with is hickory's text.
            prop_assert_eq!(g.data.to_string(), d.to_string());
        }
    }
}
