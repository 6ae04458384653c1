// SPDX-License-Identifier: Apache-2.0
//! The e2e side of the harness: the real kube-apiserver of `../shared/testenv`
//! (its admin kubeconfig in `MULTINIC_E2E_KUBECONFIG`), node and user identities
//! from its scripts, and the chart applied to it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kube::api::{DynamicObject, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::{Scope, pinned_kind};
use kube::{Api, Client};
use serde::Deserialize;

use crate::repo_root;

/// The API server the e2e tests run against.
pub struct Cluster {
    /// Admin client.
    pub admin: Client,
    /// The testenv DIR (holds the CA, keys and kubeconfigs).
    pub dir: PathBuf,
    /// The kit's scripts.
    pub kit: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub server: String,
}

/// The testenv kit beside the repository, or `MULTINIC_TESTENV_KIT`.
pub fn kit() -> PathBuf {
    std::env::var_os("MULTINIC_TESTENV_KIT").map(PathBuf::from).unwrap_or_else(|| repo_root().join("../shared/testenv"))
}

/// The Python with Helm's Go SDK (tests/setup.sh makes the venv).
pub fn python() -> PathBuf {
    std::env::var_os("MULTINIC_PYTHON").map(PathBuf::from).unwrap_or_else(|| repo_root().join(".venv/bin/python"))
}

/// A client for a kubeconfig file.
pub async fn client(kubeconfig: &Path) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig).expect("kubeconfig readable");
    let config =
        kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.expect("kubeconfig valid");
    Client::try_from(config).expect("client")
}

/// Run `kubectl-multinic` (built beside the tests) with `--kubeconfig` and extra
/// environment, echoing its output into the test log.
pub fn kubectl_multinic(kubeconfig: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let bin = crate::multinicd_bin().with_file_name("kubectl-multinic");
    let out = Command::new(bin)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run kubectl-multinic");
    eprintln!(
        "--- kubectl multinic {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Cluster {
    /// Create a Node object with this system UUID, as a kubelet would register it
    /// (or take over one of that name).
    pub async fn create_node(&self, name: &str, uuid: &str) {
        use k8s_openapi::api::core::v1::Node;
        use kube::api::PostParams;
        let n: Node = serde_json::from_value(serde_json::json!({ "metadata": { "name": name } })).unwrap();
        let nodes: Api<Node> = Api::all(self.admin.clone());
        match nodes.create(&PostParams::default(), &n).await {
            // Left by an earlier run against the same API server: take it over.
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => panic!("create Node {name}: {e}"),
        }
        let status = serde_json::json!({ "status": { "nodeInfo": {
            "systemUUID": uuid, "machineID": "m", "bootID": "b", "kernelVersion": "k", "osImage": "o",
            "containerRuntimeVersion": "c", "kubeletVersion": "v", "kubeProxyVersion": "p",
            "operatingSystem": "linux", "architecture": "amd64" } } });
        nodes.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    }

    /// Bind `user` to a ClusterRole (e.g. multinic-edit) in `ns`.
    pub async fn bind_role(&self, ns: &str, user: &str, cluster_role: &str) {
        use k8s_openapi::api::rbac::v1::RoleBinding;
        let rb: RoleBinding = serde_json::from_value(serde_json::json!({
            "metadata": { "name": format!("{cluster_role}-{user}"), "namespace": ns },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role },
            "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user }],
        }))
        .unwrap();
        Api::<RoleBinding>::namespaced(self.admin.clone(), ns).create(&Default::default(), &rb).await.unwrap();
    }

    /// The cluster of `MULTINIC_E2E_KUBECONFIG`, or `None` (with a message) when it is
    /// not set and `CI` is not either. In CI a missing cluster is a failure.
    pub async fn from_env() -> Option<Cluster> {
        let Some(kubeconfig) = std::env::var_os("MULTINIC_E2E_KUBECONFIG").map(PathBuf::from) else {
            let why =
                "MULTINIC_E2E_KUBECONFIG is not set: start ../shared/testenv (tests/run.sh does) to run the e2e tests";
            if std::env::var_os("CI").is_some() {
                panic!("{why}");
            }
            eprintln!("SKIPPED (not in CI): {why}");
            return None;
        };
        Some(Self::at(&kubeconfig).await)
    }

    /// The cluster whose admin kubeconfig is `kubeconfig` (in a testenv DIR).
    pub async fn at(kubeconfig: &Path) -> Cluster {
        let dir = kubeconfig.parent().expect("kubeconfig lives in the testenv DIR").to_path_buf();
        let text = std::fs::read_to_string(kubeconfig).expect("kubeconfig readable");
        let server = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("server:"))
            .expect("kubeconfig has a server")
            .trim()
            .to_string();
        Cluster { admin: client(kubeconfig).await, dir, kit: kit(), server }
    }

    /// The API server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.server.rsplit(':').next().and_then(|p| p.parse().ok()).expect("server has a port")
    }

    /// Kubeconfig of the node identity `system:node:NODE` (group `system:nodes`).
    pub fn node_kubeconfig(&self, node: &str) -> PathBuf {
        self.script("node-kubeconfig.sh", &[node])
    }

    /// A client certificate and key (one PEM file, as the kubelet's
    /// `kubelet-client-current.pem`) for `system:node:NODE`, signed by the kit's CA,
    /// valid for `valid` from now; written to `out` (atomically, as the kubelet does).
    pub fn node_pem(&self, node: &str, valid: Duration, out: &Path) {
        let out = Command::new("bash")
            .arg(repo_root().join("tests/lab/node-pem.sh"))
            .arg(self.dir.join("pki"))
            .arg(node)
            .arg(valid.as_secs().to_string())
            .arg(out)
            .output()
            .expect("run tests/lab/node-pem.sh");
        assert!(out.status.success(), "node-pem.sh: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// A kubeconfig as `kubeadm join` leaves the kubelet's: the CA and the client
    /// certificate by path (`pem` holds certificate and key).
    pub fn file_kubeconfig(&self, pem: &Path) -> String {
        let ca = self.dir.join("pki/ca.crt");
        let p = pem.display();
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority: {}\n\
             users:\n- name: u\n  user:\n    client-certificate: {p}\n    client-key: {p}\n\
             contexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n",
            self.server,
            ca.display(),
        )
    }

    /// Kubeconfig of any user with groups.
    pub fn user_kubeconfig(&self, user: &str, groups: &[&str]) -> PathBuf {
        let mut args = vec![user];
        args.extend_from_slice(groups);
        self.script("user-kubeconfig.sh", &args)
    }

    fn script(&self, name: &str, args: &[&str]) -> PathBuf {
        let out = Command::new("bash")
            .arg(self.kit.join(name))
            .arg(&self.dir)
            .args(args)
            .output()
            .expect("run testenv script");
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    }

    /// Render the chart for `namespace` (Helm's Go SDK, `charts/render.py`) and apply
    /// every object with server-side apply; wait until the CRD is established.
    pub async fn install_chart(&self, namespace: &str) {
        self.install_chart_with(namespace, &[]).await;
    }

    /// [`Cluster::install_chart`] with chart values set (`key`, `value`).
    pub async fn install_chart_with(&self, namespace: &str, values: &[(&str, &str)]) {
        let sets = values.iter().flat_map(|(k, v)| ["--set".to_string(), format!("{k}={v}")]);
        let out = Command::new(python())
            .arg(repo_root().join("charts/render.py"))
            .args(["--namespace", namespace])
            .args(sets)
            .output()
            .expect("run charts/render.py (tests/setup.sh installs its venv)");
        assert!(out.status.success(), "render.py: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).expect("utf-8");
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_yaml::Value::deserialize(doc).expect("rendered YAML parses");
            if value.is_null() {
                continue;
            }
            self.apply(value).await;
        }
        self.wait_crd().await;
    }

    /// `helm install|upgrade|uninstall` of `chart` (Helm's Go SDK, `charts/release.py`)
    /// as the admin, the CRs in `namespace`.
    pub fn helm(&self, action: &str, chart: &Path, namespace: &str) {
        let out = Command::new(python())
            .arg(repo_root().join("charts/release.py"))
            .arg(self.dir.join("admin.kubeconfig"))
            .arg(action)
            .arg("--chart")
            .arg(chart)
            .args(["--namespace", namespace])
            .output()
            .expect("run charts/release.py (tests/setup.sh installs its venv)");
        eprintln!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "helm {action} failed");
    }

    async fn apply(&self, value: serde_yaml::Value) {
        let obj: DynamicObject = serde_yaml::from_value(value).expect("a Kubernetes object");
        let types = obj.types.clone().expect("apiVersion and kind");
        let gvk = kube::api::GroupVersionKind::try_from(&types).expect("gvk");
        let (ar, caps) = pinned_kind(&self.admin, &gvk).await.expect("kind known to the API server");
        let api: Api<DynamicObject> = match (caps.scope, obj.metadata.namespace.as_deref()) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(self.admin.clone(), ns, &ar),
            (Scope::Namespaced, None) => Api::default_namespaced_with(self.admin.clone(), &ar),
            (Scope::Cluster, _) => Api::all_with(self.admin.clone(), &ar),
        };
        let name = obj.metadata.name.clone().expect("named");
        api.patch(&name, &PatchParams::apply("multinic-e2e").force(), &Patch::Apply(&obj))
            .await
            .unwrap_or_else(|e| panic!("apply {} {name}: {e}", types.kind));
    }

    /// Wait until the CRD is established.
    pub async fn wait_crd(&self) {
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
        let crds: Api<CustomResourceDefinition> = Api::all(self.admin.clone());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let crd = crds.get("multinicnodeconfigs.multinic.io").await.expect("CRD applied");
            let established = crd
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                return;
            }
            assert!(Instant::now() < deadline, "CRD never established");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Keep trying `f` until it returns `Some`, up to `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A kube-apiserver of its own (a second testenv DIR), for a test that stops it or
/// changes cluster-wide objects such as the CRD. Stopped and removed on drop.
pub struct OwnKit {
    dir: PathBuf,
}

impl OwnKit {
    /// Start it; returns the kit and its admin kubeconfig.
    pub fn start(name: &str) -> (OwnKit, PathBuf) {
        let dir = std::env::temp_dir().join(format!("multinic-e2e-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("kit dir");
        let kit = OwnKit { dir };
        let kubeconfig = kit.restart();
        (kit, kubeconfig)
    }

    /// (Re)start the API server on the same DIR; returns the admin kubeconfig.
    pub fn restart(&self) -> PathBuf {
        let out = Command::new("bash").arg(kit().join("start.sh")).arg(&self.dir).output().expect("run start.sh");
        assert!(out.status.success(), "start.sh: {}", String::from_utf8_lossy(&out.stderr));
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    }

    /// Stop the API server, keeping its data.
    pub fn stop(&self) {
        let _ = Command::new("bash").arg(kit().join("stop.sh")).arg(&self.dir).output();
    }
}

impl Drop for OwnKit {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(kit().join("stop.sh")).arg(&self.dir).env("RESET", "1").output();
    }
}
