// SPDX-License-Identifier: Apache-2.0
//! The resource stays compatible with the predecessor, and the committed CRD is the
//! one the types generate.

#![allow(clippy::unwrap_used)]

use multinic_api::{MultiNicNodeConfig, crd_yaml, rules, validate};

const PREDECESSOR: &str = include_str!("fixtures/predecessor-example.yaml");

#[test]
fn predecessor_example_parses_unchanged_and_is_valid() {
    let cr: MultiNicNodeConfig = serde_yaml::from_str(PREDECESSOR).expect("predecessor CR parses");
    assert_eq!(cr.spec.node_name, "viola2-biz-worker01");
    assert_eq!(cr.spec.instance_id.as_deref(), Some("b4975c5f-50bb-479f-9e7b-a430815ae852"));
    assert_eq!(cr.spec.interfaces.len(), 2);
    assert_eq!(cr.spec.interfaces[1].mac_address, "fa:16:3e:0a:17:3b");
    assert_eq!(cr.spec.interfaces[1].mtu, Some(1450));
    let valid = validate(&cr);
    assert!(valid.errors.is_empty(), "{:?}", valid.errors);
    assert_eq!(valid.interfaces[0].address.to_string(), "11.11.11.37/24");

    // Round trip: what we write back is what we read.
    let again: MultiNicNodeConfig = serde_yaml::from_str(&serde_yaml::to_string(&cr).unwrap()).unwrap();
    assert_eq!(again.spec, cr.spec);
}

#[test]
fn committed_crd_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../charts/multinic/templates/crd.yaml");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == crd_yaml(),
        "{path} is stale; regenerate it with `cargo run -p multinic-api --bin crdgen -- charts/multinic/templates/crd.yaml`"
    );
}

#[test]
fn crd_schema_carries_the_shared_rules() {
    let crd: serde_json::Value = serde_yaml::from_str(&crd_yaml()).unwrap();
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let ifaces = &spec["properties"]["interfaces"];
    let item = &ifaces["items"]["properties"];
    assert_eq!(ifaces["maxItems"], rules::MAX_INTERFACES as u64);
    assert_eq!(item["macAddress"]["pattern"], rules::MAC_PATTERN);
    assert_eq!(item["name"]["pattern"], rules::NAME_PATTERN);
    assert_eq!(item["mtu"]["minimum"], rules::MTU_MIN as f64);
    assert_eq!(item["mtu"]["maximum"], rules::MTU_MAX as f64);
    assert_eq!(item["routes"]["maxItems"], rules::MAX_ROUTES as u64);
    assert_eq!(item["dns"]["maxItems"], rules::MAX_DNS as u64);
    let rules_of = |v: &serde_json::Value| -> Vec<String> {
        v["x-kubernetes-validations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["rule"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(rules_of(ifaces).contains(&rules::CEL_UNIQUE_MACS.to_string()));
    assert!(rules_of(ifaces).contains(&rules::CEL_UNIQUE_NAMES.to_string()));
    assert!(rules_of(&ifaces["items"]).contains(&rules::CEL_ADDRESS_IN_CIDR.to_string()));
    let root = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    assert!(rules_of(root).contains(&rules::CEL_NAME_MATCHES_NODE.to_string()));
    // Status is a subresource, so that only the status writer touches it.
    assert!(crd["spec"]["versions"][0]["subresources"]["status"].is_object());
}
