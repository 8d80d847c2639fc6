//! Logger set-up: `RUST_LOG` wins; `LOG_LEVEL` (the variable of the service switchboard
//! replaces, e.g. `LOG_LEVEL=debug`) is honoured; the default is `info`.

/// Initialises `env_logger` once; later calls (tests) are harmless.
pub fn init() {
    let default = std::env::var("LOG_LEVEL").unwrap_or_else(|_| "info".to_string());
    let env = env_logger::Env::default().default_filter_or(default);
    let _ = env_logger::Builder::from_env(env).try_init();
}
