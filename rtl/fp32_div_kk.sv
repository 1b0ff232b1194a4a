// EF-Train, open: IEEE-754 binary32 division by a pooling window's area, y = a / float32(k*k).
//
// Bit-exact with fp32_div (a / b with b = float32(k*k)) for every a and k = 1..7, at a third of its
// LUTs: the divisor is one of seven constants, so there is no divisor to classify or normalize,
// and it has few significant bits, so each quotient bit costs a 7-bit addition instead of a 25-bit
// one. Used by eftrain_vu_pool for average pooling (FP: the window sums; BP: the incoming dy).
//
// Parameters
//   LATENCY  pipeline stages from an accepted input to its result (>= 1, default 8); one result
//            per cycle (II = 1) at every LATENCY. The logic is a chain of
//              PREP   classify a, special cases, the divisor code and exponent terms of k,
//              ITER   26 non-restoring radix-2 iterations (one quotient bit each: one 7-bit
//                     addition or subtraction, chosen by the remainder's sign),
//              ROUND  pick the rounding position (normal or subnormal result), round and pack,
//            followed by the output register. LATENCY - 1 registers are placed along the chain
//            exactly as in fp32_div:
//              LATENCY = 1 : PREP | ITER x 26 | ROUND, then the output register.
//              LATENCY = 2 : register after PREP.
//              LATENCY = 3 : registers after PREP and before ROUND.
//              LATENCY = 4 .. 28 : the LATENCY - 3 further registers cut the 26 iterations into
//                            LATENCY - 2 groups as even as possible (sizes differ by at most
//                            one, the larger groups first).
//              LATENCY > 28 : one register after every iteration; the extra LATENCY - 28
//                            registers follow the output register (a delay line).
//
// Ports
//   clk        clock
//   rst_n      active-low synchronous reset of the valid pipeline (data registers are not reset)
//   in_valid   a, k carry an operand this cycle
//   a          binary32 dividend
//   k          window size 1..7 (0 divides by 1.0, like float32(1*1); the users never pass it)
//   out_valid  y carries the result of the operand accepted LATENCY cycles ago
//   y          binary32 quotient (holds its value while out_valid is low; stage registers load
//              only for valid items, so y is meaningful only while out_valid is high)
//
// Numerics: exactly fp32_div's (SPEC section 4) for these divisors: the quotient correctly
// rounded to nearest, ties to even, in eftrain_fp32_pkg::fp32_round_pack; subnormal dividends and
// results exact (gradual underflow, including rounding up into the smallest normal). NaN -> the
// canonical quiet NaN 0x7FC00000; +-Inf -> +-Inf; +-0 -> +-0; the sign of every non-NaN result
// is sign(a). A finite quotient never overflows (k*k >= 1).
//
// Datapath. With A the dividend's integer significand (hidden bit included for a normal, none for
// a subnormal) and e = max(exponent field, 1), a = A * 2^(e - 150). Write k*k = m * 2^t (m odd)
// and scale m to m' = m * 2^(12 - F), F = 7 + (3, 4 or 5 for m = 9, 25, 49) and m' = 32 for m = 1:
//     k      1   2   3   4   5   6   7          Q = floor(A * 2^12 / m') = floor(A * 2^F / m)
//     m'    32  32  36  32  50  36  49          a / (k*k) = (A * 2^12 / m') * 2^(e - 157 - c)
//     c      0   2   3   4   4   5   5          c = F + t - 7
// m' < 64, so the remainder of the long division, in [-m', m'), fits 7 bits; Q < 2^31 and, for a
// normal a, Q >= 2^29, so its leading one L is bit 29 or 30 whatever k is. The iterations produce
// Q's bits 30..5 (the bits below only feed the sticky bit: the remainder after bit 5 stands for
// them). The biased exponent of a normal result is E = L + e - 30 - c; the rounding position
// (the LSB of the 24-bit significand) is rp = L - 23 for a normal result (6 or 7) and
// rp = 8 + c - e when E <= 0 (a subnormal result on the 2^-149 grid; then 7 <= rp <= 12): always
// 6 <= rp <= 12, a 7-way shift instead of a barrel shifter. ROUND passes Q >> rp as hidden bit and
// fraction to fp32_round_pack with the exponent field E - 1 (normal) or 0 (subnormal), the guard
// bit Q[rp - 1] and the sticky bit (the bits below, or a nonzero remainder).
//
// Resources (Yosys 0.23 synth_xilinx -family xcup, default LATENCY; python ci/rtl_check.py synth
// --top fp32_div_kk): 404 LUTs, 356 FFs and 67 carry cells, no DSP, no BRAM (fp32_div: 1,183
// LUTs, 571 FFs, 205 carry cells).

`default_nettype none

module fp32_div_kk #(
  parameter int LATENCY = 8
) (
  input  wire logic        clk,
  input  wire logic        rst_n,
  input  wire logic        in_valid,
  input  wire logic [31:0] a,
  input  wire logic [2:0]  k,
  output      logic        out_valid,
  output      logic [31:0] y
);

  localparam int N_ITER     = 26;                               // quotient bits 30..5
  localparam int PREP_REGS  = (LATENCY >= 2) ? 1 : 0;           // register after PREP
  localparam int LAST_REGS  = (LATENCY >= 3) ? 1 : 0;           // register before ROUND
  localparam int GROUPS     = (LATENCY <= 3)          ? 1 :     // iteration groups
                              (LATENCY - 2 >= N_ITER) ? N_ITER : LATENCY - 2;
  localparam int OUT_STAGE  = PREP_REGS + GROUPS - 1 + LAST_REGS;   // vld index enabling y_q
  localparam int EXTRA_REGS = LATENCY - 1 - OUT_STAGE;

  // State carried between iterations; boundary j sits in front of iteration j (j = N_ITER: in
  // front of ROUND). CTL_W: sign, special code, divisor code, exponent field base, subnormal
  // shift and its two flags.
  localparam int CTL_W = 1 + 2 + 2 + 8 + 4 + 2;
  localparam int ST_W  = CTL_W + 7 + 26;                       // + remainder, dividend/quotient

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
  // PREP: classify, special cases, divisor code, exponent terms.
  // ---------------------------------------------------------------------------------------------
  logic              a_ez, a_ef, a_fz;
  logic [1:0]        s0_spec, s0_dc;      // special code; divisor code: m' = 32, 36, 50, 49
  logic [2:0]        s0_c;
  logic [7:0]        s0_e;                // max(exponent field, 1)
  logic signed [9:0] s0_d;                // 8 + c - e: the subnormal rounding position
  logic [7:0]        s0_eb;               // e - 2 - c: exponent field - 1 of a normal result, L = 29
  logic [23:0]       s0_sig;              // A

  always_comb begin
    a_ez = (a[30:23] == 8'h00);
    a_ef = (a[30:23] == 8'hFF);
    a_fz = (a[22:0] == 23'd0);
    if (a_ef && !a_fz)     s0_spec = eftrain_fp32_pkg::SPEC_NAN;
    else if (a_ef)         s0_spec = eftrain_fp32_pkg::SPEC_INF;
    else if (a_ez && a_fz) s0_spec = eftrain_fp32_pkg::SPEC_ZERO;
    else                   s0_spec = eftrain_fp32_pkg::SPEC_NONE;
    case (k)
      3'd2:    begin s0_dc = 2'd0; s0_c = 3'd2; end
      3'd3:    begin s0_dc = 2'd1; s0_c = 3'd3; end
      3'd4:    begin s0_dc = 2'd0; s0_c = 3'd4; end
      3'd5:    begin s0_dc = 2'd2; s0_c = 3'd4; end
      3'd6:    begin s0_dc = 2'd1; s0_c = 3'd5; end
      3'd7:    begin s0_dc = 2'd3; s0_c = 3'd5; end
      default: begin s0_dc = 2'd0; s0_c = 3'd0; end
    endcase
    s0_e   = {a[30:24], a[23] | a_ez};
    s0_d   = 10'sd8 + $signed(10'(s0_c)) - $signed(10'(s0_e));
    s0_eb  = s0_e - 8'd2 - 8'(s0_c);
    s0_sig = {!a_ez, a[22:0]};
  end

  // The divisor m' and its negation modulo 2^7, from the divisor code.
  function automatic logic [6:0] dvs(input logic [1:0] dc, input logic sub);
    case (dc)
      2'd1:    dvs = sub ? 7'd92 : 7'd36;
      2'd2:    dvs = sub ? 7'd78 : 7'd50;
      2'd3:    dvs = sub ? 7'd79 : 7'd49;
      default: dvs = sub ? 7'd96 : 7'd32;
    endcase
  endfunction

  // ---------------------------------------------------------------------------------------------
  // Boundaries and iterations. Block g_st[j] holds boundary j: the state d computed in front of
  // it (PREP's output, or iteration j-1's), the same state q behind the boundary's register (if
  // it has one), and, for j < N_ITER, iteration j, which reads q. The 26-bit word w holds the
  // dividend bits still to come (A[18:0] and seven zeros), shifted out at the top, and the quotient
  // bits so far, shifted in at the bottom; the remainder starts at A[23:19] (< m').
  // ---------------------------------------------------------------------------------------------
  for (genvar j = 0; j <= N_ITER; j++) begin : g_st
    // Iteration i belongs to group (i * GROUPS) / N_ITER; a register sits between groups.
    localparam bit REG   = (j == 0)      ? (PREP_REGS == 1) :
                           (j == N_ITER) ? (LAST_REGS == 1) :
                           (((j * GROUPS) / N_ITER) != (((j - 1) * GROUPS) / N_ITER));
    localparam int STAGE = (j == 0) ? 0 : PREP_REGS + ((j - 1) * GROUPS) / N_ITER;

    logic [ST_W-1:0] d, q;      // {sign, spec, dc, eb, d[3:0], d > 6, d > 7, remainder, w}

    if (j == 0) begin : g_src
      assign d = {a[31], s0_spec, s0_dc, s0_eb, s0_d[3:0], s0_d > 10'sd6, s0_d > 10'sd7,
                  {2'b00, s0_sig[23:19]}, s0_sig[18:0], 7'd0};
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
      logic [2:0]       c_hi;         // sign, special code
      logic [1:0]       dc;           // divisor code
      logic [CTL_W-6:0] c_lo;         // exponent terms
      logic [6:0]       r;            // signed remainder, in [-m', m')
      logic [25:0]      w;
      logic [6:0]       r_next;       // 2 r + next dividend bit -+ m' (modulo 2^7: in range)
      logic [ST_W-1:0]  nxt;          // the state in front of boundary j + 1

      always_comb begin
        {c_hi, dc, c_lo, r, w} = q;
        // a negative remainder adds the divisor, else subtracts it
        r_next = {r[5:0], w[25]} + dvs(dc, !r[6]);
        nxt    = {c_hi, dc, c_lo, r_next, w[24:0], !r_next[6]};
      end
    end
  end

  // ---------------------------------------------------------------------------------------------
  // ROUND: rounding position, round, pack.
  // ---------------------------------------------------------------------------------------------
  logic        f_sign, f_gt6, f_gt7, f_sub, f_rem;
  logic [1:0]  f_spec, f_dc;
  logic [7:0]  f_eb, f_ebase;
  logic [3:0]  f_d;
  logic [6:0]  f_r, f_m;
  logic [25:0] f_q;          // quotient bits 30..5
  logic [2:0]  f_i;          // rp - 6
  logic [24:0] sh;           // f_q >> f_i: significand Q[rp + 23 : rp], guard Q[rp - 1]
  logic        lost;         // a one below the guard bit
  logic [31:0] y_next;

  always_comb begin
    {f_sign, f_spec, f_dc, f_eb, f_d, f_gt6, f_gt7, f_r, f_q} = g_st[N_ITER].q;
    // L = 30 when Q[30] is set (normal a), else 29; E <= 0 when 8 + c - e > L - 23.
    f_sub   = f_q[25] ? f_gt7 : f_gt6;
    f_i     = f_sub ? 3'(f_d - 4'd6) : {2'b00, f_q[25]};
    f_ebase = f_sub ? 8'd0 : f_eb + 8'(f_q[25]);
    sh      = 25'(f_q >> f_i);
    // restoring remainder r (r >= 0) or r + m' (r < 0): nonzero unless r is 0 or -m'
    f_m     = dvs(f_dc, 1'b1);
    f_rem   = (f_r != 7'd0) && (f_r != f_m);
    lost    = f_rem || |(f_q & ~({26{1'b1}} << f_i));
    y_next  = eftrain_fp32_pkg::fp32_round_pack(f_sign, f_spec, f_ebase, sh[24], sh[23:1], sh[0],
                                                lost);
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
