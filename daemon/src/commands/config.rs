// SPDX-License-Identifier: Apache-2.0
//! `multinicd config`: the effective settings, so operators (and the package
//! scripts) see what the daemon will use without re-implementing the merge.

use super::Exit;
use crate::config::Settings;

/// Print every setting, or only `key`'s value. The config was already loaded and
/// checked by then: an invalid one never reaches here (exit 2 with the file named).
pub fn show_config(settings: &Settings, key: Option<&str>) -> Exit {
    let entries = settings.entries();
    match key {
        None => {
            let files: Vec<String> = settings.sources.iter().map(|p| p.display().to_string()).collect();
            println!("# from: {}", if files.is_empty() { "defaults only".to_string() } else { files.join(", ") });
            for (k, v) in entries {
                println!("{k}: {v}");
            }
            Exit::Ok
        }
        Some(key) => match entries.iter().find(|(k, _)| *k == key) {
            Some((_, v)) => {
                println!("{v}");
                Exit::Ok
            }
            None => {
                let keys: Vec<&str> = entries.iter().map(|(k, _)| *k).collect();
                eprintln!("multinicd: config --get: no key {key:?}; known keys: {}", keys.join(", "));
                Exit::Invalid
            }
        },
    }
}
