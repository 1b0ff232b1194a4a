// EF-Train, open: IEEE-754 binary32 constants and helpers shared by fp32_mul and fp32_add.
//
// Numeric contract (SPEC section 4): binary32, round to nearest / ties to even, gradual underflow
// (subnormal inputs and outputs exact, no flush to zero), overflow to Inf, every NaN result is the
// canonical quiet NaN 0x7FC00000.
//
// What lives here:
//   * the exponent bias and the special encodings (BIAS, EXP_MAX, QNAN, INF_MAG),
//   * fp32_is_zero/_inf/_nan(): the special-case classification both units do first,
//   * fp32_sig() / fp32_exp_eff(): significand with explicit hidden bit and effective exponent,
//   * fp32_lzc64(): a leading-zero count used by both normalizers,
//   * fp32_round_pack(): THE rounding step. Both units end by calling it; no other code rounds.
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
  /* verilator lint_on UNUSEDPARAM */

  // Classification of one operand from its magnitude bits x[30:0], done before anything else.
  // Subnormals need no flag: fp32_sig/fp32_exp_eff below give them their exact value
  // 0.f * 2^(1 - BIAS), so the datapath treats them like any other finite number.
  function automatic logic fp32_is_zero(input logic [30:0] mag);
    fp32_is_zero = (mag == 31'd0);
  endfunction

  function automatic logic fp32_is_inf(input logic [30:0] mag);
    fp32_is_inf = (mag == INF_MAG);
  endfunction

  function automatic logic fp32_is_nan(input logic [30:0] mag);  // quiet or signalling
    fp32_is_nan = (mag[30:23] == 8'hFF) && (mag[22:0] != 23'd0);
  endfunction

  // Significand with the hidden bit made explicit: 1.f for normals, 0.f for zeros and subnormals.
  function automatic logic [23:0] fp32_sig(input logic [30:0] mag);
    fp32_sig = {(mag[30:23] != 8'h00), mag[22:0]};
  endfunction

  // Effective exponent: the biased exponent fp32_sig is scaled by (subnormals use 1, not 0).
  function automatic logic [7:0] fp32_exp_eff(input logic [7:0] exp_field);
    fp32_exp_eff = (exp_field == 8'h00) ? 8'd1 : exp_field;
  endfunction

  // Number of leading zeros of a 64-bit word (64 when the word is zero). Narrower values are
  // left-aligned by the caller; padding the low end with ones bounds the count (see the units).
  function automatic logic [6:0] fp32_lzc64(input logic [63:0] x);
    fp32_lzc64 = 7'd64;
    for (int i = 0; i < 64; i++) begin
      if (x[i]) fp32_lzc64 = 7'(63 - i);  // the highest set bit is visited last and wins
    end
  endfunction

  // Round to nearest, ties to even, and pack. The one rounding step of both units.
  //
  //   sign    result sign
  //   exp     biased exponent of sig[23] (two's complement); >= 255 means overflow to Inf.
  //           Only used when sig[23] is set: the caller has normalized the significand, or, when
  //           the exponent would drop below 1, left it denormalized with sig[23] = 0 and the
  //           scale of exponent 1 (a subnormal or zero result, exponent field 0).
  //   sig     24-bit significand, hidden bit at [23]
  //   rnd     the first bit below sig[0] (guard bit)
  //   sticky  OR of every bit below rnd
  //
  // Adding the increment to the packed {exponent, fraction} word carries a rounded-up all-ones
  // fraction into the next binade, a rounded-up largest subnormal into the smallest normal, and
  // a rounded-up largest finite number into Inf (0x7F800000 with a zero fraction), all for free.
  function automatic logic [31:0] fp32_round_pack(input logic               sign,
                                                  input logic signed [10:0] exp,
                                                  input logic [23:0]        sig,
                                                  input logic               rnd,
                                                  input logic               sticky);
    logic        inc;
    logic [7:0]  exp_field;
    logic [30:0] mag;
    inc       = rnd & (sticky | sig[0]);
    exp_field = sig[23] ? exp[7:0] : 8'd0;
    mag       = {exp_field, sig[22:0]} + {30'd0, inc};
    if (sig[23] && exp >= 11'(EXP_MAX)) fp32_round_pack = {sign, INF_MAG};
    else                                fp32_round_pack = {sign, mag};
  endfunction

endpackage

`default_nettype wire
