// SPDX-License-Identifier: Apache-2.0
//! `ipv6` on the real managers, on a segment whose router sends IPv6 router
//! advertisements (dnsmasq in the peer namespace), as an OpenStack IPv6 subnet in
//! SLAAC mode does.

use super::*;

const STATIC: &str = "2001:db8:60::10/64";
const ROUTER: &str = "2001:db8:60::1";

/// Global IPv6 addresses of a link as `(address/len, tentative)`.
fn ipv6(lab: &Lab, name: &str) -> Vec<(String, bool)> {
    let Some(l) = lab.link(name) else { return vec![] };
    l["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["family"] == "inet6" && a["scope"] == "global")
        .map(|a| {
            let addr = format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]);
            (addr, a.get("tentative").is_some() || a.get("dadfailed").is_some())
        })
        .collect()
}

fn apply_v6(lab: &Lab, ipv6: &str) {
    let extra = if ipv6.is_empty() { String::new() } else { format!(", ipv6: {ipv6}") };
    let file = lab.write("node.yaml", &spec(&[nic(1, A, "10.60.0.10", "10.60.0.0/24", &extra)]));
    let (code, status) = apply(lab, &file);
    assert_eq!(code, 0, "{status:?}");
    assert_eq!(iface(&status, "multinic0").state, InterfaceState::Configured, "{status:?}");
}

/// With `acceptRA` a SLAAC address joins the static one, and no default route
/// comes with it; with it off, only the static address stays, usable (duplicate
/// address detection done) when the apply returns, and the route is there and the
/// router answers; without `ipv6`, the NIC has no IPv6 address at all.
pub(crate) fn ipv6_static_addresses_routes_and_router_advertisements(m: Manager) {
    let Some(lab) = lab_with(m, &[("ens4", A)]) else {
        return;
    };
    lab.router_advertisements("ens4", "2001:db8:60:");
    let route = format!("routes: [{{to: \"2001:db8:70::/48\", via: \"{ROUTER}\"}}]");
    let defaults_before = lab.ip(&["-6", "route", "show", "default"]);

    apply_v6(&lab, &format!("{{addresses: [\"{STATIC}\"], {route}, acceptRA: true}}"));
    eventually(
        || ipv6(&lab, "multinic0").len() == 2,
        || format!("a SLAAC address beside the static one: {:?}", ipv6(&lab, "multinic0")),
    );
    assert!(ipv6(&lab, "multinic0").iter().any(|(a, _)| a == STATIC));
    assert_eq!(
        lab.ip(&["-6", "route", "show", "default"]),
        defaults_before,
        "router advertisements add no default route"
    );

    apply_v6(&lab, &format!("{{addresses: [\"{STATIC}\"], {route}}}"));
    assert_eq!(ipv6(&lab, "multinic0"), [(STATIC.to_string(), false)], "the static address alone, DAD done");
    let routes = lab.ip(&["-6", "route", "show", "dev", "multinic0"]);
    assert!(
        routes.as_array().unwrap().iter().any(|r| r["dst"] == "2001:db8:70::/48" && r["gateway"] == ROUTER),
        "{routes}"
    );
    let ping = lab.run("ping", &["-6", "-c", "1", "-W", "2", ROUTER]);
    assert!(ping.status.success(), "the router answers: {}", String::from_utf8_lossy(&ping.stdout));
    // The router advertises every 5 s: no SLAAC address comes back.
    std::thread::sleep(std::time::Duration::from_secs(6));
    assert_eq!(ipv6(&lab, "multinic0"), [(STATIC.to_string(), false)]);

    apply_v6(&lab, "");
    assert!(ipv6(&lab, "multinic0").is_empty(), "{:?}", ipv6(&lab, "multinic0"));
    assert_eq!(lab.ipv4("multinic0"), ["10.60.0.10/24"]);
}
