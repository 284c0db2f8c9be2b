# Sourced by the bench scripts: waits until the machine is quiet before the timed part.
#
#   wait_for_quiet MACHINE.md
#
# Quiet = no rustc/cargo running and a 1-minute load average below QUIET_LOAD (default 1.0).
# Waits at most QUIET_WAIT seconds (0: do not wait), then goes on and says so. Sets `waited`
# (seconds) and `quiet_note`, logs the note and appends it to MACHINE.md. Needs `log`.

busy_reason() {
    local load procs
    load="$(cut -d' ' -f1 /proc/loadavg)"
    procs="$( (pgrep -x rustc; pgrep -x cargo) 2>/dev/null | wc -l)"
    if ((procs > 0)); then echo "$procs rustc/cargo processes running, load $load"; return; fi
    if awk -v l="$load" -v q="${QUIET_LOAD:-1.0}" 'BEGIN { exit !(l >= q) }'; then
        echo "1-minute load average $load >= ${QUIET_LOAD:-1.0}"; return
    fi
}

wait_for_quiet() {
    local reason max="${QUIET_WAIT:-600}"
    waited=0
    reason="$(busy_reason)"
    while [[ -n "$reason" ]] && ((waited < max)); do
        log "waiting for a quiet machine: $reason (${waited}s of at most ${max}s)"
        sleep 30
        waited=$((waited + 30))
        reason="$(busy_reason)"
    done
    if [[ -n "$reason" ]]; then
        quiet_note="not quiet after waiting ${waited} s ($reason): figures may be noisy"
    else
        quiet_note="quiet (no rustc/cargo, 1-minute load < ${QUIET_LOAD:-1.0}) after waiting ${waited} s"
    fi
    log "machine: $quiet_note"
    echo "- machine before the timed part: $quiet_note" >>"$1"
}
