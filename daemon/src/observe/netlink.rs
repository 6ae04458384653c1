//! Thin rtnetlink shell: one dump of links, addresses and default routes; link and
//! address events; rename (down → name → up). No policy here beyond the one rule a
//! rename must never break: an up link with addresses multinic did not give it is
//! never renamed.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use futures::{StreamExt, TryStreamExt};
use ipnet::{IpNet, Ipv4Net};
use multinic_api::MacAddr;
use rtnetlink::packet_core::NetlinkPayload;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage, State};
use rtnetlink::packet_route::route::{RouteAttribute, RouteHeader, RouteType};
use rtnetlink::{Handle, LinkUnspec, MulticastGroup, RouteMessageBuilder};
use tokio::sync::mpsc;

use super::Link;

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

    /// Every link with its addresses and whether it holds a default route.
    pub async fn links(&self) -> Result<Vec<Link>, NetlinkError> {
        let _turn = self.turn.lock().await;
        let dumps = async {
            Ok::<_, NetlinkError>((
                self.dump_links().await?,
                self.dump_addresses().await?,
                self.default_route_links().await?,
            ))
        };
        let (links, addrs, defaults) =
            tokio::time::timeout(DUMP_TIMEOUT, dumps).await.map_err(|_| NetlinkError::Timeout)??;
        Ok(links
            .into_iter()
            .map(|mut l| {
                l.addresses = addrs.get(&l.index).cloned().unwrap_or_default();
                l.default_route = defaults.contains(&l.index);
                l.driver = driver(&l.name);
                l
            })
            .collect())
    }

    /// One link by index.
    pub async fn link(&self, index: u32) -> Result<Option<Link>, NetlinkError> {
        Ok(self.links().await?.into_iter().find(|l| l.index == index))
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

    async fn dump_addresses(&self) -> Result<HashMap<u32, Vec<IpNet>>, NetlinkError> {
        let mut out: HashMap<u32, Vec<IpNet>> = HashMap::new();
        let mut stream = self.handle.address().get().execute();
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
            if let Some(ip) = addr
                && let Ok(net) = IpNet::new(ip, prefix)
            {
                out.entry(msg.header.index).or_default().push(net);
            }
        }
        Ok(out)
    }

    async fn default_route_links(&self) -> Result<HashSet<u32>, NetlinkError> {
        let mut out = HashSet::new();
        let requests = [RouteMessageBuilder::<Ipv4Addr>::new().build(), RouteMessageBuilder::<Ipv6Addr>::new().build()];
        for request in requests {
            let mut stream = self.handle.route().get(request).execute();
            while let Some(msg) =
                stream.try_next().await.map_err(|source| NetlinkError::Dump { what: "routes", source })?
            {
                let h = &msg.header;
                if h.destination_prefix_length != 0 || h.kind != RouteType::Unicast {
                    continue;
                }
                let table = msg
                    .attributes
                    .iter()
                    .find_map(|a| match a {
                        RouteAttribute::Table(t) => Some(*t),
                        _ => None,
                    })
                    .unwrap_or(u32::from(h.table));
                if table != u32::from(RouteHeader::RT_TABLE_MAIN) {
                    continue;
                }
                for a in &msg.attributes {
                    match a {
                        RouteAttribute::Oif(index) => {
                            out.insert(*index);
                        }
                        RouteAttribute::MultiPath(hops) => out.extend(hops.iter().map(|h| h.interface_index)),
                        _ => {}
                    }
                }
            }
        }
        Ok(out)
    }

    /// Delete the given IPv4 addresses from a link (those it has).
    pub async fn delete_ipv4(&self, index: u32, nets: &[Ipv4Net]) -> Result<(), NetlinkError> {
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
            let hit = msg.attributes.iter().any(|a| {
                matches!(a, AddressAttribute::Local(std::net::IpAddr::V4(ip))
                    if nets.iter().any(|n| n.addr() == *ip && n.prefix_len() == msg.header.prefix_len))
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

    /// Rename a link: down → set name → up, by index. Refused when the link is up
    /// with addresses other than `ours` (link-local ones do not count).
    pub async fn rename(&self, index: u32, to: &str, ours: &[Ipv4Net]) -> Result<(), NetlinkError> {
        let link = self.link(index).await?.ok_or_else(|| NetlinkError::Gone { name: to.into(), index })?;
        if link.name == to {
            return Ok(());
        }
        let foreign: Vec<String> = link
            .given_addresses()
            .filter(|a| !matches!(a, IpNet::V4(v4) if ours.contains(v4)))
            .map(|a| a.to_string())
            .collect();
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
        set(LinkUnspec::new_with_index(index).name(to.to_string()).build(), "rename").await?;
        if link.up {
            set(LinkUnspec::new_with_index(index).up().build(), "set up").await?;
        }
        Ok(())
    }
}

/// Subscribe to link and address events. The receiver yields until the socket fails.
pub fn subscribe() -> Result<mpsc::UnboundedReceiver<Event>, NetlinkError> {
    let groups = [MulticastGroup::Link, MulticastGroup::Ipv4Ifaddr, MulticastGroup::Ipv6Ifaddr];
    let (conn, _handle, mut messages) = rtnetlink::new_multicast_connection(&groups).map_err(NetlinkError::Socket)?;
    tokio::spawn(conn);
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some((msg, _)) = messages.next().await {
            let NetlinkPayload::InnerMessage(inner) = msg.payload else {
                continue;
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
    Ok(rx)
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
        default_route: false,
    };
    for attr in msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => link.name = n,
            LinkAttribute::Address(a) => link.mac = MacAddr::from_bytes(&a).filter(|m| !m.is_zero()),
            LinkAttribute::PermAddress(a) => link.perm_mac = MacAddr::from_bytes(&a).filter(|m| !m.is_zero()),
            LinkAttribute::Mtu(m) => link.mtu = m,
            LinkAttribute::OperState(s) => link.oper_state = oper_state(s),
            _ => {}
        }
    }
    link
}

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
