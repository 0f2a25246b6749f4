#!/usr/bin/env bash
# Opt-in end-to-end test of `memdx kmemleak` on a real kmemleak (not in default CI).
#
# Builds a small x86_64 kernel from Debian's linux-source-6.1 (tinyconfig + SLUB +
# DEBUG_KMEMLEAK + the kmemleak-test sample module), boots it under
# qemu-system-x86_64 with a busybox initramfs holding memdx, loads the module, runs
# `memdx kmemleak scan` and `report` inside the guest, unloads the module, scans
# again and diffs, then checks that the sample module's leaks were found and grouped.
#
#   scripts/kmemleak-e2e.sh            # build (once, ~3 min on 2 cores) and run
#   E2E_DIR=/tmp/x scripts/kmemleak-e2e.sh
#   E2E_CAPTURE=tests/fixtures/kmemleak/qemu-6.1-kmemleak-test.txt scripts/kmemleak-e2e.sh
#                                      # also save the guest's raw kmemleak files
#                                      # (after insmod, ...-after-rmmod.txt, and the
#                                      # guest's dmesg with kmemleak.verbose=1: ...-dmesg.txt)
#
# Needs (installed with apt-get when missing, as root): linux-source-6.1,
# qemu-system-x86, busybox-static, flex, bison, bc, libelf-dev, libssl-dev.
# The kernel tree and build stay in $E2E_DIR; nothing is written to the repository
# unless E2E_CAPTURE is set.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
work=${E2E_DIR:-/tmp/memdx-kmemleak-e2e}
src_tar=/usr/src/linux-source-6.1.tar.xz
jobs=${E2E_JOBS:-2}
mkdir -p "$work"
log() { printf 'e2e: %s\n' "$*" >&2; }

need=()
[ -f "$src_tar" ] || need+=(linux-source-6.1)
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] && /bin/busybox --list | grep -qx insmod || need+=(busybox-static)
for tool in flex bison bc; do command -v $tool >/dev/null || need+=($tool); done
[ -f /usr/include/libelf.h ] || need+=(libelf-dev)
[ -f /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
if ((${#need[@]})); then
    log "installing ${need[*]}"
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

# 1. Kernel (skipped when already built in $work).
ksrc="$work/linux-source-6.1"
if [ ! -f "$ksrc/arch/x86/boot/bzImage" ] || [ ! -f "$ksrc/samples/kmemleak/kmemleak-test.ko" ]; then
    [ -d "$ksrc" ] || { log "unpacking $src_tar"; tar -C "$work" -xf "$src_tar"; }
    cd "$ksrc"
    make -s tinyconfig >"$work/config.log" 2>&1
    ./scripts/config \
        -e 64BIT -e PRINTK -e PRINTK_TIME -e EARLY_PRINTK -e TTY -e SERIAL_8250 \
        -e SERIAL_8250_CONSOLE -e BLK_DEV_INITRD -e RD_GZIP -e BINFMT_ELF \
        -e BINFMT_SCRIPT -e PROC_FS -e SYSFS -e DEVTMPFS -e FUTEX -e POSIX_TIMERS \
        -e MULTIUSER -e EPOLL -e KALLSYMS -e MODULES -e MODULE_UNLOAD -d SLOB -e SLUB \
        -e DEBUG_KERNEL -e DEBUG_FS -e DEBUG_FS_ALLOW_ALL -e DEBUG_KMEMLEAK \
        -e SAMPLES -m DEBUG_KMEMLEAK_TEST
    make -s olddefconfig >>"$work/config.log" 2>&1
    for opt in SLUB=y DEBUG_KMEMLEAK=y DEBUG_KMEMLEAK_TEST=m; do
        grep -qx "CONFIG_$opt" .config || { log "CONFIG_$opt did not stick"; exit 1; }
    done
    log "building the kernel (make -j$jobs bzImage modules)"
    start=$(date +%s)
    make -s -j"$jobs" bzImage modules >"$work/build.log" 2>&1 || { tail -30 "$work/build.log"; exit 1; }
    log "kernel built in $(( $(date +%s) - start )) s"
fi
cd "$repo"

# 2. memdx, with the shared libraries it needs (no musl target offline).
cargo build --release -q -p memdx
bin="$repo/target/release/memdx"

# 3. initramfs: busybox, memdx + libs, the module, an init script.
rootfs="$work/rootfs"
rm -rf "$rootfs"
mkdir -p "$rootfs"/{bin,sbin,proc,sys,dev,tmp,lib,lib64}
cp /bin/busybox "$rootfs/bin/busybox"
for app in sh mount cat echo insmod rmmod sleep usleep reboot grep head wc dmesg; do ln -s busybox "$rootfs/bin/$app"; done
cp "$bin" "$rootfs/bin/memdx"
ldd "$bin" | awk '/=>/ {print $3} /ld-linux/ {print $1}' | while read -r lib; do
    [ -f "$lib" ] || continue
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
done
cp "$ksrc/samples/kmemleak/kmemleak-test.ko" "$rootfs/kmemleak-test.ko"
cat >"$rootfs/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
out=/dev/ttyS1
section() { echo "@@@ BEGIN $1" >$out; shift; "$@" >$out 2>&1; echo "@@@ END rc=$?" >$out; }
section status memdx kmemleak status
# Reports from boot are not ours: clear them, then load the leaking module.
insmod /kmemleak-test.ko
section scan1 memdx kmemleak scan --clear-first --json
section raw1 cat /sys/kernel/debug/kmemleak
section report1 memdx kmemleak report --frames 4
cat /sys/kernel/debug/kmemleak >/tmp/r1.txt
# Unloading orphans the module's list elements: a second run shows new groups.
rmmod kmemleak_test
section scan2 memdx kmemleak scan --json
cat /sys/kernel/debug/kmemleak >/tmp/r2.txt
section raw2 cat /tmp/r2.txt
section diff memdx kmemleak diff /tmp/r1.txt /tmp/r2.txt
# Slab caches and kernel memory as `memdx slab` sees them in the guest.
section slab sh -c 'ls /proc/slabinfo 2>&1; memdx slab --top 8'
# A kernel-side "leak" for the trend test: processes that never exit, started
# steadily while memdx samples (their task_struct, pid, mm, vma... caches grow).
section slabtrend sh -c '(i=0; while [ $i -lt 300 ]; do sleep 100000 & i=$((i+1)); usleep 30000; done) & memdx slab --interval 1 --duration 10 --json'
# An OOM kill for `memdx oom`: two 300 MiB buffers in a 512 MiB guest.
section oom sh -c 'dd if=/dev/zero of=/dev/null bs=300M count=1 & dd if=/dev/zero of=/dev/null bs=300M count=1; wait; true'
# kmemleak.verbose=1 also printed each new leak to the kernel log.
section dmesg dmesg
section done echo ok
reboot -f
INIT
chmod +x "$rootfs/init"
(cd "$rootfs" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initramfs.cpio.gz"

# 4. Boot in software emulation (TCG). E2E_ACCEL=kvm uses KVM instead; nested KVM
# inside a VM (as on the project's build machines) can hang before the first line.
accel=${E2E_ACCEL:-tcg}
log "booting under qemu ($accel)"
rm -f "$work/console.log" "$work/out.log"
start=$(date +%s)
timeout 900 qemu-system-x86_64 -accel $accel -m 512 -smp 1 \
    -kernel "$ksrc/arch/x86/boot/bzImage" -initrd "$work/initramfs.cpio.gz" \
    -append "console=ttyS0 panic=-1 loglevel=4 kmemleak.verbose=1" \
    -display none -monitor none -serial "file:$work/console.log" -serial "file:$work/out.log" \
    -no-reboot
log "guest ran $(( $(date +%s) - start )) s"

# 5. Check what the guest printed.
sec() { tr -d '\r' <"$work/out.log" | awk -v n="$1" '$0=="@@@ BEGIN " n {on=1; next} /^@@@ END/ {on=0} on'; }
for s in status scan1 raw1 report1 scan2 raw2 diff slab slabtrend oom dmesg done; do
    grep -qx "@@@ BEGIN $s" <(tr -d '\r' <"$work/out.log") || { log "guest did not reach '$s' (see $work/console.log)"; tail -20 "$work/console.log"; exit 1; }
done
sec status
sec report1 | sed -n 1,40p
sec diff
fail=0
check() { if eval "$2"; then log "ok: $1"; else log "FAILED: $1"; fail=1; fi; }
scan1=$(sec scan1)
objects() { grep -m1 '"objects"' | tr -dc 0-9; }
count() { grep -c -- "$1" || true; }
check "status says usable" '[ "$(sec status | sed -n 1p)" = "kmemleak: usable" ]'
# kmemleak_test_init lives in the module's .init.text, freed after loading, so
# its frames print as raw module addresses: one group per call site.
found=$(printf %s "$scan1" | count "\"title\": \"memory leak in 0xffffffffa")
vmalloc=$(printf %s "$scan1" | count "\"__vmalloc_node+")
size4k=$(printf %s "$scan1" | count "\"size\": 4096,")
log "module leak groups found: $found (expected 13: 8 kmalloc + 5 vmalloc; a kmalloc(129) per-cpu pointer may add one)"
log "of which vmalloc: $vmalloc, kmalloc(4096): $((size4k - vmalloc)) (vmalloc areas count as 4096 bytes)"
# kmemleak is conservative: a stale copy of a pointer anywhere it scans hides
# that object, so a run can miss a few of the module's leaks.
check "at least 11 of the 13 module leaks found and grouped by call site" '[ "$found" -ge 11 ]'
for size in 32 1024 2048; do
    check "two kmalloc($size) leaks" '[ "$(printf %s "$scan1" | count "\"size\": $size,")" -ge 2 ]'
done
# kmemleak records a vmalloc area's page-rounded size: vmalloc(64) shows as 4096.
check "five vmalloc(64) leaks" '[ "$vmalloc" -ge 5 ]'
check "rmmod orphans the 10 list elements: one group of 10" 'sec diff | grep -q "^ *new *0 -> 10 "'
check "the host parses the guest's raw file to the same object count" \
    '[ "$(sec raw1 | "$bin" kmemleak report - --json | objects)" = "$(printf %s "$scan1" | objects)" ]'
check "diff shows new groups after rmmod (the orphaned list elements)" 'sec diff | grep -q "^ *new "'
check "the kernel log (kmemleak.verbose=1) holds the same objects as the debugfs file" \
    '[ "$(sec dmesg | "$bin" kmemleak report - --json | objects)" = "$(sec raw2 | "$bin" kmemleak report - --json | objects)" ]'
check "memdx slab lists the guest's caches" 'sec slab | grep -q " kmalloc-"'
growing=$(sec slabtrend | tr -d ' \n' | grep -o '"name":"[^"]*","reclaimable":[a-z]*,"samples":[0-9]*,"first_bytes":[0-9]*,"last_bytes":[0-9]*,"slope_bytes_per_s":[-0-9.e]*,"slope_objs_per_s":[-0-9.e]*,"mk_s":[-0-9]*,"p_value":[-0-9.e]*,"growing":true' | sed 's/"name":"\([^"]*\)".*/\1/' | tr '\n' ' ') || true
log "caches memdx slab flagged while processes piled up: ${growing:-none}"
check "memdx slab flags growing caches while processes pile up" '[ -n "$growing" ]'
oom_json=$(sec dmesg | "$bin" oom - --json) || true
check "memdx oom finds the kill of a dd in the guest's log" 'printf %s "$oom_json" | grep -q "\"comm\": \"dd\""'
if [ -n "${E2E_CAPTURE:-}" ]; then
    sec raw1 >"$repo/$E2E_CAPTURE"
    sec raw2 >"$repo/${E2E_CAPTURE%.txt}-after-rmmod.txt"
    sec dmesg >"$repo/${E2E_CAPTURE%.txt}-dmesg.txt"
    log "saved the guest's kmemleak file to $E2E_CAPTURE (and after rmmod to ${E2E_CAPTURE%.txt}-after-rmmod.txt)"
fi
exit $fail
