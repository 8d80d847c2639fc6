// @generated automatically by Diesel CLI.
// (Shared by both backends; ids declared BigInt. See diesel.toml.)

diesel::table! {
    active_calls (pbx, id) {
        pbx -> Text,
        id -> Text,
        state -> Text,
        direction -> Text,
        caller_number -> Nullable<Text>,
        callee_number -> Nullable<Text>,
        started_at -> Timestamp,
        updated_at -> Timestamp,
        data -> Text,
    }
}

diesel::table! {
    call_legs (id) {
        id -> BigInt,
        pbx -> Text,
        call_id -> Text,
        position -> Integer,
        uniqueid -> Text,
        channel -> Text,
        number -> Nullable<Text>,
        extension -> Nullable<Text>,
        state -> Text,
        started_at -> Timestamp,
        answered_at -> Nullable<Timestamp>,
        ended_at -> Nullable<Timestamp>,
        hangup_cause -> Nullable<Integer>,
        hangup_cause_text -> Nullable<Text>,
    }
}

diesel::table! {
    /// Who took part in a finished call, one row per extension: what
    /// `?extension=` reads (see the `history_indexes` migration).
    call_parties (extension, started_at, call_id, pbx) {
        extension -> Text,
        started_at -> Timestamp,
        call_id -> Text,
        pbx -> Text,
    }
}

diesel::table! {
    /// The search terms of a finished call, one row per term: what `?q=`
    /// reads (see the `history_filters` migration).
    call_search (term, started_at, call_id, pbx) {
        term -> Text,
        started_at -> Timestamp,
        call_id -> Text,
        pbx -> Text,
    }
}

diesel::table! {
    /// Calls whose search terms are to be written again at open (see the
    /// `search_terms_unlinked` migration and `store::call_terms`).
    call_search_pending (call_id, pbx) {
        call_id -> Text,
        pbx -> Text,
    }
}

diesel::table! {
    /// Journal chunks already replayed (see `store::journal`).
    journal_chunks (chunk) {
        chunk -> Text,
        applied_at -> Timestamp,
    }
}

diesel::table! {
    calls (id, pbx) {
        pbx -> Text,
        id -> Text,
        direction -> Text,
        caller_number -> Nullable<Text>,
        caller_name -> Nullable<Text>,
        callee_number -> Nullable<Text>,
        callee_name -> Nullable<Text>,
        started_at -> Timestamp,
        answered_at -> Nullable<Timestamp>,
        ended_at -> Nullable<Timestamp>,
        duration_secs -> Double,
        talk_secs -> Double,
        outcome -> Nullable<Text>,
        hangup_cause -> Nullable<Integer>,
        hangup_cause_text -> Nullable<Text>,
        transfers -> Text,
        queue -> Nullable<Text>,
        queue_wait_secs -> Nullable<BigInt>,
        queue_abandoned -> Bool,
    }
}

diesel::table! {
    extension_transitions (id) {
        id -> BigInt,
        pbx -> Text,
        extension -> Text,
        status -> Integer,
        status_text -> Text,
        state -> Text,
        device_state -> Nullable<Text>,
        at -> Timestamp,
    }
}

diesel::table! {
    extensions (pbx, extension) {
        pbx -> Text,
        extension -> Text,
        context -> Text,
        hint -> Nullable<Text>,
        name -> Nullable<Text>,
        status -> Integer,
        status_text -> Text,
        state -> Text,
        device_state -> Nullable<Text>,
        last_change -> Timestamp,
        last_confirmed -> Nullable<Timestamp>,
    }
}

diesel::table! {
    refresh_runs (id) {
        id -> BigInt,
        connection_id -> Text,
        pbx -> Text,
        started_at -> Timestamp,
        finished_at -> Timestamp,
        extensions_checked -> BigInt,
        successful -> BigInt,
        failed -> BigInt,
        corrections -> Text,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    store_identity (id) {
        id -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    active_calls,
    call_legs,
    call_parties,
    call_search,
    call_search_pending,
    calls,
    extension_transitions,
    extensions,
    journal_chunks,
    refresh_runs,
);
