//! Which cargo feature runs which check: a build without a probe's feature says so with a
//! typed [`Failure::FeatureDisabled`] (from [`Check::missing_feature`] at configuration
//! time, and from `probe::run` if such a check is run anyway), never a silent pass.

use crate::check::Check;
use crate::outcome::Failure;

/// True if this build of the crate has `feature`.
#[allow(
    clippy::match_like_matches_macro,
    reason = "with every feature on, each arm is `true`; the match keeps one arm per feature"
)]
fn built(feature: &str) -> bool {
    match feature {
        "tcp" => cfg!(feature = "tcp"),
        "http" => cfg!(feature = "http"),
        "tls" => cfg!(feature = "tls"),
        "dns" => cfg!(feature = "dns"),
        _ => false,
    }
}

impl Check {
    /// The kind of check for messages (`HTTPS`, `DNS`, ...) and the cargo feature of this
    /// crate whose probe runs it: `tcp` (TCP, UDP, ping, script, SMTP, file, maintenance),
    /// `http`, `tls` (HTTP with TLS) or `dns`.
    #[must_use]
    pub fn feature(&self) -> (&'static str, &'static str) {
        match self {
            Check::Tcp(_) => ("TCP", "tcp"),
            Check::Http(h) if h.tls.is_some() => ("HTTPS", "tls"),
            Check::Http(_) => ("HTTP", "http"),
            Check::Dns(_) => ("DNS", "dns"),
            Check::Smtp(_) => ("SMTP", "tcp"),
            Check::Udp(_) => ("UDP", "tcp"),
            Check::Ping(_) => ("ping", "tcp"),
            Check::Script(_) => ("script", "tcp"),
            Check::File(_) => ("file", "tcp"),
            Check::Maintenance(_) => ("maintenance", "tcp"),
        }
    }

    /// `Some(Failure::FeatureDisabled)` when this build cannot run the check (its feature,
    /// see [`Check::feature`], is off); a configuration loader can refuse such a check
    /// before any probe runs.
    #[must_use]
    pub fn missing_feature(&self) -> Option<Failure> {
        self.missing_feature_in(built)
    }

    fn missing_feature_in(&self, has: impl Fn(&str) -> bool) -> Option<Failure> {
        let (check, feature) = self.feature();
        (!has(feature)).then_some(Failure::FeatureDisabled { check, feature })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{DnsCheck, DnsType, HttpCheck, TcpCheck, TlsOptions, TlsVerify};

    fn checks() -> Vec<Check> {
        let addr = "192.0.2.1:80".parse().unwrap();
        let mut https = HttpCheck::new(addr, "/");
        https.tls = Some(TlsOptions::new(TlsVerify::Off));
        vec![
            Check::Tcp(TcpCheck::new(addr)),
            Check::from(HttpCheck::new(addr, "/")),
            Check::from(https),
            Check::Dns(DnsCheck::new(addr, "example.org", DnsType::A)),
        ]
    }

    #[test]
    fn each_check_names_its_feature() {
        let got: Vec<_> = checks()
            .iter()
            .map(|c| c.missing_feature_in(|_| false))
            .collect();
        let want = [
            ("TCP", "tcp"),
            ("HTTP", "http"),
            ("HTTPS", "tls"),
            ("DNS", "dns"),
        ]
        .map(|(check, feature)| Some(Failure::FeatureDisabled { check, feature }));
        assert_eq!(got, want);
        assert_eq!(
            want[2].as_ref().unwrap().to_string(),
            "HTTPS check not built: ha-healthcheck feature `tls` is off"
        );
        // Only the named feature matters: a TLS build without `dns` refuses DNS only.
        let tls_only = |f: &str| f != "dns";
        let refused: Vec<_> = checks()
            .iter()
            .filter_map(|c| c.missing_feature_in(tls_only))
            .collect();
        assert_eq!(
            refused,
            [Failure::FeatureDisabled {
                check: "DNS",
                feature: "dns"
            }]
        );
    }
}
