//! `[http] admin_token`: when set, `/api/*` and `/metrics` answer only a
//! request that carries it as `Authorization: Bearer TOKEN`; the player,
//! the media and the index page stay public. A refusal is counted in
//! `/metrics` and logged once a minute per address, not per request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::response::Cache;
use crate::server::hub::Hub;
use crate::server::ingest::publish_secret::same_secret;
use crate::server::limits::RefusalLog;
use crate::server::metrics::Metrics;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdminRefusal {
    #[error("this server's API and metrics need `Authorization: Bearer <[http] admin_token>`")]
    Missing,
    #[error("the bearer token is not this server's [http] admin_token")]
    Wrong,
}

/// Whether `headers` carry `expected` (None: the paths are open).
pub fn check(expected: Option<&str>, headers: &HeaderMap) -> Result<(), AdminRefusal> {
    let Some(expected) = expected else { return Ok(()) };
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, token) = v.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    match given {
        None => Err(AdminRefusal::Missing),
        Some(token) if same_secret(token.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(AdminRefusal::Wrong),
    }
}

/// The router's layer over the admin routes.
pub async fn require_token(State(hub): State<Arc<Hub>>, request: Request, next: Next) -> Response {
    let refusal = match check(hub.config().http.admin_token.as_deref(), request.headers()) {
        Ok(()) => return next.run(request).await,
        Err(refusal) => refusal,
    };
    Metrics::add(&hub.metrics.admin_refused, 1);
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    if let Some(peer) = peer
        && LOGGED.should_log(peer.ip(), Instant::now())
    {
        tracing::warn!(%peer, path = %request.uri().path(), "refused: {refusal} (logged once a minute per address)");
    }
    let mut response = (StatusCode::UNAUTHORIZED, format!("{refusal}\n")).into_response();
    let headers = response.headers_mut();
    headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"onair\""));
    headers.insert(header::CACHE_CONTROL, Cache::NoStore.header());
    response
}

static LOGGED: RefusalLog = RefusalLog::new(Duration::from_secs(60));

#[cfg(test)]
mod tests {
    use super::*;

    fn bearing(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn only_the_token_opens_the_admin_paths_when_one_is_set() {
        assert_eq!(check(None, &HeaderMap::new()), Ok(()));
        assert_eq!(check(Some("t0ken"), &HeaderMap::new()), Err(AdminRefusal::Missing));
        assert_eq!(check(Some("t0ken"), &bearing("Bearer t0ken")), Ok(()));
        assert_eq!(check(Some("t0ken"), &bearing("bearer  t0ken ")), Ok(()));
        assert_eq!(check(Some("t0ken"), &bearing("Bearer t0ke")), Err(AdminRefusal::Wrong));
        assert_eq!(check(Some("t0ken"), &bearing("Basic dDA6a2Vu")), Err(AdminRefusal::Missing));
    }
}
