// EF-Train, open: IEEE-754 binary32 adder, y = a + b.
//
// Parameters
//   LATENCY  pipeline stages from an accepted input to its result (>= 1, default 3). The rest of
//            the design reads this value (HwConfig.add_latency); one result per cycle (II = 1).
//            The three logical steps below are separated by registers as far as LATENCY allows:
//              LATENCY = 1 : align | add | normalize+round, then the output register.
//              LATENCY = 2 : register after align, output register.
//              LATENCY = 3 : register after align, register after add, output register.
//              LATENCY > 3 : the extra LATENCY-3 registers follow the output register (a
//                            retiming-friendly delay line).
//
// Ports
//   clk        clock
//   rst_n      active-low synchronous reset of the valid pipeline (data registers are not reset)
//   in_valid   a, b carry an operand pair this cycle
//   a, b       binary32 operands
//   out_valid  y carries the result of the pair accepted LATENCY cycles ago
//   y          binary32 result (holds its value while out_valid is low)
//   Stage data registers load only when their stage holds a valid item (clock enable), so a
//   result exists only for an accepted input: y is meaningful only while out_valid is high.
//
// Numerics (SPEC section 4): round to nearest, ties to even, in eftrain_fp32_pkg::fp32_round_pack;
// subnormal inputs and results exact (gradual underflow); overflow gives Inf. Special cases first:
// any NaN input, or Inf + (-Inf), gives the canonical quiet NaN 0x7FC00000; otherwise an Inf
// operand gives that Inf. An exactly zero sum is -0 only when both operands are negative
// ((-0) + (-0)); every other exact zero (x + (-x), (+0) + (-0), ...) is +0, as RNE requires.
//
// Datapath (one path for near and far cases; 24-bit significands with the hidden bit explicit):
//   1. align  : order the operands by magnitude (X >= Y), d = exp_eff(X) - exp_eff(Y); Y's
//               significand with 3 extra low bits (guard, round, sticky) is shifted right by d and
//               every bit shifted out is ORed into its lowest bit (sticky jamming). For d <= 1
//               nothing is lost, so massive cancellation (only possible then) is exact; for
//               d >= 2 the result loses at most one leading bit, which leaves a guard and a
//               (jammed) sticky bit below the 24 kept bits: enough to round exactly.
//   2. add    : 28-bit magnitude sum or difference (bit 27 catches the carry-out), and its leading
//               zero count, bounded so that the exponent never drops below 1 (a marker bit at the
//               bound), which leaves subnormal results denormalized and exact.
//   3. round  : shift left by that count (carry-out: count 0, i.e. the exponent grows by one);
//               sig = [27:4], guard = [3], sticky = |[2:0] go to the shared rounding function.

`default_nettype none

module fp32_add #(
  parameter int LATENCY = 3
) (
  input  wire logic        clk,
  input  wire logic        rst_n,
  input  wire logic        in_valid,
  input  wire logic [31:0] a,
  input  wire logic [31:0] b,
  output      logic        out_valid,
  output      logic [31:0] y
);

  // Registers after "align" and after "add" (0 or 1 each), and after the output register.
  localparam int ALIGN_REGS = (LATENCY >= 2) ? 1 : 0;
  localparam int ADD_REGS   = (LATENCY >= 3) ? 1 : 0;
  localparam int OUT_STAGE  = ALIGN_REGS + ADD_REGS;         // vld index that enables y_q
  localparam int EXTRA_REGS = LATENCY - 1 - OUT_STAGE;

  // Special-case codes carried down the pipeline instead of a whole 32-bit word.
  localparam logic [1:0] SPEC_NONE = 2'd0;
  localparam logic [1:0] SPEC_INF  = 2'd2;
  localparam logic [1:0] SPEC_NAN  = 2'd3;

  if (LATENCY < 1) begin : g_bad_latency
    $error("%m: LATENCY must be >= 1, got %0d", LATENCY);
  end

  // ---------------------------------------------------------------------------------------------
  // Valid pipeline: vld[i] is the valid bit after i registers.
  // ---------------------------------------------------------------------------------------------
  logic [LATENCY:0] vld;
  assign vld[0] = in_valid;

  always_ff @(posedge clk) begin
    if (!rst_n) vld[LATENCY:1] <= '0;
    else        vld[LATENCY:1] <= vld[LATENCY-1:0];
  end

  assign out_valid = vld[LATENCY];

  // ---------------------------------------------------------------------------------------------
  // Step 1: classify, special cases, order by magnitude, align the smaller operand.
  // ---------------------------------------------------------------------------------------------
  logic a_inf, a_nan;
  logic b_inf, b_nan;
  logic [31:0]  x_op, y_op;      // x_op has the larger (or equal) magnitude
  logic [7:0]   ey;
  logic [7:0]   d;              // exponent difference, 0..253
  logic [4:0]   dsh;            // d capped at 27: every bit of Y is gone by then
  logic [26:0]  y_ext;          // Y's significand with guard, round, sticky positions

  logic [1:0]   s0_spec;
  logic         s0_spec_sign;   // sign of an Inf result
  logic         s0_zero_sign;   // sign of an exactly zero sum
  logic         s0_sign;        // sign of a finite nonzero result: that of X
  logic         s0_sub;         // effective subtraction
  logic [7:0]   s0_ex;          // effective exponent of X
  logic [23:0]  s0_mx;          // X's significand
  logic [26:0]  s0_my;          // Y's aligned significand, sticky jammed into bit 0

  always_comb begin
    a_inf = eftrain_fp32_pkg::fp32_is_inf(a[30:0]);
    a_nan = eftrain_fp32_pkg::fp32_is_nan(a[30:0]);
    b_inf = eftrain_fp32_pkg::fp32_is_inf(b[30:0]);
    b_nan = eftrain_fp32_pkg::fp32_is_nan(b[30:0]);

    if (a_nan || b_nan || (a_inf && b_inf && (a[31] != b[31])))
      s0_spec = SPEC_NAN;
    else if (a_inf || b_inf)
      s0_spec = SPEC_INF;
    else
      s0_spec = SPEC_NONE;
    s0_spec_sign = a_inf ? a[31] : b[31];
    s0_zero_sign = a[31] & b[31];

    if (a[30:0] >= b[30:0]) begin
      x_op = a;
      y_op = b;
    end else begin
      x_op = b;
      y_op = a;
    end

    s0_sign = x_op[31];
    s0_sub  = x_op[31] ^ y_op[31];
    s0_ex   = eftrain_fp32_pkg::fp32_exp_eff(x_op[30:23]);
    ey      = eftrain_fp32_pkg::fp32_exp_eff(y_op[30:23]);
    d       = s0_ex - ey;
    dsh     = (d > 8'd27) ? 5'd27 : d[4:0];
    s0_mx   = eftrain_fp32_pkg::fp32_sig(x_op[30:0]);
    y_ext   = {eftrain_fp32_pkg::fp32_sig(y_op[30:0]), 3'b000};
    s0_my   = y_ext >> dsh;
    s0_my[0] = s0_my[0] | (|(y_ext & ((27'd1 << dsh) - 27'd1)));
  end

  // ---------------------------------------------------------------------------------------------
  // Stage register after align (LATENCY >= 2).
  // ---------------------------------------------------------------------------------------------
  logic [1:0]   s1_spec;
  logic         s1_spec_sign;
  logic         s1_zero_sign;
  logic         s1_sign;
  logic         s1_sub;
  logic [7:0]   s1_ex;
  logic [23:0]  s1_mx;
  logic [26:0]  s1_my;

  if (ALIGN_REGS == 1) begin : g_align_reg
    always_ff @(posedge clk) begin
      if (vld[0]) begin
        s1_spec      <= s0_spec;
        s1_spec_sign <= s0_spec_sign;
        s1_zero_sign <= s0_zero_sign;
        s1_sign      <= s0_sign;
        s1_sub       <= s0_sub;
        s1_ex        <= s0_ex;
        s1_mx        <= s0_mx;
        s1_my        <= s0_my;
      end
    end
  end else begin : g_align_comb
    always_comb begin
      s1_spec      = s0_spec;
      s1_spec_sign = s0_spec_sign;
      s1_zero_sign = s0_zero_sign;
      s1_sign      = s0_sign;
      s1_sub       = s0_sub;
      s1_ex        = s0_ex;
      s1_mx        = s0_mx;
      s1_my        = s0_my;
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Step 2: add or subtract magnitudes; bounded leading-zero count.
  // ---------------------------------------------------------------------------------------------
  logic [27:0]  x_ext;
  logic [63:0]  lz_word;        // sum, bound marker, and a ones pad that caps the count at 28
  // The ones pad at bit 35 caps the count at 28, so only lz[4:0] can be nonzero.
  /* verilator lint_off UNUSEDSIGNAL */
  logic [6:0]   lz;
  /* verilator lint_on UNUSEDSIGNAL */

  logic [27:0]  s1_sum;
  logic         s1_is_zero;
  logic [4:0]   s1_shift;       // left shift that normalizes without the exponent going below 1

  always_comb begin
    x_ext  = {1'b0, s1_mx, 3'b000};
    s1_sum = s1_sub ? (x_ext - {1'b0, s1_my}) : (x_ext + {1'b0, s1_my});
    s1_is_zero = (s1_sum == 28'd0);

    // The result exponent is ex + 1 - shift (sum bit 27 has weight 2^(ex + 1 - bias)); it must
    // stay >= 1, so shift <= ex. The marker makes the count stop there.
    lz_word = {s1_sum, 36'hF_FFFF_FFFF};
    if (s1_ex < 8'd28) lz_word = lz_word | (64'h8000_0000_0000_0000 >> s1_ex[4:0]);
    lz       = eftrain_fp32_pkg::fp32_lzc64(lz_word);
    s1_shift = lz[4:0];  // at most 28 by construction
  end

  // ---------------------------------------------------------------------------------------------
  // Stage register after add (LATENCY >= 3).
  // ---------------------------------------------------------------------------------------------
  logic [1:0]   s2_spec;
  logic         s2_spec_sign;
  logic         s2_zero_sign;
  logic         s2_sign;
  logic [7:0]   s2_ex;
  logic [27:0]  s2_sum;
  logic         s2_is_zero;
  logic [4:0]   s2_shift;

  if (ADD_REGS == 1) begin : g_add_reg
    always_ff @(posedge clk) begin
      if (vld[ALIGN_REGS]) begin
        s2_spec      <= s1_spec;
        s2_spec_sign <= s1_spec_sign;
        s2_zero_sign <= s1_zero_sign;
        s2_sign      <= s1_sign;
        s2_ex        <= s1_ex;
        s2_sum       <= s1_sum;
        s2_is_zero   <= s1_is_zero;
        s2_shift     <= s1_shift;
      end
    end
  end else begin : g_add_comb
    always_comb begin
      s2_spec      = s1_spec;
      s2_spec_sign = s1_spec_sign;
      s2_zero_sign = s1_zero_sign;
      s2_sign      = s1_sign;
      s2_ex        = s1_ex;
      s2_sum       = s1_sum;
      s2_is_zero   = s1_is_zero;
      s2_shift     = s1_shift;
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Step 3: normalize, round, select the special result.
  // ---------------------------------------------------------------------------------------------
  logic [27:0]        norm;
  logic signed [10:0] e_res;    // biased exponent of norm[27]
  logic [31:0]        y_round;
  logic [31:0]        y_next;

  always_comb begin
    norm    = s2_sum << s2_shift;
    e_res   = 11'(s2_ex) + 11'sd1 - 11'(s2_shift);
    // norm[27] = 0 here means a subnormal result at the scale of exponent 1 (exact).
    y_round = eftrain_fp32_pkg::fp32_round_pack(s2_sign, e_res, norm[27:4], norm[3], |norm[2:0]);

    unique case (s2_spec)
      SPEC_NAN: y_next = eftrain_fp32_pkg::QNAN;
      SPEC_INF: y_next = {s2_spec_sign, eftrain_fp32_pkg::INF_MAG};
      default:  y_next = s2_is_zero ? {s2_zero_sign, 31'd0} : y_round;
    endcase
  end

  // ---------------------------------------------------------------------------------------------
  // Output register, then LATENCY - 1 - OUT_STAGE delay registers.
  // ---------------------------------------------------------------------------------------------
  logic [31:0] y_q;

  always_ff @(posedge clk) begin
    if (vld[OUT_STAGE]) y_q <= y_next;
  end

  if (EXTRA_REGS == 0) begin : g_no_extra
    assign y = y_q;
  end else begin : g_extra
    logic [32*EXTRA_REGS-1:0] y_dly;
    always_ff @(posedge clk) begin
      if (vld[OUT_STAGE + 1]) y_dly[31:0] <= y_q;
      for (int i = 1; i < EXTRA_REGS; i++) begin
        if (vld[OUT_STAGE + 1 + i]) y_dly[32*i +: 32] <= y_dly[32*(i-1) +: 32];
      end
    end
    assign y = y_dly[32*EXTRA_REGS-1 -: 32];
  end

endmodule

`default_nettype wire
