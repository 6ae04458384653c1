// SPDX-License-Identifier: Apache-2.0
//! Daemon-side validation of a `MultiNicNodeConfig`, with the same rules as the CRD
//! schema (see [`crate::rules`]), because the CRD may be installed without them and
//! files can be wrong. Every error names its field path, e.g.
//! `spec.interfaces[2].macAddress`.

use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use kube::ResourceExt;

use crate::mac::MacAddr;
use crate::resource::{InterfaceSpec, Ipv6Spec, MultiNicNodeConfig, RouteSpec};
use crate::rules::*;

/// One problem in the input, at a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// JSON-ish path of the field, e.g. `spec.interfaces[2].mtu`.
    pub path: String,
    /// What is wrong and what is expected.
    pub message: String,
    /// Index into `spec.interfaces` when the error belongs to one interface.
    pub interface: Option<usize>,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A static route, parsed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ValidRoute {
    /// Destination prefix.
    pub to: Ipv4Net,
    /// Next hop, if any.
    pub via: Option<Ipv4Addr>,
    /// Metric, if any.
    pub metric: Option<u32>,
}

/// A static IPv6 route, parsed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ValidRoute6 {
    /// Destination prefix.
    pub to: Ipv6Net,
    /// Next hop, if any.
    pub via: Option<Ipv6Addr>,
    /// Metric, if any.
    pub metric: Option<u32>,
}

/// IPv6 of an interface, parsed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ValidIpv6 {
    /// Static addresses.
    pub addresses: Vec<Ipv6Net>,
    /// Static routes.
    pub routes: Vec<ValidRoute6>,
    /// Router advertisements (SLAAC) on.
    pub accept_ra: bool,
}

/// The IPv4 side of an interface or VLAN, parsed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ValidIp4 {
    /// Address and prefix length (from `cidr`).
    pub address: Ipv4Net,
    /// MTU to set, if any.
    pub mtu: Option<u32>,
    /// Extra routes.
    pub routes: Vec<ValidRoute>,
    /// DNS servers.
    pub dns: Vec<Ipv4Addr>,
    /// The subnet's gateway.
    pub gateway: Option<Ipv4Addr>,
}

/// A VLAN sub-interface, parsed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ValidVlan {
    /// 802.1Q id.
    pub id: u16,
    /// Its addresses, routes, DNS, gateway.
    pub ip: ValidIp4,
    /// A routing table and rule of its own for traffic from its address.
    pub source_routing: bool,
}

/// One interface of the spec, parsed and checked.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ValidInterface {
    /// Position in `spec.interfaces`.
    pub index: usize,
    /// Upstream port id.
    pub id: Option<i64>,
    /// MAC the NIC is found by.
    pub mac: MacAddr,
    /// Address and prefix length (from `cidr`).
    pub address: Ipv4Net,
    /// MTU to set, if any.
    pub mtu: Option<u32>,
    /// Explicit name, if any.
    pub name: Option<String>,
    /// Extra routes.
    pub routes: Vec<ValidRoute>,
    /// DNS servers.
    pub dns: Vec<Ipv4Addr>,
    /// The subnet's gateway.
    pub gateway: Option<Ipv4Addr>,
    /// A routing table and rule of its own for traffic from its address.
    pub source_routing: bool,
    /// IPv6, when the NIC has any.
    pub ipv6: Option<ValidIpv6>,
    /// VLAN sub-interfaces.
    pub vlans: Vec<ValidVlan>,
}

impl ValidInterface {
    /// The static IPv6 addresses (none without `ipv6`).
    pub fn ipv6_addresses(&self) -> impl Iterator<Item = Ipv6Net> + '_ {
        self.ipv6.iter().flat_map(|v6| v6.addresses.iter().copied())
    }

    /// Router advertisements on.
    pub fn accepts_ra(&self) -> bool {
        self.ipv6.as_ref().is_some_and(|v6| v6.accept_ra)
    }
}

/// The spec once validated: the interfaces that passed, and every error found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValidSpec {
    /// `spec.nodeName`.
    pub node_name: String,
    /// `spec.instanceId`.
    pub instance_id: Option<String>,
    /// Interfaces without errors, in spec order.
    pub interfaces: Vec<ValidInterface>,
    /// Every error, spec-wide ones first.
    pub errors: Vec<FieldError>,
    /// The MACs of the interfaces left out because of errors (`None` where the MAC
    /// itself is unreadable): what multinic configured for them stays.
    pub held: Vec<Option<MacAddr>>,
}

impl ValidSpec {
    /// The owned configurations (by MAC) to keep although no valid interface asks for
    /// them: those of invalid interfaces, or all of them when an invalid interface's
    /// MAC cannot be read (it may be any of them).
    pub fn keep(&self, owned: impl IntoIterator<Item = MacAddr>) -> Vec<MacAddr> {
        if self.held.iter().any(Option::is_none) {
            owned.into_iter().collect()
        } else {
            self.held.iter().flatten().copied().collect()
        }
    }

    /// Errors that concern the whole spec rather than one interface.
    pub fn spec_errors(&self) -> impl Iterator<Item = &FieldError> {
        self.errors.iter().filter(|e| e.interface.is_none())
    }
}

/// Validate a resource. Interfaces with errors are left out of
/// [`ValidSpec::interfaces`]; the caller decides whether any error stops the whole run
/// (`multinicd apply --file`) or only that interface (the CR watch).
pub fn validate(cr: &MultiNicNodeConfig) -> ValidSpec {
    validate_with(cr, Vec::new())
}

/// [`validate`], with errors found while decoding (see [`crate::decode`]): the
/// interfaces they name are invalid whatever their stubs look like.
pub fn validate_with(cr: &MultiNicNodeConfig, undecodable: Vec<FieldError>) -> ValidSpec {
    let spec = &cr.spec;
    let mut errors = Vec::new();
    let mut spec_error = |path: &str, message: String| {
        errors.push(FieldError { path: path.into(), message, interface: None });
    };
    if spec.node_name.is_empty() {
        spec_error("spec.nodeName", "must be set to the node's name".into());
    } else if !is_dns_subdomain(&spec.node_name) {
        spec_error("spec.nodeName", format!("{:?} is not a valid node name (lowercase DNS subdomain)", spec.node_name));
    }
    let name = cr.name_any();
    if !name.is_empty() && name != spec.node_name {
        spec_error(
            "metadata.name",
            format!("{name:?} must equal spec.nodeName {:?}: name the CR after its node", spec.node_name),
        );
    }
    if let Some(id) = &spec.instance_id
        && (id.is_empty() || id.len() > 64)
    {
        spec_error("spec.instanceId", "must be the VM's system UUID (1-64 characters) or left out".into());
    }
    if spec.interfaces.len() > MAX_INTERFACES {
        spec_error(
            "spec.interfaces",
            format!(
                "lists {} interfaces; at most {MAX_INTERFACES} are supported (multinic0 … multinic9)",
                spec.interfaces.len()
            ),
        );
    }

    let mut parsed = Vec::new();
    for (index, iface) in spec.interfaces.iter().enumerate() {
        match check_interface(index, iface) {
            Ok(valid) => parsed.push(Some(valid)),
            Err(mut e) => {
                errors.append(&mut e);
                parsed.push(None);
            }
        }
    }
    errors.extend(undecodable);
    duplicates(spec.interfaces.iter().map(|i| i.mac_address.to_ascii_lowercase()), "macAddress", &mut errors);
    duplicates(spec.interfaces.iter().map(|i| i.name.clone().unwrap_or_default()), "name", &mut errors);

    let bad: Vec<usize> = errors.iter().filter_map(|e| e.interface).collect();
    let interfaces = if spec.interfaces.len() > MAX_INTERFACES {
        Vec::new()
    } else {
        parsed.into_iter().flatten().filter(|i| !bad.contains(&i.index)).collect()
    };
    let mut held_at: Vec<usize> = errors.iter().filter_map(|e| e.interface).collect();
    if spec.interfaces.len() > MAX_INTERFACES {
        held_at = (0..spec.interfaces.len()).collect();
    }
    held_at.sort_unstable();
    held_at.dedup();
    let held = held_at
        .into_iter()
        .filter_map(|i| spec.interfaces.get(i))
        .map(|iface| iface.mac_address.parse::<MacAddr>().ok().filter(|m| !m.is_zero()))
        .collect();
    ValidSpec { node_name: spec.node_name.clone(), instance_id: spec.instance_id.clone(), interfaces, errors, held }
}

fn check_interface(index: usize, iface: &InterfaceSpec) -> Result<ValidInterface, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut err = |field: &str, message: String| {
        errors.push(FieldError { path: format!("spec.interfaces[{index}].{field}"), message, interface: Some(index) });
    };
    let mac = match iface.mac_address.parse::<MacAddr>() {
        Ok(mac) if mac.is_zero() => {
            err("macAddress", "00:00:00:00:00:00 is not a NIC's MAC".into());
            None
        }
        Ok(mac) => Some(mac),
        Err(e) => {
            err("macAddress", format!("{e}; expected six colon-separated hex octets such as fa:16:3e:1c:1a:6e"));
            None
        }
    };
    if let Some(name) = &iface.name
        && !is_multinic_name(name)
    {
        err("name", format!("{name:?} is not allowed; use multinic0 … multinic9 or leave it out"));
    }
    let fields = Ip4 {
        address: &iface.address,
        cidr: &iface.cidr,
        mtu: iface.mtu,
        routes: &iface.routes,
        dns: &iface.dns,
        gateway: iface.gateway.as_deref(),
    };
    let ip4 = check_ip4(&fields, "", &mut err);
    if iface.vlans.len() > MAX_VLANS {
        err("vlans", format!("lists {} VLANs; at most {MAX_VLANS}", iface.vlans.len()));
    }
    let mut vlans = Vec::new();
    for (v, vlan) in iface.vlans.iter().enumerate() {
        let at = format!("vlans[{v}].");
        if !(VLAN_ID_MIN..=VLAN_ID_MAX).contains(&vlan.id) {
            err(&format!("{at}id"), format!("{} is not a VLAN id; use {VLAN_ID_MIN}-{VLAN_ID_MAX}", vlan.id));
        }
        if iface.vlans[..v].iter().any(|o| o.id == vlan.id) {
            err(&format!("{at}id"), format!("VLAN {} is listed twice on this NIC", vlan.id));
        }
        let fields = Ip4 {
            address: &vlan.address,
            cidr: &vlan.cidr,
            mtu: vlan.mtu,
            routes: &vlan.routes,
            dns: &vlan.dns,
            gateway: vlan.gateway.as_deref(),
        };
        // Its NIC's MTU bounds it (the kernel refuses more).
        if let (Some(mtu), Some(nic)) = (vlan.mtu, iface.mtu)
            && mtu > nic
        {
            err(&format!("{at}mtu"), format!("{mtu} is above the NIC's mtu {nic}; use at most {nic}"));
        }
        // A default route through a VLAN is not something the node's protections
        // reason about: its table takes one (`gateway` with `sourceRouting`).
        for (r, route) in vlan.routes.iter().enumerate() {
            if route.to.trim().ends_with("/0") {
                err(
                    &format!("{at}routes[{r}].to"),
                    format!("{} would be a default route through the VLAN; use gateway with sourceRouting", route.to),
                );
            }
        }
        if let Some(ip) = check_ip4(&fields, &at, &mut err) {
            vlans.push(ValidVlan { id: vlan.id, ip, source_routing: vlan.source_routing });
        }
    }
    let ipv6 = iface.ipv6.as_ref().map(|v6| check_ipv6(v6, &mut err));
    match (mac, ip4) {
        (Some(mac), Some(ip)) if errors.is_empty() => Ok(ValidInterface {
            index,
            id: iface.id,
            mac,
            address: ip.address,
            mtu: ip.mtu,
            name: iface.name.clone(),
            routes: ip.routes,
            dns: ip.dns,
            gateway: ip.gateway,
            source_routing: iface.source_routing,
            ipv6,
            vlans,
        }),
        _ => Err(errors),
    }
}

/// The IPv4 fields an interface and a VLAN share, as written.
struct Ip4<'a> {
    address: &'a str,
    cidr: &'a str,
    mtu: Option<u32>,
    routes: &'a [RouteSpec],
    dns: &'a [String],
    gateway: Option<&'a str>,
}

/// [`Ip4`], checked; `None` when a field is wrong (each error reported under `at`).
fn check_ip4(f: &Ip4<'_>, at: &str, err: &mut impl FnMut(&str, String)) -> Option<ValidIp4> {
    let mut ok = true;
    let mut err = |field: &str, message: String| {
        ok = false;
        err(&format!("{at}{field}"), message);
    };
    let address = match parse_ipv4(f.address) {
        Ok(a) => Some(a),
        Err(()) => {
            err("address", format!("{:?} is not an IPv4 address; expected e.g. 11.11.11.37", f.address));
            None
        }
    };
    let cidr = match parse_cidr(f.cidr) {
        Ok(c) => Some(c),
        Err(()) => {
            err("cidr", format!("{:?} is not an IPv4 prefix; expected e.g. 11.11.11.0/24", f.cidr));
            None
        }
    };
    if let (Some(a), Some(c)) = (address, cidr)
        && !c.contains(&a)
    {
        err("address", format!("{a} is outside cidr {c}; use an address inside the subnet or fix cidr"));
    }
    if let Some(mtu) = f.mtu
        && !(MTU_MIN..=MTU_MAX).contains(&mtu)
    {
        err("mtu", format!("{mtu} is out of range; use {MTU_MIN}-{MTU_MAX} or leave it out"));
    }
    if f.routes.len() > MAX_ROUTES {
        err("routes", format!("lists {} routes; at most {MAX_ROUTES}", f.routes.len()));
    }
    let mut routes = Vec::new();
    for (r, route) in f.routes.iter().enumerate() {
        match check_route(route) {
            Ok(v) => routes.push(v),
            Err((field, message)) => err(&format!("routes[{r}].{field}"), message),
        }
    }
    if f.dns.len() > MAX_DNS {
        err("dns", format!("lists {} servers; at most {MAX_DNS}", f.dns.len()));
    }
    let mut dns = Vec::new();
    for (d, server) in f.dns.iter().enumerate() {
        match parse_ipv4(server) {
            Ok(a) => dns.push(a),
            Err(()) => err(&format!("dns[{d}]"), format!("{server:?} is not an IPv4 address")),
        }
    }
    let gateway = match &f.gateway {
        None => None,
        Some(g) => match parse_ipv4(g) {
            Err(()) => {
                err("gateway", format!("{g:?} is not an IPv4 address; expected e.g. 11.11.11.1"));
                None
            }
            Ok(g) if Some(g) == address => {
                err("gateway", format!("{g} is the interface's own address; use the subnet's router"));
                None
            }
            Ok(g) if cidr.is_some_and(|c| !c.contains(&g)) => {
                err("gateway", format!("{g} is outside cidr {}; the gateway must be on the subnet", f.cidr));
                None
            }
            Ok(g) if cidr.is_some_and(|c| c.prefix_len() < 31 && (g == c.network() || g == c.broadcast())) => {
                err("gateway", format!("{g} is the subnet's network or broadcast address; use the router's address"));
                None
            }
            Ok(g) => Some(g),
        },
    };
    let (Some(a), Some(c)) = (address, cidr) else { return None };
    let address = Ipv4Net::new(a, c.prefix_len()).expect("prefix length comes from a parsed prefix");
    ok.then_some(ValidIp4 { address, mtu: f.mtu, routes, dns, gateway })
}

fn check_ipv6(v6: &Ipv6Spec, err: &mut impl FnMut(&str, String)) -> ValidIpv6 {
    if v6.addresses.is_empty() && !v6.accept_ra {
        err("ipv6", "has neither addresses nor acceptRA: true; add an address or leave ipv6 out".into());
    }
    if v6.addresses.len() > MAX_IPV6_ADDRESSES {
        err("ipv6.addresses", format!("lists {} addresses; at most {MAX_IPV6_ADDRESSES}", v6.addresses.len()));
    }
    if v6.routes.len() > MAX_ROUTES {
        err("ipv6.routes", format!("lists {} routes; at most {MAX_ROUTES}", v6.routes.len()));
    }
    let mut addresses = Vec::new();
    for (i, a) in v6.addresses.iter().enumerate() {
        match a.parse::<Ipv6Net>() {
            Err(_) => err(
                &format!("ipv6.addresses[{i}]"),
                format!("{a:?} is not an IPv6 address with a prefix length; expected e.g. 2001:db8:1::10/64"),
            ),
            Ok(net) if !is_unicast_global(net.addr()) => err(
                &format!("ipv6.addresses[{i}]"),
                format!(
                    "{} is not a global or unique-local unicast address (link-local ones come by themselves)",
                    net.addr()
                ),
            ),
            Ok(net) => addresses.push(net),
        }
    }
    let mut routes = Vec::new();
    for (r, route) in v6.routes.iter().enumerate() {
        let field = |f: &str| format!("ipv6.routes[{r}].{f}");
        let to = match route.to.parse::<Ipv6Net>() {
            Ok(to) if to.prefix_len() == 1 => {
                err(&field("to"), format!("{to} covers half the address space; list ::/0 if a default route is meant"));
                continue;
            }
            Ok(to) => to.trunc(),
            Err(_) => {
                err(&field("to"), format!("{:?} is not an IPv6 prefix; expected e.g. 2001:db8:2::/48", route.to));
                continue;
            }
        };
        let via = match &route.via {
            None => None,
            Some(v) => match v.parse::<Ipv6Addr>() {
                Ok(v) => Some(v),
                Err(_) => {
                    err(&field("via"), format!("{v:?} is not an IPv6 address"));
                    continue;
                }
            },
        };
        routes.push(ValidRoute6 { to, via, metric: route.metric });
    }
    ValidIpv6 { addresses, routes, accept_ra: v6.accept_ra }
}

/// Neither link-local, multicast, loopback nor unspecified.
fn is_unicast_global(a: Ipv6Addr) -> bool {
    !(a.is_unspecified() || a.is_loopback() || a.is_multicast() || a.is_unicast_link_local())
}

fn check_route(route: &RouteSpec) -> Result<ValidRoute, (&'static str, String)> {
    let to = parse_cidr(&route.to).map_err(|()| {
        (
            "to",
            format!("{:?} is not an IPv4 prefix; expected e.g. 10.20.0.0/16 (0.0.0.0/0 for a default route)", route.to),
        )
    })?;
    let via = match &route.via {
        None => None,
        Some(v) => Some(parse_ipv4(v).map_err(|()| ("via", format!("{v:?} is not an IPv4 address")))?),
    };
    Ok(ValidRoute { to: to.trunc(), via, metric: route.metric })
}

fn duplicates(values: impl Iterator<Item = String>, field: &str, errors: &mut Vec<FieldError>) {
    let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
    for (index, value) in values.enumerate() {
        if !value.is_empty() {
            groups.entry(value).or_default().push(index);
        }
    }
    let mut clashes: Vec<(String, Vec<usize>)> = groups.into_iter().filter(|(_, at)| at.len() > 1).collect();
    clashes.sort_by_key(|(_, at)| at[0]);
    for (value, at) in clashes {
        for &index in &at {
            let others: Vec<String> =
                at.iter().filter(|&&o| o != index).map(|o| format!("spec.interfaces[{o}]")).collect();
            errors.push(FieldError {
                path: format!("spec.interfaces[{index}].{field}"),
                message: format!("{value} is also used by {}; each {field} must be unique", others.join(", ")),
                interface: Some(index),
            });
        }
    }
}

/// Strict dotted-quad: exactly four decimal octets, no leading `+`, no shorthand.
fn parse_ipv4(s: &str) -> Result<Ipv4Addr, ()> {
    s.parse::<Ipv4Addr>().map_err(|_| ())
}

fn parse_cidr(s: &str) -> Result<Ipv4Net, ()> {
    s.parse::<Ipv4Net>().map_err(|_| ())
}

/// True for `multinic0` … `multinic9`.
pub fn is_multinic_name(name: &str) -> bool {
    multinic_index(name).is_some()
}

/// N of `multinicN`.
pub fn multinic_index(name: &str) -> Option<u32> {
    let n = name.strip_prefix("multinic")?;
    (n.len() == 1).then(|| n.chars().next()?.to_digit(10)).flatten()
}

/// The source-routing table of the interface called `name`: `100 + N` for `multinicN`.
pub fn source_table(name: &str) -> Option<u32> {
    multinic_index(name).map(|n| crate::rules::SOURCE_TABLE_BASE + n)
}

/// The source-routing table of VLAN `id` on `multinicN`: `10000 × (N + 1) + id`
/// (`multinic0.100` → 10100, `multinic1.100` → 20100), apart from the NICs' and
/// readable back to its VLAN.
pub fn vlan_source_table(nic: &str, id: u16) -> Option<u32> {
    multinic_index(nic).map(|n| crate::rules::VLAN_TABLE_STEP * (n + 1) + u32::from(id))
}

/// `255.255.255.0`, `/24` or `24` → 24; `None` for a non-contiguous mask and for
/// /0, which would make a NIC's subnet the whole Internet.
pub fn prefix_len(mask: &str) -> Option<u8> {
    let digits = mask.strip_prefix('/').unwrap_or(mask);
    let prefix = match digits.parse::<u8>() {
        Ok(p) => p,
        Err(_) => ipnet::ipv4_mask_to_prefix(mask.parse().ok()?).ok()?,
    };
    (1..=32).contains(&prefix).then_some(prefix)
}

/// A DNS subdomain (RFC 1123) as Kubernetes takes it for names and prefixes.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}
