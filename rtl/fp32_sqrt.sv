// EF-Train, open: IEEE-754 binary32 square root, y = sqrt(a).
//
// Parameters
//   LATENCY  pipeline stages from an accepted input to its result (>= 1, default 8); one result
//            per cycle (II = 1) at every LATENCY. The logic is a chain of
//              PREP   classify, special cases, normalize the significand, make the exponent even,
//                     first root bit,
//              ITER   24 non-restoring radix-2 iterations (one root bit each: one 28-bit
//                     addition or subtraction, chosen by the remainder's sign),
//              ROUND  round and pack,
//            followed by the output register. LATENCY - 1 registers are placed along the chain
//            exactly as in fp32_div:
//              LATENCY = 1 : PREP | ITER x 24 | ROUND, then the output register.
//              LATENCY = 2 : register after PREP.
//              LATENCY = 3 : registers after PREP and before ROUND.
//              LATENCY = 4 .. 26 : the LATENCY - 3 further registers cut the 24 iterations into
//                            LATENCY - 2 groups as even as possible (sizes differ by at most
//                            one, the larger groups first). Default 8: 6 groups of 4 iterations.
//              LATENCY > 26 : one register after every iteration; the extra LATENCY - 26
//                            registers follow the output register (a retiming-friendly delay line).
//            The minimum legal value is 1 (a long combinational path, for slow clocks only).
//
// Ports
//   clk        clock
//   rst_n      active-low synchronous reset of the valid pipeline (data registers are not reset)
//   in_valid   a carries an operand this cycle
//   a          binary32 operand
//   out_valid  y carries the result of the operand accepted LATENCY cycles ago
//   y          binary32 result (holds its value while out_valid is low)
//   Stage data registers load only when their stage holds a valid item (clock enable), so a
//   result exists only for an accepted input: y is meaningful only while out_valid is high.
//
// Numerics (SPEC section 4): the root correctly rounded to nearest (ties to even, although an
// exact tie cannot occur) in eftrain_fp32_pkg::fp32_round_pack; subnormal operands exact. The root
// of every positive finite number is a normal number (2^-74.5 <= sqrt(a) < 2^64), so neither
// overflow nor underflow exists here. Special cases first:
//   NaN, -Inf, any negative nonzero a (subnormals included)  -> canonical quiet NaN 0x7FC00000
//   +0 -> +0,  -0 -> -0,  +Inf -> +Inf
//
// Datapath
//   PREP   The significand is normalized (hidden bit at [23]; a subnormal's leading zeros lz move
//          into its exponent), the unbiased exponent E = exp_eff(a) - lz - 127 made even by
//          doubling the significand when E is odd: a = M * 2^(E'), M in [1, 4) with 2 integer
//          bits (25 bits), E' = E - (E odd). The root is sqrt(M) * 2^(E'/2), sqrt(M) in [1, 2),
//          and its biased exponent field is E'/2 + 127 (52 .. 190). The leading root bit is 1;
//          the remainder after it is M[24:23] - 1.
//   ITER   Non-restoring digit-by-digit square root. Restoring form: per iteration the next
//          two radicand bits come down (r' = 4 r + pair; M's bits, then zeros), the trial value
//          is t = 4 q + 1 (q: the root so far); if r' >= t the root bit is 1 and r = r' - t,
//          else 0 and r = r'. The non-restoring form skips the select: it keeps the trial
//          difference r even when negative and makes up for it in the next step, which adds
//          4 q + 3 instead of subtracting 4 q + 1 (4 (r + t) + pair - (4 q + 1) with q doubled
//          = 4 r + pair + 4 q + 3). The root bit is 1 exactly when the new r is >= 0, as in the
//          restoring form, and each bit of the add/subtract is one LUT on the carry chain.
//          -(4 q + 1) <= new r <= 4 q + 2 keeps r in 27 bits with its sign. After 24 iterations
//          Q = 1.q1..q24 = floor(sqrt(M) * 2^24) holds 23 fraction bits and the guard bit. The
//          root is inexact (sticky) unless the restoring remainder is 0; the sticky bit matters
//          only when the guard bit (the last root bit) is 1, and then r >= 0 is that remainder:
//          r != 0 serves as the sticky bit.
//   ROUND  The shared rounding function with the exponent field E'/2 + 126 plus the hidden bit
//          (a root never rounds up into the next binade: the largest, sqrt(4 - 2^-22), is just
//          below 2 - ulp/2).
//
// Resources (Yosys 0.23 synth_xilinx -family xcup, default LATENCY): about 790 LUTs, 405 FFs and
// 180 carry cells, no DSP, no BRAM (python ci/rtl_check.py synth --top fp32_sqrt). Each further
// register costs about 55 to 75 FFs (about 1,400 FFs at LATENCY = 26).

`default_nettype none

module fp32_sqrt #(
  parameter int LATENCY = 8
) (
  input  wire logic        clk,
  input  wire logic        rst_n,
  input  wire logic        in_valid,
  input  wire logic [31:0] a,
  output      logic        out_valid,
  output      logic [31:0] y
);

  localparam int N_ITER     = 24;                               // root bits after the first
  localparam int N_RAD      = 12;                               // iterations taking radicand bits
  localparam int PREP_REGS  = (LATENCY >= 2) ? 1 : 0;           // register after PREP
  localparam int LAST_REGS  = (LATENCY >= 3) ? 1 : 0;           // register before ROUND
  localparam int GROUPS     = (LATENCY <= 3)          ? 1 :     // iteration groups
                              (LATENCY - 2 >= N_ITER) ? N_ITER : LATENCY - 2;
  localparam int OUT_STAGE  = PREP_REGS + GROUPS - 1 + LAST_REGS;   // vld index enabling y_q
  localparam int EXTRA_REGS = LATENCY - 1 - OUT_STAGE;

  // State carried between iterations; boundary j sits in front of iteration j (j = N_ITER: in
  // front of ROUND). CTL_W: sign, special code, exponent base.
  localparam int CTL_W = 1 + 2 + 8;
  localparam int ST_W  = CTL_W + 27 + 25;                      // + remainder, root so far

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
  // PREP: classify, special cases, normalize, even exponent, first root bit.
  // ---------------------------------------------------------------------------------------------
  logic               a_ez, a_ef, a_fz, a_zero, a_inf, a_nan;
  logic [23:0]        a_sig;          // significand with the hidden bit (0 for a subnormal)
  logic [4:0]         a_lz;           // its leading zeros (0..23 unless zero)
  logic [23:0]        ma;             // normalized significand: [23] set
  logic               odd;            // E = exp_eff(a) - lz - 127 is odd
  logic [24:0]        m;              // M = ma * 2^odd / 2^23, two integer bits

  logic               s0_sign;
  logic [1:0]         s0_spec;
  logic [7:0]         s0_ebase;       // exponent field of the root minus its hidden bit
  logic [26:0]        s0_r;           // remainder after the leading root bit

  always_comb begin
    a_ez   = (a[30:23] == 8'h00);
    a_ef   = (a[30:23] == 8'hFF);
    a_fz   = (a[22:0] == 23'd0);
    a_zero = a_ez & a_fz;
    a_inf  = a_ef & a_fz;
    a_nan  = a_ef & !a_fz;

    s0_sign = a[31];                  // only -0 keeps a set sign (NaN's is cleared when packed)
    if (a_nan || (a[31] && !a_zero))
      s0_spec = eftrain_fp32_pkg::SPEC_NAN;
    else if (a_zero)
      s0_spec = eftrain_fp32_pkg::SPEC_ZERO;
    else if (a_inf)
      s0_spec = eftrain_fp32_pkg::SPEC_INF;
    else
      s0_spec = eftrain_fp32_pkg::SPEC_NONE;

    a_sig = {!a_ez, a[22:0]};
    a_lz  = eftrain_fp32_pkg::fp32_lzc32({a_sig, 8'hFF});
    ma    = a_sig << a_lz;
    // exp_eff(a) - lz is even exactly when E is odd (the bias is odd)
    odd   = !((a[23] | a_ez) ^ a_lz[0]);
    m     = odd ? {ma, 1'b0} : {1'b0, ma};
    // E'/2 + 126 = (exp_eff(a) - lz - odd + 125) / 2; the sum is even and at least 102
    s0_ebase = 8'((10'({a[30:24], a[23] | a_ez}) + 10'd125 - 10'(a_lz) - 10'(odd)) >> 1);
    s0_r     = {25'd0, 2'(m[24:23] - 2'd1)};
  end

  // ---------------------------------------------------------------------------------------------
  // Boundaries and iterations. Block g_st[j] holds boundary j: the state d computed in front of
  // it (PREP's output, or iteration j-1's), the same state q behind the boundary's register (if
  // it has one), and, for j < N_ITER, iteration j, which reads q. The radicand bits still to come
  // down travel alongside for the first N_RAD iterations, two fewer at each boundary.
  // ---------------------------------------------------------------------------------------------
  for (genvar j = 0; j <= N_ITER; j++) begin : g_st
    // Iteration i belongs to group (i * GROUPS) / N_ITER; a register sits between groups.
    localparam bit REG   = (j == 0)      ? (PREP_REGS == 1) :
                           (j == N_ITER) ? (LAST_REGS == 1) :
                           (((j * GROUPS) / N_ITER) != (((j - 1) * GROUPS) / N_ITER));
    localparam int STAGE = (j == 0) ? 0 : PREP_REGS + ((j - 1) * GROUPS) / N_ITER;

    logic [ST_W-1:0] d, q;      // {sign, spec, ebase, remainder, root so far}

    if (j == 0) begin : g_src
      assign d = {s0_sign, s0_spec, s0_ebase, s0_r, 25'd1};
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

    if (j < N_ITER) begin : g_it
      logic [CTL_W-1:0] ctl;
      logic [26:0]      r;            // signed remainder, in [-(2 qb + 1), 2 qb + 2]
      logic [24:0]      qb;           // root bits so far, leading 1 included (< 2^24 here)
      logic [1:0]       pair;         // the next two radicand bits
      logic             neg;          // r < 0: add 4 qb + 3, else subtract 4 qb + 1
      logic [27:0]      dx;           // that addend, minus the carry-in !neg
      logic [26:0]      r_next;       // 4 r + pair + dx + !neg (modulo 2^27: it is in range)
      logic [ST_W-1:0]  nxt;          // the state in front of boundary j + 1

      if (j < N_RAD) begin : g_rad
        localparam int RW = 24 - 2 * j;     // radicand bits still to come down
        logic [RW-1:0] rad_d, rad_q;
        if (j == 0) begin : g_rad_src
          assign rad_d = {m[22:0], 1'b0};
        end else begin : g_rad_src
          assign rad_d = g_st[j-1].g_it.g_rad.g_rest.rest;
        end
        if (REG) begin : g_rad_reg
          always_ff @(posedge clk) begin
            if (vld[STAGE]) rad_q <= rad_d;
          end
        end else begin : g_rad_wire
          assign rad_q = rad_d;
        end
        assign pair = rad_q[RW-1 -: 2];
        if (j + 1 < N_RAD) begin : g_rest
          logic [RW-3:0] rest;
          assign rest = rad_q[RW-3:0];
        end
      end else begin : g_no_rad
        assign pair = 2'b00;
      end

      always_comb begin
        {ctl, r, qb} = q;
        neg    = r[26];
        // +(4 qb + 3) = {qb, 11}; -(4 qb + 1) = ~{qb, 01} + 1 = {~qb, 10} + 1 (28 bits)
        dx     = {!neg, qb ^ {25{!neg}}, 1'b1, neg};
        // 4 r + pair + dx + !neg, the carry-in folded in as ({4 r + pair, 1} + {dx, !neg}) / 2,
        // so that the whole step is one carry chain; |r| < 2^25 at every iteration's input
        r_next = 27'(({r[25:0], pair, 1'b1} + {dx, !neg}) >> 1);
        nxt    = {ctl, r_next, (qb << 1) | 25'(!r_next[26])};
      end
    end
  end

  // ---------------------------------------------------------------------------------------------
  // ROUND: round and pack.
  // ---------------------------------------------------------------------------------------------
  logic               f_sign;
  logic [1:0]         f_spec;
  logic [7:0]         f_ebase;
  logic [26:0]        f_r;        // final non-restoring remainder
  logic [24:0]        f_q;        // 1.q1..q24: hidden bit (always 1), 23 fraction bits, guard
  logic [31:0]        y_next;

  always_comb begin
    {f_sign, f_spec, f_ebase, f_r, f_q} = g_st[N_ITER].q;
    // The sticky bit matters only when the guard bit f_q[0] is set, i.e. when f_r >= 0 (the
    // last root bit is 1 exactly then): there f_r is the restoring remainder.
    y_next = eftrain_fp32_pkg::fp32_round_pack(f_sign, f_spec, f_ebase, f_q[24], f_q[23:1], f_q[0],
                                               |f_r);
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
