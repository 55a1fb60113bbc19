//! Native libraries opened the first time they are needed (libsrt for the
//! first SRT socket, FFmpeg for the first ladder), by the SONAME build.rs
//! read from the installed file: a process that never needs one never maps
//! it, nor what it depends on. Their bindings are bindgen's, generated from
//! the installed headers.

use std::sync::OnceLock;

use libloading::os::unix::{Library as UnixLibrary, RTLD_GLOBAL, RTLD_NOW};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot load {soname}: {message}. Run packaging/setup.sh, which installs it")]
pub struct LoadError {
    pub soname: &'static str,
    pub message: String,
}

/// Bindings whose functions are looked up in the process's global scope
/// once their libraries are open there (bindgen's `from_library`).
type Bind<T> = unsafe fn(libloading::Library) -> Result<T, libloading::Error>;

/// One set of bindings, loaded once and kept for the life of the process.
pub struct NativeLibrary<T: 'static> {
    sonames: &'static [&'static str],
    bind: Bind<T>,
    loaded: OnceLock<Result<T, LoadError>>,
}

impl<T: Send + Sync> NativeLibrary<T> {
    /// `bind` must be bindgen's `from_library` for bindings made from these libraries' headers.
    pub const fn new(sonames: &'static [&'static str], bind: Bind<T>) -> NativeLibrary<T> {
        NativeLibrary { sonames, bind, loaded: OnceLock::new() }
    }

    /// The bindings, opening the libraries the first time.
    pub fn get(&'static self) -> Result<&'static T, LoadError> {
        self.loaded.get_or_init(|| self.load()).as_ref().map_err(Clone::clone)
    }

    fn load(&self) -> Result<T, LoadError> {
        for &soname in self.sonames {
            // SAFETY: these libraries run no initialisers that conflict with
            // ours. Global, so the process's scope below finds their symbols;
            // never closed, since the bindings' pointers live as long as the process.
            let library = unsafe { UnixLibrary::open(Some(soname), RTLD_NOW | RTLD_GLOBAL) };
            std::mem::forget(library.map_err(|error| LoadError { soname, message: error.to_string() })?);
        }
        let scope = libloading::Library::from(UnixLibrary::this());
        // SAFETY: `bind` is the generated constructor for these libraries' headers.
        unsafe { (self.bind)(scope) }.map_err(|error| LoadError { soname: self.sonames.first().copied().unwrap_or("?"), message: error.to_string() })
    }
}
