// SPDX-License-Identifier: Apache-2.0
//! The cluster source: a client with the node's identity, the node's own
//! `MultiNicNodeConfig`, its status (server-side apply under field manager
//! `multinicd`) and its Events.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::client::ConfigExt;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt};
use multinic_api::{MultiNicNodeConfig, MultiNicNodeConfigStatus};
use rustls::pki_types::ServerName;

use crate::observe::reach::ApiServer;

use crate::report::events::Notice;

/// How long the API server keeps one watch request open (seconds); under the
/// client's read timeout, so that a quiet watch is never taken for a dead one.
pub const WATCH_TIMEOUT: u32 = 50;

/// How long one of the daemon's own API calls may take within a pass.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// An API call bounded by [`CALL_TIMEOUT`].
pub async fn bounded<T>(call: impl std::future::Future<Output = Result<T, kube::Error>>) -> Result<T, kube::Error> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(result) => result,
        Err(_) => Err(kube::Error::Service(
            format!("no answer from the API server within {}s", CALL_TIMEOUT.as_secs()).into(),
        )),
    }
}

/// Field manager of the status the daemon writes.
pub const FIELD_MANAGER: &str = "multinicd";
/// Reporting controller of the daemon's Events.
pub const REPORTING_CONTROLLER: &str = "multinic.io/multinicd";

/// A client from a kubeconfig file (the kubelet's by default), and the API server
/// as the node reaches it, when its address resolves.
pub async fn client(kubeconfig: &Path) -> Result<(Client, Option<ApiServer>), String> {
    let kc = Kubeconfig::read_from(kubeconfig).map_err(|e| format!("kubeconfig {}: {e}", kubeconfig.display()))?;
    let mut config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("kubeconfig {}: {e}", kubeconfig.display()))?;
    // A half-open connection must fail within a minute, the watch included (the
    // server ends each watch before that: WATCH_TIMEOUT).
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = Some(Duration::from_secs(60));
    config.write_timeout = Some(Duration::from_secs(30));
    let server = api_server(&config).await;
    let client = Client::try_from(config).map_err(|e| format!("kubeconfig {}: {e}", kubeconfig.display()))?;
    Ok((client, server))
}

/// The address the kubeconfig's server points at (the first one its name resolves
/// to), with the TLS settings the client uses, to check that it is still reached
/// after a change.
async fn api_server(config: &kube::Config) -> Option<ApiServer> {
    let url = &config.cluster_url;
    let host = url.host()?.trim_start_matches('[').trim_end_matches(']');
    let port = url.port_u16().unwrap_or(443);
    let ip = match host.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => {
            let lookup = tokio::net::lookup_host((host, port));
            match tokio::time::timeout(std::time::Duration::from_secs(5), lookup).await {
                Ok(Ok(mut addrs)) => addrs.next()?.ip(),
                _ => {
                    tracing::warn!(server = %url, "cannot resolve the API server's name; its path is not protected until it does");
                    return None;
                }
            }
        }
    };
    // Without TLS settings the route to the API server is still protected and
    // checked; only the handshake is not.
    let name = config.tls_server_name.as_deref().unwrap_or(host);
    let tls = match (ServerName::try_from(name.to_string()), config.rustls_client_config()) {
        (Ok(name), Ok(tls)) => Some((name, tls)),
        (Err(e), _) => {
            tracing::warn!(server = %url, error = %e, "the API server's name is not a TLS server name; only its route is checked after a change");
            None
        }
        (_, Err(e)) => {
            tracing::warn!(server = %url, error = %e, "no TLS settings for the API server; only its route is checked after a change");
            None
        }
    };
    Some(ApiServer::new(SocketAddr::new(ip, port), tls))
}

/// The node's CRs as the API server stores them, decoded by the daemon itself
/// ([`multinic_api::decode`]): a CR with a value the Rust types cannot hold must
/// reach the daemon, which reports it, instead of failing the watch.
pub fn raw_api(client: Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client, namespace, &ApiResource::erase::<MultiNicNodeConfig>(&()))
}

/// Write the status block, unless it equals what the CR already carries.
/// Returns whether it wrote.
pub async fn write_status(
    api: &Api<DynamicObject>,
    cr: &MultiNicNodeConfig,
    status: &MultiNicNodeConfigStatus,
) -> Result<bool, kube::Error> {
    if cr.status.as_ref() == Some(status) {
        return Ok(false);
    }
    let body = serde_json::json!({
        "apiVersion": "multinic.io/v1alpha1",
        "kind": "MultiNicNodeConfig",
        "status": status,
    });
    bounded(api.patch_status(&cr.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&body))).await?;
    Ok(true)
}

/// An event recorder reporting as this node's daemon.
pub fn recorder(client: Client, node: &str) -> Recorder {
    Recorder::new(client, Reporter { controller: REPORTING_CONTROLLER.into(), instance: Some(node.into()) })
}

/// Publish events about the CR; failures are logged, never fatal.
pub async fn publish(recorder: &Recorder, cr: &MultiNicNodeConfig, notices: &[Notice]) {
    let reference = cr.object_ref(&());
    for n in notices {
        let event = Event {
            type_: if n.normal { EventType::Normal } else { EventType::Warning },
            reason: n.reason.to_string(),
            note: Some(n.note.chars().take(1000).collect()),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = bounded(recorder.publish(&event, &reference)).await {
            tracing::warn!(reason = %n.reason, error = %e, "cannot publish event");
        }
    }
}

/// What to tell the operator when the served CRD is older than this daemon, or
/// `None` (also when the CRD cannot be read: the chart of this release lets nodes
/// read it; an older one does not, and says so through its missing annotation
/// once upgraded).
pub async fn crd_outdated(client: &Client) -> Option<String> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    match bounded(crds.get(multinic_api::crd::CRD_NAME)).await {
        Ok(crd) => multinic_api::crd::outdated(&crd, "multinicd"),
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the CRD to compare its schema revision");
            None
        }
    }
}

/// Who the API server says the client is (a SelfSubjectReview).
pub async fn identity(client: &Client) -> Result<String, kube::Error> {
    use k8s_openapi::api::authentication::v1::SelfSubjectReview;
    let reviews: Api<SelfSubjectReview> = Api::all(client.clone());
    let review = bounded(reviews.create(&Default::default(), &SelfSubjectReview::default())).await?;
    Ok(review.status.and_then(|s| s.user_info).and_then(|u| u.username).unwrap_or_default())
}

pub use super::credentials::{Fingerprint, fingerprint};
