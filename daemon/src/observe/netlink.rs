// SPDX-License-Identifier: Apache-2.0
//! Thin rtnetlink shell: one dump of links, addresses and default routes, the
//! route to one address; link and address events; rename (down → name → up). No policy here beyond the one rule a
//! rename must never break: an up link with addresses multinic did not give it is
//! never renamed.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::{StreamExt, TryStreamExt};
use ipnet::{IpNet, Ipv4Net};
use multinic_api::MacAddr;
use rtnetlink::packet_core::NetlinkPayload;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkLayerType, LinkMessage, Prop, State};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteType};
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute};
use rtnetlink::{Handle, IpVersion, LinkUnspec, MulticastGroup, RouteMessageBuilder};
use tokio::sync::mpsc;

use super::{DefaultRoute, Host, Link, PathTo, PolicyRouting, Routing, Rule, TableRoute, is_source_table};

/// A failed netlink operation, with the link it concerned.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The socket could not be opened.
    #[error("cannot open a netlink socket: {0}")]
    Socket(#[source] std::io::Error),
    /// A dump failed.
    #[error("netlink dump of {what} failed: {source}")]
    Dump {
        /// links, addresses or routes
        what: &'static str,
        /// the error
        #[source]
        source: rtnetlink::Error,
    },
    /// Setting a link attribute failed.
    #[error("{op} {name} (index {index}): {source}")]
    Set {
        /// what was done
        op: &'static str,
        /// link name
        name: String,
        /// link index
        index: u32,
        /// the error
        #[source]
        source: rtnetlink::Error,
    },
    /// Renaming was refused by the safety rule.
    #[error("refusing to rename {name}: it is up with addresses multinic did not give it ({addresses})")]
    RenameRefused {
        /// link name
        name: String,
        /// the foreign addresses
        addresses: String,
    },
    /// A dump got no answer in time.
    #[error("netlink dump got no answer within {DUMP_TIMEOUT:?}")]
    Timeout,
    /// The link vanished.
    #[error("link {name} (index {index}) is gone")]
    Gone {
        /// link name
        name: String,
        /// link index
        index: u32,
    },
}

/// A change on the host that may need a reconcile.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum Event {
    /// A link appeared, changed or vanished.
    Link {
        /// its index
        index: u32,
        /// its name, when the message carried it
        name: Option<String>,
        /// its MAC (permanent one first), when the message carried it
        mac: Option<MacAddr>,
        /// true when it was removed
        removed: bool,
    },
    /// An address was added or removed.
    Address {
        /// index of the link it is on
        index: u32,
    },
    /// The kernel dropped events (the socket's buffer was full, ENOBUFS): anything
    /// may have changed.
    Overrun,
}

/// A netlink connection on the current network namespace.
#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
    /// The kernel runs one dump at a time per socket (EBUSY otherwise, and the
    /// response of the refused request is lost): requests take turns.
    turn: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// Longest a dump may take before it counts as lost.
const DUMP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl Netlink {
    /// Open the socket and spawn its driver on the current tokio runtime.
    pub fn connect() -> Result<Self, NetlinkError> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(NetlinkError::Socket)?;
        tokio::spawn(conn);
        Ok(Netlink { handle, turn: Default::default() })
    }

    /// Every link with its addresses.
    pub async fn links(&self) -> Result<Vec<Link>, NetlinkError> {
        let _turn = self.turn.lock().await;
        let dumps = async { Ok::<_, NetlinkError>((self.dump_links().await?, self.dump_addresses(None).await?)) };
        let (links, addrs) = tokio::time::timeout(DUMP_TIMEOUT, dumps).await.map_err(|_| NetlinkError::Timeout)??;
        Ok(links
            .into_iter()
            .map(|mut l| {
                (l.addresses, l.tentative) = addrs.get(&l.index).cloned().unwrap_or_default();
                l.driver = driver(&l.name);
                l
            })
            .collect())
    }

    /// Links, default routes and, for `api`, the path the kernel takes to it.
    pub async fn host(&self, api: Option<IpAddr>) -> Result<Host, NetlinkError> {
        let links = self.links().await?;
        let _turn = self.turn.lock().await;
        let routes = async {
            let (defaults, tables) = self.dump_routes().await?;
            let rules = self.dump_rules().await?;
            let api = match api {
                Some(to) => Some(self.path_to(to).await?),
                None => None,
            };
            Ok::<_, NetlinkError>((defaults, PolicyRouting { rules, routes: tables }, api))
        };
        let (defaults, policy, api) =
            tokio::time::timeout(DUMP_TIMEOUT, routes).await.map_err(|_| NetlinkError::Timeout)??;
        Ok(Host { links, defaults, api, generated: Vec::new(), policy })
    }

    /// The main table's default routes and the IPv4 routing policy.
    pub async fn routing(&self) -> Result<Routing, NetlinkError> {
        let _turn = self.turn.lock().await;
        let dumps = async {
            let (defaults, routes) = self.dump_routes().await?;
            Ok::<_, NetlinkError>(Routing {
                defaults,
                policy: PolicyRouting { rules: self.dump_rules().await?, routes },
            })
        };
        tokio::time::timeout(DUMP_TIMEOUT, dumps).await.map_err(|_| NetlinkError::Timeout)?
    }

    /// One link by index, with its addresses: one request for the link, one address
    /// dump; `None` when there is no such link.
    pub async fn link(&self, index: u32) -> Result<Option<Link>, NetlinkError> {
        let one = async {
            let msg = match self.handle.link().get().match_index(index).execute().try_next().await {
                Ok(msg) => msg,
                Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -ENODEV => None,
                Err(source) => return Err(NetlinkError::Dump { what: "a link", source }),
            };
            let Some(msg) = msg else { return Ok(None) };
            let mut link = to_link(msg);
            let _turn = self.turn.lock().await;
            (link.addresses, link.tentative) =
                self.dump_addresses(Some(index)).await?.remove(&index).unwrap_or_default();
            link.driver = driver(&link.name);
            Ok(Some(link))
        };
        tokio::time::timeout(DUMP_TIMEOUT, one).await.map_err(|_| NetlinkError::Timeout)?
    }

    /// How the kernel reaches `to` right now (`ip route get`).
    pub async fn route_to(&self, to: IpAddr) -> Result<PathTo, NetlinkError> {
        let _turn = self.turn.lock().await;
        tokio::time::timeout(DUMP_TIMEOUT, self.path_to(to)).await.map_err(|_| NetlinkError::Timeout)?
    }

    async fn path_to(&self, to: IpAddr) -> Result<PathTo, NetlinkError> {
        let request = match to {
            IpAddr::V4(v4) => RouteMessageBuilder::<Ipv4Addr>::new().destination_prefix(v4, 32).build(),
            IpAddr::V6(v6) => RouteMessageBuilder::<Ipv6Addr>::new().destination_prefix(v6, 128).build(),
        };
        let mut stream = self.handle.route().get(request).execute();
        let mut path = PathTo { to, oif: None, gateway: None };
        match stream.try_next().await {
            Ok(Some(msg)) => {
                for a in &msg.attributes {
                    match a {
                        RouteAttribute::Oif(i) => path.oif = Some(*i),
                        RouteAttribute::Gateway(g) => path.gateway = route_ip(g),
                        _ => {}
                    }
                }
            }
            Ok(None) => {}
            // No route at all is an answer, not a failure.
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -ENETUNREACH => {}
            Err(source) => return Err(NetlinkError::Dump { what: "the route to the API server", source }),
        }
        Ok(path)
    }

    async fn dump_links(&self) -> Result<Vec<Link>, NetlinkError> {
        let msgs: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|source| NetlinkError::Dump { what: "links", source })?;
        Ok(msgs.into_iter().map(to_link).collect())
    }

    /// Every link's addresses, or those of link `only`.
    /// (addresses, tentative ones) per link index.
    async fn dump_addresses(&self, only: Option<u32>) -> Result<HashMap<u32, (Vec<IpNet>, Vec<IpNet>)>, NetlinkError> {
        let mut out: HashMap<u32, (Vec<IpNet>, Vec<IpNet>)> = HashMap::new();
        let mut request = self.handle.address().get();
        if let Some(index) = only {
            request = request.set_link_index_filter(index);
        }
        let mut stream = request.execute();
        while let Some(msg) =
            stream.try_next().await.map_err(|source| NetlinkError::Dump { what: "addresses", source })?
        {
            let prefix = msg.header.prefix_len;
            // IFA_LOCAL is the address on point-to-point links; IFA_ADDRESS otherwise.
            let local = msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(ip) => Some(*ip),
                _ => None,
            });
            let addr = local.or_else(|| {
                msg.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                })
            });
            let unusable = AddressFlags::Tentative | AddressFlags::Dadfailed;
            let flags = msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Flags(f) => Some(*f),
                _ => None,
            });
            let tentative = flags.unwrap_or_else(|| AddressFlags::from_bits_retain(u32::from(msg.header.flags.bits())));
            if let Some(ip) = addr
                && let Ok(net) = IpNet::new(ip, prefix)
            {
                let entry = out.entry(msg.header.index).or_default();
                entry.0.push(net);
                if tentative.intersects(unusable) {
                    entry.1.push(net);
                }
            }
        }
        Ok(out)
    }

    /// The default routes of the main table, and the IPv4 routes of the
    /// source-routing tables.
    async fn dump_routes(&self) -> Result<(Vec<DefaultRoute>, Vec<TableRoute>), NetlinkError> {
        let mut out = Vec::new();
        let mut tables = Vec::new();
        let requests = [RouteMessageBuilder::<Ipv4Addr>::new().build(), RouteMessageBuilder::<Ipv6Addr>::new().build()];
        for request in requests {
            let mut stream = self.handle.route().get(request).execute();
            while let Some(msg) =
                stream.try_next().await.map_err(|source| NetlinkError::Dump { what: "routes", source })?
            {
                let h = &msg.header;
                if h.kind != RouteType::Unicast {
                    continue;
                }
                let v6 = h.address_family == AddressFamily::Inet6;
                let (mut table, mut metric, mut oif, mut gateway) = (u32::from(h.table), 0, None, None);
                let mut to = None;
                let mut hops = Vec::new();
                for a in &msg.attributes {
                    match a {
                        RouteAttribute::Table(t) => table = *t,
                        RouteAttribute::Destination(RouteAddress::Inet(d)) => to = Some(*d),
                        RouteAttribute::Priority(p) => metric = *p,
                        RouteAttribute::Oif(i) => oif = Some(*i),
                        RouteAttribute::Gateway(g) => gateway = route_ip(g),
                        RouteAttribute::MultiPath(nexthops) => hops.extend(nexthops.iter().map(|n| {
                            let via = n.attributes.iter().find_map(|a| match a {
                                RouteAttribute::Gateway(g) => route_ip(g),
                                _ => None,
                            });
                            (n.interface_index, via)
                        })),
                        _ => {}
                    }
                }
                if !v6 && is_source_table(table) {
                    let to = Ipv4Net::new(to.unwrap_or(Ipv4Addr::UNSPECIFIED), h.destination_prefix_length);
                    let gateway = match gateway {
                        Some(IpAddr::V4(g)) => Some(g),
                        _ => None,
                    };
                    tables.extend(to.ok().map(|to| TableRoute { table, to, gateway, oif }));
                    continue;
                }
                if table != u32::from(RouteHeader::RT_TABLE_MAIN) || h.destination_prefix_length != 0 {
                    continue;
                }
                hops.extend(oif.map(|i| (i, gateway)));
                out.extend(hops.into_iter().map(|(oif, gateway)| DefaultRoute { oif, gateway, metric, v6 }));
            }
        }
        Ok((out, tables))
    }

    /// The IPv4 rules that look up a table.
    async fn dump_rules(&self) -> Result<Vec<Rule>, NetlinkError> {
        let mut out = Vec::new();
        let mut stream = self.handle.rule().get(IpVersion::V4).execute();
        while let Some(msg) = stream.try_next().await.map_err(|source| NetlinkError::Dump { what: "rules", source })? {
            if msg.header.action != RuleAction::ToTable {
                continue;
            }
            let (mut table, mut priority, mut from) = (u32::from(msg.header.table), 0, None);
            for a in &msg.attributes {
                match a {
                    RuleAttribute::Table(t) => table = *t,
                    RuleAttribute::Priority(p) => priority = *p,
                    RuleAttribute::Source(IpAddr::V4(s)) => from = Ipv4Net::new(*s, msg.header.src_len).ok(),
                    _ => {}
                }
            }
            out.push(Rule { priority, from, table });
        }
        Ok(out)
    }

    /// Delete the given addresses from a link (those it has).
    pub async fn delete_addresses(&self, index: u32, nets: &[IpNet]) -> Result<(), NetlinkError> {
        let _turn = self.turn.lock().await;
        let msgs: Vec<_> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
            .await
            .map_err(|source| NetlinkError::Dump { what: "addresses", source })?;
        for msg in msgs {
            // IPv4 names the address in IFA_LOCAL, IPv6 in IFA_ADDRESS.
            let hit = msg.attributes.iter().any(|a| match a {
                AddressAttribute::Local(ip) | AddressAttribute::Address(ip) => {
                    nets.iter().any(|n| n.addr() == *ip && n.prefix_len() == msg.header.prefix_len)
                }
                _ => false,
            });
            if hit {
                let name = format!("index {index}");
                self.handle.address().del(msg).execute().await.map_err(|source| NetlinkError::Set {
                    op: "delete address",
                    name,
                    index,
                    source,
                })?;
            }
        }
        Ok(())
    }

    /// Delete link `index` (called `name`, for errors); one already gone is fine.
    pub async fn delete_link(&self, index: u32, name: &str) -> Result<(), NetlinkError> {
        let _turn = self.turn.lock().await;
        match self.handle.link().del(index).execute().await {
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -ENODEV => Ok(()),
            r => r.map_err(|source| NetlinkError::Set { op: "delete the link", name: name.to_string(), index, source }),
        }
    }

    /// Set the MTU of link `index` (called `name`, for errors).
    pub async fn set_mtu(&self, index: u32, name: &str, mtu: u32) -> Result<(), NetlinkError> {
        let _turn = self.turn.lock().await;
        let msg = LinkUnspec::new_with_index(index).mtu(mtu).build();
        self.handle.link().set(msg).execute().await.map_err(|source| NetlinkError::Set {
            op: "set the MTU",
            name: name.to_string(),
            index,
            source,
        })
    }

    /// Rename a link: down → set name → up, by index. Refused when the link is up
    /// with addresses other than `ours` (link-local ones do not count).
    pub async fn rename(&self, index: u32, to: &str, ours: &[IpNet]) -> Result<(), NetlinkError> {
        let link = self.link(index).await?.ok_or_else(|| NetlinkError::Gone { name: to.into(), index })?;
        if link.name == to {
            return Ok(());
        }
        let foreign: Vec<String> =
            link.given_addresses().filter(|a| !ours.contains(a)).map(|a| a.to_string()).collect();
        if link.up && !foreign.is_empty() {
            return Err(NetlinkError::RenameRefused { name: link.name, addresses: foreign.join(", ") });
        }
        let set = |msg, op| {
            let name = link.name.clone();
            let handle = self.handle.clone();
            let turn = self.turn.clone();
            async move {
                let _turn = turn.lock().await;
                handle.link().set(msg).execute().await.map_err(|source| NetlinkError::Set { op, name, index, source })
            }
        };
        if link.up {
            set(LinkUnspec::new_with_index(index).down().build(), "set down").await?;
        }
        // udev keeps a renamed NIC's old name as an alternative name; a name is
        // taken (EEXIST) while it is one, even the link's own.
        if link.altnames.iter().any(|a| a == to) {
            let _turn = self.turn.lock().await;
            self.handle.link().property_del(index).alt_ifname(&[to]).execute().await.map_err(|source| {
                NetlinkError::Set { op: "drop the alternative name", name: link.name.clone(), index, source }
            })?;
        }
        set(LinkUnspec::new_with_index(index).name(to.to_string()).build(), "rename").await?;
        if link.up {
            set(LinkUnspec::new_with_index(index).up().build(), "set up").await?;
        }
        Ok(())
    }
}

/// Link and address events, until dropped (which closes the socket).
pub struct Subscription {
    rx: mpsc::UnboundedReceiver<Event>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Subscription {
    /// Events sent into a channel (the unit tests' kernel).
    pub fn of(rx: mpsc::UnboundedReceiver<Event>) -> Self {
        Subscription { rx, tasks: Vec::new() }
    }

    /// The next event; `None` once the socket failed.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// An event already received, if any.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.tasks.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

/// Subscribe to link and address events.
pub fn subscribe() -> Result<Subscription, NetlinkError> {
    let groups = [MulticastGroup::Link, MulticastGroup::Ipv4Ifaddr, MulticastGroup::Ipv6Ifaddr];
    let (mut conn, _handle, mut messages) =
        rtnetlink::new_multicast_connection(&groups).map_err(NetlinkError::Socket)?;
    // The fault tests shrink the receive buffer to make the kernel drop events.
    if let Some(bytes) = std::env::var("MULTINIC_TEST_NETLINK_RCVBUF").ok().and_then(|b| b.parse::<usize>().ok()) {
        use rtnetlink::sys::AsyncSocket;
        conn.socket_mut().socket_ref().set_rx_buf_sz(bytes).map_err(NetlinkError::Socket)?;
    }
    let driver = tokio::spawn(conn);
    let (tx, rx) = mpsc::unbounded_channel();
    let forward = tokio::spawn(async move {
        while let Some((msg, _)) = messages.next().await {
            let inner = match msg.payload {
                NetlinkPayload::InnerMessage(inner) => inner,
                NetlinkPayload::Overrun(_) => {
                    tracing::warn!("netlink events were lost (socket buffer full): looking at every link again");
                    if tx.send(Event::Overrun).is_err() {
                        break;
                    }
                    continue;
                }
                _ => continue,
            };
            let event = match inner {
                RouteNetlinkMessage::NewLink(l) => link_event(l, false),
                RouteNetlinkMessage::DelLink(l) => link_event(l, true),
                RouteNetlinkMessage::NewAddress(a) | RouteNetlinkMessage::DelAddress(a) => {
                    Event::Address { index: a.header.index }
                }
                _ => continue,
            };
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    Ok(Subscription { rx, tasks: vec![driver, forward] })
}

fn link_event(msg: LinkMessage, removed: bool) -> Event {
    let link = to_link(msg);
    Event::Link { index: link.index, name: Some(link.name.clone()), mac: link.hw_mac(), removed }
}

fn to_link(msg: LinkMessage) -> Link {
    let mut link = Link {
        index: msg.header.index,
        name: String::new(),
        mac: None,
        perm_mac: None,
        up: msg.header.flags.contains(LinkFlags::Up),
        oper_state: "unknown".into(),
        mtu: 0,
        addresses: Vec::new(),
        driver: None,
        loopback: msg.header.flags.contains(LinkFlags::Loopback),
        ether: msg.header.link_layer_type == LinkLayerType::Ether,
        kind: None,
        master: None,
        lower: None,
        altnames: Vec::new(),
        tentative: Vec::new(),
    };
    let mut lower_elsewhere = false;
    for attr in msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => link.name = n,
            LinkAttribute::Address(a) => link.mac = MacAddr::from_bytes(&a).filter(|m| !m.is_zero()),
            LinkAttribute::PermAddress(a) => link.perm_mac = MacAddr::from_bytes(&a).filter(|m| !m.is_zero()),
            LinkAttribute::Mtu(m) => link.mtu = m,
            LinkAttribute::OperState(s) => link.oper_state = oper_state(s),
            LinkAttribute::Controller(m) if m != 0 => link.master = Some(m),
            LinkAttribute::Link(l) if l != 0 => link.lower = Some(l),
            LinkAttribute::LinkNetNsId(_) => lower_elsewhere = true,
            LinkAttribute::PropList(props) => {
                link.altnames = props
                    .into_iter()
                    .filter_map(|p| match p {
                        Prop::AltIfName(n) => Some(n),
                        _ => None,
                    })
                    .collect()
            }
            LinkAttribute::LinkInfo(infos) => {
                link.kind = infos.into_iter().find_map(|i| match i {
                    LinkInfo::Kind(k) => Some(k.to_string()),
                    _ => None,
                })
            }
            _ => {}
        }
    }
    // A veth's IFLA_LINK is its peer, not a link it stacks on; and a parent in another
    // namespace is none of this host's business.
    if lower_elsewhere || link.kind.as_deref() == Some("veth") || link.lower == Some(link.index) {
        link.lower = None;
    }
    link
}

fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// Linux's ENETUNREACH: `ip route get` to an address with no route.
const ENETUNREACH: i32 = 101;
/// Linux's ENODEV: no link with that index.
const ENODEV: i32 = 19;

fn oper_state(s: State) -> String {
    match s {
        State::Up => "up",
        State::Down => "down",
        State::LowerLayerDown => "lowerlayerdown",
        State::Dormant => "dormant",
        State::Testing => "testing",
        State::NotPresent => "notpresent",
        _ => "unknown",
    }
    .into()
}

/// The kernel driver behind a link, from sysfs (`/sys/class/net/NAME/device/driver`).
fn driver(name: &str) -> Option<String> {
    let target = std::fs::read_link(format!("/sys/class/net/{name}/device/driver")).ok()?;
    target.file_name().map(|n| n.to_string_lossy().into_owned())
}
