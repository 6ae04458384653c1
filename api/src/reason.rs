// SPDX-License-Identifier: Apache-2.0
//! Why an interface or a node is in its state: the one vocabulary of `reason` in
//! status entries, conditions and Events, shared by `multinicd` and `kubectl
//! multinic`. Written as its CamelCase name; a name this release does not know (a
//! newer daemon's) reads back as [`Reason::Other`] and is written back unchanged.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! reasons {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// Why an interface or a node is in its state, or what an Event reports.
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum Reason {
            $($(#[$doc])* $name,)*
            /// A reason this release does not know.
            Other(String),
        }

        impl Reason {
            /// The CamelCase name, as written in status and Events.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Reason::$name => stringify!($name),)*
                    Reason::Other(s) => s,
                }
            }

            fn known(name: &str) -> Option<Self> {
                match name {
                    $(stringify!($name) => Some(Reason::$name),)*
                    _ => None,
                }
            }
        }
    };
}

reasons! {
    // The state of an interface or node, when nothing more is to say.
    /// Up with the desired address and MTU; every interface so.
    Configured,
    /// Not applied yet.
    Pending,
    /// Differs from the spec; a repair is pending.
    Drifted,
    /// Being applied (node).
    Applying,
    /// Some interfaces configured, others not (node).
    PartiallyFailed,
    /// Interfaces failed for several reasons (node); an interface failed (Event).
    Failed,
    /// No link with the spec's MAC on the host.
    MacNotFound,
    /// The NIC multinic configured was detached from the host: its name and its
    /// configuration are kept for it, and it is configured again when it comes back.
    Detached,

    // The input.
    /// The spec, or one interface of it, is invalid.
    InvalidSpec,
    /// `spec.instanceId` is not this machine's.
    InstanceIdMismatch,
    /// This machine's system UUID cannot be read to check `spec.instanceId`.
    SystemUuidUnreadable,

    // Safety rules: the interface is refused.
    /// The loopback device.
    Loopback,
    /// The link holds the default route.
    DefaultRouteInterface,
    /// The API server is reached through the link.
    APIServerInterface,
    /// The link is a port of, or under, another link.
    UnderAnotherLink,
    /// The link's name is protected by the config.
    ProtectedInterface,
    /// The link is not a physical NIC.
    NotANic,
    /// The subnet or routes would cut into the primary network.
    RoutingConflict,
    /// The link is up with addresses multinic did not give it.
    ForeignAddresses,
    /// The name is carried by a link with another MAC.
    NameTakenByOtherMac,
    /// multinic0 … multinic9 are all taken.
    NoFreeName,
    /// More than one link carries the MAC.
    AmbiguousMac,

    // Applying.
    /// The change failed and was undone.
    RolledBack,
    /// The change cut the node off from its API server and was undone.
    APIServerUnreachable,
    /// The network manager cannot be reached.
    BackendUnavailable,
    /// A call to the network manager failed.
    BackendCallFailed,
    /// A drop-in file could not be written, read or removed.
    DropInFailed,
    /// A netlink step failed.
    NetlinkFailed,
    /// The link did not reach the desired state.
    VerifyFailed,
    /// systemd-networkd's settings would delete what multinic did not create.
    NetworkdSettings,

    // The Node condition.
    /// The daemon is starting: it has not looked at the node yet.
    Starting,
    /// There is no MultiNicNodeConfig for the node.
    NoConfig,
    /// The node's MultiNicNodeConfig lists no interfaces.
    NoInterfaces,

    // Events only.
    /// An interface was refused by a safety rule.
    Blocked,
    /// A drifted interface was repaired.
    DriftRepaired,
    /// The node's configuration was removed.
    CleanedUp,
    /// The CRD the API server serves is older than the daemon.
    CRDOutdated,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Reason {
    fn from(name: &str) -> Self {
        Reason::known(name).unwrap_or_else(|| Reason::Other(name.to_string()))
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Reason {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Reason::from(String::deserialize(d)?.as_str()))
    }
}

impl schemars::JsonSchema for Reason {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Reason".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_kept() {
        for r in [Reason::Configured, Reason::APIServerUnreachable, Reason::NameTakenByOtherMac, Reason::CRDOutdated] {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{r}\""));
            assert_eq!(serde_json::from_str::<Reason>(&json).unwrap(), r);
        }
        let newer: Reason = serde_json::from_str("\"SomethingNew\"").unwrap();
        assert_eq!(newer, Reason::Other("SomethingNew".into()));
        assert_eq!(serde_json::to_string(&newer).unwrap(), "\"SomethingNew\"");
    }
}
