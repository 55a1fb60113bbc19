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
