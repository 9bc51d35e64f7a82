//! Which scheme a host is spoken to with, and the HTTP agent. https
//! always; plain http only for loopback hosts and hosts listed insecure,
//! and then only after https failed to connect (as docker does). Decided
//! before anything is sent, so a refused host is never contacted.

use std::net::IpAddr;
use std::time::Duration;

use ureq::Agent;
use ureq::config::RedirectAuthHeaders;

/// The endpoint a registry host is reached at: Docker Hub's API is not on
/// `docker.io` itself.
pub fn endpoint(host: &str) -> &str {
    if host == "docker.io" { "registry-1.docker.io" } else { host }
}

/// Whether plain http may be used for `host` (`name[:port]`, `[v6]:port`).
pub fn plain_http_allowed(host: &str, insecure: &[String]) -> bool {
    let name = hostname(host);
    let loopback = name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    loopback || insecure.iter().any(|i| i == host || i == name)
}

/// `host` without its port or brackets.
pub fn hostname(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The authority of a URL (`scheme://AUTHORITY/…`), without user info.
pub fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let auth = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    auth.rsplit_once('@').map_or(auth, |(_, h)| h)
}

/// Bounded in every way: connect 10 s, 60 s without a byte, at most 5
/// redirects (Authorization kept only to the same https host), status
/// codes returned rather than raised (401 drives authentication).
pub fn agent() -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .timeout_resolve(Some(Duration::from_secs(10)))
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_send_request(Some(Duration::from_secs(60)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .max_redirects(5)
        .redirect_auth_headers(RedirectAuthHeaders::SameHost)
        .max_response_header_size(64 * 1024)
        .user_agent(concat!("sandbox/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_and_listed_hosts() {
        let listed = ["reg.lan:5000".to_owned(), "other.lan".to_owned()];
        for ok in ["127.0.0.1:5000", "127.3.4.5", "localhost:80", "[::1]:5000", "reg.lan:5000", "other.lan:1"]
        {
            assert!(plain_http_allowed(ok, &listed), "{ok}");
        }
        for refused in ["10.255.255.1:5000", "reg.lan:5001", "localhost.evil.io", "[::2]:5000", "docker.io"] {
            assert!(!plain_http_allowed(refused, &listed), "{refused}");
        }
        assert_eq!(authority("http://u:p@10.0.0.1:80/token?x=1"), "10.0.0.1:80");
        assert_eq!(endpoint("docker.io"), "registry-1.docker.io");
    }
}
