// SPDX-License-Identifier: Apache-2.0
//! The planner: desired spec + observed links + what multinic owns → a plan per
//! interface. Pure (no I/O), and the one place that holds the safety rules of
//! DESIGN.md, so that every backend obeys them alike.
//!
//! Order of decisions for each desired interface:
//! 1. find its link by MAC (permanent MAC first);
//! 2. give it a name (explicit name, then the `multinicN` it carries, then the one
//!    multinic gave it before, then the lowest free one);
//! 3. refuse when a safety rule says so ([`Block`]);
//! 4. compare with what is owned and observed: nothing, update, or create.

mod classify;
mod naming;
mod routing;
mod safety;
pub mod source;
#[cfg(test)]
pub(crate) mod tests;
pub mod vlan;

use std::fmt;

use ipnet::{Ipv4Net, Ipv6Net};
use multinic_api::{MacAddr, Reason, ValidInterface};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::observe::{Host, Link};
pub use classify::{Protection, Role, classify};
pub use routing::Conflict;
pub use safety::Policy;
pub use source::SourceRouting;

/// A configuration multinic created earlier (an NM connection, networkd files),
/// as its backend reads it back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owned {
    /// MAC the configuration is bound to.
    pub mac: MacAddr,
    /// Name multinic gave the link.
    pub name: String,
    /// The link's kernel name before multinic renamed it, to restore on cleanup.
    pub original_name: Option<String>,
    /// The link's MTU before multinic configured it, to restore on cleanup, when
    /// recorded (networkd; NetworkManager puts it back by itself).
    #[serde(default)]
    pub original_mtu: Option<u32>,
    /// [`config_hash`] of what was applied.
    pub config_hash: String,
    /// Addresses the configuration gives.
    pub addresses: Vec<Ipv4Net>,
    /// IPv6 addresses the configuration gives.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses6: Vec<Ipv6Net>,
    /// The configuration takes IPv6 addresses from router advertisements: the
    /// link's other IPv6 addresses are its doing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub accept_ra: bool,
    /// Whether the configuration is active on its device right now.
    pub active: bool,
    /// Where the backend keeps it.
    pub handle: crate::observe::Handle,
}

impl Owned {
    /// The addresses the configuration gives, both families.
    pub fn given(&self) -> Vec<ipnet::IpNet> {
        self.addresses
            .iter()
            .map(|a| ipnet::IpNet::V4(*a))
            .chain(self.addresses6.iter().map(|a| ipnet::IpNet::V6(*a)))
            .collect()
    }
}

/// Where a planned interface is on the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LinkRef {
    /// Kernel index.
    pub index: u32,
    /// Current kernel name.
    pub name: String,
}

/// Why an interface is refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason")]
pub enum Block {
    /// The link is never touched (see [`classify`]).
    Protected(Protection),
    /// The spec's subnet or routes would cut into the primary network.
    RoutingConflict(Conflict),
    /// The link is up with addresses multinic did not give it.
    ForeignAddresses {
        /// Those addresses.
        addresses: Vec<String>,
    },
    /// The name the interface must have is carried by a link with another MAC.
    NameTaken {
        /// The name.
        name: String,
        /// The other link's MAC.
        other_mac: Option<MacAddr>,
    },
    /// All of `multinic0` … `multinic9` are taken.
    NoFreeName,
    /// More than one link carries this MAC.
    AmbiguousMac {
        /// Their names.
        links: Vec<String>,
    },
}

impl Block {
    /// The reason status gives.
    pub fn reason(&self) -> Reason {
        match self {
            Block::Protected(p) => p.reason(),
            Block::RoutingConflict(_) => Reason::RoutingConflict,
            Block::ForeignAddresses { .. } => Reason::ForeignAddresses,
            Block::NameTaken { .. } => Reason::NameTakenByOtherMac,
            Block::NoFreeName => Reason::NoFreeName,
            Block::AmbiguousMac { .. } => Reason::AmbiguousMac,
        }
    }

    /// Whether this block deserves journald priority `crit`: a name carried by a NIC
    /// with another MAC means the node's NIC layout is not what the cluster thinks.
    pub fn is_critical(&self) -> bool {
        matches!(self, Block::NameTaken { .. })
    }
}

impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Block::Protected(p) => write!(f, "the link is protected: {p}; multinic never touches it"),
            Block::RoutingConflict(c) => write!(f, "{c}; nothing was written"),
            Block::ForeignAddresses { addresses } => {
                write!(
                    f,
                    "the link is up with addresses multinic did not give it ({}); remove them or fix the MAC",
                    addresses.join(", ")
                )
            }
            Block::NameTaken { name, other_mac } => match other_mac {
                Some(mac) => write!(
                    f,
                    "{name} already exists with MAC {mac}; not renaming anything: check the spec's MAC or free the name"
                ),
                None => write!(f, "{name} already exists with another MAC; not renaming anything"),
            },
            Block::NoFreeName => write!(f, "multinic0 … multinic9 are all taken"),
            Block::AmbiguousMac { links } => {
                write!(f, "several links carry this MAC ({}); refusing to guess", links.join(", "))
            }
        }
    }
}

/// Why an owned interface needs an update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "why", content = "details")]
pub enum Change {
    /// The spec changed since it was applied.
    ConfigChanged,
    /// The spec did not change but the host no longer matches it.
    Drift(Vec<String>),
}

/// What to do for one interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action")]
pub enum Step {
    /// Already as desired: no write at all.
    Nothing,
    /// Not configured by multinic yet.
    Create {
        /// The link and the name it gets.
        #[serde(skip)]
        target: Target,
    },
    /// Configured by multinic, but not as desired.
    Update {
        /// The link and the name it gets.
        #[serde(skip)]
        target: Target,
        /// Why.
        #[serde(flatten)]
        change: Change,
    },
    /// Refused by a safety rule.
    Blocked(Block),
    /// No link with this MAC.
    NotFound,
    /// This very configuration was rolled back before, for a reason that only a
    /// spec change can cure: not applied again.
    Held(Hold),
}

/// What a transaction changes: a link found by its MAC, and the name it gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The link.
    pub link: LinkRef,
    /// The name it gets.
    pub name: String,
}

impl Target {
    /// The link's current name, when it is not the one it gets.
    pub fn rename_from(&self) -> Option<&str> {
        (self.link.name != self.name).then_some(self.link.name.as_str())
    }
}

impl Step {
    /// The link and name a step that applies changes; `None` for the others.
    pub fn target(&self) -> Option<&Target> {
        match self {
            Step::Create { target } | Step::Update { target, .. } => Some(target),
            _ => None,
        }
    }

    /// Short lowercase label for tables.
    pub fn label(&self) -> &'static str {
        match self {
            Step::Nothing => "nothing",
            Step::Create { .. } => "create",
            Step::Update { change: Change::ConfigChanged, .. } => "update",
            Step::Update { change: Change::Drift(_), .. } => "repair",
            Step::Blocked(_) => "blocked",
            Step::NotFound => "not-found",
            Step::Held(_) => "held",
        }
    }
}

/// A configuration that was rolled back because it cut the node off from its API
/// server: applying it again would do the same, so it waits for a spec change
/// (a new [`config_hash`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hold {
    /// The interface's MAC.
    pub mac: MacAddr,
    /// [`config_hash`] of the configuration that was rolled back.
    pub config_hash: String,
    /// Why it was rolled back.
    pub reason: Reason,
    /// What happened.
    pub message: String,
    /// Until when.
    pub kind: HoldKind,
}

/// How long a configuration is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum HoldKind {
    /// Until its spec changes: applying it again would do the same (it moved the
    /// route to the API server).
    UntilSpecChanges,
    /// Until its next attempt is due ([`crate::retry`]).
    Backoff,
}

/// The plan for one desired interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InterfacePlan {
    /// The desired interface.
    #[serde(skip)]
    pub desired: ValidInterface,
    /// MAC (for output).
    pub mac: MacAddr,
    /// Name it gets (or would get).
    pub name: Option<String>,
    /// Its link, when found.
    pub link: Option<LinkRef>,
    /// What multinic owns for this MAC.
    #[serde(skip)]
    pub owned: Option<Owned>,
    /// The step.
    pub step: Step,
    /// [`config_hash`] of the desired configuration.
    #[serde(skip)]
    pub config_hash: String,
    /// Its table and rule, with `sourceRouting`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRouting>,
    /// The manager's generated configuration on the link (NM's auto-default
    /// profile, a networkd catch-all), which multinic takes over, and the addresses
    /// it gave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub takeover: Option<Takeover>,
    /// Interfaces (indices into [`Plan::interfaces`]) that must be applied first,
    /// because they carry the name this one gets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<usize>,
    /// Its VLANs, applied in its transaction.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vlans: Vec<vlan::VlanPlan>,
    /// Its VLANs multinic configured that the spec no longer lists: removed in its
    /// transaction.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vlan_removals: Vec<vlan::OwnedVlan>,
}

impl InterfacePlan {
    /// The link must be renamed from its current name before it is configured.
    pub fn rename_from(&self) -> Option<&str> {
        self.step.target().and_then(Target::rename_from)
    }
}

/// A NIC held only by the manager's own generated configuration, taken over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Takeover {
    /// The profile.
    pub profile: crate::observe::Generated,
    /// The addresses it gave the link (DHCP), which go with it.
    pub addresses: Vec<ipnet::IpNet>,
}

/// An owned configuration to remove: its MAC is no longer in the spec (or cleanup).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Removal {
    /// The configuration.
    pub owned: Owned,
    /// Its link, when present.
    pub link: Option<LinkRef>,
    /// Kernel name to give the link back, when multinic renamed it.
    pub restore_name: Option<String>,
}

/// The whole plan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// One entry per desired interface, in spec order.
    pub interfaces: Vec<InterfacePlan>,
    /// Owned configurations to remove, done before the interfaces are applied.
    pub removals: Vec<Removal>,
    /// Owned VLAN configurations whose NIC is no longer in the spec: removed before
    /// any NIC's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vlan_removals: Vec<vlan::OwnedVlan>,
    /// The API server's path is checked after each change: interfaces with routes
    /// then go one at a time, after the others, so that a failed check is the fault
    /// of the one interface being applied.
    #[serde(skip)]
    pub guarded: bool,
}

impl Plan {
    /// Indices of the interfaces to apply, wave by wave: every interface comes after
    /// those in its [`InterfacePlan::after`]; each wave may run concurrently. When
    /// [`Plan::guarded`], an interface with routes is a wave of its own.
    pub fn waves(&self) -> Vec<Vec<usize>> {
        let mut done = vec![false; self.interfaces.len()];
        let mut out = Vec::new();
        loop {
            let ready: Vec<usize> = (0..self.interfaces.len())
                .filter(|&k| !done[k] && matches!(self.interfaces[k].step, Step::Create { .. } | Step::Update { .. }))
                .filter(|&k| self.interfaces[k].after.iter().all(|&j| done[j]))
                .collect();
            let routed = |k: &usize| {
                let d = &self.interfaces[*k].desired;
                self.guarded
                    && (!d.routes.is_empty()
                        || d.ipv6.as_ref().is_some_and(|v6| !v6.routes.is_empty())
                        || d.vlans.iter().any(|v| !v.ip.routes.is_empty()))
            };
            let wave: Vec<usize> = match ready.iter().copied().filter(|k| !routed(k)).collect::<Vec<_>>() {
                quiet if !quiet.is_empty() => quiet,
                _ => ready.into_iter().take(1).collect(),
            };
            if wave.is_empty() {
                return out;
            }
            for &k in &wave {
                done[k] = true;
            }
            out.push(wave);
        }
    }

    /// True when applying this plan writes nothing.
    pub fn is_noop(&self) -> bool {
        self.removals.is_empty()
            && self.vlan_removals.is_empty()
            && self.interfaces.iter().all(|i| !matches!(i.step, Step::Create { .. } | Step::Update { .. }))
    }
}

/// What the planner is given besides the spec and the host.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// What multinic configured earlier.
    pub owned: &'a [Owned],
    /// MACs whose owned configuration stays although no valid interface asks for
    /// it (their spec entry is invalid).
    pub keep: &'a [MacAddr],
    /// Configurations not to apply again.
    pub holds: &'a [Hold],
    /// The safety settings.
    pub policy: &'a Policy,
    /// The VLANs multinic configured earlier.
    pub vlans: &'a [vlan::OwnedVlan],
}

/// Plan `desired` against the host. See the module docs for the order of decisions.
pub fn plan(desired: &[ValidInterface], host: &Host, cx: Context<'_>) -> Plan {
    let Context { owned, keep, holds, policy, .. } = cx;
    let links = &host.links;
    let explicit_default: Vec<MacAddr> =
        desired.iter().filter(|d| d.routes.iter().any(|r| r.to.prefix_len() == 0)).map(|d| d.mac).collect();
    let own_vlans: Vec<String> = cx.vlans.iter().map(|v| v.name.clone()).collect();
    let roles = classify(host, owned, &own_vlans, &explicit_default, policy);
    let found: Vec<Found<'_>> = desired.iter().map(|d| find_link(d.mac, links)).collect();
    let names = naming::assign(desired, &found, links, owned);

    let removals: Vec<Removal> = owned
        .iter()
        .filter(|o| !desired.iter().any(|d| d.mac == o.mac) && !keep.contains(&o.mac))
        .map(|o| removal(o, links))
        .collect();

    let interfaces = desired
        .iter()
        .zip(found)
        .zip(names)
        .map(|((d, found), name)| {
            let owned = owned.iter().find(|o| o.mac == d.mac).cloned();
            let source = name.as_deref().and_then(|n| SourceRouting::of(d, n, policy.source_priority));
            let hash = name.as_deref().map(|n| config_hash(d, n, source, policy.source_priority)).unwrap_or_default();
            let mut takeover = None;
            let (link, step) = match found {
                Found::None => (None, Step::NotFound),
                Found::Many(many) => {
                    (None, Step::Blocked(Block::AmbiguousMac { links: many.iter().map(|l| l.name.clone()).collect() }))
                }
                Found::One(link) => {
                    let role = roles.get(&link.index).cloned().unwrap_or(Role::Free);
                    if matches!(role, Role::Generated { .. }) {
                        takeover = host.generated.iter().find(|g| g.iface == link.name).map(|g| Takeover {
                            profile: g.clone(),
                            addresses: link.given_addresses().copied().collect(),
                        });
                    }
                    let block = safety::check(d, link, &role, owned.as_ref())
                        .or_else(|| {
                            routing::conflict(d, host, &roles, policy.min_prefix_len).map(Block::RoutingConflict)
                        })
                        .or_else(|| {
                            let sr = source?;
                            let mut ours = owned.as_ref().map(|o| o.addresses.clone()).unwrap_or_default();
                            ours.push(d.address);
                            source::in_use(sr, link.index, &ours, &host.policy)
                                .map(|why| Block::RoutingConflict(Conflict::TableInUse { table: sr.table, why }))
                        });
                    let link_ref = LinkRef { index: link.index, name: link.name.clone() };
                    let step = match (block, &name) {
                        (Some(block), _) => Step::Blocked(block),
                        (None, None) => Step::Blocked(Block::NoFreeName),
                        (None, Some(name)) => {
                            let target = Target { link: link_ref.clone(), name: name.clone() };
                            match decide(d, link, owned.as_ref(), target, &hash, source, host) {
                                Step::Create { .. } | Step::Update { .. }
                                    if let Some(h) = holds.iter().find(|h| h.mac == d.mac && h.config_hash == hash) =>
                                {
                                    Step::Held(h.clone())
                                }
                                step => step,
                            }
                        }
                    };
                    (Some(link_ref), step)
                }
            };
            InterfacePlan {
                desired: d.clone(),
                mac: d.mac,
                name,
                link,
                owned,
                step,
                config_hash: hash,
                source,
                takeover,
                after: Vec::new(),
                vlans: Vec::new(),
                vlan_removals: Vec::new(),
            }
        })
        .collect();
    let vlan_removals = vlan::orphans(cx.vlans, desired, keep).into_iter().cloned().collect();
    let mut plan = Plan { interfaces, removals, vlan_removals, guarded: host.api.is_some() };
    resolve_name_holders(&mut plan, links);
    for ip in &mut plan.interfaces {
        vlan::plan_into(ip, host, cx.vlans, policy.source_priority);
    }
    plan
}

/// Remove everything multinic owns (the CR was deleted, or `multinicd cleanup`).
pub fn cleanup(host: &Host, owned: &[Owned], vlans: &[vlan::OwnedVlan], policy: &Policy) -> Plan {
    plan(&[], host, Context { owned, keep: &[], holds: &[], policy, vlans })
}

/// The name an interface must get may be carried by another link now. That is fine
/// when the other link leaves the name first: a removal that restores its kernel
/// name, or another planned interface that is renamed away (then this one waits for
/// it, see [`InterfacePlan::after`]). Otherwise the interface is blocked: multinic
/// never renames a NIC it was not asked to.
fn resolve_name_holders(plan: &mut Plan, links: &[Link]) {
    for i in 0..plan.interfaces.len() {
        let this = &plan.interfaces[i];
        let (Some(name), Some(own)) = (&this.name, &this.link) else {
            continue;
        };
        if !matches!(this.step, Step::Create { .. } | Step::Update { .. }) {
            continue;
        }
        let Some(holder) = links.iter().find(|l| l.is_called(name) && l.index != own.index) else {
            continue;
        };
        let restored = plan
            .removals
            .iter()
            .any(|r| r.link.as_ref().is_some_and(|l| l.index == holder.index) && r.restore_name.is_some());
        if restored {
            continue;
        }
        let moving = plan.interfaces.iter().position(|j| {
            j.link.as_ref().is_some_and(|l| l.index == holder.index) && j.name.as_ref() != Some(&holder.name)
        });
        let taken = Step::Blocked(Block::NameTaken { name: name.clone(), other_mac: holder.hw_mac() });
        match moving {
            Some(j) => plan.interfaces[i].after.push(j),
            None => plan.interfaces[i].step = taken,
        }
    }
    // An interface whose predecessor cannot go (blocked, or waiting in a cycle)
    // cannot go either.
    loop {
        let mut changed = false;
        for i in 0..plan.interfaces.len() {
            let i_plan = &plan.interfaces[i];
            if !matches!(i_plan.step, Step::Create { .. } | Step::Update { .. }) || i_plan.after.is_empty() {
                continue;
            }
            let stuck = i_plan.after.iter().any(|&j| {
                !matches!(plan.interfaces[j].step, Step::Create { .. } | Step::Update { .. }) || waits_on(plan, j, i)
            });
            if stuck {
                let name = i_plan.name.clone().unwrap_or_default();
                let other_mac = plan.interfaces[i_plan.after[0]]
                    .link
                    .as_ref()
                    .and_then(|l| links.iter().find(|x| x.index == l.index))
                    .and_then(Link::hw_mac);
                plan.interfaces[i].step = Step::Blocked(Block::NameTaken { name, other_mac });
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
}

/// Whether interface `from` (transitively) waits on interface `to`.
fn waits_on(plan: &Plan, from: usize, to: usize) -> bool {
    let mut stack = vec![from];
    let mut seen = vec![false; plan.interfaces.len()];
    while let Some(k) = stack.pop() {
        if k == to {
            return true;
        }
        if !std::mem::replace(&mut seen[k], true) {
            stack.extend(&plan.interfaces[k].after);
        }
    }
    false
}

/// Links carrying a MAC.
pub(crate) enum Found<'a> {
    None,
    One(&'a Link),
    Many(Vec<&'a Link>),
}

impl<'a> Found<'a> {
    pub(crate) fn link(&self) -> Option<&'a Link> {
        match self {
            Found::One(l) => Some(l),
            _ => None,
        }
    }
}

/// Permanent MAC first: a bond or bridge may copy a NIC's current MAC, never its
/// permanent one.
pub(crate) fn find_link(mac: MacAddr, links: &[Link]) -> Found<'_> {
    let by_perm: Vec<&Link> = links.iter().filter(|l| l.perm_mac == Some(mac)).collect();
    // A VLAN copies its parent's MAC: it is never the NIC (WIP, wip/vlans).
    let by_mac = || links.iter().filter(|l| l.mac == Some(mac) && l.kind.as_deref() != Some("vlan")).collect();
    let candidates = if by_perm.is_empty() { by_mac() } else { by_perm };
    match candidates.len() {
        0 => Found::None,
        1 => Found::One(candidates[0]),
        _ => Found::Many(candidates),
    }
}

fn removal(owned: &Owned, links: &[Link]) -> Removal {
    let link = find_link(owned.mac, links).link();
    let restore_name = match (link, &owned.original_name) {
        (Some(l), Some(original)) if l.name == owned.name && original != &l.name => {
            // Never restore onto a name another link carries now.
            (!links.iter().any(|other| other.index != l.index && other.is_called(original))).then(|| original.clone())
        }
        _ => None,
    };
    Removal { owned: owned.clone(), link: link.map(|l| LinkRef { index: l.index, name: l.name.clone() }), restore_name }
}

fn decide(
    d: &ValidInterface,
    link: &Link,
    owned: Option<&Owned>,
    target: Target,
    hash: &str,
    source: Option<SourceRouting>,
    host: &Host,
) -> Step {
    let Some(owned) = owned else {
        return Step::Create { target };
    };
    if owned.config_hash != hash {
        return Step::Update { target, change: Change::ConfigChanged };
    }
    let mut drift = verify(d, &target.name, link).err().unwrap_or_default();
    drift.extend(verify_routes(d, source, link, &host.defaults, &host.policy).err().unwrap_or_default());
    if !owned.active {
        drift.push("configuration is not active on the device".into());
    }
    if drift.is_empty() { Step::Nothing } else { Step::Update { target, change: Change::Drift(drift) } }
}

/// Does the link look as desired? Up with carrier, named as planned, exactly the desired IPv4
/// address, the desired MTU when one is set, and IPv6 as `ipv6` says. Returns the
/// differences.
pub fn verify(d: &ValidInterface, name: &str, link: &Link) -> Result<(), Vec<String>> {
    let mut diffs = Vec::new();
    if link.name != name {
        diffs.push(format!("name is {}, want {name}", link.name));
    }
    if !link.up {
        diffs.push("link is down".into());
    } else if !link.has_carrier() {
        diffs.push(format!("link has no carrier (operational state {})", link.oper_state));
    }
    let v4 = link.ipv4();
    if v4 != [d.address] {
        let have: Vec<String> = v4.iter().map(|a| a.to_string()).collect();
        diffs.push(format!("IPv4 addresses are [{}], want [{}]", have.join(", "), d.address));
    }
    if let Some(mtu) = d.mtu
        && link.mtu != mtu
    {
        diffs.push(format!("MTU is {}, want {mtu}", link.mtu));
    }
    diffs.extend(verify_ipv6(d, link));
    if diffs.is_empty() { Ok(()) } else { Err(diffs) }
}

/// Are the link's routes as desired? Its source-routing table and rule, and no
/// IPv6 default route through it that the spec does not list (router
/// advertisements give one where networkd ignores `UseGateway=no`, before 250).
pub fn verify_routes(
    d: &ValidInterface,
    source: Option<SourceRouting>,
    link: &Link,
    defaults: &[crate::observe::DefaultRoute],
    policy: &crate::observe::PolicyRouting,
) -> Result<(), Vec<String>> {
    let mut diffs = match source {
        Some(sr) => source::verify(d, sr, link.index, policy).err().unwrap_or_default(),
        None => Vec::new(),
    };
    let asked = d.ipv6.iter().flat_map(|v6| &v6.routes).any(|r| r.to.prefix_len() == 0);
    if d.accepts_ra() && !asked && defaults.iter().any(|r| r.v6 && r.oif == link.index) {
        diffs.push(format!(
            "an IPv6 default route leaves through {} although the spec lists none (from router advertisements; \
             systemd-networkd before 250 ignores UseGateway=no): turn acceptRA off",
            link.name
        ));
    }
    if diffs.is_empty() { Ok(()) } else { Err(diffs) }
}

/// IPv6: every static address there and usable (duplicate address detection done);
/// no other address unless router advertisements are on; none at all without
/// `ipv6`.
fn verify_ipv6(d: &ValidInterface, link: &Link) -> Vec<String> {
    let have = link.ipv6();
    let show = |nets: &[Ipv6Net]| nets.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ");
    let Some(v6) = &d.ipv6 else {
        return if have.is_empty() { vec![] } else { vec![format!("IPv6 addresses are [{}], want none", show(&have))] };
    };
    let mut diffs = Vec::new();
    for want in &v6.addresses {
        if !have.contains(want) {
            diffs.push(format!("IPv6 address {want} is missing"));
        } else if link.tentative.contains(&ipnet::IpNet::V6(*want)) {
            diffs.push(format!("IPv6 address {want} is tentative (duplicate address detection)"));
        }
    }
    let extra: Vec<Ipv6Net> = have.iter().filter(|a| !v6.addresses.contains(a)).copied().collect();
    if !v6.accept_ra && !extra.is_empty() {
        diffs.push(format!("IPv6 addresses [{}] are not in the spec (acceptRA is off)", show(&extra)));
    }
    diffs
}

/// Hash of everything multinic applies for an interface (not its MAC, which keys it,
/// nor its upstream id). Stored with the owned configuration to tell "changed".
/// Interfaces without source routing hash as in earlier releases, so that an
/// upgrade changes nothing.
pub fn config_hash(d: &ValidInterface, name: &str, source: Option<SourceRouting>, base_priority: u32) -> String {
    let mut h = Sha256::new();
    h.update(format!("v1|{name}|{}|{:?}|", d.address, d.mtu));
    for r in &d.routes {
        h.update(format!("r:{}>{:?}@{:?}|", r.to, r.via, r.metric));
    }
    for s in &d.dns {
        h.update(format!("dns:{s}|"));
    }
    if let Some(sr) = source {
        h.update(format!("sr:{}@{}>{:?}|", sr.table, sr.priority, d.gateway));
    }
    if let Some(v6) = &d.ipv6 {
        h.update(format!("v6:{:?}|ra:{}|", v6.addresses, v6.accept_ra));
        for r in &v6.routes {
            h.update(format!("r6:{}>{:?}@{:?}|", r.to, r.via, r.metric));
        }
    }
    // networkd's `.network` of the NIC lists its VLANs.
    for v in &d.vlans {
        let sr = SourceRouting::of_vlan(v, name, base_priority);
        h.update(format!("vlan:{}|", vlan::config_hash(v, &vlan::name(name, v.id), sr)));
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}
