// SPDX-License-Identifier: Apache-2.0
//! `--nic mac=…,address=…,cidr=…[,mtu=…][,name=…][,id=…][,dns=…][,gateway=…][,sourceRouting=true][,ipv6=…][,acceptRA=true][,vlan=ID:ADDRESS/PREFIX[:MTU][:gw=…][:sourceRouting]]`:
//! one interface of a spec, parsed from a flag. Field names are the resource's own;
//! `dns`, `ipv6` and `vlan` may be given more than once.

use multinic_api::{InterfaceSpec, VlanSpec};

/// Parse one `--nic` value. The error names the key and says what to write.
pub fn parse(value: &str) -> Result<InterfaceSpec, String> {
    let mut spec = InterfaceSpec::new("", "", "");
    for part in value.split(',').filter(|p| !p.is_empty()) {
        let (key, val) = part.split_once('=').ok_or_else(|| format!("--nic {value:?}: {part:?} is not key=value"))?;
        match key {
            "mac" | "macAddress" => spec.mac_address = val.to_ascii_lowercase(),
            "address" | "ip" => spec.address = val.into(),
            "cidr" => spec.cidr = val.into(),
            "mtu" => spec.mtu = Some(val.parse().map_err(|_| format!("--nic {value:?}: mtu={val:?} is not a number"))?),
            "name" => spec.name = Some(val.into()),
            "id" => spec.id = Some(val.parse().map_err(|_| format!("--nic {value:?}: id={val:?} is not a number"))?),
            "dns" => spec.dns.push(val.into()),
            "gateway" | "gw" => spec.gateway = Some(val.into()),
            "sourceRouting" | "source-routing" => {
                spec.source_routing =
                    val.parse().map_err(|_| format!("--nic {value:?}: sourceRouting={val:?} is not true or false"))?
            }
            "ipv6" => spec.ipv6.get_or_insert_with(Default::default).addresses.push(val.into()),
            "acceptRA" | "accept-ra" => {
                spec.ipv6.get_or_insert_with(Default::default).accept_ra =
                    val.parse().map_err(|_| format!("--nic {value:?}: acceptRA={val:?} is not true or false"))?
            }
            "vlan" => spec.vlans.push(vlan(val).map_err(|why| format!("--nic {value:?}: vlan={val:?}: {why}"))?),
            other => {
                return Err(format!(
                    "--nic {value:?}: unknown key {other:?}; use mac, address, cidr, mtu, name, id, dns, gateway, sourceRouting, ipv6, acceptRA, vlan"
                ));
            }
        }
    }
    for (key, v) in [("mac", &spec.mac_address), ("address", &spec.address), ("cidr", &spec.cidr)] {
        if v.is_empty() {
            return Err(format!(
                "--nic {value:?}: {key}= is required (e.g. mac=fa:16:3e:00:00:01,address=10.0.0.5,cidr=10.0.0.0/24)"
            ));
        }
    }
    Ok(spec)
}

/// `ID:ADDRESS/PREFIX[:MTU][:gw=GATEWAY][:sourceRouting]`, e.g.
/// `100:10.100.0.5/24:1400:gw=10.100.0.1:sourceRouting`; the subnet is the
/// address's.
fn vlan(val: &str) -> Result<VlanSpec, String> {
    const FORM: &str = "write ID:ADDRESS/PREFIX[:MTU][:gw=GATEWAY][:sourceRouting], e.g. 100:10.100.0.5/24";
    let mut parts = val.split(':');
    let (Some(id), Some(net)) = (parts.next(), parts.next()) else { return Err(FORM.into()) };
    let id = id.parse().map_err(|_| format!("{id:?} is not a VLAN id; {FORM}"))?;
    let net: ipnet::Ipv4Net = net.parse().map_err(|_| format!("{net:?} is not ADDRESS/PREFIX; {FORM}"))?;
    let mut v = VlanSpec {
        id,
        address: net.addr().to_string(),
        cidr: net.trunc().to_string(),
        mtu: None,
        routes: Vec::new(),
        dns: Vec::new(),
        gateway: None,
        source_routing: false,
    };
    for part in parts {
        match part.split_once('=') {
            Some(("gw" | "gateway", g)) => v.gateway = Some(g.into()),
            None if part == "sourceRouting" || part == "source-routing" => v.source_routing = true,
            None => v.mtu = Some(part.parse().map_err(|_| format!("{part:?} is not an MTU; {FORM}"))?),
            Some(_) => return Err(format!("{part:?} is not a VLAN field; {FORM}")),
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_keys() {
        let s =
            parse("mac=FA:16:3E:00:00:01,address=11.11.11.5,cidr=11.11.11.0/24,mtu=1450,name=multinic2,id=7").unwrap();
        assert_eq!(s.mac_address, "fa:16:3e:00:00:01");
        assert_eq!((s.mtu, s.name.as_deref(), s.id), (Some(1450), Some("multinic2"), Some(7)));
        let s =
            parse("mac=fa:16:3e:00:00:01,address=11.11.11.5,cidr=11.11.11.0/24,gateway=11.11.11.1,sourceRouting=true")
                .unwrap();
        assert_eq!((s.gateway.as_deref(), s.source_routing), (Some("11.11.11.1"), true));
        let s = parse(
            "mac=fa:16:3e:00:00:01,address=11.11.11.5,cidr=11.11.11.0/24,ipv6=2001:db8::5/64,ipv6=2001:db8::6/64",
        )
        .unwrap();
        let v6 = s.ipv6.unwrap();
        assert_eq!((v6.addresses.len(), v6.accept_ra), (2, false));
        let s =
            parse("mac=fa:16:3e:00:00:01,address=11.11.11.5,cidr=11.11.11.0/24,vlan=100:10.100.0.5/24:1400,vlan=200:10.200.0.5/16")
                .unwrap();
        let vlans: Vec<(u16, &str, &str, Option<u32>)> =
            s.vlans.iter().map(|v| (v.id, v.address.as_str(), v.cidr.as_str(), v.mtu)).collect();
        assert_eq!(
            vlans,
            [(100, "10.100.0.5", "10.100.0.0/24", Some(1400)), (200, "10.200.0.5", "10.200.0.0/16", None)]
        );
        let s =
            parse("mac=fa:16:3e:00:00:01,address=11.11.11.5,cidr=11.11.11.0/24,vlan=100:10.100.0.5/24:gw=10.100.0.1:sourceRouting")
                .unwrap();
        assert_eq!(
            (s.vlans[0].gateway.as_deref(), s.vlans[0].source_routing, s.vlans[0].mtu),
            (Some("10.100.0.1"), true, None)
        );
        let e = parse("mac=fa:16:3e:00:00:01,address=11.11.11.5,cidr=11.11.11.0/24,vlan=100:10.100.0.5/24:via=x")
            .unwrap_err();
        assert!(e.contains("\"via=x\" is not a VLAN field"), "{e}");
        let e = parse("mac=fa:16:3e:00:00:01,address=11.11.11.5,cidr=11.11.11.0/24,vlan=100").unwrap_err();
        assert!(e.contains("vlan=\"100\": write ID:ADDRESS/PREFIX"), "{e}");
    }

    #[test]
    fn errors_name_the_key() {
        assert!(parse("mac=fa:16:3e:00:00:01,address=1.2.3.4").unwrap_err().contains("cidr= is required"));
        assert!(parse("mac=x,address=1.2.3.4,cidr=1.2.3.0/24,speed=10").unwrap_err().contains("unknown key \"speed\""));
        assert!(parse("mac=x,address=1.2.3.4,cidr=1.2.3.0/24,mtu=big").unwrap_err().contains("mtu="));
        assert!(
            parse("mac=x,address=1.2.3.4,cidr=1.2.3.0/24,sourceRouting=yes").unwrap_err().contains("sourceRouting=")
        );
    }
}
