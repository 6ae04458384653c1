// SPDX-License-Identifier: Apache-2.0
//! The custom resource: one `MultiNicNodeConfig` per node, named after the node.
//!
//! Field names and shapes follow the predecessor's resource so that its CRs parse
//! unchanged; everything added since is optional.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::rules::*;
use crate::status::MultiNicNodeConfigStatus;

/// Desired secondary NICs of one node.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "multinic.io",
    version = "v1alpha1",
    kind = "MultiNicNodeConfig",
    plural = "multinicnodeconfigs",
    shortname = "mnc",
    namespaced,
    status = "MultiNicNodeConfigStatus",
    validation = Rule::new(CEL_NAME_MATCHES_NODE).message("metadata.name must equal spec.nodeName: name the CR after its node"),
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct MultiNicNodeConfigSpec {
    /// The node this config is for; equals `metadata.name`.
    #[schemars(length(min = 1, max = 253))]
    pub node_name: String,
    /// The VM's system UUID; when set, the daemon applies nothing unless the host's
    /// `/sys/class/dmi/id/product_uuid` equals it (case-insensitively).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub instance_id: Option<String>,
    /// The secondary NICs, at most ten.
    #[schemars(length(max = 10))]
    #[x_kube(validation = Rule::new(CEL_UNIQUE_MACS).message("macAddress values must be unique"))]
    #[x_kube(validation = Rule::new(CEL_UNIQUE_NAMES).message("name values must be unique"))]
    pub interfaces: Vec<InterfaceSpec>,
}

/// One secondary NIC, found on the host by its MAC address.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(CEL_ADDRESS_IS_IPV4).message("address must be an IPv4 address such as 11.11.11.37"))]
#[x_kube(validation = Rule::new(CEL_CIDR_IS_IPV4).message("cidr must be an IPv4 prefix such as 11.11.11.0/24"))]
#[x_kube(validation = Rule::new(CEL_ADDRESS_IN_CIDR).message("address must lie inside cidr"))]
#[x_kube(validation = Rule::new(CEL_GATEWAY_IN_CIDR).message("gateway must be an IPv4 address inside cidr other than address, such as 11.11.11.1"))]
#[x_kube(validation = Rule::new(CEL_VLAN_MTU).message("vlans[].mtu must be at most the interface's mtu"))]
pub struct InterfaceSpec {
    /// The upstream (cloud) port id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// The upstream port UUID, kept for reference (predecessor field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub port_id: Option<String>,
    /// MAC address of the NIC, e.g. `fa:16:3e:1c:1a:6e`.
    #[schemars(pattern(MAC_PATTERN), length(max = 17))]
    pub mac_address: String,
    /// Static IPv4 address, inside `cidr`.
    #[schemars(pattern(IPV4_PATTERN), length(max = 15))]
    pub address: String,
    /// The subnet, e.g. `11.11.11.0/24`; the prefix length comes from it.
    #[schemars(pattern(IPV4_CIDR_PATTERN), length(max = 18))]
    pub cidr: String,
    /// MTU in bytes (68–9000); left as it is when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 68, max = 9000))]
    pub mtu: Option<u32>,
    /// Interface name to give (`multinic0` … `multinic9`); the lowest free one when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(NAME_PATTERN), length(max = 9))]
    pub name: Option<String>,
    /// Extra routes through this NIC. A default route (`to: 0.0.0.0/0`) is only
    /// ever installed when listed here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub routes: Vec<RouteSpec>,
    /// DNS servers for this NIC's connection.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 4), inner(pattern(IPV4_PATTERN), length(max = 15)))]
    #[x_kube(validation = Rule::new(CEL_DNS_ARE_IPV4).message("dns entries must be IPv4 addresses such as 11.11.12.53"))]
    pub dns: Vec<String>,
    /// The subnet's gateway, inside `cidr`. Never a default route of the main table
    /// by itself: with `sourceRouting` it is the default route of the NIC's own table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(IPV4_PATTERN), length(max = 15))]
    pub gateway: Option<String>,
    /// Answer through this NIC what reaches its address: a routing table `100 + N`
    /// for `multinicN` (the subnet, `routes`, `default via gateway`) and a rule
    /// `from <address> lookup <table>`. Nothing is added to the main table.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub source_routing: bool,
    /// IPv6 on this NIC; without it the NIC has no IPv6 at all (no link-local
    /// address, no router advertisements).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Spec>,
    /// VLAN sub-interfaces on this NIC (Neutron trunk subports): link
    /// `multinicN.ID`, configured and verified like an interface of its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    #[x_kube(validation = Rule::new(CEL_UNIQUE_VLAN_IDS).message("vlans[].id values must be unique on one NIC"))]
    pub vlans: Vec<VlanSpec>,
}

impl InterfaceSpec {
    /// An interface given by its MAC, address and subnet only, everything else unset.
    pub fn new(mac_address: impl Into<String>, address: impl Into<String>, cidr: impl Into<String>) -> Self {
        InterfaceSpec {
            id: None,
            port_id: None,
            mac_address: mac_address.into(),
            address: address.into(),
            cidr: cidr.into(),
            mtu: None,
            name: None,
            routes: Vec::new(),
            dns: Vec::new(),
            gateway: None,
            source_routing: false,
            ipv6: None,
            vlans: Vec::new(),
        }
    }
}

/// A VLAN sub-interface of a secondary NIC.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(CEL_ADDRESS_IS_IPV4).message("vlans[].address must be an IPv4 address such as 11.11.21.37"))]
#[x_kube(validation = Rule::new(CEL_CIDR_IS_IPV4).message("vlans[].cidr must be an IPv4 prefix such as 11.11.21.0/24"))]
#[x_kube(validation = Rule::new(CEL_ADDRESS_IN_CIDR).message("vlans[].address must lie inside vlans[].cidr"))]
#[x_kube(validation = Rule::new(CEL_GATEWAY_IN_CIDR).message("vlans[].gateway must be an IPv4 address inside vlans[].cidr other than vlans[].address"))]
#[x_kube(validation = Rule::new(CEL_VLAN_NO_DEFAULT).message("vlans[].routes must hold no default route; use gateway with sourceRouting"))]
pub struct VlanSpec {
    /// 802.1Q VLAN id, 1–4094.
    #[schemars(range(min = 1, max = 4094))]
    pub id: u16,
    /// Static IPv4 address, inside `cidr`.
    #[schemars(pattern(IPV4_PATTERN), length(max = 15))]
    pub address: String,
    /// The subnet, e.g. `11.11.21.0/24`.
    #[schemars(pattern(IPV4_CIDR_PATTERN), length(max = 18))]
    pub cidr: String,
    /// MTU in bytes (68–9000), at most the NIC's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 68, max = 9000))]
    pub mtu: Option<u32>,
    /// Extra routes through this VLAN.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub routes: Vec<RouteSpec>,
    /// DNS servers for this VLAN.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 4), inner(pattern(IPV4_PATTERN), length(max = 15)))]
    #[x_kube(validation = Rule::new(CEL_DNS_ARE_IPV4).message("vlans[].dns entries must be IPv4 addresses"))]
    pub dns: Vec<String>,
    /// The VLAN subnet's gateway: `default via gateway` in its source-routing table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(IPV4_PATTERN), length(max = 15))]
    pub gateway: Option<String>,
    /// A routing table of its own for traffic from its address (table
    /// `10000 × (N + 1) + ID` of `multinicN.ID`), as for an interface.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub source_routing: bool,
}

/// IPv6 of a secondary NIC: static addresses and routes, router advertisements off
/// unless asked for.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(CEL_IPV6_SOMETHING).message("ipv6 needs addresses or acceptRA: true"))]
pub struct Ipv6Spec {
    /// Static addresses with their prefix length, e.g. `2001:db8:1::10/64`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8), inner(length(max = 43)))]
    #[x_kube(validation = Rule::new(CEL_IPV6_ADDRESSES).message("ipv6.addresses must be global IPv6 addresses with a prefix length such as 2001:db8:1::10/64"))]
    pub addresses: Vec<String>,
    /// Static routes. A default route (`to: ::/0`) is only ever installed when
    /// listed here; router advertisements never add one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub routes: Vec<Route6Spec>,
    /// Take addresses (SLAAC) from router advertisements.
    #[serde(default, rename = "acceptRA", skip_serializing_if = "std::ops::Not::not")]
    pub accept_ra: bool,
}

/// A static IPv6 route through a secondary NIC.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(CEL_ROUTE6_TO).message("ipv6.routes[].to must be an IPv6 prefix such as 2001:db8:2::/48 (::/0 for a default route)"))]
#[x_kube(validation = Rule::new(CEL_ROUTE6_NOT_HALF).message("ipv6.routes[].to of /1 covers half the address space and would take over from the default route; list ::/0 if a default route is meant"))]
#[x_kube(validation = Rule::new(CEL_ROUTE6_VIA).message("ipv6.routes[].via must be an IPv6 address such as 2001:db8:1::1"))]
pub struct Route6Spec {
    /// Destination prefix, e.g. `2001:db8:2::/48`.
    #[schemars(length(max = 43))]
    pub to: String,
    /// Next hop; on-link when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 39))]
    pub via: Option<String>,
    /// Route metric (0–4294967295).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = METRIC_MAX))]
    pub metric: Option<u32>,
}

/// A static IPv4 route through a secondary NIC.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(CEL_ROUTE_TO_IS_IPV4).message("routes[].to must be an IPv4 prefix such as 10.20.0.0/16 (0.0.0.0/0 for a default route)"))]
#[x_kube(validation = Rule::new(CEL_ROUTE_NOT_HALF).message("routes[].to of /1 covers half the address space and would take over from the default route; list 0.0.0.0/0 if a default route is meant"))]
#[x_kube(validation = Rule::new(CEL_ROUTE_VIA_IS_IPV4).message("routes[].via must be an IPv4 address such as 11.11.12.1"))]
pub struct RouteSpec {
    /// Destination prefix, e.g. `10.20.0.0/16`.
    #[schemars(pattern(IPV4_CIDR_PATTERN), length(max = 18))]
    pub to: String,
    /// Next hop; on-link when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(IPV4_PATTERN), length(max = 15))]
    pub via: Option<String>,
    /// Route metric (0–4294967295).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = METRIC_MAX))]
    pub metric: Option<u32>,
}

/// A short, stable hash of the spec: its canonical JSON through SHA-256, 16 hex digits.
pub fn spec_hash(spec: &MultiNicNodeConfigSpec) -> String {
    let json = serde_json::to_vec(spec).expect("a spec always serializes");
    let digest = Sha256::digest(&json);
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_hash_changes_with_the_spec() {
        let mut spec = MultiNicNodeConfigSpec { node_name: "a".into(), instance_id: None, interfaces: vec![] };
        let h = spec_hash(&spec);
        assert_eq!(h.len(), 16);
        spec.node_name = "b".into();
        assert_ne!(h, spec_hash(&spec));
    }
}
