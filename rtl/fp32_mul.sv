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
//
// Numerics (SPEC section 4): round to nearest, ties to even, in eftrain_fp32_pkg::fp32_round_pack;
// subnormal inputs and results exact (gradual underflow); overflow gives Inf. Special cases first:
// any NaN input, or Inf * 0, gives the canonical quiet NaN 0x7FC00000; Inf * x gives Inf; 0 * x
// gives a zero; the sign of every non-NaN result is sign(a) XOR sign(b).
//
// Datapath: the product p = sig(a) * sig(b) of the 24-bit significands (hidden bit explicit, 0 for
// subnormals) is exact in 48 bits. With e0 = exp_eff(a) + exp_eff(b) - 126 the exact result is
// 0.p[47:0] * 2^(e0 - 126) = 1.x * 2^(e0 - 127) when p[47] is set.
//   e0 >= 1 : shift p left by min(lzc(p), e0 - 1) so the result is normalized, or, when that
//             would push the exponent below 1, a subnormal with exponent field 0. The bound is
//             folded into the count by setting a marker bit at position 47 - (e0 - 1).
//   e0 <  1 : the result underflows: shift p right by 1 - e0, OR-ing lost bits into the sticky.
// Then sig = p[47:24], guard = p[23], sticky = |p[22:0] go to the shared rounding function.

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
  // Step 1: classify, special cases, exponent sum, significand product.
  // ---------------------------------------------------------------------------------------------
  eftrain_fp32_pkg::fp32_class_t ca, cb;
  logic                s0_sign;
  logic [1:0]          s0_spec;
  logic signed [10:0]  s0_e0;
  logic [47:0]         s0_prod;

  always_comb begin
    ca      = eftrain_fp32_pkg::fp32_classify(a[30:0]);
    cb      = eftrain_fp32_pkg::fp32_classify(b[30:0]);
    s0_sign = a[31] ^ b[31];

    if (ca.is_nan || cb.is_nan || (ca.is_inf && cb.is_zero) || (ca.is_zero && cb.is_inf))
      s0_spec = SPEC_NAN;
    else if (ca.is_inf || cb.is_inf)
      s0_spec = SPEC_INF;
    else if (ca.is_zero || cb.is_zero)
      s0_spec = SPEC_ZERO;
    else
      s0_spec = SPEC_NONE;

    s0_e0   = 11'(eftrain_fp32_pkg::fp32_exp_eff(a[30:23]))
            + 11'(eftrain_fp32_pkg::fp32_exp_eff(b[30:23]))
            - 11'(eftrain_fp32_pkg::BIAS - 1);
    s0_prod = 48'(eftrain_fp32_pkg::fp32_sig(a[30:0])) * 48'(eftrain_fp32_pkg::fp32_sig(b[30:0]));
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
  // Step 2: normalize (or denormalize), round, select the special result.
  // ---------------------------------------------------------------------------------------------
  logic signed [10:0]  lim;       // e0 - 1: how far left p may shift before the exponent hits 1
  logic [63:0]         lz_word;   // p, the bound marker, and a ones pad that caps the count at 48
  logic [6:0]          sh_left;
  logic [5:0]          sh_right;
  logic [47:0]         pn;        // normalized product
  logic                lost;      // bits shifted out on the right (underflow)
  logic signed [10:0]  e_res;     // biased exponent of pn[47]
  logic [31:0]         y_round;
  logic [31:0]         y_next;

  always_comb begin
    lim      = s1_e0 - 11'sd1;
    lz_word  = {s1_prod, 16'hFFFF};
    if (lim >= 11'sd0 && lim < 11'sd48) lz_word = lz_word | (64'h8000_0000_0000_0000 >> lim[5:0]);
    sh_left  = eftrain_fp32_pkg::fp32_lzc64(lz_word);
    sh_right = (s1_e0 < -11'sd47) ? 6'd48 : 6'(11'sd1 - s1_e0);

    if (s1_e0 >= 11'sd1) begin
      pn    = s1_prod << sh_left;
      lost  = 1'b0;
      e_res = s1_e0 - 11'(sh_left);
    end else begin
      pn    = s1_prod >> sh_right;
      lost  = |(s1_prod & ((48'd1 << sh_right) - 48'd1));
      e_res = 11'sd1;
    end

    // pn[47] = 0 here means a subnormal (or underflow-to-zero) result at the scale of exponent 1.
    y_round = eftrain_fp32_pkg::fp32_round_pack(s1_sign, e_res, pn[47:24], pn[23],
                                                (|pn[22:0]) | lost);

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
