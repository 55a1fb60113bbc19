//! This process's CPU use, as OBS's status bar shows it.

use std::time::{Duration, Instant};

/// CPU use of this process, from /proc, refreshed at most every half second.
pub fn process_cpu_percent() -> f64 {
    use std::sync::Mutex;
    static LAST: Mutex<Option<(Instant, f64, f64)>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    if let Some((then, _, percent)) = *last
        && now.duration_since(then) < Duration::from_millis(500)
    {
        return percent;
    }
    let seconds = std::fs::read_to_string("/proc/self/stat").ok().and_then(|stat| {
        let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
        Some((fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?) / 100.0)
    });
    let Some(seconds) = seconds else { return 0.0 };
    let percent = match *last {
        Some((then, before, _)) => (seconds - before) / now.duration_since(then).as_secs_f64() * 100.0,
        None => 0.0,
    };
    *last = Some((now, seconds, percent));
    percent
}
