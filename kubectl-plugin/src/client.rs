// SPDX-License-Identifier: Apache-2.0
//! The cluster connection, with kubectl's flags, and errors that say what to do next.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// kubectl's connection flags.
#[derive(clap::Args, Debug, Clone)]
pub struct Connection {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, env = "KUBECONFIG", value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Namespace of the MultiNicNodeConfigs.
    #[arg(short, long, global = true, default_value = multinic_api::DEFAULT_NAMESPACE)]
    pub namespace: String,
}

/// A failure, rendered once on stderr with a hint.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong and what to do.
    pub message: String,
    /// Exit code (1 for API errors and unhealthy nodes, 2 for usage).
    pub code: u8,
}

impl Failure {
    /// Bad input (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Failure { message: message.into(), code: 2 }
    }
}

impl Connection {
    /// A client for the selected kubeconfig and context.
    pub async fn client(&self) -> Result<Client, Failure> {
        let options = KubeConfigOptions { context: self.context.clone(), ..Default::default() };
        let config = match &self.kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path).map_err(|e| Failure {
                    message: format!("cannot read kubeconfig {}: {e}", path.display()),
                    code: 1,
                })?;
                Config::from_custom_kubeconfig(kc, &options).await
            }
            None => Config::from_kubeconfig(&options).await,
        }
        .map_err(|e| Failure {
            message: format!("no usable kubeconfig: {e}; pass --kubeconfig or set KUBECONFIG"),
            code: 1,
        })?;
        Client::try_from(config).map_err(|e| Failure { message: format!("cannot build a client: {e}"), code: 1 })
    }
}

/// The Node's system UUID, what `spec.instanceId` is checked against.
pub fn system_uuid(node: k8s_openapi::api::core::v1::Node) -> Option<String> {
    node.status.and_then(|s| s.node_info).map(|i| i.system_uuid).filter(|u| !u.is_empty())
}

/// Turn an API error into advice.
pub fn explain(e: kube::Error, what: &str) -> Failure {
    let message = match &e {
        // An unknown resource type: the API server answers 404 for its whole path.
        kube::Error::Api(s)
            if s.code == 404
                && (s.message.contains("page not found") || s.message.contains("could not find the requested resource")) =>
        {
            "the MultiNicNodeConfig CRD is not installed in this cluster: install the chart (helm install multinic charts/multinic)".to_string()
        }
        kube::Error::Api(s) if s.code == 403 => {
            format!("forbidden to {what}: {}; ask for the multinic-view role (to read) or multinic-edit (to change)", s.message)
        }
        kube::Error::Api(s) if s.code == 404 => format!("{what}: {}", s.message),
        kube::Error::Api(s) => format!("{what}: {} ({})", s.message, s.reason),
        kube::Error::HyperError(_) | kube::Error::Service(_) => {
            format!("cannot reach the cluster to {what}: {e}; check --kubeconfig/--context and that the API server is up")
        }
        _ => format!("{what}: {e}"),
    };
    Failure { message, code: 1 }
}

/// Warn on stderr when the served CRD is older than this plugin: the API server
/// would drop the fields it does not know from what the plugin writes. Silent when
/// the CRD cannot be read (users bound in one namespace may not read CRDs).
pub async fn warn_if_crd_outdated(client: &Client) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crds: kube::Api<CustomResourceDefinition> = kube::Api::all(client.clone());
    if let Ok(crd) = crds.get(multinic_api::crd::CRD_NAME).await
        && let Some(message) = multinic_api::crd::outdated(&crd, "kubectl-multinic")
    {
        eprintln!("warning: {message}");
    }
}
