// EF-Train, open: IEEE-754 binary32 multiplier, y = a * b.
//
// Parameters
//   LATENCY  pipeline stages from an accepted input to its result (>= 1, default 2). The rest of
//            the design reads this value (HwConfig.mul_latency); one result per cycle (II = 1).
//              LATENCY = 1 : all logic, then the output register.
//              LATENCY = 2 : register after the 24x24 significand product, then
//                            align + round into the output register.
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
// Resources: every variable shift is a multiplication by a power of two, so that it lands in a
// DSP48E2 (a 27x18 multiplier) instead of a LUT barrel shifter. Five 27x18 products: one
// normalizes a subnormal operand, two form the 24x24 significand product (Yosys splits it and
// adds the halves in fabric), two align the result (normal or denormalized window).
//
// Datapath
//   1. Normalize. At most one operand is subnormal (a product of two subnormals is below
//      2^-252, far under half the smallest subnormal: a special-case zero). That operand, n
//      (else b: then lz = 0), has lz leading zeros in its 24-bit significand; one product
//      normalizes it: n_sig * 2^lz, or (n_sig << 16) * 2^(lz - 16) if lz >= 16 (then n_sig <
//      2^8, and the 16-bit move is a 2-way selection).
//   2. Multiply the normalized significand by the other one (a normal number's, hidden bit 1):
//      the 48-bit p lies in [2^46, 2^48). e1 = exp_eff(a) + exp_eff(b) - lz - 127 is the biased
//      exponent of the result when p[46] leads (e1 + 1 when p[47] does).
//   3. Align: w = p[47:22] times 2^(16 - r) shifts the window right by r; the 24-bit
//      significand and the guard bit are then at [40:16], and the bits shifted out at [15:0]
//      join the sticky with the product bits below the window (p[21:0]).
//        e1 >= 1 (normal result):    r = p[47]  (p[47:23] or p[46:22]: this is the
//                                               normalization, no separate multiplexer)
//        e1 <= 0 (subnormal result): r = 1 - e1 (p[47:23] denormalized by -e1, at the scale of
//                                               exponent 1); for r > 16 a second product takes
//                                               p[47:38] instead (same multiplier 2^(32 - r)) and
//                                               p[37:22] joins the sticky; e1 <= -32 is a zero.
//   4. Round and pack (shared function): the exponent field is e1 + p[47] for a normal result,
//      the hidden bit (0 or 1) for a subnormal one; e1 >= 255 is Inf; the rounding carry does
//      the rest (into the next binade, into the smallest normal, into Inf).

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

  // Registers between "multiply" and "align + round" (0 or 1), and after the output register.
  localparam int MID_REGS   = (LATENCY >= 2) ? 1 : 0;
  localparam int EXTRA_REGS = LATENCY - 1 - MID_REGS;

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
  // Steps 1-2: classify, special cases, normalize, multiply; exponent and alignment controls.
  // ---------------------------------------------------------------------------------------------
  logic               a_ez, b_ez, a_ef, b_ef, a_fz, b_fz;   // exponent 0 / all ones, fraction 0
  logic               a_zero, b_zero, a_inf, b_inf, a_nan, b_nan;
  logic [23:0]        n_sig;       // significand to normalize (a's if its exponent field is 0)
  logic [22:0]        o_frac;      // fraction of the other operand (normal unless special)
  logic [4:0]         lz;          // leading zeros of n_sig (24: zero)
  logic [23:0]        n_op_a;      // normalizing product n_op_a * n_op_b = n_sig << lz
  logic [15:0]        n_op_b;      // 2^(lz mod 16)
  logic [23:0]        n_norm;
  logic [8:0]         e_sum;       // exp_eff(a) + exp_eff(b)
  logic signed [9:0]  e1;          // biased result exponent if p[46] leads
  logic               uf;          // e1 <= 0: subnormal (or zero) result

  logic               s0_sign;
  logic [1:0]         s0_spec;
  logic [47:0]        s0_prod;     // p
  logic [7:0]         s0_ebase;    // e1 for a normal result (255: overflow), 0 for a subnormal
  logic               s0_uf;
  logic               s0_coarse;   // r > 16: align p[47:38] instead of p[47:22]
  logic [15:0]        s0_oh;       // 2^(16 - r mod 16) for a subnormal result, else 0

  always_comb begin
    a_ez   = (a[30:23] == 8'h00);
    b_ez   = (b[30:23] == 8'h00);
    a_ef   = (a[30:23] == 8'hFF);
    b_ef   = (b[30:23] == 8'hFF);
    a_fz   = (a[22:0] == 23'd0);
    b_fz   = (b[22:0] == 23'd0);
    a_zero = a_ez & a_fz;
    b_zero = b_ez & b_fz;
    a_inf  = a_ef & a_fz;
    b_inf  = b_ef & b_fz;
    a_nan  = a_ef & !a_fz;
    b_nan  = b_ef & !b_fz;

    s0_sign = a[31] ^ b[31];

    // n = a if a's exponent field is 0, else b. n's hidden bit is 1 exactly when neither
    // exponent field is 0; the other operand is then normal (or the result special).
    n_sig  = {!(a_ez | b_ez), a_ez ? a[22:0] : b[22:0]};
    o_frac = a_ez ? b[22:0] : a[22:0];
    lz     = eftrain_fp32_pkg::fp32_lzc32({n_sig, 8'hFF});
    n_op_a = lz[4] ? {n_sig[7:0], 16'd0} : n_sig;
    for (int k = 0; k < 16; k++) n_op_b[k] = (lz[3:0] == 4'(k));
    n_norm = 24'(40'(n_op_a) * 40'(n_op_b));
    s0_prod = 48'(n_norm) * 48'({1'b1, o_frac});

    e_sum  = 9'({1'b0, a[30:24], a[23] | a_ez}) + 9'({1'b0, b[30:24], b[23] | b_ez});
    e1     = 10'(e_sum) - (10'(eftrain_fp32_pkg::BIAS) + 10'(lz));
    uf     = (e1 <= 10'sd0);

    if (a_nan || b_nan || (a_inf && b_zero) || (a_zero && b_inf))
      s0_spec = eftrain_fp32_pkg::SPEC_NAN;
    else if (a_inf || b_inf)
      s0_spec = eftrain_fp32_pkg::SPEC_INF;
    else if (a_zero || b_zero || (a_ez && b_ez) || (e1 <= -10'sd32))
      s0_spec = eftrain_fp32_pkg::SPEC_ZERO;   // zero operand, subnormal^2, or below 2^-150
    else
      s0_spec = eftrain_fp32_pkg::SPEC_NONE;

    s0_ebase  = (e1 >= 10'sd255) ? 8'hFF : uf ? 8'h00 : e1[7:0];
    s0_uf     = uf;
    s0_coarse = (e1 <= -10'sd16);
    // r = 1 - e1; the multiplier's bit 16 - r (32 - r for r > 16) is bit e1 + 15 mod 16.
    for (int i = 0; i < 16; i++) s0_oh[i] = uf && (e1[3:0] == 4'(i + 1));
  end

  // ---------------------------------------------------------------------------------------------
  // Stage register after the product (LATENCY >= 2).
  // ---------------------------------------------------------------------------------------------
  logic               s1_sign;
  logic [1:0]         s1_spec;
  logic [47:0]        s1_prod;
  logic [7:0]         s1_ebase;
  logic               s1_uf;
  logic               s1_coarse;
  logic [15:0]        s1_oh;

  if (MID_REGS == 1) begin : g_mid_reg
    always_ff @(posedge clk) begin
      if (vld[0]) begin
        s1_sign   <= s0_sign;
        s1_spec   <= s0_spec;
        s1_prod   <= s0_prod;
        s1_ebase  <= s0_ebase;
        s1_uf     <= s0_uf;
        s1_coarse <= s0_coarse;
        s1_oh     <= s0_oh;
      end
    end
  end else begin : g_mid_comb
    always_comb begin
      s1_sign   = s0_sign;
      s1_spec   = s0_spec;
      s1_prod   = s0_prod;
      s1_ebase  = s0_ebase;
      s1_uf     = s0_uf;
      s1_coarse = s0_coarse;
      s1_oh     = s0_oh;
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Steps 3-4: align (normalize or denormalize) by a product, round, pack.
  // ---------------------------------------------------------------------------------------------
  logic [16:0]        w_mul;      // 2^(16 - r)
  logic [40:0]        al_n;       // p[47:22] * 2^(16 - r): significand [40:17], guard [16]
  logic [26:0]        al_c;       // p[47:38] * 2^(32 - r), r > 16: the same bits
  logic [40:0]        al;
  logic               sticky;
  logic               hid;
  logic [31:0]        y_next;

  always_comb begin
    w_mul  = {!s1_uf && !s1_prod[47], s1_oh[15] | (!s1_uf && s1_prod[47]), s1_oh[14:0]};
    al_n   = 41'(43'(s1_prod[47:22]) * 43'(w_mul));
    al_c   = 27'(s1_prod[47:38]) * 27'(w_mul);
    // Selecting between the two products here costs nothing extra: the choice merges into the
    // rounding adder's LUTs (selecting p[47:38] before one product would cost a LUT per bit).
    al     = s1_coarse ? 41'(al_c) : al_n;
    sticky = (|al[15:0]) | (|s1_prod[21:0]) | (s1_coarse && (|s1_prod[37:22]));
    hid    = s1_uf ? al[40] : s1_prod[47];
    y_next = eftrain_fp32_pkg::fp32_round_pack(s1_sign, s1_spec, s1_ebase, hid, al[39:17],
                                               al[16], sticky);
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
