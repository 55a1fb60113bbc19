# Helpers the benchmark scripts share; source it, don't run it.

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# Waits until HOST:PORT accepts connections, for at most TIMEOUT_S seconds.
wait_port() { # host port timeout_s
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "port $1:$2 never opened" >&2; return 1
}

# CPU time (utime+stime) of PID in clock ticks; the comm field may hold spaces.
cpu_ticks() { local s; s="$(cat "/proc/$1/stat")"; s="${s##*) }"; set -- $s; echo $(( ${12} + ${13} )); }

# Peak resident memory of PID in kB.
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# The path of nginx's rtmp module (NGINX_RTMP_SO overrides), or an error naming setup.sh.
nginx_rtmp_module() {
    local c
    for c in "${NGINX_RTMP_SO:-}" /usr/lib/nginx/modules/ngx_rtmp_module.so /usr/share/nginx/modules/ngx_rtmp_module.so \
             /usr/share/nginx/modules-available/ngx_rtmp_module.so; do
        [ -n "$c" ] && [ -f "$c" ] && { echo "$c"; return 0; }
    done
    echo "ngx_rtmp_module.so not found: run packaging/setup.sh" >&2; return 1
}

# The head of a single-process nginx config that loads the rtmp module and keeps its pid and logs under DIR.
nginx_rtmp_preamble() { # module dir
    cat <<CONF
load_module $1;
daemon off;
master_process off;
worker_processes 1;
pid $2/nginx.pid;
error_log $2/logs/error.log warn;
events { worker_connections 1024; }
CONF
}

# Stops every PID in the PIDS array (kill, then wait) and removes $TMP: `trap stop_all EXIT`.
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    [ -n "${TMP:-}" ] && rm -rf "$TMP"
}

# Starts Xvfb of SIZE (WxH) on a display of its own: sets DISPLAY_NUMBER and
# XVFB (its PID, also added to PIDS for the caller's cleanup).
start_xvfb() { # size
    DISPLAY_NUMBER=":$((150 + RANDOM % 50))"
    Xvfb "$DISPLAY_NUMBER" -screen 0 "${1}x24" -nolisten tcp >/dev/null 2>&1 &
    XVFB=$!; PIDS+=("$XVFB")
    local i
    for i in $(seq 50); do xdpyinfo -display "$DISPLAY_NUMBER" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "Xvfb did not start on $DISPLAY_NUMBER" >&2; return 1
}

# Starts `onair serve` with no ladder on free loopback ports, its output in
# DIR/serve.log: sets SERVER (its PID), RTMP (the ingest URL before the key),
# SRT (the ingest URL before its query) and HTTP (no trailing slash).
start_onair_serve() { # bin dir
    "$1" serve --webrtc 127.0.0.1:0 --no-ladder --rtmp 127.0.0.1:0 --srt 127.0.0.1:0 --http 127.0.0.1:0 >"$2/serve.log" 2>/dev/null &
    SERVER=$!
    local i
    for i in $(seq 100); do grep -q '^onair: HTTP' "$2/serve.log" && break; sleep 0.1; done
    RTMP="$(sed -n 's/^onair: RTMP ingest \(.*\)\/KEY$/\1/p' "$2/serve.log")"
    SRT="$(sed -n 's/^onair: SRT ingest \(srt:\/\/[^?]*\).*/\1/p' "$2/serve.log")"
    HTTP="$(sed -n 's/^onair: HTTP \([^ ]*\).*$/\1/p' "$2/serve.log" | head -1)"
    HTTP="${HTTP%/}"
}
