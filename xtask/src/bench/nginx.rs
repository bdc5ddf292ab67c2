//! A receiver outside the process: nginx started as a child with a config of
//! our own, and `wrk` for the baseline it can serve.
//!
//! nginx runs in the foreground (`daemon off`) without a master process, so
//! the child is the one process that serves; [`Nginx`]'s `Drop` kills it,
//! on every path out of the bench, errors included. Its config, pid file,
//! error log and temp paths live in a temporary directory; nothing of the
//! system's nginx (a Debian service, `/etc/nginx`, `/var/log/nginx`) is used.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The body `wrk` posts: the e2e bench's signal.
pub(super) const BODY: &str = r#"{"id":"sig_2026_11_29_0001","instrument":"BTC-USD","side":"buy","price":101.5,"quantity":0.25,"strategy":"mean-reversion-4h"}"#;
/// Seconds of each `wrk` run.
pub(super) const WRK_SECONDS: u32 = 5;

/// The two programs, found on `PATH` (or in `/usr/sbin` for nginx, which a
/// non-root `PATH` often lacks).
#[derive(Debug, Clone)]
pub(super) struct Tools {
    pub(super) nginx: PathBuf,
    pub(super) wrk: PathBuf,
}

impl Tools {
    /// Both programs, or an error naming the missing ones and the packages.
    pub(super) fn find() -> Result<Tools, String> {
        let nginx = find_program("nginx", &["/usr/sbin", "/usr/local/sbin"]);
        let wrk = find_program("wrk", &[]);
        match (nginx, wrk) {
            (Some(nginx), Some(wrk)) => Ok(Tools { nginx, wrk }),
            (nginx, wrk) => {
                let missing: Vec<&str> = [("nginx", nginx.is_none()), ("wrk", wrk.is_none())]
                    .into_iter()
                    .filter_map(|(name, absent)| absent.then_some(name))
                    .collect();
                Err(missing_tools(&missing))
            }
        }
    }

    /// `nginx/1.22.1, wrk 4.1.0` (what the report names).
    pub(super) fn versions(&self) -> String {
        let first_line = |program: &Path, flag: &str| {
            Command::new(program)
                .arg(flag)
                .output()
                .ok()
                .and_then(|o| {
                    let text = [o.stdout, o.stderr].concat();
                    String::from_utf8_lossy(&text)
                        .lines()
                        .next()
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| "unknown version".to_owned())
        };
        let nginx = first_line(&self.nginx, "-v");
        let nginx = nginx.strip_prefix("nginx version: ").unwrap_or(&nginx);
        let wrk = first_line(&self.wrk, "-v");
        let wrk = wrk.split(" [").next().unwrap_or(&wrk);
        format!("{nginx}, {wrk}")
    }
}

pub(super) fn missing_tools(missing: &[&str]) -> String {
    format!(
        "--external needs nginx and wrk; not found: {}. On Debian they are the packages \
         nginx-light and wrk: `apt-get install -y nginx-light wrk` (as root; xtask installs \
         nothing itself). The package may start a system nginx service; the bench starts its \
         own and does not need it (`service nginx stop`).",
        missing.join(", ")
    )
}

fn find_program(name: &str, extra: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The config: one process, 127.0.0.1:`port`, 200 with the receiver's JSON
/// to every request (POSTs included), connections kept alive for as long as
/// a bench runs, everything it writes inside `dir`.
pub(super) fn config(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        "daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            default_type application/json;
            return 200 '{{\"accepted\":true}}';
        }}
    }}
}}
"
    )
}

/// nginx, running until dropped.
#[derive(Debug)]
pub(super) struct Nginx {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx on a free port and waits until it accepts connections.
    pub(super) fn start(tools: &Tools) -> Result<Nginx, String> {
        let dir = tempfile::Builder::new()
            .prefix("xtask-bench-nginx")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory for nginx: {e}"))?;
        // The kernel picks a free port; nginx binds it right after. Another
        // process could take it in between, which the wait below reports.
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("cannot find a free port: {e}"))?
            .port();
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, config(dir.path(), port))
            .map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
        let child = Command::new(&tools.nginx)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", tools.nginx.display()))?;
        let mut nginx = Nginx { child, port, dir };
        nginx.wait_ready()?;
        println!(
            "nginx listening on 127.0.0.1:{port} (config in {})",
            conf.display()
        );
        Ok(nginx)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("nginx exited ({status}): {}", self.error_log()));
            }
            if TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "nginx did not accept connections on port {} within 10 s: {}",
                    self.port,
                    self.error_log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn error_log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default();
        let last: Vec<&str> = log.lines().rev().take(5).collect();
        if last.is_empty() {
            "(error.log is empty)".to_owned()
        } else {
            last.into_iter().rev().collect::<Vec<_>>().join("; ")
        }
    }

    /// The URL the benches post to.
    pub(super) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/signals", self.port)
    }

    /// `wrk -t1 -c<connections>` POSTing [`BODY`] for [`WRK_SECONDS`];
    /// requests per second.
    pub(super) fn wrk(&self, tools: &Tools, connections: u32) -> Result<f64, String> {
        let script = self.dir.path().join("post.lua");
        std::fs::write(&script, wrk_script())
            .map_err(|e| format!("cannot write {}: {e}", script.display()))?;
        let mut command = Command::new(&tools.wrk);
        command
            .args([
                "-t1",
                &format!("-c{connections}"),
                &format!("-d{WRK_SECONDS}s"),
            ])
            .arg("-s")
            .arg(&script)
            .arg(self.url());
        println!("$ {}", super::commands::describe(&command));
        let output = command
            .output()
            .map_err(|e| format!("cannot run wrk: {e}"))?;
        let text = String::from_utf8_lossy(&output.stdout);
        print!("{text}");
        if !output.status.success() {
            return Err(format!(
                "wrk failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        requests_per_second(&text)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wrk_script() -> String {
    format!(
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = '{BODY}'\n"
    )
}

/// `Requests/sec:` of wrk's output; an error if any response was not 2xx.
pub(super) fn requests_per_second(output: &str) -> Result<f64, String> {
    if let Some(line) = output.lines().find(|l| l.contains("Non-2xx")) {
        return Err(format!("nginx answered errors to wrk: {}", line.trim()));
    }
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "no Requests/sec line in wrk's output".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK_OUTPUT: &str = "\
Running 5s test @ http://127.0.0.1:40000/signals
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.57ms    1.07ms  16.87ms   93.91%
    Req/Sec    34.90k     4.60k   48.83k    76.67%
  104714 requests in 3.03s, 17.08MB read
Requests/sec:  34601.27
Transfer/sec:      5.64MB
";

    #[test]
    fn wrk_rate_and_errors() {
        assert_eq!(requests_per_second(WRK_OUTPUT), Ok(34601.27));
        let errors = WRK_OUTPUT.replace(
            "Requests/sec",
            "  Non-2xx or 3xx responses: 12\nRequests/sec",
        );
        assert!(
            requests_per_second(&errors)
                .unwrap_err()
                .contains("Non-2xx")
        );
        assert!(requests_per_second("nothing").is_err());
    }

    #[test]
    fn config_keeps_everything_in_its_directory() {
        let text = config(Path::new("/tmp/x"), 40123);
        for needle in [
            "daemon off;",
            "worker_processes 1;",
            "pid /tmp/x/nginx.pid;",
            "error_log /tmp/x/error.log warn;",
            "access_log off;",
            "listen 127.0.0.1:40123;",
            r#"return 200 '{"accepted":true}';"#,
            "keepalive_requests 100000000;",
            "client_body_temp_path /tmp/x/body;",
        ] {
            assert!(text.contains(needle), "{needle} not in\n{text}");
        }
        assert!(wrk_script().contains(BODY));
    }

    #[test]
    fn missing_tools_name_the_packages_and_the_command() {
        let text = missing_tools(&["wrk"]);
        assert!(text.contains("not found: wrk."), "{text}");
        assert!(
            text.contains("apt-get install -y nginx-light wrk"),
            "{text}"
        );
    }
}
