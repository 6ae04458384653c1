//! The cluster source: a client with the node's identity, the node's own
//! `MultiNicNodeConfig`, its status (server-side apply under field manager
//! `multinicd`) and its Events.

use std::net::IpAddr;
use std::path::Path;

use kube::api::{Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt};
use multinic_api::{MultiNicNodeConfig, MultiNicNodeConfigStatus};

use crate::report::events::Notice;

/// Field manager of the status the daemon writes.
pub const FIELD_MANAGER: &str = "multinicd";
/// Reporting controller of the daemon's Events.
pub const REPORTING_CONTROLLER: &str = "multinic.io/multinicd";

/// A client from a kubeconfig file (the kubelet's by default), and the API
/// server's address when it resolves.
pub async fn client(kubeconfig: &Path) -> Result<(Client, Option<IpAddr>), String> {
    let kc = Kubeconfig::read_from(kubeconfig).map_err(|e| format!("kubeconfig {}: {e}", kubeconfig.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("kubeconfig {}: {e}", kubeconfig.display()))?;
    let url = &config.cluster_url;
    let server = match url.host() {
        Some(host) => server_address(host, url.port_u16().unwrap_or(443), &url.to_string()).await,
        None => None,
    };
    let client = Client::try_from(config).map_err(|e| format!("kubeconfig {}: {e}", kubeconfig.display()))?;
    Ok((client, server))
}

/// The address the API server's URL points at (the first one its name resolves to).
async fn server_address(host: &str, port: u16, url: &str) -> Option<IpAddr> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse() {
        return Some(ip);
    }
    let lookup = tokio::net::lookup_host((host, port));
    match tokio::time::timeout(std::time::Duration::from_secs(5), lookup).await {
        Ok(Ok(mut addrs)) => addrs.next().map(|a| a.ip()),
        _ => {
            tracing::warn!(server = %url, "cannot resolve the API server's name; its path is not protected until it does");
            None
        }
    }
}

/// Write the status block, unless it equals what the CR already carries.
/// Returns whether it wrote.
pub async fn write_status(
    api: &Api<MultiNicNodeConfig>,
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
    api.patch_status(&cr.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&body)).await?;
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
            reason: n.reason.into(),
            note: Some(n.note.chars().take(1000).collect()),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = recorder.publish(&event, &reference).await {
            tracing::warn!(reason = n.reason, error = %e, "cannot publish event");
        }
    }
}
