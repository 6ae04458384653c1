// SPDX-License-Identifier: Apache-2.0
//! What NetworkManager's configuration says about its auto-default profiles (the
//! DHCP profile it makes for every new Ethernet NIC), for `multinicd doctor`.

use std::path::Path;

/// Where NetworkManager reads drop-ins; a name in a later one masks the same name
/// in an earlier one, and all are read in file-name order after the main file.
const CONF_DIRS: [&str; 3] =
    ["usr/lib/NetworkManager/conf.d", "run/NetworkManager/conf.d", "etc/NetworkManager/conf.d"];
const MAIN: &str = "etc/NetworkManager/NetworkManager.conf";

/// `[main] no-auto-default` as NetworkManager under `root` would read it (the
/// last file that sets it wins); `None` when no file sets it.
pub fn no_auto_default(root: &Path) -> Option<String> {
    let mut dropins: std::collections::BTreeMap<std::ffi::OsString, std::path::PathBuf> = Default::default();
    for dir in CONF_DIRS {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "conf") {
                dropins.insert(e.file_name(), e.path());
            }
        }
    }
    std::iter::once(root.join(MAIN))
        .chain(dropins.into_values())
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .fold(None, |found, text| value(&text).or(found))
}

/// `no-auto-default` in the `[main]` section of one file.
fn value(text: &str) -> Option<String> {
    let mut section = "";
    let mut found = None;
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name;
        } else if section == "main"
            && let Some((key, v)) = line.split_once('=')
            && key.trim() == "no-auto-default"
        {
            found = Some(v.trim().to_string());
        }
    }
    found
}

/// What the setting means for multinic, in a line.
pub fn auto_default_note(no_auto_default: Option<&str>) -> String {
    match no_auto_default {
        Some("*") => "auto-default profiles off (no-auto-default=*)".into(),
        other => format!(
            "auto-default profiles on{}: NetworkManager gives a new NIC a DHCP profile; multinic takes over those \
             of the spec's NICs",
            other.map(|v| format!(" (no-auto-default={v})")).unwrap_or_default()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_file_that_sets_it_wins() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        assert_eq!(no_auto_default(r), None);
        std::fs::create_dir_all(r.join("etc/NetworkManager/conf.d")).unwrap();
        std::fs::create_dir_all(r.join("usr/lib/NetworkManager/conf.d")).unwrap();
        std::fs::write(r.join(MAIN), "[main]\nplugins=keyfile\nno-auto-default=eth0\n").unwrap();
        assert_eq!(no_auto_default(r).as_deref(), Some("eth0"));
        std::fs::write(r.join("usr/lib/NetworkManager/conf.d/10-off.conf"), "[main]\nno-auto-default=*\n").unwrap();
        assert_eq!(no_auto_default(r).as_deref(), Some("*"));
        // The same name in /etc masks /usr/lib's; another section does not count.
        std::fs::write(r.join("etc/NetworkManager/conf.d/10-off.conf"), "[device]\nno-auto-default=*\n").unwrap();
        assert_eq!(no_auto_default(r).as_deref(), Some("eth0"));
        assert!(auto_default_note(Some("*")).contains("off"));
        assert!(auto_default_note(None).starts_with("auto-default profiles on:"));
    }
}
