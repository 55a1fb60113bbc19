use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use onair::server::config::ServerConfig;

/// OnAir: a live-streaming studio and a small, fast live origin.
///
/// Publish RTMP to the bundled server and watch it as HLS or DASH.
#[derive(Parser)]
#[command(name = "onair", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the live server: RTMP ingest, HLS and DASH over HTTP.
    ///
    /// Publish with e.g. `ffmpeg -re -i input.mp4 -c copy -f flv rtmp://127.0.0.1:1935/live/KEY`
    /// and watch http://127.0.0.1:8080/live/KEY/index.m3u8.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML config file; every field is optional (see --print-config).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// RTMP listen address (config: rtmp.listen) [default: 127.0.0.1:1935].
    #[arg(long, value_name = "ADDR")]
    rtmp: Option<SocketAddr>,
    /// HTTP listen address (config: http.listen) [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

fn main() -> anyhow::Result<()> {
    return_large_buffers_to_the_system();
    init_logging();
    install_panic_logger();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Serve(args)) => serve(args),
        None => serve(ServeArgs { config: None, rtmp: None, http: None, print_config: false }),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => ServerConfig::load(path)?,
        None => ServerConfig::default(),
    };
    if let Some(addr) = args.rtmp {
        config.rtmp.listen = addr;
    }
    if let Some(addr) = args.http {
        config.http.listen = addr;
    }
    if args.print_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let app = config.rtmp.app.clone();
        let server = onair::server::start(config).await?;
        // One machine-readable line per listener, for scripts and tests.
        println!("onair: RTMP ingest rtmp://{}/{app}/KEY", server.rtmp_addr);
        println!("onair: HTTP http://{}/", server.http_addr);
        tracing::info!("ready: publish to rtmp://{}/{app}/KEY, watch http://{}/live/KEY/index.m3u8", server.rtmp_addr, server.http_addr);
        tokio::signal::ctrl_c().await.context("cannot wait for Ctrl-C")?;
        tracing::info!("shutting down");
        anyhow::Ok(())
    })
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ONAIR_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).init();
}

/// Panics are bugs; they go to the log with their location instead of raw stderr.
fn install_panic_logger() {
    std::panic::set_hook(Box::new(|info| {
        tracing::error!("internal error (please report): {info}");
    }));
}

/// Segments are megabytes each and live for seconds. glibc raises its mmap
/// threshold after the first such buffer is freed, after which segments come
/// from the heap and fragment it; a fixed threshold keeps them mmapped, so a
/// segment that leaves the window goes back to the system.
fn return_large_buffers_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator and is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}
