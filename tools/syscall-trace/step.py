# gdb script: stop at the kernel's syscall entry for syscall NUMBER (after
# SKIP earlier ones) and record the address of each of the next STEPS
# instructions, one per line, in OUT.
import os
import gdb

number = int(os.environ["NUMBER"], 0)
gdb.execute("set pagination off")
gdb.execute("target remote :1234")
gdb.execute("break syscall_entry if $rax == %d" % number)
gdb.execute("ignore 1 %d" % int(os.environ["SKIP"]))
gdb.execute("continue")
with open(os.environ["OUT"], "w") as out:
    for _ in range(int(os.environ["STEPS"])):
        out.write("%x\n" % (int(gdb.parse_and_eval("$pc")) & (2**64 - 1)))
        gdb.execute("stepi", to_string=True)
gdb.execute("kill")
