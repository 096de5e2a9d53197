//! A real PgBouncer in `pool_mode = transaction`, started by a test on a free port
//! in front of the test PostgreSQL server, with a small server pool.
//!
//! ```no_run
//! // The URL's user and password are the ones PgBouncer accepts and passes on.
//! let url = "postgres://app:secret@127.0.0.1:5432/notes";
//! if let Some(bouncer) = opskit_testkit::pgbouncer::start(url, 2) {
//!     // The same database, user and password, through PgBouncer.
//!     let pooled = bouncer.url_for(url);
//!     assert!(pooled.starts_with("postgres://app:secret@127.0.0.1:"));
//! }
//! ```

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running PgBouncer, stopped (and its files removed) when dropped.
#[derive(Debug)]
pub struct PgBouncer {
    child: Child,
    /// The port PgBouncer listens on, on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
}

/// The PgBouncer binary, if installed.
fn binary() -> Option<PathBuf> {
    [
        "/usr/sbin/pgbouncer",
        "/usr/bin/pgbouncer",
        "/usr/local/bin/pgbouncer",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// Starts PgBouncer in front of the server of `url`
/// (`postgres://USER:PASSWORD@HOST:PORT/DB`), accepting that user and password,
/// with `pool_size` server connections per database and user. `None`, with a
/// message, when PgBouncer is not installed on a developer's machine; in CI (`CI`
/// set) its absence fails the test.
pub fn start(url: &str, pool_size: u32) -> Option<PgBouncer> {
    let Some(binary) = binary() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "pgbouncer is not installed (CI installs it in .ci/run: apt-get install pgbouncer)"
        );
        eprintln!("skipped: pgbouncer is not installed (apt-get install pgbouncer)");
        return None;
    };
    let (user, password, host, server_port) = parts(url);
    let dir = tempfile::tempdir().unwrap();
    let port = crate::process::free_port();
    let ini = format!(
        "[databases]\n* = host={host} port={server_port}\n\n[pgbouncer]\n\
         listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
         auth_type = plain\nauth_file = {auth}\npool_mode = transaction\n\
         default_pool_size = {pool_size}\nmin_pool_size = 0\nmax_client_conn = 500\n\
         ignore_startup_parameters = extra_float_digits,options\n\
         logfile = {log}\nadmin_users = {user}\n",
        auth = dir.path().join("userlist.txt").display(),
        log = dir.path().join("pgbouncer.log").display(),
    );
    write(dir.path(), "pgbouncer.ini", &ini);
    write(
        dir.path(),
        "userlist.txt",
        &format!("\"{user}\" \"{password}\"\n"),
    );
    // PgBouncer refuses to run as root: run it as nobody, with files it can read.
    let mut permissions = std::fs::metadata(dir.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o777);
    std::fs::set_permissions(dir.path(), permissions).unwrap();
    let mut command = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&binary);
        c
    } else {
        Command::new(&binary)
    };
    let child = command
        .arg(dir.path().join("pgbouncer.ini"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pgbouncer starts");
    let bouncer = PgBouncer { child, port, dir };
    bouncer.wait_listening();
    Some(bouncer)
}

impl PgBouncer {
    /// The URL of database `name` through PgBouncer, with the credentials of
    /// `admin_url`.
    pub fn url(&self, admin_url: &str, name: &str) -> String {
        let (user, password, ..) = parts(admin_url);
        format!(
            "postgres://{user}:{password}@127.0.0.1:{}/{name}",
            self.port
        )
    }

    /// `url` (a `postgres://` URL of the server behind PgBouncer) with PgBouncer's
    /// address instead: the same user, password, database and parameters.
    pub fn url_for(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
        let (credentials, rest) = rest.rsplit_once('@').expect("a URL with a user");
        let path = rest.find(['/', '?']).map_or("", |at| &rest[at..]);
        format!("{scheme}://{credentials}@127.0.0.1:{}{path}", self.port)
    }

    /// PgBouncer's log, for a failure message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }

    fn wait_listening(&self) {
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "pgbouncer did not listen on port {} within 20 s; its log:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn write(dir: &Path, name: &str, text: &str) {
    let mut file = std::fs::File::create(dir.join(name)).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// `(user, password, host, port)` of a `postgres://` URL.
fn parts(url: &str) -> (String, String, String, String) {
    let rest = url.split_once("://").unwrap().1;
    let (credentials, rest) = rest.rsplit_once('@').unwrap();
    let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
    let address = rest.split(['/', '?']).next().unwrap();
    let (host, port) = address.rsplit_once(':').unwrap_or((address, "5432"));
    (user.into(), password.into(), host.into(), port.into())
}
