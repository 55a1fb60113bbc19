//! What the CLI writes to the terminal, and what C libraries may not.
//!
//! The status line (rewritten in place with `\r`) and the log lines that
//! interleave with it: a log line first clears the status line, so the two
//! are never glued together; the next update redraws it.
//!
//! ALSA, JACK and OpenH264 print to file descriptor 2 on their own (a
//! missing sound server, a rate-control remark). `route_native_chatter`
//! points descriptor 2 at a pipe and keeps the terminal for OnAir's own
//! output: their known remarks go to the debug log, anything else from them
//! is passed through.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

static STATUS_SHOWN: AtomicBool = AtomicBool::new(false);
/// Lines of the status block below its first.
static STATUS_EXTRA_LINES: AtomicUsize = AtomicUsize::new(0);

/// The terminal's stderr, once descriptor 2 has been rerouted.
static TERMINAL: OnceLock<File> = OnceLock::new();

/// Lines C libraries print that say nothing a user must act on.
const CHATTER: [&str; 8] =
    ["ALSA lib ", "[OpenH264]", "jack server", "Cannot connect to server", "JackShmReadWritePtr", "JackClient", "Cannot open device", "connect(2) call to"];

/// A blank line counts too: ALSA follows some remarks with one.
fn is_chatter(line: &str) -> bool {
    line.trim().is_empty() || CHATTER.iter().any(|prefix| line.trim_start().starts_with(prefix))
}

/// Writes to the terminal's stderr, wherever descriptor 2 points.
fn write_terminal(bytes: &[u8]) -> std::io::Result<()> {
    match TERMINAL.get() {
        Some(mut terminal) => {
            terminal.write_all(bytes)?;
            terminal.flush()
        }
        None => {
            let mut stderr = std::io::stderr().lock();
            stderr.write_all(bytes)?;
            stderr.flush()
        }
    }
}

/// A line of OnAir's own on the terminal (an error, a notice).
pub fn say(line: &str) {
    end_status();
    let _ = write_terminal(format!("{line}\n").as_bytes());
}

/// Descriptor 2 back on the terminal when dropped, after what the libraries
/// wrote has been passed on.
pub struct NativeChatter {
    drained: std::sync::mpsc::Receiver<()>,
}

/// Points descriptor 2 at a pipe read by a thread that sorts the libraries' lines.
pub fn route_native_chatter() -> std::io::Result<NativeChatter> {
    let mut ends = [0; 2];
    // SAFETY: plain descriptor calls; every descriptor made here is owned below.
    let original = unsafe {
        if libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let original = libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 3);
        if original < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::dup2(ends[1], 2) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        libc::close(ends[1]);
        File::from(OwnedFd::from_raw_fd(original))
    };
    // SAFETY: the read end is ours alone.
    let pipe = unsafe { File::from_raw_fd(ends[0]) };
    let _ = TERMINAL.set(original);
    let (done, drained) = std::sync::mpsc::channel();
    std::thread::Builder::new().name("native-stderr".into()).spawn(move || {
        for line in BufReader::new(pipe).split(b'\n').map_while(Result::ok) {
            let text = String::from_utf8_lossy(&line);
            if !is_chatter(&text) {
                let _ = write_terminal(format!("{text}\n").as_bytes());
            } else if tracing::enabled!(tracing::Level::DEBUG) {
                // Straight to the terminal: a log line through descriptor 2 would come back here.
                let _ = write_terminal(format!("debug (native library): {text}\n").as_bytes());
            }
        }
        let _ = done.send(());
    })?;
    Ok(NativeChatter { drained })
}

impl Drop for NativeChatter {
    fn drop(&mut self) {
        if let Some(terminal) = TERMINAL.get() {
            // SAFETY: restores descriptor 2; the pipe's write end closes with it.
            unsafe { libc::dup2(terminal.as_raw_fd(), 2) };
        }
        // A child that inherited the pipe may keep it open: do not wait for it long.
        let _ = self.drained.recv_timeout(Duration::from_millis(500));
    }
}

const CLEAR_LINE: &str = "\r\x1b[K";

/// Replaces the status line on stderr.
pub fn show_status(lines: &str) {
    let _ = write_terminal(format!("{}{lines}", clear_status()).as_bytes());
    STATUS_EXTRA_LINES.store(lines.matches('\n').count(), Ordering::SeqCst);
    STATUS_SHOWN.store(true, Ordering::SeqCst);
}

/// What erases the status block shown (a line, or a line per target below it).
fn clear_status() -> String {
    let mut clear = String::from(CLEAR_LINE);
    for _ in 0..STATUS_EXTRA_LINES.swap(0, Ordering::SeqCst) {
        clear.push_str("\x1b[1A\x1b[2K");
    }
    clear
}

/// Ends the status line: what follows starts on a line of its own.
pub fn end_status() {
    if STATUS_SHOWN.swap(false, Ordering::SeqCst) {
        let _ = write_terminal(b"\n");
    }
}

/// tracing's writer: stderr, after clearing a status line that is shown.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if STATUS_SHOWN.swap(false, Ordering::SeqCst) {
            write_terminal(clear_status().as_bytes())?;
        }
        write_terminal(bytes)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        LogWriter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_libraries_remarks_are_chatter_and_other_lines_are_not() {
        assert!(is_chatter("ALSA lib confmisc.c:165:(snd_config_get_card) Cannot get card index for 0"));
        assert!(is_chatter("[OpenH264] this = 0x0x7f57e8000c40, Warning:bEnableFrameSkip = 0"));
        assert!(is_chatter("jack server is not running or cannot be started"));
        assert!(!is_chatter("Error: could not connect to 127.0.0.1:1"));
        assert!(!is_chatter("thread 'main' panicked at src/main.rs:1:1"));
    }
}
