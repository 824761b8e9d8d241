//! Helpers for tests that run a binary of this project as an operator would: the child is
//! killed by its pid if the test ends first, and its JSON-RPC is called over plain HTTP.

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::{Child, Command, ExitStatus},
    time::{Duration, Instant},
};

/// A process the test started; killed (by its pid, `kill -9`) when dropped while still running.
#[derive(Debug)]
pub struct ChildProcess(pub Child);

impl ChildProcess {
    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Whether it has not exited yet.
    pub fn is_running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }

    /// Sends it `signal` (`"TERM"`, `"INT"`, `"KILL"`) by pid; true when delivered.
    pub fn signal(&self, signal: &str) -> bool {
        Command::new("kill")
            .args([format!("-{signal}"), self.0.id().to_string()])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Waits for it to exit, at most `timeout`; `None` when it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.signal("KILL");
            let _ = self.0.wait();
        }
    }
}

/// Whether process `pid` exists and is not a zombie.
pub fn process_alive(pid: u64) -> bool {
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !state.is_empty() && !state.contains(") Z")
}

/// Sends a raw HTTP/1.1 request to 127.0.0.1:`port`; the whole response, or empty when nothing
/// listens (the caller polls again). Reads time out after 10 s.
pub fn local_http(port: u16, request: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return String::new() };
    if stream.set_read_timeout(Some(Duration::from_secs(10))).is_err()
        || stream.write_all(request.as_bytes()).is_err()
    {
        return String::new();
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

/// Calls JSON-RPC `method` without parameters on 127.0.0.1:`port`; its `result`, or `null`
/// when nothing answers.
pub fn local_rpc(port: u16, method: &str) -> serde_json::Value {
    let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":[]}}"#);
    let request = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let response = local_http(port, &request);
    let json = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(json).map(|v| v["result"].clone()).unwrap_or_default()
}
