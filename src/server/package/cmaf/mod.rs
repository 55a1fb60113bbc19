//! CMAF packaging: init and fragment writers, the segmenter, and the window
//! of segments that HLS and DASH both list.

pub mod cuts;
pub mod fragment;
pub mod init;
pub mod mp4;
pub mod parameter_sets;
pub mod pieces;
pub mod rung;
pub mod rungs;
pub mod segmenter;
pub mod timeline;
pub mod track;
pub mod window;
