// SPDX-License-Identifier: Apache-2.0
//! Whether the node still reaches its API server the way it did before a change:
//! the kernel's route to it is the same, and a TCP connect and TLS handshake
//! succeed. Part of verify (DESIGN.md, "Safety"): a change that cuts the node off
//! from its API server would also cut it off from every later fix, so it is
//! rolled back before it is committed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::Kernel;
use super::netlink::NetlinkError;
use super::{Link, PathTo};

/// The API server as this node reaches it: where, and how to shake hands with it
/// (the kubeconfig's server name, CA and client certificate), when that is known.
#[derive(Clone)]
pub struct ApiServer {
    /// Its address and port.
    pub addr: SocketAddr,
    tls: Option<(ServerName<'static>, Arc<ClientConfig>)>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer").field("addr", &self.addr).field("tls", &self.tls.as_ref().map(|t| &t.0)).finish()
    }
}

/// Why the API server is not reached as before.
#[derive(Debug, thiserror::Error)]
pub enum Unreachable {
    /// The kernel now takes another way to it.
    #[error("the route to the API server {server} changed: it was {before}, now it is {after}")]
    PathChanged {
        /// The API server's address.
        server: IpAddr,
        /// The path before the change.
        before: String,
        /// The path now.
        after: String,
    },
    /// No TCP connection.
    #[error("no TCP connection to the API server {server}: {source}")]
    Connect {
        /// Where.
        server: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TLS handshake failed.
    #[error("no TLS handshake with the API server {server}: {source}")]
    Tls {
        /// Where.
        server: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Connect and handshake took too long.
    #[error("no answer from the API server {server} within {millis} ms")]
    Timeout {
        /// Where.
        server: SocketAddr,
        /// How long it waited.
        millis: u128,
    },
    /// The route could not be read.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
}

impl ApiServer {
    /// The API server at `addr`, verified as `name` with `tls` when given (without,
    /// only its route is checked).
    pub fn new(addr: SocketAddr, tls: Option<(ServerName<'static>, ClientConfig)>) -> Self {
        ApiServer { addr, tls: tls.map(|(name, config)| (name, Arc::new(config))) }
    }

    /// A TCP connect and a TLS handshake (no request), within `timeout`. A fresh
    /// connection on purpose: the API client's pooled one may have been opened
    /// before the change, over a path that no longer exists.
    pub async fn handshake(&self, timeout: Duration) -> Result<(), Unreachable> {
        let server = self.addr;
        let Some((name, tls)) = &self.tls else { return Ok(()) };
        let attempt = async {
            let tcp = TcpStream::connect(server).await.map_err(|source| Unreachable::Connect { server, source })?;
            TlsConnector::from(tls.clone())
                .connect(name.clone(), tcp)
                .await
                .map_err(|source| Unreachable::Tls { server, source })?;
            Ok(())
        };
        tokio::time::timeout(timeout, attempt)
            .await
            .unwrap_or(Err(Unreachable::Timeout { server, millis: timeout.as_millis() }))
    }
}

/// What must still hold after a change, measured before it: the route to the API
/// server, and the handshake if it worked then (an API server that is down
/// already says nothing about the change, and must not block every NIC).
pub struct Guard<'a> {
    server: &'a ApiServer,
    path: PathTo,
    handshake: bool,
    timeout: Duration,
}

impl<'a> Guard<'a> {
    /// Measure the route and try a handshake now.
    pub async fn measure<K: Kernel>(
        server: &'a ApiServer,
        net: &K,
        timeout: Duration,
    ) -> Result<Guard<'a>, NetlinkError> {
        let path = net.route_to(server.addr.ip()).await?;
        let handshake = match server.handshake(timeout).await {
            Ok(()) => server.tls.is_some(),
            Err(e) => {
                tracing::warn!(error = %e, "the API server does not answer before the change; only its route is checked");
                false
            }
        };
        Ok(Guard { server, path, handshake, timeout })
    }

    /// Whether the API server is still reached as before.
    pub async fn check<K: Kernel>(&self, net: &K) -> Result<(), Unreachable> {
        let now = net.route_to(self.server.addr.ip()).await?;
        if (now.oif, now.gateway) != (self.path.oif, self.path.gateway) {
            let links = net.links().await?;
            return Err(Unreachable::PathChanged {
                server: self.server.addr.ip(),
                before: describe(&self.path, &links),
                after: describe(&now, &links),
            });
        }
        if self.handshake {
            self.server.handshake(self.timeout).await?;
        }
        Ok(())
    }
}

/// `via 192.0.2.1 dev eth0`, as `ip route get` says it.
fn describe(path: &PathTo, links: &[Link]) -> String {
    let dev = |i: u32| links.iter().find(|l| l.index == i).map(|l| l.name.clone()).unwrap_or_else(|| format!("#{i}"));
    match (path.gateway, path.oif) {
        (_, None) => "unreachable".into(),
        (Some(gw), Some(oif)) => format!("via {gw} dev {}", dev(oif)),
        (None, Some(oif)) => format!("dev {}", dev(oif)),
    }
}
