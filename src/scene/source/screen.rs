//! A monitor or a window on X11, read once per output frame through MIT-SHM
//! (the server writes the pixels straight into memory shared with this
//! process: no copy through the socket), or GetImage where the server is
//! remote. Wayland sessions run X11 programs under XWayland, whose DISPLAY
//! this reads; a window closed or a display gone keeps the last picture.

use std::time::{Duration, Instant};

use x11rb::connection::Connection;
use x11rb::protocol::randr::ConnectionExt as _;
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{AtomEnum, ConnectionExt as _, ImageFormat, MapState, Window};
use x11rb::rust_connection::RustConnection;

use super::{LayerSource, Picture};
use crate::capture::clock::CaptureTime;
use crate::media::scale::{PixelFormat, Planes};

/// How often a lost display or window is looked for again.
const RETRY: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    Monitor(Option<usize>),
    Window(String),
}

#[derive(Debug, thiserror::Error)]
enum ScreenError {
    #[error("screen capture needs an X11 display and none answers ({0}); on Wayland, start the studio where DISPLAY names XWayland")]
    NoDisplay(String),
    #[error("there is no monitor {0} (this display has {1})")]
    NoMonitor(usize, usize),
    #[error("no window's title contains \"{0}\"")]
    NoWindow(String),
    #[error("the display's pixels are {0} bits each; screen capture reads 32")]
    Depth(u8),
    #[error("X11: {0}")]
    X11(String),
}

impl ScreenError {
    fn x11(error: impl std::fmt::Display) -> ScreenError {
        ScreenError::X11(error.to_string())
    }
}

/// A System V shared memory segment attached here and in the X server.
struct SharedMemory {
    address: *mut u8,
    size: usize,
    segment: shm::Seg,
}

// SAFETY: the mapping is owned by this value and only read through `&self`.
unsafe impl Send for SharedMemory {}

impl SharedMemory {
    fn new(connection: &RustConnection, size: usize) -> Result<SharedMemory, ScreenError> {
        // SAFETY: plain calls; every result is checked before use.
        unsafe {
            let id = libc::shmget(libc::IPC_PRIVATE, size, libc::IPC_CREAT | 0o600);
            if id < 0 {
                return Err(ScreenError::X11(format!("shmget: {}", std::io::Error::last_os_error())));
            }
            let address = libc::shmat(id, std::ptr::null(), 0);
            if address as isize == -1 {
                libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
                return Err(ScreenError::X11(format!("shmat: {}", std::io::Error::last_os_error())));
            }
            // From here on, dropping it detaches.
            let mut memory = SharedMemory { address: address.cast(), size, segment: 0 };
            let attach = connection.generate_id().map_err(ScreenError::x11).and_then(|segment| {
                memory.segment = segment;
                connection.shm_attach(segment, id as u32, false).map_err(ScreenError::x11)?.check().map_err(ScreenError::x11)
            });
            // Removed once both sides detach, so a crash leaks nothing.
            libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
            attach.map(|()| memory)
        }
    }

    fn bytes(&self, length: usize) -> &[u8] {
        // SAFETY: the mapping is `size` bytes long and lives as long as self.
        unsafe { std::slice::from_raw_parts(self.address, length.min(self.size)) }
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        // SAFETY: attached by shmat in `new`.
        unsafe { libc::shmdt(self.address.cast()) };
    }
}

struct Display {
    connection: RustConnection,
    root: Window,
    shared: Option<SharedMemory>,
    /// MIT-SHM answers (false on a remote display): GetImage then.
    has_shm: bool,
}

/// What was captured last: where its pixels are.
enum Pixels {
    None,
    Shared { width: usize, height: usize },
    Copied { width: usize, height: usize, data: Vec<u8> },
}

pub struct ScreenCapture {
    target: Target,
    display: Option<Display>,
    window: Option<Window>,
    pixels: Pixels,
    generation: u64,
    problem: Option<String>,
    retry_at: Option<Instant>,
}

impl ScreenCapture {
    pub fn screen(index: Option<usize>) -> ScreenCapture {
        ScreenCapture::new(Target::Monitor(index))
    }

    pub fn window(title: &str) -> ScreenCapture {
        ScreenCapture::new(Target::Window(title.to_string()))
    }

    fn new(target: Target) -> ScreenCapture {
        ScreenCapture { target, display: None, window: None, pixels: Pixels::None, generation: 0, problem: None, retry_at: None }
    }

    fn connect() -> Result<Display, ScreenError> {
        let (connection, screen) = x11rb::connect(None).map_err(|error| ScreenError::NoDisplay(error.to_string()))?;
        let setup = connection.setup();
        let root = setup.roots.get(screen).ok_or_else(|| ScreenError::NoDisplay(format!("no screen {screen}")))?;
        let bits = setup.pixmap_formats.iter().find(|format| format.depth == root.root_depth).map_or(0, |format| format.bits_per_pixel);
        if bits != 32 {
            return Err(ScreenError::Depth(bits));
        }
        let root = root.root;
        let has_shm = connection.shm_query_version().ok().and_then(|cookie| cookie.reply().ok()).is_some();
        Ok(Display { connection, root, shared: None, has_shm })
    }

    /// The area to read: a drawable and its rectangle in it.
    fn area(&mut self) -> Result<(Window, i16, i16, u16, u16), ScreenError> {
        let display = self.display.as_ref().expect("connected");
        let connection = &display.connection;
        match &self.target {
            Target::Monitor(index) => {
                let monitors = connection.randr_get_monitors(display.root, true).ok().and_then(|cookie| cookie.reply().ok()).map(|reply| reply.monitors);
                let geometry = connection.get_geometry(display.root).map_err(ScreenError::x11)?.reply().map_err(ScreenError::x11)?;
                let whole = (display.root, 0, 0, geometry.width, geometry.height);
                match (monitors, index) {
                    (Some(monitors), Some(index)) => {
                        let monitor = monitors.get(*index).ok_or(ScreenError::NoMonitor(*index, monitors.len()))?;
                        Ok((display.root, monitor.x, monitor.y, monitor.width, monitor.height))
                    }
                    (Some(monitors), None) => {
                        let primary = monitors.iter().find(|m| m.primary).or(monitors.first());
                        Ok(primary.map_or(whole, |m| (display.root, m.x, m.y, m.width, m.height)))
                    }
                    (None, Some(index)) if *index > 0 => Err(ScreenError::NoMonitor(*index, 1)),
                    (None, _) => Ok(whole),
                }
            }
            Target::Window(title) => {
                let window = match self.window {
                    Some(window) => window,
                    None => find_window(connection, display.root, title)?.ok_or_else(|| ScreenError::NoWindow(title.clone()))?,
                };
                let geometry = connection.get_geometry(window).map_err(ScreenError::x11)?.reply().map_err(|_| ScreenError::NoWindow(title.clone()))?;
                self.window = Some(window);
                Ok((window, 0, 0, geometry.width, geometry.height))
            }
        }
    }

    fn capture(&mut self) -> Result<(), ScreenError> {
        if self.display.is_none() {
            self.display = Some(ScreenCapture::connect()?);
        }
        let (drawable, x, y, width, height) = self.area()?;
        let (w, h) = (usize::from(width) & !1, usize::from(height) & !1);
        if w < 2 || h < 2 {
            return Err(ScreenError::X11(format!("a {width}x{height} area")));
        }
        let display = self.display.as_mut().expect("connected");
        let length = w * h * 4;
        if display.has_shm {
            if display.shared.as_ref().is_none_or(|shared| shared.size < length) {
                if let Some(old) = display.shared.take() {
                    let _ = display.connection.shm_detach(old.segment);
                }
                // libswscale's SIMD reads a little past the last row: a page of slack.
                display.shared = Some(SharedMemory::new(&display.connection, length + 4096)?);
            }
            let segment = display.shared.as_ref().map_or(0, |shared| shared.segment);
            let format = u8::from(ImageFormat::Z_PIXMAP);
            let cookie = display.connection.shm_get_image(drawable, x, y, w as u16, h as u16, !0, format, segment, 0).map_err(ScreenError::x11)?;
            cookie.reply().map_err(ScreenError::x11)?;
            self.pixels = Pixels::Shared { width: w, height: h };
        } else {
            let cookie = display.connection.get_image(ImageFormat::Z_PIXMAP, drawable, x, y, w as u16, h as u16, !0).map_err(ScreenError::x11)?;
            let data = cookie.reply().map_err(ScreenError::x11)?.data;
            if data.len() < length {
                return Err(ScreenError::X11(format!("GetImage gave {} of {length} bytes", data.len())));
            }
            self.pixels = Pixels::Copied { width: w, height: h, data };
        }
        self.generation += 1;
        Ok(())
    }
}

impl LayerSource for ScreenCapture {
    fn update(&mut self, _now: CaptureTime, _size: (usize, usize)) {
        if self.retry_at.is_some_and(|at| Instant::now() < at) {
            return;
        }
        match self.capture() {
            Ok(()) => (self.problem, self.retry_at) = (None, None),
            Err(error) => {
                let message = match (&self.pixels, &error) {
                    (Pixels::None, _) | (_, ScreenError::NoDisplay(_)) => error.to_string(),
                    _ => format!("{error}; showing the last picture"),
                };
                if self.problem.as_deref() != Some(&message) {
                    tracing::warn!("{message}");
                }
                self.problem = Some(message);
                self.retry_at = Some(Instant::now() + RETRY);
                // Look the window up again, and reconnect if the display went away.
                self.window = None;
                if matches!(error, ScreenError::X11(_)) {
                    self.display = None;
                }
            }
        }
    }

    fn picture(&self) -> Option<Picture<'_>> {
        let (width, height, data) = match &self.pixels {
            Pixels::None => return None,
            Pixels::Shared { width, height } => (*width, *height, self.display.as_ref()?.shared.as_ref()?.bytes(width * height * 4)),
            Pixels::Copied { width, height, data } => (*width, *height, data.as_slice()),
        };
        Some(Picture { planes: Planes::tight(PixelFormat::Bgr0, data, width, height), generation: self.generation, captured: None })
    }

    fn warning(&self) -> Option<String> {
        self.problem.clone()
    }
}

/// The first viewable window (depth-first, top-level first) whose title contains `words`.
fn find_window(connection: &RustConnection, root: Window, words: &str) -> Result<Option<Window>, ScreenError> {
    let utf8 = connection.intern_atom(false, b"UTF8_STRING").map_err(ScreenError::x11)?.reply().map_err(ScreenError::x11)?.atom;
    let net_name = connection.intern_atom(false, b"_NET_WM_NAME").map_err(ScreenError::x11)?.reply().map_err(ScreenError::x11)?.atom;
    let title_of = |window: Window| -> Option<String> {
        let property = |name: u32, kind: u32| {
            connection.get_property(false, window, name, kind, 0, 1024).ok()?.reply().ok().filter(|reply| !reply.value.is_empty()).map(|reply| reply.value)
        };
        let bytes = property(net_name, utf8).or_else(|| property(AtomEnum::WM_NAME.into(), AtomEnum::STRING.into()))?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    };
    let mut level = vec![root];
    // Window managers put a frame or two around each client.
    for _ in 0..4 {
        let mut next = Vec::new();
        for parent in level {
            let Ok(tree) = connection.query_tree(parent).map_err(ScreenError::x11)?.reply() else { continue };
            for window in tree.children.into_iter().rev() {
                let viewable = connection.get_window_attributes(window).ok().and_then(|c| c.reply().ok()).is_some_and(|a| a.map_state == MapState::VIEWABLE);
                if viewable && title_of(window).is_some_and(|title| title.contains(words)) {
                    return Ok(Some(window));
                }
                next.push(window);
            }
        }
        level = next;
    }
    Ok(None)
}
