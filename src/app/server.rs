//! The HTTP server: the one place that builds it, for the service and for the
//! tests, so both run the same routes with the same socket settings.

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;

use super::Service;
use crate::config::Config;
use crate::http::AppState;

/// What differs between the service's HTTP server and a test's.
#[derive(Debug, Clone, Copy)]
pub struct HttpSettings {
    /// Where to listen (port 0: any free port, see [`BoundHttp::addrs`]).
    pub bind: SocketAddr,
    /// Worker threads.
    pub workers: usize,
    /// Seconds a stopping server waits for open requests.
    pub shutdown_timeout: u64,
}

impl HttpSettings {
    /// The service's settings: two workers, three seconds to finish requests on stop.
    pub fn for_service(bind: SocketAddr) -> Self {
        Self {
            bind,
            workers: 2,
            shutdown_timeout: 3,
        }
    }
}

/// An HTTP server, bound and ready to be awaited (or spawned).
pub struct BoundHttp {
    /// The server; it serves once polled.
    pub server: Server,
    /// The addresses it listens on (the real port when bound to port 0).
    pub addrs: Vec<SocketAddr>,
}

/// The routes and the access log for `state`: what every HTTP worker runs, and
/// what an in-process `actix_web::test` service wraps.
pub fn http_app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .wrap(crate::http::access_logger())
        .configure(move |cfg| crate::http::configure(cfg, state))
}

/// The HTTP server for `state`, bound to `settings.bind`. Signals are left to the
/// caller ([`serve`] stops the server itself after a graceful shutdown).
pub fn http_server(
    state: web::Data<AppState>,
    settings: HttpSettings,
) -> std::io::Result<BoundHttp> {
    build_server(state, Listen::Bind(settings.bind), settings)
}

/// Where a server listens: an address it binds itself (with actix's backlog), or
/// a socket bound before.
enum Listen {
    Bind(SocketAddr),
    Socket(std::net::TcpListener),
}

/// The HTTP server for `state` on a socket already listening: the service binds
/// before it starts anything, so a busy port fails the start before any actor runs.
pub fn http_server_on(
    state: web::Data<AppState>,
    listener: std::net::TcpListener,
    settings: HttpSettings,
) -> std::io::Result<BoundHttp> {
    build_server(state, Listen::Socket(listener), settings)
}

fn build_server(
    state: web::Data<AppState>,
    listen: Listen,
    settings: HttpSettings,
) -> std::io::Result<BoundHttp> {
    let server = HttpServer::new(move || http_app(state.clone()))
        .workers(settings.workers.max(1))
        .disable_signals()
        // WebSocket changes are small frames pushed as they happen: with Nagle on, a
        // frame written while the previous one is unacknowledged waits for the ACK.
        .tcp_nodelay(true)
        .shutdown_timeout(settings.shutdown_timeout)
        // The request head (line and headers) must arrive within this; the body has
        // its own deadline, HTTP_BODY_TIMEOUT (see `http::edge`).
        .client_request_timeout(REQUEST_HEAD_TIMEOUT);
    let server = match listen {
        Listen::Bind(addr) => server.bind(addr)?,
        Listen::Socket(listener) => server.listen(listener)?,
    };
    let addrs = server.addrs();
    Ok(BoundHttp {
        server: server.run(),
        addrs,
    })
}

/// Runs the HTTP server for `service` on `listener` (bound to `HTTP_BIND` by the
/// caller) until SIGTERM or Ctrl-C, then shuts down gracefully.
pub async fn serve(service: Service, listener: std::net::TcpListener) -> anyhow::Result<()> {
    let bind = service.state.config.http_bind;
    if let Some(warning) = open_to_network_warning(&service.state.config) {
        log::warn!("{warning}");
    }
    let bound = match http_server_on(
        service.state.clone(),
        listener,
        HttpSettings::for_service(bind),
    ) {
        Ok(bound) => bound,
        Err(e) => {
            // Stop what start() began, so nothing outlives the runtime.
            service.shutdown().await;
            return Err(e).with_context(|| format!("serving HTTP on {bind}"));
        }
    };
    for addr in &bound.addrs {
        log::info!("switchboard listening on http://{addr}");
    }
    let server = bound.server;
    let handle = server.handle();
    let server_task = actix_web::rt::spawn(server);
    wait_for_signal().await;
    log::info!("shutting down: logging off, closing clients, flushing writes");
    let outcome = service.shutdown().await;
    handle.stop(true).await;
    let _ = server_task.await;
    match outcome {
        super::StopOutcome::Lost { counts, reason } => Err(anyhow::anyhow!(
            "unwritten ops lost at shutdown ({reason}): {counts}"
        )),
        _ => Ok(()),
    }
}

/// How long a client may take to send a request's line and headers.
pub const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// The warning for a service that anyone on the network can read: no `API_TOKEN`
/// and a listening address other than loopback. `None` when either is not so.
pub fn open_to_network_warning(config: &Config) -> Option<String> {
    let bind = config.http_bind;
    (config.api_token.is_none() && !bind.ip().is_loopback()).then(|| {
        format!(
            "HTTP_BIND is {bind}, not loopback, and API_TOKEN is not set: every call \
             record (caller numbers and names), extension and the live feed is readable, \
             and refreshes can be started, by anyone who can reach this port; set API_TOKEN"
        )
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
