//! Starting and stopping anvil.

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use alloy::transports::http::reqwest::Url;
use tracing::{debug, warn};

/// Set this to an anvil binary to use it instead of the project's `.tools/bin/anvil`.
pub const ANVIL_ENV: &str = "GATEWAY_ANVIL";

/// Private keys of anvil's default dev accounts (its public test mnemonic). Never use them
/// outside a local devnet.
pub const DEV_ACCOUNT_KEYS: [&str; 3] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fcaf4e8c3d3d6bb",
];

/// How long anvil may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long anvil may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The result type of this crate.
pub type DevnetResult<T> = Result<T, DevnetError>;

/// What can go wrong starting the devnet.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// anvil is not installed.
    #[error("anvil not found at {0}: run `make tools` (scripts/tools.sh) or set {ANVIL_ENV}")]
    AnvilMissing(PathBuf),
    /// anvil could not be started.
    #[error("starting {path}: {source}")]
    Spawn {
        /// The binary.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// anvil did not start listening.
    #[error(
        "anvil (pid {pid}) did not start listening on port {port} within {timeout:?}: {output}"
    )]
    NotListening {
        /// Its pid.
        pid: u32,
        /// The port it was given.
        port: u16,
        /// How long we waited.
        timeout: Duration,
        /// What it printed.
        output: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The topology is not what it should be.
    #[error("topology: {0}")]
    Topology(String),
    /// A request to a node failed.
    #[error("rpc {0}")]
    Rpc(String),
    /// A private key did not parse.
    #[error("bad private key: {0}")]
    BadKey(String),
    /// An init step refused what its keys or the nodes may not do (nothing was sent).
    #[error("refused: {0}")]
    Refused(String),
    /// No free port.
    #[error("no free port on 127.0.0.1: {0}")]
    NoPort(std::io::Error),
}

/// Settings of one anvil node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnvilConfig {
    /// The chain id.
    pub chain_id: u64,
    /// Mine a block every this often; `None` mines one block per transaction.
    pub block_time: Option<Duration>,
    /// The port; `None` picks a free one.
    pub port: Option<u16>,
    /// Load state from and dump it to this file on exit (`--state`), to restart the same chain.
    pub state: Option<PathBuf>,
    /// How many funded dev accounts (anvil's default is 10).
    pub accounts: Option<u32>,
    /// More arguments for anvil.
    pub extra_args: Vec<String>,
}

impl Default for AnvilConfig {
    fn default() -> Self {
        Self {
            chain_id: 31337,
            block_time: None,
            port: None,
            state: None,
            accounts: None,
            extra_args: Vec::new(),
        }
    }
}

/// A running anvil process, stopped by pid when dropped.
#[derive(Debug)]
pub struct Anvil {
    child: Option<Child>,
    port: u16,
    config: AnvilConfig,
    keys: Vec<String>,
    /// anvil's home (`$HOME`): it writes historical states under `~/.foundry/anvil/tmp` and a
    /// killed anvil leaves them there; this one is removed when the process stops.
    home: PathBuf,
}

/// The project's root: the nearest ancestor of the current directory (or of this crate) that
/// has `scripts/tools.sh`.
pub fn project_root() -> Option<PathBuf> {
    let starts = [std::env::current_dir().ok(), Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")))];
    starts.into_iter().flatten().find_map(|start| {
        start.ancestors().find(|dir| dir.join("scripts/tools.sh").is_file()).map(Path::to_path_buf)
    })
}

/// Where anvil is: `$GATEWAY_ANVIL`, or `.tools/bin/anvil` under the project root.
pub fn anvil_path() -> DevnetResult<PathBuf> {
    let path = match std::env::var_os(ANVIL_ENV) {
        Some(path) => PathBuf::from(path),
        None => project_root()
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".tools")
            .join("bin")
            .join("anvil"),
    };
    if path.is_file() { Ok(path) } else { Err(DevnetError::AnvilMissing(path)) }
}

fn free_port() -> DevnetResult<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(DevnetError::NoPort)?;
    listener.local_addr().map(|a| a.port()).map_err(DevnetError::NoPort)
}

/// How many more ports an anvil start tries when the one picked was taken meanwhile.
const PORT_TRIES: u32 = 3;

impl Anvil {
    /// Starts anvil and waits until it listens.
    pub fn spawn(config: AnvilConfig) -> DevnetResult<Self> {
        // A free port picked here can be taken by another process before anvil binds it: with
        // no port asked for, such a start is tried again on another port.
        let mut tries = 0;
        loop {
            if config.port.is_some() || tries == PORT_TRIES {
                return Self::spawn_on(config);
            }
            match Self::spawn_on(config.clone()) {
                Err(DevnetError::NotListening { output, .. })
                    if output.contains("Address already in use") =>
                {
                    tries += 1;
                    warn!(target: "devnet::anvil", tries, "the port picked for anvil was taken meanwhile: trying another");
                }
                started => return started,
            }
        }
    }

    fn spawn_on(config: AnvilConfig) -> DevnetResult<Self> {
        let path = anvil_path()?;
        let port = match config.port {
            Some(port) => port,
            None => free_port()?,
        };
        let home =
            std::env::temp_dir().join(format!("gateway-exex-anvil-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&home)
            .map_err(|source| DevnetError::Spawn { path: home.clone(), source })?;
        let mut command = Command::new(&path);
        command
            .env("HOME", &home)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--chain-id", &config.chain_id.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(block_time) = config.block_time {
            // anvil takes whole or fractional seconds.
            command.args(["--block-time", &format!("{}", block_time.as_secs_f64())]);
        }
        if let Some(accounts) = config.accounts {
            command.args(["--accounts", &accounts.to_string()]);
        }
        if let Some(state) = &config.state {
            command.arg("--state").arg(state);
        }
        command.args(&config.extra_args);
        // If the process that started anvil dies without stopping it (a test killed mid-way),
        // the kernel sends anvil SIGTERM: nothing is left running.
        // SAFETY: prctl is async-signal-safe and only changes this child's own settings.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child =
            command.spawn().map_err(|source| DevnetError::Spawn { path: path.clone(), source })?;
        let pid = child.id();

        let (lines_tx, lines_rx) = mpsc::channel::<String>();
        if let Some(stdout) = child.stdout.take() {
            let tx = lines_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        if let Some(stderr) = child.stderr.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let _ = lines_tx.send(line);
                }
            });
        }
        let mut anvil = Self { child: Some(child), port, config, keys: Vec::new(), home };
        let deadline = Instant::now() + START_TIMEOUT;
        let mut output = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left) {
                Ok(line) if line.contains("Listening on") => break,
                Ok(line) => {
                    // "(3) 0x<64 hex>" lines list the funded dev accounts' private keys.
                    if let Some(key) = dev_key(&line) {
                        anvil.keys.push(key);
                    }
                    output.push(line);
                }
                Err(_) => {
                    anvil.stop();
                    return Err(DevnetError::NotListening {
                        pid,
                        port,
                        timeout: START_TIMEOUT,
                        output: output.join("\n"),
                    });
                }
            }
        }
        // Keep draining anvil's output so it never blocks on a full pipe.
        std::thread::spawn(move || while lines_rx.recv().is_ok() {});
        debug!(target: "devnet::anvil", pid, port, "anvil started");
        Ok(anvil)
    }

    /// The private keys of the dev accounts anvil funded, in its order (local use only).
    pub fn dev_keys(&self) -> &[String] {
        &self.keys
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    /// Its port on 127.0.0.1.
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// Its chain id.
    pub const fn chain_id(&self) -> u64 {
        self.config.chain_id
    }

    /// Its HTTP JSON-RPC endpoint.
    pub fn endpoint(&self) -> Url {
        // A literal loopback URL always parses.
        Url::parse(&format!("http://127.0.0.1:{}", self.port))
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Stops the process by pid: SIGTERM (anvil dumps `--state` then), then SIGKILL if it does
    /// not exit within 5 s. Idempotent.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        self.stop_child(&mut child);
        // What anvil wrote under its home (historical states) goes with it.
        let _ = std::fs::remove_dir_all(&self.home);
    }

    fn stop_child(&self, child: &mut Child) {
        let pid = child.id();
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .arg(pid.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                debug!(target: "devnet::anvil", pid, "anvil stopped");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        warn!(target: "devnet::anvil", pid, "anvil ignored SIGTERM; killing it");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the same node again on the same port (with its `--state`, if any).
    pub fn restart(&mut self) -> DevnetResult<()> {
        self.stop();
        let mut config = self.config.clone();
        config.port = Some(self.port);
        *self = Self::spawn(config)?;
        Ok(())
    }
}

fn dev_key(line: &str) -> Option<String> {
    let rest = line.trim().strip_prefix('(')?;
    let (index, key) = rest.split_once(") ")?;
    index.parse::<u32>().ok()?;
    let key = key.trim();
    let hex = key.strip_prefix("0x")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| key.to_string())
}

impl Drop for Anvil {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_anvil_names_the_fix() {
        let err = DevnetError::AnvilMissing(PathBuf::from("/nowhere/anvil")).to_string();
        assert!(err.contains("make tools") && err.contains(ANVIL_ENV), "{err}");
    }

    #[test]
    fn starts_and_stops_by_pid() {
        let mut anvil = Anvil::spawn(AnvilConfig { chain_id: 506, ..Default::default() }).unwrap();
        assert_eq!(anvil.dev_keys().len(), 10);
        assert_eq!(anvil.dev_keys()[0], DEV_ACCOUNT_KEYS[0]);
        assert_eq!(anvil.dev_keys()[1], DEV_ACCOUNT_KEYS[1]);
        let pid = anvil.pid();
        assert!(anvil.is_running());
        assert!(std::net::TcpStream::connect(("127.0.0.1", anvil.port())).is_ok());
        anvil.stop();
        // Stopped and reaped: no process by that pid, or (the pid reused) one that is not anvil.
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&cmdline).contains("anvil"),
            "anvil (pid {pid}) still runs after stop()"
        );
        assert!(std::net::TcpStream::connect(("127.0.0.1", anvil.port())).is_err());
    }

    /// What anvil writes under its home (historical states, tens of GB over a long run) is
    /// its own and goes when it stops, never into the user's `~/.foundry`.
    #[test]
    fn anvils_home_is_private_and_removed_when_it_stops() {
        let mut anvil = Anvil::spawn(AnvilConfig::default()).unwrap();
        let home = anvil.home.clone();
        assert!(home.starts_with(std::env::temp_dir()) && home.is_dir());
        let environ = std::fs::read(format!("/proc/{}/environ", anvil.pid())).unwrap();
        let wanted = format!("HOME={}", home.display());
        assert!(
            environ.split(|b| *b == 0).any(|kv| kv == wanted.as_bytes()),
            "anvil runs with HOME={}",
            home.display()
        );
        anvil.stop();
        assert!(!home.exists(), "{} removed", home.display());
    }
}
