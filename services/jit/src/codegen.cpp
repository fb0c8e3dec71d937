// A code generation pipeline built once and run on many modules.
//
// LLVM's C API builds the whole legacy code generation pipeline (about a
// hundred passes, scheduled one by one) for every module it emits
// (`LLVMTargetMachineEmitToMemoryBuffer`, and ORC's `SimpleCompiler`
// alike): for a small function that is half of the compile. The pipeline
// can be run again on another module (`AsmPrinter::doFinalization` resets
// its streamer, `MachineModuleInfo` resets its `MCContext`), which the C
// API has no way to say; these three functions do. Used only by
// `codegen.rs`.

#include "llvm-c/TargetMachine.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCContext.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"

namespace {

struct Codegen {
  // The object file of the module being emitted; taken after each run.
  llvm::SmallVector<char, 0> object;
  llvm::raw_svector_ostream stream{object};
  llvm::legacy::PassManager passes;
};

} // namespace

// A pipeline emitting object code for `machine` (which must outlive it),
// or null if the target cannot emit machine code in memory.
extern "C" Codegen *jitos_codegen_create(LLVMTargetMachineRef machine) {
  auto *codegen = new Codegen();
  llvm::MCContext *mc = nullptr;
  // As ORC's SimpleCompiler does: no IR verifier in the pipeline (units
  // are verified where they are made).
  bool failed = reinterpret_cast<llvm::TargetMachine *>(machine)
                    ->addPassesToEmitMC(codegen->passes, mc, codegen->stream,
                                        /*DisableVerify=*/true);
  if (failed) {
    delete codegen;
    return nullptr;
  }
  return codegen;
}

// Emits `module` (left to the caller) as an object file in a new buffer,
// which the caller owns.
extern "C" LLVMMemoryBufferRef jitos_codegen_emit(Codegen *codegen,
                                                  LLVMModuleRef module) {
  codegen->passes.run(*llvm::unwrap(module));
  auto buffer = llvm::MemoryBuffer::getMemBufferCopy(
      llvm::StringRef(codegen->object.data(), codegen->object.size()),
      "unit");
  codegen->object.clear();
  return llvm::wrap(buffer.release());
}

extern "C" void jitos_codegen_dispose(Codegen *codegen) { delete codegen; }
