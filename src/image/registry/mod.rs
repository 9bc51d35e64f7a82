//! A small blocking client of the OCI distribution API: the manifest for
//! this machine and blobs, from one registry repository. Only `docker://`
//! sources construct one, so `sandbox run` of anything else never loads
//! the TLS stack. Every body read into memory is size-limited, every
//! manifest verified against every digest that names it.

mod auth;
mod manifest;
mod options;
mod transport;

use std::io::Read;
use std::path::PathBuf;

use ureq::http::Response;
use ureq::{Agent, Body};

use super::digest::Digest;
use super::reference::RegistryRef;
use crate::error::{Result, SetupError};
use manifest::Kind;

/// Manifests and indexes larger than this are refused.
const MANIFEST_LIMIT: u64 = 4 << 20;
/// Token responses larger than this are refused.
const TOKEN_LIMIT: u64 = 64 << 10;

/// Settings beyond the reference: see [`Options::from_env`].
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Hosts (`name` or `name:port`) allowed plain http besides loopback.
    pub insecure: Vec<String>,
    /// auth.json / docker config.json files, in priority order.
    pub auth_files: Vec<PathBuf>,
}

/// One registry repository; remembers the scheme that worked and the
/// Authorization it was granted.
pub struct Client {
    agent: Agent,
    reference: RegistryRef,
    opts: Options,
    /// `https`, or `http` once https failed on a host allowed plain http.
    scheme: &'static str,
    authorization: Option<String>,
}

/// An image manifest, verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Of the image manifest's bytes.
    pub digest: Digest,
    pub bytes: Vec<u8>,
    /// The index (or docker manifest list) it was chosen from, if any.
    pub index: Option<Digest>,
}

impl Client {
    /// Sends nothing: the first request connects.
    pub fn new(r: &RegistryRef, opts: &Options) -> Result<Client> {
        Ok(Client {
            agent: transport::agent(),
            reference: r.clone(),
            opts: opts.clone(),
            scheme: "https",
            authorization: None,
        })
    }

    /// The image manifest for linux on this machine's architecture: an
    /// index is resolved to its entry; every manifest's bytes are checked
    /// against the pinned digest, the index entry's and the
    /// `Docker-Content-Digest` the registry sent.
    pub fn manifest(&mut self) -> Result<Manifest> {
        let first = self.reference.reference();
        let (bytes, kind) = self.fetch_manifest(&first, self.reference.digest.clone())?;
        if kind == Kind::Image {
            return Ok(Manifest { digest: Digest::of(&bytes), bytes, index: None });
        }
        let index = Digest::of(&bytes);
        let what = format!("the image index {}@{index}", self.name());
        let chosen = manifest::choose(&bytes, crate::image::manifest::this_arch(), &what)?;
        let (bytes, kind) = self.fetch_manifest(&chosen.to_string(), Some(chosen.clone()))?;
        if kind == Kind::Index {
            return Err(SetupError::new(format!("read the manifest {}@{chosen}", self.name()))
                .detail("an index entry names another index; only one level is followed"));
        }
        Ok(Manifest { digest: chosen, bytes, index: Some(index) })
    }

    /// A blob's bytes as they stream (redirects to storage followed); the
    /// caller hashes them with `digest::Hashing` and verifies.
    /// The reader owns its connection: it outlives this borrow of the client.
    pub fn blob(&mut self, digest: &Digest) -> Result<Box<dyn Read>> {
        let path = format!("/v2/{}/blobs/{digest}", self.reference.repo);
        let what = format!("fetch the blob {}@{digest}", self.name());
        let response = self.get(&path, None, &what)?;
        let response = self.expect_ok(response, &what)?;
        let name = what.clone();
        let reader = response.into_body().into_reader();
        Ok(Box::new(ErrorNaming { inner: reader, what: name }))
    }

    /// `HOST/REPO`, for messages.
    fn name(&self) -> String {
        format!("{}/{}", self.reference.host, self.reference.repo)
    }

    fn base(&self) -> String {
        format!("{}://{}", self.scheme, transport::endpoint(&self.reference.host))
    }

    /// A manifest's bytes and kind, verified against `pinned` and the
    /// `Docker-Content-Digest` header.
    fn fetch_manifest(&mut self, reference: &str, pinned: Option<Digest>) -> Result<(Vec<u8>, Kind)> {
        let path = format!("/v2/{}/manifests/{reference}", self.reference.repo);
        let sep = if reference.starts_with("sha256:") { "@" } else { ":" };
        let what = format!("fetch the manifest {}{sep}{reference}", self.name());
        let response = self.get(&path, Some(manifest::ACCEPT), &what)?;
        let mut response = self.expect_ok(response, &what)?;
        let header =
            |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (content_type, sent_digest) = (header("content-type"), header("docker-content-digest"));
        let bytes = read_limited(response.body_mut(), MANIFEST_LIMIT, &what)?;
        let got = Digest::of(&bytes);
        let expected = pinned.into_iter().chain(sent_digest.and_then(|d| Digest::parse(&d, "a header").ok()));
        for want in expected {
            if got != want {
                return Err(SetupError::new(format!("verify the manifest {}@{want}", self.name()))
                    .detail(format!("its content is {got}, not {want}: it was altered or the reference is wrong; nothing of it was kept"))
                    .fix("check the digest in the image reference"));
            }
        }
        let kind =
            manifest::kind(content_type.as_deref(), &bytes, &format!("the manifest {}@{got}", self.name()))?;
        Ok((bytes, kind))
    }

    /// GET `path`, authenticating once when challenged.
    fn get(&mut self, path: &str, accept: Option<&str>, what: &str) -> Result<Response<Body>> {
        let response = self.send(path, accept, what)?;
        if response.status() != 401 {
            return Ok(response);
        }
        let challenge =
            response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).map(str::to_owned);
        self.authorize(challenge.as_deref(), what)?;
        let response = self.send(path, accept, what)?;
        if response.status() == 401 {
            return Err(self.denied(what));
        }
        Ok(response)
    }

    /// One request; on a host allowed plain http, https failing to connect
    /// switches this client to http for good.
    fn send(&mut self, path: &str, accept: Option<&str>, what: &str) -> Result<Response<Body>> {
        let attempt = |client: &Client| {
            let mut request = client.agent.get(format!("{}{path}", client.base()));
            if let Some(a) = accept {
                request = request.header("Accept", a);
            }
            if let Some(a) = &client.authorization {
                request = request.header("Authorization", a);
            }
            request.call()
        };
        let url = format!("{}{path}", self.base());
        match attempt(self) {
            Ok(r) => Ok(r),
            Err(e)
                if self.scheme == "https"
                    && transport::plain_http_allowed(&self.reference.host, &self.opts.insecure) =>
            {
                self.scheme = "http";
                attempt(self).map_err(|e2| {
                    SetupError::new(format!("{what} from {url}"))
                        .detail(format!("{e}; over plain http: {e2}"))
                        .fix("check that the registry runs and the host and port are right")
                })
            }
            Err(e) => Err(connect_error(what, &url, &e, &self.reference.host)),
        }
    }

    fn expect_ok(&self, response: Response<Body>, what: &str) -> Result<Response<Body>> {
        match response.status().as_u16() {
            200 => Ok(response),
            404 => Err(SetupError::new(format!("{what} from {}", self.base()))
                .detail("the registry has no such image or blob (404)")
                .fix("check the repository name and tag")),
            401 | 403 => Err(self.denied(what)),
            code => Err(SetupError::new(format!("{what} from {}", self.base()))
                .detail(format!("the registry answered HTTP {code}"))),
        }
    }

    fn denied(&self, what: &str) -> SetupError {
        let host = &self.reference.host;
        SetupError::new(format!("{what} from {}", self.base()))
            .detail(format!("the registry {host} refused access to {}", self.reference.repo))
            .fix(format!(
                "log in with `podman login {host}` (or set REGISTRY_AUTH_FILE), and check the repository name"
            ))
    }

    /// Answer a challenge: Bearer (a token from its realm) or Basic (the
    /// auth file's credentials).
    fn authorize(&mut self, challenge: Option<&str>, what: &str) -> Result<()> {
        let host = self.reference.host.clone();
        let creds = auth::lookup(&self.opts.auth_files, &host)?;
        let parsed = challenge.and_then(auth::parse_challenge);
        match parsed {
            Some(c) if c.scheme == "bearer" => {
                let token = self.token(&c, creds.as_ref(), what)?;
                self.authorization = Some(format!("Bearer {token}"));
            }
            Some(c) if c.scheme == "basic" => {
                let creds = creds.ok_or_else(|| self.denied(what))?;
                self.authorization = Some(creds.header());
            }
            _ => {
                return Err(SetupError::new(format!("{what} from {}", self.base()))
                    .detail("the registry asks for authentication in a way sandbox does not speak (no Bearer or Basic challenge)"));
            }
        }
        Ok(())
    }

    fn token(
        &self,
        challenge: &auth::Challenge,
        creds: Option<&auth::Credentials>,
        what: &str,
    ) -> Result<String> {
        let realm = challenge.params.get("realm").map(String::as_str).unwrap_or_default();
        let step = || {
            SetupError::new(format!("get a token for {} from {}", self.name(), transport::authority(realm)))
        };
        let realm_host = transport::authority(realm);
        let plain_ok =
            realm.starts_with("http://") && transport::plain_http_allowed(realm_host, &self.opts.insecure);
        if !(realm.starts_with("https://") || plain_ok) {
            return Err(step()
                .detail(format!("to {what}, the registry sends us to authenticate at `{realm}`, which is neither https nor a host allowed plain http; nothing was sent there"))
                .fix(format!("add {realm_host} to SANDBOX_INSECURE_REGISTRIES if it is on a network you trust")));
        }
        let scope = challenge
            .params
            .get("scope")
            .cloned()
            .unwrap_or_else(|| format!("repository:{}:pull", self.reference.repo));
        let mut request = self.agent.get(realm).query("scope", &scope);
        if let Some(service) = challenge.params.get("service") {
            request = request.query("service", service);
        }
        if let Some(c) = creds {
            request = request.header("Authorization", c.header());
        }
        let mut response = request.call().map_err(|e| step().detail(e.to_string()))?;
        match response.status().as_u16() {
            200 => {}
            401 | 403 => return Err(self.denied(what)),
            code => return Err(step().detail(format!("the token service answered HTTP {code}"))),
        }
        let body = read_limited(response.body_mut(), TOKEN_LIMIT, &format!("get a token from {realm_host}"))?;
        parse_token(&body).ok_or_else(|| step().detail("its answer has no `token` or `access_token`"))
    }
}

fn parse_token(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Token {
        #[serde(default)]
        token: Option<String>,
        #[serde(default)]
        access_token: Option<String>,
    }
    let t: Token = serde_json::from_slice(body).ok()?;
    let token = t.token.filter(|t| !t.is_empty()).or(t.access_token).filter(|t| !t.is_empty())?;
    // It becomes a header value: nothing that could split or end one.
    token.bytes().all(|b| b.is_ascii_graphic()).then_some(token)
}

fn read_limited(body: &mut Body, limit: u64, what: &str) -> Result<Vec<u8>> {
    body.with_config().limit(limit).read_to_vec().map_err(|e| match e {
        ureq::Error::BodyExceedsLimit(_) => SetupError::new(what.to_owned())
            .detail(format!("the answer is larger than {limit} bytes; refused")),
        e => SetupError::new(what.to_owned()).detail(e.to_string()),
    })
}

fn connect_error(what: &str, url: &str, e: &ureq::Error, host: &str) -> SetupError {
    let err = SetupError::new(format!("{what} from {url}")).detail(e.to_string());
    if transport::plain_http_allowed(host, &[]) {
        return err.fix("check that the registry runs and the host and port are right");
    }
    err.fix(format!(
        "check the host and the network; a registry without TLS is used only if listed in SANDBOX_INSECURE_REGISTRIES or registries.conf (`{host}`)"
    ))
}

/// Read errors of a blob stream name the blob.
struct ErrorNaming<R> {
    inner: R,
    what: String,
}

impl<R: Read> Read for ErrorNaming<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", self.what)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(parse_token(br#"{"token":"abc","expires_in":60}"#).as_deref(), Some("abc"));
        assert_eq!(parse_token(br#"{"token":"","access_token":"xyz"}"#).as_deref(), Some("xyz"));
        assert_eq!(parse_token(b"{\"token\":\"a\\r\\nX: y\"}"), None);
        assert_eq!(parse_token(b"{}"), None);
    }
}
