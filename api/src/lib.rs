// SPDX-License-Identifier: Apache-2.0
//! The `MultiNicNodeConfig` resource (`multinic.io/v1alpha1`): its types, its
//! validation, and the status model shared by `multinicd` and `kubectl multinic`.
#![deny(missing_docs)]

pub mod crd;
pub mod decode;
pub mod doctor;
pub mod mac;
#[cfg(feature = "man")]
pub mod man;
pub mod reason;
pub mod resource;
pub mod rules;
pub mod status;
pub mod table;
pub mod validate;

pub use decode::decode;
pub use mac::MacAddr;
pub use reason::Reason;
pub use resource::{
    InterfaceSpec, Ipv6Spec, MultiNicNodeConfig, MultiNicNodeConfigSpec, Route6Spec, RouteSpec, VlanSpec, spec_hash,
};
pub use status::{
    DiscoveredNic, FailedInterface, FoldInput, Health, InterfaceResult, InterfaceState, InterfaceStatus,
    MultiNicNodeConfigStatus, NodeState, OpenStackPort, fold,
};
pub use validate::{
    FieldError, ValidInterface, ValidIp4, ValidIpv6, ValidRoute, ValidRoute6, ValidSpec, ValidVlan, is_dns_subdomain,
    is_multinic_name, multinic_index, prefix_len, source_table, validate, validate_with, vlan_source_table,
};

/// The API group of the resource.
pub const GROUP: &str = "multinic.io";
/// The namespace CRs live in unless told otherwise.
pub const DEFAULT_NAMESPACE: &str = "multinic-system";
/// Finalizer the daemon puts on its node's CR so that deletion waits for cleanup.
pub const FINALIZER: &str = "multinic.io/cleanup";

pub use crd::crd_yaml;

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The current time as the API's `Time`.
pub fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}
