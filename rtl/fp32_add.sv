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
// Resources: both variable shifts are multiplications by powers of two, so that they land in
// DSP48E2 slices (27x18 multipliers) instead of LUT barrel shifters: one product aligns, two
// normalize (one per half of the shift range, sharing the multiplier).
//
// Datapath (one path for near and far cases; 24-bit significands with the hidden bit explicit):
//   1. align  : order the operands by magnitude (X >= Y), d = exp_eff(X) - exp_eff(Y). Y's
//               significand times +-2^(16 - d) puts its integer part at [39:16] and the bits
//               shifted out below; [15:14] become guard and round, the OR of [13:0] the sticky
//               (jamming). d >= 17 pre-drops 10 bits into a jammed bit, d >= 26 leaves only
//               the sticky. An effective subtraction multiplies by -2^k, so the product is
//               already -Y in two's complement (jamming its low bits gives the same word as
//               jamming Y's and negating) and step 2 is a plain addition.
//               For d <= 1 nothing is lost, so massive cancellation (only possible then) is
//               exact; for d >= 2 the result loses at most one leading bit, which leaves a guard
//               and a (jammed) sticky bit below the 24 kept bits: enough to round exactly.
//   2. add    : 28-bit sum X + (+-Y) (bit 27 catches the carry-out), and the left shift t that
//               normalizes it, bounded so that the exponent never drops below 1
//               (t = min(leading zeros, exp_eff(X))), which leaves subnormal results
//               denormalized and exact.
//   3. round  : sum[27:2] times 2^t (sum[11:2] times 2^(t - 16) in a second product when
//               t >= 16, where the sum's upper bits are zero); [25:2] of that is the
//               significand, [1] the guard. The sum's bits [1:0], nonzero only when t <= 2
//               (t >= 3 means d <= 1, where they are 0), go to guard and sticky directly. The
//               shared rounding function packs the exponent field exp_eff(X) + 1 - t.

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
  logic         a_ef, b_ef, a_fz, b_fz, a_inf, b_inf, a_nan, b_nan;
  logic         swap;           // |b| > |a|: X = b, Y = a
  logic [7:0]   x_e;            // X's exponent field
  logic [30:0]  y_mag;          // Y's magnitude bits
  logic [7:0]   ey;             // Y's effective exponent
  logic [7:0]   d;              // exponent difference, 0..253
  logic [23:0]  y_sig;
  logic         d_big;          // d >= 26
  logic [4:0]   dd;             // d, or 16 if d >= 26 (so that the multiplier is 2^0)
  logic [23:0]  al_a;           // Y's significand (10 bits pre-dropped and jammed for d >= 17)
  logic [17:0]  al_b;           // +-2^k, two's complement
  logic [40:0]  al;             // al_a * al_b: integer part [39:16], bits shifted out [15:0]

  logic [1:0]   s0_spec;
  logic         s0_spec_sign;   // sign of an Inf result
  logic         s0_zero_sign;   // sign of an exactly zero sum
  logic         s0_sign;        // sign of a finite nonzero result: that of X
  logic [7:0]   s0_ex;          // effective exponent of X
  logic         s0_swap;
  logic         s0_hx;          // X's hidden bit
  logic [22:0]  s0_fa, s0_fb;   // both fractions: X's is picked inside the adder's LUTs
  logic [27:0]  s0_my;          // +-(Y aligned): guard, round, jammed sticky; two's complement

  always_comb begin
    a_ef  = (a[30:23] == 8'hFF);
    b_ef  = (b[30:23] == 8'hFF);
    a_fz  = (a[22:0] == 23'd0);
    b_fz  = (b[22:0] == 23'd0);
    a_inf = a_ef & a_fz;
    b_inf = b_ef & b_fz;
    a_nan = a_ef & !a_fz;
    b_nan = b_ef & !b_fz;

    if (a_nan || b_nan || (a_inf && b_inf && (a[31] != b[31])))
      s0_spec = eftrain_fp32_pkg::SPEC_NAN;
    else if (a_inf || b_inf)
      s0_spec = eftrain_fp32_pkg::SPEC_INF;
    else
      s0_spec = eftrain_fp32_pkg::SPEC_NONE;
    s0_spec_sign = a_inf ? a[31] : b[31];
    s0_zero_sign = a[31] & b[31];

    swap    = (a[30:0] < b[30:0]);
    x_e     = swap ? b[30:23] : a[30:23];
    y_mag   = swap ? a[30:0] : b[30:0];
    s0_sign = swap ? b[31] : a[31];
    s0_ex   = {x_e[7:1], x_e[0] | (x_e == 8'h00)};
    ey      = {y_mag[30:24], y_mag[23] | (y_mag[30:23] == 8'h00)};
    d       = s0_ex - ey;
    s0_swap = swap;
    s0_hx   = (x_e != 8'h00);
    s0_fa   = a[22:0];
    s0_fb   = b[22:0];
    y_sig   = {(y_mag[30:23] != 8'h00), y_mag[22:0]};

    // Y's significand times 2^k puts its integer part at [39:16]:
    //   d <= 16:        y_sig * 2^(16 - d)
    //   17 <= d <= 25:  {y_sig[23:10], OR of y_sig[9:0]} * 2^(25 - d); the jammed bit lands at
    //                   or below [8], under the round bit
    //   d >= 26:        {OR of Y} * 2^0: every bit of Y is below the round bit
    d_big = (d >= 8'd26);
    dd    = d_big ? 5'd16 : d[4:0];
    if (d_big)            al_a = {23'd0, (y_mag != 31'd0)};
    else if (dd >= 5'd17) al_a = {9'd0, y_sig[23:10], (|y_sig[9:0])};
    else                  al_a = y_sig;
    // The multiplier is 2^k, k = 16 - dd or 25 - dd; for an effective subtraction it is -2^k
    // (ones from bit k up), which makes the product -Y.
    for (int i = 0; i < 18; i++) begin
      if (a[31] != b[31])
        al_b[i] = (dd <= 5'd16) ? (i >= 16 || dd >= 5'(16 - i)) : (dd >= 5'(25 - i));
      else
        al_b[i] = (dd <= 5'd16) ? (i <= 16 && dd == 5'(16 - i)) : (dd == 5'(25 - i));
    end
    al      = 41'($signed({18'd0, al_a}) * $signed({{24{al_b[17]}}, al_b}));   // 42-bit product
    s0_my   = {al[40:14], (|al[13:0])};
  end

  // ---------------------------------------------------------------------------------------------
  // Stage register after align (LATENCY >= 2).
  // ---------------------------------------------------------------------------------------------
  logic [1:0]   s1_spec;
  logic         s1_spec_sign;
  logic         s1_zero_sign;
  logic         s1_sign;
  logic [7:0]   s1_ex;
  logic         s1_swap;
  logic         s1_hx;
  logic [22:0]  s1_fa, s1_fb;
  logic [27:0]  s1_my;

  if (ALIGN_REGS == 1) begin : g_align_reg
    always_ff @(posedge clk) begin
      if (vld[0]) begin
        s1_spec      <= s0_spec;
        s1_spec_sign <= s0_spec_sign;
        s1_zero_sign <= s0_zero_sign;
        s1_sign      <= s0_sign;
        s1_ex        <= s0_ex;
        s1_swap      <= s0_swap;
        s1_hx        <= s0_hx;
        s1_fa        <= s0_fa;
        s1_fb        <= s0_fb;
        s1_my        <= s0_my;
      end
    end
  end else begin : g_align_comb
    always_comb begin
      s1_spec      = s0_spec;
      s1_spec_sign = s0_spec_sign;
      s1_zero_sign = s0_zero_sign;
      s1_sign      = s0_sign;
      s1_ex        = s0_ex;
      s1_swap      = s0_swap;
      s1_hx        = s0_hx;
      s1_fa        = s0_fa;
      s1_fb        = s0_fb;
      s1_my        = s0_my;
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Step 2: add; bounded normalization shift.
  // ---------------------------------------------------------------------------------------------
  logic [27:0]  x_ext;
  logic [4:0]   lz;             // leading zeros of the sum (26: zero sum)
  logic [27:0]  s1_sum;
  logic         s1_is_zero;
  logic [4:0]   s1_shift;       // t = min(lz, exp_eff(X))

  always_comb begin
    x_ext      = {1'b0, s1_hx, s1_swap ? s1_fb : s1_fa, 3'b000};
    // s1_my + x_ext, written as ({my, 0} - {~x, 1}) / 2 so that Yosys makes the aligned term the
    // carry chain's direct operand: X's selection then merges into the sum bit's LUT.
    s1_sum     = 28'(({s1_my, 1'b0} - {~x_ext, 1'b1}) >> 1);
    // The sum's bits [1:0] are nonzero only when its leading bit is at [27:25], so the count
    // over [27:2] is the count of the whole sum (and [27:2] == 0 means the sum is 0).
    lz         = eftrain_fp32_pkg::fp32_lzc32({s1_sum[27:2], 6'b11_1111});
    s1_is_zero = (s1_sum[27:2] == 26'd0);
    s1_shift   = (s1_ex < 8'(lz)) ? s1_ex[4:0] : lz;
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
  // Step 3: normalize by a product, round, pack.
  // ---------------------------------------------------------------------------------------------
  logic [15:0]  nm_b;           // 2^(t mod 16)
  logic [25:0]  nm_n;           // sum[27:2] << t, for t < 16
  logic [9:0]   nm_c;           // sum[11:2] << (t - 16), for t >= 16 (the sum is < 2^12 then)
  logic [25:0]  nm;             // sum[27:2] << t: significand [25:2], guard [1]
  logic         t_is_2;
  logic         guard;
  logic         sticky;
  logic [1:0]   spec;
  logic         sign;
  logic [31:0]  y_next;

  always_comb begin
    for (int i = 0; i < 16; i++) nm_b[i] = (s2_shift[3:0] == 4'(i));
    nm_n   = 26'(42'(s2_sum[27:2]) * 42'(nm_b));
    nm_c   = 10'(26'(s2_sum[11:2]) * 26'(nm_b));
    // Selecting between the two products merges into the rounding adder's LUTs (moving the sum
    // by 16 before a single product would cost a LUT per bit).
    nm     = s2_shift[4] ? {nm_c, 16'd0} : nm_n;
    t_is_2 = (s2_shift == 5'd2);
    guard  = nm[1] | (t_is_2 & s2_sum[1]);
    sticky = nm[0] | s2_sum[0] | (!t_is_2 & s2_sum[1]);

    if (s2_spec != eftrain_fp32_pkg::SPEC_NONE) begin
      spec = s2_spec;
      sign = s2_spec_sign;
    end else if (s2_is_zero) begin
      spec = eftrain_fp32_pkg::SPEC_ZERO;
      sign = s2_zero_sign;
    end else begin
      spec = eftrain_fp32_pkg::SPEC_NONE;
      sign = s2_sign;
    end
    // Exponent field exp_eff(X) + 1 - t = (exp_eff(X) - t) + hidden bit; a subnormal result has
    // t = exp_eff(X) and hidden bit 0, i.e. field 0.
    y_next = eftrain_fp32_pkg::fp32_round_pack(sign, spec, s2_ex - 8'(s2_shift), nm[25],
                                               nm[24:2], guard, sticky);
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
