//! A throwaway PostgreSQL server for tests and benchmarks: a fresh cluster (`initdb`) in a
//! temporary directory, on a free port of 127.0.0.1, stopped by its pid. PostgreSQL refuses to
//! run as root, so as root the cluster belongs to the `postgres` user (Debian's package makes
//! it) and the server runs as that user.

use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::process::ChildProcess;

/// What can go wrong starting PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    /// The server binaries are not installed.
    #[error(
        "PostgreSQL's initdb and postgres were not found on PATH nor under /usr/lib/postgresql/*/bin: run `make tools` (it installs Debian's postgresql package)"
    )]
    NotInstalled,
    /// Running as root, but there is no `postgres` user to run the server as.
    #[error(
        "running as root, and there is no 'postgres' user to run PostgreSQL as (install Debian's postgresql package)"
    )]
    NoPostgresUser,
    /// A step failed.
    #[error("PostgreSQL: {what}: {reason}")]
    Failed {
        /// What was being done.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

fn failed(what: &'static str) -> impl FnOnce(std::io::Error) -> PostgresError {
    move |e| PostgresError::Failed { what, reason: e.to_string() }
}

/// A running throwaway PostgreSQL server; stopped (by its pid) when dropped.
#[derive(Debug)]
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    /// With TLS: the CA file that signed the server's certificate.
    ca_file: Option<PathBuf>,
    port: u16,
    user: Option<(u32, u32)>,
    server: Option<ChildProcess>,
    _dir: tempfile::TempDir,
}

/// The directory holding `initdb` and `postgres`.
fn binaries() -> Result<PathBuf, PostgresError> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| dirs.flatten().map(|d| d.path().join("bin")).collect())
        .unwrap_or_default();
    // The newest major version first.
    debian.sort_by_key(|p| {
        std::cmp::Reverse(
            p.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or_default(),
        )
    });
    on_path
        .chain(debian)
        .find(|dir| ["initdb", "postgres", "pg_isready"].iter().all(|b| dir.join(b).is_file()))
        .ok_or(PostgresError::NotInstalled)
}

/// The `postgres` user's uid and gid, when running as root.
fn server_user() -> Result<Option<(u32, u32)>, PostgresError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(failed("reading /etc/passwd"))?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&"postgres") && fields.len() > 3)
        .and_then(|fields| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
        .map(Some)
        .ok_or(PostgresError::NoPostgresUser)
}

fn free_port() -> Result<u16, PostgresError> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(failed("finding a free port"))?;
    Ok(listener.local_addr().map_err(failed("finding a free port"))?.port())
}

impl Postgres {
    /// A new cluster, started; ready when this returns (at most 60 s).
    pub fn start() -> Result<Self, PostgresError> {
        Self::start_with(false)
    }

    /// [`Postgres::start`] with TLS on: a throwaway CA (made with the `openssl` command) signs
    /// the server's certificate for 127.0.0.1; [`Postgres::ca_file`] is that CA.
    pub fn start_tls() -> Result<Self, PostgresError> {
        Self::start_with(true)
    }

    /// The CA file of a server started with [`Postgres::start_tls`].
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    fn start_with(tls: bool) -> Result<Self, PostgresError> {
        let bin = binaries()?;
        let user = server_user()?;
        let dir = tempfile::Builder::new()
            .prefix("gateway-exex-pg-")
            .tempdir()
            .map_err(failed("making its directory"))?;
        let data = dir.path().join("data");
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .map_err(failed("giving its directory to the postgres user"))?;
        }
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"])
            .env("HOME", dir.path())
            .current_dir(dir.path())
            .stdout(Stdio::null());
        if let Some((uid, gid)) = user {
            initdb.uid(uid).gid(gid);
        }
        let out = initdb.output().map_err(failed("running initdb"))?;
        if !out.status.success() {
            return Err(PostgresError::Failed {
                what: "initdb",
                reason: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        let ca_file = if tls { Some(make_certificates(dir.path(), &data, user)?) } else { None };
        let mut server =
            Self { bin, data, ca_file, port: free_port()?, user, server: None, _dir: dir };
        // The free port may be taken between finding it and the server binding it: another.
        let mut tries = 0;
        loop {
            match server.run() {
                Ok(()) => return Ok(server),
                Err(err) if tries >= 3 => return Err(err),
                Err(_) => {
                    tries += 1;
                    server.port = free_port()?;
                }
            }
        }
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The server's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref().map(ChildProcess::pid)
    }

    /// Its data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    fn run(&mut self) -> Result<(), PostgresError> {
        let mut command = Command::new(self.bin.join("postgres"));
        command
            .arg("-D")
            .arg(&self.data)
            .args(["-p", &self.port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-k")
            .arg(&self.data)
            .args(["-c", "fsync=off", "-c", "max_connections=200"])
            .args(if self.ca_file.is_some() {
                &["-c", "ssl=on", "-c", "ssl_cert_file=server.crt", "-c", "ssl_key_file=server.key"]
                    [..]
            } else {
                &[][..]
            })
            .current_dir(&self.data)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((uid, gid)) = self.user {
            command.uid(uid).gid(gid);
        }
        let mut child = ChildProcess(command.spawn().map_err(failed("starting postgres"))?);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // Ready when this server accepts sessions on its own socket (not merely when
            // something listens on the port).
            let ready = Command::new(self.bin.join("pg_isready"))
                .arg("-h")
                .arg(&self.data)
                .args(["-p", &self.port.to_string(), "-U", "postgres", "-q"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                self.server = Some(child);
                return Ok(());
            }
            if !child.is_running() {
                return Err(PostgresError::Failed {
                    what: "starting postgres",
                    reason: "it exited at start".into(),
                });
            }
            if Instant::now() > deadline {
                return Err(PostgresError::Failed {
                    what: "starting postgres",
                    reason: "not listening after 60 s".into(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server (fast shutdown, by its pid; killed after 30 s).
    pub fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.signal("INT");
            if server.wait_exit(Duration::from_secs(30)).is_none() {
                server.signal("KILL");
                server.wait_exit(Duration::from_secs(10));
            }
        }
    }

    /// Starts the stopped server again on the same port and data.
    pub fn resume(&mut self) -> Result<(), PostgresError> {
        if self.server.is_some() {
            return Ok(());
        }
        self.run()
    }

    /// Stops the server and starts it again on the same port and data.
    pub fn restart(&mut self) -> Result<(), PostgresError> {
        self.stop();
        self.run()
    }
}

/// A CA in `dir` and, signed by it, the server's certificate and key for 127.0.0.1 in `data`
/// (owned by the server's user, the key readable by it alone); returns the CA file.
fn make_certificates(
    dir: &Path,
    data: &Path,
    user: Option<(u32, u32)>,
) -> Result<PathBuf, PostgresError> {
    let openssl = |args: &[&str]| -> Result<(), PostgresError> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(failed("running openssl (Debian's openssl package)"))?;
        if !out.status.success() {
            return Err(PostgresError::Failed {
                what: "making TLS certificates with openssl",
                reason: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(())
    };
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        .map_err(failed("writing the certificate extensions"))?;
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=gateway-exex test CA",
    ])?;
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ])?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ])?;
    for name in ["server.crt", "server.key"] {
        let target = data.join(name);
        std::fs::copy(dir.join(name), &target).map_err(failed("placing the certificate"))?;
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&target, Some(uid), Some(gid))
                .map_err(failed("giving the certificate to the postgres user"))?;
        }
        std::fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(failed("making the key private"))?;
    }
    Ok(dir.join("ca.crt"))
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
