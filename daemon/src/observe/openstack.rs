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

/// What `source` resolves to on this host: `None` when there is nothing to read.
/// `root` is `/` (tests give another).
pub fn resolve(source: &Source, root: &Path) -> Option<Source> {
    match source {
        Source::Off => None,
        Source::Auto if !on_openstack(root) => None,
        Source::Auto => {
            Some(config_drive(root).map_or_else(|| Source::Service(METADATA_SERVICE.into()), Source::Drive))
        }
        explicit => Some(explicit.clone()),
    }
}

/// The DMI data of an OpenStack (Nova) instance, as cloud-init tells it.
fn on_openstack(root: &Path) -> bool {
    let read = |f: &str| std::fs::read_to_string(root.join("sys/class/dmi/id").join(f)).unwrap_or_default();
    read("sys_vendor").contains("OpenStack")
        || read("product_name").contains("OpenStack")
        || read("chassis_asset_tag").trim() == "OpenStack Nova"
}

/// Where the config drive is mounted, if it is: the mount of the device
/// `/dev/disk/by-label/config-2` points at.
fn config_drive(root: &Path) -> Option<PathBuf> {
    let device = std::fs::canonicalize(root.join("dev/disk/by-label/config-2")).ok()?;
    let mounts = std::fs::read_to_string(root.join("proc/self/mounts")).ok()?;
    mounts.lines().find_map(|l| {
        let mut fields = l.split_whitespace();
        let (source, target) = (fields.next()?, fields.next()?);
        (Path::new(source) == device).then(|| PathBuf::from(target.replace("\\040", " ")))
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
    /// at most every [`AGAIN`]; a failed read keeps the ports of the last good one
    /// and is logged once.
    pub async fn annotate(&self, source: &Source, discovered: &mut [multinic_api::DiscoveredNic]) {
        if discovered.is_empty() {
            return;
        }
        let mac = |d: &multinic_api::DiscoveredNic| d.mac_address.parse::<MacAddr>().ok();
        let mut read_ = self.inner.lock().await;
        let lacking = discovered.iter().any(|d| !read_.ports.iter().any(|(m, _)| Some(*m) == mac(d)));
        if lacking
            && read_.at.is_none_or(|at| at.elapsed() >= AGAIN)
            && let Some(resolved) = resolve(source, Path::new("/"))
        {
            read_.at = Some(std::time::Instant::now());
            match read(&resolved).await {
                Ok(ports) => {
                    read_.ports = ports;
                    read_.error = None;
                }
                Err(e) => {
                    if read_.error.as_deref() != Some(e.as_str()) {
                        tracing::warn!(source = %resolved, "cannot read the OpenStack metadata: {e}");
                    }
                    read_.error = Some(e);
                }
            }
        }
        fill(&read_.ports, discovered);
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
/// and the first static IPv4 network on it.
pub fn ports(json: &str) -> Result<Vec<(MacAddr, OpenStackPort)>, String> {
    let data: NetworkData = serde_json::from_str(json).map_err(|e| format!("network_data.json: {e}"))?;
    Ok(data
        .links
        .iter()
        .filter_map(|l| {
            let mac: MacAddr = l.ethernet_mac_address.as_deref()?.parse().ok()?;
            let v4 = data.networks.iter().filter(|n| n.link == l.id && n.kind == "ipv4").find_map(|n| {
                let ip: Ipv4Addr = n.ip_address.as_deref()?.parse().ok()?;
                let mask: Ipv4Addr = n.netmask.as_deref()?.parse().ok()?;
                let bits = u32::from(mask);
                // A netmask is ones then zeros.
                (bits.leading_ones() + bits.trailing_zeros() == 32).then(|| (ip, bits.leading_ones() as u8))
            });
            let port = OpenStackPort {
                id: l.vif_id.clone(),
                fixed_ip: v4.map(|(ip, _)| ip.to_string()),
                prefix: v4.map(|(_, p)| p),
                mtu: l.mtu,
            };
            Some((mac, port))
        })
        .collect())
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
            })
        );
        let dhcp = port("fa:16:3e:00:0e:03").unwrap();
        assert_eq!((dhcp.fixed_ip, dhcp.prefix, dhcp.mtu), (None, None, Some(1500)), "ipv4_dhcp has no fixed address");
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
        assert_eq!(resolve(&Source::Auto, r), None, "not OpenStack: nothing");
        std::fs::create_dir_all(r.join("sys/class/dmi/id")).unwrap();
        std::fs::write(r.join("sys/class/dmi/id/sys_vendor"), "OpenStack Foundation\n").unwrap();
        assert_eq!(resolve(&Source::Auto, r), Some(Source::Service(METADATA_SERVICE.into())));
        std::fs::create_dir_all(r.join("dev/disk/by-label")).unwrap();
        std::fs::create_dir_all(r.join("proc/self")).unwrap();
        std::fs::write(r.join("dev/sr0"), "").unwrap();
        std::os::unix::fs::symlink("../../sr0", r.join("dev/disk/by-label/config-2")).unwrap();
        let device = r.join("dev/sr0");
        std::fs::write(r.join("proc/self/mounts"), format!("{} /mnt/config iso9660 ro 0 0\n", device.display()))
            .unwrap();
        assert_eq!(resolve(&Source::Auto, r), Some(Source::Drive("/mnt/config".into())), "the mounted drive first");
        assert_eq!(resolve(&Source::Off, r), None);
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
