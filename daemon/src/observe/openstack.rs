// SPDX-License-Identifier: Apache-2.0
//! The ports OpenStack attached to this instance, from its `network_data.json`: on
//! the config drive (a filesystem labelled `config-2`, when mounted) or from the
//! metadata service. `status.discovered` carries each NIC's port, so that a spec
//! can be written from it (`kubectl multinic create NODE --from-discovered`).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use multinic_api::{MacAddr, OpenStackPort};
use serde::Deserialize;

/// Where `network_data.json` lives under a config drive or the metadata service.
const NETWORK_DATA: &str = "openstack/latest/network_data.json";
/// The metadata service.
pub const METADATA_SERVICE: &str = "http://169.254.169.254";
/// How long the metadata service may take: it is off the hot path, never waited for long.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Where the metadata comes from (`openstackMetadata` in the config).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// On an OpenStack instance (by its DMI data): the mounted config drive, else the
    /// metadata service. Nothing elsewhere.
    Auto,
    /// Never.
    Off,
    /// A metadata service at this `http://` URL.
    Service(String),
    /// A config drive's content in this directory.
    Drive(PathBuf),
}

impl std::str::FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Source::Auto),
            "off" => Ok(Source::Off),
            url if url.starts_with("http://") && url.parse::<http::Uri>().is_ok() => {
                Ok(Source::Service(url.trim_end_matches('/').to_string()))
            }
            dir if dir.starts_with('/') => Ok(Source::Drive(PathBuf::from(dir))),
            other => Err(format!(
                "{other:?} is neither auto, off, an http:// URL nor an absolute directory; write e.g. auto"
            )),
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Auto => f.write_str("auto"),
            Source::Off => f.write_str("off"),
            Source::Service(url) => f.write_str(url),
            Source::Drive(dir) => write!(f, "{}", dir.display()),
        }
    }
}

/// Where to read on this host, in order: nothing for `off` or off OpenStack; for
/// `auto` the mounted config drive (written at boot: it lacks the ports attached
/// since) and then the metadata service. `root` is `/` (tests give another).
pub fn resolve(source: &Source, root: &Path) -> Vec<Source> {
    match source {
        Source::Off => Vec::new(),
        Source::Auto if !on_openstack(root) => Vec::new(),
        Source::Auto => config_drive(root)
            .map(Source::Drive)
            .into_iter()
            .chain([Source::Service(METADATA_SERVICE.into())])
            .collect(),
        explicit => vec![explicit.clone()],
    }
}

/// The DMI data of an OpenStack (Nova) instance, as cloud-init tells it.
fn on_openstack(root: &Path) -> bool {
    let read = |f: &str| std::fs::read_to_string(root.join("sys/class/dmi/id").join(f)).unwrap_or_default();
    read("sys_vendor").contains("OpenStack")
        || read("product_name").contains("OpenStack")
        || read("chassis_asset_tag").trim() == "OpenStack Nova"
}

/// Where the config drive is mounted, if it is: a mounted ISO 9660 or FAT
/// filesystem with `network_data.json` on it. (By its content, not by
/// `/dev/disk/by-label/config-2`: the service sees no /dev of the host's.)
fn config_drive(root: &Path) -> Option<PathBuf> {
    let mounts = std::fs::read_to_string(root.join("proc/self/mounts")).ok()?;
    mounts.lines().find_map(|l| {
        let mut fields = l.split_whitespace();
        let (_, target, kind) = (fields.next()?, fields.next()?, fields.next()?);
        let target = PathBuf::from(target.replace("\\040", " "));
        let holds = root.join(target.strip_prefix("/").ok()?).join(NETWORK_DATA).is_file();
        (["iso9660", "vfat"].contains(&kind) && holds).then_some(target)
    })
}

/// Read the ports from `source` (resolved).
pub async fn read(source: &Source) -> Result<Vec<(MacAddr, OpenStackPort)>, String> {
    let text = match source {
        Source::Drive(dir) => {
            let path = dir.join(NETWORK_DATA);
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?
        }
        Source::Service(url) => {
            let url = format!("{url}/{NETWORK_DATA}");
            tokio::time::timeout(TIMEOUT, get(&url))
                .await
                .map_err(|_| format!("{url}: no answer within {} s", TIMEOUT.as_secs()))??
        }
        Source::Auto | Source::Off => return Ok(Vec::new()),
    };
    ports(&text)
}

/// One plain HTTP GET (the metadata service speaks no TLS).
async fn get(url: &str) -> Result<String, String> {
    use http_body_util::BodyExt;
    let uri: http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    let host = uri.host().ok_or_else(|| format!("{url}: no host"))?.to_string();
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|e| format!("{url}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    tokio::spawn(conn);
    let request = http::Request::get(uri.path())
        .header(http::header::HOST, host)
        .body(http_body_util::Empty::<hyper::body::Bytes>::new())
        .map_err(|e| format!("{url}: {e}"))?;
    let response = sender.send_request(request).await.map_err(|e| format!("{url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url}: {}", response.status()));
    }
    let body = response.into_body().collect().await.map_err(|e| format!("{url}: {e}"))?.to_bytes();
    String::from_utf8(body.to_vec()).map_err(|e| format!("{url}: {e}"))
}

/// How soon the metadata is read again for a NIC it lacks (a port attached since).
const AGAIN: Duration = Duration::from_secs(30);
/// How soon it is read again anyway (a port's address or its network's MTU changed).
const REFRESH: Duration = Duration::from_secs(300);

/// The ports as last read, kept across passes.
#[derive(Default)]
pub struct Cache {
    inner: tokio::sync::Mutex<Read>,
}

#[derive(Default)]
struct Read {
    ports: Vec<(MacAddr, OpenStackPort)>,
    at: Option<std::time::Instant>,
    error: Option<String>,
}

impl Cache {
    /// Give each discovered NIC its port. The metadata is read when a NIC lacks one,
    /// at most every [`AGAIN`], and every [`REFRESH`] anyway; the sources in order,
    /// until every NIC has its port, a later one's word winning (the service is
    /// current, the drive is not). What cannot be read keeps the ports of the last
    /// good read and is logged once.
    pub async fn annotate(&self, source: &Source, discovered: &mut [multinic_api::DiscoveredNic]) {
        if discovered.is_empty() {
            return;
        }
        let lacking = |ports: &[(MacAddr, OpenStackPort)]| {
            discovered.iter().any(|d| !ports.iter().any(|(m, _)| Some(*m) == d.mac_address.parse().ok()))
        };
        let mut last = self.inner.lock().await;
        let due = match last.at {
            None => true,
            Some(at) => at.elapsed() >= REFRESH || (lacking(&last.ports) && at.elapsed() >= AGAIN),
        };
        let sources = if due { resolve(source, Path::new("/")) } else { Vec::new() };
        if !sources.is_empty() {
            last.at = Some(std::time::Instant::now());
            let (mut ports, mut errors, mut any) = (Vec::new(), Vec::new(), false);
            for source in &sources {
                match read(source).await {
                    Ok(read) => {
                        any = true;
                        ports.retain(|(m, _)| !read.iter().any(|(r, _)| r == m));
                        ports.extend(read);
                    }
                    Err(e) => errors.push(e),
                }
                if !lacking(&ports) {
                    break;
                }
            }
            if any {
                last.ports = ports;
            }
            let error = (!errors.is_empty()).then(|| errors.join("; "));
            if let Some(e) = &error
                && last.error.as_ref() != Some(e)
            {
                tracing::warn!("cannot read the OpenStack metadata: {e}");
            }
            last.error = error;
        }
        fill(&last.ports, discovered);
    }

    /// Give each discovered NIC its port as last read, reading nothing: for a status
    /// written before a repair, which must not wait for the metadata service.
    pub async fn known(&self, discovered: &mut [multinic_api::DiscoveredNic]) {
        fill(&self.inner.lock().await.ports, discovered);
    }
}

fn fill(ports: &[(MacAddr, OpenStackPort)], discovered: &mut [multinic_api::DiscoveredNic]) {
    for d in discovered {
        let mac = d.mac_address.parse::<MacAddr>().ok();
        d.port = ports.iter().find(|(m, _)| Some(*m) == mac).map(|(_, p)| p.clone());
    }
}

#[derive(Deserialize)]
struct NetworkData {
    #[serde(default)]
    links: Vec<LinkData>,
    #[serde(default)]
    networks: Vec<NetworkEntry>,
}

#[derive(Deserialize)]
struct LinkData {
    id: String,
    #[serde(default)]
    ethernet_mac_address: Option<String>,
    #[serde(default)]
    mtu: Option<u32>,
    #[serde(default)]
    vif_id: Option<String>,
}

#[derive(Deserialize)]
struct NetworkEntry {
    link: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    ip_address: Option<String>,
    #[serde(default)]
    netmask: Option<String>,
}

/// The ports of a `network_data.json`, by MAC: each link with its port id and MTU,
/// and the first static IPv4 network on it, or that its subnet runs DHCP (Nova
/// then writes no address). A bond's members carry its MAC: the link with the
/// network is the port.
pub fn ports(json: &str) -> Result<Vec<(MacAddr, OpenStackPort)>, String> {
    let data: NetworkData = serde_json::from_str(json).map_err(|e| format!("network_data.json: {e}"))?;
    let mut found: Vec<(MacAddr, OpenStackPort)> = Vec::new();
    for link in &data.links {
        let Some(mac) = link.ethernet_mac_address.as_deref().and_then(|m| m.parse::<MacAddr>().ok()) else { continue };
        let networks = || data.networks.iter().filter(|n| n.link == link.id);
        let fixed = networks().filter(|n| n.kind == "ipv4").find_map(|n| {
            let ip: Ipv4Addr = n.ip_address.as_deref()?.parse().ok()?;
            Some((ip, multinic_api::prefix_len(n.netmask.as_deref()?)?))
        });
        let port = OpenStackPort {
            id: link.vif_id.clone(),
            fixed_ip: fixed.map(|(ip, _)| ip.to_string()),
            prefix: fixed.map(|(_, p)| p),
            mtu: link.mtu,
            dhcp: fixed.is_none() && networks().any(|n| n.kind == "ipv4_dhcp"),
        };
        let carries = |p: &OpenStackPort| p.fixed_ip.is_some() || p.dhcp;
        match found.iter_mut().find(|(m, _)| *m == mac) {
            Some((_, known)) if !carries(known) && carries(&port) => *known = port,
            Some(_) => {}
            None => found.push((mac, port)),
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NETWORK_DATA_JSON: &str =
        include_str!("../../../tests/fixtures/openstack/openstack/latest/network_data.json");

    #[test]
    fn ports_by_mac_with_their_ipv4_and_mtu() {
        let ports = ports(NETWORK_DATA_JSON).unwrap();
        let port =
            |mac: &str| ports.iter().find(|(m, _)| *m == mac.parse::<MacAddr>().unwrap()).map(|(_, p)| p.clone());
        assert_eq!(
            port("fa:16:3e:00:0e:05"),
            Some(OpenStackPort {
                id: Some("7d0b5f4e-3d1a-4a4e-9a3c-0e0f6a1d2b05".into()),
                fixed_ip: Some("198.51.100.5".into()),
                prefix: Some(24),
                mtu: Some(1450),
                dhcp: false,
            })
        );
        let dhcp = port("fa:16:3e:00:0e:03").unwrap();
        assert_eq!(
            (dhcp.fixed_ip, dhcp.prefix, dhcp.mtu, dhcp.dhcp),
            (None, None, Some(1500), true),
            "ipv4_dhcp has no fixed address"
        );
        assert!(super::ports("{").unwrap_err().starts_with("network_data.json:"));
    }

    #[test]
    fn sources_parse_and_resolve() {
        assert_eq!("auto".parse(), Ok(Source::Auto));
        assert_eq!("http://169.254.169.254/".parse(), Ok(Source::Service("http://169.254.169.254".into())));
        assert_eq!("/mnt/config".parse(), Ok(Source::Drive("/mnt/config".into())));
        assert!("169.254.169.254".parse::<Source>().unwrap_err().contains("write e.g. auto"));

        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        assert_eq!(resolve(&Source::Auto, r), vec![], "not OpenStack: nothing");
        std::fs::create_dir_all(r.join("sys/class/dmi/id")).unwrap();
        std::fs::write(r.join("sys/class/dmi/id/sys_vendor"), "OpenStack Foundation\n").unwrap();
        let service = Source::Service(METADATA_SERVICE.into());
        assert_eq!(resolve(&Source::Auto, r), vec![service.clone()]);
        std::fs::create_dir_all(r.join("proc/self")).unwrap();
        std::fs::create_dir_all(r.join("mnt/config/openstack/latest")).unwrap();
        std::fs::create_dir_all(r.join("media/cdrom")).unwrap();
        std::fs::write(r.join("mnt/config/openstack/latest/network_data.json"), "{}").unwrap();
        let mounts = "/dev/sr1 /media/cdrom iso9660 ro 0 0\nproc /mnt/config proc rw 0 0\n";
        std::fs::write(r.join("proc/self/mounts"), mounts).unwrap();
        assert_eq!(resolve(&Source::Auto, r), vec![service.clone()], "no drive: an empty CD, a proc");
        std::fs::write(r.join("proc/self/mounts"), format!("{mounts}/dev/sr0 /mnt/config iso9660 ro 0 0\n")).unwrap();
        let drive = Source::Drive("/mnt/config".into());
        assert_eq!(resolve(&Source::Auto, r), vec![drive, service], "the mounted drive, then the service");
        assert_eq!(resolve(&Source::Off, r), vec![]);
    }

    #[test]
    fn a_bonds_member_gives_way_to_the_bond_and_a_zero_mask_is_no_prefix() {
        let json = r#"{"links": [
            {"id": "eth0", "type": "phy", "ethernet_mac_address": "fa:16:3e:00:00:0a", "mtu": 9000, "vif_id": "p0"},
            {"id": "bond0", "type": "bond", "ethernet_mac_address": "FA:16:3E:00:00:0A", "mtu": 9000, "vif_id": "p1"},
            {"id": "eth2", "type": "phy", "ethernet_mac_address": "fa:16:3e:00:00:0b", "vif_id": "p2"}],
          "networks": [
            {"id": "n0", "type": "ipv4", "link": "bond0", "ip_address": "10.1.0.5", "netmask": "255.255.0.0"},
            {"id": "n1", "type": "ipv4", "link": "eth2", "ip_address": "10.2.0.5", "netmask": "0.0.0.0"}]}"#;
        let ports = ports(json).unwrap();
        assert_eq!(ports.len(), 2);
        let bond = &ports[0].1;
        assert_eq!(
            (bond.id.as_deref(), bond.fixed_ip.as_deref(), bond.prefix),
            (Some("p1"), Some("10.1.0.5"), Some(16))
        );
        assert_eq!((ports[1].1.fixed_ip.as_deref(), ports[1].1.prefix), (None, None), "/0 is no subnet");
    }
}

#[cfg(test)]
mod drive {
    use super::*;

    /// The config drive's content as a directory (the fixture is one).
    #[tokio::test]
    async fn a_config_drive_directory_is_read() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/openstack");
        let ports = read(&Source::Drive(dir)).await.unwrap();
        assert_eq!(ports.len(), 2);
        let missing = read(&Source::Drive("/nonexistent".into())).await.unwrap_err();
        assert!(missing.starts_with("/nonexistent/openstack/latest/network_data.json:"), "{missing}");
    }
}
