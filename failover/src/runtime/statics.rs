//! keepalived's `static_ipaddress`, `static_routes` and `static_rules`: set at start, whatever
//! the VRRP state, and removed at stop, as keepalived does (it also removes leftovers of an
//! earlier run before adding them: here an address or route that exists is replaced, a rule
//! that exists is kept).

use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::rule::RuleMessage;

use super::config::Statics;
use super::error::DirectorRunError;
use super::netlink::{Addresses, Vip};
use super::route::RouteSpec;
use super::rule::RuleSpec;

/// What [`install`] set, for [`remove`].
#[derive(Debug, Default)]
pub(super) struct Installed {
    addresses: Vec<Vip>,
    routes: Vec<(RouteMessage, String)>,
    rules: Vec<(RuleMessage, String)>,
}

fn nl(what: String) -> impl FnOnce(super::netlink::NetlinkError) -> DirectorRunError {
    move |source| DirectorRunError::Netlink { what, source }
}

/// Parses and sets the static addresses, routes and rules (in that order). Anything that
/// cannot be understood or set stops the start, naming it; what was set is removed then.
pub(super) async fn install(addrs: &Addresses, s: &Statics) -> Result<Installed, DirectorRunError> {
    let mut done = Installed::default();
    match install_into(addrs, s, &mut done).await {
        Ok(()) => Ok(done),
        Err(e) => {
            remove(addrs, done).await;
            Err(e)
        }
    }
}

async fn install_into(
    addrs: &Addresses,
    s: &Statics,
    done: &mut Installed,
) -> Result<(), DirectorRunError> {
    for a in &s.addresses {
        let Some(dev) = &a.dev else {
            return Err(DirectorRunError::Static {
                what: format!("address {}/{}", a.addr, a.prefix),
                detail: "a static address needs `dev`".into(),
            });
        };
        let ifindex = addrs
            .ifindex(dev)
            .await
            .map_err(nl(format!("static address {}: interface {dev}", a.addr)))?;
        let vip = Vip {
            ifindex,
            addr: a.addr,
            prefix: a.prefix,
        };
        addrs
            .add(vip)
            .await
            .map_err(nl(format!("static address {vip}")))?;
        done.addresses.push(vip);
    }
    for text in &s.routes {
        let spec = RouteSpec::parse(text).map_err(|e| DirectorRunError::Static {
            what: format!("route {text:?}"),
            detail: e.to_string(),
        })?;
        let ifindex = match &spec.dev {
            Some(d) => Some(
                addrs
                    .ifindex(d)
                    .await
                    .map_err(nl(format!("static route {text:?}: interface {d}")))?,
            ),
            None => None,
        };
        let msg = spec
            .message(ifindex)
            .map_err(|detail| DirectorRunError::Static {
                what: format!("route {text:?}"),
                detail,
            })?;
        addrs
            .route(msg.clone(), true, text)
            .await
            .map_err(nl(format!("static route {text:?}")))?;
        done.routes.push((msg, text.clone()));
    }
    for text in &s.rules {
        let spec = RuleSpec::parse(text).map_err(|e| DirectorRunError::Rule {
            owner: "static rules".into(),
            rule: text.clone(),
            detail: e.to_string(),
        })?;
        let msg = spec.message();
        addrs
            .rule(msg.clone(), true, text)
            .await
            .map_err(nl(format!("static rule {text:?}")))?;
        done.rules.push((msg, text.clone()));
    }
    Ok(())
}

/// Removes what [`install`] set (rules, routes, then addresses); failures are logged.
pub(super) async fn remove(addrs: &Addresses, i: Installed) {
    for (msg, what) in i.rules {
        if let Err(e) = addrs.rule(msg, false, &what).await {
            tracing::error!(rule = %what, error = %e, "removing a static rule");
        }
    }
    for (msg, what) in i.routes {
        if let Err(e) = addrs.route(msg, false, &what).await {
            tracing::error!(route = %what, error = %e, "removing a static route");
        }
    }
    for vip in i.addresses {
        if let Err(e) = addrs.remove(vip).await {
            tracing::error!(address = %vip, error = %e, "removing a static address");
        }
    }
}
