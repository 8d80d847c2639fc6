//! `refresh`: a 1,000-extension refresh against one-at-a-time ExtensionState, and a
//! whole-board refresh over many simulated PBXs.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use switchboard::actors::login::{connect_and_login, AmiEndpoint};
use switchboard::ami::AuthMethod;
use switchboard::ami::{Action, ActionIds, AmiMessage, Frame, Limits};
use switchboard::secret::Secret;
use switchboard::sim::SimConfig;

use crate::service::{Options, TestService};
use crate::{service, sim, wait};

/// One service watching `pbxs` simulators of `total / pbxs` extensions each,
/// refreshed whole (no `pbx`) with `sessions` logins at a time.
pub(crate) async fn refresh_board(pbxs: usize, total: u32, sessions: usize) {
    let each = total / pbxs as u32;
    let names: Vec<String> = (1..=pbxs).map(|i| format!("pbx{i:02}")).collect();
    let sims: Vec<_> = (0..pbxs)
        .map(|i| {
            switchboard::sim::Simulator::spawn(
                "127.0.0.1:0".parse().expect("loopback"),
                SimConfig {
                    seed: i as u64 + 1,
                    ..sim(each)
                },
            )
            .expect("simulator starts")
        })
        .collect();
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let mut opts = Options {
        sim: sim(each),
        http_workers: 2,
        wait_ready: false,
        ..Options::default()
    }
    .env("AMI_PBXS", names.join(","))
    .env("REFRESH_MAX_SESSIONS", sessions.to_string());
    for (name, s) in names.iter().zip(&sims) {
        opts = opts.env(
            leak(format!("AMI_{}_PORT", name.to_uppercase())),
            s.addr().port().to_string(),
        );
    }
    let ts = TestService::with_sim(sims[0].clone(), opts).await;
    let want = u64::from(each) * pbxs as u64;
    wait::wait_until("every PBX's extensions", wait::DEADLINE, || async {
        ts.get("/api/extensions").await.1["count"].as_u64() == Some(want)
    })
    .await;
    let mut round_trip = Vec::new();
    let mut longest = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let (status, body) = ts.post("/api/extensions/hybrid-refresh").await;
        round_trip.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(status, 200, "refresh failed: {}", body["error"]);
        assert_eq!(body["data"]["extensionsChecked"].as_u64(), Some(want));
        assert_eq!(body["data"]["pbxs"].as_array().map(Vec::len), Some(pbxs));
        longest.push(body["data"]["durationMs"].as_f64().unwrap_or(f64::NAN));
    }
    round_trip.sort_by(f64::total_cmp);
    longest.sort_by(f64::total_cmp);
    println!(
        "\n## whole-board refresh: {pbxs} PBXs x {each} extensions, REFRESH_MAX_SESSIONS={sessions}"
    );
    println!("| measure | median ms | min ms | max ms | runs |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| POST /api/extensions/hybrid-refresh (HTTP round trip, {want} extensions) | {:.1} | {:.1} | {:.1} | {} |",
        round_trip[round_trip.len() / 2],
        round_trip[0],
        round_trip[round_trip.len() - 1],
        round_trip.len()
    );
    println!(
        "| … longest single PBX session (durationMs) | {:.1} | {:.1} | {:.1} | {} |",
        longest[longest.len() / 2],
        longest[0],
        longest[longest.len() - 1],
        longest.len()
    );
    ts.stop().await;
    for s in &sims[1..] {
        s.stop();
    }
}

pub(crate) async fn refresh() {
    let ts = service(1000, 2).await;
    let mut hybrid = Vec::new();
    let mut server_ms = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let (status, body) = ts.post("/api/extensions/hybrid-refresh").await;
        hybrid.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(status, 200, "refresh failed: {body}");
        assert_eq!(body["data"]["statistics"]["successfulQueries"], 1000);
        server_ms.push(body["data"]["durationMs"].as_f64().unwrap_or(f64::NAN));
    }
    let mut baseline = Vec::new();
    for _ in 0..2 {
        baseline.push(one_at_a_time(&ts, 1000).await);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (h, s, b) = (med(&mut hybrid), med(&mut server_ms), med(&mut baseline));
    println!("\n## refresh of 1,000 extensions (simulator, loopback)");
    println!("| method | median ms | runs |");
    println!("|---|---:|---:|");
    println!(
        "| POST /api/extensions/hybrid-refresh (HTTP round trip) | {h:.1} | {} |",
        hybrid.len()
    );
    println!(
        "| … of which the session (login → logoff, durationMs) | {s:.1} | {} |",
        server_ms.len()
    );
    println!(
        "| one-at-a-time ExtensionState baseline (own login) | {b:.1} | {} |",
        baseline.len()
    );
    println!("| speed-up (baseline / hybrid) | {:.1}x | |", b / h);
    ts.stop().await;
}

/// One ExtensionState per extension, each waiting for its reply; login excluded.
async fn one_at_a_time(ts: &TestService, n: u32) -> f64 {
    let ep = AmiEndpoint {
        pbx: "baseline".into(),
        host: "127.0.0.1".into(),
        port: ts.sim.addr().port(),
        username: "admin".into(),
        secret: Secret::new("amisecret".to_string()),
        auth: AuthMethod::Md5,
        connect_timeout: Duration::from_secs(3),
        login_timeout: Duration::from_secs(5),
        limits: Limits::default(),
    };
    let mut ids = ActionIds::new(7, 7);
    let mut framed = connect_and_login(&ep, &mut ids)
        .await
        .expect("baseline login")
        .framed;
    let t = Instant::now();
    for i in 0..n {
        let id = ids.next_id();
        let exten = (1001 + i).to_string();
        framed
            .send(&Action::extension_state(&exten, "from-internal").with_id(id.clone()))
            .await
            .expect("send");
        loop {
            match framed.next().await {
                Some(Ok(Frame::Message(raw))) => {
                    if let Ok(AmiMessage::Response(r)) = AmiMessage::classify(raw) {
                        if r.action_id() == Some(id.as_str()) {
                            break;
                        }
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("baseline connection failed: {other:?}"),
            }
        }
    }
    t.elapsed().as_secs_f64() * 1000.0
}
