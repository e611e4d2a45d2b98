//! HTTP data dips: the IO side of a `lookup` step with `source = "http"`.
//!
//! One shared [`reqwest::Client`] (connection pooling, TLS with the
//! webpki roots) makes the request the interpreter built
//! ([`LookupRequest::Http`]) and turns the answer into a
//! [`LookupResult`]: a 2xx JSON body is `Found`, 404 is `NotFound`,
//! anything else (another status, a body that is not JSON, a connection
//! error, the timeout) is `Failed` with the reason. The interpreter
//! enforces the step's timeout on its own clock as well, so a dip can
//! never hold a caller longer than `timeout_ms`.

use std::time::Duration;

use super::flow::HttpMethod;
use super::run::{LookupRequest, LookupResult};

/// Responses larger than this are refused (a data dip answers with a
/// small document).
const MAX_BODY: usize = 256 * 1024;

/// Makes HTTP data dips.
#[derive(Clone, Debug)]
pub struct Dipper {
    client: reqwest::Client,
}

impl Default for Dipper {
    fn default() -> Self {
        Dipper::new()
    }
}

impl Dipper {
    /// A client with no redirects followed (a data dip names its URL)
    /// and a Hibiki user agent.
    pub fn new() -> Dipper {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Hibiki/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Dipper { client }
    }

    /// Makes the request of an HTTP lookup; any other request is
    /// `Failed`.
    pub async fn dip(&self, request: &LookupRequest) -> LookupResult {
        let LookupRequest::Http {
            method,
            url,
            headers,
            body,
            timeout_ms,
        } = request
        else {
            return LookupResult::Failed("not an HTTP lookup".into());
        };
        let mut builder = match method {
            HttpMethod::Get => self.client.get(url),
            HttpMethod::Post => self.client.post(url),
        };
        builder = builder
            .timeout(Duration::from_millis(*timeout_ms))
            .header(reqwest::header::ACCEPT, "application/json");
        for (name, value) in headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(body) = body {
            builder = builder.json(body);
        }
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return LookupResult::Failed(format!("no answer in {timeout_ms} ms"))
            }
            Err(e) => return LookupResult::Failed(format!("request failed: {}", root_cause(&e))),
        };
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return LookupResult::NotFound;
        }
        if !status.is_success() {
            return LookupResult::Failed(format!("HTTP {}", status.as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY as u64)
        {
            return LookupResult::Failed("response too large".into());
        }
        let bytes = match response.bytes().await {
            Ok(b) if b.len() <= MAX_BODY => b,
            Ok(_) => return LookupResult::Failed("response too large".into()),
            Err(e) if e.is_timeout() => {
                return LookupResult::Failed(format!("no answer in {timeout_ms} ms"))
            }
            Err(e) => return LookupResult::Failed(format!("reading the response: {e}")),
        };
        match serde_json::from_slice(&bytes) {
            Ok(doc) => LookupResult::Found(doc),
            Err(e) => LookupResult::Failed(format!("the response is not JSON: {e}")),
        }
    }
}

/// The innermost error's text (reqwest wraps hyper wraps io).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTP server on 127.0.0.1 answering `response` (after
    /// `delay`), returning the request it read.
    async fn server(
        response: &'static str,
        delay: Duration,
    ) -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 8192];
            let mut request = Vec::new();
            loop {
                let n = socket.read(&mut buf).await.unwrap();
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length || n == 0 {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            tokio::time::sleep(delay).await;
            let _ = socket.write_all(response.as_bytes()).await;
            String::from_utf8_lossy(&request).to_string()
        });
        (format!("http://{addr}"), task)
    }

    fn get(url: String, timeout_ms: u64) -> LookupRequest {
        LookupRequest::Http {
            method: HttpMethod::Get,
            url,
            headers: vec![("x-api-key".into(), "k1".into())],
            body: None,
            timeout_ms,
        }
    }

    #[tokio::test]
    async fn json_is_found_404_is_not_found_500_fails() {
        let ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 28\r\nConnection: close\r\n\r\n{\"customer\":{\"tier\":\"gold\"}}";
        let (base, task) = server(ok, Duration::ZERO).await;
        let result = Dipper::new().dip(&get(format!("{base}/c?n=1"), 2000)).await;
        assert_eq!(
            result,
            LookupResult::Found(serde_json::json!({"customer": {"tier": "gold"}}))
        );
        let request = task.await.unwrap();
        assert!(request.starts_with("GET /c?n=1 HTTP/1.1\r\n"), "{request}");
        assert!(request.to_ascii_lowercase().contains("x-api-key: k1"));

        let missing = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let (base, _) = server(missing, Duration::ZERO).await;
        assert_eq!(
            Dipper::new().dip(&get(base, 2000)).await,
            LookupResult::NotFound
        );

        let broken =
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let (base, _) = server(broken, Duration::ZERO).await;
        assert_eq!(
            Dipper::new().dip(&get(base, 2000)).await,
            LookupResult::Failed("HTTP 500".into())
        );

        let not_json = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
        let (base, _) = server(not_json, Duration::ZERO).await;
        assert!(matches!(
            Dipper::new().dip(&get(base, 2000)).await,
            LookupResult::Failed(reason) if reason.starts_with("the response is not JSON")
        ));
    }

    #[tokio::test]
    async fn post_sends_the_variables_and_a_slow_server_times_out() {
        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
        let (base, task) = server(ok, Duration::ZERO).await;
        let request = LookupRequest::Http {
            method: HttpMethod::Post,
            url: base,
            headers: Vec::new(),
            body: Some(serde_json::json!({"caller": "+81312345678"})),
            timeout_ms: 2000,
        };
        assert_eq!(
            Dipper::new().dip(&request).await,
            LookupResult::Found(serde_json::json!({}))
        );
        let sent = task.await.unwrap();
        assert!(sent.starts_with("POST / HTTP/1.1"));
        assert!(sent.ends_with("{\"caller\":\"+81312345678\"}"), "{sent}");

        let (base, _) = server(ok, Duration::from_secs(5)).await;
        assert_eq!(
            Dipper::new().dip(&get(base, 200)).await,
            LookupResult::Failed("no answer in 200 ms".into())
        );

        // Nothing listens there.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        assert!(matches!(
            Dipper::new().dip(&get(url, 2000)).await,
            LookupResult::Failed(reason) if reason.starts_with("request failed")
        ));
    }
}
