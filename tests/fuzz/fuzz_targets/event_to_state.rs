//! Fuzz target: arbitrary bytes decoded as AMI and fed, event by event, to the
//! event-to-state step as the router runs it — routing keys, the admission of
//! untracked calls (only a `Newchannel` starts one, ended calls stay ended), one
//! call model per call, the extension model. It must never panic, and after every
//! event: a call never outlives its end, talk time is never more than the call's
//! duration, and no duration is negative.
#![no_main]

use std::collections::HashMap;

use bytes::BytesMut;
use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use switchboard::ami::{AmiCodec, AmiMessage, Frame, Limits};
use switchboard::state::admit::{admit, Admission, RecentlyEnded};
use switchboard::state::call::{CallEffect, CallModel};
use switchboard::state::extension::ExtensionModel;
use switchboard::state::route::{route, Route};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let mut codec = AmiCodec::server(Limits::default());
    let mut buf = BytesMut::from(data);
    let now = Utc.timestamp_opt(1_795_311_652, 0).single().unwrap_or_else(Utc::now);
    let mut calls: HashMap<String, CallModel> = HashMap::new();
    let mut ended = RecentlyEnded::new(64);
    let mut ext = ExtensionModel::new("fuzz", "1001", now);
    while let Ok(Some(frame)) = codec.decode_eof(&mut buf) {
        let Frame::Message(raw) = frame else { continue };
        let Ok(AmiMessage::Event(event)) = AmiMessage::classify(raw) else { continue };
        match route(&event) {
            Route::Call(key) => {
                if !calls.contains_key(key) {
                    match admit(&event, key, &ended) {
                        Admission::Start => {
                            assert_eq!(event.name(), "Newchannel");
                            calls.insert(key.to_string(), CallModel::new("fuzz", key, now));
                        }
                        Admission::Late | Admission::Orphan => continue,
                    }
                }
                let Some(call) = calls.get_mut(key) else { continue };
                let change = call.apply(&event, now);
                let c = call.call();
                assert!(call.live_channels() <= c.legs.len());
                assert!(c.duration_secs >= 0.0 && c.talk_secs >= 0.0);
                assert!(c.talk_secs <= c.duration_secs + 1e-6);
                if change == CallEffect::Ended {
                    assert!(c.ended_at.is_some());
                    assert!(call.is_ended());
                    let id = key.to_string();
                    calls.remove(&id);
                    ended.insert(&id);
                } else {
                    let s = call.snapshot(now);
                    assert!(s.talk_secs <= s.duration_secs + 1e-6);
                }
            }
            Route::Extension(_) => {
                let _ = ext.apply(&event, now);
            }
            Route::Ignored | Route::Unknown => {}
        }
    }
});
