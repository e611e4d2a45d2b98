//! The optional external CRM lookup of the screen pop (`[crm]`): when a
//! call is queued, the CRM is asked for the caller's record by HTTP `GET`
//! (the `url` template with `{caller}` filled in), with a bearer token if
//! one is set, and what it answers travels in the pop as `crm`.
//!
//! The CRM's answer never holds a caller up for longer than `timeout_ms`:
//! it runs beside the interaction-history query, and a CRM that is slow,
//! down or answering nonsense leaves a `crm` that says so (`timeout`,
//! `failed`) and the pop goes without it. The request goes through the
//! IVR's HTTP client ([`Dipper`]: pooled connections, no redirects).

use std::time::Duration;

use serde_json::{json, Value};
use tracing::warn;

use crate::config::CrmConfig;
use crate::ivr::dip::Dipper;
use crate::ivr::flow::HttpMethod;
use crate::ivr::run::{percent_encode, LookupRequest, LookupResult};

/// Asks the configured CRM for callers' records.
#[derive(Clone, Debug)]
pub struct Crm {
    url: String,
    timeout: Duration,
    token: Option<crate::config::Secret>,
    client: Dipper,
}

impl Crm {
    /// `None` when no `crm.url` is configured.
    pub fn new(config: &CrmConfig, client: Dipper) -> Option<Crm> {
        let url = config.url.clone()?;
        Some(Crm {
            url,
            timeout: Duration::from_millis(config.timeout_ms),
            token: config.token.clone(),
            client,
        })
    }

    /// The pop's `crm` member for `caller`: `{"status": "found", "record":
    /// …}`, or `not_found`, `failed` (with `reason`), `timeout`.
    pub async fn lookup(&self, caller: &str) -> Value {
        let url = self.url.replace("{caller}", &percent_encode(caller));
        let headers = self
            .token
            .iter()
            .map(|t| ("authorization".to_owned(), format!("Bearer {}", t.expose())))
            .collect();
        let request = LookupRequest::Http {
            method: HttpMethod::Get,
            url,
            headers,
            body: None,
            timeout_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
        };
        // The client's own timeout bounds the request; this one bounds
        // everything around it too (name resolution included).
        match tokio::time::timeout(self.timeout, self.client.dip(&request)).await {
            Ok(LookupResult::Found(record)) => json!({ "status": "found", "record": record }),
            Ok(LookupResult::NotFound) => json!({ "status": "not_found" }),
            Ok(LookupResult::Failed(reason)) if reason.starts_with("no answer in") => {
                warn!(%reason, "the CRM did not answer in time: the pop goes without it");
                json!({ "status": "timeout" })
            }
            Ok(LookupResult::Failed(reason)) => {
                warn!(%reason, "the CRM lookup failed: the pop goes without it");
                json!({ "status": "failed", "reason": reason })
            }
            Err(_) => {
                warn!("the CRM did not answer in time: the pop goes without it");
                json!({ "status": "timeout" })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::percent_encode;

    #[test]
    fn a_plus_in_the_number_survives_the_query_string() {
        assert_eq!(percent_encode("+819012345678"), "%2B819012345678");
    }
}
