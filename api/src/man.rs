// SPDX-License-Identifier: Apache-2.0
//! Manual pages from a clap command line (feature `man`): the command's own page
//! and one page per visible subcommand, `<page>-<subcommand>` as git names them.
//! The binaries write them with a hidden `man DIR` command when the packages are
//! built (`packaging/build.sh`).

use std::path::Path;

use clap_mangen::Man;
pub use clap_mangen::roff;

/// Write `page.section` for `cmd` (followed by the roff in `extra`: FILES, SEE
/// ALSO) and `page-<sub>.section` for each visible subcommand into `dir`.
pub fn write(cmd: clap::Command, page: &str, section: &str, extra: &str, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let cmd = cmd.name(page.to_string()).disable_help_subcommand(true);
    let bin = cmd.get_bin_name().unwrap_or(page).to_string();
    let mut out = Vec::new();
    Man::new(cmd.clone()).section(section).render(&mut out)?;
    out.extend_from_slice(extra.as_bytes());
    std::fs::write(dir.join(format!("{page}.{section}")), out)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("{page}-{}", sub.get_name());
        let sub = sub.clone().name(name.clone()).bin_name(format!("{bin} {}", sub.get_name()));
        let mut out = Vec::new();
        Man::new(sub).section(section).render(&mut out)?;
        std::fs::write(dir.join(format!("{name}.{section}")), out)?;
    }
    Ok(())
}
