//! Tests that bring their own database (dev-only, never published): one
//! throwaway PostgreSQL cluster per test binary, started from the machine's
//! binaries on first use, with a fresh database per test
//! ([`Cluster::fresh_database`], [`Cluster::fresh_database_url`]) or, where a
//! test needs no database-wide features (wake-up channels, its own
//! migration lock), a fresh schema in a shared one
//! ([`Cluster::fresh_schema_url`]): about 5 ms instead of 100 to 300 ms
//! for `CREATE DATABASE`, which made the model test the slowest part.
//!
//! - **Binaries**: `SIGNAL_OUTBOX_PG_BIN`, else the newest
//!   `/usr/lib/postgresql/*/bin`, else the directory of the `initdb` on
//!   `PATH`. Without them each test prints
//!   `SKIPPED: PostgreSQL binaries not found ...` on standard error and
//!   returns; with `SIGNAL_OUTBOX_REQUIRE_POSTGRES=1` (CI) it fails instead.
//! - **As root**, initdb and the server run as the `postgres` user, in a
//!   temporary directory chowned to it (temporary directories are
//!   root-owned 0700).
//! - **Ports**: a free port is picked by binding port 0; if the server
//!   still loses the race for it ("could not bind"), the next try takes
//!   another port.
//! - **Cleanup, also on panic**: the server runs under `setpriv
//!   --pdeathsig TERM` inside a small shell guard, started by a thread that
//!   lives as long as the test process. When the process ends, however it
//!   ends (tests passed, a test panicked, the binary was killed), the
//!   kernel signals the guard, which stops the server (immediate shutdown,
//!   SIGQUIT: the data is thrown away, so nothing needs flushing) and
//!   deletes its directory: no postgres process is left behind.
//! - **TLS** is on, with a CA and a server certificate for `localhost`
//!   generated at start (`rcgen`), so the TLS tests need no files.
//! - **Durability is off** (`fsync=off`, `synchronous_commit=off`,
//!   `full_page_writes=off`): the data is thrown away anyway, and the tests
//!   are about behaviour, not speed. A benchmark that compares durable
//!   paths asks for [`durable_cluster`] instead, which keeps PostgreSQL's
//!   defaults (every commit flushed to disk).
//! - **Restarts** ([`Cluster::restart`]): a fast shutdown (`pg_ctl stop -m
//!   fast`), a chosen time down, and the same server again on the same port
//!   and data, for tests of what survives a database restart.
//!
//! ```no_run
//! # async fn demo() {
//! let Some(cluster) = test_postgres::cluster_or_skip("my_test") else {
//!     return; // SKIPPED was printed; with SIGNAL_OUTBOX_REQUIRE_POSTGRES=1 it panics instead
//! };
//! let url = cluster.fresh_database_url().await;
//! assert!(url.starts_with("postgres://postgres@127.0.0.1:"));
//! # }
//! ```

// A test harness: a set-up that cannot work fails the test that asked for
// it, with the reason, which is what a panic in a test is for.
#![allow(clippy::expect_used, clippy::panic)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The running cluster of this test binary.
#[derive(Debug)]
pub struct Cluster {
    /// The port on 127.0.0.1 (kept across [`Cluster::restart`]).
    pub port: u16,
    /// The cluster's directory: data, sockets, certificates, logs.
    pub dir: PathBuf,
    /// PEM of the CA that signed the server's certificate (for `localhost`).
    pub ca_pem: String,
    /// Where `ca_pem` is stored, readable by the tests.
    pub ca_file: PathBuf,
    /// Whether commits are flushed to disk ([`durable_cluster`]).
    pub durable: bool,
    bin: PathBuf,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
/// Set by [`durable_cluster`] before the cluster starts.
static DURABLE: AtomicBool = AtomicBool::new(false);
static DATABASES: AtomicU32 = AtomicU32::new(0);

/// Where the PostgreSQL binaries are, if anywhere.
fn find_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SIGNAL_OUTBOX_PG_BIN") {
        return Some(PathBuf::from(dir)).filter(|d| d.join("initdb").is_file());
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).or_else(bin_on_path)
}

/// The directory of the `initdb` on `PATH` (symbolic links followed, so
/// `/usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb` finds the
/// `postgres` beside it).
fn bin_on_path() -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .filter_map(|dir| std::fs::canonicalize(dir.join("initdb")).ok())
        .filter_map(|initdb| initdb.parent().map(Path::to_path_buf))
        .find(|bin| bin.join("postgres").is_file())
}

/// Why the PostgreSQL tests cannot run here, or `None`. Panics instead when
/// `SIGNAL_OUTBOX_REQUIRE_POSTGRES=1`.
pub fn skip_reason() -> Option<String> {
    if find_bin().is_some() {
        return None;
    }
    let reason = "PostgreSQL binaries not found (looked in SIGNAL_OUTBOX_PG_BIN, \
                  /usr/lib/postgresql/*/bin and PATH); install the Debian package `postgresql` \
                  (apt-get update && apt-get install postgresql) to run these tests"
        .to_owned();
    if std::env::var("SIGNAL_OUTBOX_REQUIRE_POSTGRES").as_deref() == Ok("1") {
        panic!("{reason}, and SIGNAL_OUTBOX_REQUIRE_POSTGRES=1 makes that a failure");
    }
    Some(reason)
}

/// The cluster, or `None` after printing why the test is skipped.
pub fn cluster_or_skip(test: &str) -> Option<&'static Cluster> {
    if let Some(reason) = skip_reason() {
        eprintln!("SKIPPED: {test}: {reason}");
        return None;
    }
    Some(cluster())
}

/// The cluster with PostgreSQL's default durability (`fsync`,
/// `synchronous_commit` and `full_page_writes` on), for benchmarks that
/// compare durable paths. Panics if this process already started the
/// ordinary, non-durable cluster.
pub fn durable_cluster() -> &'static Cluster {
    DURABLE.store(true, Ordering::SeqCst);
    let cluster = cluster();
    assert!(
        cluster.durable,
        "the test cluster was started without durability before durable_cluster() was called"
    );
    cluster
}

/// The cluster, started on first use (panics if it cannot start).
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| {
        let started = Instant::now();
        let cluster = start().unwrap_or_else(|e| panic!("cannot start the test cluster: {e}"));
        eprintln!(
            "test cluster on 127.0.0.1:{} in {} ms ({})",
            cluster.port,
            started.elapsed().as_millis(),
            cluster.dir.display()
        );
        cluster
    })
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn id_of(flag: &str, user: &str) -> Result<u32, String> {
    let out = Command::new("id")
        .args([flag, user])
        .output()
        .map_err(|e| e.to_string())?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| format!("no user {user} to run PostgreSQL as (root may not run it)"))
}

/// Runs `program args` as the cluster's owner.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn certificates(dir: &Path) -> Result<String, String> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let err = |e: rcgen::Error| e.to_string();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "signal-outbox test CA");
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(err)?).map_err(err)?;
    let mut server_params = CertificateParams::new(vec!["localhost".to_owned()]).map_err(err)?;
    server_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let server_key = KeyPair::generate().map_err(err)?;
    let server = server_params.signed_by(&server_key, &ca).map_err(err)?;
    write_private(&dir.join("server.crt"), &server.pem())?;
    write_private(&dir.join("server.key"), &server_key.serialize_pem())?;
    Ok(ca.pem())
}

fn write_private(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| e.to_string())
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> Result<(), String> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .map_err(|e| format!("chown {}: {e}", path.display()))?;
    if path.is_dir() {
        for entry in std::fs::read_dir(path).map_err(|e| e.to_string())? {
            chown_tree(&entry.map_err(|e| e.to_string())?.path(), uid, gid)?;
        }
    }
    Ok(())
}

const HBA: &str = "\
local all all trust
host all pwuser 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
";

fn start() -> Result<Cluster, String> {
    let bin = find_bin().ok_or("no PostgreSQL binaries")?;
    let dir = tempfile::Builder::new()
        .prefix("signal-outbox-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    let data = dir.join("data");
    let ca_pem = certificates(&dir)?;
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).map_err(|e| e.to_string())?;
    if is_root() {
        chown_tree(&dir, id_of("-u", "postgres")?, id_of("-g", "postgres")?)?;
    }
    let out = as_owner(&bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .output()
        .map_err(|e| format!("initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // Written by the owner: root's file would not be readable after chown.
    let hba = dir.join("pg_hba.conf");
    std::fs::write(&hba, HBA).map_err(|e| e.to_string())?;
    if is_root() {
        chown_tree(&hba, id_of("-u", "postgres")?, id_of("-g", "postgres")?)?;
    }
    let durable = DURABLE.load(Ordering::SeqCst);
    let mut last = String::new();
    for _ in 0..10 {
        let port = free_port()?;
        match run_server(&bin, &dir, port, durable) {
            Ok(()) => {
                return Ok(Cluster {
                    port,
                    dir,
                    ca_pem,
                    ca_file,
                    durable,
                    bin,
                });
            }
            Err(Retry::Port(log)) => last = log,
            Err(Retry::Fatal(e)) => return Err(e),
        }
    }
    Err(format!("no free port after 10 tries; last log: {last}"))
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

enum Retry {
    Port(String),
    Fatal(String),
}

/// The guard: stops the server and deletes the directory when the test
/// process (the parent of `setpriv`) ends.
const GUARD: &str = r#"
cleanup() { kill -QUIT "$pid" 2>/dev/null; wait "$pid"; rm -rf "$DIR"; exit 0; }
trap cleanup TERM INT HUP
while :; do
    "$BIN/postgres" -D "$DIR/data" -p "$PORT" -k "$DIR" -c listen_addresses=127.0.0.1 \
        -c hba_file="$DIR/pg_hba.conf" -c fsync="$FSYNC" -c synchronous_commit="$FSYNC" \
        -c full_page_writes="$FSYNC" -c max_connections=400 -c ssl=on \
        -c ssl_cert_file="$DIR/server.crt" -c ssl_key_file="$DIR/server.key" \
        -c log_min_messages=warning >> "$DIR/log-$PORT" 2>&1 &
    pid=$!
    wait "$pid"
    # A restart asked for by Cluster::restart: down for the time it wrote.
    [ -f "$DIR/restart" ] || break
    sleep "$(cat "$DIR/restart")"
    rm -f "$DIR/restart"
done
"#;

fn run_server(bin: &Path, dir: &Path, port: u16, durable: bool) -> Result<(), Retry> {
    let mut command = Command::new("setpriv");
    if is_root() {
        command.args(["--reuid=postgres", "--regid=postgres", "--init-groups"]);
    }
    command
        .args(["--pdeathsig=TERM", "--", "sh", "-c", GUARD])
        .env("BIN", bin)
        .env("DIR", dir)
        .env("PORT", port.to_string())
        .env("FSYNC", if durable { "on" } else { "off" })
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let (tx, rx) = mpsc::channel::<Result<(), String>>();
    // The parent of the guard: it must live as long as the process, since
    // the death signal fires when the *thread* that forked the child ends.
    std::thread::Builder::new()
        .name(format!("postgres-{port}"))
        .spawn(move || match command.spawn() {
            Ok(mut child) => {
                let _ = tx.send(Ok(()));
                let _ = child.wait();
                let _ = tx.send(Err("exited".to_owned()));
                loop {
                    std::thread::park();
                }
            }
            Err(e) => {
                let _ = tx.send(Err(format!("cannot run setpriv: {e}")));
            }
        })
        .map_err(|e| Retry::Fatal(e.to_string()))?;
    match rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(Retry::Fatal(e)),
        Err(_) => return Err(Retry::Fatal("the server thread died".to_owned())),
    }
    let log = dir.join(format!("log-{port}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("ready to accept connections") {
            return Ok(());
        }
        if let Ok(Err(_)) = rx.try_recv() {
            return if text.contains("could not bind") || text.contains("already in use") {
                Err(Retry::Port(text))
            } else {
                Err(Retry::Fatal(format!("the server exited: {text}")))
            };
        }
        if Instant::now() > deadline {
            return Err(Retry::Fatal(format!(
                "the server did not start within 60 s: {text}"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Cluster {
    /// A plain (no TLS) URL of `database` as the superuser.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    /// A client on the `postgres` database, for set-up statements.
    pub async fn admin(&self, database: &str) -> tokio_postgres::Client {
        let (client, connection) =
            tokio_postgres::connect(&self.url(database), tokio_postgres::NoTls)
                .await
                .expect("connect to the test cluster");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }

    /// A URL of a new empty database (its own wake-up channels, its own
    /// migration lock): what a subprocess test hands to `OUTBOX_URL`.
    pub async fn fresh_database_url(&self) -> String {
        self.url(&self.fresh_database().await)
    }

    /// A new empty database; returns its name.
    pub async fn fresh_database(&self) -> String {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::SeqCst)
        );
        self.admin("postgres")
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create a test database");
        name
    }

    /// A URL of a new empty schema (first on the `search_path`) in one
    /// database shared by the tests of this binary: cheaper than a
    /// database per test.
    pub async fn fresh_schema_url(&self) -> String {
        static SHARED: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
        let db = SHARED.get_or_init(|| self.fresh_database()).await;
        let schema = format!("s{}", DATABASES.fetch_add(1, Ordering::SeqCst));
        self.admin(db)
            .await
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("create a test schema");
        format!("{}&options=-c%20search_path%3D{schema}", self.url(db))
    }

    /// The binaries' directory.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// Restarts the server: a fast shutdown (`pg_ctl stop -m fast`:
    /// sessions are disconnected, open transactions roll back), `down`
    /// with nothing listening, then the same data on the same port; returns
    /// once it accepts connections again. Blocking: call it from
    /// `spawn_blocking` inside a runtime.
    ///
    /// Not `pg_ctl restart`: that would start a server outside the guard,
    /// which then could no longer stop it when the test process ends.
    ///
    /// # Errors
    /// Why the server did not stop or did not come back within 60 s.
    pub fn restart(&self, down: Duration) -> Result<(), String> {
        let log = self.dir.join(format!("log-{}", self.port));
        let ready = |text: &str| text.matches("ready to accept connections").count();
        let before = ready(&std::fs::read_to_string(&log).unwrap_or_default());
        let marker = self.dir.join("restart");
        std::fs::write(&marker, format!("{:.3}", down.as_secs_f64()))
            .map_err(|e| format!("{}: {e}", marker.display()))?;
        let out = as_owner(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["stop", "-m", "fast", "-w"])
            .output()
            .map_err(|e| format!("pg_ctl: {e}"))?;
        if !out.status.success() {
            let _ = std::fs::remove_file(&marker);
            return Err(format!(
                "pg_ctl stop failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let deadline = Instant::now() + down + Duration::from_secs(60);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if ready(&text) > before {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("the server did not come back: {text}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Environment lookups that see nothing: tests must not read the
/// developer's `PG*` variables or `~/.pgpass`.
pub fn no_env(_: &str) -> Option<String> {
    None
}
