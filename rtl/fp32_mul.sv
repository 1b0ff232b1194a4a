// EF-Train, open: IEEE-754 binary32 multiplier, y = a * b.
//
// Parameters
//   LATENCY  pipeline stages from an accepted input to its result (>= 1, default 2). The rest of
//            the design reads this value (HwConfig.mul_latency); one result per cycle (II = 1).
//              LATENCY = 1 : all logic, then the output register.
//              LATENCY = 2 : register after the 24x24 significand product (DSP output), then
//                            normalize + round into the output register.
//              LATENCY > 2 : the extra LATENCY-2 registers follow the output register (a
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
// any NaN input, or Inf * 0, gives the canonical quiet NaN 0x7FC00000; Inf * x gives Inf; 0 * x
// gives a zero; the sign of every non-NaN result is sign(a) XOR sign(b).
//
// Datapath (special cases first, then one path for every finite nonzero product):
//   1. A subnormal operand is normalized first (leading-zero count and left shift of its 24-bit
//      significand, exponent lowered by the count); at most one operand needs it, because a
//      product of two subnormals is below 2^-252, far under half the smallest subnormal, and is
//      handled as a special case (a zero of the right sign). With both significands in [1, 2)
//      the 48-bit product p lies in [1, 4), i.e. p[47] or p[46] leads, and
//      e0 = exp(a) + exp(b) - 126 is the biased exponent when p[47] leads.
//   2. The leading bit selects the 24-bit significand and guard bit (p[47:23] or p[46:22]); the
//      bits below form the sticky. If the exponent E is below 1 the result underflows: the 25
//      bits shift right by 1 - E (capped at 25), the bits shifted out join the sticky, and the
//      result is subnormal (or rounds to zero or to the smallest normal). Then the shared
//      rounding function rounds to nearest even and packs.

`default_nettype none

module fp32_mul #(
  parameter int LATENCY = 2
) (
  input  wire logic        clk,
  input  wire logic        rst_n,
  input  wire logic        in_valid,
  input  wire logic [31:0] a,
  input  wire logic [31:0] b,
  output      logic        out_valid,
  output      logic [31:0] y
);

  // Registers between "multiply" and "normalize + round" (0 or 1), and after the output register.
  localparam int MID_REGS   = (LATENCY >= 2) ? 1 : 0;
  localparam int EXTRA_REGS = LATENCY - 1 - MID_REGS;

  // Special-case codes carried down the pipeline instead of a whole 32-bit word.
  localparam logic [1:0] SPEC_NONE = 2'd0;
  localparam logic [1:0] SPEC_ZERO = 2'd1;
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
  // Step 1: classify, special cases, normalize a subnormal operand, exponent sum, product.
  // ---------------------------------------------------------------------------------------------
  logic a_zero, a_inf, a_nan;
  logic b_zero, b_inf, b_nan;
  logic [30:0]         n_op, o_op;  // magnitudes; n_op: the one to normalize (a subnormal, if any)
  logic [23:0]         n_sig;
  logic [6:0]          n_lz;        // leading zeros of n_sig: 0 for a normal operand
  logic [23:0]         n_norm;
  logic                s0_sign;
  logic [1:0]          s0_spec;
  logic signed [10:0]  s0_e0;       // biased result exponent if p[47] leads
  logic [47:0]         s0_prod;

  always_comb begin
    a_zero  = eftrain_fp32_pkg::fp32_is_zero(a[30:0]);
    a_inf   = eftrain_fp32_pkg::fp32_is_inf(a[30:0]);
    a_nan   = eftrain_fp32_pkg::fp32_is_nan(a[30:0]);
    b_zero  = eftrain_fp32_pkg::fp32_is_zero(b[30:0]);
    b_inf   = eftrain_fp32_pkg::fp32_is_inf(b[30:0]);
    b_nan   = eftrain_fp32_pkg::fp32_is_nan(b[30:0]);
    s0_sign = a[31] ^ b[31];

    if (a_nan || b_nan || (a_inf && b_zero) || (a_zero && b_inf))
      s0_spec = SPEC_NAN;
    else if (a_inf || b_inf)
      s0_spec = SPEC_INF;
    else if (a_zero || b_zero || (a[30:23] == 8'd0 && b[30:23] == 8'd0))
      s0_spec = SPEC_ZERO;   // a zero operand, or subnormal * subnormal (underflows to zero)
    else
      s0_spec = SPEC_NONE;

    if (a[30:23] == 8'd0) begin
      n_op = a[30:0];
      o_op = b[30:0];
    end else begin
      n_op = b[30:0];
      o_op = a[30:0];
    end
    n_sig  = eftrain_fp32_pkg::fp32_sig(n_op[30:0]);
    n_lz   = eftrain_fp32_pkg::fp32_lzc64({n_sig, 40'hFF_FFFF_FFFF});
    n_norm = n_sig << n_lz;

    s0_e0   = 11'(eftrain_fp32_pkg::fp32_exp_eff(n_op[30:23])) - 11'(n_lz)
            + 11'(eftrain_fp32_pkg::fp32_exp_eff(o_op[30:23]))
            - 11'(eftrain_fp32_pkg::BIAS - 1);
    s0_prod = 48'(n_norm) * 48'(eftrain_fp32_pkg::fp32_sig(o_op[30:0]));
  end

  // ---------------------------------------------------------------------------------------------
  // Stage register after the product (LATENCY >= 2).
  // ---------------------------------------------------------------------------------------------
  logic                s1_sign;
  logic [1:0]          s1_spec;
  logic signed [10:0]  s1_e0;
  logic [47:0]         s1_prod;

  if (MID_REGS == 1) begin : g_mid_reg
    always_ff @(posedge clk) begin
      if (vld[0]) begin
        s1_sign <= s0_sign;
        s1_spec <= s0_spec;
        s1_e0   <= s0_e0;
        s1_prod <= s0_prod;
      end
    end
  end else begin : g_mid_comb
    always_comb begin
      s1_sign = s0_sign;
      s1_spec = s0_spec;
      s1_e0   = s0_e0;
      s1_prod = s0_prod;
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Step 2: pick the leading bit, denormalize on underflow, round, select the special result.
  // ---------------------------------------------------------------------------------------------
  logic [24:0]         top;       // 24-bit significand and guard bit
  logic                st_low;    // sticky of the product bits below `top`
  logic signed [10:0]  e_res;     // biased exponent of top[24]
  logic [4:0]          sh;        // right shift on underflow: 1 - e_res, capped at 25
  logic [24:0]         top_sh;
  logic                lost;      // bits shifted out on underflow
  logic [31:0]         y_round;
  logic [31:0]         y_next;

  always_comb begin
    if (s1_prod[47]) begin
      top    = s1_prod[47:23];
      st_low = |s1_prod[22:0];
      e_res  = s1_e0;
    end else begin
      top    = s1_prod[46:22];
      st_low = |s1_prod[21:0];
      e_res  = s1_e0 - 11'sd1;
    end

    if (e_res >= 11'sd1)       sh = 5'd0;
    else if (e_res <= -11'sd24) sh = 5'd25;
    else                       sh = 5'(11'sd1 - e_res);
    top_sh = top >> sh;
    lost   = |(top & ((25'd1 << sh) - 25'd1));

    // top_sh[24] = 0 after a shift: a subnormal (or zero) result at the scale of exponent 1.
    y_round = eftrain_fp32_pkg::fp32_round_pack(s1_sign, e_res, top_sh[24:1], top_sh[0],
                                                st_low | lost);

    unique case (s1_spec)
      SPEC_NAN:  y_next = eftrain_fp32_pkg::QNAN;
      SPEC_INF:  y_next = {s1_sign, eftrain_fp32_pkg::INF_MAG};
      SPEC_ZERO: y_next = {s1_sign, 31'd0};
      default:   y_next = y_round;
    endcase
  end

  // ---------------------------------------------------------------------------------------------
  // Output register, then LATENCY - 1 - MID_REGS delay registers.
  // ---------------------------------------------------------------------------------------------
  logic [31:0] y_q;

  always_ff @(posedge clk) begin
    if (vld[MID_REGS]) y_q <= y_next;
  end

  if (EXTRA_REGS == 0) begin : g_no_extra
    assign y = y_q;
  end else begin : g_extra
    logic [32*EXTRA_REGS-1:0] y_dly;
    always_ff @(posedge clk) begin
      if (vld[MID_REGS + 1]) y_dly[31:0] <= y_q;
      for (int i = 1; i < EXTRA_REGS; i++) begin
        if (vld[MID_REGS + 1 + i]) y_dly[32*i +: 32] <= y_dly[32*(i-1) +: 32];
      end
    end
    assign y = y_dly[32*EXTRA_REGS-1 -: 32];
  end

endmodule

`default_nettype wire
