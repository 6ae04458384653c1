// SPDX-License-Identifier: Apache-2.0
//! The validation rules of the resource, written once.
//!
//! The CRD schema (patterns, ranges, `maxItems`, CEL rules) and the Rust
//! [`validate`](crate::validate) both read these constants, so the admission-time
//! and the daemon-side checks cannot drift apart.

/// Most interfaces one node config may list (`multinic0` … `multinic9`).
pub const MAX_INTERFACES: usize = 10;
/// Smallest MTU accepted (the IPv4 minimum, RFC 791).
pub const MTU_MIN: u32 = 68;
/// Largest MTU accepted (jumbo frames).
pub const MTU_MAX: u32 = 9000;
/// A unicast-or-not Ethernet MAC, colon separated, either case.
pub const MAC_PATTERN: &str = "^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$";
/// The names multinic gives: `multinic0` … `multinic9`.
pub const NAME_PATTERN: &str = "^multinic[0-9]$";
/// Dotted-quad IPv4 address (CEL checks the range of each octet).
pub const IPV4_PATTERN: &str = r"^[0-9]{1,3}(\.[0-9]{1,3}){3}$";
/// IPv4 CIDR such as `11.11.11.0/24`.
pub const IPV4_CIDR_PATTERN: &str = r"^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$";
/// Longest string the schema accepts where no other bound applies (keeps CEL cost bounded).
pub const MAX_STRING: u32 = 253;
/// Most extra routes per interface.
pub const MAX_ROUTES: usize = 16;
/// Most DNS servers per interface.
pub const MAX_DNS: usize = 4;

/// CEL: `metadata.name` must equal `spec.nodeName` (one CR per node, named after it).
pub const CEL_NAME_MATCHES_NODE: &str = "self.metadata.name == self.spec.nodeName";
/// CEL: MAC addresses are unique within a spec, case-insensitively.
pub const CEL_UNIQUE_MACS: &str =
    "self.all(a, self.filter(b, b.macAddress.lowerAscii() == a.macAddress.lowerAscii()).size() == 1)";
/// CEL: explicit names are unique within a spec.
pub const CEL_UNIQUE_NAMES: &str =
    "self.all(a, !has(a.name) || self.filter(b, has(b.name) && b.name == a.name).size() == 1)";
/// CEL: `address` lies inside `cidr`.
pub const CEL_ADDRESS_IN_CIDR: &str =
    "!isIP(self.address) || !isCIDR(self.cidr) || cidr(self.cidr).containsIP(ip(self.address))";
/// CEL: `address` is a valid IPv4 address.
pub const CEL_ADDRESS_IS_IPV4: &str = "isIP(self.address) && ip(self.address).family() == 4";
/// CEL: `cidr` is a valid IPv4 prefix.
pub const CEL_CIDR_IS_IPV4: &str = "isCIDR(self.cidr) && cidr(self.cidr).ip().family() == 4";
/// CEL: a route's `to` is a valid IPv4 prefix.
pub const CEL_ROUTE_TO_IS_IPV4: &str = "isCIDR(self.to) && cidr(self.to).ip().family() == 4";
/// CEL: a route of /1 is a default route in disguise (the daemon refuses it too).
pub const CEL_ROUTE_NOT_HALF: &str = "!isCIDR(self.to) || cidr(self.to).prefixLength() != 1";
/// CEL: a route's `via` is a valid IPv4 address.
pub const CEL_ROUTE_VIA_IS_IPV4: &str = "!has(self.via) || (isIP(self.via) && ip(self.via).family() == 4)";
/// CEL: every DNS server is a valid IPv4 address.
pub const CEL_DNS_ARE_IPV4: &str = "self.all(d, isIP(d) && ip(d).family() == 4)";
/// CEL: `gateway` is an IPv4 address inside `cidr`, and not the interface's own address.
pub const CEL_GATEWAY_IN_CIDR: &str = "!has(self.gateway) || (isIP(self.gateway) && ip(self.gateway).family() == 4 \
     && self.gateway != self.address && (!isCIDR(self.cidr) || cidr(self.cidr).containsIP(ip(self.gateway))))";
/// Most IPv6 addresses per interface.
pub const MAX_IPV6_ADDRESSES: usize = 8;
/// CEL: every IPv6 address is a global (or unique-local) unicast IPv6 address with
/// a prefix length.
pub const CEL_IPV6_ADDRESSES: &str =
    "self.all(a, isCIDR(a) && cidr(a).ip().family() == 6 && cidr(a).ip().isGlobalUnicast())";
/// CEL: an IPv6 route's `to` is an IPv6 prefix.
pub const CEL_ROUTE6_TO: &str = "isCIDR(self.to) && cidr(self.to).ip().family() == 6";
/// CEL: an IPv6 route of /1 is a default route in disguise.
pub const CEL_ROUTE6_NOT_HALF: &str = "!isCIDR(self.to) || cidr(self.to).prefixLength() != 1";
/// CEL: an IPv6 route's `via` is an IPv6 address.
pub const CEL_ROUTE6_VIA: &str = "!has(self.via) || (isIP(self.via) && ip(self.via).family() == 6)";
/// CEL: IPv6 needs a static address or router advertisements.
pub const CEL_IPV6_SOMETHING: &str =
    "(has(self.addresses) && size(self.addresses) > 0) || (has(self.acceptRA) && self.acceptRA)";
/// Most VLAN sub-interfaces per NIC.
pub const MAX_VLANS: usize = 8;
/// Lowest and highest usable 802.1Q VLAN ids.
pub const VLAN_ID_MIN: u16 = 1;
/// Highest usable 802.1Q VLAN id (4095 is reserved).
pub const VLAN_ID_MAX: u16 = 4094;
/// CEL: VLAN ids are unique on one NIC.
pub const CEL_UNIQUE_VLAN_IDS: &str = "self.all(a, self.filter(b, b.id == a.id).size() == 1)";
/// CEL: no default route in a VLAN's `routes` (its table takes one).
pub const CEL_VLAN_NO_DEFAULT: &str = "!has(self.routes) || self.routes.all(r, !r.to.endsWith('/0'))";
/// CEL: a VLAN's MTU is at most its NIC's, when both are set.
pub const CEL_VLAN_MTU: &str =
    "!has(self.vlans) || !has(self.mtu) || self.vlans.all(v, !has(v.mtu) || v.mtu <= self.mtu)";
/// The routing table of `multinicN` with `sourceRouting` is this plus N.
pub const SOURCE_TABLE_BASE: u32 = 100;
/// The VLANs of `multinicN` have their source-routing tables above
/// `VLAN_TABLE_STEP × (N + 1)` ([`crate::vlan_source_table`]).
pub const VLAN_TABLE_STEP: u32 = 10_000;
/// Largest route metric (the kernel's is a u32).
pub const METRIC_MAX: u32 = u32::MAX;
