// SPDX-License-Identifier: Apache-2.0
//! Where the desired configuration comes from: a local file (this module) or, in
//! `multinicd run`, the node's custom resource ([`cluster`]).

pub mod cluster;
pub mod credentials;
pub mod node;

use std::path::Path;

use multinic_api::{MultiNicNodeConfig, Reason};

/// Read a `MultiNicNodeConfig` from a YAML (or JSON) file. The error names the file
/// and, for bad YAML, the line and column.
pub fn read_file(path: &Path) -> Result<MultiNicNodeConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let cr: MultiNicNodeConfig = serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if cr.metadata.name.is_none() {
        return Err(format!("{}: metadata.name: must be set to the node's name", path.display()));
    }
    Ok(cr)
}

/// Whether the host may apply a spec with this `instanceId`: equal to the host's
/// system UUID, case-insensitively. `Err((reason, message))` otherwise.
pub fn check_instance_id(instance_id: Option<&str>, uuid_path: &Path) -> Result<(), (Reason, String)> {
    let Some(want) = instance_id else {
        return Ok(());
    };
    let have = std::fs::read_to_string(uuid_path).map_err(|e| {
        (
            Reason::SystemUuidUnreadable,
            format!(
                "spec.instanceId is {want} but the host's system UUID cannot be read from {}: {e}",
                uuid_path.display()
            ),
        )
    })?;
    let have = have.trim();
    if have.eq_ignore_ascii_case(want.trim()) {
        Ok(())
    } else {
        Err((
            Reason::InstanceIdMismatch,
            format!("spec.instanceId is {want} but this host's system UUID is {have}; nothing applied"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_id_compares_case_insensitively() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("product_uuid");
        std::fs::write(&p, "B4975C5F-50BB-479F-9E7B-A430815AE852\n").unwrap();
        assert!(check_instance_id(Some("b4975c5f-50bb-479f-9e7b-a430815ae852"), &p).is_ok());
        assert!(check_instance_id(None, &p).is_ok());
        let (reason, message) = check_instance_id(Some("00000000-0000-0000-0000-000000000000"), &p).unwrap_err();
        assert_eq!(reason, Reason::InstanceIdMismatch);
        assert!(message.contains("B4975C5F"));
        let (reason, _) = check_instance_id(Some("x"), Path::new("/nonexistent/uuid")).unwrap_err();
        assert_eq!(reason, Reason::SystemUuidUnreadable);
    }
}
