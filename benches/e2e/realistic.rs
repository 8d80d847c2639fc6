//! `realistic`: the realistic stream of `benches/data/gen_corpus.py` (a busy call
//! centre: mostly VarSet, Newexten, RTCP, queue and device events, as `--bench
//! ingest` replays it) into 10 WebSocket subscribers, beside the simulator's
//! generated traffic in the same run: (a) the highest rate with nothing lost, rates
//! rising, paced by the server; (b) the latency at 20,000 events/s (`E2E_LATENCY`
//! to choose other cases).
//!
//! `E2E_CORPUS_EVENTS=N` sets the corpus's size (default 200,000, the ingest
//! bench's); it is served round and round with new call ids each pass. The service
//! runs with `AMI_EVENT_FILTER=off`: the server sends every event, like a PBX that
//! ignores filters — the most the service can be asked to read.

use std::sync::Arc;

use crate::corpus::CorpusServer;
use crate::latency::{latency_cases_or, latency_table};
use crate::subscribers::subscribe;
use crate::throughput::{print_rows, rising};
use crate::{positive_env, Feed};

pub(crate) async fn realistic() {
    let corpus = CorpusServer::start(positive_env("E2E_CORPUS_EVENTS", 200_000));
    let feeds = [Feed::Sim, Feed::Corpus(&corpus)];
    for feed in feeds {
        let ts = feed.service(None).await;
        let subs = subscribe(&ts.ws_url("/ws"), 10, Arc::default()).await;
        let rows = rising(
            &ts,
            feed.source(&ts),
            &subs,
            &[
                25_000.0, 50_000.0, 100_000.0, 150_000.0, 200_000.0, 250_000.0, 300_000.0,
            ],
            3.0,
        )
        .await;
        print_rows(
            &format!("{} → 10 WebSocket subscribers", feed.describe()),
            10,
            &rows,
        );
        ts.stop().await;
    }
    latency_table(&feeds, latency_cases_or(&[(20_000.0, 10)])).await;
}
