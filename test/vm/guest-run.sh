#!/bin/sh
# Runs inside the cgroup v2 VM of scripts/cgroup2-vm.sh. $1 = cgroupfs (this is init: sets up the
# system and starts dockerd with the cgroupfs driver) or systemd (run by dwtest.service after
# docker.service). Then runs the checks (cgroup2-checks.mjs), which print DWRESULT lines, and powers off.
mode=$1
export PATH=/opt/node/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
say() { echo "DWLOG $*"; }
if [ "$mode" = cgroupfs ]; then
  mount -t proc proc /proc; mount -t sysfs sys /sys
  mount -t cgroup2 cgroup2 /sys/fs/cgroup
  mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /dev/shm
  mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /tmp
  hostname dwvm; ip link set lo up
  # As systemd would: let the children of the root cgroup use every controller.
  for c in $(cat /sys/fs/cgroup/cgroup.controllers); do echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; done
  # containerd is started by dockerd itself (no --containerd).
  dockerd --exec-opt native.cgroupdriver=cgroupfs >/var/log/dockerd.log 2>&1 &
fi
say "mode=$mode kernel=$(uname -r) cgroup=$(stat -fc %T /sys/fs/cgroup) controllers=$(cat /sys/fs/cgroup/cgroup.controllers)"
i=0
until docker info >/dev/null 2>&1; do
  i=$((i + 1))
  if [ $i -gt 240 ]; then
    echo 'DWRESULT {"case":"dockerd","ok":false,"error":"docker info did not answer in 120 s"}'
    tail -40 /var/log/dockerd.log 2>/dev/null | sed 's/^/DWLOG dockerd: /'
    journalctl -u docker -u containerd --no-pager 2>/dev/null | tail -40 | sed 's/^/DWLOG journal: /'
    break
  fi
  sleep 0.5
done
say "docker up after $((i / 2)) s: $(docker info --format '{{.CgroupDriver}} {{.CgroupVersion}} {{.Driver}} {{.ServerVersion}}' 2>&1)"
cd /tmp && node /opt/dw/vm/cgroup2-checks.mjs "$mode" 2>&1
echo "DWDONE $mode"
sync
if [ "$mode" = cgroupfs ]; then echo o >/proc/sysrq-trigger; fi
