// EF-Train, open: IEEE-754 binary32 divider, y = a / b.
//
// Parameters
//   LATENCY  pipeline stages from an accepted input to its result (>= 1, default 8); one result
//            per cycle (II = 1) at every LATENCY. The logic is a chain of
//              PREP   classify, special cases, normalize both significands, exponent, first
//                     quotient bit and remainder (one compare / subtract),
//              ITER   24 non-restoring radix-2 iterations (one quotient bit each: one
//                     25-bit addition or subtraction, chosen by the remainder's sign),
//              ROUND  denormalize a subnormal quotient, round and pack,
//            followed by the output register. LATENCY - 1 registers are placed along the chain:
//              LATENCY = 1 : PREP | ITER x 24 | ROUND, then the output register.
//              LATENCY = 2 : register after PREP.
//              LATENCY = 3 : registers after PREP and before ROUND.
//              LATENCY = 4 .. 26 : the LATENCY - 3 further registers cut the 24 iterations into
//                            LATENCY - 2 groups as even as possible (sizes differ by at most
//                            one, the larger groups first). Default 8: 6 groups of 4 iterations,
//                            i.e. four dependent 25-bit carry chains per stage.
//              LATENCY > 26 : one register after every iteration; the extra LATENCY - 26
//                            registers follow the output register (a retiming-friendly delay line).
//            The minimum legal value is 1 (a long combinational path, for slow clocks only).
//
// Ports
//   clk        clock
//   rst_n      active-low synchronous reset of the valid pipeline (data registers are not reset)
//   in_valid   a, b carry an operand pair this cycle
//   a, b       binary32 dividend and divisor
//   out_valid  y carries the result of the pair accepted LATENCY cycles ago
//   y          binary32 quotient (holds its value while out_valid is low)
//   Stage data registers load only when their stage holds a valid item (clock enable), so a
//   result exists only for an accepted input: y is meaningful only while out_valid is high.
//
// Numerics (SPEC section 4): the quotient correctly rounded to nearest, ties to even, in
// eftrain_fp32_pkg::fp32_round_pack; subnormal operands and results exact (gradual underflow,
// including rounding up into the smallest normal); overflow gives Inf. Special cases first, from
// the operand classes alone:
//   any NaN operand, 0 / 0, Inf / Inf          -> canonical quiet NaN 0x7FC00000
//   Inf / x (x not Inf, NaN), x / 0 (x not 0)   -> Inf
//   0 / x (x not 0, NaN), x / Inf (x not Inf)   -> zero
// The sign of every non-NaN result is sign(a) XOR sign(b).
//
// Datapath
//   PREP   Both significands are normalized (hidden bit at [23]; a subnormal's leading zeros lz
//          move into its exponent): ma, mb in [2^23, 2^24). Their quotient lies in (1/2, 2); if
//          ma < mb the dividend is doubled (and the exponent lowered by one), so that the
//          quotient X / mb lies in [1, 2) and its leading bit is 1. The remainder after that bit
//          is r0 = X - mb < mb. The biased exponent of the quotient is
//            e = (exp_eff(a) - lz_a) - (exp_eff(b) - lz_b) + 127 - (ma < mb),  -150 <= e <= 403.
//          From e: e >= 1 is a normal result (e >= 255 an overflow); e <= 0 a subnormal one,
//          denormalized by the right shift s = 1 - e (capped at 26: at s >= 25 every quotient
//          bit is below the guard bit and the result rounds to zero).
//   ITER   Non-restoring division, one bit per iteration: the signed remainder r lies in
//          [-mb, mb); r = 2 r - mb if r >= 0, else 2 r + mb, and the quotient bit is 1 exactly
//          when the new r is >= 0. These are the bits of restoring division (whose remainder is r
//          when r >= 0, else r + mb), without its select after every subtraction: each bit of the
//          add/subtract is one LUT on the carry chain. 25 bits hold r with its sign; 2 r +- mb
//          is formed modulo 2^25 (the result is in range). After 24 iterations Q = 1.q1..q24
//          holds 23 fraction bits and the guard bit; the exact quotient has further bits (sticky)
//          unless the restoring remainder is 0, i.e. r == 0 or r == -mb.
//   ROUND  Q >> s, the bits shifted out joining the sticky, goes to the shared rounding function
//          with the exponent field e - 1 plus the hidden bit (normal) or 0 plus the hidden bit
//          0 (subnormal); its carry rounds the largest subnormals up into the smallest normal.
//          (A normal quotient never rounds up into the next binade: X / mb <= 2 - 2^-23, a
//          float; so overflow comes from the exponent alone.)
//
// Resources (Yosys 0.23 synth_xilinx -family xcup, default LATENCY): about 1,200 LUTs, 570 FFs and
// 205 carry cells, no DSP, no BRAM (python ci/rtl_check.py synth --top fp32_div). Each further
// register costs about 75 FFs (about 1,950 FFs at LATENCY = 26; 1,300 LUTs at LATENCY = 1).

`default_nettype none

module fp32_div #(
  parameter int LATENCY = 8
) (
  input  wire logic        clk,
  input  wire logic        rst_n,
  input  wire logic        in_valid,
  input  wire logic [31:0] a,
  input  wire logic [31:0] b,
  output      logic        out_valid,
  output      logic [31:0] y
);

  localparam int N_ITER     = 24;                               // quotient bits after the first
  localparam int PREP_REGS  = (LATENCY >= 2) ? 1 : 0;           // register after PREP
  localparam int LAST_REGS  = (LATENCY >= 3) ? 1 : 0;           // register before ROUND
  localparam int GROUPS     = (LATENCY <= 3)          ? 1 :     // iteration groups
                              (LATENCY - 2 >= N_ITER) ? N_ITER : LATENCY - 2;
  localparam int OUT_STAGE  = PREP_REGS + GROUPS - 1 + LAST_REGS;   // vld index enabling y_q
  localparam int EXTRA_REGS = LATENCY - 1 - OUT_STAGE;

  // State carried between iterations; boundary j sits in front of iteration j (j = N_ITER: in
  // front of ROUND). CTL_W: sign, special code, exponent base, denormalization shift.
  localparam int CTL_W = 1 + 2 + 8 + 5;
  localparam int ST_W  = CTL_W + 25 + 25;                      // + remainder, quotient so far

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
  // PREP: classify, special cases, normalize, exponent, first quotient bit.
  // ---------------------------------------------------------------------------------------------
  logic               a_ez, b_ez, a_ef, b_ef, a_fz, b_fz;   // exponent 0 / all ones, fraction 0
  logic               a_zero, b_zero, a_inf, b_inf, a_nan, b_nan;
  logic [23:0]        a_sig, b_sig;   // significands with the hidden bit (0 for a subnormal)
  logic [4:0]         a_lz, b_lz;     // their leading zeros (0..23 unless zero)
  logic [23:0]        ma, mb;         // normalized significands: [23] set
  logic [24:0]        d_ge;           // ma - mb (borrow in [24]: ma < mb)
  logic [23:0]        d_lt;           // 2 ma - mb, when ma < mb (then in (0, 2^24))
  logic               lt;
  logic signed [9:0]  e;              // biased exponent of the quotient

  logic               s0_sign;
  logic [1:0]         s0_spec;
  logic [7:0]         s0_ebase;       // e - 1 (255: overflow) for a normal result, else 0
  logic [4:0]         s0_shift;       // 0 for a normal result, min(1 - e, 26) for a subnormal one
  logic [23:0]        s0_r;           // remainder after the leading quotient bit

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
    if (a_nan || b_nan || (a_zero && b_zero) || (a_inf && b_inf))
      s0_spec = eftrain_fp32_pkg::SPEC_NAN;
    else if (a_inf || b_zero)
      s0_spec = eftrain_fp32_pkg::SPEC_INF;
    else if (a_zero || b_inf)
      s0_spec = eftrain_fp32_pkg::SPEC_ZERO;
    else
      s0_spec = eftrain_fp32_pkg::SPEC_NONE;

    a_sig = {!a_ez, a[22:0]};
    b_sig = {!b_ez, b[22:0]};
    a_lz  = eftrain_fp32_pkg::fp32_lzc32({a_sig, 8'hFF});
    b_lz  = eftrain_fp32_pkg::fp32_lzc32({b_sig, 8'hFF});
    ma    = a_sig << a_lz;
    mb    = b_sig << b_lz;

    d_ge  = {1'b0, ma} - {1'b0, mb};
    d_lt  = {ma[22:0], 1'b0} - mb;   // modulo 2^24: exact when it is used
    lt    = d_ge[24];
    // r0 < mb < 2^24 in both cases (ma < 2 mb; 2 ma - mb < mb when ma < mb).
    s0_r  = lt ? d_lt : d_ge[23:0];

    e = 10'({a[30:24], a[23] | a_ez}) - 10'(a_lz) - 10'({b[30:24], b[23] | b_ez}) + 10'(b_lz)
        + 10'(eftrain_fp32_pkg::BIAS) - 10'(lt);
    if (e >= 10'sd255) begin
      s0_ebase = 8'hFF;
      s0_shift = 5'd0;
    end else if (e >= 10'sd1) begin
      s0_ebase = 8'(e - 10'sd1);
      s0_shift = 5'd0;
    end else begin
      s0_ebase = 8'h00;
      s0_shift = (e <= -10'sd25) ? 5'd26 : 5'(10'sd1 - e);
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Boundaries and iterations. Block g_st[j] holds boundary j: the state d computed in front of
  // it (PREP's output, or iteration j-1's), the same state q behind the boundary's register (if
  // it has one), and, for j < N_ITER, iteration j, which reads q. The divisor's fraction dv
  // travels alongside (ROUND needs it too).
  // ---------------------------------------------------------------------------------------------
  for (genvar j = 0; j <= N_ITER; j++) begin : g_st
    // Iteration i belongs to group (i * GROUPS) / N_ITER; a register sits between groups.
    localparam bit REG   = (j == 0)      ? (PREP_REGS == 1) :
                           (j == N_ITER) ? (LAST_REGS == 1) :
                           (((j * GROUPS) / N_ITER) != (((j - 1) * GROUPS) / N_ITER));
    localparam int STAGE = (j == 0) ? 0 : PREP_REGS + ((j - 1) * GROUPS) / N_ITER;

    logic [ST_W-1:0] d, q;      // {sign, spec, ebase, shift, remainder, quotient so far}

    if (j == 0) begin : g_src
      assign d = {s0_sign, s0_spec, s0_ebase, s0_shift, {1'b0, s0_r}, 25'd1};
    end else begin : g_src
      assign d = g_st[j-1].g_it.nxt;
    end

    if (REG) begin : g_reg
      always_ff @(posedge clk) begin
        if (vld[STAGE]) q <= d;
      end
    end else begin : g_wire
      assign q = d;
    end

    logic [22:0] dv_d, dv_q;    // divisor fraction (its hidden bit is 1)

    if (j == 0) begin : g_dv_src
      assign dv_d = mb[22:0];
    end else begin : g_dv_src
      assign dv_d = g_st[j-1].dv_q;
    end
    if (REG) begin : g_dv_reg
      always_ff @(posedge clk) begin
        if (vld[STAGE]) dv_q <= dv_d;
      end
    end else begin : g_dv_wire
      assign dv_q = dv_d;
    end

    if (j < N_ITER) begin : g_it
      logic [CTL_W-1:0] ctl;
      logic [24:0]      r;            // signed remainder, in [-divisor, divisor)
      logic [24:0]      qb;           // quotient bits so far, leading 1 included
      logic             neg;          // r < 0: add the divisor, else subtract it
      logic [24:0]      dx;           // the divisor, complemented for a subtraction
      logic [24:0]      r_next;       // 2 r -+ divisor (modulo 2^25: it is in range)
      logic [ST_W-1:0]  nxt;          // the state in front of boundary j + 1

      always_comb begin
        {ctl, r, qb} = q;
        neg    = r[24];
        dx     = {2'b01, dv_q} ^ {25{!neg}};
        // 2 r + dx + !neg, the carry-in folded in as ({2 r, 1} + {dx, !neg}) / 2, so that the
        // whole step is one carry chain
        r_next = 25'(({r[23:0], 1'b0, 1'b1} + {dx, !neg}) >> 1);
        nxt    = {ctl, r_next, (qb << 1) | 25'(!r_next[24])};
      end
    end
  end

  // ---------------------------------------------------------------------------------------------
  // ROUND: denormalize (subnormal quotient), round, pack.
  // ---------------------------------------------------------------------------------------------
  logic               f_sign;
  logic [1:0]         f_spec;
  logic [7:0]         f_ebase;
  logic [4:0]         f_shift;
  logic [24:0]        f_r;        // final non-restoring remainder
  logic [24:0]        f_rd;       // f_r + divisor: the restoring remainder when f_r < 0
  logic [24:0]        f_q;        // 1.q1..q24: hidden bit, 23 fraction bits, guard bit
  logic [24:0]        sh;         // f_q >> f_shift
  logic               lost;       // a one shifted out below the guard bit
  logic [31:0]        y_next;

  always_comb begin
    {f_sign, f_spec, f_ebase, f_shift, f_r, f_q} = g_st[N_ITER].q;
    sh     = f_q >> f_shift;
    lost   = |(f_q & ~({25{1'b1}} << f_shift));
    f_rd   = f_r + {2'b01, g_st[N_ITER].dv_q};
    y_next = eftrain_fp32_pkg::fp32_round_pack(f_sign, f_spec, f_ebase, sh[24], sh[23:1], sh[0],
                                               lost | (f_r[24] ? (|f_rd) : (|f_r)));
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
