// SPDX-License-Identifier: Apache-2.0
//! `kubectl multinic create NODE --from-discovered`: the interfaces that the NICs a
//! node's daemon discovered, and their OpenStack ports, describe completely. The
//! proposal is pure; it is shown by default and written only with `--apply`,
//! through the same read-modify-write as `add-nic`.

use std::fmt;
use std::net::Ipv4Addr;

use kube::{Api, ResourceExt};
use multinic_api::{DiscoveredNic, InterfaceSpec, MultiNicNodeConfig};

use crate::client::{Connection, Failure, explain};
use crate::{Output, print};

/// Why a discovered NIC is not proposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// The instance's metadata has no port with its MAC (or it is not on OpenStack).
    NoPort,
    /// Its port's subnet runs DHCP: the metadata leaves its address out.
    Dhcp,
    /// Its port has no fixed IPv4 address with a prefix.
    NoFixedIpv4,
    /// The spec already has an interface with its MAC.
    InSpec,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Skip::NoPort => "no OpenStack port with this MAC in the instance's metadata",
            Skip::Dhcp => "its subnet has DHCP enabled, so the instance's metadata leaves its address out",
            Skip::NoFixedIpv4 => "its OpenStack port has no fixed IPv4 address with a prefix",
            Skip::InSpec => "the spec already has an interface with this MAC",
        })
    }
}

/// The interface a discovered NIC's OpenStack port describes: its fixed IPv4
/// address, the subnet from the prefix, the network's MTU and the port id.
pub fn interface(d: &DiscoveredNic) -> Result<InterfaceSpec, Skip> {
    let port = d.port.as_ref().ok_or(Skip::NoPort)?;
    if port.dhcp {
        return Err(Skip::Dhcp);
    }
    let ip: Ipv4Addr = port.fixed_ip.as_deref().and_then(|a| a.parse().ok()).ok_or(Skip::NoFixedIpv4)?;
    let net = port.prefix.and_then(|p| ipnet::Ipv4Net::new(ip, p).ok()).ok_or(Skip::NoFixedIpv4)?.trunc();
    Ok(InterfaceSpec {
        mtu: port.mtu,
        port_id: port.id.clone(),
        ..InterfaceSpec::new(d.mac_address.to_ascii_lowercase(), ip.to_string(), net.to_string())
    })
}

/// What `propose` added to a spec, and what it left out and why.
#[derive(Debug, Default, PartialEq)]
pub struct Proposal {
    /// MACs of the interfaces added.
    pub added: Vec<String>,
    /// Discovered NICs not added, and why.
    pub skipped: Vec<(DiscoveredNic, Skip)>,
}

/// Add to `cr`'s spec every NIC of its status' `discovered` that its port describes.
pub fn propose(cr: &mut MultiNicNodeConfig) -> Proposal {
    let mut proposal = Proposal::default();
    let discovered = cr.status.as_ref().map(|s| s.discovered.clone()).unwrap_or_default();
    for d in &discovered {
        let known = cr.spec.interfaces.iter().any(|i| i.mac_address.eq_ignore_ascii_case(&d.mac_address));
        match interface(d).and_then(|i| if known { Err(Skip::InSpec) } else { Ok(i) }) {
            Ok(i) => {
                proposal.added.push(i.mac_address.clone());
                cr.spec.interfaces.push(i);
            }
            Err(why) => proposal.skipped.push((d.clone(), why)),
        }
    }
    proposal
}

/// Show (by default) or write (`apply`) the node's CR with its discovered NICs added.
pub async fn create(conn: &Connection, node: &str, apply: bool, output: Option<Output>) -> Result<u8, Failure> {
    let api: Api<MultiNicNodeConfig> = Api::namespaced(conn.client().await?, &conn.namespace);
    let read = api.get_opt(node).await.map_err(|e| explain(e, &format!("read the MultiNicNodeConfig of {node}")))?;
    let Some(mut cr) = read else {
        return Err(Failure {
            message: format!(
                "{node} has no MultiNicNodeConfig, so its daemon has reported no NICs yet: create an empty one \
                 (kubectl multinic create {node} --empty), then run this again once kubectl multinic describe {node} \
                 lists its discovered NICs"
            ),
            code: 1,
        });
    };
    if cr.status.as_ref().and_then(|s| s.observed_generation).is_none() {
        return Err(Failure {
            message: format!(
                "{node}'s daemon has not reported yet, so nothing is discovered; is multinicd running there? \
                 (kubectl multinic doctor {node})"
            ),
            code: 1,
        });
    }
    let proposal = propose(&mut cr);
    for (d, why) in &proposal.skipped {
        eprintln!("left out {} ({}): {why}{}", d.mac_address, d.name, port_hint(d, *why));
    }
    if proposal.added.is_empty() {
        return Err(Failure {
            message: format!(
                "no discovered NIC of {node} has an OpenStack port with a fixed IPv4 address; \
                 add them by hand (kubectl multinic add-nic {node} --nic mac=…,address=…,cidr=…)"
            ),
            code: 1,
        });
    }
    let what = format!("{node}'s MultiNicNodeConfig with its discovered NICs would not be valid");
    crate::change::refuse_invalid(&cr, &what)?;
    if !apply {
        let mut shown = MultiNicNodeConfig::new(node, cr.spec.clone());
        shown.metadata.namespace = cr.namespace();
        print(&shown, output.unwrap_or(Output::Yaml));
        eprintln!("dry run: nothing written; add --apply to write these {} interface(s)", proposal.added.len());
        return Ok(0);
    }
    crate::change::edit(conn, node, |cr| {
        let again = propose(cr);
        if again.added.is_empty() {
            return Err(Failure {
                message: format!("{node} has nothing left to add; see kubectl multinic describe {node}"),
                code: 1,
            });
        }
        Ok(())
    })
    .await
}

/// Where the address of a port on a DHCP subnet can be read instead.
pub fn port_hint(d: &DiscoveredNic, why: Skip) -> String {
    match (why, d.port.as_ref().and_then(|p| p.id.as_deref())) {
        (Skip::Dhcp, Some(id)) => format!(" (openstack port show {id} -c fixed_ips has it)"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use multinic_api::{MultiNicNodeConfigSpec, MultiNicNodeConfigStatus, OpenStackPort};

    use multinic_api::validate;

    use super::*;

    fn nic(mac: &str, name: &str, port: Option<(&str, u8, Option<u32>)>) -> DiscoveredNic {
        DiscoveredNic {
            mac_address: mac.into(),
            name: name.into(),
            state: "down".into(),
            driver: Some("virtio_net".into()),
            mtu: Some(1500),
            port: port.map(|(ip, prefix, mtu)| OpenStackPort {
                id: Some(format!("port-{name}")),
                fixed_ip: (!ip.is_empty()).then(|| ip.into()),
                prefix: Some(prefix),
                mtu,
                dhcp: false,
            }),
        }
    }

    fn node(interfaces: Vec<InterfaceSpec>, discovered: Vec<DiscoveredNic>) -> MultiNicNodeConfig {
        let spec = MultiNicNodeConfigSpec { node_name: "worker-1".into(), instance_id: None, interfaces };
        let mut cr = MultiNicNodeConfig::new("worker-1", spec);
        cr.status = Some(MultiNicNodeConfigStatus { discovered, ..Default::default() });
        cr
    }

    #[test]
    fn a_port_with_a_fixed_ipv4_address_becomes_an_interface() {
        let d = nic("FA:16:3E:00:00:02", "ens5", Some(("11.11.12.38", 24, Some(1450))));
        let i = interface(&d).unwrap();
        assert_eq!(
            (i.mac_address.as_str(), i.address.as_str(), i.cidr.as_str(), i.mtu, i.port_id.as_deref()),
            ("fa:16:3e:00:00:02", "11.11.12.38", "11.11.12.0/24", Some(1450), Some("port-ens5"))
        );
        assert_eq!(i.name, None, "the daemon picks the lowest free multinicN");
    }

    #[test]
    fn nics_without_a_complete_port_are_left_out_with_their_reason() {
        let mut dhcp = nic("fa:16:3e:00:00:06", "ens9", Some(("", 24, None)));
        dhcp.port.as_mut().unwrap().dhcp = true;
        let mut cr = node(
            vec![InterfaceSpec::new("fa:16:3e:00:00:01", "11.11.11.37", "11.11.11.0/24")],
            vec![
                nic("fa:16:3e:00:00:01", "multinic0", Some(("11.11.11.37", 24, None))),
                nic("fa:16:3e:00:00:02", "ens5", Some(("11.11.12.38", 24, Some(1450)))),
                nic("fa:16:3e:00:00:03", "ens6", None),
                nic("fa:16:3e:00:00:04", "ens7", Some(("", 24, None))),
                nic("fa:16:3e:00:00:05", "ens8", Some(("not-an-ip", 24, None))),
                dhcp,
            ],
        );
        let proposal = propose(&mut cr);
        assert_eq!(proposal.added, vec!["fa:16:3e:00:00:02"]);
        assert_eq!(
            proposal.skipped.iter().map(|(d, why)| (d.mac_address.as_str(), *why)).collect::<Vec<_>>(),
            vec![
                ("fa:16:3e:00:00:01", Skip::InSpec),
                ("fa:16:3e:00:00:03", Skip::NoPort),
                ("fa:16:3e:00:00:04", Skip::NoFixedIpv4),
                ("fa:16:3e:00:00:05", Skip::NoFixedIpv4),
                ("fa:16:3e:00:00:06", Skip::Dhcp),
            ]
        );
        assert_eq!(
            port_hint(&proposal.skipped[4].0, Skip::Dhcp),
            " (openstack port show port-ens9 -c fixed_ips has it)"
        );
        let macs: Vec<&str> = cr.spec.interfaces.iter().map(|i| i.mac_address.as_str()).collect();
        assert_eq!(macs, vec!["fa:16:3e:00:00:01", "fa:16:3e:00:00:02"], "the existing interface stays first");
        assert!(validate(&cr).errors.is_empty());
    }

    #[test]
    fn a_prefix_out_of_range_is_no_subnet() {
        let d = nic("fa:16:3e:00:00:02", "ens5", Some(("11.11.12.38", 33, None)));
        assert_eq!(interface(&d), Err(Skip::NoFixedIpv4));
    }
}
