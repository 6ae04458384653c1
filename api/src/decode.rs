// SPDX-License-Identifier: Apache-2.0
//! Decoding a `MultiNicNodeConfig` as the API server hands it over. The CRD may be
//! installed without its rules (an older chart, `kubectl apply` of a hand-made
//! CRD), so a CR can hold values the Rust types cannot (a metric beyond u32, a
//! string where a number belongs). Such a CR must not stop the daemon from
//! following it: an interface that does not decode becomes a stub of its readable
//! fields with an error at the bad value's path, and is then treated like any other
//! invalid interface (what multinic configured for it stays); a spec that does not
//! decode at all keeps everything and is reported.

use serde_json::{Value, json};

use crate::resource::{InterfaceSpec, MultiNicNodeConfig, MultiNicNodeConfigSpec};
use crate::validate::{FieldError, ValidSpec, validate_with};

/// Decode and validate a CR given as JSON. Never fails: what cannot be decoded is
/// in [`ValidSpec::errors`], with its path.
pub fn decode(mut value: Value) -> (MultiNicNodeConfig, ValidSpec) {
    // The status is the daemon's own report; one it cannot read (written by another
    // release) is simply not there, and must not hold the spec back.
    let status = value.as_object_mut().and_then(|o| o.remove("status")).and_then(|s| serde_json::from_value(s).ok());
    let mut errors = Vec::new();
    if let Some(list) = value.pointer_mut("/spec/interfaces").and_then(Value::as_array_mut) {
        for (i, item) in list.iter_mut().enumerate() {
            if let Err(e) = serde_path_to_error::deserialize::<_, InterfaceSpec>(&*item) {
                errors.push(FieldError {
                    path: format!("spec.interfaces[{i}].{}", e.path()),
                    message: format!("{}; fix the value (the CRD's rules would have refused it)", e.inner()),
                    interface: Some(i),
                });
                *item = stub(item);
            }
        }
    }
    match serde_path_to_error::deserialize::<_, MultiNicNodeConfig>(&value) {
        Ok(mut cr) => {
            cr.status = status;
            let valid = validate_with(&cr, errors);
            (cr, valid)
        }
        Err(e) => {
            let error = FieldError {
                path: e.path().to_string(),
                message: format!("{}; nothing is changed until the resource decodes", e.inner()),
                interface: None,
            };
            let mut cr = shell(&value);
            cr.status = status;
            let valid = ValidSpec {
                node_name: cr.spec.node_name.clone(),
                errors: vec![error],
                // Unreadable: any owned configuration may be one it asks for.
                held: vec![None],
                ..ValidSpec::default()
            };
            (cr, valid)
        }
    }
}

/// The readable fields of an interface that does not decode: enough to name it in
/// the status and to keep its configuration by its MAC.
fn stub(item: &Value) -> Value {
    let text = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default();
    json!({
        "id": item.get("id").and_then(Value::as_i64),
        "macAddress": text("macAddress"),
        "address": text("address"),
        "cidr": text("cidr"),
        "mtu": item.get("mtu").and_then(Value::as_u64).and_then(|m| u32::try_from(m).ok()),
        "name": item.get("name").and_then(Value::as_str),
    })
}

/// A CR whose spec does not decode: its metadata, its node name if readable, no
/// interfaces, and its status if that decodes.
fn shell(value: &Value) -> MultiNicNodeConfig {
    let metadata = value.get("metadata").cloned().and_then(|m| serde_json::from_value(m).ok()).unwrap_or_default();
    let node_name = value.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default().to_string();
    let mut cr =
        MultiNicNodeConfig::new("", MultiNicNodeConfigSpec { node_name, instance_id: None, interfaces: vec![] });
    cr.metadata = metadata;
    cr.status = value.get("status").cloned().and_then(|s| serde_json::from_value(s).ok());
    cr
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cr(interfaces: Value) -> Value {
        json!({
            "apiVersion": "multinic.io/v1alpha1", "kind": "MultiNicNodeConfig",
            "metadata": { "name": "n1", "namespace": "multinic-system", "generation": 3 },
            "spec": { "nodeName": "n1", "interfaces": interfaces },
        })
    }

    #[test]
    fn an_interface_that_does_not_decode_is_invalid_and_named_by_its_path() {
        let (cr, valid) = decode(cr(json!([
            { "id": 1, "macAddress": "fa:16:3e:00:00:01", "address": "10.1.0.5", "cidr": "10.1.0.0/24",
              "routes": [{ "to": "10.9.0.0/16", "metric": 5_000_000_000u64 }] },
            { "id": 2, "macAddress": "fa:16:3e:00:00:02", "address": "10.2.0.5", "cidr": "10.2.0.0/24" },
        ])));
        assert_eq!(cr.spec.interfaces.len(), 2);
        assert_eq!(valid.interfaces.len(), 1, "the other interface goes ahead");
        assert_eq!(valid.interfaces[0].index, 1);
        assert_eq!(valid.errors.len(), 1, "{:?}", valid.errors);
        assert_eq!(valid.errors[0].path, "spec.interfaces[0].routes[0].metric");
        assert!(valid.errors[0].message.contains("5000000000"), "{}", valid.errors[0].message);
        assert_eq!(valid.held, vec![Some("fa:16:3e:00:00:01".parse().unwrap())]);
        assert_eq!(cr.spec.interfaces[0].address, "10.1.0.5", "the stub keeps what is readable");
    }

    #[test]
    fn a_spec_that_does_not_decode_keeps_everything() {
        let mut value = cr(json!([]));
        value["spec"]["interfaces"] = json!("not a list");
        let (cr, valid) = decode(value);
        assert_eq!(cr.metadata.generation, Some(3));
        assert_eq!(valid.spec_errors().next().unwrap().path, "spec.interfaces");
        let owned = ["fa:16:3e:00:00:09".parse().unwrap()];
        assert_eq!(valid.keep(owned), owned);
    }

    #[test]
    fn a_status_that_does_not_decode_does_not_hold_the_spec_back() {
        let mut value =
            cr(json!([{ "macAddress": "fa:16:3e:00:00:01", "address": "10.1.0.5", "cidr": "10.1.0.0/24" }]));
        value["status"] = json!({ "state": "SomethingNew", "interfaceStatuses": 7 });
        let (cr, valid) = decode(value);
        assert!(valid.errors.is_empty(), "{:?}", valid.errors);
        assert_eq!(valid.interfaces.len(), 1);
        assert_eq!(cr.status, None);
    }

    #[test]
    fn a_good_cr_decodes_as_it_is() {
        let value = cr(json!([{ "macAddress": "fa:16:3e:00:00:01", "address": "10.1.0.5", "cidr": "10.1.0.0/24" }]));
        let (cr, valid) = decode(value.clone());
        assert_eq!(serde_json::to_value(&cr).unwrap()["spec"], value["spec"]);
        assert!(valid.errors.is_empty());
        assert_eq!(valid.interfaces.len(), 1);
    }
}
