#!/usr/bin/env bash
# Boots a real cgroup v2 Linux (Debian's kernel under QEMU/TCG, no KVM needed) with a real dockerd
# and podman, and runs test/vm/cgroup2-checks.mjs inside it: `dockwatch all`, real containers,
# the agent's values against `docker stats` and the cgroup files. Two boots:
#   cgroupfs  shell init, dockerd --exec-opt native.cgroupdriver=cgroupfs (/sys/fs/cgroup/docker/<id>)
#   systemd   systemd as init, docker.service with its default systemd driver
#             (/sys/fs/cgroup/system.slice/docker-<id>.scope), podman (machine.slice/libpod-<id>.scope)
# apparmor=0: under systemd securityfs is mounted and dockerd would want apparmor_parser (not in the rootfs).
# Results come back on the serial console as `DWRESULT {json}` lines; this script prints the whole
# console on stdout. Idempotent: the Debian rootfs disk is cached under $VM keyed by a hash of its
# inputs (packages, kernel, node binary, busybox), so a machine builds it once (about 2-3 min).
# The project (dist/, production node_modules, the test script) goes on a second, small disk per run.
#   scripts/cgroup2-vm.sh [cgroupfs|systemd ...]   (default: both)
#   scripts/cgroup2-vm.sh build                    (only the disks: no boot, so no need for the heavy lock)
# Needs root (apt-get, mke2fs -d keeps ownership). Run it under flock /tmp/dockwatch-heavy.lock.
set -euo pipefail
# Everything below is read whole before it runs ({ ...; exit; }): an edit of this file during a
# 10-minute run must not change what the running bash reads next.
{
cd "$(dirname "$0")/.."
ROOT=${DOCKWATCH_SERVICES_ROOT:-/tmp/dockwatch-services}
VM=$ROOT/vm
mkdir -p "$VM"
log() { echo "[cgroup2-vm] $*" >&2; }

PKGS=(qemu-system-x86 linux-image-amd64 mmdebstrap e2fsprogs busybox-static)
# Packages of the guest's rootfs.
# dbus-user-session and libpam-systemd: a user manager with a session bus, for rootless podman.
GUEST_PKGS=docker.io,podman,systemd-sysv,dbus,dbus-user-session,libpam-systemd,iproute2,ca-certificates,kmod,procps,uidmap,util-linux,iputils-ping

# shellcheck source=scripts/apt-install.sh
. scripts/apt-install.sh
install_missing() { apt_install_missing "$VM/apt.log" "${PKGS[@]}"; }

mirror() { # the first URIs: of the machine's Debian sources
  local m
  m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  echo "${m:-http://deb.debian.org/debian}"
}

install_missing
[ "$(id -u)" = 0 ] || { log "needs root"; exit 1; }
KVER=$(ls /boot/vmlinuz-* | sed 's|/boot/vmlinuz-||' | sort -V | tail -1)
[ -n "$KVER" ] && [ -d "/lib/modules/$KVER" ] || { log "no kernel in /boot"; exit 1; }
# A kernel installed where no initrd was made (no initramfs-tools at the time) still boots: make it.
[ -f "/boot/initrd.img-$KVER" ] || { log "making /boot/initrd.img-$KVER"; update-initramfs -c -k "$KVER" >/dev/null; }
NODE=$(command -v node)
# The guest gets the node binary alone (its glibc is bookworm's): a node linked to libnode (Debian's
# nodejs package) would not start there.
if ldd "$NODE" | grep -q libnode; then log "$NODE links libnode.so: use a standalone node binary (nodejs.org build)"; exit 1; fi
MIRROR=$(mirror)

# ---- the base disk: Debian bookworm + docker.io + podman + the kernel's modules + node ----
key=$(printf '%s\n' "v4" "$GUEST_PKGS" "$KVER" "$MIRROR" "$(sha256sum "$NODE" /bin/busybox | cut -c1-64)" \
  "$(sed -n '/^guest_setup() {/,/^}/p' "$0")" | sha256sum | cut -c1-16)
BASE=$VM/base-$key.img
guest_setup() { # $1 = extracted rootfs
  local r=$1
  mkdir -p "$r/lib/modules" && cp -a "/lib/modules/$KVER" "$r/lib/modules/"
  mkdir -p "$r/opt/node/bin" && cp "$NODE" "$r/opt/node/bin/node"
  cp /bin/busybox "$r/opt/busybox"
  mkdir -p "$r/opt/dw" "$r/etc/docker"
  # The shell-init boot (cgroupfs) has no fstab processing: this mounts the project disk first.
  cat >"$r/opt/dwboot.sh" <<'BOOT'
#!/bin/sh
mount -t devtmpfs dev /dev 2>/dev/null
mount -o ro /dev/vdb /opt/dw && exec /bin/sh /opt/dw/vm/guest-run.sh "$@"
echo 'DWRESULT {"case":"boot","ok":false,"error":"no project disk"}'; echo o >/proc/sysrq-trigger
BOOT
  chmod +x "$r/opt/dwboot.sh"
  # The storage driver is dockerd's choice: overlay2 with the kernel's modules copied in above (vfs
  # would copy the agent's 200 MB image per container). iptables off: the guest has no outside network.
  echo '{"iptables":false,"ip6tables":false}' >"$r/etc/docker/daemon.json"
  echo dwvm >"$r/etc/hostname"
  # The test unit (systemd boot): runs the checks once docker.service is up, then powers off.
  cat >"$r/etc/systemd/system/dwtest.service" <<'UNIT'
[Unit]
Description=Dockwatch cgroup v2 checks
After=docker.service network.target
Wants=docker.service
[Service]
Type=oneshot
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
ExecStartPre=/bin/sh -c 'mountpoint -q /opt/dw || mount -o ro /dev/vdb /opt/dw'
ExecStart=/bin/sh /opt/dw/vm/guest-run.sh systemd
ExecStopPost=/bin/systemctl --no-block poweroff
UNIT
  ln -sf /etc/systemd/system/dwtest.service "$r/etc/systemd/system/multi-user.target.wants/dwtest.service"
  # No fstab entry for the project disk: minbase has no udev, so a device unit would wait forever;
  # the unit mounts /dev/vdb itself. Nothing else that waits on a network or a tty.
  rm -f "$r"/etc/systemd/system/getty.target.wants/* "$r"/etc/systemd/system/multi-user.target.wants/podman*.service
  ln -sf /dev/null "$r/etc/systemd/system/serial-getty@ttyS0.service"
  ln -sf /dev/null "$r/etc/systemd/system/systemd-networkd-wait-online.service"
  passwd -R "$r" -d root >/dev/null 2>&1 || true
  # A user for rootless podman, as podman's docs set one up: subordinate ids, a lingering user
  # manager (logind starts user@1000.service at boot), every controller delegated to it (the default
  # is memory and pids: --cpus would fail). Its events go to a file: a user cannot read the
  # volatile system journal podman's default (journald) would write them to.
  chroot "$r" /usr/sbin/useradd -m -u 1000 -s /bin/sh dwuser 2>/dev/null || true
  echo 'dwuser:100000:65536' >"$r/etc/subuid"; echo 'dwuser:100000:65536' >"$r/etc/subgid"
  chmod u+s "$r/usr/bin/newuidmap" "$r/usr/bin/newgidmap"
  mkdir -p "$r/var/lib/systemd/linger" "$r/etc/systemd/system/user@.service.d" "$r/home/dwuser/.config/containers"
  touch "$r/var/lib/systemd/linger/dwuser"
  printf '[Service]\nDelegate=cpu cpuset io memory pids\n' >"$r/etc/systemd/system/user@.service.d/delegate.conf"
  printf '[engine]\nevents_logger = "file"\n' >"$r/home/dwuser/.config/containers/containers.conf"
  chown -R 1000:1000 "$r/home/dwuser/.config"
}
if [ ! -f "$BASE" ]; then
  log "building the guest rootfs ($GUEST_PKGS) from $MIRROR"
  w=$VM/build-$key; rm -rf "$w"; mkdir -p "$w/root"
  mmdebstrap --quiet --variant=minbase --include="$GUEST_PKGS" bookworm "$w/rootfs.tar" "$MIRROR" >"$VM/mmdebstrap.log" 2>&1 \
    || { tail -20 "$VM/mmdebstrap.log" >&2; exit 1; }
  tar -C "$w/root" -xf "$w/rootfs.tar"
  guest_setup "$w/root"
  rm -f "$w/base.img"; truncate -s 4G "$w/base.img"
  mke2fs -q -t ext4 -L dwroot -d "$w/root" "$w/base.img"
  mv "$w/base.img" "$BASE"; rm -rf "$w"
  for old in "$VM"/base-*.img; do [ "$old" = "$BASE" ] || rm -f "$old"; done
fi

# ---- the project disk: the built project as Dockerfile.agent lays it out, the test script ----
[ -f dist/cli.js ] || { log "dist/ missing: run npx tsc -p tsconfig.build.json"; exit 1; }
P=$VM/proj; rm -rf "$P"; mkdir -p "$P/app/node_modules" "$P/vm" "$P/img"
cp -a dist proto package.json package-lock.json "$P/app/"
npm ls --omit=dev --all --parseable 2>/dev/null | tail -n +2 | sed "s|^$PWD/node_modules/||" | sort -u >"$P/prod.txt"
(cd node_modules && xargs -a "$P/prod.txt" cp -a --parents -t "$P/app/node_modules" 2>/dev/null) || true
rm "$P/prod.txt"
cp test/vm/cgroup2-checks.mjs test/vm/guest-run.sh "$P/vm/"
# Images without a registry: a busybox rootfs, and the agent's image (node + its libraries + /app, as
# Dockerfile.agent lays it out: WORKDIR /app, dist/, production node_modules, proto/).
t=$(mktemp -d); chmod 755 "$t"; mkdir -p "$t/bin" "$t/tmp" "$t/dev/shm"; cp /bin/busybox "$t/bin/"
for c in sh sleep yes cat dd head tail echo ls ps kill true false seq sync ping nc wget test touch; do ln -sf busybox "$t/bin/$c"; done
tar -C "$t" -cf "$P/img/busybox.tar" .; rm -rf "$t"
a=$(mktemp -d); chmod 755 "$a"; mkdir -p "$a/usr/local/bin" "$a/tmp" "$a/bin" "$a/etc"; chmod 1777 "$a/tmp"
cp "$NODE" "$a/usr/local/bin/node"
for lib in $(ldd "$NODE" | grep -o '/[^ ]*'); do mkdir -p "$a$(dirname "$lib")"; cp -L "$lib" "$a$lib"; done
cp /bin/busybox "$a/bin/"; ln -sf busybox "$a/bin/sh"
echo 'node:x:10001:10001::/app:/bin/sh' >"$a/etc/passwd"
cp -a "$P/app" "$a/app"
tar -C "$a" -cf "$P/img/agent.tar" .; rm -rf "$a"
PROJ=$VM/proj.img; rm -f "$PROJ"; truncate -s 1G "$PROJ"
mke2fs -q -t ext4 -L dwproj -d "$P" "$PROJ"; rm -rf "$P"

# ---- boots ----
modes=("$@"); [ ${#modes[@]} -gt 0 ] || modes=(cgroupfs systemd)
[ "${modes[0]}" = build ] && { log "built $BASE and $PROJ"; exit 0; }
for mode in "${modes[@]}"; do
  case "$mode" in
    cgroupfs) init="init=/opt/dwboot.sh -- cgroupfs" ;;
    systemd) init="init=/lib/systemd/systemd systemd.show_status=0 systemd.log_level=warning" ;;
    *) log "unknown mode $mode"; exit 2 ;;
  esac
  log "booting ($mode)"
  start=$(date +%s)
  # snapshot=on: the cached base disk is never written; each boot starts from the same state.
  timeout "${DWVM_TIMEOUT:-720}" qemu-system-x86_64 -m 2048 -smp 2 -nographic -no-reboot -nic none \
    -kernel "/boot/vmlinuz-$KVER" -initrd "/boot/initrd.img-$KVER" \
    -drive "file=$BASE,format=raw,if=virtio,snapshot=on" -drive "file=$PROJ,format=raw,if=virtio,readonly=on" \
    -append "console=ttyS0 root=/dev/vda rw quiet panic=-1 apparmor=0 $init" </dev/null || log "qemu exited with $?"
  echo "DWBOOT {\"mode\":\"$mode\",\"seconds\":$(( $(date +%s) - start ))}"
done
exit 0
}
