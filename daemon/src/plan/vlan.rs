// SPDX-License-Identifier: Apache-2.0
//! VLAN sub-interfaces (`vlans[]`, Neutron trunk subports). A VLAN has its own
//! profile or files, its own verify and its own status entry `multinicN.ID`, but
//! it is applied in its NIC's transaction: networkd lists a NIC's VLANs in the
//! NIC's `.network`, and a VLAN that fails rolls its NIC's change back with it, so
//! that the node never keeps half a change. It waits until its NIC has its
//! `multinicN` name, and goes before its NIC does. Its link carries the NIC's MAC,
//! so what multinic owns for it is keyed by the NIC's MAC and the VLAN id
//! ([`OwnedVlan`]), apart from the NICs' [`Owned`](super::Owned).
//!
//! Pure, as the rest of the planner. Its subnet and routes go through the NIC's
//! routing-conflict check (`routing::conflict`, fields `vlans[N]…`).
//!
//! `classify` protects a NIC with someone's VLAN on it (`Under { Lower }`), but not
//! one under a VLAN multinic owns (`Context::vlans`); `find_link` skips VLAN links,
//! which copy their parent's MAC.

use ipnet::Ipv4Net;
use multinic_api::{MacAddr, ValidVlan};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Change, InterfacePlan, LinkRef, SourceRouting, Step};
use crate::observe::{Handle, Host, Link};

/// A VLAN configuration multinic created earlier, as its backend reads it back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnedVlan {
    /// The parent NIC's MAC.
    pub parent: MacAddr,
    /// The VLAN id.
    pub id: u16,
    /// The link's name (`multinicN.ID`).
    pub name: String,
    /// [`config_hash`] of what was applied.
    pub config_hash: String,
    /// Addresses the configuration gives.
    pub addresses: Vec<Ipv4Net>,
    /// Where the backend keeps it.
    pub handle: Handle,
}

/// What to do for one VLAN of a planned interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action")]
pub enum VlanStep {
    /// As desired.
    Nothing,
    /// Not configured by multinic yet.
    Create,
    /// Configured, but not as desired.
    Update(Change),
    /// The parent is not configured (not found, blocked, held, no name): nothing is
    /// done, what multinic configured stays.
    Waiting {
        /// Why, in the parent's terms.
        parent: String,
    },
    /// Its name is carried by a link that is not this VLAN on this parent.
    NameTaken {
        /// The name.
        name: String,
    },
    /// Refused by a safety rule of its own (its source-routing table is someone
    /// else's); its NIC is configured without it.
    Blocked(super::Block),
}

/// The plan of one VLAN.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VlanPlan {
    /// The VLAN id.
    pub id: u16,
    /// `multinicN.ID`, once the parent has its name.
    pub name: Option<String>,
    /// What the spec wants.
    #[serde(skip)]
    pub desired: ValidVlan,
    /// What multinic owns for it.
    #[serde(skip)]
    pub owned: Option<OwnedVlan>,
    /// Its link, when it exists.
    pub link: Option<LinkRef>,
    /// The step.
    pub step: VlanStep,
    /// [`config_hash`] of the desired configuration.
    #[serde(skip)]
    pub config_hash: String,
    /// Its table and rule, with `sourceRouting`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRouting>,
}

impl VlanStep {
    /// Whether its NIC's transaction configures it.
    pub fn applies(&self) -> bool {
        matches!(self, VlanStep::Nothing | VlanStep::Create | VlanStep::Update(_))
    }
}

/// The link name of VLAN `id` on the NIC named `parent`.
pub fn name(parent: &str, id: u16) -> String {
    format!("{parent}.{id}")
}

/// Plan the VLANs of `ip` and what goes of them, and make its step an update when
/// only its VLANs need one.
pub fn plan_into(ip: &mut InterfacePlan, host: &Host, owned: &[OwnedVlan], base_priority: u32) {
    ip.vlans = plan(ip, host, owned, base_priority);
    ip.vlan_removals = owned
        .iter()
        .filter(|o| o.parent == ip.mac && !ip.desired.vlans.iter().any(|v| v.id == o.id))
        .cloned()
        .collect();
    let (Step::Nothing, Some(name), Some(link)) = (&ip.step, &ip.name, &ip.link) else { return };
    let mut drift = Vec::new();
    let mut changed = false;
    for v in &ip.vlans {
        match &v.step {
            VlanStep::Create => drift.push(format!("{} is not configured", v.name.as_deref().unwrap_or_default())),
            VlanStep::Update(Change::Drift(d)) => drift.extend(d.iter().cloned()),
            VlanStep::Update(Change::ConfigChanged) => changed = true,
            _ => {}
        }
    }
    drift.extend(ip.vlan_removals.iter().map(|o| format!("{} is configured but not in the spec", o.name)));
    let change = match (changed, drift.is_empty()) {
        (true, _) => Change::ConfigChanged,
        (false, false) => Change::Drift(drift),
        (false, true) => return,
    };
    ip.step = Step::Update { target: super::Target { link: link.clone(), name: name.clone() }, change };
}

/// The VLANs of a planned interface, against the host and what multinic owns.
pub fn plan(parent: &InterfacePlan, host: &Host, owned: &[OwnedVlan], base_priority: u32) -> Vec<VlanPlan> {
    parent
        .desired
        .vlans
        .iter()
        .map(|v| {
            let owned = owned.iter().find(|o| o.parent == parent.mac && o.id == v.id).cloned();
            let (Some(parent_name), Some(parent_link)) = (&parent.name, &parent.link) else {
                return waiting(v, owned, parent.step.label());
            };
            if matches!(parent.step, Step::Blocked(_) | Step::NotFound | Step::Held(_)) {
                return waiting(v, owned, parent.step.label());
            }
            let source = SourceRouting::of_vlan(v, parent_name, base_priority);
            let name = name(parent_name, v.id);
            let hash = config_hash(v, &name, source);
            let link = host.links.iter().find(|l| l.is_called(&name));
            let ours = |l: &Link| l.kind.as_deref() == Some("vlan") && l.lower == Some(parent_link.index);
            // The table is free, or already this VLAN's (its link, its addresses).
            let taken = source.and_then(|sr| {
                let mut mine = owned.as_ref().map(|o| o.addresses.clone()).unwrap_or_default();
                mine.push(v.ip.address);
                let index = link.filter(|l| ours(l)).map(|l| l.index).unwrap_or(0);
                super::source::in_use(sr, index, &mine, &host.policy)
                    .map(|why| super::Block::RoutingConflict(super::Conflict::TableInUse { table: sr.table, why }))
            });
            let step = match (link, &owned) {
                (Some(l), _) if !ours(l) => VlanStep::NameTaken { name: name.clone() },
                _ if taken.is_some() => VlanStep::Blocked(taken.clone().expect("checked just now")),
                (_, None) => VlanStep::Create,
                (_, Some(o)) if o.config_hash != hash => VlanStep::Update(Change::ConfigChanged),
                (None, Some(_)) => VlanStep::Update(Change::Drift(vec![format!("{name} does not exist")])),
                (Some(l), Some(_)) => {
                    let mut diffs = verify(v, &name, l).err().unwrap_or_default();
                    if let Some(sr) = source {
                        diffs.extend(super::source::verify(&v.ip, sr, l.index, &host.policy).err().unwrap_or_default());
                    }
                    if diffs.is_empty() { VlanStep::Nothing } else { VlanStep::Update(Change::Drift(diffs)) }
                }
            };
            VlanPlan {
                id: v.id,
                link: link.map(|l| LinkRef { index: l.index, name: l.name.clone() }),
                name: Some(name),
                desired: v.clone(),
                owned,
                step,
                config_hash: hash,
                source,
            }
        })
        .collect()
}

fn waiting(v: &ValidVlan, owned: Option<OwnedVlan>, parent: &str) -> VlanPlan {
    VlanPlan {
        id: v.id,
        name: None,
        desired: v.clone(),
        owned,
        link: None,
        step: VlanStep::Waiting { parent: parent.to_string() },
        config_hash: String::new(),
        source: None,
    }
}

/// The owned VLANs whose NIC is neither in the spec nor kept (`keep`: the MACs
/// whose configuration stays): removed before the NICs' configurations. Those of a
/// NIC in the spec go in its transaction ([`plan_into`]).
pub fn orphans<'a>(
    owned: &'a [OwnedVlan],
    desired: &[multinic_api::ValidInterface],
    keep: &[MacAddr],
) -> Vec<&'a OwnedVlan> {
    owned.iter().filter(|o| !desired.iter().any(|d| d.mac == o.parent) && !keep.contains(&o.parent)).collect()
}

/// The status message of a configured VLAN.
pub fn configured_message(v: &VlanPlan, nic: &str) -> String {
    let mtu = v.desired.ip.mtu.map(|m| format!(", MTU {m}")).unwrap_or_default();
    let source = v.source.map(|sr| format!(", source routing table {}", sr.table)).unwrap_or_default();
    format!("up with {}, VLAN {} on {nic}{mtu}{source}", v.desired.ip.address, v.id)
}

/// Does the VLAN link look as desired? Up with carrier, exactly the address, the
/// MTU when one is set.
pub fn verify(v: &ValidVlan, name: &str, link: &Link) -> Result<(), Vec<String>> {
    let mut diffs = Vec::new();
    if !link.up {
        diffs.push(format!("{name} is down"));
    } else if !link.has_carrier() {
        diffs.push(format!("{name} has no carrier (operational state {})", link.oper_state));
    }
    if link.ipv4() != [v.ip.address] {
        let have: Vec<String> = link.ipv4().iter().map(|a| a.to_string()).collect();
        diffs.push(format!("{name} IPv4 addresses are [{}], want [{}]", have.join(", "), v.ip.address));
    }
    if let Some(mtu) = v.ip.mtu
        && link.mtu != mtu
    {
        diffs.push(format!("{name} MTU is {}, want {mtu}", link.mtu));
    }
    if diffs.is_empty() { Ok(()) } else { Err(diffs) }
}

/// Hash of everything multinic applies for a VLAN.
pub fn config_hash(v: &ValidVlan, name: &str, source: Option<SourceRouting>) -> String {
    let mut h = Sha256::new();
    h.update(format!("vlan1|{name}|{}|{}|{:?}|", v.id, v.ip.address, v.ip.mtu));
    if let Some(sr) = source {
        h.update(format!("sr:{}@{}>{:?}|", sr.table, sr.priority, v.ip.gateway));
    }
    for r in &v.ip.routes {
        h.update(format!("r:{}>{:?}@{:?}|", r.to, r.via, r.metric));
    }
    for s in &v.ip.dns {
        h.update(format!("dns:{s}|"));
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{apply_sim, host, mac, on, plan as plan_all, want};
    use super::super::{Block, Policy};
    use super::*;

    fn vlan(id: u16, addr: &str) -> ValidVlan {
        ValidVlan {
            id,
            ip: multinic_api::ValidIp4 {
                address: addr.parse().unwrap(),
                mtu: None,
                routes: vec![],
                dns: vec![],
                gateway: None,
            },
            source_routing: false,
        }
    }

    /// VLAN 100 of MAC 01 at 10.100.0.5/24, as its manager reads it back.
    /// The host after `p` applied, with `multinic0.100` on its NIC and owned.
    fn applied_with_vlan(p: &crate::plan::Plan, config_hash: &str) -> (Vec<Link>, Vec<crate::plan::Owned>, OwnedVlan) {
        let (mut links, owned) = apply_sim(p, host(), vec![]);
        links.push(vlan_link(9, "multinic0.100", 3, "10.100.0.5/24"));
        (links, owned, owned_100(config_hash))
    }

    fn owned_100(config_hash: &str) -> OwnedVlan {
        OwnedVlan {
            parent: mac(1),
            id: 100,
            name: "multinic0.100".into(),
            config_hash: config_hash.into(),
            addresses: vec!["10.100.0.5/24".parse().unwrap()],
            handle: Handle::NmProfile("/vlan".into()),
        }
    }

    fn vlan_link(index: u32, name: &str, parent: u32, addr: &str) -> Link {
        let mut l = super::super::tests::link(index, name, mac(1));
        (l.up, l.oper_state, l.kind, l.lower) = (true, "up".into(), Some("vlan".into()), Some(parent));
        l.addresses = vec![addr.parse().unwrap()];
        l
    }

    #[test]
    fn a_vlan_waits_for_its_parent_then_is_created_then_is_left_alone() {
        let mut d = want(mac(1), "198.51.100.1/24");
        d.vlans = vec![vlan(100, "10.100.0.5/24")];
        // The parent's NIC is not there: the VLAN waits.
        let p = plan_all(std::slice::from_ref(&d), &on(&host()[..2]), &[], &[], &Policy::default());
        assert!(
            matches!(&plan(&p.interfaces[0], &on(&host()[..2]), &[], 32000)[0].step, VlanStep::Waiting { parent } if parent == "not-found")
        );
        let p = plan_all(std::slice::from_ref(&d), &on(&host()), &[], &[], &Policy::default());
        let v = plan(&p.interfaces[0], &on(&host()), &[], 32000);
        assert_eq!((v[0].name.as_deref(), &v[0].step), (Some("multinic0.100"), &VlanStep::Create));
        // Applied: the parent renamed and configured, the VLAN link on it, owned.
        let (mut links, owned, owned_vlan) = applied_with_vlan(&p, &v[0].config_hash);
        let cx = super::super::Context {
            owned: &owned,
            keep: &[],
            holds: &[],
            policy: &Policy::default(),
            vlans: std::slice::from_ref(&owned_vlan),
        };
        let again = super::super::plan(std::slice::from_ref(&d), &on(&links), cx);
        let v = plan(&again.interfaces[0], &on(&links), std::slice::from_ref(&owned_vlan), 32000);
        assert_eq!(v[0].step, VlanStep::Nothing, "{:?}", again.interfaces[0].step);
        // Its address flushed: drift.
        links.last_mut().unwrap().addresses.clear();
        let v = plan(&again.interfaces[0], &on(&links), std::slice::from_ref(&owned_vlan), 32000);
        assert!(matches!(&v[0].step, VlanStep::Update(Change::Drift(d)) if d[0].contains("IPv4")), "{v:?}");
        // Taken out of the spec: removed in its NIC's transaction; its NIC gone from
        // the spec and not kept: removed before the NICs.
        d.vlans.clear();
        assert_eq!(orphans(std::slice::from_ref(&owned_vlan), std::slice::from_ref(&d), &[]).len(), 0);
        assert_eq!(orphans(std::slice::from_ref(&owned_vlan), &[], &[]).len(), 1);
        assert_eq!(orphans(std::slice::from_ref(&owned_vlan), &[], &[mac(1)]).len(), 0, "kept with its parent");
    }

    #[test]
    fn the_planner_plans_vlans_with_their_nic_and_removes_them_first() {
        let mut d = want(mac(1), "198.51.100.1/24");
        d.vlans = vec![vlan(100, "10.100.0.5/24")];
        let p = plan_all(std::slice::from_ref(&d), &on(&host()), &[], &[], &Policy::default());
        assert_eq!(p.interfaces[0].vlans[0].step, VlanStep::Create);
        assert!(!p.is_noop());
        let gone = OwnedVlan {
            parent: mac(1),
            id: 200,
            name: "multinic0.200".into(),
            config_hash: String::new(),
            addresses: vec![],
            handle: Handle::NmProfile("/vlan".into()),
        };
        let cx = super::super::Context {
            owned: &[],
            keep: &[],
            holds: &[],
            policy: &Policy::default(),
            vlans: std::slice::from_ref(&gone),
        };
        let p = super::super::plan(std::slice::from_ref(&d), &on(&host()), cx);
        assert_eq!(p.interfaces[0].vlan_removals, vec![gone.clone()], "in its NIC's transaction");
        assert!(p.vlan_removals.is_empty());
        let p = super::super::plan(&[], &on(&host()), cx);
        assert_eq!(p.vlan_removals, vec![gone], "before its NIC's removal");
    }

    #[test]
    fn a_name_carried_by_another_link_is_not_taken() {
        let mut d = want(mac(1), "198.51.100.1/24");
        d.vlans = vec![vlan(100, "10.100.0.5/24")];
        let mut links = host();
        let mut other = vlan_link(9, "multinic0.100", 4, "10.100.0.5/24");
        other.lower = Some(4);
        links.push(other);
        let p = plan_all(std::slice::from_ref(&d), &on(&links), &[], &[], &Policy::default());
        assert!(!matches!(p.interfaces[0].step, Step::Blocked(Block::NameTaken { .. })), "the parent is fine");
        let v = plan(&p.interfaces[0], &on(&links), &[], 32000);
        assert_eq!(v[0].step, VlanStep::NameTaken { name: "multinic0.100".into() });
    }

    /// A VLAN's subnet is checked as its NIC's: one overlapping the primary network
    /// refuses the NIC, naming the VLAN's field, and nothing is written.
    #[test]
    fn a_vlan_subnet_in_the_primary_network_refuses_its_nic() {
        let mut d = want(mac(1), "198.51.100.1/24");
        d.vlans = vec![vlan(100, "192.0.2.77/24")];
        let p = plan_all(std::slice::from_ref(&d), &on(&host()), &[], &[], &Policy::default());
        let Step::Blocked(Block::RoutingConflict(c)) = &p.interfaces[0].step else {
            panic!("{:?}", p.interfaces[0].step)
        };
        assert!(c.to_string().starts_with("vlans[0].cidr 192.0.2.0/24 overlaps 192.0.2.0/24"), "{c}");
        assert!(matches!(p.interfaces[0].vlans[0].step, VlanStep::Waiting { .. }));
    }

    /// A VLAN with `sourceRouting` gets table `10000 × (N + 1) + ID` and its NIC's
    /// priority; the kernel must hold its rule (a deleted one is drift); a table
    /// someone else uses refuses the VLAN, not its NIC.
    #[test]
    fn a_vlan_routes_from_its_own_table() {
        let mut d = want(mac(1), "198.51.100.1/24");
        let mut v = vlan(100, "10.100.0.5/24");
        (v.ip.gateway, v.source_routing) = (Some("10.100.0.1".parse().unwrap()), true);
        d.vlans = vec![v.clone()];
        let p = plan_all(std::slice::from_ref(&d), &on(&host()), &[], &[], &Policy::default());
        let sr = p.interfaces[0].vlans[0].source.expect("a table");
        assert_eq!((sr.table, sr.priority), (10100, 32000));
        assert!(crate::observe::is_source_table(10100) && crate::observe::is_source_table(104094));
        assert!(!crate::observe::is_source_table(10000) && !crate::observe::is_source_table(110_100));
        // Applied: the link, and what the manager put in the kernel.
        let (links, owned, owned_vlan) = applied_with_vlan(&p, &p.interfaces[0].vlans[0].config_hash);
        let mut host = on(&links);
        host.policy = super::super::source::expected(&v.ip, sr, 9);
        let cx = super::super::Context {
            owned: &owned,
            keep: &[],
            holds: &[],
            policy: &Policy::default(),
            vlans: std::slice::from_ref(&owned_vlan),
        };
        let again = super::super::plan(std::slice::from_ref(&d), &host, cx);
        assert_eq!(again.interfaces[0].vlans[0].step, VlanStep::Nothing, "{:?}", again.interfaces[0].step);
        host.policy.rules.clear();
        let again = super::super::plan(std::slice::from_ref(&d), &host, cx);
        assert!(
            matches!(&again.interfaces[0].vlans[0].step, VlanStep::Update(Change::Drift(d)) if d[0].contains("lookup 10100")),
            "{:?}",
            again.interfaces[0].vlans[0].step
        );
        // Table 10100 looked up for someone else's source: the VLAN is refused.
        host.policy.rules.push(crate::observe::Rule {
            priority: 100,
            from: Some("192.0.2.0/24".parse().unwrap()),
            table: 10100,
        });
        let again = super::super::plan(std::slice::from_ref(&d), &host, cx);
        assert!(
            matches!(&again.interfaces[0].vlans[0].step, VlanStep::Blocked(super::super::Block::RoutingConflict(_))),
            "{:?}",
            again.interfaces[0].vlans[0].step
        );
        assert!(!again.interfaces[0].vlans[0].step.applies());
    }
}
