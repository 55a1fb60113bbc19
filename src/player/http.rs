//! The preview player's HTTP GET, through ureq: one agent for the app's
//! life, so playlist reloads and segment fetches reuse their connection.

use std::sync::OnceLock;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot fetch {url}: {source}")]
    Transport { url: String, source: Box<ureq::Error> },
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
}

/// Largest body the player accepts.
const MAX_BODY: u64 = 64 << 20;

fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(10))).http_status_as_error(false).user_agent("OnAir preview").build().into()
    })
}

pub fn get(url: &str) -> Result<Vec<u8>, FetchError> {
    let transport = |source| FetchError::Transport { url: url.into(), source: Box::new(source) };
    let mut response = agent().get(url).call().map_err(transport)?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(FetchError::Status { url: url.into(), status });
    }
    response.body_mut().with_config().limit(MAX_BODY).read_to_vec().map_err(transport)
}
