// SPDX-License-Identifier: Apache-2.0
//! Prometheus metrics of `multinicd run`, served at `http://<metrics>/metrics` in
//! the OpenMetrics text format when the config sets `metrics: ADDRESS:PORT`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use multinic_api::{InterfaceState, MultiNicNodeConfigStatus, Reason};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::backend::Action;
use crate::pass::Record;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabel {
    version: &'static str,
}

/// The daemon's metrics.
pub struct Metrics {
    registry: Registry,
    interfaces: Family<StateLabel, Gauge>,
    pass_seconds: Histogram,
    rollbacks: Family<ReasonLabel, Counter>,
    retries: Family<ReasonLabel, Counter>,
    dbus_errors: Counter,
    api_errors: Counter,
    last_pass: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let interfaces = Family::<StateLabel, Gauge>::default();
        // 10 ms … 41 s: a re-apply takes milliseconds, a rollback seconds.
        let pass_seconds = Histogram::new(exponential_buckets(0.01, 2.0, 13));
        let rollbacks = Family::<ReasonLabel, Counter>::default();
        let retries = Family::<ReasonLabel, Counter>::default();
        let dbus_errors = Counter::default();
        let api_errors = Counter::default();
        let last_pass = Gauge::<f64, AtomicU64>::default();
        let mut r = Registry::with_prefix("multinic");
        r.register("interfaces", "Interfaces (and VLANs) by state, as the last pass reported them", interfaces.clone());
        r.register("pass_duration_seconds", "How long a pass took", pass_seconds.clone());
        r.register("rollbacks", "Changes rolled back, by reason", rollbacks.clone());
        r.register("retries", "Failed interfaces put on a backoff to be tried again, by reason", retries.clone());
        r.register("dbus_errors", "Passes that could not reach or call the network manager", dbus_errors.clone());
        r.register("api_errors", "Calls to the Kubernetes API server that failed", api_errors.clone());
        r.register("last_pass_timestamp_seconds", "When the last pass ran to its end (Unix time)", last_pass.clone());
        r.register("build", "The running multinicd", Info::new(BuildLabel { version: env!("CARGO_PKG_VERSION") }));
        Metrics { registry: r, interfaces, pass_seconds, rollbacks, retries, dbus_errors, api_errors, last_pass }
    }
}

impl Metrics {
    /// A pass applied: its duration, the interfaces' states, what it rolled back
    /// and what waits to be retried.
    pub fn pass(&self, took: Duration, status: &MultiNicNodeConfigStatus, records: &[Record], retries: &[Reason]) {
        self.pass_seconds.observe(took.as_secs_f64());
        self.interfaces(status);
        for r in records.iter().filter(|r| r.outcome.action.as_ref().is_some_and(|(a, _)| *a == Action::RolledBack)) {
            self.rollbacks.get_or_create(&ReasonLabel { reason: r.outcome.reason.to_string() }).inc();
        }
        for reason in retries {
            self.retries.get_or_create(&ReasonLabel { reason: reason.to_string() }).inc();
        }
    }

    /// The node's configuration was removed: no interfaces in any state.
    pub fn cleaned(&self) {
        self.interfaces(&MultiNicNodeConfigStatus::default());
    }

    fn interfaces(&self, status: &MultiNicNodeConfigStatus) {
        for state in InterfaceState::ALL {
            let n = status.interface_statuses.values().filter(|i| i.state == state).count();
            self.interfaces
                .get_or_create(&StateLabel { state: state.as_str() })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// A pass ran to its end (its status reported).
    pub fn passed(&self) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        self.last_pass.set(now.as_secs_f64());
    }

    /// The network manager could not be reached or a call to it failed.
    pub fn dbus_error(&self) {
        self.dbus_errors.inc();
    }

    /// A call to the API server failed.
    pub fn api_error(&self) {
        self.api_errors.inc();
    }

    /// The OpenMetrics text.
    pub fn text(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Serve `metrics` at `addr` until the process ends.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let response = respond(&metrics, &req);
                    async move { Ok::<_, Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(5))
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(())
}

fn respond<B>(metrics: &Metrics, req: &Request<B>) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, "/metrics") => {
            (StatusCode::OK, "application/openmetrics-text; version=1.0.0; charset=utf-8", metrics.text())
        }
        (_, "/metrics") => (StatusCode::METHOD_NOT_ALLOWED, "text/plain", "use GET\n".into()),
        _ => (StatusCode::NOT_FOUND, "text/plain", "multinicd serves /metrics only\n".into()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_names_every_metric() {
        let m = Metrics::default();
        let mut status = MultiNicNodeConfigStatus::default();
        let entry: multinic_api::status::InterfaceStatus = serde_json::from_value(serde_json::json!({
            "macAddress": "fa:16:3e:00:00:01", "state": "Configured", "reason": "Configured"
        }))
        .unwrap();
        status.interface_statuses.insert("multinic0".into(), entry);
        m.pass(Duration::from_millis(80), &status, &[], &[Reason::VerifyFailed]);
        m.api_error();
        m.passed();
        let text = m.text();
        for line in [
            "multinic_interfaces{state=\"Configured\"} 1",
            "multinic_interfaces{state=\"NotFound\"} 0",
            "multinic_pass_duration_seconds_count 1",
            "multinic_pass_duration_seconds_bucket{le=\"0.16\"} 1",
            "multinic_retries_total{reason=\"VerifyFailed\"} 1",
            "multinic_api_errors_total 1",
            "multinic_dbus_errors_total 0",
            "multinic_build_info{version=\"",
            "# TYPE multinic_last_pass_timestamp_seconds gauge",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
