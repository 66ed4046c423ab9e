//! The operator's HTTP endpoint (design §2): `/metrics`, `/healthz`, `/readyz`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::Health;

/// Serve until `shutdown` is cancelled.
pub(crate) async fn serve(
    listener: TcpListener,
    health: Arc<Health>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(health);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

async fn metrics(State(health): State<Arc<Health>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        health.scrape(),
    )
}

/// 200 while the process runs.
async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 only while the component stream is authenticated, every SIP
/// listener is bound and, with `[trunk]`, the registration holds; a line
/// `trunk: …` says the registration's state.
async fn readyz(State(health): State<Arc<Health>>) -> (StatusCode, String) {
    let (status, mut body) = if health.ready() {
        (StatusCode::OK, "ready\n".to_owned())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n".to_owned())
    };
    if let Some(trunk) = health.trunk_detail() {
        body.push_str(&format!("trunk: {trunk}\n"));
    }
    (status, body)
}
