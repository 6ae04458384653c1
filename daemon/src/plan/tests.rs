// SPDX-License-Identifier: Apache-2.0
//! Planner tests: the rules one by one, then proptest invariants over random hosts.

use ipnet::{IpNet, Ipv4Net};
use multinic_api::{MacAddr, ValidInterface};
use proptest::prelude::*;

use super::*;
use crate::observe::{DefaultRoute, Generated, Host, Link, PathTo};
use crate::report;

/// The host of `links`, with the default route on eth0 (index 2) when it is there.
pub(crate) fn on(links: &[Link]) -> Host {
    let mut h = Host::of(links.to_vec());
    if links.iter().any(|l| l.index == 2 && l.name == "eth0") {
        h.defaults.push(DefaultRoute { oif: 2, gateway: Some("192.0.2.1".parse().unwrap()), metric: 100, v6: false });
    }
    h
}

/// The planner without holds, as most tests want it.
pub(crate) fn plan(
    desired: &[ValidInterface],
    host: &Host,
    owned: &[Owned],
    keep: &[MacAddr],
    policy: &Policy,
) -> Plan {
    super::plan(desired, host, Context { owned, keep, holds: &[], policy, vlans: &[] })
}

pub(crate) fn mac(n: u8) -> MacAddr {
    MacAddr([0xfa, 0x16, 0x3e, 0, 0, n])
}

pub(crate) fn link(index: u32, name: &str, m: MacAddr) -> Link {
    Link {
        index,
        name: name.into(),
        mac: Some(m),
        perm_mac: None,
        up: false,
        oper_state: "down".into(),
        mtu: 1500,
        addresses: vec![],
        driver: Some("virtio_net".into()),
        loopback: false,
        ether: true,
        kind: None,
        master: None,
        lower: None,
        altnames: vec![],
        tentative: vec![],
    }
}

pub(crate) fn host() -> Vec<Link> {
    let mut lo = link(1, "lo", MacAddr([0; 6]));
    lo.loopback = true;
    lo.up = true;
    lo.addresses = vec!["127.0.0.1/8".parse().unwrap()];
    let mut eth0 = link(2, "eth0", mac(0xee));
    eth0.up = true;
    eth0.addresses = vec!["192.0.2.10/24".parse().unwrap()];
    vec![lo, eth0, link(3, "ens4", mac(1)), link(4, "ens5", mac(2))]
}

pub(crate) fn want(m: MacAddr, addr: &str) -> ValidInterface {
    ValidInterface {
        index: 0,
        id: None,
        mac: m,
        address: addr.parse().unwrap(),
        mtu: Some(1450),
        name: None,
        routes: vec![],
        dns: vec![],
        gateway: None,
        source_routing: false,
        ipv6: None,
        vlans: Vec::new(),
    }
}

#[test]
fn fresh_nics_get_lowest_names_in_spec_order() {
    let p = plan(
        &[want(mac(2), "198.51.100.2/24"), want(mac(1), "198.51.100.1/24")],
        &on(&host()),
        &[],
        &[],
        &Policy::default(),
    );
    assert_eq!(p.interfaces[0].name.as_deref(), Some("multinic0"));
    assert_eq!(p.interfaces[1].name.as_deref(), Some("multinic1"));
    assert_eq!(p.interfaces[0].rename_from(), Some("ens5"));
    assert!(matches!(p.interfaces[0].step, Step::Create { .. }));
}

#[test]
fn explicit_name_wins_and_others_skip_it() {
    let mut a = want(mac(1), "198.51.100.1/24");
    a.name = Some("multinic0".into());
    let p = plan(&[want(mac(2), "198.51.100.2/24"), a], &on(&host()), &[], &[], &Policy::default());
    assert_eq!(p.interfaces[0].name.as_deref(), Some("multinic1"));
    assert_eq!(p.interfaces[1].name.as_deref(), Some("multinic0"));
}

#[test]
fn primary_and_loopback_are_blocked() {
    let p = plan(
        &[want(mac(0xee), "198.51.100.1/24"), want(MacAddr([0; 6]), "198.51.100.2/24")],
        &on(&host()),
        &[],
        &[],
        &Policy::default(),
    );
    assert_eq!(p.interfaces[0].step, Step::Blocked(Block::Protected(Protection::DefaultRoute)));
    assert_eq!(p.interfaces[1].step, Step::Blocked(Block::Protected(Protection::Loopback)));
}

#[test]
fn protected_name_is_blocked_even_without_default_route() {
    let p = plan(&[want(mac(0xee), "198.51.100.1/24")], &Host::of(host()), &[], &[], &Policy::default());
    let eth0 = Block::Protected(Protection::Name { pattern: "eth0".into() });
    assert_eq!(p.interfaces[0].step, Step::Blocked(eth0));
    let custom = Policy::new(&["ens*".into()]).unwrap();
    let p = plan(&[want(mac(1), "198.51.100.1/24")], &on(&host()), &[], &[], &custom);
    assert_eq!(p.interfaces[0].step, Step::Blocked(Block::Protected(Protection::Name { pattern: "ens*".into() })));
}

#[test]
fn up_with_foreign_address_is_blocked_but_link_local_is_not() {
    let mut links = host();
    links[2].up = true;
    links[2].addresses = vec!["fe80::1/64".parse().unwrap()];
    let p = plan(&[want(mac(1), "198.51.100.1/24")], &on(&links), &[], &[], &Policy::default());
    assert!(matches!(p.interfaces[0].step, Step::Create { .. }));
    links[2].addresses.push("203.0.113.5/24".parse().unwrap());
    let p = plan(&[want(mac(1), "198.51.100.1/24")], &on(&links), &[], &[], &Policy::default());
    assert!(
        matches!(&p.interfaces[0].step, Step::Blocked(Block::ForeignAddresses { addresses }) if addresses == &["203.0.113.5/24"])
    );
}

#[test]
fn name_taken_by_other_mac_is_blocked_loudly() {
    let mut links = host();
    links.push(link(5, "multinic0", mac(9)));
    let mut a = want(mac(1), "198.51.100.1/24");
    a.name = Some("multinic0".into());
    let p = plan(&[a], &on(&links), &[], &[], &Policy::default());
    let Step::Blocked(block) = &p.interfaces[0].step else { panic!("not blocked: {:?}", p.interfaces[0].step) };
    assert_eq!(block, &Block::NameTaken { name: "multinic0".into(), other_mac: Some(mac(9)) });
    assert!(block.is_critical());
    // Without an explicit name it simply gets the next free one.
    let p = plan(&[want(mac(1), "198.51.100.1/24")], &on(&links), &[], &[], &Policy::default());
    assert_eq!(p.interfaces[0].name.as_deref(), Some("multinic1"));
}

#[test]
fn missing_mac_is_not_found_and_others_proceed() {
    let p = plan(
        &[want(mac(7), "198.51.100.7/24"), want(mac(1), "198.51.100.1/24")],
        &on(&host()),
        &[],
        &[],
        &Policy::default(),
    );
    assert_eq!(p.interfaces[0].step, Step::NotFound);
    assert!(matches!(p.interfaces[1].step, Step::Create { .. }));
}

#[test]
fn permanent_mac_wins_over_a_copied_one() {
    let mut links = host();
    let mut bond = link(9, "bond0", mac(1));
    bond.perm_mac = None;
    links[2].perm_mac = Some(mac(1));
    links.push(bond);
    let p = plan(&[want(mac(1), "198.51.100.1/24")], &on(&links), &[], &[], &Policy::default());
    assert_eq!(p.interfaces[0].link.as_ref().unwrap().name, "ens4");
}

#[test]
fn two_links_with_one_mac_are_ambiguous() {
    let mut links = host();
    links.push(link(9, "ens9", mac(1)));
    let p = plan(&[want(mac(1), "198.51.100.1/24")], &on(&links), &[], &[], &Policy::default());
    assert!(matches!(p.interfaces[0].step, Step::Blocked(Block::AmbiguousMac { .. })));
}

#[test]
fn applied_spec_plans_nothing_and_a_change_plans_update() {
    let desired = vec![want(mac(1), "198.51.100.1/24")];
    let (links, owned) = apply_sim(&plan(&desired, &on(&host()), &[], &[], &Policy::default()), host(), vec![]);
    let again = plan(&desired, &on(&links), &owned, &[], &Policy::default());
    assert!(again.is_noop(), "{again:?}");
    let mut changed = desired.clone();
    changed[0].mtu = Some(9000);
    assert!(matches!(
        plan(&changed, &on(&links), &owned, &[], &Policy::default()).interfaces[0].step,
        Step::Update { change: Change::ConfigChanged, .. }
    ));
}

#[test]
fn flushed_address_is_drift() {
    let desired = vec![want(mac(1), "198.51.100.1/24")];
    let (mut links, owned) = apply_sim(&plan(&desired, &on(&host()), &[], &[], &Policy::default()), host(), vec![]);
    links[2].addresses.clear();
    let p = plan(&desired, &on(&links), &owned, &[], &Policy::default());
    assert!(
        matches!(&p.interfaces[0].step, Step::Update { change: Change::Drift(d), .. } if d[0].contains("IPv4")),
        "{p:?}"
    );
}

#[test]
fn removed_interface_is_removed_and_its_name_restored() {
    let desired = vec![want(mac(1), "198.51.100.1/24"), want(mac(2), "198.51.100.2/24")];
    let (links, owned) = apply_sim(&plan(&desired, &on(&host()), &[], &[], &Policy::default()), host(), vec![]);
    let p = plan(&desired[1..], &on(&links), &owned, &[], &Policy::default());
    assert_eq!(p.removals.len(), 1);
    assert_eq!(p.removals[0].restore_name.as_deref(), Some("ens4"));
    assert_eq!(p.interfaces[0].name.as_deref(), Some("multinic1"));
    assert_eq!(p.interfaces[0].step, Step::Nothing);
}

/// udev keeps a renamed NIC's old name as an alternative name: the NIC's own
/// altname is no obstacle to giving it back, another link's is.
#[test]
fn kernel_names_are_restored_over_own_altnames_only() {
    let desired = vec![want(mac(1), "198.51.100.1/24")];
    let (mut links, owned) = apply_sim(&plan(&desired, &on(&host()), &[], &[], &Policy::default()), host(), vec![]);
    links[2].altnames = vec!["enp0s4".into(), "ens4".into()];
    let p = plan(&[], &on(&links), &owned, &[], &Policy::default());
    assert_eq!(p.removals[0].restore_name.as_deref(), Some("ens4"));
    links[2].altnames.clear();
    links[3].altnames = vec!["ens4".into()];
    let p = plan(&[], &on(&links), &owned, &[], &Policy::default());
    assert_eq!(p.removals[0].restore_name, None, "another link is called ens4");
}

#[test]
fn cleanup_plan_removes_every_owned_and_nothing_else() {
    let desired = vec![want(mac(1), "198.51.100.1/24"), want(mac(2), "198.51.100.2/24")];
    let (links, owned) = apply_sim(&plan(&desired, &on(&host()), &[], &[], &Policy::default()), host(), vec![]);
    let p = plan(&[], &on(&links), &owned, &[], &Policy::default());
    assert!(p.interfaces.is_empty());
    let restored: Vec<_> = p.removals.iter().map(|r| r.restore_name.clone().unwrap()).collect();
    assert_eq!(restored, vec!["ens4", "ens5"]);
}

/// What a backend would leave behind after executing `plan` successfully.
pub(crate) fn apply_sim(plan: &Plan, mut links: Vec<Link>, mut owned: Vec<Owned>) -> (Vec<Link>, Vec<Owned>) {
    for r in &plan.removals {
        owned.retain(|o| o.mac != r.owned.mac);
        if let Some(l) = r.link.as_ref().and_then(|lr| links.iter_mut().find(|l| l.index == lr.index)) {
            l.addresses.retain(|a| !matches!(a, IpNet::V4(v4) if r.owned.addresses.contains(v4)));
            if let Some(n) = &r.restore_name {
                l.name = n.clone();
            }
        }
    }
    for i in plan.waves().into_iter().flatten().map(|k| &plan.interfaces[k]) {
        let lr = i.link.as_ref().unwrap();
        let l = links.iter_mut().find(|l| l.index == lr.index).unwrap();
        let name = i.name.clone().unwrap();
        let original =
            i.owned.as_ref().and_then(|o| o.original_name.clone()).or_else(|| (l.name != name).then(|| l.name.clone()));
        l.name = name.clone();
        l.up = true;
        l.oper_state = "up".into();
        l.addresses.retain(|a| !matches!(a, IpNet::V4(_)));
        l.addresses.push(IpNet::V4(i.desired.address));
        if let Some(m) = i.desired.mtu {
            l.mtu = m;
        }
        owned.retain(|o| o.mac != i.mac);
        owned.push(Owned {
            mac: i.mac,
            name,
            original_name: original,
            original_mtu: None,
            config_hash: i.config_hash.clone(),
            addresses: vec![i.desired.address],
            addresses6: vec![],
            accept_ra: false,
            active: true,
            handle: crate::observe::Handle::NmProfile(format!("/sim/{}", i.mac)),
        });
    }
    (links, owned)
}

/// A random host: loopback, a primary with the default route, NICs from a small MAC
/// pool with random names (some protected, some `multinicN`), some up with
/// addresses; and a random spec over the same MAC pool.
fn arb_case() -> impl Strategy<Value = (Vec<Link>, Vec<ValidInterface>)> {
    let names = prop::sample::select(vec![
        "ens4",
        "ens5",
        "ens6",
        "ens7",
        "eth1",
        "multinic0",
        "multinic1",
        "multinic5",
        "veth9",
        "eth0",
        "docker0",
    ]);
    let nic = (1u8..9, names, any::<bool>(), prop::option::of(1u8..200));
    let spec_iface = (0u8..10, 1u8..250, prop::option::of(0u8..10), prop::option::of(68u32..9000));
    (prop::collection::vec(nic, 0..8), prop::collection::vec(spec_iface, 1..6)).prop_map(|(nics, spec)| {
        let mut links = host()[..2].to_vec();
        for (i, (m, name, up, addr)) in nics.into_iter().enumerate() {
            if links.iter().any(|l| l.name == name || l.mac == Some(mac(m))) {
                continue;
            }
            let mut l = link(10 + i as u32, name, mac(m));
            l.up = up;
            if let Some(a) = addr {
                l.addresses.push(IpNet::V4(Ipv4Net::new([203, 0, 113, a].into(), 24).unwrap()));
            }
            links.push(l);
        }
        let mut desired: Vec<ValidInterface> = Vec::new();
        for (m, host_part, name, mtu) in spec {
            let m = if m == 0 { mac(0xee) } else { mac(m) };
            let name = name.map(|n| format!("multinic{n}"));
            if desired.iter().any(|d| d.mac == m || (name.is_some() && d.name == name)) {
                continue;
            }
            let mut d = want(m, &format!("198.51.100.{host_part}/24"));
            d.index = desired.len();
            d.name = name;
            d.mtu = mtu;
            desired.push(d);
        }
        (links, desired)
    })
}

fn touched(p: &Plan) -> impl Iterator<Item = &InterfacePlan> {
    p.interfaces.iter().filter(|i| matches!(i.step, Step::Create { .. } | Step::Update { .. }))
}

proptest! {
    #[test]
    fn never_a_step_on_a_protected_or_unmatched_link((links, desired) in arb_case()) {
        let policy = Policy::default();
        let p = plan(&desired, &on(&links), &[], &[], &policy);
        for i in touched(&p) {
            let lr = i.link.as_ref().unwrap();
            let l = links.iter().find(|l| l.index == lr.index).unwrap();
            prop_assert_eq!(l.hw_mac(), Some(i.mac));
            prop_assert!(!l.loopback && l.index != 2);
            prop_assert!(policy.protected_by(&l.name).is_none());
            prop_assert!(!l.up || l.given_addresses().next().is_none(), "up link with foreign addresses touched: {:?}", l);
            let name = i.name.as_ref().unwrap();
            let waits_for = |o: &Link| i.after.iter().any(|&j| p.interfaces[j].link.as_ref().is_some_and(|lr| lr.index == o.index));
            prop_assert!(!links.iter().any(|o| &o.name == name && o.index != l.index && !waits_for(o)), "{} collides", name);
        }
        prop_assert!(p.removals.is_empty());
    }

    #[test]
    fn planning_after_applying_is_a_noop((links, desired) in arb_case()) {
        let policy = Policy::default();
        let first = plan(&desired, &on(&links), &[], &[], &policy);
        let (links2, owned2) = apply_sim(&first, links, vec![]);
        let second = plan(&desired, &on(&links2), &owned2, &[], &policy);
        prop_assert!(second.is_noop(), "{:?}", second);
        for (a, b) in first.interfaces.iter().zip(&second.interfaces) {
            if matches!(a.step, Step::Create { .. } | Step::Update { .. }) {
                prop_assert_eq!(&a.name, &b.name);
            }
        }
    }

    #[test]
    fn names_survive_removing_another_interface((links, desired) in arb_case(), drop in any::<prop::sample::Index>()) {
        let policy = Policy::default();
        let first = plan(&desired, &on(&links), &[], &[], &policy);
        let (links2, owned2) = apply_sim(&first, links, vec![]);
        let gone = drop.index(desired.len());
        let mut fewer = desired.clone();
        fewer.remove(gone);
        let second = plan(&fewer, &on(&links2), &owned2, &[], &policy);
        for b in &second.interfaces {
            let a = first.interfaces.iter().find(|a| a.mac == b.mac).unwrap();
            if matches!(a.step, Step::Create { .. } | Step::Update { .. }) {
                prop_assert_eq!(&a.name, &b.name);
                prop_assert_eq!(&b.step, &Step::Nothing);
            }
        }
        let removed = usize::from(matches!(first.interfaces[gone].step, Step::Create { .. } | Step::Update { .. }));
        prop_assert_eq!(second.removals.len(), removed);
    }
}

/// A node whose primary is a bridge `br0` (index 20, own MAC, 10.99.0.5/24, default
/// route) over the NIC ens4 (mac 1); ens5 (mac 2) is free.
fn bridged() -> Host {
    let mut links = host();
    links.retain(|l| l.index != 2);
    let mut br0 = link(20, "br0", mac(0xbb));
    br0.kind = Some("bridge".into());
    br0.up = true;
    br0.addresses = vec!["10.99.0.5/24".parse().unwrap()];
    links[1].master = Some(20);
    links.push(br0);
    let mut h = Host::of(links);
    h.defaults.push(DefaultRoute { oif: 20, gateway: Some("10.99.0.1".parse().unwrap()), metric: 100, v6: false });
    h
}

#[test]
fn a_port_of_the_primary_bridge_is_protected_and_named_after_it() {
    let h = bridged();
    let p =
        plan(&[want(mac(1), "198.51.100.1/24"), want(mac(0xbb), "198.51.100.2/24")], &h, &[], &[], &Policy::default());
    let Step::Blocked(block) = &p.interfaces[0].step else { panic!("{:?}", p.interfaces[0].step) };
    assert_eq!(block.reason(), multinic_api::Reason::UnderAnotherLink);
    assert!(block.to_string().contains("port of br0, which holds the default route"), "{block}");
    assert_eq!(p.interfaces[1].step, Step::Blocked(Block::Protected(Protection::DefaultRoute)));
    let free = report::discovered(&h, &plan(&[], &h, &[], &[], &Policy::default()), &[], &Policy::default());
    assert_eq!(free.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["ens5"]);
}

#[test]
fn ports_of_a_bond_under_a_bridge_and_lower_links_are_protected() {
    let mut h = bridged();
    let mut bond = link(21, "bond0", mac(0xbc));
    bond.kind = Some("bond".into());
    bond.master = Some(20);
    h.links[1].master = Some(21);
    h.links.push(bond);
    let p = plan(&[want(mac(1), "198.51.100.1/24")], &h, &[], &[], &Policy::default());
    let Step::Blocked(block) = &p.interfaces[0].step else { panic!() };
    assert!(block.to_string().contains("port of bond0, under br0, which holds the default route"), "{block}");
    let mut vlan = link(22, "ens5.7", mac(2));
    vlan.kind = Some("vlan".into());
    vlan.lower = Some(4);
    h.links.push(vlan);
    // The VLAN copies the NIC's MAC; it is not a second NIC with it (wip/vlans).
    let p = plan(&[want(mac(2), "198.51.100.1/24")], &h, &[], &[], &Policy::default());
    let Step::Blocked(block) = &p.interfaces[0].step else { panic!("{:?}", p.interfaces[0].step) };
    assert!(block.to_string().contains("lower link of ens5.7"), "{block}");
    h.links[2].perm_mac = Some(mac(2));
    let p = plan(&[want(mac(2), "198.51.100.1/24")], &h, &[], &[], &Policy::default());
    let Step::Blocked(block) = &p.interfaces[0].step else { panic!("{:?}", p.interfaces[0].step) };
    assert!(block.to_string().contains("lower link of ens5.7"), "{block}");
}

#[test]
fn virtual_links_are_not_nics() {
    let mut links = host();
    links[2].kind = Some("vxlan".into());
    let p = plan(&[want(mac(1), "198.51.100.1/24")], &on(&links), &[], &[], &Policy::default());
    assert_eq!(p.interfaces[0].step, Step::Blocked(Block::Protected(Protection::NotANic { kind: "vxlan".into() })));
    links[2].kind = Some("veth".into());
    let p = plan(&[want(mac(1), "198.51.100.1/24")], &on(&links), &[], &[], &Policy::default());
    assert!(matches!(p.interfaces[0].step, Step::Create { .. }));
}

/// ens4 held by NM's generated DHCP profile with a default route of metric `metric`
/// beside eth0's metric 100.
fn generated(metric: u32) -> Host {
    let mut links = host();
    links[2].up = true;
    links[2].oper_state = "up".into();
    links[2].addresses = vec!["10.50.0.77/24".parse().unwrap()];
    let mut h = on(&links);
    h.defaults.push(DefaultRoute { oif: 3, gateway: Some("10.50.0.1".parse().unwrap()), metric, v6: false });
    h.generated.push(Generated {
        iface: "ens4".into(),
        id: "Wired connection 1".into(),
        handle: crate::observe::Handle::NmProfile("/s/7".into()),
    });
    h
}

#[test]
fn a_nic_held_by_nms_generated_profile_is_taken_over() {
    let p = plan(&[want(mac(1), "10.50.0.10/24")], &generated(101), &[], &[], &Policy::default());
    assert!(matches!(p.interfaces[0].step, Step::Create { .. }));
    let t = p.interfaces[0].takeover.as_ref().expect("takeover planned");
    assert_eq!(t.profile.handle, crate::observe::Handle::NmProfile("/s/7".into()));
    assert_eq!(t.addresses, vec!["10.50.0.77/24".parse::<IpNet>().unwrap()]);
    // A tie with the primary's default route: the primary's carries the traffic.
    let p = plan(&[want(mac(1), "10.50.0.10/24")], &generated(100), &[], &[], &Policy::default());
    assert!(matches!(p.interfaces[0].step, Step::Create { .. }));
    // The best default route through it is what a primary on that profile looks like.
    let p = plan(&[want(mac(1), "10.50.0.10/24")], &generated(99), &[], &[], &Policy::default());
    assert_eq!(p.interfaces[0].step, Step::Blocked(Block::Protected(Protection::DefaultRoute)));
    // And the link to the API server is the primary whatever holds it.
    let mut h = generated(101);
    h.api = Some(PathTo { to: "10.50.0.2".parse().unwrap(), oif: Some(3), gateway: None });
    let p = plan(&[want(mac(1), "10.50.0.10/24")], &h, &[], &[], &Policy::default());
    assert!(matches!(&p.interfaces[0].step, Step::Blocked(Block::Protected(Protection::ApiServer { .. }))));
}

/// A stock networkd image: one catch-all gives every NIC DHCP, so the primary and
/// the new NIC both hold default routes of metric 1024. The way to the API server
/// tells the primary; without one, a tie protects both.
#[test]
fn catch_all_default_routes_tie_and_the_api_server_tells_the_primary() {
    let mut h = generated(1024);
    h.defaults[0].metric = 1024;
    h.generated.push(Generated {
        iface: "eth0".into(),
        id: "/usr/lib/systemd/network/89-ethernet.network".into(),
        handle: crate::observe::Handle::NetworkdFile("/usr/lib/systemd/network/89-ethernet.network".into()),
    });
    let step =
        |h: &Host| plan(&[want(mac(1), "10.50.0.10/24")], h, &[], &[], &Policy::default()).interfaces[0].step.clone();
    assert_eq!(step(&h), Step::Blocked(Block::Protected(Protection::DefaultRoute)));
    h.api = Some(PathTo { to: "192.0.2.100".parse().unwrap(), oif: Some(2), gateway: None });
    assert!(matches!(step(&h), Step::Create { .. }));
    let roles = classify(&h, &[], &[], &[], &Policy::default());
    assert!(matches!(roles[&2], Role::Protected(Protection::ApiServer { .. })), "{roles:?}");
}

fn conflict_of(d: ValidInterface, h: &Host) -> String {
    match &plan(&[d], h, &[], &[], &Policy::default()).interfaces[0].step {
        Step::Blocked(b @ Block::RoutingConflict(_)) => b.to_string(),
        other => panic!("not a routing conflict: {other:?}"),
    }
}

fn route(to: &str, via: Option<&str>) -> multinic_api::ValidRoute {
    multinic_api::ValidRoute { to: to.parse().unwrap(), via: via.map(|v| v.parse().unwrap()), metric: None }
}

#[test]
fn routing_conflicts_are_refused_before_anything_is_written() {
    let mut h = bridged();
    h.api = Some(PathTo { to: "10.99.0.3".parse().unwrap(), oif: Some(20), gateway: None });
    let inside = conflict_of(want(mac(2), "10.99.0.200/25"), &h);
    assert!(inside.contains("cidr 10.99.0.128/25 overlaps 10.99.0.0/24 of the primary network on br0"), "{inside}");
    let wide = conflict_of(want(mac(2), "0.0.0.1/1"), &h);
    assert!(wide.contains("cidr 0.0.0.0/1 is shorter than minPrefixLength /8"), "{wide}");
    let mut d = want(mac(2), "198.51.100.1/24");
    d.routes = vec![route("10.99.0.3/32", Some("198.51.100.254"))];
    let api = conflict_of(d.clone(), &h);
    assert!(api.contains("routes[0].to 10.99.0.3/32 overlaps 10.99.0.0/24"), "{api}");
    h.links.iter_mut().find(|l| l.name == "br0").unwrap().addresses.clear();
    assert!(conflict_of(d.clone(), &h).contains("contains the API server's address 10.99.0.3"));
    d.routes = vec![route("10.99.0.1/32", None)];
    assert!(conflict_of(d.clone(), &h).contains("contains the default gateway 10.99.0.1"));
    d.routes = vec![route("128.0.0.0/1", Some("198.51.100.254"))];
    assert!(conflict_of(d.clone(), &h).contains("covers half the address space"));
    d.routes = vec![route("0.0.0.0/0", Some("198.51.100.254")), route("203.0.113.0/24", None)];
    assert!(matches!(plan(&[d], &h, &[], &[], &Policy::default()).interfaces[0].step, Step::Create { .. }));
}

#[test]
fn an_invalid_interface_keeps_what_multinic_configured_for_it() {
    let desired = vec![want(mac(1), "198.51.100.1/24"), want(mac(2), "198.51.100.2/24")];
    let (links, owned) = apply_sim(&plan(&desired, &on(&host()), &[], &[], &Policy::default()), host(), vec![]);
    let p = plan(&desired[1..], &on(&links), &owned, &[mac(1)], &Policy::default());
    assert!(p.removals.is_empty(), "{:?}", p.removals);
    assert_eq!(p.interfaces[0].step, Step::Nothing);
}

/// A configuration rolled back for cutting the API server off is held back while
/// the spec stays the same, also as a repair; a spec change lets it go again.
#[test]
fn held_configuration_waits_for_a_spec_change() {
    let mut d = want(mac(1), "198.51.100.1/24");
    d.routes = vec![route("0.0.0.0/0", Some("198.51.100.254"))];
    let first = plan(std::slice::from_ref(&d), &on(&host()), &[], &[], &Policy::default());
    assert!(matches!(first.interfaces[0].step, Step::Create { .. }));
    let hold = Hold {
        mac: mac(1),
        config_hash: first.interfaces[0].config_hash.clone(),
        reason: multinic_api::Reason::APIServerUnreachable,
        message: "cut".into(),
        kind: super::HoldKind::UntilSpecChanges,
    };
    let policy = Policy::default();
    let with = |holds: &[Hold]| {
        super::plan(
            std::slice::from_ref(&d),
            &on(&host()),
            Context { owned: &[], keep: &[], holds, policy: &policy, vlans: &[] },
        )
    };
    let held = with(std::slice::from_ref(&hold));
    assert_eq!(held.interfaces[0].step, Step::Held(hold.clone()));
    assert!(held.is_noop() && held.waves().is_empty());
    // Another interface's hold does not hold this one.
    assert!(matches!(with(&[Hold { mac: mac(2), ..hold.clone() }]).interfaces[0].step, Step::Create { .. }));
    d.routes[0].metric = Some(500);
    let edited = super::plan(
        std::slice::from_ref(&d),
        &on(&host()),
        Context { owned: &[], keep: &[], holds: &[hold], policy: &policy, vlans: &[] },
    );
    assert!(matches!(edited.interfaces[0].step, Step::Create { .. }));
}

/// With the API server's path checked after each change, interfaces with routes
/// go one at a time after the others; without it, all at once.
#[test]
fn guarded_plan_applies_routed_interfaces_alone_and_last() {
    let mut links = host();
    links.push(link(5, "ens6", mac(3)));
    links.push(link(6, "ens7", mac(4)));
    let mut desired: Vec<ValidInterface> =
        (1..=4).map(|n| want(mac(n), &format!("198.51.{}.1/24", 100 + u32::from(n)))).collect();
    desired[0].routes = vec![route("10.20.0.0/16", Some("198.51.101.254"))];
    desired[2].routes = vec![route("10.30.0.0/16", None)];
    let mut h = on(&links);
    assert_eq!(plan(&desired, &h, &[], &[], &Policy::default()).waves(), vec![vec![0, 1, 2, 3]]);
    h.api = Some(PathTo { to: "203.0.113.10".parse().unwrap(), oif: Some(2), gateway: None });
    assert_eq!(plan(&desired, &h, &[], &[], &Policy::default()).waves(), vec![vec![1, 3], vec![0], vec![2]]);
}

/// `multinicd plan -o json` shows the step as before the target moved into it.
#[test]
fn steps_serialize_without_their_target() {
    let target = Target { link: LinkRef { index: 3, name: "ens4".into() }, name: "multinic0".into() };
    let json = |s: &Step| serde_json::to_value(s).unwrap();
    assert_eq!(json(&Step::Create { target: target.clone() }), serde_json::json!({"action": "Create"}));
    let drift = Step::Update { target, change: Change::Drift(vec!["MTU is 1500, want 1450".into()]) };
    assert_eq!(
        json(&drift),
        serde_json::json!({"action": "Update", "why": "Drift", "details": ["MTU is 1500, want 1450"]})
    );
}

fn routed(m: MacAddr, addr: &str) -> ValidInterface {
    let mut d = want(m, addr);
    d.source_routing = true;
    d.gateway = Some("198.51.100.254".parse().unwrap());
    d
}

/// The host after a network manager applied `p`, with the table and rule it asks for.
fn with_source_routing(p: &Plan, links: &[Link]) -> Host {
    let mut h = on(links);
    for ip in p.interfaces.iter().filter(|ip| ip.source.is_some()) {
        let held = source::expected(&ip.desired, ip.source.unwrap(), ip.link.as_ref().unwrap().index);
        h.policy.rules.extend(held.rules);
        h.policy.routes.extend(held.routes);
    }
    h
}

/// The drift the first interface's step repairs (a panic for any other step).
fn drift(p: &Plan) -> Vec<String> {
    match &p.interfaces[0].step {
        Step::Update { change: Change::Drift(d), .. } => d.clone(),
        other => panic!("not a drift repair: {other:?}"),
    }
}

#[test]
fn source_routing_takes_the_table_and_priority_of_the_name() {
    let mut policy = Policy::default();
    let mut d = routed(mac(2), "198.51.100.2/24");
    d.name = Some("multinic3".into());
    let p = plan(&[d.clone()], &on(&host()), &[], &[], &policy);
    assert_eq!(p.interfaces[0].source, Some(SourceRouting { table: 103, priority: 32003 }));
    policy.source_priority = 1000;
    let moved = plan(&[d.clone()], &on(&host()), &[], &[], &policy);
    assert_eq!(moved.interfaces[0].source, Some(SourceRouting { table: 103, priority: 1003 }));
    assert_ne!(moved.interfaces[0].config_hash, p.interfaces[0].config_hash, "a new priority is a change");
    d.source_routing = false;
    assert_eq!(plan(&[d], &on(&host()), &[], &[], &policy).interfaces[0].source, None);
}

#[test]
fn without_source_routing_the_hash_is_that_of_earlier_releases() {
    // What the release before source routing computed: an upgrade must not
    // rewrite every interface.
    let mut d = want(mac(1), "198.51.100.1/24");
    d.routes = vec![route("10.20.0.0/16", Some("198.51.100.254"))];
    d.gateway = Some("198.51.100.254".parse().unwrap());
    assert_eq!(config_hash(&d, "multinic0", None, source::DEFAULT_PRIORITY), "6b22118c6044e2c1");
}

#[test]
fn a_missing_rule_or_table_route_is_drift_and_a_stale_rule_too() {
    let desired = vec![routed(mac(1), "198.51.100.1/24")];
    let first = plan(&desired, &on(&host()), &[], &[], &Policy::default());
    let (links, owned) = apply_sim(&first, host(), vec![]);
    let applied = with_source_routing(&first, &links);
    assert!(plan(&desired, &applied, &owned, &[], &Policy::default()).is_noop());

    let mut no_rule = applied.clone();
    no_rule.policy.rules.clear();
    assert_eq!(
        drift(&plan(&desired, &no_rule, &owned, &[], &Policy::default())),
        ["no rule \"from 198.51.100.1 lookup 100 priority 32000\""]
    );
    let mut no_default = applied.clone();
    no_default.policy.routes.retain(|r| r.to.prefix_len() != 0);
    assert_eq!(
        drift(&plan(&desired, &no_default, &owned, &[], &Policy::default())),
        ["table 100 has no route 0.0.0.0/0 via 198.51.100.254"]
    );
    let mut stale = applied.clone();
    stale.policy.rules.push(crate::observe::Rule {
        priority: 32000,
        from: Some("198.51.100.9/32".parse().unwrap()),
        table: 100,
    });
    let p = plan(&desired, &stale, &owned, &[], &Policy::default());
    assert!(
        matches!(&p.interfaces[0].step, Step::Blocked(Block::RoutingConflict(Conflict::TableInUse { table: 100, .. }))),
        "{p:?}"
    );
}

#[test]
fn a_table_someone_else_uses_is_refused() {
    let d = routed(mac(1), "198.51.100.1/24");
    let mut h = on(&host());
    h.policy.routes.push(crate::observe::TableRoute {
        table: 100,
        to: "10.0.0.0/8".parse().unwrap(),
        gateway: None,
        oif: Some(2),
    });
    assert!(conflict_of(d.clone(), &h).contains("routing table 100, which is in use: route 10.0.0.0/8 of table 100"));
    let mut h = on(&host());
    h.policy.rules.push(crate::observe::Rule { priority: 100, from: None, table: 100 });
    assert!(conflict_of(d.clone(), &h).contains("rule \"100: from all lookup 100\""));
    // Without source routing the table is none of multinic's business.
    let mut plain = d;
    plain.source_routing = false;
    assert!(matches!(plan(&[plain], &h, &[], &[], &Policy::default()).interfaces[0].step, Step::Create { .. }));
}

fn with_ipv6(mut d: ValidInterface, accept_ra: bool) -> ValidInterface {
    d.ipv6 = Some(multinic_api::ValidIpv6 {
        addresses: vec!["2001:db8:60::10/64".parse().unwrap()],
        routes: vec![],
        accept_ra,
    });
    d
}

#[test]
fn ipv6_is_verified_address_by_address_and_only_when_dad_is_done() {
    let d = with_ipv6(want(mac(1), "198.51.100.1/24"), false);
    let mut l = link(3, "multinic0", mac(1));
    (l.up, l.oper_state, l.mtu) = (true, "up".into(), 1450);
    l.addresses = vec!["198.51.100.1/24".parse().unwrap(), "fe80::1/64".parse().unwrap()];
    assert_eq!(verify(&d, "multinic0", &l), Err(vec!["IPv6 address 2001:db8:60::10/64 is missing".into()]));
    let v6: IpNet = "2001:db8:60::10/64".parse().unwrap();
    l.addresses.push(v6);
    l.tentative.push(v6);
    assert_eq!(
        verify(&d, "multinic0", &l),
        Err(vec!["IPv6 address 2001:db8:60::10/64 is tentative (duplicate address detection)".into()])
    );
    l.tentative.clear();
    assert_eq!(verify(&d, "multinic0", &l), Ok(()));
    // A SLAAC address: drift unless router advertisements are on.
    l.addresses.push("2001:db8:60:0:5054:ff:fe00:1/64".parse().unwrap());
    assert!(verify(&d, "multinic0", &l).unwrap_err()[0].contains("not in the spec (acceptRA is off)"));
    assert_eq!(verify(&with_ipv6(want(mac(1), "198.51.100.1/24"), true), "multinic0", &l), Ok(()));
    // Without ipv6, no IPv6 address at all (link-local aside).
    assert!(verify(&want(mac(1), "198.51.100.1/24"), "multinic0", &l).unwrap_err()[0].contains("want none"));
}

#[test]
fn ipv6_addresses_multinic_gave_are_not_foreign() {
    let desired = vec![with_ipv6(want(mac(1), "198.51.100.1/24"), false)];
    let (mut links, mut owned) = apply_sim(&plan(&desired, &on(&host()), &[], &[], &Policy::default()), host(), vec![]);
    links[2].addresses.push("2001:db8:60::10/64".parse().unwrap());
    owned[0].addresses6 = vec!["2001:db8:60::10/64".parse().unwrap()];
    assert!(plan(&desired, &on(&links), &owned, &[], &Policy::default()).is_noop());
    // Changed in the spec: the old address is multinic's, the change is an update.
    let mut changed = desired.clone();
    changed[0].ipv6.as_mut().unwrap().addresses = vec!["2001:db8:60::11/64".parse().unwrap()];
    let p = plan(&changed, &on(&links), &owned, &[], &Policy::default());
    assert!(matches!(p.interfaces[0].step, Step::Update { change: Change::ConfigChanged, .. }), "{p:?}");
    // An address nobody gave it blocks.
    links[2].addresses.push("2001:db8:99::1/64".parse().unwrap());
    let p = plan(&desired, &on(&links), &owned, &[], &Policy::default());
    assert!(matches!(p.interfaces[0].step, Step::Blocked(Block::ForeignAddresses { .. })), "{p:?}");
    // Unless multinic's configuration took addresses from router advertisements.
    owned[0].accept_ra = true;
    assert!(plan(&desired, &on(&links), &owned, &[], &Policy::default()).interfaces[0].step.target().is_some());
}

#[test]
fn an_ipv6_subnet_or_route_of_the_primary_is_refused() {
    let mut links = host();
    links[1].addresses.push("2001:db8:1::10/64".parse().unwrap());
    let h = on(&links);
    let mut d = with_ipv6(want(mac(1), "198.51.100.1/24"), false);
    d.ipv6.as_mut().unwrap().addresses = vec!["2001:db8:1::99/64".parse().unwrap()];
    assert!(
        conflict_of(d.clone(), &h)
            .contains("ipv6.addresses[0] 2001:db8:1::/64 overlaps 2001:db8:1::/64 of the primary network on eth0")
    );
    let mut d = with_ipv6(want(mac(1), "198.51.100.1/24"), false);
    d.ipv6.as_mut().unwrap().routes =
        vec![multinic_api::ValidRoute6 { to: "2001:db8::/32".parse().unwrap(), via: None, metric: None }];
    assert!(conflict_of(d, &h).contains("ipv6.routes[0].to 2001:db8::/32 overlaps 2001:db8:1::/64"));
    // An address of /0 would make every IPv6 destination on-link through the NIC.
    let mut d = with_ipv6(want(mac(1), "198.51.100.1/24"), false);
    d.ipv6.as_mut().unwrap().addresses = vec!["2001:db8:5::10/0".parse().unwrap()];
    assert!(conflict_of(d, &h).contains("ipv6.addresses[0] ::/0 is shorter than /16"));
}

#[test]
fn an_ipv6_default_route_from_router_advertisements_is_drift() {
    let desired = vec![with_ipv6(want(mac(1), "198.51.100.1/24"), true)];
    let (mut links, mut owned) = apply_sim(&plan(&desired, &on(&host()), &[], &[], &Policy::default()), host(), vec![]);
    links[2].addresses.push("2001:db8:60::10/64".parse().unwrap());
    (owned[0].accept_ra, owned[0].addresses6) = (true, vec!["2001:db8:60::10/64".parse().unwrap()]);
    let mut h = on(&links);
    assert!(plan(&desired, &h, &owned, &[], &Policy::default()).is_noop());
    h.defaults.push(DefaultRoute { oif: 3, gateway: Some("fe80::1".parse().unwrap()), metric: 1024, v6: true });
    let p = plan(&desired, &h, &owned, &[], &Policy::default());
    assert!(
        matches!(&p.interfaces[0].step, Step::Update { change: Change::Drift(d), .. } if d[0].contains("IPv6 default route leaves through multinic0")),
        "{p:?}"
    );
}
