// EF-Train, open: the descriptor validator. Gives the verdict of eftrain.descriptors.validate()
// on one 64-byte descriptor, in hardware.
//
// The controller fetches a descriptor (16 little-endian 32-bit words, layout in
// eftrain/descriptors.py) and runs it only when this unit reports ERR_NONE. The unit applies the
// rules of validate() (eftrain/descriptors.py, eftrain/tiling.py) in validate()'s order and
// reports the first rule that fails (codes: eftrain_csr_pkg::ERR_*, i.e. rtl/regs/eftrain_csr.rdl):
//
//   1 BAD_OPCODE       opcode not 1..6, a flag other than BIAS, a reserved bit set
//                      (word 0 [31:16], word 1 [31:28], words 13..15), or BIAS on a BP/WU op
//   2 ZERO_DIM         B, M, N, H or W is 0
//   3 DIM_TOO_LARGE    an FC op (4..6) whose (H, W, K, S, P) is not (1, 1, 1, 1, 0). The 16-bit
//                      fields cannot exceed validate()'s MAX_DIM = 0xFFFF.
//   5 BAD_KERNEL       K not 1..7, or H + 2P < K, or W + 2P < K
//   6 BAD_STRIDE       S not 1..4
//  12 BAD_PADDING      P > K - 1
//  13 BAD_FIELD        tiling fields (eftrain.tiling rule 1): tr not 1..rows, chunk not 1..red_tiles
//   4 BUFFER_OVERFLOW  tiling rule 2: input tile > IN_DEPTH, tr * width > OUT_DEPTH, or the
//                      weight chunk chunk*K*K (WU: *ACC_L) > W_DEPTH
//   7 MISALIGNED_ADDR  a used tensor address is not a multiple of the AXI beat (BUS_BITS/8 bytes)
//   8 OUT_OF_WINDOW    for a used tensor: addr < win_base or addr + bytes > win_limit
//   0 NONE             otherwise
//
// Geometry (eftrain.tiling.phase_geometry): OH = (H + 2P - K) / S + 1, OW likewise (floor).
// A folded layer ((H, W, K, S, P) = (1, 1, 1, 1, 0)) runs as one 1 x B image.
//   phase   rows  width  input-buffer row pitch  in-tile rows     red_tiles
//   FP, WU  OH    OW     W + 2P                  (tr - 1)*S + K   ceil(N / TN)
//   BP      H     W      W + K - 1               tr + K - 1       ceil(M / TN)
//   (folded: rows 1, width B, pitch B)
// Used tensors and their bytes (eftrain.golden.layout .nbytes; FP: src0 x, src1 w, dst y, src2
// bias with the BIAS flag only; BP: src0 y, src1 w, dst x; WU: src0 x, src1 y, dst w):
//   x = 4 * B * ceil(N/TN)*TN * H * W       y = 4 * B * ceil(M/TN)*TN * OH * OW
//   w = 4 * ceil(M/TM)*TM * ceil(N/TN)*TN * K * K       bias = 4*M rounded up to whole beats
//
// Arithmetic is exact (no saturation): every intermediate has enough bits for the largest 16-bit
// fields (y < 2^67 words, so sizes are kept in 70 bits) and the window test is done as
// "addr > limit, or bytes > limit - addr", which is addr + bytes > limit without a carry out.
// The divisions are exact reciprocal multiplications (see "Exact division" below).
//
// Timing: a one-cycle `start` samples desc, win_base and win_limit. `done` pulses exactly
// LATENCY = 8 cycles later (start in cycle 0, done in cycle 8) with `code`; `code` holds its value
// until the next done. `busy` is high in cycles 1..7, low in the done cycle, so a new start can
// come in the done cycle (one descriptor every 8 cycles). A start while busy abandons the
// descriptor in flight and checks the new one (done 8 cycles after the new start; no done for the
// abandoned one). Out of reset code = NONE.
//
// Structure: the start edge captures the fields (S1). Every later register stage Sk is computed
// from registers of stages S1..S(k-1) only, and S1 holds until the next start, so stage Sk is
// settled from cycle k on; the result register reads S2..S7 at the end of cycle 7. There is no
// valid pipeline, only a cycle counter. Each stage holds at most one multiplier level, no
// multiplier is wider than 34 x 17 bits (two DSP48E2s), and the address tests are 64/70-bit
// compares:
//   S1  captured fields
//   S2  rules 1..6, H+2P-K, channel-count numerators, alignment, addr vs window edges, limit-addr
//   S3  OH, OW, ceil(N/TN), ceil(M/TN), ceil(M/TM)            (reciprocal multiplies)
//   S4  phase geometry, tiling rule 1, padded channel counts   (shift-adds by constants)
//   S5  tile words, B*H, Np*W, B*OH, Mp*OW, Mp*Np               (<= 19 x 17 multiplies)
//   S6  tiling rule 2, the size products split in 17-bit halves
//   S7  tensor sizes in bytes per address
//   --  code (first failing rule), done
//
// Exact division. For 0 <= x < 2^XW and an integer d >= 1 with d <= 2^l, let
// m = ceil(2^(XW+l) / d) = (2^(XW+l) + e) / d with 0 <= e < d. Then
//   x*m / 2^(XW+l) = x/d + x*e / (d * 2^(XW+l)),   and 0 <= x*e / (d * 2^(XW+l)) < 2^-l <= 1/d.
// Writing x = q*d + r (0 <= r <= d-1), x*m / 2^(XW+l) lies in [q, q + (d-1)/d + 1/d) = [q, q+1),
// so (x*m) >> (XW+l) = floor(x/d) = q exactly. Used with XW = 17 for ceil(C/TN) = floor((C + TN
// - 1)/TN) (C + TN - 1 < 2^17 for C <= 65535, TN <= 256) and for / S (only S = 3 needs it; 1, 2,
// 4 are shifts; H + 2P - K < 2^17). A divisor that is a power of two is a plain shift.
//
// Parameters (eftrain.config.HwConfig: tm, tn, acc_interleave, in_buf_depth, out_buf_depth,
// w_buf_depth, bus_bits)
//   TM, TN          array size, 1..256
//   ACC_L           WU interleave L, 1..256
//   IN_DEPTH, OUT_DEPTH, W_DEPTH   buffer words per lane, >= 1
//   BUS_BITS        AXI data width, a power of two 32..1024 (AXI widths are powers of two)

`default_nettype none

module eftrain_desc_check #(
  parameter int TM        = 4,
  parameter int TN        = 4,
  parameter int ACC_L     = 4,
  parameter int IN_DEPTH  = 4096,
  parameter int OUT_DEPTH = 2048,
  parameter int W_DEPTH   = 1024,
  parameter int BUS_BITS  = 128
) (
  input  wire logic         clk,
  input  wire logic         rst_n,
  input  wire logic         start,       // one-cycle pulse: desc, win_base, win_limit are sampled
  input  wire logic [511:0] desc,        // word i at desc[32*i +: 32]
  input  wire logic [63:0]  win_base,    // window [win_base, win_limit), byte addresses
  input  wire logic [63:0]  win_limit,
  output      logic         busy,
  output      logic         done,        // one-cycle pulse LATENCY cycles after start
  output      logic [7:0]   code         // error code, valid with done, held until the next done
);

  localparam int LATENCY = 8;   // start cycle to done cycle (tb/desc_check checks it)

  // Opcodes (eftrain/descriptors.py, class Opcode).
  localparam logic [7:0] OP_CONV_FP = 8'h01;
  localparam logic [7:0] OP_CONV_BP = 8'h02;
  localparam logic [7:0] OP_CONV_WU = 8'h03;
  localparam logic [7:0] OP_FC_FP   = 8'h04;
  localparam logic [7:0] OP_FC_BP   = 8'h05;
  localparam logic [7:0] OP_FC_WU   = 8'h06;

  localparam int BEAT = BUS_BITS / 8;        // bytes per AXI beat
  localparam int LB   = $clog2(BEAT);        // address bits inside a beat

  // Exact division by the constants TN, TM (see the header).
  localparam int          XW     = 17;
  localparam int          LTN    = $clog2(TN);
  localparam int          LTM    = $clog2(TM);
  localparam bit          TN_POW = (TN & (TN - 1)) == 0;
  localparam bit          TM_POW = (TM & (TM - 1)) == 0;
  localparam logic [63:0] RTN    = ((64'd1 << (XW + LTN)) + 64'(TN) - 64'd1) / 64'(TN);
  localparam logic [63:0] RTM    = ((64'd1 << (XW + LTM)) + 64'(TM) - 64'd1) / 64'(TM);
  localparam logic [17:0] R3     = 18'd174763;  // ceil(2^19 / 3): division by S = 3 (l = 2)
  localparam int          PW     = 2 * XW + 2;  // reciprocal products: x < 2^XW, m <= 2^(XW+1)

  localparam int SZW = 70;   // tensor bytes (y < 2^69 bytes)

  if (TM < 1 || TM > 256) begin : g_bad_tm
    $error("%m: TM must be 1..256, got %0d", TM);
  end
  if (TN < 1 || TN > 256) begin : g_bad_tn
    $error("%m: TN must be 1..256, got %0d", TN);
  end
  if (ACC_L < 1 || ACC_L > 256) begin : g_bad_acc_l
    $error("%m: ACC_L must be 1..256, got %0d", ACC_L);
  end
  if (IN_DEPTH < 1 || OUT_DEPTH < 1 || W_DEPTH < 1) begin : g_bad_depth
    $error("%m: buffer depths must be >= 1");
  end
  if (BUS_BITS < 32 || BUS_BITS > 1024 || (BUS_BITS & (BUS_BITS - 1)) != 0) begin : g_bad_bus
    $error("%m: BUS_BITS must be a power of two 32..1024, got %0d", BUS_BITS);
  end

  // Constant multiplication by shifts and adds (c < 512): keeps small constants out of DSPs.
  function automatic logic [23:0] cmul(input logic [23:0] x, input int c);
    cmul = '0;
    for (int i = 0; i < 9; i++) begin
      if (c[i]) cmul = cmul + (x << i);
    end
  endfunction

  // ---------------------------------------------------------------------------------------------
  // Sequencer: cnt = cycles since the last start (1..LATENCY-1), 0 when idle.
  // ---------------------------------------------------------------------------------------------
  logic [3:0] cnt;
  logic       finish;                 // last cycle of the check: the result is registered
  logic [7:0] verdict;

  assign finish = !start && (cnt == 4'(LATENCY - 1));
  assign busy   = (cnt != 4'd0);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      cnt  <= '0;
      done <= 1'b0;
      code <= eftrain_csr_pkg::ERR_NONE;
    end else begin
      if (start)                cnt <= 4'd1;
      else if (finish)          cnt <= 4'd0;
      else if (cnt != 4'd0)     cnt <= cnt + 4'd1;
      done <= finish;
      if (finish) code <= verdict;
    end
  end

  // ---------------------------------------------------------------------------------------------
  // S1: the descriptor's fields, captured by start.
  // ---------------------------------------------------------------------------------------------
  logic [7:0]       d_op, d_flags;
  logic             d_rsv;           // a reserved bit is set
  logic [15:0]      d_b, d_m, d_n, d_h, d_w, d_tr, d_chunk;
  logic [3:0]       d_k, d_s, d_p;
  logic [255:0]     d_addr;          // address t at [64*t +: 64]: src0, src1, src2, dst
  logic [63:0]      d_base, d_limit;

  always_ff @(posedge clk) begin
    if (start) begin
      d_op      <= desc[7:0];
      d_flags   <= desc[15:8];
      d_rsv     <= (desc[31:16] != 16'd0) || (desc[63:60] != 4'd0) || (desc[511:416] != 96'd0);
      d_b       <= desc[47:32];
      d_k       <= desc[51:48];
      d_s       <= desc[55:52];
      d_p       <= desc[59:56];
      d_m       <= desc[79:64];
      d_n       <= desc[95:80];
      d_h       <= desc[111:96];
      d_w       <= desc[127:112];
      d_addr    <= desc[383:128];   // words 4..11: four little-endian 64-bit addresses
      d_tr      <= desc[399:384];
      d_chunk   <= desc[415:400];
      d_base    <= win_base;
      d_limit   <= win_limit;
    end
  end

  // ---------------------------------------------------------------------------------------------
  // S2: the field rules, numerators of the divisions, alignment, window edges.
  // ---------------------------------------------------------------------------------------------
  logic             e_op, e_zero, e_dim, e_kernel, e_stride, e_pad, e_align;
  logic             ph_bp, ph_wu, fold;
  logic [3:0]       used;            // the tensors the op reads or writes (src2: FP with BIAS)
  logic [3:0]       outside;         // addr < win_base or addr > win_limit
  logic [255:0]     gap;             // win_limit - addr, at [64*t +: 64] (when addr <= win_limit)
  logic [16:0]      num_h, num_w;    // H + 2P - K, W + 2P - K (>= 0 when the kernel rule holds)
  logic [16:0]      num_n, num_mn, num_mm;   // N + TN - 1, M + TN - 1, M + TM - 1
  logic [7:0]       kk;              // K * K
  logic [18:0]      bias_bytes;      // 4*M rounded up to whole beats

  logic op_fp, op_bp, op_wu, op_fc;
  logic [16:0] span_h, span_w;       // H + 2P, W + 2P

  always_comb begin
    op_fp  = (d_op == OP_CONV_FP) || (d_op == OP_FC_FP);
    op_bp  = (d_op == OP_CONV_BP) || (d_op == OP_FC_BP);
    op_wu  = (d_op == OP_CONV_WU) || (d_op == OP_FC_WU);
    op_fc  = (d_op == OP_FC_FP) || (d_op == OP_FC_BP) || (d_op == OP_FC_WU);
    span_h = 17'(d_h) + 17'({d_p, 1'b0});
    span_w = 17'(d_w) + 17'({d_p, 1'b0});
  end

  always_ff @(posedge clk) begin
    e_op     <= !(op_fp || op_bp || op_wu) || (d_flags[7:2] != 6'd0) || d_rsv ||
                (d_flags[1:0] != 2'd0 && !op_fp);
    e_zero   <= (d_b == 16'd0) || (d_m == 16'd0) || (d_n == 16'd0) || (d_h == 16'd0) ||
                (d_w == 16'd0);
    fold     <= (d_h == 16'd1) && (d_w == 16'd1) && (d_k == 4'd1) && (d_s == 4'd1) &&
                (d_p == 4'd0);
    e_dim    <= op_fc && !((d_h == 16'd1) && (d_w == 16'd1) && (d_k == 4'd1) && (d_s == 4'd1) &&
                           (d_p == 4'd0));
    e_kernel <= (d_k == 4'd0) || (d_k > 4'd7) || (span_h < 17'(d_k)) || (span_w < 17'(d_k));
    e_stride <= (d_s == 4'd0) || (d_s > 4'd4);
    e_pad    <= (d_p >= d_k);
    ph_bp    <= op_bp;
    ph_wu    <= op_wu;
    used     <= {1'b1, op_fp && d_flags[0], 2'b11};
    e_align  <= (d_addr[0 +: LB] != '0) || (d_addr[64 +: LB] != '0) ||
                (d_addr[192 +: LB] != '0) || (op_fp && d_flags[0] && (d_addr[128 +: LB] != '0));
    for (int t = 0; t < 4; t++) begin
      outside[t] <= (d_addr[64*t +: 64] < d_base) || (d_addr[64*t +: 64] > d_limit);
      gap[64*t +: 64] <= d_limit - d_addr[64*t +: 64];
    end
    num_h      <= span_h - 17'(d_k);
    num_w      <= span_w - 17'(d_k);
    num_n      <= 17'(d_n) + 17'(TN - 1);
    num_mn     <= 17'(d_m) + 17'(TN - 1);
    num_mm     <= 17'(d_m) + 17'(TM - 1);
    kk         <= 8'(d_k) * 8'(d_k);
    bias_bytes <= (19'({d_m, 2'b00}) + 19'(BEAT - 1)) & ~19'(BEAT - 1);
  end

  // ---------------------------------------------------------------------------------------------
  // S3: OH, OW and the channel tiles, by exact reciprocal multiplication.
  // ---------------------------------------------------------------------------------------------
  logic [16:0] oh, ow;               // output rows and columns
  logic [15:0] tiles_n, tiles_mn, tiles_mm;   // ceil(N/TN), ceil(M/TN), ceil(M/TM)

  /* verilator lint_off UNUSEDSIGNAL */
  // Full products; only the bits above the binary point (>> XW + l) are the quotient.
  logic [34:0] prod_h3, prod_w3;     // num * ceil(2^19 / 3)
  logic [PW-1:0] prod_n, prod_mn, prod_mm;
  /* verilator lint_on UNUSEDSIGNAL */
  logic [16:0] q_h, q_w;

  always_comb begin
    prod_h3 = 35'(num_h) * 35'(R3);
    prod_w3 = 35'(num_w) * 35'(R3);
    case (d_s)
      4'd1:    begin q_h = num_h;         q_w = num_w;         end
      4'd2:    begin q_h = num_h >> 1;    q_w = num_w >> 1;    end
      4'd4:    begin q_h = num_h >> 2;    q_w = num_w >> 2;    end
      default: begin q_h = 17'(prod_h3 >> 19); q_w = 17'(prod_w3 >> 19); end   // S = 3
    endcase
    prod_n  = PW'(num_n) * PW'(RTN[XW+1:0]);
    prod_mn = PW'(num_mn) * PW'(RTN[XW+1:0]);
    prod_mm = PW'(num_mm) * PW'(RTM[XW+1:0]);
  end

  always_ff @(posedge clk) begin
    oh       <= q_h + 17'd1;
    ow       <= q_w + 17'd1;
    tiles_n  <= TN_POW ? 16'(num_n >> LTN)  : 16'(prod_n >> (XW + LTN));
    tiles_mn <= TN_POW ? 16'(num_mn >> LTN) : 16'(prod_mn >> (XW + LTN));
    tiles_mm <= TM_POW ? 16'(num_mm >> LTM) : 16'(prod_mm >> (XW + LTM));
  end

  // ---------------------------------------------------------------------------------------------
  // S4: the phase geometry (eftrain.tiling), tiling rule 1, padded channel counts.
  // ---------------------------------------------------------------------------------------------
  logic        e_field;
  logic [18:0] tile_rows;            // input-tile rows in the buffer
  logic [16:0] pitch;                // input-buffer words per tile row
  logic [16:0] width;                // output-map width
  logic [15:0] kkl;                  // K*K (WU: *ACC_L): weight-buffer words per reduction tile
  logic [16:0] np_tn, mp_tn, mp_tm;  // ceil(N/TN)*TN, ceil(M/TN)*TN, ceil(M/TM)*TM

  logic [16:0] rows_g, width_g, red_tiles;
  logic [15:0] tr_m1;
  logic [17:0] tr_s;                 // (tr - 1) * S

  always_comb begin
    rows_g    = fold ? 17'd1 : (ph_bp ? 17'(d_h) : oh);
    width_g   = fold ? 17'(d_b) : (ph_bp ? 17'(d_w) : ow);
    red_tiles = 17'(ph_bp ? tiles_mn : tiles_n);
    tr_m1     = d_tr - 16'd1;
    case (d_s)
      4'd1:    tr_s = 18'(tr_m1);
      4'd2:    tr_s = {1'b0, tr_m1, 1'b0};
      4'd3:    tr_s = {1'b0, tr_m1, 1'b0} + 18'(tr_m1);
      default: tr_s = {tr_m1, 2'b00};   // S = 4 (other values fail the stride rule first)
    endcase
  end

  always_ff @(posedge clk) begin
    e_field   <= (d_tr == 16'd0) || (17'(d_tr) > rows_g) || (d_chunk == 16'd0) ||
                 (17'(d_chunk) > red_tiles);
    tile_rows <= ph_bp ? 19'(d_tr) + 19'(d_k) - 19'd1 : 19'(tr_s) + 19'(d_k);
    pitch     <= (fold ? 17'(d_b) : 17'(d_w)) + (ph_bp ? 17'(d_k) - 17'd1 : 17'({d_p, 1'b0}));
    width     <= width_g;
    kkl       <= ph_wu ? 16'(cmul(24'(kk), ACC_L)) : 16'(kk);
    np_tn     <= 17'(cmul(24'(tiles_n), TN));
    mp_tn     <= 17'(cmul(24'(tiles_mn), TN));
    mp_tm     <= 17'(cmul(24'(tiles_mm), TM));
  end

  // ---------------------------------------------------------------------------------------------
  // S5: tile words (tiling rule 2) and the first factors of the tensor sizes.
  // ---------------------------------------------------------------------------------------------
  logic [35:0] in_words;             // tile_rows * pitch
  logic [32:0] out_words;            // tr * width
  logic [31:0] w_words;              // chunk * kkl
  logic [31:0] bh;                   // B * H
  logic [32:0] npw;                  // Np * W
  logic [32:0] boh;                  // B * OH
  logic [33:0] mow;                  // Mp(TN) * OW
  logic [33:0] mnp;                  // Mp(TM) * Np

  always_ff @(posedge clk) begin
    in_words  <= 36'(tile_rows) * 36'(pitch);
    out_words <= 33'(d_tr) * 33'(width);
    w_words   <= 32'(d_chunk) * 32'(kkl);
    bh        <= 32'(d_b) * 32'(d_h);
    npw       <= 33'(np_tn) * 33'(d_w);
    boh       <= 33'(d_b) * 33'(oh);
    mow       <= 34'(mp_tn) * 34'(ow);
    mnp       <= 34'(mp_tm) * 34'(np_tn);
  end

  // ---------------------------------------------------------------------------------------------
  // S6: tiling rule 2; the size products, each split at bit 17 of its wider factor.
  // ---------------------------------------------------------------------------------------------
  logic        e_buf;
  logic [48:0] x_lo, x_hi;           // B*H * (Np*W)[16:0], B*H * (Np*W)[32:17]
  logic [49:0] y_lo, y_hi;           // B*OH * (Mp*OW)[16:0], B*OH * (Mp*OW)[33:17]
  logic [41:0] w_all;                // Mp*Np * K*K

  always_ff @(posedge clk) begin
    e_buf <= (in_words > 36'(IN_DEPTH)) || (out_words > 33'(OUT_DEPTH)) ||
             (w_words > 32'(W_DEPTH));
    x_lo  <= 49'(bh) * 49'(npw[16:0]);
    x_hi  <= 49'(bh) * 49'(npw[32:17]);
    y_lo  <= 50'(boh) * 50'(mow[16:0]);
    y_hi  <= 50'(boh) * 50'(mow[33:17]);
    w_all <= 42'(mnp) * 42'(kk);
  end

  // ---------------------------------------------------------------------------------------------
  // S7: bytes of each tensor (x, y, w by phase; src2 the bias vector).
  // ---------------------------------------------------------------------------------------------
  logic [4*SZW-1:0] size;            // bytes of tensor t at [SZW*t +: SZW]
  logic [SZW-1:0]   x_bytes, y_bytes, w_bytes;

  always_comb begin
    x_bytes = (SZW'(x_lo) + (SZW'(x_hi) << 17)) << 2;
    y_bytes = (SZW'(y_lo) + (SZW'(y_hi) << 17)) << 2;
    w_bytes = SZW'(w_all) << 2;
  end

  always_ff @(posedge clk) begin
    size[0 +: SZW]     <= ph_bp ? y_bytes : x_bytes;                      // src0: FP x, BP dy, WU x
    size[SZW +: SZW]   <= ph_wu ? y_bytes : w_bytes;                      // src1: FP w, BP w,  WU dy
    size[2*SZW +: SZW] <= SZW'(bias_bytes);                               // src2: FP bias
    size[3*SZW +: SZW] <= ph_bp ? x_bytes : (ph_wu ? w_bytes : y_bytes);  // dst:  FP y, BP dx, WU dw
  end

  // ---------------------------------------------------------------------------------------------
  // Verdict: the first failing rule, in validate()'s order.
  // ---------------------------------------------------------------------------------------------
  logic e_window;

  always_comb begin
    e_window = 1'b0;
    for (int t = 0; t < 4; t++) begin
      if (used[t] && (outside[t] || (size[SZW*t +: SZW] > SZW'(gap[64*t +: 64])))) e_window = 1'b1;
    end
    if (e_op)          verdict = eftrain_csr_pkg::ERR_BAD_OPCODE;
    else if (e_zero)   verdict = eftrain_csr_pkg::ERR_ZERO_DIM;
    else if (e_dim)    verdict = eftrain_csr_pkg::ERR_DIM_TOO_LARGE;
    else if (e_kernel) verdict = eftrain_csr_pkg::ERR_BAD_KERNEL;
    else if (e_stride) verdict = eftrain_csr_pkg::ERR_BAD_STRIDE;
    else if (e_pad)    verdict = eftrain_csr_pkg::ERR_BAD_PADDING;
    else if (e_field)  verdict = eftrain_csr_pkg::ERR_BAD_FIELD;
    else if (e_buf)    verdict = eftrain_csr_pkg::ERR_BUFFER_OVERFLOW;
    else if (e_align)  verdict = eftrain_csr_pkg::ERR_MISALIGNED_ADDR;
    else if (e_window) verdict = eftrain_csr_pkg::ERR_OUT_OF_WINDOW;
    else               verdict = eftrain_csr_pkg::ERR_NONE;
  end

endmodule

`default_nettype wire
