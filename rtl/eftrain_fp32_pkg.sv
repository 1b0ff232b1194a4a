// EF-Train, open: IEEE-754 binary32 constants and helpers shared by fp32_mul and fp32_add.
//
// Numeric contract (SPEC section 4): binary32, round to nearest / ties to even, gradual underflow
// (subnormal inputs and outputs exact, no flush to zero), overflow to Inf, every NaN result is the
// canonical quiet NaN 0x7FC00000.
//
// What lives here:
//   * the exponent bias and the special encodings (BIAS, EXP_MAX, QNAN, INF_MAG),
//   * the special-result codes (SPEC_*) both units decide first and carry down their pipelines,
//   * fp32_lzc32(): the leading-zero count both units' normalization uses,
//   * fp32_round_pack(): THE rounding step. Both units end by calling it; no other code rounds.
//
// Both units do their variable shifts as multiplications by powers of two, so that they map to
// DSP48E2 slices instead of LUT barrel shifters (see the units' headers). What stays in LUTs is
// written for Yosys' `synth_xilinx` mapping (6-input LUTs, carry chains); the functions below
// are plain portable RTL.
//
// Yosys 0.23 does not parse `import pkg::*;` inside a module, so users refer to everything with an
// explicit `eftrain_fp32_pkg::` prefix. Compile this file before the units.

`default_nettype none

package eftrain_fp32_pkg;

  // Constants for the units. Linting this file on its own would flag the ones it does not use
  // itself; they are the package's interface, used by fp32_mul / fp32_add.
  /* verilator lint_off UNUSEDPARAM */
  localparam int          BIAS    = 127;
  localparam int          EXP_MAX = 255;             // all-ones exponent field: Inf / NaN
  localparam logic [31:0] QNAN    = 32'h7FC0_0000;   // canonical quiet NaN
  localparam logic [30:0] INF_MAG = 31'h7F80_0000;   // Inf without its sign

  // Special-result codes: decided first, from the operands' classes (and, in the multiplier, from
  // the exponent sum), carried down the pipeline as 2 bits instead of a 32-bit word, and
  // substituted by fp32_round_pack.
  localparam logic [1:0]  SPEC_NONE = 2'd0;          // finite nonzero result: round it
  localparam logic [1:0]  SPEC_ZERO = 2'd1;          // a zero of the given sign
  localparam logic [1:0]  SPEC_INF  = 2'd2;          // an Inf of the given sign
  localparam logic [1:0]  SPEC_NAN  = 2'd3;          // the canonical quiet NaN
  /* verilator lint_on UNUSEDPARAM */

  // Number of leading zeros of a 32-bit word, 0..31; a zero word counts 31. Callers left-align
  // narrower values and pad the low end with ones, which also bounds the count. A radix-2 tree
  // over 4-bit groups (each level takes the upper half's count if that half has a one, else the
  // lower half's with the next count bit set) maps onto 6-input LUTs better than a 32-way
  // priority chain.
  function automatic logic [4:0] fp32_lzc32(input logic [31:0] x);
    logic [7:0]  nz1;   logic [15:0] lz1;   // 8 groups of 4 bits: has a one, count inside
    logic [3:0]  nz2;   logic [11:0] lz2;   // 4 groups of 8 bits
    logic        nz3;   logic [7:0]  lz3;   // 2 groups of 16 bits (only the upper one's flag)
    for (int g = 0; g < 8; g++) begin
      nz1[g]        = |x[31 - 4*g -: 4];
      lz1[2*g +: 2] = x[31 - 4*g] ? 2'd0 : x[30 - 4*g] ? 2'd1 : x[29 - 4*g] ? 2'd2 : 2'd3;
    end
    for (int g = 0; g < 4; g++) begin
      nz2[g]        = nz1[2*g] | nz1[2*g + 1];
      lz2[3*g +: 3] = nz1[2*g] ? {1'b0, lz1[4*g +: 2]} : {1'b1, lz1[4*g + 2 +: 2]};
    end
    for (int g = 0; g < 2; g++) begin
      lz3[4*g +: 4] = nz2[2*g] ? {1'b0, lz2[6*g +: 3]} : {1'b1, lz2[6*g + 3 +: 3]};
    end
    nz3        = nz2[0] | nz2[1];
    fp32_lzc32 = nz3 ? {1'b0, lz3[3:0]} : {1'b1, lz3[7:4]};
  endfunction

  // Round to nearest, ties to even, substitute special results, and pack. The one rounding step
  // of both units.
  //
  //   sign      result sign (forced to 0 for the NaN)
  //   spec      SPEC_* code; SPEC_NONE rounds the value described by the arguments below
  //   exp_base  the result's exponent field minus `hid`. The unrounded result is
  //             ({exp_base, frac} + hid * 2^23) with `rnd` and `sticky` below frac[0]: a
  //             normalized significand passes its leading (hidden) bit as hid = 1 and
  //             exp_base = biased exponent - 1; a subnormal one (at the scale of exponent 1)
  //             passes hid = 0 and exp_base = 0. exp_base + hid >= 255 overflows to Inf.
  //   hid       the bit added at the exponent field's LSB (see exp_base)
  //   frac      the 23 fraction bits below the hidden bit
  //   rnd       the first bit below frac[0] (guard bit)
  //   sticky    OR of every bit below rnd
  //
  // One 31-bit addition {exp_base, frac} + hid * 2^23 + inc packs and rounds: the increment
  // carries a rounded-up all-ones fraction into the next binade, a rounded-up largest subnormal
  // into the smallest normal, and a rounded-up largest finite number into Inf (0x7F800000 with a
  // zero fraction), all for free. A special result replaces the addend before the addition, so
  // the substitution shares the adder's LUTs instead of needing an output multiplexer.
  function automatic logic [31:0] fp32_round_pack(input logic        sign,
                                                  input logic [1:0]  spec,
                                                  input logic [7:0]  exp_base,
                                                  input logic        hid,
                                                  input logic [22:0] frac,
                                                  input logic        rnd,
                                                  input logic        sticky);
    logic        ovf;
    logic        kill;
    logic [30:0] word;
    logic        inc;
    ovf  = (exp_base[7:1] == 7'h7F) && (exp_base[0] || hid);
    kill = (spec != SPEC_NONE) || ovf;
    if (!kill)                  word = {exp_base, frac};
    else if (spec == SPEC_NAN)  word = QNAN[30:0];
    else if (spec == SPEC_ZERO) word = 31'd0;
    else                        word = INF_MAG;      // SPEC_INF, or overflow
    inc  = !kill && rnd && (sticky || frac[0]);
    fp32_round_pack = {sign && (spec != SPEC_NAN),
                       word + {7'd0, hid && !kill, 23'd0} + {30'd0, inc}};
  endfunction

endpackage

`default_nettype wire
