// SPDX-License-Identifier: Apache-2.0
//! A real node to test on: a QEMU VM (TCG) booted from the image of
//! `tests/vm/image.sh`, with systemd as PID 1, udev, the chosen network manager as
//! Debian ships it, a DMI system UUID, and NICs hot-attached over QMP as a cloud
//! does it (`netdev_add` + `device_add virtio-net-pci`).
//!
//! Isolation: QEMU runs inside a network namespace the harness creates, holding only
//! loopback and the taps of the secondary NICs, so nothing a guest sends can leave
//! the machine. The primary NIC is QEMU's user network with `restrict=on`: the guest
//! reaches exactly one address, [`API_ADDRESS`]:6443, relayed through a Unix socket
//! to the API server on the host's loopback (see [`VmNode::forward_api`]). Each
//! secondary NIC is a tap in that namespace: its segment, where a test can put an
//! address, a DHCP server or a gateway ([`VmNode::peer`]).
//!
//! The disk is the cached image with `snapshot=on` (writes live until QEMU exits,
//! across guest reboots). QEMU, the relay, the namespace and the state directory
//! are removed on drop, also when a test panics (its console log is kept then).

// A test harness: a failed step panics with its message, which is the point.
#![allow(clippy::unwrap_used)]

pub mod cluster;
mod console;
mod qmp;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub use console::Reply;

use crate::{Manager, repo_root};

/// The guest address at which the API server is reached (`guestfwd`); the testenv
/// kit must carry it as a SAN (`TESTENV_EXTRA_SANS=IP:10.0.2.100`, tests/run.sh).
pub const API_ADDRESS: &str = "10.0.2.100";
/// MAC of the guest's primary NIC (`ens3`, the user network).
pub const PRIMARY_MAC: &str = "52:54:00:00:00:01";
/// How long a boot may take under TCG on two busy cores.
const BOOT_TIMEOUT: Duration = Duration::from_secs(240);
/// How long one console command may take by default.
const EXEC_TIMEOUT: Duration = Duration::from_secs(120);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The image directory (vmlinuz, initrd.img, root.img), built once per test process.
fn image() -> &'static Path {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo_root().join("tests/vm/image.sh"))
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .expect("run tests/vm/image.sh");
        assert!(out.status.success(), "tests/vm/image.sh failed");
        PathBuf::from(String::from_utf8(out.stdout).expect("utf-8").trim())
    })
}

/// The directory with the product's packages (`packaging/build.sh`), or `MULTINIC_PACKAGES`.
pub fn packages_dir() -> PathBuf {
    std::env::var_os("MULTINIC_PACKAGES").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target/packages"))
}

/// The multinicd .deb in [`packages_dir`], if there is exactly one.
fn multinicd_deb() -> Option<PathBuf> {
    let mut debs: Vec<PathBuf> = std::fs::read_dir(packages_dir())
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("multinicd_") && n.ends_with(".deb"))
        })
        .collect();
    (debs.len() == 1).then(|| debs.pop().unwrap())
}

/// Why a VM cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    for (bin, package) in [
        ("/usr/bin/qemu-system-x86_64", "qemu-system-x86"),
        ("/usr/sbin/debootstrap", "debootstrap"),
        ("/usr/sbin/mkfs.ext4", "e2fsprogs"),
        ("/usr/bin/socat", "socat"),
        ("/usr/bin/setpriv", "util-linux"),
        ("/usr/sbin/ip", "iproute2"),
    ] {
        if !Path::new(bin).exists() {
            return Some(format!("{bin} is missing: install {package} (tests/setup.sh does)"));
        }
    }
    if multinicd_deb().is_none() {
        return Some(format!(
            "no single multinicd_*.deb in {}: build it with `bash packaging/build.sh` (tests/run.sh does)",
            packages_dir().display()
        ));
    }
    None
}

/// The QEMU process, spawned by and waited for on a thread of its own: the
/// parent-death signal fires when the *thread* that forked QEMU ends, so that thread
/// must live exactly as long as QEMU (a tokio blocking thread would not).
struct Qemu {
    pid: u32,
    status: std::sync::mpsc::Receiver<std::process::ExitStatus>,
    exited: Mutex<Option<std::process::ExitStatus>>,
}

impl Qemu {
    fn spawn(mut command: Command) -> Qemu {
        let (pid_tx, pid_rx) = std::sync::mpsc::channel();
        let (status_tx, status) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut child = command.spawn().expect("start qemu-system-x86_64");
            pid_tx.send(child.id()).unwrap();
            if let Ok(s) = child.wait() {
                let _ = status_tx.send(s);
            }
        });
        Qemu { pid: pid_rx.recv().expect("QEMU started"), status, exited: Mutex::new(None) }
    }

    /// Its exit status, once it has exited.
    fn exited(&self) -> Option<std::process::ExitStatus> {
        let mut exited = self.exited.lock().unwrap();
        if exited.is_none() {
            *exited = self.status.try_recv().ok();
        }
        *exited
    }

    fn kill(&self) {
        if self.exited().is_none() {
            let _ = Command::new("kill").args(["-KILL", &self.pid.to_string()]).status();
            let _ = self.status.recv_timeout(Duration::from_secs(10));
        }
    }
}

/// A hot-attached NIC: its QEMU ids and the tap that is its segment.
struct Nic {
    device: String,
    netdev: String,
    tap: String,
}

/// A running VM node.
pub struct VmNode {
    manager: Manager,
    uuid: String,
    hostname: String,
    dir: PathBuf,
    netns: String,
    qemu: Qemu,
    qmp: Mutex<qmp::Qmp>,
    console: console::Console,
    /// One console command at a time (they share /run/mn.*).
    exec_lock: Mutex<()>,
    nics: Mutex<HashMap<String, Nic>>,
    relay: Option<Child>,
    /// DHCP servers on NIC segments (`dnsmasq` in the VM's namespace).
    dhcp: Mutex<Vec<Child>>,
}

impl VmNode {
    /// Boot a node running `manager` (NetworkManager and networkd as Debian ships
    /// them; `Both` runs both, `None` neither) with DMI system UUID `uuid`, named
    /// `hostname`. `None` (with a message) when this machine cannot run a VM and `CI`
    /// is not set; in CI a missing prerequisite or a failed boot panics.
    pub fn boot(manager: Manager, uuid: &str, hostname: &str) -> Option<VmNode> {
        if let Some(why) = crate::missing_root().or_else(missing_prerequisite) {
            if std::env::var_os("CI").is_some() {
                panic!("VM prerequisite missing in CI: {why}");
            }
            eprintln!("SKIPPED (not in CI): {why}");
            return None;
        }
        let image = image();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("multinic-vm-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("VM state dir");
        let netns = format!("multinic-vm-{}-{n}", std::process::id());
        run("ip", &["netns", "add", &netns]);
        run("ip", &["-n", &netns, "link", "set", "lo", "up"]);
        let share = share_disk(&dir);

        // Which manager runs is chosen at boot, on the kernel command line.
        let units = match manager {
            Manager::NetworkManager => "",
            Manager::Networkd => "systemd.mask=NetworkManager.service systemd.wants=systemd-networkd.service",
            Manager::Both => "systemd.wants=systemd-networkd.service",
            Manager::None => "systemd.mask=NetworkManager.service",
        };
        let append = format!(
            "root=/dev/vda rw console=ttyS0 quiet loglevel=3 systemd.show_status=false systemd.hostname={hostname} {units}"
        );
        let api_sock = dir.join("api.sock");
        let qemu_log = std::fs::File::create(dir.join("qemu.log")).expect("qemu log");
        // QEMU dies with the test (also a SIGKILLed one), unless it is kept for debugging.
        let pdeathsig: &[&str] = if keep() { &[] } else { &["setpriv", "--pdeathsig", "KILL", "--"] };
        let mut qemu = Command::new("nsenter");
        qemu.arg(format!("--net=/run/netns/{netns}"))
            .arg(format!("--net=/run/netns/{netns}"))
            .arg("--")
            .args(pdeathsig)
            .arg("qemu-system-x86_64")
            .args(["-nodefaults", "-no-user-config", "-display", "none", "-vga", "none", "-machine", "pc"])
            .args(["-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "2", "-m", "1024"])
            .arg("-kernel")
            .arg(image.join("vmlinuz"))
            .arg("-initrd")
            .arg(image.join("initrd.img"))
            .args(["-append", &append, "-uuid", uuid])
            .arg("-drive")
            .arg(format!("file={},if=none,id=root,format=raw,snapshot=on", image.join("root.img").display()))
            .args(["-device", "virtio-blk-pci,drive=root,addr=0x4"])
            .arg("-drive")
            .arg(format!("file={},if=none,id=share,format=raw,readonly=on", share.display()))
            .args(["-device", "virtio-blk-pci,drive=share,addr=0x5"])
            .arg("-chardev")
            .arg(format!(
                "socket,id=con,path={},server=on,wait=off,logfile={}",
                dir.join("console.sock").display(),
                dir.join("console.log").display()
            ))
            .args(["-serial", "chardev:con"])
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", dir.join("qmp.sock").display()))
            .arg("-netdev")
            .arg(format!(
                "user,id=n0,restrict=on,guestfwd=tcp:{API_ADDRESS}:6443-cmd:socat - UNIX-CONNECT:{}",
                api_sock.display()
            ))
            .args(["-device", &format!("virtio-net-pci,netdev=n0,mac={PRIMARY_MAC},addr=0x3")])
            .stdin(Stdio::null())
            .stdout(qemu_log.try_clone().expect("log"))
            .stderr(qemu_log);
        let qemu = Qemu::spawn(qemu);
        let qmp = qmp::Qmp::connect(&dir.join("qmp.sock"), Duration::from_secs(30));
        let console = console::Console::connect(&dir.join("console.sock"), Duration::from_secs(30));
        let vm = VmNode {
            manager,
            uuid: uuid.to_string(),
            hostname: hostname.to_string(),
            dir,
            netns,
            qemu,
            qmp: Mutex::new(qmp),
            console,
            exec_lock: Mutex::new(()),
            nics: Mutex::new(HashMap::new()),
            relay: None,
            dhcp: Mutex::new(Vec::new()),
        };
        let started = Instant::now();
        vm.wait_for_shell(None);
        eprintln!("VM {hostname} ({manager:?}) booted to a shell in {:.1} s", started.elapsed().as_secs_f64());
        Some(vm)
    }

    /// The network manager(s) it runs.
    pub fn manager(&self) -> Manager {
        self.manager
    }

    /// Its DMI system UUID.
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// Its hostname (the default node name of multinicd).
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// Probe the console until a shell answers (on a boot other than `old_boot`);
    /// returns the boot id.
    fn wait_for_shell(&self, old_boot: Option<&str>) -> String {
        let deadline = Instant::now() + BOOT_TIMEOUT;
        loop {
            let id = self.console.start("cat /proc/sys/kernel/random/boot_id");
            if let Some(r) = self.console.wait(id, Duration::from_secs(5)) {
                let boot = r.stdout.trim().to_string();
                if r.status == 0 && old_boot != Some(boot.as_str()) {
                    return boot;
                }
            }
            if Instant::now() >= deadline {
                panic!("no shell on the VM's console within {BOOT_TIMEOUT:?}:\n{}", self.console_tail());
            }
            if let Some(status) = self.qemu.exited() {
                panic!(
                    "QEMU exited ({status}):\n{}",
                    std::fs::read_to_string(self.dir.join("qemu.log")).unwrap_or_default()
                );
            }
        }
    }

    /// The last lines the console printed.
    pub fn console_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("console.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Run a bash script in the guest as root; returns (exit status, stdout). Its
    /// stderr goes to the test's log.
    pub fn exec(&self, script: &str) -> (i32, String) {
        let r = self.exec_timeout(script, EXEC_TIMEOUT);
        (r.status, r.stdout)
    }

    /// [`VmNode::exec`] with a timeout and the whole reply.
    pub fn exec_timeout(&self, script: &str, timeout: Duration) -> Reply {
        let _one = self.exec_lock.lock().unwrap();
        let id = self.console.start(script);
        let r = self.console.wait(id, timeout).unwrap_or_else(|| {
            panic!("guest command did not finish within {timeout:?}: {script}\n{}", self.console_tail())
        });
        if !r.stderr.is_empty() {
            eprintln!("--- guest stderr of `{script}`:\n{}", r.stderr);
        }
        r
    }

    /// Run a script that must succeed; returns its stdout.
    pub fn must(&self, script: &str) -> String {
        let r = self.exec_timeout(script, EXEC_TIMEOUT);
        assert_eq!(r.status, 0, "guest: `{script}` exited {}:\n{}{}", r.status, r.stdout, r.stderr);
        r.stdout
    }

    /// Write a file in the guest (through the console, base64 in chunks).
    pub fn write_file(&self, path: &str, content: &str, mode: &str) {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(content);
        self.must(&format!(
            "mkdir -p \"$(dirname {path})\" && echo {b64} | base64 -d >{path}.tmp && chmod {mode} {path}.tmp && mv {path}.tmp {path}"
        ));
    }

    /// `ip -j ARGS` in the guest.
    pub fn ip(&self, args: &str) -> Value {
        serde_json::from_str(&self.must(&format!("ip -j {args}"))).expect("ip -j prints JSON")
    }

    /// A link as `ip -j addr show` reports it, by name.
    pub fn link(&self, name: &str) -> Option<Value> {
        self.ip("addr show").as_array()?.iter().find(|l| l["ifname"] == name).cloned()
    }

    /// A link by MAC.
    pub fn link_by_mac(&self, mac: &str) -> Option<Value> {
        self.ip("addr show").as_array()?.iter().find(|l| l["address"] == mac).cloned()
    }

    /// The journal of a unit since boot, as plain messages.
    pub fn journal(&self, unit: &str) -> String {
        self.exec(&format!("journalctl -b -u {unit} --no-pager -o cat")).1
    }

    /// Poll `f` until it gives `Some`, up to `timeout`.
    pub fn wait_for<T>(&self, what: &str, timeout: Duration, mut f: impl FnMut(&Self) -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f(self) {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Reboot the guest cleanly (`systemctl reboot`) and wait for the new boot's shell.
    /// The disk's writes (the snapshot overlay) and the hot-attached NICs survive it.
    pub fn reboot(&self) {
        let old = self.must("cat /proc/sys/kernel/random/boot_id").trim().to_string();
        self.console.send_line("systemctl reboot");
        let started = Instant::now();
        self.wait_for_shell(Some(&old));
        eprintln!("VM {} rebooted in {:.1} s", self.hostname, started.elapsed().as_secs_f64());
    }

    /// Hot-attach a virtio NIC with this MAC, as Nova does (QMP `netdev_add` +
    /// `device_add`). Its other end is a tap in the VM's namespace (see [`VmNode::segment`]).
    pub fn attach_nic(&self, mac: &str) {
        let key = mac.replace(':', "");
        let mut nics = self.nics.lock().unwrap();
        let nic = nics.entry(mac.to_string()).or_insert_with(|| {
            let tap = format!("t{}", &key[6..]);
            run("ip", &["-n", &self.netns, "tuntap", "add", "dev", &tap, "mode", "tap"]);
            run("ip", &["-n", &self.netns, "link", "set", &tap, "up"]);
            Nic { device: format!("nic{key}"), netdev: format!("net{key}"), tap }
        });
        let mut qmp = self.qmp.lock().unwrap();
        qmp.execute(
            "netdev_add",
            json!({ "type": "tap", "id": nic.netdev, "ifname": nic.tap, "script": "no", "downscript": "no" }),
        )
        .unwrap();
        qmp.execute(
            "device_add",
            json!({ "driver": "virtio-net-pci", "id": nic.device, "netdev": nic.netdev, "mac": mac }),
        )
        .unwrap();
    }

    /// Hot-detach the NIC with this MAC (`device_del`, then its netdev once the guest
    /// has released the device).
    pub fn detach_nic(&self, mac: &str) {
        let nics = self.nics.lock().unwrap();
        let nic = nics.get(mac).unwrap_or_else(|| panic!("{mac} was never attached"));
        let mut qmp = self.qmp.lock().unwrap();
        qmp.execute("device_del", json!({ "id": nic.device })).unwrap();
        let device = nic.device.clone();
        qmp.wait_event("DEVICE_DELETED", |d| d["device"] == device.as_str(), Duration::from_secs(60)).unwrap();
        qmp.execute("netdev_del", json!({ "id": nic.netdev })).unwrap();
    }

    /// The tap that is the other end of the NIC with this MAC (in [`VmNode::peer`]'s namespace).
    pub fn segment(&self, mac: &str) -> String {
        self.nics.lock().unwrap().get(mac).map(|n| n.tap.clone()).unwrap_or_else(|| panic!("{mac} was never attached"))
    }

    /// Put the segments of the NICs with these MACs on one bridge (in the VM's
    /// namespace), as one Neutron network: frames, VLAN-tagged ones too, go from one
    /// NIC to the other. The host kernel needs no 8021q for that.
    pub fn join_segments(&self, macs: &[&str]) {
        let bridge = "seg";
        if self.peer("ip", &["link", "show", bridge]).status.code() != Some(0) {
            run("ip", &["-n", &self.netns, "link", "add", bridge, "type", "bridge"]);
            run("ip", &["-n", &self.netns, "link", "set", bridge, "up"]);
        }
        for mac in macs {
            run("ip", &["-n", &self.netns, "link", "set", &self.segment(mac), "master", bridge]);
        }
    }

    /// A command on the far side of the secondary NICs (the VM's namespace).
    pub fn peer(&self, program: &str, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.netns, program])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run a command in the VM's namespace")
    }

    /// A DHCP server on the segment of the NIC with this MAC, as an OpenStack subnet
    /// has: the tap gets `PREFIX.1/24`, and dnsmasq leases `PREFIX.100-199` offering
    /// `PREFIX.1` as router. It runs in the VM's namespace and stops with the VM.
    pub fn dhcp(&self, mac: &str, prefix: &str) {
        let tap = self.segment(mac);
        run("ip", &["-n", &self.netns, "addr", "add", &format!("{prefix}.1/24"), "dev", &tap]);
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.netns,
                "dnsmasq",
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--port=0",
            ])
            .args(["--no-resolv", "--no-hosts", "--bind-interfaces", "--except-interface=lo", "--leasefile-ro"])
            .arg(format!("--interface={tap}"))
            .arg(format!("--pid-file={}", self.dir.join(format!("dnsmasq-{tap}.pid")).display()))
            .arg(format!("--dhcp-range={prefix}.100,{prefix}.199,255.255.255.0,1h"))
            .arg(format!("--dhcp-option=option:router,{prefix}.1"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join(format!("dnsmasq-{tap}.log"))).expect("dnsmasq log"))
            .spawn()
            .expect("start dnsmasq (tests/setup.sh installs dnsmasq-base)");
        self.dhcp.lock().unwrap().push(child);
    }

    /// Make the guest's [`API_ADDRESS`]:6443 reach `127.0.0.1:port` on the host.
    pub fn forward_api(&mut self, port: u16) {
        let relay = crate::relay_unix_to_tcp(&self.dir.join("api.sock"), port);
        if let Some(mut old) = self.relay.replace(relay) {
            let _ = old.kill();
            let _ = old.wait();
        }
    }

    /// Install the product's .deb from the share disk as a user does
    /// (`apt-get install ./multinicd_….deb`); returns apt's output.
    pub fn install_multinicd(&self) -> String {
        let deb = multinicd_deb().unwrap();
        let name = deb.file_name().unwrap().to_string_lossy();
        self.must(&format!(
            "mkdir -p /mnt/share && (mountpoint -q /mnt/share || mount -o ro /dev/vdb /mnt/share) && \
             DEBIAN_FRONTEND=noninteractive apt-get install -y /mnt/share/{name} 2>&1"
        ))
    }
}

/// The read-only disk handed to the guest (`/dev/vdb`): the product's packages.
fn share_disk(dir: &Path) -> PathBuf {
    let share = dir.join("share");
    std::fs::create_dir_all(&share).expect("share dir");
    let deb = multinicd_deb().unwrap();
    std::fs::copy(&deb, share.join(deb.file_name().unwrap())).expect("copy the .deb");
    let img = dir.join("share.img");
    let out = Command::new("mkfs.ext4")
        .args(["-q", "-L", "share", "-d"])
        .arg(&share)
        .arg(&img)
        .arg("64M")
        .output()
        .expect("run mkfs.ext4");
    assert!(out.status.success(), "mkfs.ext4 share disk: {}", String::from_utf8_lossy(&out.stderr));
    img
}

/// Connect to one of QEMU's Unix sockets, retrying while QEMU starts.
fn connect(path: &Path, timeout: Duration, what: &str) -> std::os::unix::net::UnixStream {
    let deadline = Instant::now() + timeout;
    loop {
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(s) => return s,
            Err(e) => {
                assert!(Instant::now() < deadline, "{what} {} never answered: {e}", path.display());
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).stdin(Stdio::null()).output().expect(program);
    assert!(out.status.success(), "{program} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// `MULTINIC_VM_KEEP` set (not empty, not 0): leave the VM running when its test ends,
/// for a shell in it.
fn keep() -> bool {
    std::env::var_os("MULTINIC_VM_KEEP").is_some_and(|v| !v.is_empty() && v != "0")
}

impl Drop for VmNode {
    fn drop(&mut self) {
        if keep() {
            let qemu = self.qemu.pid;
            let relay = self.relay.take().map(|r| r.id().to_string()).unwrap_or_default();
            eprintln!(
                "MULTINIC_VM_KEEP: VM {} left running. Root shell: socat -,raw,echo=0 UNIX-CONNECT:{}/console.sock\n\
                 Stop it: kill {qemu} {relay}; ip netns del {}; rm -rf {}",
                self.hostname,
                self.dir.display(),
                self.netns,
                self.dir.display()
            );
            return;
        }
        self.qemu.kill();
        for mut server in self.dhcp.lock().map(|mut d| std::mem::take(&mut *d)).unwrap_or_default() {
            let _ = server.kill();
            let _ = server.wait();
        }
        if let Some(mut relay) = self.relay.take() {
            let _ = relay.kill();
            let _ = relay.wait();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.netns]).status();
        if std::thread::panicking() {
            eprintln!(
                "VM {} console (last lines; all in {}):\n{}",
                self.hostname,
                self.dir.display(),
                self.console_tail()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
