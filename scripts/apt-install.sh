# Sourced by scripts/services.sh and scripts/cgroup2-vm.sh: installs the Debian packages that are
# missing (as root), never letting package scripts start system-wide daemons (we start our own).
#   apt_install_missing LOGFILE PKG...   (uses the caller's log function)
apt_install_missing() {
  local logfile=$1; shift
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then log "missing Debian packages (need root to install): ${missing[*]}"; return 1; fi
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  apt-get update -qq >"$logfile" 2>&1 || true
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$logfile" 2>&1 || { tail -20 "$logfile" >&2; rm -f /usr/sbin/policy-rc.d; return 1; }
  rm -f /usr/sbin/policy-rc.d
}
