// SPDX-License-Identifier: Apache-2.0
//! The lab harness: a real NetworkManager on a private system bus, in private
//! namespaces, with veth NICs of chosen MACs (see `lab/lab.sh`). Every lab is torn
//! down when its [`Lab`] is dropped, also when a test panics.
//!
//! Prerequisites (root, NetworkManager, dbus-daemon, iproute2, util-linux) are
//! installed by `tests/setup.sh`. When one is missing the lab is skipped with a
//! message, except when `CI` is set: then it is a failure.

// A test harness: a failed setup step panics with its message, which is the point.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use multinicd::backend::networkd::files;
use multinicd::backend::networkmanager::settings as nm_settings;
use serde_json::Value;

pub mod bench;
pub mod cluster;
pub mod mariadb;
pub mod node;
pub mod vm;

/// MAC of the lab's primary NIC `eth0` (holds the default route).
pub const PRIMARY_MAC: &str = "02:00:00:00:00:01";
/// UUID of the lab's own profile for `eth0`, which multinic must never touch.
pub const PRIMARY_UUID: &str = "5ea1ab00-0000-4000-8000-000000000001";

/// Where a lab reaches its API server over its own primary network: an address
/// beyond the lab's gateway 192.0.2.1, like an API server VIP in another subnet, so
/// that a route can cut the node off from it. The testenv's serving certificate
/// carries it (`TESTENV_EXTRA_SANS` in tests/run.sh).
pub const API_BEHIND_GATEWAY: &str = "203.0.113.10";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Which network manager(s) a lab runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Manager {
    /// NetworkManager configures eth0.
    NetworkManager,
    /// systemd-networkd configures eth0.
    Networkd,
    /// NetworkManager configures eth0, networkd runs beside it.
    Both,
    /// Only the bus; eth0 unconfigured.
    None,
}

impl Manager {
    fn env(self) -> &'static str {
        match self {
            Manager::NetworkManager => "networkmanager",
            Manager::Networkd => "networkd",
            Manager::Both => "both",
            Manager::None => "none",
        }
    }

    /// The backend name multinicd reports for this lab (NM wins when both run).
    pub fn backend(self) -> &'static str {
        match self {
            Manager::Networkd => "networkd",
            _ => "networkmanager",
        }
    }
}

/// A running lab.
pub struct Lab {
    manager: Manager,
    pid: u32,
    dir: PathBuf,
    relays: Vec<Child>,
    host_relays: std::collections::HashMap<u16, Child>,
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

fn script() -> PathBuf {
    repo_root().join("tests/lab/lab.sh")
}

/// The `multinicd` binary built next to the running test (or `MULTINICD_BIN`).
pub fn multinicd_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("MULTINICD_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> or target/<profile>/<bin>
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join("multinicd");
    assert!(
        bin.exists(),
        "{} is missing: build it first with `cargo build --workspace` (the README's test command does)",
        bin.display()
    );
    bin
}

/// Why this process cannot make namespaces, if it cannot (not root).
fn missing_root() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(1)).unwrap_or("?");
    (uid != "0").then(|| "the lab and the VM node need root (network and mount namespaces)".into())
}

/// Why a lab cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    if let Some(why) = missing_root() {
        return Some(why);
    }
    for (bin, package) in [
        ("/usr/sbin/NetworkManager", "network-manager"),
        ("/usr/bin/dbus-daemon", "dbus-daemon"),
        ("/usr/bin/dbus-monitor", "dbus-bin"),
        ("/usr/bin/nsenter", "util-linux"),
        ("/usr/sbin/ip", "iproute2"),
        ("/usr/sbin/dnsmasq", "dnsmasq-base"),
    ] {
        if !Path::new(bin).exists() {
            return Some(format!("{bin} is missing: install {package} (tests/setup.sh does)"));
        }
    }
    None
}

impl Lab {
    /// Start a lab, or `None` (with a message) when this machine cannot run one and
    /// `CI` is not set. In CI a missing prerequisite or a failed start panics.
    pub fn start() -> Option<Lab> {
        Self::start_with(Manager::NetworkManager)
    }

    /// Start a lab running `manager`; see [`Lab::start`].
    pub fn start_with(manager: Manager) -> Option<Lab> {
        Self::start_env(manager, &[])
    }

    /// Start a lab whose NetworkManager is configured as distributions ship it:
    /// auto-default on, so every new NIC gets NM's own "Wired connection N" (DHCP).
    pub fn start_stock() -> Option<Lab> {
        Self::start_env(Manager::NetworkManager, &[("LAB_NM_STOCK", "1")])
    }

    fn start_env(manager: Manager, env: &[(&str, &str)]) -> Option<Lab> {
        if let Some(why) = missing_prerequisite() {
            if std::env::var_os("CI").is_some() {
                panic!("lab prerequisite missing in CI: {why}");
            }
            eprintln!("SKIPPED (not in CI): {why}");
            return None;
        }
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("multinic-lab-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("lab state dir");
        let out = Command::new("bash")
            .arg(script())
            .arg("up")
            .arg(&dir)
            .env("LAB_OWNER_PID", std::process::id().to_string())
            .env("LAB_MANAGER", manager.env())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("run lab.sh up");
        assert!(out.status.success(), "lab did not start:\n{}", String::from_utf8_lossy(&out.stderr));
        let pid = String::from_utf8_lossy(&out.stdout).trim().parse().expect("lab.sh up prints the init PID");
        Some(Lab { manager, pid, dir, relays: Vec::new(), host_relays: Default::default() })
    }

    /// The network manager(s) it runs.
    pub fn manager(&self) -> Manager {
        self.manager
    }

    /// Every `.network`/`.link` file networkd sees in the lab's /etc/systemd/network:
    /// (name, text, modification time in ns).
    pub fn networkd_files(&self) -> Vec<(String, String, String)> {
        let script = "cd /etc/systemd/network 2>/dev/null || exit 0; for f in *; do [ -f \"$f\" ] || continue; \
                      printf '%s\\0%s\\0' \"$f\" \"$(stat -c %.9Y \"$f\")\"; cat \"$f\"; printf '\\0'; done";
        let out = self.run("sh", &["-c", script]);
        assert!(out.status.success(), "listing networkd files: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let parts: Vec<&str> = text.split('\0').collect();
        parts
            .chunks(3)
            .filter(|c| c.len() == 3)
            .map(|c| (c[0].to_string(), c[2].to_string(), c[1].to_string()))
            .collect()
    }

    /// The configurations multinic owns, by MAC, as the running manager holds them
    /// (NM profiles; networkd drop-ins with multinic's header), each with a value
    /// that changes when the configuration is rewritten.
    pub fn owned(&self) -> Vec<(String, Value)> {
        let mut out: Vec<(String, Value)> = match self.manager {
            Manager::Networkd => self
                .networkd_files()
                .into_iter()
                .filter(|(name, _, _)| name.ends_with(".network"))
                .filter_map(|(name, text, mtime)| {
                    let owned = files::owned_from(&text, std::path::Path::new(&name))?;
                    Some((owned.mac.to_string(), serde_json::json!({ "file": name, "text": text, "mtime": mtime })))
                })
                .collect(),
            _ => self
                .owned_profiles()
                .into_iter()
                .map(|(path, s)| {
                    (
                        s["user"]["data"]["data"][nm_settings::KEY_MAC].as_str().unwrap_or("?").to_string(),
                        serde_json::json!({ "path": path, "settings": s }),
                    )
                })
                .collect(),
        };
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The configurations that are not multinic's (the lab's primary, an admin's),
    /// without fields the manager updates by itself.
    pub fn foreign(&self) -> Vec<Value> {
        match self.manager {
            Manager::Networkd => self
                .networkd_files()
                .into_iter()
                .filter(|(_, text, _)| !text.starts_with(files::HEADER))
                .map(|(name, text, mtime)| serde_json::json!({ "file": name, "text": text, "mtime": mtime }))
                .collect(),
            _ => self
                .nm_profiles()
                .into_iter()
                .filter(|(_, s)| s["user"].is_null())
                .map(|(path, mut s)| {
                    s["connection"].as_object_mut().map(|c| c.remove("timestamp"));
                    serde_json::json!({ "path": path, "settings": s })
                })
                .collect(),
        }
    }

    /// The lab's state directory (logs, spec files).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lab_sh(&self, args: &[&str]) -> Output {
        Command::new("bash").arg(script()).args(args).stdin(Stdio::null()).output().expect("run lab.sh")
    }

    /// Hot-attach a NIC with carrier.
    pub fn add_nic(&self, name: &str, mac: &str, mtu: u32) {
        let out = self.lab_sh(&["add-nic", &self.pid.to_string(), name, mac, &mtu.to_string()]);
        assert!(out.status.success(), "add-nic {name}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Detach a NIC (by its current name).
    pub fn del_nic(&self, name: &str) {
        let out = self.lab_sh(&["del-nic", &self.pid.to_string(), name]);
        assert!(out.status.success(), "del-nic {name}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// A catch-all `.network` as images ship one (`20-wired.network`: DHCP on every
    /// Ethernet NIC; the lab's primary has its own file, which sorts first), loaded.
    pub fn catch_all_dhcp(&self) {
        let out = self.run(
            "sh",
            &[
                "-c",
                "printf '[Match]\\nType=ether\\n\\n[Network]\\nDHCP=ipv4\\n' > /etc/systemd/network/20-wired.network",
            ],
        );
        assert!(out.status.success(), "writing 20-wired.network: {}", String::from_utf8_lossy(&out.stderr));
        let reload = self.run(
            "busctl",
            &[
                "call",
                "org.freedesktop.network1",
                "/org/freedesktop/network1",
                "org.freedesktop.network1.Manager",
                "Reload",
            ],
        );
        assert!(reload.status.success(), "networkd Reload: {}", String::from_utf8_lossy(&reload.stderr));
    }

    /// Restart the lab's systemd-networkd (as `systemctl restart` would): the old one
    /// is stopped, a new one reads its configuration; returns once it is on the bus.
    pub fn restart_networkd(&self) {
        let script = "kill $(pidof systemd-networkd) && while pidof systemd-networkd >/dev/null; do sleep 0.05; done; \
                      while busctl --system --acquired list 2>/dev/null | grep -q '^org.freedesktop.network1 '; do sleep 0.05; done; \
                      setsid /lib/systemd/systemd-networkd </dev/null >>/run/networkd-restarted.log 2>&1 & \
                      for i in $(seq 200); do busctl --system --acquired list 2>/dev/null | grep -q '^org.freedesktop.network1 ' && exit 0; sleep 0.05; done; exit 1";
        let out = self.run("sh", &["-c", script]);
        assert!(out.status.success(), "restarting networkd: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Send `signal` (`STOP`, `CONT`, …) to the lab's NetworkManager.
    pub fn signal_nm(&self, signal: &str) {
        let out = self.run("sh", &["-c", &format!("kill -{signal} $(pidof NetworkManager)")]);
        assert!(out.status.success(), "kill -{signal} NetworkManager: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Restart the lab's NetworkManager (as `systemctl restart` would); returns once
    /// it is back on the bus and done starting.
    pub fn restart_nm(&self) {
        // The new one is started once the bus has let the old one's name go: the
        // process is gone before dbus-daemon has read its hang-up, and a new
        // NetworkManager that finds its name taken exits. Its log goes to the state
        // dir, which is kept when a test fails.
        let log = self.dir.join("nm-restarted.log");
        let script = format!(
            "pid=$(pidof NetworkManager); [ -n \"$pid\" ] && kill $pid; while pidof NetworkManager >/dev/null; do sleep 0.05; done; \
             while busctl --system --acquired list 2>/dev/null | grep -q '^org.freedesktop.NetworkManager '; do sleep 0.05; done; \
             setsid NetworkManager --no-daemon --debug --log-level=INFO </dev/null >>{log} 2>&1 & \
             nm-online -s -q -t 30 || {{ echo \"NetworkManager not started within 30 s; its log:\"; tail -n 60 {log}; exit 1; }} >&2",
            log = log.display()
        );
        let out = self.run("sh", &["-c", &script]);
        assert!(out.status.success(), "restarting NetworkManager: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Restart the lab's system bus (dbus-daemon), and then its network manager, as
    /// systemd does with the services that lose their bus connection.
    pub fn restart_dbus(&self) {
        let script = "kill $(pidof dbus-daemon) && while pidof dbus-daemon >/dev/null; do sleep 0.05; done; \
                      rm -f /run/dbus/system_bus_socket; \
                      setsid dbus-daemon --system --nofork --nopidfile --nosyslog </dev/null >>/run/dbus-restarted.log 2>&1 & \
                      for i in $(seq 200); do [ -S /run/dbus/system_bus_socket ] && exit 0; sleep 0.05; done; exit 1";
        let out = self.run("sh", &["-c", script]);
        assert!(out.status.success(), "restarting dbus-daemon: {}", String::from_utf8_lossy(&out.stderr));
        match self.manager {
            Manager::Networkd => self.restart_networkd(),
            _ => self.restart_nm(),
        }
    }

    /// Run a DHCP server on NIC `name`'s segment (`lab.sh dhcp`): it leases
    /// `PREFIX.100-199` and offers `PREFIX.1` as router, as an OpenStack subnet does.
    pub fn dhcp(&self, name: &str, prefix: &str) {
        let out = self.lab_sh(&["dhcp", &self.pid.to_string(), name, prefix]);
        assert!(out.status.success(), "lab.sh dhcp: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// A router on NIC `name`'s segment: its peer end gets `address` (`a.b.c.d/len`).
    pub fn segment(&self, name: &str, address: &str) {
        let out = self.lab_sh(&["segment", &self.pid.to_string(), name, address]);
        assert!(out.status.success(), "lab.sh segment: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// IPv6 router advertisements of `PREFIX::/64` on NIC `name`'s segment, from
    /// `PREFIX::1` (`lab.sh ra`; `prefix` as `2001:db8:60:`).
    pub fn router_advertisements(&self, name: &str, prefix: &str) {
        let out = self.lab_sh(&["ra", &self.pid.to_string(), name, prefix]);
        assert!(out.status.success(), "lab.sh ra: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Wait until `name` has a default route (from DHCP); returns it.
    pub fn wait_default_route(&self, name: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let routes = self.ip(&["route", "show", "default", "dev", name]);
            if let Some(r) = routes.as_array().and_then(|a| a.first()) {
                return r.clone();
            }
            assert!(Instant::now() < deadline, "{name} got no default route from DHCP");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Give NIC `name` carrier or take it away (its peer end up or down).
    pub fn carrier(&self, name: &str, on: bool) {
        let out = self.lab_sh(&["carrier", &self.pid.to_string(), name, if on { "on" } else { "off" }]);
        assert!(out.status.success(), "lab.sh carrier: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Hot-attach a NIC without carrier (its peer stays down): NM cannot activate it.
    pub fn add_nic_without_carrier(&self, name: &str, mac: &str) {
        let out = self.lab_sh(&["add-nic", &self.pid.to_string(), name, mac, "1500", "--no-carrier"]);
        assert!(out.status.success(), "add-nic {name}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// A command inside the lab.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.pid.to_string(), "-a", "--", program]).stdin(Stdio::null());
        c
    }

    /// Run a command inside the lab and return its output.
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        self.command(program).args(args).output().expect("run command in lab")
    }

    /// Run `multinicd` inside the lab.
    pub fn multinicd(&self, args: &[&str]) -> Output {
        let bin = multinicd_bin();
        let out = self.run(bin.to_str().expect("utf-8 path"), args);
        eprintln!("--- multinicd {}\n{}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        out
    }

    /// Write a file into the lab's state dir (visible inside the lab) and return its path.
    pub fn write(&self, name: &str, content: &str) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, content).expect("write lab file");
        p.to_string_lossy().into_owned()
    }

    /// `ip -j ARGS` inside the lab.
    pub fn ip(&self, args: &[&str]) -> Value {
        let mut full = vec!["-j"];
        full.extend_from_slice(args);
        let out = self.run("ip", &full);
        assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("ip -j prints JSON")
    }

    /// One link as `ip -j addr show` reports it, by name.
    pub fn link(&self, name: &str) -> Option<Value> {
        self.ip(&["addr", "show"]).as_array()?.iter().find(|l| l["ifname"] == name).cloned()
    }

    /// IPv4 addresses of a link as `a.b.c.d/len`.
    pub fn ipv4(&self, name: &str) -> Vec<String> {
        let Some(l) = self.link(name) else {
            return vec![];
        };
        l["addr_info"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|i| i["family"] == "inet")
                    .map(|i| format!("{}/{}", i["local"].as_str().unwrap_or("?"), i["prefixlen"]))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A D-Bus call to NetworkManager inside the lab, through `busctl -j`; returns `data`.
    pub fn busctl(&self, args: &[&str]) -> Value {
        let mut full = vec!["--system", "-j"];
        full.extend_from_slice(args);
        let out = self.run("busctl", &full);
        assert!(out.status.success(), "busctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).expect("busctl -j prints JSON");
        v["data"].clone()
    }

    /// The DNS servers the running manager applies to link `name` (its runtime
    /// view: NM's IP4Config, networkd's Link.Describe), in order.
    pub fn dns(&self, name: &str) -> Vec<String> {
        let index = self.link(name).map(|l| l["ifindex"].to_string()).expect("link exists");
        match self.manager {
            Manager::Networkd => {
                let path = format!("/org/freedesktop/network1/link/_3{index}");
                let json = self.busctl(&[
                    "call",
                    "org.freedesktop.network1",
                    &path,
                    "org.freedesktop.network1.Link",
                    "Describe",
                ]);
                let described: Value = serde_json::from_str(json[0].as_str().expect("Describe returns JSON")).unwrap();
                described["DNS"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|d| {
                        let octets: Vec<String> =
                            d["Address"].as_array().unwrap().iter().map(|o| o.to_string()).collect();
                        octets.join(".")
                    })
                    .collect()
            }
            _ => {
                let nm = "org.freedesktop.NetworkManager";
                let device =
                    self.busctl(&["call", nm, "/org/freedesktop/NetworkManager", nm, "GetDeviceByIpIface", "s", name]);
                let device = device[0].as_str().expect("device path").to_string();
                let config = self.busctl(&["get-property", nm, &device, &format!("{nm}.Device"), "Ip4Config"]);
                let config = config.as_str().expect("IP4Config path").to_string();
                if config == "/" {
                    return Vec::new();
                }
                let data = self.busctl(&["get-property", nm, &config, &format!("{nm}.IP4Config"), "NameserverData"]);
                data.as_array()
                    .into_iter()
                    .flatten()
                    .map(|d| d["address"]["data"].as_str().unwrap_or("?").to_string())
                    .collect()
            }
        }
    }

    /// Every NM profile: (object path, settings as JSON).
    pub fn nm_profiles(&self) -> Vec<(String, Value)> {
        let paths = self.busctl(&[
            "call",
            "org.freedesktop.NetworkManager",
            "/org/freedesktop/NetworkManager/Settings",
            "org.freedesktop.NetworkManager.Settings",
            "ListConnections",
        ]);
        let paths: Vec<String> =
            paths[0].as_array().expect("ao").iter().map(|p| p.as_str().expect("path").to_string()).collect();
        paths
            .into_iter()
            .map(|p| {
                let s = self.busctl(&[
                    "call",
                    "org.freedesktop.NetworkManager",
                    &p,
                    "org.freedesktop.NetworkManager.Settings.Connection",
                    "GetSettings",
                ]);
                (p, s[0].clone())
            })
            .collect()
    }

    /// Profiles marked as multinic's.
    pub fn owned_profiles(&self) -> Vec<(String, Value)> {
        self.nm_profiles()
            .into_iter()
            .filter(|(_, s)| s["user"]["data"]["data"][nm_settings::KEY_MANAGED] == "yes")
            .collect()
    }

    /// Paths of the active connections.
    pub fn active_connections(&self) -> Vec<String> {
        let v = self.busctl(&[
            "get-property",
            "org.freedesktop.NetworkManager",
            "/org/freedesktop/NetworkManager",
            "org.freedesktop.NetworkManager",
            "ActiveConnections",
        ]);
        let mut out: Vec<String> =
            v.as_array().expect("ao").iter().map(|p| p.as_str().expect("path").to_string()).collect();
        out.sort();
        out
    }

    /// Make `127.0.0.1:PORT` inside the lab reach `127.0.0.1:PORT` on the host (the
    /// API server), through a Unix socket in the lab's state dir: the lab has its own
    /// network namespace, and a Unix socket is a file both sides see. Both relays
    /// stop with the lab.
    pub fn forward_tcp(&mut self, port: u16) {
        self.relay_in(None, "127.0.0.1", port, port);
    }

    /// Serve the host's `127.0.0.1:PORT` (the API server) at
    /// [`API_BEHIND_GATEWAY`]`:6443` in the lab's peer namespace, which the lab
    /// reaches through eth0 and its default route via 192.0.2.1. Returns the URL.
    pub fn serve_behind_gateway(&mut self, port: u16) -> String {
        let addr = API_BEHIND_GATEWAY;
        let out = self.run("ip", &["-n", "peers", "addr", "add", &format!("{addr}/32"), "dev", "lo"]);
        assert!(out.status.success(), "address behind the gateway: {}", String::from_utf8_lossy(&out.stderr));
        self.relay_in(Some("peers"), addr, 6443, port);
        format!("https://{addr}:6443")
    }

    /// Listen on `bind:lab_port` inside the lab (in its netns `netns`, if given) and
    /// relay to the host's `127.0.0.1:host_port` over a Unix socket in the state
    /// dir; returns once the lab reaches it.
    fn relay_in(&mut self, netns: Option<&str>, bind: &str, lab_port: u16, host_port: u16) {
        self.relay_host_side(lab_port, host_port);
        let sock = self.dir.join(format!("tcp-{lab_port}.sock"));
        let mut command = match netns {
            Some(ns) => {
                let mut c = self.command("ip");
                c.args(["netns", "exec", ns, "socat"]);
                c
            }
            None => self.command("socat"),
        };
        let inside = command
            .arg(format!("TCP-LISTEN:{lab_port},bind={bind},fork,reuseaddr"))
            .arg(format!("UNIX-CONNECT:{}", sock.display()))
            .stderr(Stdio::null())
            .spawn()
            .expect("start socat in the lab");
        self.relays.push(inside);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.run("bash", &["-c", &format!("exec 3<>/dev/tcp/{bind}/{lab_port}")]).status.success() {
            assert!(Instant::now() < deadline, "the relay to {bind}:{lab_port} is not up in the lab");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The routing state a change of multinic's must leave alone: every IPv4 route
    /// of every table except those on `skip` links, every policy rule, and the path
    /// (`ip route get`) to each of `targets`.
    pub fn routing_state(&self, targets: &[&str], skip: &[&str]) -> Value {
        let strip = |mut v: Value| {
            for e in v.as_array_mut().into_iter().flatten() {
                if let Some(o) = e.as_object_mut() {
                    // `linkdown` follows a link's carrier, not anyone's configuration.
                    o.retain(|k, _| !["expires", "cache", "uid", "flags"].contains(&k.as_str()));
                }
            }
            v
        };
        let gets: Vec<Value> = targets.iter().map(|a| strip(self.ip(&["route", "get", a]))).collect();
        let routes: Vec<Value> = strip(self.ip(&["-4", "route", "show", "table", "all"]))
            .as_array()
            .expect("routes")
            .iter()
            .filter(|r| !skip.contains(&r["dev"].as_str().unwrap_or_default()))
            .cloned()
            .collect();
        serde_json::json!({ "routes": routes, "rules": self.ip(&["rule", "show"]), "gets": gets })
    }

    /// Point the relay of lab port `lab_port` at host port `host_port` from now on
    /// (the API server came back on another port).
    pub fn retarget_tcp(&mut self, lab_port: u16, host_port: u16) {
        if let Some(mut old) = self.host_relays.remove(&lab_port) {
            let _ = old.kill();
            let _ = old.wait();
        }
        self.relay_host_side(lab_port, host_port);
    }

    fn relay_host_side(&mut self, lab_port: u16, host_port: u16) {
        let host = relay_unix_to_tcp(&self.dir.join(format!("tcp-{lab_port}.sock")), host_port);
        self.host_relays.insert(lab_port, host);
    }

    /// Start `multinicd ARGS` inside the lab in the background; its stderr goes to
    /// `NAME.log` in the state dir and its sd_notify messages to a socket read by
    /// [`Daemon::notifications`].
    pub fn spawn_multinicd(&self, name: &str, args: &[&str]) -> Daemon {
        self.spawn_multinicd_env(name, args, &[])
    }

    /// [`Lab::spawn_multinicd`] with extra environment.
    pub fn spawn_multinicd_env(&self, name: &str, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let log = self.dir.join(format!("{name}.log"));
        let notify_path = self.dir.join(format!("{name}.notify"));
        let _ = std::fs::remove_file(&notify_path);
        let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).expect("bind notify socket");
        notify.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
        // Drain the socket all the time, as systemd does.
        let notes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        {
            let (notes, done) = (notes.clone(), done.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while !done.load(Ordering::SeqCst) {
                    if let Ok(n) = notify.recv(&mut buf) {
                        let at = Instant::now();
                        let lines =
                            String::from_utf8_lossy(&buf[..n]).lines().map(|l| (at, l.to_string())).collect::<Vec<_>>();
                        notes.lock().expect("not poisoned").extend(lines);
                    }
                }
            });
        }
        let bin = multinicd_bin();
        let child = self
            .command(bin.to_str().expect("utf-8"))
            .args(args)
            .envs(env.iter().copied())
            .env("NOTIFY_SOCKET", &notify_path)
            .env("WATCHDOG_USEC", "1000000")
            .env("MULTINIC_LOG", std::env::var("MULTINIC_TEST_LOG").unwrap_or_else(|_| "info".into()))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start multinicd");
        Daemon { child, log, notes, done }
    }

    /// Start recording the method calls made to the lab's network manager.
    pub fn monitor_calls(&self) -> CallMonitor {
        match self.manager {
            Manager::Networkd => self.monitor_calls_to("org.freedesktop.network1"),
            _ => self.monitor_nm_calls(),
        }
    }

    /// Start recording the method calls made to NetworkManager.
    pub fn monitor_nm_calls(&self) -> CallMonitor {
        self.monitor_calls_to("org.freedesktop.NetworkManager")
    }

    fn monitor_calls_to(&self, destination: &str) -> CallMonitor {
        let mut child = self
            .command("dbus-monitor")
            .args(["--system", &format!("type='method_call',destination='{destination}'")])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-monitor");
        let lines = stdout_lines(&mut child);
        let monitor = CallMonitor { child, lines };
        // Probe until the monitor sees calls, so that nothing is missed after this.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let path = format!("/{}", destination.replace('.', "/"));
            let ping =
                self.run("busctl", &["--system", "call", destination, &path, "org.freedesktop.DBus.Peer", "Ping"]);
            assert!(ping.status.success(), "ping {destination}: {}", String::from_utf8_lossy(&ping.stderr));
            if let Ok(line) = monitor.lines.recv_timeout(Duration::from_millis(200))
                && line.contains("member=Ping")
            {
                break;
            }
            assert!(Instant::now() < deadline, "dbus-monitor never saw the probe call");
        }
        while monitor.lines.try_recv().is_ok() {}
        monitor
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for relay in self.relays.iter_mut().chain(self.host_relays.values_mut()) {
            let _ = relay.kill();
            let _ = relay.wait();
        }
        let out = self.lab_sh(&["down", &self.pid.to_string(), &self.dir.to_string_lossy()]);
        if !out.status.success() {
            eprintln!("lab down: {}", String::from_utf8_lossy(&out.stderr));
        }
        // Keep the logs (nm.log, dbus.log) of a failed test for diagnosis.
        if std::thread::panicking() {
            eprintln!("lab logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A `multinicd` running in a lab (as `nsenter`'s child). Stopped with SIGTERM on
/// drop; the lab's teardown would end it anyway.
pub struct Daemon {
    child: Child,
    log: PathBuf,
    notes: std::sync::Arc<std::sync::Mutex<Vec<(Instant, String)>>>,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Daemon {
    /// Host PID of multinicd itself (nsenter forks it into the lab's PID namespace).
    pub fn pid(&self) -> Option<u32> {
        let nsenter = self.child.id();
        let children = std::fs::read_to_string(format!("/proc/{nsenter}/task/{nsenter}/children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Every sd_notify line received so far (`READY=1`, `STATUS=…`).
    pub fn notifications(&self) -> Vec<String> {
        self.notes.lock().expect("not poisoned").iter().map(|(_, l)| l.clone()).collect()
    }

    /// When each `WATCHDOG=1` arrived.
    pub fn watchdog_pings(&self) -> Vec<Instant> {
        self.notes.lock().expect("not poisoned").iter().filter(|(_, l)| l == "WATCHDOG=1").map(|(t, _)| *t).collect()
    }

    /// Wait up to `timeout` for multinicd to exit; its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.code(),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                _ => return None,
            }
        }
    }

    /// Wait until an sd_notify line starting with `prefix` has arrived; returns it.
    pub fn wait_notification(&self, prefix: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.notifications().into_iter().find(|l| l.starts_with(prefix)) {
                return Some(line);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL multinicd (no cleanup of any kind) and wait for it to be gone.
    pub fn kill(mut self) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
        let _ = self.child.wait();
    }

    /// SIGSTOP multinicd: it runs no code until [`Daemon::resume`].
    pub fn pause(&self) {
        let pid = self.pid().expect("multinicd runs").to_string();
        assert!(Command::new("kill").args(["-STOP", &pid]).status().is_ok_and(|s| s.success()), "SIGSTOP multinicd");
    }

    /// SIGCONT multinicd, and nsenter, which stops itself when its child stops (job
    /// control) and would otherwise never reap it.
    pub fn resume(&self) {
        let pid = self.pid().expect("multinicd runs").to_string();
        let nsenter = self.child.id().to_string();
        let cont = Command::new("kill").args(["-CONT", &pid, &nsenter]).status();
        assert!(cont.is_ok_and(|s| s.success()), "SIGCONT multinicd");
    }

    /// SIGTERM multinicd and wait for it to exit; returns its exit code.
    pub fn stop(mut self) -> Option<i32> {
        self.terminate()
    }

    fn terminate(&mut self) -> Option<i32> {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.code(),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return None;
                }
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if matches!(self.child.try_wait(), Ok(None)) {
            self.terminate();
        }
        if std::thread::panicking() {
            eprintln!("--- multinicd log ({})\n{}", self.log.display(), self.log());
        }
    }
}

/// Listen on the Unix socket `sock` and relay each connection to `127.0.0.1:port` on
/// the host (socat); returns once the socket exists. A lab or VM reaches the host's
/// API server through it: a Unix socket is a file both network namespaces see.
pub fn relay_unix_to_tcp(sock: &Path, port: u16) -> Child {
    let _ = std::fs::remove_file(sock);
    let relay = Command::new("socat")
        .arg(format!("UNIX-LISTEN:{},fork,reuseaddr", sock.display()))
        .arg(format!("TCP:127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start socat on the host (tests/setup.sh installs it)");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sock.exists() {
        assert!(Instant::now() < deadline, "socat did not create {}", sock.display());
        std::thread::sleep(Duration::from_millis(10));
    }
    relay
}

/// The lines a child prints on its (piped) stdout, as they come.
pub fn stdout_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Method calls seen by `dbus-monitor`.
pub struct CallMonitor {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

/// NetworkManager and networkd methods that change state.
pub const NM_WRITE_METHODS: &[&str] = &[
    "Reload",
    "ReconfigureLink",
    "SetLinkDNS",
    "SetLinkDomains",
    "RenewLink",
    "ForceRenewLink",
    "AddConnection",
    "AddConnection2",
    "AddConnectionUnsaved",
    "AddAndActivateConnection",
    "AddAndActivateConnection2",
    "Update",
    "Update2",
    "UpdateUnsaved",
    "Save",
    "Delete",
    "ActivateConnection",
    "DeactivateConnection",
    "CheckpointCreate",
    "CheckpointDestroy",
    "CheckpointRollback",
    "Reapply",
    "Disconnect",
    "Set",
];

impl CallMonitor {
    /// Stop and return the members called since the start (e.g. `GetSettings`).
    pub fn stop(mut self) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(100));
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.lines
            .try_iter()
            .filter(|l| l.starts_with("method call"))
            .filter_map(|l| l.split("member=").nth(1).map(|m| m.trim().to_string()))
            .collect()
    }
}

/// A `MultiNicNodeConfig` for the lab node with the given interfaces (YAML list items).
pub fn spec(interfaces: &[String]) -> String {
    let mut s = String::from(
        "apiVersion: multinic.io/v1alpha1\nkind: MultiNicNodeConfig\nmetadata:\n  name: lab\n  namespace: multinic-system\nspec:\n  nodeName: lab\n  interfaces:\n",
    );
    if interfaces.is_empty() {
        s.push_str("    []\n");
    }
    for i in interfaces {
        s.push_str(&format!("    - {i}\n"));
    }
    s
}

/// One interface item for [`spec`].
pub fn nic(id: u32, mac: &str, address: &str, cidr: &str, extra: &str) -> String {
    format!("{{id: {id}, macAddress: \"{mac}\", address: \"{address}\", cidr: \"{cidr}\"{extra}}}")
}
