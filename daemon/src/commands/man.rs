// SPDX-License-Identifier: Apache-2.0
//! `multinicd man DIR` (hidden): the manual pages `multinicd(8)`, one
//! `multinicd-<command>(8)` per command, and `multinicd.yaml(5)` from the config
//! keys. `packaging/build.sh` ships them in both packages.

use std::path::Path;

use multinic_api::man::roff::{Roff, bold, italic, roman};

use crate::config::KEYS;

/// Write the pages of `cmd`, the `multinicd` command line, into `dir`.
pub fn write(cmd: clap::Command, dir: &Path) -> std::io::Result<()> {
    multinic_api::man::write(cmd, "multinicd", "8", &files(), dir)?;
    std::fs::write(dir.join("multinicd.yaml.5"), config_page())
}

/// FILES and SEE ALSO of multinicd(8).
fn files() -> String {
    let mut r = Roff::new();
    r.control("SH", ["FILES"]);
    r.control("TP", []).text([bold("/etc/multinic/multinicd.yaml")]);
    r.text([
        roman("The configuration, and its drop-ins in "),
        italic("/etc/multinic/multinicd.yaml.d/*.yaml"),
        roman("; see "),
        bold("multinicd.yaml"),
        roman("(5)."),
    ]);
    r.control("TP", []).text([bold("/run/multinic/")]);
    r.text([roman("The lock, and the journal of a change in progress, read again after a crash.")]);
    r.control("SH", ["SEE ALSO"]);
    r.text([
        bold("multinicd.yaml"),
        roman("(5), "),
        bold("kubectl-multinic"),
        roman("(1), "),
        bold("journalctl"),
        roman("(1), "),
        bold("NetworkManager"),
        roman("(8), "),
        bold("systemd-networkd"),
        roman("(8)"),
    ]);
    r.to_roff()
}

/// multinicd.yaml(5), from the config keys.
fn config_page() -> String {
    let mut r = Roff::new();
    r.control("TH", ["MULTINICD.YAML", "5", "", concat!("multinicd ", env!("CARGO_PKG_VERSION")), "File Formats"]);
    r.control("SH", ["NAME"]);
    r.text([roman("multinicd.yaml - configuration of the multinic host daemon")]);
    r.control("SH", ["SYNOPSIS"]);
    r.text([bold("/etc/multinic/multinicd.yaml"), roman(", "), bold("/etc/multinic/multinicd.yaml.d/*.yaml")]);
    r.control("SH", ["DESCRIPTION"]);
    r.text([roman(
        "YAML with camelCase keys, like the MultiNicNodeConfig resource. Every key is optional. The drop-ins are \
         read after the main file in file-name order, later files winning key by key; multinicd --config PATH \
         reads PATH and PATH.d/*.yaml instead. An unknown key or a bad value is an error naming the file and the \
         line. multinicd config prints the effective settings.",
    )]);
    r.control("SH", ["KEYS"]);
    for key in KEYS {
        r.control("TP", []).text([bold(key.name), roman(" (default: "), italic(key.default), roman(")")]);
        r.text([roman(key.what)]);
    }
    r.control("SH", ["SEE ALSO"]);
    r.text([bold("multinicd"), roman("(8)")]);
    r.to_roff()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_page_lists_every_key() {
        let page = config_page();
        assert!(page.starts_with(".TH MULTINICD.YAML 5"), "{page}");
        for key in KEYS {
            assert!(page.contains(&format!("\\fB{}\\fR", key.name)), "{} missing:\n{page}", key.name);
        }
    }
}
