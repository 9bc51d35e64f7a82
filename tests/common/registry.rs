//! A docker-registry on loopback for tests (Debian's, 2.8): plain or with
//! htpasswd basic auth, in a temp dir, killed and removed on drop.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A docker-registry on 127.0.0.1, killed (and its files removed) on drop.
pub struct Registry {
    child: Child,
    pub host: String,
    pub dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// With `user`: htpasswd auth for that user and password.
    pub fn start(user: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some((u, p)) = user {
            let line = run(Command::new("htpasswd").args(["-Bbn", u, p]));
            std::fs::write(dir.path().join("htpasswd"), line).unwrap();
            let path = dir.path().join("htpasswd");
            writeln!(config, "auth:\n  htpasswd:\n    realm: test\n    path: {}", path.display()).unwrap();
        }
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("log")).unwrap())
            .spawn()
            .unwrap();
        let registry = Registry { child, host: format!("127.0.0.1:{port}"), dir };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if ureq::get(format!("http://{}/v2/", self.host))
                .config()
                .http_status_as_error(false)
                .build()
                .call()
                .is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "docker-registry did not answer: {}",
            std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
        );
    }
}
