// SPDX-License-Identifier: Apache-2.0
//! The kubeconfig and the files it points at, as a fingerprint: the kubelet writes
//! its kubeconfig when the node joins and rotates its client certificate
//! (`kubelet-client-current.pem`) long before the old one expires. A client built
//! from them is rebuilt when the fingerprint changes.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use kube::config::Kubeconfig;

/// What the kubeconfig and its credential files held when last read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(u64);

/// The fingerprint of `kubeconfig` and every file it names (CA, client certificate
/// and key, token file); `Err` says why there is no usable kubeconfig yet.
pub fn fingerprint(kubeconfig: &Path) -> Result<Fingerprint, String> {
    let bytes = std::fs::read(kubeconfig).map_err(|e| format!("{}: {e}", kubeconfig.display()))?;
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    let kc = Kubeconfig::read_from(kubeconfig).map_err(|e| format!("{}: {e}", kubeconfig.display()))?;
    for path in referenced(&kc) {
        // A file that is missing now (a kubelet still bootstrapping) counts too:
        // its appearance changes the fingerprint.
        path.hash(&mut hasher);
        std::fs::read(&path).ok().hash(&mut hasher);
    }
    Ok(Fingerprint(hasher.finish()))
}

fn referenced(kc: &Kubeconfig) -> Vec<PathBuf> {
    let clusters = kc.clusters.iter().filter_map(|c| c.cluster.as_ref()?.certificate_authority.clone());
    let users =
        kc.auth_infos.iter().filter_map(|a| a.auth_info.as_ref()).flat_map(|a| {
            [a.client_certificate.clone(), a.client_key.clone(), a.token_file.clone()].into_iter().flatten()
        });
    clusters.chain(users).map(PathBuf::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_kubeconfig_and_the_files_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let kc = dir.path().join("kubelet.conf");
        assert!(fingerprint(&kc).unwrap_err().contains("kubelet.conf"));
        let cert = dir.path().join("client.pem");
        std::fs::write(
            &kc,
            format!(
                "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'https://192.0.2.1:6443'}}}}]\n\
                 users: [{{name: u, user: {{client-certificate: {0}, client-key: {0}}}}}]\n\
                 contexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n",
                cert.display()
            ),
        )
        .unwrap();
        let before = fingerprint(&kc).unwrap();
        assert_eq!(fingerprint(&kc).unwrap(), before, "stable while nothing changes");
        std::fs::write(&cert, "rotated").unwrap();
        let rotated = fingerprint(&kc).unwrap();
        assert_ne!(rotated, before, "a certificate that appears changes it");
        std::fs::write(&cert, "rotated again").unwrap();
        assert_ne!(fingerprint(&kc).unwrap(), rotated, "a rotated certificate changes it");
    }
}
