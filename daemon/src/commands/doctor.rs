// SPDX-License-Identifier: Apache-2.0
//! `multinicd doctor`: checks this node end to end — the network manager and its
//! settings, the kubeconfig, who the API server says we are, what RBAC and the
//! admission policy allow, the CRD, the clock, the daemon's last pass — one line per
//! check, saying what to fix. Exit 0 only when none failed. Reads only (the policy
//! is probed with a dry-run write).

use std::path::Path;
use std::time::{Duration, SystemTime};

use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use multinic_api::MultiNicNodeConfig;
use multinic_api::doctor::{self, Check, Verdict};

use super::{Exit, Fatal};
use crate::backend::{Backend, select, with_backend};
use crate::config::Settings;
use crate::source::cluster::{self, bounded};

/// Run every check, print them, exit 0 only when none failed.
pub async fn doctor(settings: &Settings) -> Result<Exit, Fatal> {
    let mut checks = Vec::new();
    match select(settings.backend, 20).await {
        Ok(backend) => with_backend!(backend, |b| checks.extend(manager(&b).await)),
        Err(e) => checks.push(Check::new("network manager", Verdict::Fail, e.to_string())),
    }
    checks.push(kubeconfig(&settings.kubeconfig));
    match cluster::client(&settings.kubeconfig).await {
        Ok((client, _)) => checks.extend(cluster_checks(settings, &client).await),
        Err(e) => checks.push(Check::new("API server", Verdict::Fail, e)),
    }
    print!("{}", doctor::render(&checks));
    Ok(if doctor::passed(&checks) { Exit::Ok } else { Exit::Failed })
}

async fn manager<B: Backend>(b: &B) -> Vec<Check> {
    let up = b.checkup().await;
    let name = if b.name() == "networkd" { "systemd-networkd" } else { "NetworkManager" };
    let version = up.version.map(|v| format!(" {v}")).unwrap_or_else(|| " (version unknown)".into());
    vec![
        Check::new("network manager", Verdict::Ok, format!("{name}{version} owns its name on the system bus")),
        match up.settings {
            Ok(note) => Check::new("manager settings", Verdict::Ok, note),
            Err(why) => Check::new("manager settings", Verdict::Fail, why),
        },
    ]
}

/// Readable, and owned by root: it holds the node's credential.
fn kubeconfig(path: &Path) -> Check {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path).and_then(|m| std::fs::read(path).map(|_| m)) {
        Err(e) => Check::new(
            "kubeconfig",
            Verdict::Fail,
            format!("{}: {e}; set kubeconfig: in /etc/multinic/multinicd.yaml", path.display()),
        ),
        Ok(m) if m.uid() != 0 => Check::new(
            "kubeconfig",
            Verdict::Fail,
            format!(
                "{} is owned by uid {}, not root: it holds the node's credential; chown root",
                path.display(),
                m.uid()
            ),
        ),
        Ok(m) if m.mode() & 0o004 != 0 => Check::new(
            "kubeconfig",
            Verdict::Warn,
            format!("{} is readable by everyone: chmod o-r (it holds the node's credential)", path.display()),
        ),
        Ok(_) => Check::new("kubeconfig", Verdict::Ok, format!("{} readable, owned by root", path.display())),
    }
}

async fn cluster_checks(s: &Settings, client: &Client) -> Vec<Check> {
    let who = match cluster::identity(client).await {
        Ok(who) => who,
        Err(e) => {
            return vec![Check::new(
                "API server",
                Verdict::Fail,
                format!("cannot reach it or it refuses the credential of {}: {e}", s.kubeconfig.display()),
            )];
        }
    };
    let mut checks = vec![if who == s.identity {
        Check::new("identity", Verdict::Ok, format!("the API server knows the credential as {who}"))
    } else {
        Check::new(
            "identity",
            Verdict::Fail,
            format!(
                "the API server knows the credential as {who}, not as {} (nodeName {}): use this node's kubeconfig, \
                 or set identity: {who} if that user is meant to act for this node",
                s.identity, s.node_name
            ),
        )
    }];
    checks.push(clock(client).await);
    checks.push(crd(client).await);
    checks.push(rbac(s, client).await);
    if let Some(key) = &s.remove_taint {
        checks.push(taint(s, client, &who, key).await);
    }
    let api: Api<MultiNicNodeConfig> = Api::namespaced(client.clone(), &s.namespace);
    match bounded(api.get_opt(&s.node_name)).await {
        Ok(Some(cr)) => {
            checks.push(policy(s, &api).await);
            checks.push(doctor::last_pass(&cr, SystemTime::now()));
        }
        Ok(None) => checks.push(Check::new(
            "last pass",
            Verdict::Warn,
            format!(
                "no MultiNicNodeConfig {}/{} yet (nothing to apply; the admission policy is probed with it): \
                 kubectl multinic create {}",
                s.namespace, s.node_name, s.node_name
            ),
        )),
        Err(e) => {
            checks.push(Check::new("last pass", Verdict::Fail, format!("cannot read the MultiNicNodeConfig: {e}")))
        }
    }
    checks
}

/// The API server's clock against ours, from its Date header (whole seconds).
async fn clock(client: &Client) -> Check {
    let request = http::Request::get("/version").body(Vec::new().into());
    let response = match request {
        Ok(r) => bounded(client.send(r)).await,
        Err(e) => return Check::new("clock", Verdict::Warn, format!("cannot ask: {e}")),
    };
    let date = response.ok().and_then(|r| {
        let value = r.headers().get(http::header::DATE)?.to_str().ok()?.to_string();
        httpdate::parse_http_date(&value).ok()
    });
    let Some(theirs) = date else {
        return Check::new("clock", Verdict::Warn, "the API server sent no Date to compare with");
    };
    let ours = SystemTime::now();
    let skew = ours.duration_since(theirs).or_else(|_| theirs.duration_since(ours)).unwrap_or_default();
    let say = format!("{} s apart from the API server's", skew.as_secs());
    match skew {
        s if s <= Duration::from_secs(5) => Check::new("clock", Verdict::Ok, say),
        s if s <= Duration::from_secs(30) => {
            Check::new("clock", Verdict::Warn, format!("{say}: sync the clock (chrony, timesyncd)"))
        }
        _ => {
            Check::new("clock", Verdict::Fail, format!("{say}: certificates and status times go wrong; sync the clock"))
        }
    }
}

/// The resource served in the version this daemon speaks, and its schema not older.
async fn crd(client: &Client) -> Check {
    let served = bounded(kube::discovery::group(client, "multinic.io"))
        .await
        .ok()
        .is_some_and(|g| g.versioned_resources("v1alpha1").iter().any(|(r, _)| r.kind == "MultiNicNodeConfig"));
    if !served {
        return Check::new(
            "CRD",
            Verdict::Fail,
            "the API server does not serve multinicnodeconfigs.multinic.io/v1alpha1: install the chart \
             (helm install multinic charts/multinic)",
        );
    }
    match cluster::crd_outdated(client).await {
        Some(outdated) => Check::new("CRD", Verdict::Warn, outdated),
        None => Check::new("CRD", Verdict::Ok, "multinicnodeconfigs.multinic.io/v1alpha1 served"),
    }
}

/// Whether this identity may do what `attributes` say (a SelfSubjectAccessReview).
async fn allowed(
    client: &Client,
    attributes: k8s_openapi::api::authorization::v1::ResourceAttributes,
) -> Result<bool, kube::Error> {
    use k8s_openapi::api::authorization::v1::{SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec { resource_attributes: Some(attributes), ..Default::default() },
        ..Default::default()
    };
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let answer = bounded(reviews.create(&Default::default(), &review)).await?;
    Ok(answer.status.is_some_and(|st| st.allowed))
}

/// RBAC lets this identity write its CR's status.
async fn rbac(s: &Settings, client: &Client) -> Check {
    use k8s_openapi::api::authorization::v1::ResourceAttributes;
    let attributes = ResourceAttributes {
        group: Some("multinic.io".into()),
        resource: Some("multinicnodeconfigs".into()),
        subresource: Some("status".into()),
        verb: Some("patch".into()),
        namespace: Some(s.namespace.clone()),
        name: Some(s.node_name.clone()),
        ..Default::default()
    };
    match allowed(client, attributes).await {
        Ok(true) => Check::new("RBAC", Verdict::Ok, format!("may patch multinicnodeconfigs/status in {}", s.namespace)),
        Ok(false) => Check::new(
            "RBAC",
            Verdict::Fail,
            format!(
                "may not patch multinicnodeconfigs/status in {}: install the chart for that namespace (its Role \
                 multinic-node binds the nodes group)",
                s.namespace
            ),
        ),
        Err(e) => Check::new("RBAC", Verdict::Warn, format!("cannot ask the API server: {e}")),
    }
}

/// `removeTaint` can work: not with a kubelet's identity (NodeRestriction), and
/// RBAC lets this one patch its Node.
async fn taint(s: &Settings, client: &Client, who: &str, key: &str) -> Check {
    use k8s_openapi::api::authorization::v1::ResourceAttributes;
    if who.starts_with("system:node:") {
        return Check::new(
            "startup taint",
            Verdict::Fail,
            format!(
                "removeTaint: {key} can never be removed by {who}: NodeRestriction lets no node identity change \
                 taints; give multinicd an identity of its own (README, \"Readiness gating\") or drop removeTaint"
            ),
        );
    }
    let attributes = ResourceAttributes {
        resource: Some("nodes".into()),
        verb: Some("patch".into()),
        name: Some(s.node_name.clone()),
        ..Default::default()
    };
    match allowed(client, attributes).await {
        Ok(true) => Check::new("startup taint", Verdict::Ok, format!("may remove {key} from Node {}", s.node_name)),
        Ok(false) => Check::new(
            "startup taint",
            Verdict::Fail,
            format!(
                "{who} may not patch Node {}: install the chart with nodeUserPrefix, nodesGroup and removeTaint={key}",
                s.node_name
            ),
        ),
        Err(e) => Check::new("startup taint", Verdict::Warn, format!("cannot ask the API server: {e}")),
    }
}

/// The admission policy is in force: a dry-run change of our own spec is refused.
async fn policy(s: &Settings, api: &Api<MultiNicNodeConfig>) -> Check {
    let params = PatchParams { dry_run: true, ..Default::default() };
    let patch = serde_json::json!({ "spec": { "interfaces": [] } });
    match bounded(api.patch(&s.node_name, &params, &Patch::Merge(&patch))).await {
        Err(kube::Error::Api(e)) if e.message.contains("multinic-node-scope") => {
            Check::new("admission policy", Verdict::Ok, "multinic-node-scope keeps this node from changing a spec")
        }
        Ok(_) => Check::new(
            "admission policy",
            Verdict::Fail,
            "a dry-run change of this node's own spec was allowed: the ValidatingAdmissionPolicy multinic-node-scope \
             is missing or not bound; install the chart",
        ),
        Err(e) => {
            Check::new("admission policy", Verdict::Warn, format!("the dry-run probe was refused otherwise: {e}"))
        }
    }
}
