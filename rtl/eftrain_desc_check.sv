// EF-Train, open: the descriptor validator. Gives the verdict of eftrain.descriptors.validate()
// (the whole format: every opcode 0x01..0x0F) on one 64-byte descriptor, in hardware.
//
// The controller fetches a descriptor (16 little-endian 32-bit words, layout in
// eftrain/descriptors.py) and runs it only when this unit reports ERR_NONE. The unit applies the
// rules of validate() (eftrain/descriptors.py: validate, _validate_conv, _validate_vector;
// eftrain/tiling.py) in validate()'s order and reports the first rule that fails (codes:
// eftrain_csr_pkg::ERR_*, i.e. rtl/regs/eftrain_csr.rdl).
//
// Opcode classes: conv = CONV_FP/BP/WU (1..3), FC_FP/BP/WU (4..6); fmap vector ops = RELU_BP (7),
// MAXPOOL_FP/BP (8, 9), AVGPOOL_FP/BP (A, B), BN_FP/BP (C, D), BIAS_GRAD (E); SGD (F).
// "windowed" = MAXPOOL_FP/BP, and AVGPOOL_FP/BP without GLOBAL; "global" = AVGPOOL_FP/BP with GLOBAL.
// Flags (word 0 [15:8]) an opcode takes: BIAS (0x01) on CONV_FP/FC_FP; RELU (0x02) on CONV_FP,
// FC_FP, BN_FP, BN_BP; GLOBAL (0x04) on AVGPOOL_FP/BP; SGD (0x08) on CONV_WU/FC_WU. Scalars
// (words 13..15, binary32): BN_FP takes 2 (eps, momentum), SGD and CONV_WU/FC_WU with the SGD
// flag 3 (lr, momentum, weight decay), every other opcode none.
//
//   code               conv (1..6)                fmap vector ops (7..E)           SGD (F)
//   1 BAD_OPCODE       (all opcodes) opcode not 1..15, a flag the opcode does not take, a reserved
//                      bit (word 0 [31:16], word 1 [31:28]), a scalar word beyond the opcode's count
//   2 ZERO_DIM         B, M, N, H or W is 0       B, M, N, H or W is 0             count = 0
//   3 DIM_TOO_LARGE    FC (4..6): (H, W, K, S, P)  -                               -
//                      != (1, 1, 1, 1, 0). (16-bit fields cannot exceed MAX_DIM = 0xFFFF.)
//   5 BAD_KERNEL       K not 1..7, H + 2P < K,    windowed: K not 1..7, H < K,     -
//                      W + 2P < K                 W < K; others: K != 1
//   6 BAD_STRIDE       S not 1..4                 windowed: S not 1..4; others:    -
//                                                 S != 1
//  12 BAD_PADDING      P > K - 1                  P != 0                           -
//  13 BAD_FIELD        tiling rule 1 (eftrain.    M != N, tr or chunk != 0;        B, H, W, K, S, P,
//                      tiling): tr not 1..rows,   BN: B*H*W not 2..2^24;           tr or chunk != 0;
//                      chunk not 1..red_tiles;    BN_FP: eps not finite, sign      count % (BUS_BITS
//                      WU + SGD: a scalar not     set or 0, momentum not finite,   /32) != 0; a scalar
//                      finite or sign set, or     sign set or > 1.0 (0x3F800000);  not finite or
//                      weight words >= 2^32
//                                                 global: H*W > 2^24               sign set
//   4 BUFFER_OVERFLOW  tiling rule 2: input tile  windowed: plane * TN > VU_DEPTH  -
//                      > IN_DEPTH, tr * width     (plane = H*W for MAXPOOL_FP and
//                      > OUT_DEPTH, weight chunk  AVGPOOL_FP, OH*OW for AVGPOOL_BP,
//                      chunk*K*K (WU: *ACC_L)     2*OH*OW for MAXPOOL_BP), tested
//                      > W_DEPTH                  as plane > VU_DEPTH / TN (floor)
//   7 MISALIGNED_ADDR  (all) a used tensor address is not a multiple of the AXI beat (BUS_BITS/8)
//   8 OUT_OF_WINDOW    (all) for a used tensor: addr < win_base or addr + bytes > win_limit
//   0 NONE             otherwise
// (Rules sharing a code are ORed; the order of the codes is the column order above.)
//
// Geometry (eftrain.tiling.phase_geometry): OH = (H + 2P - K) / S + 1, OW likewise (floor);
// global pools: OH = OW = 1. A folded layer ((H, W, K, S, P) = (1, 1, 1, 1, 0)) runs as one
// 1 x B image.
//   phase   rows  width  input-buffer row pitch  in-tile rows     red_tiles
//   FP, WU  OH    OW     W + 2P                  (tr - 1)*S + K   ceil(N / TN)
//   BP      H     W      W + K - 1               tr + K - 1       ceil(M / TN)
//   (folded: rows 1, width B, pitch B)
// Used tensors and their bytes (eftrain.descriptors._tensor_bytes, _vector_tensor_bytes; a
// vector op has M = N when its sizes matter, so y uses ceil(M/TN) there too):
//   x = 4 * B * ceil(N/TN)*TN * H * W       y = 4 * B * ceil(M/TN)*TN * OH * OW
//   w = 4 * ceil(M/TM)*TM * ceil(N/TN)*TN * K * K       bias = 4*M rounded up to whole beats
//   vec = 4 * ceil(N/TN)*TN      blk (a BN block, 8 vectors) = 8 * vec      cnt = 4 * count
//   opcode            src0  src1  src2          dst
//   CONV_FP, FC_FP    x     w     bias (BIAS)   y
//   CONV_BP, FC_BP    y     w     -             x
//   CONV_WU, FC_WU    x     y     w (SGD: v)    w (SGD: the weights, dW is not written)
//   RELU_BP           x     x     -             x
//   MAXPOOL_FP        x     -     y             y
//   MAXPOOL_BP        y     y     -             x
//   AVGPOOL_FP        x     -     -             y
//   AVGPOOL_BP        y     -     -             x
//   BN_FP             x     blk   -             x
//   BN_BP             x     blk   x             x
//   BIAS_GRAD         x     -     -             vec
//   SGD               cnt   cnt   -             cnt
// Unused address fields ("-") are not checked.
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
//   S2  opcode classes, rules 1..6 and the fields / scalars of BAD_FIELD (vector ops), H+2P-K,
//       channel-count numerators, alignment, addr vs window edges, limit-addr, size selectors
//   S3  OH, OW, ceil(N/TN), ceil(M/TN), ceil(M/TM)            (reciprocal multiplies)
//   S4  phase geometry, tiling rule 1, padded channel counts   (shift-adds by constants)
//   S5  tile words, B*H, Np*W, B*OH, Mp*OW, Mp*Np, H*W, OH*OW  (<= 19 x 17 multiplies)
//   S6  tiling rule 2, the size products split in 17-bit halves, B*H*W (32 x 16), the plane
//       buffer (windowed pools) and H*W (global pools) rules
//   S7  tensor sizes in bytes per address, the B*H*W rule of BN
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
// w_buf_depth, bus_bits, vu_buf_depth)
//   TM, TN          array size, 1..256
//   ACC_L           WU interleave L, 1..256
//   IN_DEPTH, OUT_DEPTH, W_DEPTH   buffer words per lane, >= 1
//   BUS_BITS        AXI data width, a power of two 32..1024 (AXI widths are powers of two)
//   VU_DEPTH        words of the vector unit's plane buffer (vu_buf_depth), >= 1: a windowed
//                   pooling op holds plane * TN words of one image's channel block

`default_nettype none

module eftrain_desc_check #(
  parameter int TM        = 4,
  parameter int TN        = 4,
  parameter int ACC_L     = 4,
  parameter int IN_DEPTH  = 4096,
  parameter int OUT_DEPTH = 2048,
  parameter int W_DEPTH   = 1024,
  parameter int BUS_BITS  = 128,
  parameter int VU_DEPTH  = 4096
) (
  input  wire logic         clk,
  input  wire logic         rst_n,
  input  wire logic         start,       // one-cycle pulse: desc, win_base, win_limit are sampled
  input  wire logic [511:0] desc,        // word i at desc[32*i +: 32]
  input  wire logic [63:0]  win_base,    // window [win_base, win_limit), byte addresses
  input  wire logic [63:0]  win_limit,
  output      logic         busy,
  output      logic         done,        // one-cycle pulse LATENCY cycles after start
  output      logic [7:0]   code,        // error code, valid with done, held until the next done
  // Words of the weight tensor, ceil(M/TM)*TM * ceil(N/TN)*TN * K*K (valid from done until the
  // next start; the top's fused SGD runs one SGD op of this many words).
  output      logic [41:0]  wt_words
);

  localparam int LATENCY = 8;   // start cycle to done cycle (tb/desc_check checks it)

  // Opcodes (eftrain/descriptors.py, class Opcode).
  localparam logic [7:0] OP_CONV_FP    = 8'h01;
  localparam logic [7:0] OP_CONV_BP    = 8'h02;
  localparam logic [7:0] OP_CONV_WU    = 8'h03;
  localparam logic [7:0] OP_FC_FP      = 8'h04;
  localparam logic [7:0] OP_FC_BP      = 8'h05;
  localparam logic [7:0] OP_FC_WU      = 8'h06;
  localparam logic [7:0] OP_RELU_BP    = 8'h07;
  localparam logic [7:0] OP_MAXPOOL_FP = 8'h08;
  localparam logic [7:0] OP_MAXPOOL_BP = 8'h09;
  localparam logic [7:0] OP_AVGPOOL_FP = 8'h0A;
  localparam logic [7:0] OP_AVGPOOL_BP = 8'h0B;
  localparam logic [7:0] OP_BN_FP      = 8'h0C;
  localparam logic [7:0] OP_BN_BP      = 8'h0D;
  localparam logic [7:0] OP_BIAS_GRAD  = 8'h0E;
  localparam logic [7:0] OP_SGD        = 8'h0F;

  // Flag bits (class Flag).
  localparam int FL_BIAS   = 0;
  localparam int FL_RELU   = 1;
  localparam int FL_GLOBAL = 2;
  localparam int FL_SGD    = 3;

  localparam int BEAT = BUS_BITS / 8;        // bytes per AXI beat
  localparam int LB   = $clog2(BEAT);        // address bits inside a beat
  localparam int WPB  = BUS_BITS / 32;       // words per beat (SGD counts are multiples of it)

  // Windowed pooling: plane * TN > VU_DEPTH  <=>  plane > floor(VU_DEPTH / TN) (plane an integer).
  localparam int VU_PLANE = VU_DEPTH / TN;

  localparam logic [47:0] N_MAX  = 48'd1 << 24;   // BN: B*H*W <= 2^24; global pools: H*W <= 2^24
  localparam logic [31:0] F32_ONE = 32'h3F80_0000;

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

  // Tensor size selectors (which size an address field's tensor has; header table).
  localparam logic [2:0] SZ_X    = 3'd0;
  localparam logic [2:0] SZ_Y    = 3'd1;
  localparam logic [2:0] SZ_W    = 3'd2;
  localparam logic [2:0] SZ_BIAS = 3'd3;
  localparam logic [2:0] SZ_VEC  = 3'd4;
  localparam logic [2:0] SZ_BLK  = 3'd5;
  localparam logic [2:0] SZ_CNT  = 3'd6;

  if (TM < 1 || TM > 256) begin : g_bad_tm
    $error("%m: TM must be 1..256, got %0d", TM);
  end
  if (TN < 1 || TN > 256) begin : g_bad_tn
    $error("%m: TN must be 1..256, got %0d", TN);
  end
  if (ACC_L < 1 || ACC_L > 256) begin : g_bad_acc_l
    $error("%m: ACC_L must be 1..256, got %0d", ACC_L);
  end
  if (IN_DEPTH < 1 || OUT_DEPTH < 1 || W_DEPTH < 1 || VU_DEPTH < 1) begin : g_bad_depth
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

  // A binary32 value is finite with the sign bit clear (+0 .. +max, no NaN / Inf): from its sign
  // and exponent bits, se = v[31:23].
  function automatic logic f32_fin_pos(input logic [8:0] se);
    f32_fin_pos = !se[8] && (se[7:0] != 8'hFF);
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
  logic             d_rsv;           // a reserved bit is set (word 0 [31:16], word 1 [31:28])
  logic [15:0]      d_b, d_m, d_n, d_h, d_w, d_tr, d_chunk;
  logic [3:0]       d_k, d_s, d_p;
  logic [255:0]     d_addr;          // address t at [64*t +: 64]: src0, src1, src2, dst
  logic [95:0]      d_sc;            // words 13..15 (scalar i at [32*i +: 32])
  logic [63:0]      d_base, d_limit;

  always_ff @(posedge clk) begin
    if (start) begin
      d_op      <= desc[7:0];
      d_flags   <= desc[15:8];
      d_rsv     <= (desc[31:16] != 16'd0) || (desc[63:60] != 4'd0);
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
      d_sc      <= desc[511:416];
      d_base    <= win_base;
      d_limit   <= win_limit;
    end
  end

  // ---------------------------------------------------------------------------------------------
  // S2: opcode classes, the field rules, numerators of the divisions, alignment, window edges.
  // ---------------------------------------------------------------------------------------------
  logic             e_op, e_zero, e_dim, e_kernel, e_stride, e_pad, e_align;
  logic             e_vfield;        // BAD_FIELD rules of the vector ops on S1 fields
  logic             ph_bp, ph_wu, fold;
  logic             c_wusgd;         // CONV_WU / FC_WU with Flag.SGD
  logic             c_conv;          // a convolution opcode (1..6)
  logic             c_glob;          // a global pool (AVGPOOL_FP/BP with GLOBAL)
  logic             c_win;           // a windowed pool
  logic             c_bn;            // BN_FP / BN_BP
  logic [1:0]       c_plane;         // windowed pool's plane: 0 H*W, 1 OH*OW, 2 2*OH*OW
  logic [3:0]       used;            // the tensors the op reads or writes
  logic [11:0]      szsel;           // size selector SZ_* of tensor t at [3*t +: 3]
  logic [3:0]       outside;         // addr < win_base or addr > win_limit
  logic [255:0]     gap;             // win_limit - addr, at [64*t +: 64] (when addr <= win_limit)
  logic [16:0]      num_h, num_w;    // H + 2P - K, W + 2P - K (>= 0 when the kernel rule holds)
  logic [16:0]      num_n, num_mn, num_mm;   // N + TN - 1, M + TN - 1, M + TM - 1
  logic [7:0]       kk;              // K * K
  logic [18:0]      bias_bytes;      // 4*M rounded up to whole beats

  logic op_fp, op_bp, op_wu, op_fc, op_conv;
  logic op_relu_bp, op_mp_fp, op_mp_bp, op_ap_fp, op_ap_bp, op_ap, op_bn_fp, op_bn_bp, op_bn;
  logic op_bgrad, op_sgd, op_fmap, op_glob, op_win;
  logic [7:0]  fl_ok;                // the flags the opcode takes
  logic [16:0] span_h, span_w;       // H + 2P, W + 2P
  logic        kern_ok, kern_win_ok, stride_ok;
  logic        sc_bn_bad, sc_sgd_bad, sgd_bad;
  logic        wu_sgd;               // CONV_WU / FC_WU with SGD: three scalars, src2 = v
  logic [3:0]  use_c;
  logic [11:0] sel_c;
  logic        mis_c;                // a used tensor address is not beat-aligned

  always_comb begin
    op_fp      = (d_op == OP_CONV_FP) || (d_op == OP_FC_FP);
    op_bp      = (d_op == OP_CONV_BP) || (d_op == OP_FC_BP);
    op_wu      = (d_op == OP_CONV_WU) || (d_op == OP_FC_WU);
    op_fc      = (d_op == OP_FC_FP) || (d_op == OP_FC_BP) || (d_op == OP_FC_WU);
    op_conv    = op_fp || op_bp || op_wu;
    op_relu_bp = (d_op == OP_RELU_BP);
    op_mp_fp   = (d_op == OP_MAXPOOL_FP);
    op_mp_bp   = (d_op == OP_MAXPOOL_BP);
    op_ap_fp   = (d_op == OP_AVGPOOL_FP);
    op_ap_bp   = (d_op == OP_AVGPOOL_BP);
    op_ap      = op_ap_fp || op_ap_bp;
    op_bn_fp   = (d_op == OP_BN_FP);
    op_bn_bp   = (d_op == OP_BN_BP);
    op_bn      = op_bn_fp || op_bn_bp;
    op_bgrad   = (d_op == OP_BIAS_GRAD);
    op_sgd     = (d_op == OP_SGD);
    op_fmap    = op_relu_bp || op_mp_fp || op_mp_bp || op_ap || op_bn || op_bgrad;
    op_glob    = op_ap && d_flags[FL_GLOBAL];
    op_win     = op_mp_fp || op_mp_bp || (op_ap && !d_flags[FL_GLOBAL]);

    fl_ok                = '0;
    fl_ok[FL_BIAS]       = op_fp;
    fl_ok[FL_RELU]       = op_fp || op_bn;
    fl_ok[FL_GLOBAL]     = op_ap;
    fl_ok[FL_SGD]        = op_wu;
    wu_sgd               = op_wu && d_flags[FL_SGD];

    span_h      = 17'(d_h) + 17'({d_p, 1'b0});
    span_w      = 17'(d_w) + 17'({d_p, 1'b0});
    kern_ok     = (d_k != 4'd0) && (d_k <= 4'd7) && (span_h >= 17'(d_k)) && (span_w >= 17'(d_k));
    kern_win_ok = (d_k != 4'd0) && (d_k <= 4'd7) && (d_h >= 16'(d_k)) && (d_w >= 16'(d_k));
    stride_ok   = (d_s != 4'd0) && (d_s <= 4'd4);

    // BN_FP: eps finite, sign clear, nonzero; momentum finite, sign clear, <= 1.0.
    sc_bn_bad  = !f32_fin_pos(d_sc[31:23]) || (d_sc[30:0] == 31'd0) ||
                 !f32_fin_pos(d_sc[63:55]) || (d_sc[63:32] > F32_ONE);
    // SGD: lr, momentum, weight decay finite with the sign clear.
    sc_sgd_bad = !f32_fin_pos(d_sc[31:23]) || !f32_fin_pos(d_sc[63:55]) || !f32_fin_pos(d_sc[95:87]);
    sgd_bad    = (d_b != 16'd0) || (d_h != 16'd0) || (d_w != 16'd0) || (d_k != 4'd0) ||
                 (d_s != 4'd0) || (d_p != 4'd0) || (d_tr != 16'd0) || (d_chunk != 16'd0) ||
                 ((d_m & 16'(WPB - 1)) != 16'd0) || sc_sgd_bad;

    // Used tensors and their sizes (header table); src0 and dst are always used.
    use_c = {1'b1, (op_fp && d_flags[FL_BIAS]) || op_mp_fp || op_bn_bp || wu_sgd,
             op_conv || op_relu_bp || op_mp_bp || op_bn || op_sgd, 1'b1};
    if (op_sgd) begin
      sel_c = {SZ_CNT, SZ_X, SZ_CNT, SZ_CNT};
    end else if (op_conv) begin
      sel_c = {op_bp ? SZ_X : (op_wu ? SZ_W : SZ_Y), op_wu ? SZ_W : SZ_BIAS, op_wu ? SZ_Y : SZ_W,
               op_bp ? SZ_Y : SZ_X};
    end else begin
      sel_c[2:0]  = (op_mp_bp || op_ap_bp) ? SZ_Y : SZ_X;
      sel_c[5:3]  = op_bn ? SZ_BLK : (op_mp_bp ? SZ_Y : SZ_X);
      sel_c[8:6]  = op_mp_fp ? SZ_Y : SZ_X;
      sel_c[11:9] = (op_mp_fp || op_ap_fp) ? SZ_Y : (op_bgrad ? SZ_VEC : SZ_X);
    end
    mis_c = 1'b0;
    for (int t = 0; t < 4; t++) begin
      if (use_c[t] && (d_addr[64*t +: LB] != '0)) mis_c = 1'b1;
    end
  end

  always_ff @(posedge clk) begin
    e_op     <= !(op_conv || op_fmap || op_sgd) || ((d_flags & ~fl_ok) != 8'd0) || d_rsv ||
                (!op_sgd && !wu_sgd && (d_sc[95:64] != 32'd0)) ||
                (!op_sgd && !wu_sgd && !op_bn_fp && (d_sc[63:0] != 64'd0));
    e_zero   <= op_sgd ? ((d_m == 16'd0) && (d_n == 16'd0))
                       : ((d_b == 16'd0) || (d_m == 16'd0) || (d_n == 16'd0) || (d_h == 16'd0) ||
                          (d_w == 16'd0));
    fold     <= (d_h == 16'd1) && (d_w == 16'd1) && (d_k == 4'd1) && (d_s == 4'd1) &&
                (d_p == 4'd0);
    e_dim    <= op_fc && !((d_h == 16'd1) && (d_w == 16'd1) && (d_k == 4'd1) && (d_s == 4'd1) &&
                           (d_p == 4'd0));
    e_kernel <= op_conv ? !kern_ok : (op_win ? !kern_win_ok : (op_fmap && (d_k != 4'd1)));
    e_stride <= (op_conv || op_win) ? !stride_ok : (op_fmap && (d_s != 4'd1));
    e_pad    <= op_conv ? (d_p >= d_k) : (op_fmap && (d_p != 4'd0));
    e_vfield <= op_sgd ? sgd_bad
                       : wu_sgd ? sc_sgd_bad
                       : (op_fmap && ((d_m != d_n) || (d_tr != 16'd0) || (d_chunk != 16'd0) ||
                                      (op_bn_fp && sc_bn_bad)));
    ph_bp    <= op_bp;
    ph_wu    <= op_wu;
    c_wusgd  <= wu_sgd;
    c_conv   <= op_conv;
    c_glob   <= op_glob;
    c_win    <= op_win;
    c_bn     <= op_bn;
    c_plane  <= op_mp_bp ? 2'd2 : (op_ap_bp ? 2'd1 : 2'd0);
    used     <= use_c;
    szsel    <= sel_c;
    e_align  <= mis_c;
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
  logic [16:0] oh, ow;               // output rows and columns (global pools: 1)
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
    oh       <= c_glob ? 17'd1 : q_h + 17'd1;
    ow       <= c_glob ? 17'd1 : q_w + 17'd1;
    tiles_n  <= TN_POW ? 16'(num_n >> LTN)  : 16'(prod_n >> (XW + LTN));
    tiles_mn <= TN_POW ? 16'(num_mn >> LTN) : 16'(prod_mn >> (XW + LTN));
    tiles_mm <= TM_POW ? 16'(num_mm >> LTM) : 16'(prod_mm >> (XW + LTM));
  end

  // ---------------------------------------------------------------------------------------------
  // S4: the phase geometry (eftrain.tiling), tiling rule 1, padded channel counts.
  // ---------------------------------------------------------------------------------------------
  logic        e_field;              // tiling rule 1 (convolutions only)
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
    e_field   <= c_conv && ((d_tr == 16'd0) || (17'(d_tr) > rows_g) || (d_chunk == 16'd0) ||
                            (17'(d_chunk) > red_tiles));
    tile_rows <= ph_bp ? 19'(d_tr) + 19'(d_k) - 19'd1 : 19'(tr_s) + 19'(d_k);
    pitch     <= (fold ? 17'(d_b) : 17'(d_w)) + (ph_bp ? 17'(d_k) - 17'd1 : 17'({d_p, 1'b0}));
    width     <= width_g;
    kkl       <= ph_wu ? 16'(cmul(24'(kk), ACC_L)) : 16'(kk);
    np_tn     <= 17'(cmul(24'(tiles_n), TN));
    mp_tn     <= 17'(cmul(24'(tiles_mn), TN));
    mp_tm     <= 17'(cmul(24'(tiles_mm), TM));
  end

  // ---------------------------------------------------------------------------------------------
  // S5: tile words (tiling rule 2), the first factors of the tensor sizes, the pool planes.
  // ---------------------------------------------------------------------------------------------
  logic [35:0] in_words;             // tile_rows * pitch
  logic [32:0] out_words;            // tr * width
  logic [31:0] w_words;              // chunk * kkl
  logic [31:0] bh;                   // B * H
  logic [32:0] npw;                  // Np * W
  logic [32:0] boh;                  // B * OH
  logic [33:0] mow;                  // Mp(TN) * OW
  logic [33:0] mnp;                  // Mp(TM) * Np
  logic [31:0] hw;                   // H * W
  logic [33:0] ohow;                 // OH * OW

  always_ff @(posedge clk) begin
    in_words  <= 36'(tile_rows) * 36'(pitch);
    out_words <= 33'(d_tr) * 33'(width);
    w_words   <= 32'(d_chunk) * 32'(kkl);
    bh        <= 32'(d_b) * 32'(d_h);
    npw       <= 33'(np_tn) * 33'(d_w);
    boh       <= 33'(d_b) * 33'(oh);
    mow       <= 34'(mp_tn) * 34'(ow);
    mnp       <= 34'(mp_tm) * 34'(np_tn);
    hw        <= 32'(d_h) * 32'(d_w);
    ohow      <= 34'(oh) * 34'(ow);
  end

  // ---------------------------------------------------------------------------------------------
  // S6: tiling rule 2; the size products, each split at bit 17 of its wider factor; the pooling
  // rules (plane buffer, global H*W); B*H*W for BN.
  // ---------------------------------------------------------------------------------------------
  logic        e_buf;                // tiling rule 2 (convolutions only)
  logic        e_vbuf;               // windowed pool: plane > VU_DEPTH / TN
  logic        e_gbig;               // global pool: H*W > 2^24
  logic [48:0] x_lo, x_hi;           // B*H * (Np*W)[16:0], B*H * (Np*W)[32:17]
  logic [49:0] y_lo, y_hi;           // B*OH * (Mp*OW)[16:0], B*OH * (Mp*OW)[33:17]
  logic [41:0] w_all;                // Mp*Np * K*K
  logic [47:0] bhw;                  // B*H * W
  logic [34:0] plane;

  always_comb begin
    case (c_plane)
      2'd0:    plane = 35'(hw);
      2'd1:    plane = 35'(ohow);
      default: plane = {ohow, 1'b0};
    endcase
  end

  always_ff @(posedge clk) begin
    e_buf  <= c_conv && ((in_words > 36'(IN_DEPTH)) || (out_words > 33'(OUT_DEPTH)) ||
                         (w_words > 32'(W_DEPTH)));
    e_vbuf <= c_win && (plane > 35'(VU_PLANE));
    e_gbig <= c_glob && (48'(hw) > N_MAX);
    x_lo   <= 49'(bh) * 49'(npw[16:0]);
    x_hi   <= 49'(bh) * 49'(npw[32:17]);
    y_lo   <= 50'(boh) * 50'(mow[16:0]);
    y_hi   <= 50'(boh) * 50'(mow[33:17]);
    w_all  <= 42'(mnp) * 42'(kk);
    bhw    <= 48'(bh) * 48'(d_w);
  end

  // ---------------------------------------------------------------------------------------------
  // S7: bytes of each tensor (by the size selectors of S2); BN's B*H*W rule.
  // ---------------------------------------------------------------------------------------------
  logic             e_bn;            // BN: B*H*W not 2..2^24
  logic [4*SZW-1:0] size;            // bytes of tensor t at [SZW*t +: SZW]
  logic [SZW-1:0]   x_bytes, y_bytes, w_bytes, vec_bytes, blk_bytes, cnt_bytes;

  always_comb begin
    x_bytes   = (SZW'(x_lo) + (SZW'(x_hi) << 17)) << 2;
    y_bytes   = (SZW'(y_lo) + (SZW'(y_hi) << 17)) << 2;
    w_bytes   = SZW'(w_all) << 2;
    vec_bytes = SZW'({np_tn, 2'b00});
    blk_bytes = SZW'({np_tn, 5'b00000});
    cnt_bytes = SZW'({d_n, d_m, 2'b00});
  end

  always_ff @(posedge clk) begin
    e_bn <= c_bn && ((bhw < 48'd2) || (bhw > N_MAX));
    for (int t = 0; t < 4; t++) begin
      case (szsel[3*t +: 3])
        SZ_X:    size[SZW*t +: SZW] <= x_bytes;
        SZ_Y:    size[SZW*t +: SZW] <= y_bytes;
        SZ_W:    size[SZW*t +: SZW] <= w_bytes;
        SZ_BIAS: size[SZW*t +: SZW] <= SZW'(bias_bytes);
        SZ_VEC:  size[SZW*t +: SZW] <= vec_bytes;
        SZ_BLK:  size[SZW*t +: SZW] <= blk_bytes;
        default: size[SZW*t +: SZW] <= cnt_bytes;    // SZ_CNT
      endcase
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Verdict: the first failing rule, in validate()'s order.
  // ---------------------------------------------------------------------------------------------
  logic e_window, e_sgdbig;
  assign wt_words = w_all;

  always_comb begin
    e_window = 1'b0;
    e_sgdbig = c_wusgd && (w_all[41:32] != 10'd0);   // fused SGD: the 32-bit op count
    for (int t = 0; t < 4; t++) begin
      if (used[t] && (outside[t] || (size[SZW*t +: SZW] > SZW'(gap[64*t +: 64])))) e_window = 1'b1;
    end
    if (e_op)                                      verdict = eftrain_csr_pkg::ERR_BAD_OPCODE;
    else if (e_zero)                               verdict = eftrain_csr_pkg::ERR_ZERO_DIM;
    else if (e_dim)                                verdict = eftrain_csr_pkg::ERR_DIM_TOO_LARGE;
    else if (e_kernel)                             verdict = eftrain_csr_pkg::ERR_BAD_KERNEL;
    else if (e_stride)                             verdict = eftrain_csr_pkg::ERR_BAD_STRIDE;
    else if (e_pad)                                verdict = eftrain_csr_pkg::ERR_BAD_PADDING;
    else if (e_field || e_vfield || e_gbig || e_bn || e_sgdbig) verdict = eftrain_csr_pkg::ERR_BAD_FIELD;
    else if (e_buf || e_vbuf)                      verdict = eftrain_csr_pkg::ERR_BUFFER_OVERFLOW;
    else if (e_align)                              verdict = eftrain_csr_pkg::ERR_MISALIGNED_ADDR;
    else if (e_window)                             verdict = eftrain_csr_pkg::ERR_OUT_OF_WINDOW;
    else                                           verdict = eftrain_csr_pkg::ERR_NONE;
  end

endmodule

`default_nettype wire
