// SPDX-License-Identifier: Apache-2.0
//! A real MariaDB server for the import tests: `mariadb-install-db` into a temp
//! datadir, then `mariadbd` on a free loopback port and a private socket, stopped
//! (TERM, then KILL) when dropped, also on panic.
//!
//! The binaries come from Debian's `mariadb-server-core` (the server without the
//! service scripts, so installing it starts nothing on the host); `tests/setup.sh`
//! installs it. Missing binaries skip the test with a message, except in CI.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

const SERVER: &str = "/usr/sbin/mariadbd";
const INSTALL_DB: &str = "/usr/bin/mariadb-install-db";

/// A running server; root has no password on it (it listens on 127.0.0.1 only).
pub struct MariaDb {
    dir: tempfile::TempDir,
    child: Child,
    /// The TCP port on 127.0.0.1.
    pub port: u16,
}

impl MariaDb {
    /// Start a server. `None` when MariaDB is not installed and `CI` is not set.
    pub async fn start() -> Option<MariaDb> {
        if !Path::new(SERVER).exists() || !Path::new(INSTALL_DB).exists() {
            let why = format!(
                "{SERVER} / {INSTALL_DB} missing: tests/setup.sh installs mariadb-server-core and mariadb-client-core"
            );
            if std::env::var_os("CI").is_some() {
                panic!("{why}");
            }
            eprintln!("SKIPPED (not in CI): {why}");
            return None;
        }
        let dir = tempfile::Builder::new().prefix("multinic-mariadb-").tempdir().expect("temp dir");
        let data = dir.path().join("data");
        // Its own tmpdir: a server starting up removes `#sql*` files it finds there,
        // which would be another test's server's temporary tables.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).expect("tmpdir");
        let out = Command::new(INSTALL_DB)
            .args(["--no-defaults", "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"])
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .output()
            .expect("run mariadb-install-db");
        assert!(out.status.success(), "mariadb-install-db: {}", String::from_utf8_lossy(&out.stderr));
        let port = free_port();
        let log = dir.path().join("error.log");
        let child = Command::new(SERVER)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .arg(format!("--socket={}", dir.path().join("mysqld.sock").display()))
            .arg(format!("--pid-file={}", dir.path().join("mysqld.pid").display()))
            .arg(format!("--log-error={}", log.display()))
            .arg(format!("--port={port}"))
            .args(["--bind-address=127.0.0.1", "--user=root", "--skip-log-bin", "--innodb-buffer-pool-size=16M"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        let mut db = MariaDb { dir, child, port };
        db.wait_ready(&log).await;
        Some(db)
    }

    async fn wait_ready(&mut self, log: &PathBuf) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("mariadbd exited ({status}): {}", std::fs::read_to_string(log).unwrap_or_default());
            }
            if let Ok(conn) = mysql_async::Conn::new(mysql_async::Opts::from_url(&self.root_url()).unwrap()).await {
                let _ = conn.disconnect().await;
                return;
            }
            assert!(
                Instant::now() < deadline,
                "mariadbd not ready: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn root_url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/mysql", self.port)
    }

    /// `mysql://USER@127.0.0.1:PORT/DB`, what a user passes to `--from-db`.
    pub fn url(&self, user: &str, db: &str) -> String {
        format!("mysql://{user}@127.0.0.1:{}/{db}", self.port)
    }

    /// Run statements (several, `;`-separated, comments allowed) as root.
    pub async fn exec(&self, sql: &str) {
        let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(&self.root_url()).unwrap()).await.unwrap();
        conn.query_drop(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = conn.disconnect().await;
    }

    /// The server's datadir and logs (for a failing test's message).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}
