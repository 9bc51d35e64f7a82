//! The registry client against real servers on loopback: Debian's
//! docker-registry (plain and htpasswd), images built with umoci and pushed
//! with skopeo, and a few lines of fake HTTP for what a real registry will
//! not do (lie about a digest, send us to a plain-http token service).
//! Nothing leaves the machine. Without the tools a test says why and
//! passes, unless `SANDBOX_MUST_WORK` is set.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::registry::{Registry, run};

use base64::Engine as _;
use sandbox::image::digest::{Digest, Hashing};
use sandbox::image::reference::RegistryRef;
use sandbox::image::registry::{Client, Options};

const TOOLS: [&str; 4] = ["docker-registry", "skopeo", "umoci", "htpasswd"];

/// Whether the tools are here; panics if not and they must be.
fn have_tools(test: &str) -> bool {
    let missing: Vec<&str> = TOOLS
        .into_iter()
        .filter(|t| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .stdout(Stdio::null())
                .status()
                .unwrap()
                .success()
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("SANDBOX_MUST_WORK").is_none(),
        "{test}: {} missing and SANDBOX_MUST_WORK is set",
        missing.join(", ")
    );
    println!("skipping {test}: {} not installed (scripts/test.sh installs them)", missing.join(", "));
    false
}

impl Registry {
    /// Build an image with umoci (busybox in it when `layer`), push it as
    /// `test/img:TAG`; its manifest's raw bytes as the registry has them.
    fn push(&self, tag: &str, layer: bool, creds: Option<&str>) -> Vec<u8> {
        let layout = self.dir.path().join(format!("layout-{tag}"));
        let image = format!("{}:{tag}", layout.display());
        run(Command::new("umoci").args(["init", "--layout"]).arg(&layout));
        run(Command::new("umoci").args(["new", "--image", &image]));
        if layer {
            run(Command::new("umoci").args(["insert", "--image", &image, "/bin/busybox", "/bin/busybox"]));
        }
        let dest = format!("docker://{}/test/img:{tag}", self.host);
        let mut copy = Command::new("skopeo");
        copy.args(["--insecure-policy", "copy", "--dest-tls-verify=false", &format!("oci:{image}"), &dest]);
        if let Some(c) = creds {
            copy.args(["--dest-creds", c]);
        }
        run(&mut copy);
        let mut inspect = Command::new("skopeo");
        inspect.args(["inspect", "--tls-verify=false", "--raw", &dest]);
        if let Some(c) = creds {
            inspect.args(["--creds", c]);
        }
        run(&mut inspect)
    }

    fn reference(&self, tag: &str) -> RegistryRef {
        RegistryRef { host: self.host.clone(), repo: "test/img".into(), tag: Some(tag.into()), digest: None }
    }
}

fn no_auth() -> Options {
    Options { insecure: Vec::new(), auth_files: Vec::new() }
}

/// Every blob the manifest names streams and hashes to its digest.
fn check_blobs(client: &mut Client, manifest: &[u8]) -> usize {
    let json: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    let mut blobs = vec![json["config"].clone()];
    blobs.extend(json["layers"].as_array().unwrap().iter().cloned());
    for blob in &blobs {
        let digest = Digest::parse(blob["digest"].as_str().unwrap(), "test").unwrap();
        let size = blob["size"].as_u64().unwrap();
        let mut hashing = Hashing::new(client.blob(&digest).unwrap(), size);
        hashing.drain().unwrap();
        assert_eq!(hashing.verify(&digest, "blob").unwrap(), size);
    }
    blobs.len()
}

#[test]
fn pulls_a_manifest_and_its_blobs() {
    if !have_tools("pulls_a_manifest_and_its_blobs") {
        return;
    }
    let registry = Registry::start(None);
    let raw = registry.push("t", true, None);
    let mut client = Client::new(&registry.reference("t"), &no_auth()).unwrap();
    let manifest = client.manifest().unwrap();
    assert_eq!(manifest.digest, Digest::of(&raw));
    assert_eq!((manifest.bytes.as_slice(), manifest.index.as_ref()), (raw.as_slice(), None));
    assert_eq!(check_blobs(&mut client, &manifest.bytes), 2, "config and one layer");

    let pinned = RegistryRef { digest: Some(manifest.digest.clone()), tag: None, ..registry.reference("t") };
    assert_eq!(Client::new(&pinned, &no_auth()).unwrap().manifest().unwrap().digest, manifest.digest);
    let wrong = RegistryRef { digest: Some(Digest::of(b"other")), ..pinned };
    assert!(Client::new(&wrong, &no_auth()).unwrap().manifest().is_err());
    let missing = Client::new(&registry.reference("nope"), &no_auth()).unwrap().manifest().unwrap_err();
    assert!(missing.to_string().contains("404"), "{missing}");
}

/// A manifest list (arm64 first) resolves to the amd64 entry.
#[test]
fn an_index_resolves_to_this_platform() {
    if !have_tools("an_index_resolves_to_this_platform") || std::env::consts::ARCH != "x86_64" {
        return;
    }
    let registry = Registry::start(None);
    let amd64 = registry.push("amd", true, None);
    let arm64 = registry.push("arm", false, None);
    let entry = |raw: &[u8], arch: &str| {
        format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"platform":{{"architecture":"{arch}","os":"linux"}}}}"#,
            Digest::of(raw),
            raw.len()
        )
    };
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{},{}]}}"#,
        entry(&arm64, "arm64"),
        entry(&amd64, "amd64")
    );
    let put = ureq::put(format!("http://{}/v2/test/img/manifests/multi", registry.host))
        .header("Content-Type", "application/vnd.oci.image.index.v1+json")
        .send(index.as_bytes())
        .unwrap();
    assert_eq!(put.status(), 201);
    let manifest = Client::new(&registry.reference("multi"), &no_auth()).unwrap().manifest().unwrap();
    assert_eq!(manifest.digest, Digest::of(&amd64));
    assert_eq!(manifest.bytes, amd64);
    assert_eq!(manifest.index, Some(Digest::of(index.as_bytes())));
}

fn auth_file(dir: &Path, host: &str, creds: &str) -> PathBuf {
    let file = dir.join(format!("auth-{}.json", creds.len()));
    let auth = base64::engine::general_purpose::STANDARD.encode(creds);
    std::fs::write(&file, format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#)).unwrap();
    file
}

#[test]
fn authenticates_with_an_auth_file() {
    if !have_tools("authenticates_with_an_auth_file") {
        return;
    }
    let registry = Registry::start(Some(("user", "s3cret-pass")));
    let raw = registry.push("t", true, Some("user:s3cret-pass"));
    let reference = registry.reference("t");
    let good = auth_file(registry.dir.path(), &registry.host, "user:s3cret-pass");
    let opts =
        Options { insecure: Vec::new(), auth_files: vec![registry.dir.path().join("none.json"), good] };
    let mut client = Client::new(&reference, &opts).unwrap();
    let manifest = client.manifest().unwrap();
    assert_eq!(manifest.digest, Digest::of(&raw));
    check_blobs(&mut client, &manifest.bytes);

    let bad = auth_file(registry.dir.path(), &registry.host, "user:wrong-password");
    for opts in [no_auth(), Options { insecure: Vec::new(), auth_files: vec![bad] }] {
        let err = Client::new(&reference, &opts).unwrap().manifest().unwrap_err().to_string();
        assert!(err.contains(&registry.host) && err.contains("login"), "{err}");
        assert!(!err.contains("wrong-password") && !err.contains("s3cret"), "{err}");
    }
}

/// A one-connection-at-a-time HTTP server on loopback answering every
/// plain request with `answer`; TLS hellos are hung up on (so the client
/// falls back to http, as for a registry without TLS).
fn fake_server(answer: Vec<u8>, connections: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(mut stream) = stream else { continue };
            let _ = serve_one(&mut stream, &answer);
        }
    });
    host
}

fn serve_one(stream: &mut TcpStream, answer: &[u8]) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while !request.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 || (request.is_empty() && byte[0] == 0x16) {
            return Ok(());
        }
        request.push(byte[0]);
    }
    stream.write_all(answer)
}

fn fake_ref(host: &str, digest: Option<Digest>) -> RegistryRef {
    RegistryRef {
        host: host.to_owned(),
        repo: "a/b".into(),
        tag: digest.is_none().then(|| "t".into()),
        digest,
    }
}

#[test]
fn manifests_are_verified_and_bounded() {
    let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#;
    let answer = |extra: &str, body: &[u8]| {
        let mut a =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n", body.len())
                .into_bytes();
        a.extend_from_slice(body);
        a
    };
    let host = fake_server(answer("", body), 20);
    let ok = Client::new(&fake_ref(&host, None), &no_auth()).unwrap().manifest().unwrap();
    assert_eq!(ok.digest, Digest::of(body));
    let err =
        Client::new(&fake_ref(&host, Some(Digest::of(b"x"))), &no_auth()).unwrap().manifest().unwrap_err();
    assert!(err.to_string().contains("verify the manifest"), "{err}");

    let lying = fake_server(answer(&format!("Docker-Content-Digest: {}\r\n", Digest::of(b"y")), body), 4);
    let err = Client::new(&fake_ref(&lying, None), &no_auth()).unwrap().manifest().unwrap_err();
    assert!(err.to_string().contains("verify the manifest"), "{err}");

    let huge = fake_server(answer("", &vec![b' '; 5 << 20]), 4);
    let err = Client::new(&fake_ref(&huge, None), &no_auth()).unwrap().manifest().unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
}

/// A token service on plain http at a host not allowed plain http is
/// refused before anything is sent there (10.255.255.1 is never contacted:
/// the error comes at once, not after a connect timeout).
#[test]
fn plain_http_elsewhere_is_refused_without_connecting() {
    let challenge = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://10.255.255.1/token\",service=\"x\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let host = fake_server(challenge.as_bytes().to_vec(), 4);
    let start = Instant::now();
    let err = Client::new(&fake_ref(&host, None), &no_auth()).unwrap().manifest().unwrap_err().to_string();
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
    assert!(err.contains("10.255.255.1") && err.contains("nothing was sent"), "{err}");
}
