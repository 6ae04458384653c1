// SPDX-License-Identifier: Apache-2.0
//! The status JSON and the Events a pass writes, for one node that has every kind of
//! interface at once, against a committed snapshot: the CRs that exist in clusters
//! must read the same whatever the code behind them becomes. Change the snapshot
//! (`cargo insta review`) only for a deliberate change of the resource.

use multinic_api::{InterfaceState, MultiNicNodeConfig, MultiNicNodeConfigStatus, Reason, validate};

use crate::backend::{Action, BackendError, Outcome, Retry};
use crate::pass::{self, Prepared, Record};
use crate::plan::tests::{host, link, mac, on};
use crate::plan::{self, Context, Hold, HoldKind, Policy, Step};
use crate::report::events::transitions;

const CR: &str = r#"
apiVersion: multinic.io/v1alpha1
kind: MultiNicNodeConfig
metadata: {name: worker-1, namespace: multinic-system, generation: 3}
spec:
  nodeName: worker-1
  interfaces:
  - {id: 1, macAddress: "fa:16:3e:00:00:01", address: 198.51.100.1, cidr: 198.51.100.0/24, mtu: 1450}
  - {id: 2, macAddress: "fa:16:3e:00:00:02", address: 198.51.101.1, cidr: 198.51.101.0/24}
  - {id: 3, macAddress: "fa:16:3e:00:00:ee", address: 198.51.102.1, cidr: 198.51.102.0/24}
  - {id: 4, macAddress: "fa:16:3e:00:00:09", address: 198.51.103.1, cidr: 198.51.103.0/24}
  - {id: 5, macAddress: "fa:16:3e:00:00:03", address: 198.51.104.1, cidr: 198.51.104.0/24}
  - {id: 6, macAddress: "fa:16:3e:00:00:04", address: 198.51.105.1, cidr: 198.51.105.0/24}
  - {id: 7, macAddress: "fa:16:3e:00:00:05", address: 198.51.106.1, cidr: 198.51.107.0/24}
"#;

/// Timestamps move with the clock: the snapshot shows where they are, not when.
fn timeless(status: &MultiNicNodeConfigStatus) -> serde_json::Value {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m.iter_mut() {
                    if k == "lastUpdated" || k == "lastTransitionTime" {
                        *v = "<time>".into();
                    } else {
                        walk(v);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(status).expect("a status serializes");
    walk(&mut v);
    v
}

#[test]
fn status_and_events_match_the_snapshot() {
    let mut cr: MultiNicNodeConfig = serde_yaml::from_str(CR).expect("the CR parses");
    let valid = validate(&cr);
    let mut links = host();
    links.push(link(5, "ens6", mac(3)));
    links.push(link(6, "ens7", mac(4)));
    let h = on(&links);
    let policy = Policy::default();
    let first =
        plan::plan(&valid.interfaces, &h, Context { owned: &[], keep: &[], holds: &[], policy: &policy, vlans: &[] });
    let backoff = Hold {
        mac: mac(3),
        config_hash: first.interfaces[4].config_hash.clone(),
        reason: BackendError::Verify { iface: "multinic2".into(), mac: mac(3), millis: 1, diffs: String::new() }
            .reason(),
        message: "multinic4 did not come up; retrying in 40s".into(),
        kind: HoldKind::Backoff,
    };
    let plan = plan::plan(
        &valid.interfaces,
        &h,
        Context { owned: &[], keep: &[], holds: &[backoff], policy: &policy, vlans: &[] },
    );
    let steps: Vec<&Step> = plan.interfaces.iter().map(|ip| &ip.step).collect();
    assert!(
        matches!(
            steps[..],
            [
                Step::Create { .. },
                Step::Create { .. },
                Step::Blocked(_),
                Step::NotFound,
                Step::Held(_),
                Step::Create { .. }
            ]
        ),
        "{steps:?}"
    );
    let prepared = Prepared { plan, owned: Vec::new(), vlans: Vec::new(), gate: None, host: h };
    let mut records = pass::planned(&prepared.plan);
    records[0].outcome = Outcome {
        state: InterfaceState::Configured,
        reason: Reason::Configured,
        message: "up with 198.51.100.1/24, MTU 1450".into(),
        action: Some((Action::Created, "configured".into())),
        ..records[0].outcome.clone()
    };
    records[5].outcome = Outcome {
        state: InterfaceState::Failed,
        reason: Reason::RolledBack,
        message: "multinic5 did not reach the desired state; rolled back".into(),
        action: Some((Action::RolledBack, "did not reach the desired state".into())),
        retry: Retry::Normal,
    };
    let mut sections = serde_json::Map::new();
    let applying = pass::status(&cr, &valid, &prepared, &pass::planned(&prepared.plan), "networkmanager", vec![]);
    sections.insert("applying".into(), timeless(&applying));
    let done = pass::status(&cr, &valid, &prepared, &records, "networkmanager", vec![]);
    let events = transitions(cr.status.as_ref(), &done, &records);
    sections.insert("done".into(), timeless(&done));
    sections.insert("events".into(), events.iter().map(|e| serde_json::json!([e.normal, e.reason, e.note])).collect());
    cr.status = Some(done.clone());
    let unavailable =
        BackendError::NotRunning { service: "NetworkManager", bus_name: "org.freedesktop.NetworkManager" };
    sections.insert("unavailable".into(), timeless(&pass::unavailable_status(&cr, &unavailable, "networkmanager")));
    let gated =
        Prepared { gate: Some((Reason::InstanceIdMismatch, "the node is another instance".into())), ..prepared };
    // Nothing applied: every interface pending.
    let pending: Vec<Record> =
        gated.plan.interfaces.iter().map(|ip| Record { plan: ip.clone(), outcome: Outcome::pending() }).collect();
    let refused = pass::status(&cr, &valid, &gated, &pending, "networkmanager", vec![]);
    sections.insert("gated".into(), timeless(&refused));
    // Refused as a whole after it was configured: one Warning, though no interface failed.
    let was_configured = MultiNicNodeConfigStatus { state: Some(multinic_api::NodeState::Configured), ..done.clone() };
    let gated_events = transitions(Some(&was_configured), &refused, &pending);
    sections.insert(
        "gated_events".into(),
        gated_events.iter().map(|e| serde_json::json!([e.normal, e.reason, e.note])).collect(),
    );

    let got = serde_json::to_string_pretty(&serde_json::Value::Object(sections)).expect("json");
    insta::assert_snapshot!(got);
}
