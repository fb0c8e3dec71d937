"""Turns a list of instruction addresses into runs of functions: start
offset, instruction count, function name (`<user>` below the kernel)."""
import bisect
import sys

KERNEL_BASE = 0xFFFF_8000_0000_0000


def main(syms_path, pcs_path):
    syms = []
    for line in open(syms_path):
        addr, _kind, name = line.rstrip("\n").split(" ", 2)
        syms.append((int(addr, 16), name))
    syms.sort()
    starts = [a for a, _ in syms]

    def name(pc):
        if pc < KERNEL_BASE:
            return "<user>"
        i = bisect.bisect_right(starts, pc) - 1
        return syms[i][1][:100] if i >= 0 else "?"

    at, run_name, run_len = 0, None, 0
    for line in open(pcs_path):
        n = name(int(line, 16))
        if n != run_name and run_name is not None:
            print("%5d %5d %s" % (at, run_len, run_name))
            at += run_len
            run_len = 0
        run_name = n
        run_len += 1
    if run_name is not None:
        print("%5d %5d %s" % (at, run_len, run_name))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
