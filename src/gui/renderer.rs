//! What draws the window, known from its first frame: a software rasteriser
//! (Mesa's llvmpipe on a machine without a GPU) takes more CPU to redraw the
//! window at the capture rate than composing a scene does, and the encoder
//! needs it more; there the window redraws at half the rate.

use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Renderer {
    Gpu(String),
    Software(String),
}

impl Renderer {
    pub fn of(gl: &eframe::glow::Context) -> Renderer {
        use eframe::glow::HasContext;
        // SAFETY: a query of the context eframe made current for this frame.
        let name = unsafe { gl.get_parameter_string(eframe::glow::RENDERER) };
        let software = ["llvmpipe", "softpipe", "swrast", "SwiftShader"].iter().any(|s| name.contains(s));
        if software { Renderer::Software(name) } else { Renderer::Gpu(name) }
    }

    /// How often the window redraws: each captured frame with a GPU (or not
    /// yet known), every other one when it is drawn in software.
    pub fn redraw_every(renderer: Option<&Renderer>) -> Duration {
        match renderer {
            Some(Renderer::Software(_)) => Duration::from_millis(66),
            _ => Duration::from_millis(33),
        }
    }
}
