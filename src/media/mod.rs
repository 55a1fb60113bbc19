//! The shared vocabulary: timestamps, frames, codec configurations and
//! bitstream parsers. No sockets, no threads, no clocks.

pub mod aac;
pub mod bgrx;
pub mod bits;
pub mod codec;
pub mod flv;
pub mod frame;
pub mod h264;
pub mod scale;
pub mod shown;
pub mod stamp;
pub mod time;
pub mod ts;
pub mod wallclock;
