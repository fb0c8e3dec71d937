#!/bin/bash
# Single-steps one syscall under QEMU's gdb stub (see README.md).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
number=${1:?syscall number, e.g. 0x100d}
steps=${2:-2000}
skip=${3:-400}
esp=${ESP:-$root/target/xtask/bench-ipc-esp.img}
kernel=$root/target/guest/x86_64-unknown-none/release/kernel
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$esp" "$work/esp.img"
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$work/vars.fd"
qemu-system-x86_64 -machine q35 -accel tcg -cpu max -smp 1 -m 512M \
    -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
    -drive if=pflash,format=raw,file="$work/vars.fd" \
    -drive if=none,format=raw,id=esp,file="$work/esp.img" \
    -device virtio-blk-pci,drive=esp,bootindex=0 \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
    -serial file:"$work/serial.txt" -display none -monitor none -nic none -no-reboot \
    -gdb tcp::1234 &
qemu=$!
sleep 0.5
NUMBER=$number STEPS=$steps SKIP=$skip OUT="$work/pcs.txt" \
    gdb -q -batch -x "$here/step.py" "$kernel" >"$work/gdb.log" 2>&1 || true
kill "$qemu" 2>/dev/null || true
wait "$qemu" 2>/dev/null || true
nm -C --defined-only "$kernel" | awk '$2 ~ /[tTwW]/' >"$work/syms.txt"
python3 "$here/summarize.py" "$work/syms.txt" "$work/pcs.txt"
