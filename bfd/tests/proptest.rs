//! Property tests of the codec: round trips, and decoding arbitrary bytes never panics.

use ha_bfd::packet::{self, Auth, Diagnostic, Flags, Packet, Password, Repr, State};
use proptest::prelude::*;

fn arb_auth() -> impl Strategy<Value = Auth> {
    prop_oneof![
        (any::<u8>(), proptest::collection::vec(any::<u8>(), 1..=16)).prop_map(|(key_id, pw)| {
            Auth::SimplePassword {
                key_id,
                password: Password::new(&pw).unwrap(),
            }
        }),
        (any::<u8>(), any::<u32>(), any::<[u8; 16]>()).prop_map(|(key_id, sequence, digest)| {
            Auth::KeyedMd5 {
                key_id,
                sequence,
                digest,
            }
        }),
        (any::<u8>(), any::<u32>(), any::<[u8; 16]>()).prop_map(|(key_id, sequence, digest)| {
            Auth::MeticulousKeyedMd5 {
                key_id,
                sequence,
                digest,
            }
        }),
        (any::<u8>(), any::<u32>(), any::<[u8; 20]>()).prop_map(|(key_id, sequence, hash)| {
            Auth::KeyedSha1 {
                key_id,
                sequence,
                hash,
            }
        }),
        (any::<u8>(), any::<u32>(), any::<[u8; 20]>()).prop_map(|(key_id, sequence, hash)| {
            Auth::MeticulousKeyedSha1 {
                key_id,
                sequence,
                hash,
            }
        }),
    ]
}

fn arb_repr() -> impl Strategy<Value = Repr> {
    (
        (0u8..32, 0u8..4, any::<[bool; 5]>(), any::<u8>()),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
        ),
        proptest::option::of(arb_auth()),
    )
        .prop_map(
            |((diag, state, f, detect_mult), (my, your, tx, rx, echo), auth)| Repr {
                diagnostic: Diagnostic::from_bits(diag),
                state: State::from_bits(state),
                flags: Flags {
                    poll: f[0],
                    final_: f[1],
                    control_plane_independent: f[2],
                    demand: f[3],
                    multipoint: f[4],
                },
                detect_mult,
                my_discriminator: my,
                your_discriminator: your,
                desired_min_tx_us: tx,
                required_min_rx_us: rx,
                required_min_echo_rx_us: echo,
                auth,
            },
        )
}

proptest! {
    #[test]
    fn round_trip(repr in arb_repr()) {
        let bytes = repr.to_bytes();
        prop_assert_eq!(bytes.len(), repr.buffer_len());
        prop_assert_eq!(packet::decode(&bytes), Ok(repr));
        // Emitting into a dirty buffer writes exactly buffer_len bytes.
        let mut buf = [0xa5u8; 80];
        let n = repr.emit(&mut buf);
        prop_assert_eq!(&buf[..n], bytes.as_slice());
        prop_assert!(buf[n..].iter().all(|b| *b == 0xa5));
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(repr) = packet::decode(&bytes) {
            // Whatever parses re-emits to bytes that parse to the same value (the reserved
            // byte of keyed authentication is not kept: zero on transmit, RFC 5880 4.3).
            prop_assert_eq!(packet::decode(&repr.to_bytes()), Ok(repr));
            let _ = repr.check_reception(false);
            let _ = repr.check_reception(true);
        }
        if let Ok(p) = Packet::new_checked(&bytes[..]) {
            let _ = (p.state(), p.flags(), p.auth_bytes(), p.diagnostic());
        }
    }

    #[test]
    fn header_mutations_never_panic(repr in arb_repr(), at in 0usize..52, value in any::<u8>()) {
        let mut bytes = repr.to_bytes().as_slice().to_vec();
        if at < bytes.len() {
            bytes[at] = value;
        }
        let _ = packet::decode(&bytes);
    }
}

/// The fuzz seeds are valid packets (so the fuzzer starts from the interesting paths).
#[test]
fn fuzz_seeds_decode() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/decode");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let repr = packet::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(repr.to_bytes().as_slice(), &bytes[..], "{}", path.display());
        n += 1;
    }
    assert!(n >= 4, "{n} seeds");
}
