// SPDX-License-Identifier: Apache-2.0
//! The kernel's side of the host as multinic reads and changes it: links and their
//! addresses, routes, events, and the few changes made without the network manager
//! (a rename, deleting an address it left behind). [`Netlink`] on a real host; the
//! unit tests put a table in memory behind it.

use std::net::IpAddr;

use ipnet::IpNet;

use super::netlink::{Netlink, NetlinkError, Subscription};
use super::{Host, Link, PathTo, Routing};

/// What the transaction, the pass and the watch need from the kernel.
pub trait Kernel: Clone + Send + Sync + 'static {
    /// Every link with its addresses.
    fn links(&self) -> impl Future<Output = Result<Vec<Link>, NetlinkError>> + Send;

    /// Links, default routes and, for `api`, the path the kernel takes to it.
    fn host(&self, api: Option<IpAddr>) -> impl Future<Output = Result<Host, NetlinkError>> + Send;

    /// One link by index, with its addresses; `None` when there is no such link.
    fn link(&self, index: u32) -> impl Future<Output = Result<Option<Link>, NetlinkError>> + Send;

    /// The main table's default routes, the IPv4 rules and the routes of the
    /// source-routing tables.
    fn routing(&self) -> impl Future<Output = Result<Routing, NetlinkError>> + Send;

    /// How the kernel reaches `to` right now (`ip route get`).
    fn route_to(&self, to: IpAddr) -> impl Future<Output = Result<PathTo, NetlinkError>> + Send;

    /// Delete these addresses from the link.
    fn delete_addresses(&self, index: u32, nets: &[IpNet]) -> impl Future<Output = Result<(), NetlinkError>> + Send;

    /// Rename the link (down → name → up); `ours` are the addresses that may be on
    /// it (an up link with others is never renamed).
    fn rename(&self, index: u32, to: &str, ours: &[IpNet]) -> impl Future<Output = Result<(), NetlinkError>> + Send;

    /// Set the MTU of link `index` (called `name`, for errors).
    fn set_mtu(&self, index: u32, name: &str, mtu: u32) -> impl Future<Output = Result<(), NetlinkError>> + Send;

    /// Delete link `index` (called `name`, for errors): a VLAN that systemd-networkd
    /// leaves behind when its `.netdev` goes. One already gone is what was wanted.
    fn delete_link(&self, index: u32, name: &str) -> impl Future<Output = Result<(), NetlinkError>> + Send;

    /// Link and address events from now on.
    fn subscribe(&self) -> Result<Subscription, NetlinkError>;
}

impl Kernel for Netlink {
    async fn links(&self) -> Result<Vec<Link>, NetlinkError> {
        Netlink::links(self).await
    }

    async fn host(&self, api: Option<IpAddr>) -> Result<Host, NetlinkError> {
        Netlink::host(self, api).await
    }

    async fn link(&self, index: u32) -> Result<Option<Link>, NetlinkError> {
        Netlink::link(self, index).await
    }

    async fn routing(&self) -> Result<Routing, NetlinkError> {
        Netlink::routing(self).await
    }

    async fn route_to(&self, to: IpAddr) -> Result<PathTo, NetlinkError> {
        Netlink::route_to(self, to).await
    }

    async fn delete_addresses(&self, index: u32, nets: &[IpNet]) -> Result<(), NetlinkError> {
        Netlink::delete_addresses(self, index, nets).await
    }

    async fn rename(&self, index: u32, to: &str, ours: &[IpNet]) -> Result<(), NetlinkError> {
        Netlink::rename(self, index, to, ours).await
    }

    async fn set_mtu(&self, index: u32, name: &str, mtu: u32) -> Result<(), NetlinkError> {
        Netlink::set_mtu(self, index, name, mtu).await
    }

    async fn delete_link(&self, index: u32, name: &str) -> Result<(), NetlinkError> {
        Netlink::delete_link(self, index, name).await
    }

    fn subscribe(&self) -> Result<Subscription, NetlinkError> {
        super::netlink::subscribe()
    }
}
