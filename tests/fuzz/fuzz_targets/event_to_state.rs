//! Fuzz target: arbitrary bytes decoded as AMI and fed, event by event, to the
//! event-to-state step (router keys, call model, extension model) — it must never
//! panic, and the call model's invariants must hold after every event.
#![no_main]

use bytes::BytesMut;
use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use switchboard::ami::{AmiCodec, AmiMessage, Frame, Limits};
use switchboard::state::call::{CallModel, Change};
use switchboard::state::extension::ExtensionModel;
use switchboard::state::route::{route, Route};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let mut codec = AmiCodec::server(Limits::default());
    let mut buf = BytesMut::from(data);
    let now = Utc.timestamp_opt(1_795_311_652, 0).single().unwrap_or_else(Utc::now);
    let mut call = CallModel::new("fuzz", "call", now);
    let mut ext = ExtensionModel::new("fuzz", "1001", now);
    while let Ok(Some(frame)) = codec.decode_eof(&mut buf) {
        let Frame::Message(raw) = frame else { continue };
        let Ok(AmiMessage::Event(event)) = AmiMessage::classify(raw) else { continue };
        match route(&event) {
            Route::Call(_) => {
                let change = call.apply(&event, now);
                let c = call.call();
                assert!(call.live_channels() <= c.legs.len());
                if change == Change::Ended {
                    assert!(c.ended_at.is_some());
                    assert!(c.duration_secs >= c.talk_secs - 1e-6);
                }
            }
            Route::Extension(_) => {
                let _ = ext.apply(&event, now);
            }
            Route::Ignored | Route::Unknown => {}
        }
    }
});
