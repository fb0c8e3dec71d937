; A program whose main holds an inline-assembly string the x86 assembler
; rejects: LLVM reports it as an error diagnostic at every tier. The JIT
; must answer with LLVM's message and stay up; the app host falls back a
; tier at a time and ends with its failure status.
define i32 @main() {
  call void asm sideeffect "bogus_instruction %eax", "~{dirflag},~{fpsr},~{flags}"()
  ret i32 0
}
