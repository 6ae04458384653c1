// SPDX-License-Identifier: Apache-2.0
//! Configuration: `/etc/multinic/multinicd.yaml` (or `--config PATH`) plus drop-ins
//! in `PATH.d/*.yaml`, applied in file-name order, later files winning key by key.
//! Every key is optional; an unknown key is an error naming the file and line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::plan::Policy;

/// Where the config lives unless `--config` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/multinic/multinicd.yaml";

/// Highest `sourceRoutingPriority`: plus 9 (`multinic9`) it stays below main's 32766.
const MAX_SOURCE_PRIORITY: u32 = 32766 - multinic_api::rules::MAX_INTERFACES as u32;

/// One config file as written: every key optional.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fragment {
    node_name: Option<String>,
    kubeconfig: Option<PathBuf>,
    namespace: Option<String>,
    backend: Option<BackendChoice>,
    protected_interfaces: Option<Vec<String>>,
    resync_interval: Option<String>,
    rollback_timeout: Option<String>,
    system_uuid_path: Option<PathBuf>,
    min_prefix_length: Option<u8>,
    source_routing_priority: Option<u32>,
    identity: Option<String>,
    remove_taint: Option<String>,
    metrics: Option<String>,
    openstack_metadata: Option<String>,
}

/// One config key, as `multinicd.yaml(5)` documents it.
pub struct Key {
    /// As written in the file.
    pub name: &'static str,
    /// What holds when it is not set.
    pub default: &'static str,
    /// What it does.
    pub what: &'static str,
}

/// Every key, in the order of the manual page and of `multinicd config`.
pub const KEYS: &[Key] = &[
    Key {
        name: "nodeName",
        default: "the hostname",
        what: "This node's name: the Node and the MultiNicNodeConfig the daemon acts for.",
    },
    Key {
        name: "kubeconfig",
        default: "/etc/kubernetes/kubelet.conf",
        what: "The credential the daemon talks to the API server with: the kubelet's (the node identity \
               system:node:<nodeName>) unless another is named. Client certificates are read again when they \
               change; while the file is missing, run waits for it.",
    },
    Key { name: "namespace", default: "multinic-system", what: "Namespace of the MultiNicNodeConfig objects." },
    Key {
        name: "backend",
        default: "auto",
        what: "auto, networkmanager or networkd: the network manager to drive. auto takes whichever owns its name \
               on the system bus (NetworkManager when both do).",
    },
    Key {
        name: "protectedInterfaces",
        default: "[]",
        what: "Glob patterns of link names never to touch, added to the built-in rules (loopback, the primary \
               network and everything under it, CNI links).",
    },
    Key {
        name: "resyncInterval",
        default: "5m",
        what: "How often the host is compared with the spec without an event (at least 1s).",
    },
    Key {
        name: "rollbackTimeout",
        default: "20s",
        what: "How long a change may take before it is rolled back (at least 2s); verify waits half of it.",
    },
    Key {
        name: "systemUuidPath",
        default: "/sys/class/dmi/id/product_uuid",
        what: "Where the host's system UUID is read, to compare with spec.instanceId.",
    },
    Key {
        name: "minPrefixLength",
        default: "8",
        what: "No interface subnet or route wider than this prefix length (0 to 32; default routes aside).",
    },
    Key {
        name: "sourceRoutingPriority",
        default: "32000",
        what: "The rule of multinicN's sourceRouting gets this priority plus N (1 to 32756: after the rules CNIs \
               install, before main's 32766).",
    },
    Key {
        name: "identity",
        default: "system:node:<nodeName>",
        what: "The user the API server must see for the kubeconfig's credential; the daemon refuses to act for \
               another. Name another user only for an identity of the daemon's own.",
    },
    Key {
        name: "removeTaint",
        default: "none",
        what: "A taint key (e.g. multinic.io/not-ready) removed from this node's Node the first time it is \
               configured. NodeRestriction lets no node identity change taints: this needs an identity of the \
               daemon's own.",
    },
    Key {
        name: "metrics",
        default: "off",
        what: "ADDRESS:PORT (e.g. 127.0.0.1:9483) where Prometheus metrics are served at /metrics.",
    },
    Key {
        name: "openstackMetadata",
        default: "auto",
        what: "Where status.discovered gets each NIC's OpenStack port (fixed IP, prefix, MTU, port id) from: auto \
               (on an OpenStack instance: the mounted config-2 drive, else http://169.254.169.254), off, an \
               http:// URL of a metadata service, or the directory of a config drive's content.",
    },
];

/// Which network manager to drive.
#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// Whichever runs (NetworkManager when both do).
    #[default]
    Auto,
    /// NetworkManager.
    NetworkManager,
    /// systemd-networkd.
    Networkd,
}

/// The merged, checked configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This node's name.
    pub node_name: String,
    /// Kubeconfig of the node identity.
    pub kubeconfig: PathBuf,
    /// Namespace of the CRs.
    pub namespace: String,
    /// Backend choice.
    pub backend: BackendChoice,
    /// Protected name patterns, built-ins included.
    pub policy: Policy,
    /// Extra protected patterns as configured.
    pub protected_interfaces: Vec<String>,
    /// Periodic re-check.
    pub resync_interval: Duration,
    /// How long a change may take before it is rolled back.
    pub rollback_timeout: Duration,
    /// Where the host's system UUID is read.
    pub system_uuid_path: PathBuf,
    /// The user name the API server must see for the kubeconfig's credential
    /// (`system:node:<nodeName>` unless configured explicitly).
    pub identity: String,
    /// A taint key removed from this node's Node once it is configured.
    pub remove_taint: Option<String>,
    /// Where the Prometheus metrics are served; none when unset.
    pub metrics: Option<std::net::SocketAddr>,
    /// Where OpenStack's `network_data.json` is read.
    pub openstack_metadata: crate::observe::openstack::Source,
    /// The files that were read, in order.
    pub sources: Vec<PathBuf>,
}

/// A config problem, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Unreadable file.
    #[error("{path}: {source}")]
    Read {
        /// the file
        path: PathBuf,
        /// the error
        #[source]
        source: std::io::Error,
    },
    /// Bad YAML or unknown key (serde's message carries the key, line and column).
    #[error("{path}: {message}")]
    Parse {
        /// the file
        path: PathBuf,
        /// what is wrong, where
        message: String,
    },
    /// A value that parses but makes no sense.
    #[error("{path}: {key}: {message}")]
    Value {
        /// the file that set it last
        path: PathBuf,
        /// the key
        key: &'static str,
        /// what is wrong
        message: String,
    },
}

impl Settings {
    /// Read the config at `path` and its drop-ins. A missing default file means
    /// defaults; a missing file given with `--config` is an error.
    pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
        let explicit = path.is_some();
        let path = path.unwrap_or(Path::new(DEFAULT_PATH));
        let mut files = Vec::new();
        if path.exists() || explicit {
            files.push(path.to_path_buf());
        }
        let dropin_dir = PathBuf::from(format!("{}.d", path.display()));
        if let Ok(entries) = std::fs::read_dir(&dropin_dir) {
            let mut dropins: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            dropins.sort();
            files.extend(dropins);
        }
        let mut merged = Fragment::default();
        let mut origin: std::collections::HashMap<&'static str, PathBuf> = Default::default();
        for file in &files {
            let text =
                std::fs::read_to_string(file).map_err(|source| ConfigError::Read { path: file.clone(), source })?;
            let fragment: Fragment = if text.trim().is_empty() {
                Fragment::default()
            } else {
                serde_yaml::from_str(&text)
                    .map_err(|e| ConfigError::Parse { path: file.clone(), message: e.to_string() })?
            };
            merge(&mut merged, fragment, file, &mut origin);
        }
        let at = |key: &'static str| origin.get(key).cloned().unwrap_or_else(|| path.to_path_buf());
        let duration = |key: &'static str, value: &Option<String>, default: Duration| match value {
            None => Ok(default),
            Some(v) => parse_duration(v).map_err(|message| ConfigError::Value { path: at(key), key, message }),
        };
        let protected = merged.protected_interfaces.clone().unwrap_or_default();
        let mut policy = Policy::new(&protected).map_err(|message| ConfigError::Value {
            path: at("protectedInterfaces"),
            key: "protectedInterfaces",
            message,
        })?;
        if let Some(min) = merged.min_prefix_length {
            if min > 32 {
                return Err(ConfigError::Value {
                    path: at("minPrefixLength"),
                    key: "minPrefixLength",
                    message: format!("{min} is not an IPv4 prefix length; use 0 to 32 (default 8)"),
                });
            }
            policy.min_prefix_len = min;
        }
        if let Some(p) = merged.source_routing_priority {
            // multinic9's rule must still come before main's (32766).
            if !(1..=MAX_SOURCE_PRIORITY).contains(&p) {
                return Err(ConfigError::Value {
                    path: at("sourceRoutingPriority"),
                    key: "sourceRoutingPriority",
                    message: format!(
                        "{p} is out of range; use 1 to {MAX_SOURCE_PRIORITY} so that every multinic rule comes before the main table's (32766); default {}",
                        crate::plan::source::DEFAULT_PRIORITY
                    ),
                });
            }
            policy.source_priority = p;
        }
        let resync_interval = duration("resyncInterval", &merged.resync_interval, Duration::from_secs(300))?;
        if resync_interval < Duration::from_secs(1) {
            return Err(ConfigError::Value {
                path: at("resyncInterval"),
                key: "resyncInterval",
                message: "must be at least 1s".into(),
            });
        }
        let rollback_timeout = duration("rollbackTimeout", &merged.rollback_timeout, Duration::from_secs(20))?;
        if rollback_timeout < Duration::from_secs(2) {
            return Err(ConfigError::Value {
                path: at("rollbackTimeout"),
                key: "rollbackTimeout",
                message: "must be at least 2s".into(),
            });
        }
        let node_name = merged.node_name.unwrap_or_else(hostname);
        if merged.identity.as_deref().is_some_and(|i| i.trim().is_empty()) {
            return Err(ConfigError::Value {
                path: at("identity"),
                key: "identity",
                message: "is empty; remove it (the node identity system:node:<nodeName> is expected) or name the user"
                    .into(),
            });
        }
        if let Some(key) = &merged.remove_taint {
            check_taint_key(key).map_err(|message| ConfigError::Value {
                path: at("removeTaint"),
                key: "removeTaint",
                message,
            })?;
        }
        let metrics = match &merged.metrics {
            None => None,
            Some(m) => Some(m.parse().map_err(|_| ConfigError::Value {
                path: at("metrics"),
                key: "metrics",
                message: format!(
                    "{m:?} is not ADDRESS:PORT; write e.g. 127.0.0.1:9483 (or remove the key: no metrics)"
                ),
            })?),
        };
        let openstack_metadata = match &merged.openstack_metadata {
            None => crate::observe::openstack::Source::Auto,
            Some(s) => s.parse().map_err(|message| ConfigError::Value {
                path: at("openstackMetadata"),
                key: "openstackMetadata",
                message,
            })?,
        };
        Ok(Settings {
            openstack_metadata,
            metrics,
            remove_taint: merged.remove_taint,
            identity: merged.identity.unwrap_or_else(|| format!("system:node:{node_name}")),
            node_name,
            kubeconfig: merged.kubeconfig.unwrap_or_else(|| "/etc/kubernetes/kubelet.conf".into()),
            namespace: merged.namespace.unwrap_or_else(|| multinic_api::DEFAULT_NAMESPACE.into()),
            backend: merged.backend.unwrap_or_default(),
            policy,
            protected_interfaces: protected,
            resync_interval,
            rollback_timeout,
            system_uuid_path: merged.system_uuid_path.unwrap_or_else(|| "/sys/class/dmi/id/product_uuid".into()),
            sources: files,
        })
    }
}

impl Settings {
    /// The effective settings as `key: value` pairs under their config-file names,
    /// for `multinicd config` (operators and the package scripts read them).
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        let backend = match self.backend {
            BackendChoice::Auto => "auto",
            BackendChoice::NetworkManager => "networkmanager",
            BackendChoice::Networkd => "networkd",
        };
        vec![
            ("nodeName", self.node_name.clone()),
            ("kubeconfig", self.kubeconfig.display().to_string()),
            ("namespace", self.namespace.clone()),
            ("backend", backend.to_string()),
            // JSON is YAML: patterns such as eth[0-3] or *tap stay strings when read back.
            ("protectedInterfaces", serde_json::to_string(&self.protected_interfaces).unwrap_or_default()),
            ("resyncInterval", format_duration(self.resync_interval)),
            ("rollbackTimeout", format_duration(self.rollback_timeout)),
            ("systemUuidPath", self.system_uuid_path.display().to_string()),
            ("minPrefixLength", self.policy.min_prefix_len.to_string()),
            ("sourceRoutingPriority", self.policy.source_priority.to_string()),
            ("identity", self.identity.clone()),
            ("removeTaint", self.remove_taint.clone().unwrap_or_default()),
            ("metrics", self.metrics.map(|m| m.to_string()).unwrap_or_default()),
            ("openstackMetadata", self.openstack_metadata.to_string()),
        ]
    }
}

fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        _ if ms.is_multiple_of(3_600_000) && ms > 0 => format!("{}h", ms / 3_600_000),
        _ if ms.is_multiple_of(60_000) && ms > 0 => format!("{}m", ms / 60_000),
        _ if ms.is_multiple_of(1000) => format!("{}s", ms / 1000),
        _ => format!("{ms}ms"),
    }
}

fn merge(
    into: &mut Fragment,
    from: Fragment,
    file: &Path,
    origin: &mut std::collections::HashMap<&'static str, PathBuf>,
) {
    macro_rules! take {
        ($($field:ident => $key:literal),*) => {$(
            if from.$field.is_some() {
                into.$field = from.$field;
                origin.insert($key, file.to_path_buf());
            }
        )*};
    }
    take!(node_name => "nodeName", kubeconfig => "kubeconfig", namespace => "namespace", backend => "backend",
        protected_interfaces => "protectedInterfaces", resync_interval => "resyncInterval",
        rollback_timeout => "rollbackTimeout", system_uuid_path => "systemUuidPath",
        min_prefix_length => "minPrefixLength", source_routing_priority => "sourceRoutingPriority",
        identity => "identity", remove_taint => "removeTaint", metrics => "metrics",
        openstack_metadata => "openstackMetadata");
}

/// A taint key as the API takes it: `[prefix/]name`, the prefix a DNS subdomain,
/// the name up to 63 letters, digits, `-`, `_` and `.`, alphanumeric at both ends.
fn check_taint_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let ends = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_alphanumeric()) && s.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    let name_ok =
        name.len() <= 63 && ends(name) && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !name_ok || !prefix.is_none_or(multinic_api::is_dns_subdomain) {
        return Err(format!("{key:?} is not a taint key; write e.g. multinic.io/not-ready"));
    }
    // Kubernetes' own taints (not-ready, unreachable, uninitialized, …) say
    // something about the node that a configured NIC does not change.
    let reserved = |domain: &str| prefix.is_some_and(|p| p == domain || p.ends_with(&format!(".{domain}")));
    if reserved("kubernetes.io") || reserved("k8s.io") {
        return Err(format!(
            "{key:?} is a taint of Kubernetes' own, never multinicd's to remove; use a key of your own, e.g. multinic.io/not-ready"
        ));
    }
    Ok(())
}

/// `500ms`, `30s`, `5m`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is not a duration; write e.g. 30s, 5m, 1h or 500ms"))?;
    let factor = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => {
            return Err(format!("{s:?} has no known unit; write e.g. 30s, 5m, 1h or 500ms"));
        }
    };
    let ms = n.checked_mul(factor).ok_or_else(|| format!("{s:?} is too long"))?;
    Ok(Duration::from_millis(ms))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropins_win_key_by_key_in_name_order() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let main = d.join("multinicd.yaml");
        std::fs::write(&main, "nodeName: a\nnamespace: ns1\nrollbackTimeout: 10s\n").unwrap();
        std::fs::create_dir_all(d.join("multinicd.yaml.d")).unwrap();
        std::fs::write(d.join("multinicd.yaml.d/20-b.yaml"), "namespace: ns3\n").unwrap();
        std::fs::write(d.join("multinicd.yaml.d/10-a.yaml"), "namespace: ns2\nprotectedInterfaces: [\"ens9\"]\n")
            .unwrap();
        std::fs::write(d.join("multinicd.yaml.d/ignored.txt"), "garbage: [").unwrap();
        let s = Settings::load(Some(&main)).unwrap();
        assert_eq!(s.node_name, "a");
        assert_eq!(s.namespace, "ns3");
        assert_eq!(s.rollback_timeout, Duration::from_secs(10));
        assert_eq!(s.policy.protected_by("ens9"), Some("ens9"));
        assert_eq!(s.policy.protected_by("eth0"), Some("eth0"));
        assert_eq!(s.sources.len(), 3);
    }

    #[test]
    fn unknown_key_names_file_key_and_line() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let main = d.join("multinicd.yaml");
        std::fs::write(&main, "nodeName: a\nrollbackTimeOut: 10s\n").unwrap();
        let e = Settings::load(Some(&main)).unwrap_err().to_string();
        assert!(e.contains("multinicd.yaml") && e.contains("rollbackTimeOut") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let main = d.join("multinicd.yaml");
        std::fs::write(&main, "resyncInterval: soon\n").unwrap();
        assert!(Settings::load(Some(&main)).unwrap_err().to_string().contains("resyncInterval"));
        std::fs::write(&main, "resyncInterval: 0s\n").unwrap();
        assert!(Settings::load(Some(&main)).unwrap_err().to_string().contains("resyncInterval: must be at least 1s"));
        std::fs::write(&main, "backend: wicked\n").unwrap();
        assert!(Settings::load(Some(&main)).unwrap_err().to_string().contains("wicked"));
        std::fs::write(&main, "protectedInterfaces: [\"[\"]\n").unwrap();
        assert!(Settings::load(Some(&main)).unwrap_err().to_string().contains("protectedInterfaces"));
        std::fs::write(&main, "sourceRoutingPriority: 32760\n").unwrap();
        assert!(
            Settings::load(Some(&main))
                .unwrap_err()
                .to_string()
                .contains("sourceRoutingPriority: 32760 is out of range")
        );
        std::fs::write(&main, "sourceRoutingPriority: 1000\n").unwrap();
        assert_eq!(Settings::load(Some(&main)).unwrap().policy.source_priority, 1000);
    }

    #[test]
    fn missing_explicit_file_is_an_error_and_empty_file_is_defaults() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        assert!(Settings::load(Some(&d.join("nope.yaml"))).is_err());
        let main = d.join("multinicd.yaml");
        std::fs::write(&main, "").unwrap();
        let s = Settings::load(Some(&main)).unwrap();
        assert_eq!(s.namespace, "multinic-system");
        assert_eq!(s.backend, BackendChoice::Auto);
    }

    #[test]
    fn entries_show_merged_values_under_file_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let main = tmp.path().join("multinicd.yaml");
        let text = "nodeName: n1\nkubeconfig: /etc/k.conf\nbackend: networkd\nresyncInterval: 90s\n\
                    protectedInterfaces: [\"eth[0-3]\", \"*tap\"]\n";
        std::fs::write(&main, text).unwrap();
        let s = Settings::load(Some(&main)).unwrap();
        let e: std::collections::HashMap<_, _> = s.entries().into_iter().collect();
        assert_eq!(e["nodeName"], "n1");
        assert_eq!(e["kubeconfig"], "/etc/k.conf");
        assert_eq!(e["backend"], "networkd");
        assert_eq!(e["resyncInterval"], "90s");
        assert_eq!(e["rollbackTimeout"], "20s");
        assert_eq!(e["protectedInterfaces"], r#"["eth[0-3]","*tap"]"#);
        // Every key the file accepts is shown, and each shown value loads back.
        let text: String = s.entries().iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
        std::fs::write(&main, text).unwrap();
        let again = Settings::load(Some(&main)).unwrap();
        assert_eq!(again.entries(), s.entries());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("99999999999999999h").unwrap_err().contains("too long"));
    }

    #[test]
    fn remove_taint_takes_a_taint_key() {
        for good in ["multinic.io/not-ready", "not-ready", "a.b-c.d/x_y.z"] {
            assert_eq!(check_taint_key(good), Ok(()), "{good}");
        }
        for bad in ["", "multinic.io/", "/not-ready", "Multinic.io/x", "a/b/c", "not ready", "-x", &"x".repeat(64)] {
            assert!(check_taint_key(bad).unwrap_err().contains("is not a taint key"), "{bad}");
        }
        for kubernetes in [
            "node.kubernetes.io/not-ready",
            "node.cloudprovider.kubernetes.io/uninitialized",
            "kubernetes.io/x",
            "x.k8s.io/y",
        ] {
            assert!(check_taint_key(kubernetes).unwrap_err().contains("Kubernetes' own"), "{kubernetes}");
        }
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("multinicd.yaml");
        std::fs::write(&path, "removeTaint: multinic.io/not ready\n").unwrap();
        let e = Settings::load(Some(&path)).unwrap_err().to_string();
        assert!(e.contains("removeTaint") && e.contains("write e.g. multinic.io/not-ready"), "{e}");
        std::fs::write(&path, "removeTaint: multinic.io/not-ready\n").unwrap();
        assert_eq!(Settings::load(Some(&path)).unwrap().remove_taint.as_deref(), Some("multinic.io/not-ready"));
    }

    #[test]
    fn metrics_takes_an_address_and_port() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("multinicd.yaml");
        std::fs::write(&path, "metrics: localhost\n").unwrap();
        let e = Settings::load(Some(&path)).unwrap_err().to_string();
        assert!(e.contains("metrics: \"localhost\" is not ADDRESS:PORT; write e.g. 127.0.0.1:9483"), "{e}");
        std::fs::write(&path, "metrics: 127.0.0.1:9483\n").unwrap();
        assert_eq!(Settings::load(Some(&path)).unwrap().metrics, Some("127.0.0.1:9483".parse().unwrap()));
        std::fs::write(&path, "{}\n").unwrap();
        assert_eq!(Settings::load(Some(&path)).unwrap().metrics, None, "off when unset");
    }

    #[test]
    fn every_key_is_documented_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("multinicd.yaml");
        std::fs::write(&path, "nodeName: a\n").unwrap();
        let settings = Settings::load(Some(&path)).unwrap();
        let entries: Vec<&str> = settings.entries().into_iter().map(|(k, _)| k).collect();
        let documented: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        assert_eq!(entries, documented);
    }
}
