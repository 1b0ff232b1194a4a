// EF-Train, open: the unified training kernel in Vitis-HLS-style C++ (SPEC section 9).
//
// One top function, eftrain_kernel(), runs a descriptor program from DRAM: CONV_FP/BP/WU and
// FC_FP/BP/WU on one Tm x Tn multiply array, with the DRAM layouts of eftrain.golden.layout and
// the arithmetic order of eftrain.golden.engine, bit for bit. The descriptor format and the
// validation rules are those of eftrain.descriptors (the tiling rules: eftrain.tiling); the kernel
// tiles every layer phase with the descriptor's tiling (tr, chunk). Parameters come from
// eftrain_params.h, generated from eftrain/presets.json by hls/gen_params.py.
//
// Numerics: IEEE-754 binary32, a separate multiply and add, each rounded (no FMA contraction),
// subnormals kept. Compile with -ffp-contract=off and without -ffast-math (g++); in Vitis HLS
// the default float cores (fmul, fadd) do exactly that.
#ifndef EFTRAIN_KERNEL_H
#define EFTRAIN_KERNEL_H

#include <cstdint>

// The C-simulation test builds one harness per preset and points this macro at that preset's
// generated header; synthesis uses the committed one next to this file.
#ifdef EFTRAIN_PARAMS_FILE
#include EFTRAIN_PARAMS_FILE
#else
#include "eftrain_params.h"
#endif

namespace eftrain {

// One decoded descriptor (the fields of eftrain.descriptors.Descriptor; word layout there).
struct Desc {
  uint32_t opcode, flags;
  uint32_t batch, k, stride, pad;
  uint32_t m, n, h, w;
  uint64_t src0, src1, src2, dst;  // byte addresses
  uint32_t tr;                     // word 12[15:0]: output rows per row tile
  uint32_t chunk;                  // word 12[31:16]: reduction tiles per weight chunk
  bool reserved_set;               // word0[31:16], word1[31:28] or words 13..15 not zero
};

// Status word written to *status (the ERR_CODE register's layout): CODE in bits [7:0] (an
// ErrCode), INDEX in bits [31:8] (the failing descriptor, 0-based). 0: the program completed.
constexpr uint32_t status_word(uint32_t code, uint32_t index) { return (code & 0xFFu) | (index << 8); }

Desc decode(const uint32_t words[DESC_WORDS]);

// The hardware's verdict on one descriptor: ERR_NONE or the first failing rule, with the rules
// and order of eftrain.descriptors.validate; window = [win_base, win_limit) in bytes.
uint32_t validate(const Desc &d, uint64_t win_base, uint64_t win_limit);

}  // namespace eftrain

// The top function. mem is a word-addressed view of DRAM (mem[a / 4] is the word at byte
// address a). It checks that the whole program [prog_base, prog_base + 64 * prog_count) is
// beat aligned and inside the window, then fetches, validates and runs the descriptors in
// order; the first illegal one stops the program before it touches memory. *status gets
// status_word(code, index). Every DRAM access falls in [win_base, win_limit).
void eftrain_kernel(uint32_t *mem, uint64_t prog_base, uint32_t prog_count, uint64_t win_base,
                    uint64_t win_limit, uint32_t *status);

#endif  // EFTRAIN_KERNEL_H
