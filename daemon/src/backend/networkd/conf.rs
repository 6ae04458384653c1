// SPDX-License-Identifier: Apache-2.0
//! Whether systemd-networkd leaves routes and routing policy rules it did not
//! create alone. With its defaults (`ManageForeignRoutingPolicyRules=yes`,
//! `ManageForeignRoutes=yes`) every reconfiguration of a link — each multinic
//! apply, repair and cleanup — deletes a CNI's policy rules. The package ships
//! `networkd.conf.d/multinic.conf` turning both off, but networkd reads its
//! configuration only when it starts: until it is restarted, multinic refuses to
//! make it reconfigure anything. See `networkd.conf(5)` for the search paths.
//!
//! "Started after the files changed" is told by the files' ctime. A package
//! upgrade rewrites the drop-in with the same settings, though: once a networkd
//! start is known to have read them, [`VERIFIED`] records it, and later changes to
//! the files count only if they change the settings.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Directories networkd reads `networkd.conf` and `networkd.conf.d/` from, the
/// earlier ones masking drop-ins of the same name in the later ones.
pub const CONF_DIRS: &[&str] =
    &["/etc/systemd", "/run/systemd", "/usr/local/lib/systemd", "/usr/lib/systemd", "/lib/systemd"];

/// Records which networkd start is known to run with both settings off. Under
/// /run: a new boot starts a new networkd.
pub const VERIFIED: &str = "/run/multinic/networkd-settings-verified";

/// One start of systemd-networkd: when, and what tells it from any other start
/// (systemd's timestamp, or the process and its start in clock ticks) — the time
/// itself is derived from clocks and may differ by milliseconds between readings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Started {
    /// When it started.
    pub at: SystemTime,
    /// Which start it was.
    pub id: String,
}

/// Whether `path` records this start.
pub fn verified(path: &Path, started: &Started) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.trim() == started.id)
}

/// Record that this start of networkd runs with both settings off.
pub fn record_verified(path: &Path, started: &Started) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, format!("{}\n", started.id))
}

/// The two settings as networkd's configuration files set them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignSettings {
    /// `ManageForeignRoutingPolicyRules=`.
    pub rules: bool,
    /// `ManageForeignRoutes=`.
    pub routes: bool,
    /// When the newest of the files appeared or changed on this host (its ctime:
    /// a package's files keep the archive's mtime, but not its ctime).
    pub newest: Option<SystemTime>,
}

impl ForeignSettings {
    /// What is wrong, if anything, given when networkd started.
    pub fn problem(&self, started: Option<SystemTime>) -> Option<String> {
        let on: Vec<&str> = [("ManageForeignRoutingPolicyRules", self.rules), ("ManageForeignRoutes", self.routes)]
            .into_iter()
            .filter_map(|(k, v)| v.then_some(k))
            .collect();
        if !on.is_empty() {
            return Some(format!(
                "systemd-networkd is configured with {}=yes: every reconfiguration would delete routes and policy \
                 rules multinic did not create (a CNI's); set it to no in /etc/systemd/networkd.conf.d/ (the package \
                 ships /usr/lib/systemd/networkd.conf.d/multinic.conf) and restart systemd-networkd",
                on.join("=yes and ")
            ));
        }
        match (started, self.newest) {
            (Some(started), Some(newest)) if started < newest => Some(
                "systemd-networkd started before its configuration set ManageForeignRoutingPolicyRules=no and \
                 ManageForeignRoutes=no (it reads it only when it starts): restart systemd-networkd"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Read the settings from networkd's configuration under `root` (`/` on a host).
pub fn read(root: &Path) -> ForeignSettings {
    let mut files: Vec<PathBuf> = Vec::new();
    if let Some(main) = CONF_DIRS.iter().map(|d| join(root, d).join("networkd.conf")).find(|p| p.is_file()) {
        files.push(main);
    }
    let mut dropins: Vec<(String, PathBuf)> = Vec::new();
    for dir in CONF_DIRS {
        let Ok(entries) = std::fs::read_dir(join(root, dir).join("networkd.conf.d")) else { continue };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".conf") && !dropins.iter().any(|(n, _)| *n == name) {
                dropins.push((name, e.path()));
            }
        }
    }
    dropins.sort();
    files.extend(dropins.into_iter().map(|(_, p)| p));
    let mut out = ForeignSettings { rules: true, routes: true, newest: None };
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        apply(&text, &mut out);
        let changed = std::fs::metadata(f).ok().map(|m| {
            use std::os::unix::fs::MetadataExt;
            let (secs, nanos) = (u64::try_from(m.ctime()).unwrap_or(0), u32::try_from(m.ctime_nsec()).unwrap_or(0));
            UNIX_EPOCH + Duration::new(secs, nanos)
        });
        out.newest = out.newest.max(changed);
    }
    out
}

fn join(root: &Path, dir: &str) -> PathBuf {
    root.join(dir.trim_start_matches('/'))
}

/// One file's `[Network]` settings over what came before.
fn apply(text: &str, out: &mut ForeignSettings) {
    for (key, value) in super::files::section(text, "Network") {
        let Some(value) = boolean(value) else { continue };
        match key {
            "ManageForeignRoutingPolicyRules" => out.rules = value,
            "ManageForeignRoutes" => out.routes = value,
            _ => {}
        }
    }
}

/// systemd's booleans.
fn boolean(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "true" | "t" | "on" => Some(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = root.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        root
    }

    const SHIPPED: &str = "[Network]\nManageForeignRoutingPolicyRules=no\nManageForeignRoutes=no\n";

    #[test]
    fn defaults_manage_foreign_state() {
        let s = read(tree(&[]).path());
        assert!(s.rules && s.routes);
        assert!(s.problem(None).unwrap().contains("ManageForeignRoutingPolicyRules=yes and ManageForeignRoutes=yes"));
    }

    #[test]
    fn the_shipped_dropin_turns_both_off_and_etc_wins() {
        let root = tree(&[("usr/lib/systemd/networkd.conf.d/multinic.conf", SHIPPED)]);
        assert_eq!(read(root.path()).problem(None), None);
        // An admin's later drop-in turns rules back on.
        let root = tree(&[
            ("usr/lib/systemd/networkd.conf.d/multinic.conf", SHIPPED),
            ("etc/systemd/networkd.conf.d/zz-local.conf", "[Network]\nManageForeignRoutingPolicyRules=yes\n"),
        ]);
        let s = read(root.path());
        assert!(s.rules && !s.routes);
        assert!(s.problem(None).unwrap().contains("ManageForeignRoutingPolicyRules=yes: every"));
        // The same name in /etc masks the shipped one.
        let root = tree(&[
            ("usr/lib/systemd/networkd.conf.d/multinic.conf", SHIPPED),
            ("etc/systemd/networkd.conf.d/multinic.conf", "[Network]\n"),
        ]);
        assert!(read(root.path()).rules);
        // The main file comes first, drop-ins override it; other sections do not count.
        let root = tree(&[
            ("etc/systemd/networkd.conf", "[Network]\nManageForeignRoutes=yes\n[DHCPv4]\nManageForeignRoutes=yes\n"),
            ("usr/lib/systemd/networkd.conf.d/multinic.conf", SHIPPED),
        ]);
        assert_eq!(read(root.path()).problem(None), None);
    }

    #[test]
    fn a_verified_start_is_recorded_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("multinic/verified");
        let started = Started { at: UNIX_EPOCH + Duration::from_secs(1_733_350_000), id: "pid:35:537047".into() };
        assert!(!verified(&path, &started));
        record_verified(&path, &started).unwrap();
        assert!(verified(&path, &started));
        assert!(!verified(&path, &Started { id: "pid:36:537999".into(), ..started }), "another start");
    }

    #[test]
    fn a_networkd_older_than_its_configuration_must_restart() {
        let root = tree(&[("usr/lib/systemd/networkd.conf.d/multinic.conf", SHIPPED)]);
        let s = read(root.path());
        let written = s.newest.unwrap();
        assert!(s.problem(Some(written - Duration::from_secs(5))).unwrap().contains("restart systemd-networkd"));
        assert_eq!(s.problem(Some(written + Duration::from_secs(5))), None);
    }
}
