// SPDX-License-Identifier: Apache-2.0
//! Writes the CRD of `MultiNicNodeConfig` as YAML, generated from the Rust types.
//! Usage: `crdgen [PATH]` (stdout when no path is given).

use std::io::Write;

use kube::CustomResourceExt;
use multinic_api::MultiNicNodeConfig;

fn main() -> std::process::ExitCode {
    let yaml = multinic_api::crd_yaml();
    let result = match std::env::args_os().nth(1) {
        Some(path) => std::fs::write(&path, yaml),
        None => std::io::stdout().write_all(yaml.as_bytes()),
    };
    let _ = MultiNicNodeConfig::crd_name();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crdgen: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
