//! `--config FILE`: settings from a TOML file, under the flags and environment variables.
//!
//! `[settlement] layer = "gateway"` stands for `--settlement.layer gateway`; top-level keys are
//! flags without a section (`metrics = "127.0.0.1:9001"`); `true` stands for a bare switch. A
//! setting is taken from the file only when neither its flag is on the command line nor its
//! environment variable is set.

use std::{ffi::OsString, path::Path};

use clap::Command;

/// The arguments with the file's settings added after the subcommand.
pub fn merge_config_file(args: Vec<OsString>, command: &Command) -> eyre::Result<Vec<OsString>> {
    let Some(path) = config_path(&args) else { return Ok(args) };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| eyre::eyre!("--config {}: cannot read it: {e}", path.display()))?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| eyre::eyre!("--config {}: not valid TOML: {e}", path.display()))?;
    let node = command
        .find_subcommand("node")
        .ok_or_else(|| eyre::eyre!("the command has no `node` subcommand"))?;
    let mut extra = Vec::new();
    flatten(&table, "", &mut extra, &path)?;
    let mut injected = Vec::new();
    for (flag, value) in extra {
        let Some(arg) = node.get_arguments().find(|a| a.get_long() == Some(flag.as_str())) else {
            eyre::bail!("--config {}: unknown setting {flag:?}", path.display());
        };
        let on_command_line = args.iter().any(|a| {
            a.to_str()
                .is_some_and(|a| a == format!("--{flag}") || a.starts_with(&format!("--{flag}=")))
        });
        let in_env = arg.get_env().is_some_and(|env| std::env::var_os(env).is_some());
        if on_command_line || in_env {
            continue;
        }
        match value {
            Some(value) => {
                injected.extend([OsString::from(format!("--{flag}")), OsString::from(value)])
            }
            None => injected.push(OsString::from(format!("--{flag}"))),
        }
    }
    let position = args.iter().position(|a| a == "node").map_or(args.len(), |p| p + 1);
    let mut merged = args;
    merged.splice(position..position, injected);
    Ok(merged)
}

/// `--config FILE`, else the file `GATEWAY_CONFIG` names.
fn config_path(args: &[OsString]) -> Option<std::path::PathBuf> {
    config_flag(args).or_else(|| std::env::var_os(CONFIG_ENV).map(Into::into))
}

/// The environment variable of `--config`.
const CONFIG_ENV: &str = "GATEWAY_CONFIG";

fn config_flag(args: &[OsString]) -> Option<std::path::PathBuf> {
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let text = arg.to_string_lossy();
        if text == "--config" {
            return iter.next().map(Into::into);
        }
        if let Some(path) = text.strip_prefix("--config=") {
            return Some(path.into());
        }
    }
    None
}

fn flatten(
    table: &toml::Table,
    prefix: &str,
    out: &mut Vec<(String, Option<String>)>,
    path: &Path,
) -> eyre::Result<()> {
    for (key, value) in table {
        let flag = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            toml::Value::Table(inner) => flatten(inner, &flag, out, path)?,
            toml::Value::Boolean(true) => out.push((flag, None)),
            toml::Value::Boolean(false) => {}
            toml::Value::String(s) => out.push((flag, Some(s.clone()))),
            toml::Value::Integer(i) => out.push((flag, Some(i.to_string()))),
            toml::Value::Float(f) => out.push((flag, Some(f.to_string()))),
            other => {
                eyre::bail!("--config {}: {flag} has an unsupported value {other}", path.display())
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    type Cli = exex_host::Cli<crate::args::NodeExtArgs>;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_file_fills_in_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("node.toml");
        std::fs::write(
            &file,
            "[settlement]\nenabled = true\nlayer = \"gateway\"\n[batch]\nmax-blocks = 5\ntimeout = \"2s\"\n",
        )
        .unwrap();
        let args = os(&[
            "gateway-node",
            "node",
            "--chain.rpc-url",
            "http://x:1",
            "--batch.max-blocks",
            "9",
        ]);
        let mut args = args;
        args.extend(os(&["--config", file.to_str().unwrap()]));
        let merged = merge_config_file(args, &Cli::command()).unwrap();
        let cli = <Cli as clap::Parser>::try_parse_from(merged).unwrap();
        let exex_host::Commands::Node(node) = cli.command;
        assert!(node.ext.settlement.enabled);
        assert_eq!(node.ext.settlement.layer, Some(crate::args::LayerArg::Gateway));
        assert_eq!(node.ext.batch.max_blocks, 9, "the flag wins over the file");
        assert_eq!(node.ext.batch.timeout, std::time::Duration::from_secs(2));
    }

    /// Every setting of `node` has an environment variable named after its flag:
    /// `--settlement.l1-rpc-url` is `GATEWAY_SETTLEMENT_L1_RPC_URL`.
    #[test]
    fn every_flag_has_an_environment_variable_named_after_it() {
        let command = Cli::command();
        let node = command.find_subcommand("node").unwrap();
        let mut checked = 0;
        for arg in node.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if long == "help" || long == "version" {
                continue;
            }
            let expected = format!("GATEWAY_{}", long.replace(['.', '-'], "_").to_uppercase());
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            assert_eq!(env.as_deref(), Some(expected.as_str()), "--{long}");
            checked += 1;
        }
        assert!(checked >= 45, "only {checked} flags");
        assert_eq!(CONFIG_ENV, "GATEWAY_CONFIG");
    }

    #[test]
    fn malformed_or_unknown_settings_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "[settlement\nlayer = ").unwrap();
        let err = merge_config_file(
            os(&["g", "node", "--config", bad.to_str().unwrap()]),
            &Cli::command(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("not valid TOML") && err.contains("bad.toml"), "{err}");
        let unknown = dir.path().join("unknown.toml");
        std::fs::write(&unknown, "[settlement]\nwarp-speed = 9\n").unwrap();
        let err = merge_config_file(
            os(&["g", "node", "--config", unknown.to_str().unwrap()]),
            &Cli::command(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("settlement.warp-speed"), "{err}");
    }
}
