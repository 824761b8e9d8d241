//! A host process for the kill-and-restart test: follows `--chain.rpc-url` with the store ExEx
//! and prints `head <number> <hash>` after each notification it has persisted.

use std::{io::Write, sync::Arc};

use exex_host::{Cli, NoArgs};
use gateway_store::Store;
use tokio::sync::mpsc;

fn main() -> eyre::Result<()> {
    Cli::<NoArgs>::parse_args().run(async move |builder, _| {
        let store = Arc::new(Store::open(&builder.config().datadir)?);
        let (observer, mut seen) = mpsc::unbounded_channel::<exex_host::ExExNotification>();
        let printer = tokio::spawn(async move {
            while let Some(notification) = seen.recv().await {
                let head = match (notification.committed_chain(), notification.reverted_chain()) {
                    (Some(new), _) => new.tip().num_hash(),
                    (None, Some(old)) => old.fork_block(),
                    (None, None) => continue,
                };
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "head {} {}", head.number, head.hash);
                let _ = out.flush();
            }
        });
        let host = builder
            .install_exex(e2e_tests::STORE_EXEX_ID, async move |ctx| {
                Ok(e2e_tests::store_exex(ctx, store, Some(observer)))
            })
            .launch()
            .await?;
        let result = host.wait_for_node_exit().await;
        printer.abort();
        result
    })
}
