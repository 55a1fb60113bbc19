//! Scenes: what the studio sends when it is more than one camera. A scene
//! is an ordered list of layers (`spec`), each a source (`source`) placed on
//! the output canvas; the compositor (`compose`) draws one, and the program
//! (`program`) draws the one on air on a thread of its own at the output
//! rate, switching with a cut or a fade.

pub mod compose;
pub mod program;
pub mod source;
pub mod spec;

pub use program::{ProgramControl, ProgramSource, ProgramStatus, Transition};
pub use spec::{Layer, Scene, SceneCollection, SceneError, SourceSpec};
