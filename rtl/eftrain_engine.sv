// EF-Train, open: the unified FP32 convolution engine (forward, input gradient, weight gradient).
//
// One TM x TN array of fp32_mul feeds TM adder trees of TN lanes (adder_tree) and TM accumulate
// adders: forward (FP) and input-gradient (BP) tiles. The same multipliers and the same TM*TN
// adders (the tree adders in separate mode plus the accumulate adders) form TM x TN independent
// multiply-accumulate units for weight-gradient (WU) tiles. Buffers are on chip (engine_ram).
// The arithmetic order is the contract in eftrain/golden/engine.py; this file follows it.
//
// Parameters (all from eftrain.config.HwConfig; tb/engine/driver.py passes them)
//   TM, TN     output lanes (rows, one tree each) and tree lanes of the array (any >= 1, <= 256)
//   ACC_L      WU accumulator interleave L (acc_interleave, 2..128). Requirement: ACC_L >= ADD_LAT + 1
//              (a partial sum is revisited every L cycles; read, add and write back take
//              ADD_LAT + 1 cycles with the write-to-read forwarding below).
//   MUL_LAT    fp32_mul latency (>= 1), ADD_LAT fp32_add latency (1..200)
//   IN_DEPTH   words per input-buffer lane and bank (<= 65536)
//   OUT_DEPTH  words per output-buffer lane and bank (<= 65536)
//   W_DEPTH    words per weight-buffer lane (<= 65536)
//   WPB        words per load/unload beat: bus_bits / 32 (HwConfig.words_per_beat), 1..16.
//              Any TM, TN work with any WPB (lanes beyond a buffer's count are dropped).
//
// Buffers
//   input   2 banks x TN lanes x IN_DEPTH   (x, or the BP gradient map dz; already padded)
//   output  2 banks x TM lanes x OUT_DEPTH  (FP/BP accumulators; dy for WU)
//   weight  TM*TN lanes x W_DEPTH, lane (i, j) feeds multiplier (i, j)
//           (FP/BP weights at w_base + kh*K + kw; WU partial sums; WU results)
//   bias    TM registers
// Every lane is one simple dual-port RAM (sync write, sync read). Each bank/buffer port is used
// either by the running command or by the load/unload ports, never both (see *_ready).
//
// ---------------------------------------------------------------------------------------------
// Tile command (cmd_valid / cmd_ready; accepted when the engine is idle or in its done cycle,
// and no zero fill of the load port is in progress)
//   cmd_mode      MODE_FP, MODE_BP, MODE_WU, MODE_WU_CLEAR, MODE_WU_COMBINE (eftrain_engine_pkg)
//   cmd_k         kernel size K, 1..7
//   cmd_stride    stride S, 1..4 (BP tiles use 1)
//   cmd_rows_out  output rows of the tile, cmd_cols_out output columns: P = rows_out * cols_out
//                 output pixels, p = oy * cols_out + ox (output-buffer address)
//   cmd_cols_in   row pitch of the (padded) input tile in the input buffer
//   cmd_in_bank   input-buffer bank, cmd_out_bank output-buffer bank
//   cmd_in_base   input-buffer address of the tile's padded pixel (0, 0) (an addition to the
//                 issue's field list: several tiles can share a bank)
//   cmd_out_base  output-buffer address of output pixel p = 0 (likewise)
//   cmd_w_base    FP/BP: weight address of (kh, kw) = (0, 0); the tile's weights are at
//                 w_base + kh*K + kw. WU/CLEAR/COMBINE: first accumulator; the partial sum l of
//                 (kh, kw) is at (w_base + kh*K + kw) * L + l.
//   cmd_acc_init  FP/BP start value at kernel position 0: ACC_CONTINUE (add onto the output
//                 buffer), ACC_NEG_ZERO (-0.0), ACC_BIAS (bias register of the lane)
//   cmd_wu_t0     WU: (t mod L) of the tile's first pixel in the batch-wide pixel stream, < L
// WU_CLEAR and WU_COMBINE use only K and w_base. BP is FP for the engine (same datapath).
//
// What a command does (loops kh, kw outer, pixels inner, one pixel per cycle):
//   (in addr = in_base + (oy*S + kh)*cols_in + ox*S + kw, out addr of pixel p = out_base + p)
//   FP/BP  weight addr = w_base + kh*K + kw;
//          s_i = tree_j(w[i][j] * in[j]);  out[i][p] = (first && acc_init != CONTINUE ? init
//          : out[i][p]) + s_i. When P < ADD_LAT + 1 the engine idles after each kernel
//          position's P pixels so that a pixel is revisited no sooner than ADD_LAT + 1 cycles.
//   WU     w[i][j][(w_base + kh*K + kw)*L + (wu_t0 + p) mod L] += out[i][p] * in[j][in addr]
//          (out holds dy, in holds x).
//   WU_CLEAR    w[*][(w_base*L) .. (w_base + K*K)*L - 1] = -0.0
//   WU_COMBINE  dW = tree_sum(p[0..L-1]) of every accumulator, computed with the golden tree
//               shape (level by level, in place: level stride s adds slot 2qs and (2q+1)s into
//               slot 2qs), then written COMPACTED: dW[i][j][kh][kw] lands in weight lane (i, j)
//               at address w_base*L + kh*K + kw (the partials are consumed).
//
// Cycles from the accept cycle to the done pulse (done_cycles reports it; driver.tile_cycles):
//   FP/BP     K*K*max(P, ADD_LAT+1) + MUL_LAT + TREE_LAT + ADD_LAT + 4
//   WU        K*K*P + MUL_LAT + ADD_LAT + 4
//   CLEAR     K*K*L + 3
//   COMBINE   2*K*K*(L-1) + (CB_LEV-1)*(ADD_LAT+1) + ADD_LAT + 4
//   error     3
//   TREE_LAT = ceil(log2 TN) * ADD_LAT, CB_LEV = ceil(log2 L). The engine finishes (drains) every
//   command before the done pulse; a new command can be accepted in the done cycle, so
//   back-to-back commands take exactly the sum of these counts.
//
// Activity: mac_active is high in the cycles in which an FP/BP/WU pixel enters the multiply
// array (the performance counter MAC_CYCLES counts them).
//
// Completion: busy is high from the cycle after the accept until the done cycle; done is a
// one-cycle pulse, with done_err (eftrain_engine_pkg::ERR_*) and done_cycles, which hold their
// value until the next done. The command is checked in the two set-up cycles (mode, K, S, shape,
// buffer windows, wu_t0); an illegal one writes nothing and completes with its error code.
//
// ---------------------------------------------------------------------------------------------
// Load port (ld_valid / ld_ready): one beat of WPB 32-bit words per cycle while ld_ready.
//   ld_buf        BUF_IN, BUF_OUT, BUF_W, BUF_BIAS
//   ld_bank       bank (IN, OUT)
//   ld_lane       first lane (IN: j; OUT, BIAS: i; W: see below)
//   ld_col        W: first tile-relative input channel n - n0 of the beat
//   ld_addr       IN, OUT: word address (all words of a beat share it); W: w_base of the tile
//   ld_k, ld_kh, ld_kw   W: kernel size and the beat's kernel position
//   ld_flip       W: 0 straight (FP, WU), 1 BP transform on chip (180-degree flip, channel swap)
//   ld_mask       word w is written only if ld_mask[w] (and its lane and address exist)
//   ld_data       word w at ld_data[32*w +: 32]
//   ld_fill       1: zero fill (below); ld_count: its number of addresses
//
// Beat-to-lane mapping. Word w (0 <= w < WPB) of a beat goes to (lane arithmetic is modulo 256,
// "+" below is "+ mod 256"):
//   BUF_IN    bank ld_bank, lane j = ld_lane + w,               address ld_addr
//   BUF_OUT   bank ld_bank, lane i = ld_lane + w,               address ld_addr
//   BUF_W     ld_flip = 0: lane (i, j) = (ld_lane, ld_col + w), address ld_addr + kh*K + kw
//             ld_flip = 1: lane (i, j) = (ld_col + w, ld_lane), address
//                          ld_addr + (K-1-kh)*K + (K-1-kw)
//   BUF_BIAS  bias lane i = ld_lane + w
// and is written iff ld_mask[w], the lane exists (j < TN, i < TM) and the address < depth;
// anything else is accepted and dropped. A one-word transfer is the special case of a mask
// with one bit. In the reshaped DRAM layouts (golden/layout.py) a bus beat is WPB consecutive
// words:
//   feature map [B][C/CB][H][W][CB]: WPB consecutive channels (lanes) of one pixel: ld_addr =
//     the pixel's buffer address, ld_lane = the first word's lane;
//   weights [M/Tm][N/Tn][K][K][Tm][Tn]: WPB consecutive n of one (m, kh, kw): ld_lane = m - m0,
//     ld_col = n - n0 of the first word (flip 1: the words land in consecutive rows i = n - n0
//     of column j = m - m0);
//   bias: WPB consecutive output channels.
// When CB (or Tn) is not a multiple of WPB a bus beat can straddle two pixels (two rows m):
// the DMA presents it as one port beat per pixel with complementary masks and the SAME data;
// the first lane of the second part is (its first word's lane - its position in the beat) mod
// 256, e.g. lanes 0, 1 at positions 2, 3: ld_lane = 254, mask 4'b1100. No shifter is needed.
// (Conversely, words that run past lane 255 wrap to lane 0: only a concern if TN or TM
// > 256 - WPB, where the loader must mask them.)
//
// Zero fill (ld_fill = 1; ld_lane, ld_col, ld_k*, ld_flip, ld_mask, ld_data ignored): writes
// +0.0 to ALL lanes of the buffer (IN, OUT: of bank ld_bank; W: all TM*TN lanes) at addresses
// ld_addr .. ld_addr + ld_count - 1 (raw addresses, W included; addresses >= depth are
// dropped), one address per cycle: the first in the accept cycle, the rest in the following
// cycles, during which the load port is busy (fill_busy = 1, ld_ready = 0). A fill of n >= 1
// addresses therefore occupies the load port exactly n cycles; n = 0 writes nothing (1 cycle).
// BUF_BIAS: all bias registers = +0.0 in one cycle (ld_count ignored). A fill is accepted under
// the same ld_ready rule as a beat; while it runs cmd_ready is low and unload requests to the
// same buffer (and bank) wait, so a fill is complete, as seen by every port, before anything
// that follows it (and it never meets a command that starts later; should its buffer be
// owned by the command anyway, the fill holds its address until the port is free). The fill is
// a load-port operation, not a tile command: the tile-command cycle formulas are unchanged.
// Typical use: fill the padded tile's range, then load only the pixels that carry data
// (padding, halo and the BP zero-inserted positions stay +0.0).
//
// ld_ready is low only while a fill is in progress, or while the running command uses the
// write port the beat needs: OUT bank of an FP/BP command, the weight buffer during
// WU/CLEAR/COMBINE, the bias registers during an FP/BP command with ACC_BIAS. Loading the
// other bank or another weight region while a command runs is the double buffering; loading
// what the running command reads is the loader's bug.
//
// Unload port: request rd_req_valid / rd_req_ready with rd_req_buf, rd_req_bank, rd_req_lane
// (first lane), rd_req_col, rd_req_addr, rd_req_mask; response rd_rsp_valid / rd_rsp_ready
// with rd_rsp_data (WPB words) and rd_rsp_mask, one cycle after the request at the earliest,
// in order, one beat per cycle sustained while rd_rsp_ready stays high. Word w is:
//   BUF_IN    input bank rd_req_bank, lane j = rd_req_lane + w, address rd_req_addr
//   BUF_OUT   output bank rd_req_bank, lane i = rd_req_lane + w, address rd_req_addr (an
//             output pixel's channels, as the DMA writes them to the reshaped layout)
//   BUF_W     weight lane (i, j) = (rd_req_lane, rd_req_col + w), address rd_req_addr
//             (consecutive columns j of row i: WU results in the reshaped weight order)
//   BUF_BIAS  bias lane i = rd_req_lane + w (read at the request)
// (lanes modulo 256 as for loads). rd_rsp_mask[w] = rd_req_mask[w] and the word exists; words
// with a clear mask bit are 0. rd_req_ready is low while the running command uses the read
// port the request needs, while a fill to the same buffer/bank is in progress, or while a
// response waits and rd_rsp_ready is low.
// ---------------------------------------------------------------------------------------------
//
// Pipeline (stage = cycles after the issue cycle c, in which the buffer read addresses go out):
//   FP/BP  1: multiply | 1+MUL_LAT: tree | ST_FP_ADD-1: output-buffer read | ST_FP_ADD: add |
//          ST_FP_ADD+ADD_LAT: write back. A read in the cycle of the write to the same address
//          takes the written value (forwarding), so P >= ADD_LAT+1 is enough.
//   WU     1: multiply | MUL_LAT: partial-sum read | 1+MUL_LAT: add | 1+MUL_LAT+ADD_LAT: write,
//          with the same forwarding, hence ACC_L >= ADD_LAT + 1.
//   COMBINE  0: read slot a | 1: read slot b, hold a | 2: add | 2+ADD_LAT: write.

`default_nettype none

module eftrain_engine #(
  parameter int TM        = 4,
  parameter int TN        = 4,
  parameter int ACC_L     = 4,
  parameter int MUL_LAT   = 2,
  parameter int ADD_LAT   = 3,
  parameter int IN_DEPTH  = 2048,
  parameter int OUT_DEPTH = 1024,
  parameter int W_DEPTH   = 512,
  parameter int WPB       = 4
) (
  input  wire logic        clk,
  input  wire logic        rst_n,

  // Tile command.
  input  wire logic        cmd_valid,
  output      logic        cmd_ready,
  input  wire logic [2:0]  cmd_mode,
  input  wire logic [2:0]  cmd_k,
  input  wire logic [2:0]  cmd_stride,
  input  wire logic [15:0] cmd_rows_out,
  input  wire logic [15:0] cmd_cols_out,
  input  wire logic [15:0] cmd_cols_in,
  input  wire logic        cmd_in_bank,
  input  wire logic        cmd_out_bank,
  input  wire logic [15:0] cmd_in_base,
  input  wire logic [15:0] cmd_out_base,
  input  wire logic [15:0] cmd_w_base,
  input  wire logic [1:0]  cmd_acc_init,
  input  wire logic [7:0]  cmd_wu_t0,

  // Completion.
  output      logic        busy,
  output      logic        done,
  output      logic [3:0]  done_err,
  output      logic [31:0] done_cycles,
  output      logic        mac_active,     // a pixel (FP/BP/WU) enters the array this cycle

  // Load port.
  input  wire logic             ld_valid,
  output      logic             ld_ready,
  input  wire logic [1:0]       ld_buf,
  input  wire logic             ld_bank,
  input  wire logic [7:0]       ld_lane,
  input  wire logic [7:0]       ld_col,
  input  wire logic [2:0]       ld_k,
  input  wire logic [2:0]       ld_kh,
  input  wire logic [2:0]       ld_kw,
  input  wire logic             ld_flip,
  input  wire logic [15:0]      ld_addr,
  input  wire logic [WPB-1:0]   ld_mask,
  input  wire logic [32*WPB-1:0] ld_data,
  input  wire logic             ld_fill,
  input  wire logic [15:0]      ld_count,
  output      logic             fill_busy,

  // Unload port.
  input  wire logic             rd_req_valid,
  output      logic             rd_req_ready,
  input  wire logic [1:0]       rd_req_buf,
  input  wire logic             rd_req_bank,
  input  wire logic [7:0]       rd_req_lane,
  input  wire logic [7:0]       rd_req_col,
  input  wire logic [15:0]      rd_req_addr,
  input  wire logic [WPB-1:0]   rd_req_mask,
  output      logic             rd_rsp_valid,
  input  wire logic             rd_rsp_ready,
  output      logic [32*WPB-1:0] rd_rsp_data,
  output      logic [WPB-1:0]   rd_rsp_mask
);

  // ---------------------------------------------------------------------------------------------
  // Constants.
  // ---------------------------------------------------------------------------------------------
  localparam logic [2:0] MODE_FP         = eftrain_engine_pkg::MODE_FP;
  localparam logic [2:0] MODE_BP         = eftrain_engine_pkg::MODE_BP;
  localparam logic [2:0] MODE_WU         = eftrain_engine_pkg::MODE_WU;
  localparam logic [2:0] MODE_WU_CLEAR   = eftrain_engine_pkg::MODE_WU_CLEAR;
  localparam logic [2:0] MODE_WU_COMBINE = eftrain_engine_pkg::MODE_WU_COMBINE;
  localparam logic [1:0] ACC_CONTINUE    = eftrain_engine_pkg::ACC_CONTINUE;
  localparam logic [1:0] ACC_BIAS        = eftrain_engine_pkg::ACC_BIAS;
  localparam logic [1:0] BUF_IN          = eftrain_engine_pkg::BUF_IN;
  localparam logic [1:0] BUF_OUT         = eftrain_engine_pkg::BUF_OUT;
  localparam logic [1:0] BUF_W           = eftrain_engine_pkg::BUF_W;
  localparam logic [1:0] BUF_BIAS        = eftrain_engine_pkg::BUF_BIAS;
  localparam logic [31:0] NEG_ZERO       = eftrain_engine_pkg::FP32_NEG_ZERO;

  localparam int NW        = TM * TN;
  localparam int IAW       = eftrain_engine_pkg::addr_bits(IN_DEPTH);
  localparam int OAW       = eftrain_engine_pkg::addr_bits(OUT_DEPTH);
  localparam int WAW       = eftrain_engine_pkg::addr_bits(W_DEPTH);
  localparam int TREE_LAT  = eftrain_engine_pkg::tree_levels(TN) * ADD_LAT;
  localparam int CB_LEV    = eftrain_engine_pkg::tree_levels(ACC_L);
  localparam int CB_GAP    = ADD_LAT + 1;
  localparam int P_MIN     = ADD_LAT + 1;

  // Pipeline stages, counted from the issue cycle (stage 0).
  localparam int ST_MUL     = 1;
  localparam int ST_PROD    = 1 + MUL_LAT;
  localparam int ST_FP_ADD  = ST_PROD + TREE_LAT;
  localparam int ST_FP_RD   = ST_FP_ADD - 1;
  localparam int ST_FP_WR   = ST_FP_ADD + ADD_LAT;
  localparam int ST_WU_RD   = MUL_LAT;
  localparam int ST_WU_ADD  = ST_PROD;
  localparam int ST_WU_WR   = ST_PROD + ADD_LAT;
  localparam int ST_CB_HOLD = 1;
  localparam int ST_CB_ADD  = 2;
  localparam int ST_CB_WR   = 2 + ADD_LAT;
  localparam int DMAX       = ST_FP_WR;   // the deepest stage (MUL_LAT >= 1)

  localparam logic [2:0] S_IDLE  = 3'd0;
  localparam logic [2:0] S_SET1  = 3'd1;
  localparam logic [2:0] S_SET2  = 3'd2;
  localparam logic [2:0] S_RUN   = 3'd3;
  localparam logic [2:0] S_DRAIN = 3'd4;
  localparam logic [2:0] S_DONE  = 3'd5;

  localparam int PW = 17;   // pixel counters (P <= OUT_DEPTH <= 65536)

  // ---------------------------------------------------------------------------------------------
  // Command registers and state.
  // ---------------------------------------------------------------------------------------------
  logic [2:0]  state;
  logic [2:0]  c_mode;
  logic [2:0]  c_k;
  logic [2:0]  c_s;
  logic [15:0] c_rows, c_cols, c_cin;
  logic        c_inb, c_outb;
  logic [15:0] c_inbase, c_outbase;
  logic [15:0] c_wbase;
  logic [1:0]  c_init;
  logic [7:0]  c_t0;

  logic m_fp, m_wu, m_clr, m_cb;   // decoded mode (m_fp: FP or BP)
  logic eng_act;                    // the command owns its buffer ports
  logic cmd_fire;
  logic fl_act;                     // a zero fill of the load port is in progress

  assign m_fp    = (c_mode == MODE_FP) || (c_mode == MODE_BP);
  assign m_wu    = (c_mode == MODE_WU);
  assign m_clr   = (c_mode == MODE_WU_CLEAR);
  assign m_cb    = (c_mode == MODE_WU_COMBINE);
  assign eng_act = (state == S_SET1) || (state == S_SET2) || (state == S_RUN) || (state == S_DRAIN);

  assign busy      = eng_act;
  assign done      = (state == S_DONE);
  assign cmd_ready = ((state == S_IDLE) || (state == S_DONE)) && !fl_act;
  assign cmd_fire  = cmd_valid && cmd_ready;

  // Set-up values (SET1) and checks (SET2).
  logic [5:0]  kk_q;       // K*K
  logic [31:0] ptot_q;     // P = rows_out * cols_out
  logic [31:0] rspan_q;    // input rows the tile reads: (rows_out-1)*S + K
  logic [31:0] cspan_q;    // input columns the tile reads: (cols_out-1)*S + K
  logic [19:0] pitch_q;    // S * cols_in
  logic [31:0] wbl_q;      // w_base * L
  logic [3:0]  err1_q;     // errors found in SET1

  logic [47:0] in_need;    // input words the tile spans: (rspan-1)*cols_in + cspan
  logic [3:0]  err2;
  logic [PW-1:0] peff_next;

  always_comb begin
    in_need = 48'(rspan_q - 32'd1) * 48'(c_cin) + 48'(cspan_q);
    err2    = err1_q;
    if (err2 == eftrain_engine_pkg::ERR_NONE && (m_fp || m_wu)) begin
      if (cspan_q > 32'(c_cin))                      err2 = eftrain_engine_pkg::ERR_SHAPE;
      else if (48'(c_inbase) + in_need > 48'(IN_DEPTH))
        err2 = eftrain_engine_pkg::ERR_IN_RANGE;
      else if (32'(c_outbase) + ptot_q > 32'(OUT_DEPTH))
        err2 = eftrain_engine_pkg::ERR_OUT_RANGE;
    end
    if (err2 == eftrain_engine_pkg::ERR_NONE) begin
      if (m_fp && (32'(c_wbase) + 32'(kk_q) > 32'(W_DEPTH)))
        err2 = eftrain_engine_pkg::ERR_W_RANGE;
      if (!m_fp && (wbl_q + 32'(kk_q) * 32'(ACC_L) > 32'(W_DEPTH)))
        err2 = eftrain_engine_pkg::ERR_W_RANGE;
    end
    peff_next = (m_fp && ptot_q < 32'(P_MIN)) ? PW'(P_MIN) : ptot_q[PW-1:0];
  end

  // Run counters.
  logic [PW-1:0] peff_q;       // issue slots per kernel position
  logic [PW-1:0] pcnt;         // slot within the kernel position
  logic [PW-1:0] pix;          // output address out_base + p, p = oy*cols_out + ox
  logic [15:0]   ox;
  logic [2:0]    kh, kw;
  logic [5:0]    r;            // kernel position kh*K + kw
  logic [19:0]   khb;          // in_base + kh * cols_in
  logic [19:0]   kbase;        // in_base + kh * cols_in + kw
  logic [19:0]   row_start;    // kbase + oy * S * cols_in
  logic [19:0]   in_addr;      // row_start + ox * S
  logic [15:0]   wa;           // FP weight address w_base + r
  logic [15:0]   pa_base;      // WU (w_base + r) * L
  logic [7:0]    slot;         // WU (wu_t0 + p) mod L
  logic [15:0]   clr_addr;
  logic [15:0]   clr_left;     // CLEAR: words still to write after this one
  logic [7:0]    dcnt;         // DRAIN cycles left
  logic [7:0]    dcnt_w;

  // COMBINE counters.
  logic [2:0]    cb_lv;        // level: stride s = 2^cb_lv
  logic [5:0]    cb_r;         // kernel position
  logic [7:0]    cb_q;         // pair within the level
  logic          cb_ph;        // 0: read slot a, 1: read slot b
  logic [7:0]    cb_gap;       // idle cycles left between levels
  logic [15:0]   cb_pos;       // (w_base + cb_r) * L
  logic [15:0]   cb_qoff;      // 2 * cb_q * s
  logic [15:0]   cb_s;
  logic [7:0]    cb_pairs;     // pairs of this level: floor(ceil(L / s) / 2)
  logic          cb_final;
  logic          cb_re;
  logic [WAW-1:0] cb_raddr;
  logic [15:0]   cb_dest;

  logic issue;                 // FP/BP/WU: a pixel enters the pipeline
  logic cb_issue;              // COMBINE: a pair enters the pipeline
  logic clr_we;

  assign issue    = (state == S_RUN) && (m_fp || m_wu) && (pcnt < PW'(ptot_q));
  assign cb_s     = 16'd1 << cb_lv;
  assign cb_pairs = 8'((((ACC_L + (1 << cb_lv) - 1) >> cb_lv)) >> 1);
  assign cb_final = (32'(cb_lv) == CB_LEV - 1);
  assign cb_re    = (state == S_RUN) && m_cb && (cb_gap == 8'd0);
  assign cb_issue = cb_re && !cb_ph;
  assign mac_active = issue;
  assign cb_raddr = WAW'(cb_pos + cb_qoff + (cb_ph ? cb_s : 16'd0));
  assign cb_dest  = cb_final ? 16'(wbl_q) + 16'(cb_r) : cb_pos + cb_qoff;
  assign clr_we   = (state == S_RUN) && m_clr;

  // DRAIN length = the write stage of the mode.
  always_comb begin
    if (m_fp)      dcnt_w = 8'(ST_FP_WR);
    else if (m_wu) dcnt_w = 8'(ST_WU_WR);
    else if (m_cb) dcnt_w = 8'(ST_CB_WR - 1);   // the last pair issued one cycle before RUN ends
    else           dcnt_w = 8'd0;
  end

  logic [31:0] cyc;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      state       <= S_IDLE;
      done_err    <= '0;
      done_cycles <= '0;
      cyc         <= '0;
    end else begin
      cyc <= cyc + 32'd1;
      case (state)
        S_SET1: state <= S_SET2;
        S_SET2: begin
          if (err2 != eftrain_engine_pkg::ERR_NONE) state <= S_DONE;
          else                                      state <= S_RUN;
        end
        S_RUN: begin
          if (m_fp || m_wu) begin
            if (pcnt == peff_q - PW'(1) && r == kk_q - 6'd1) state <= S_DRAIN;
          end else if (m_clr) begin
            if (clr_left == 16'd0) state <= S_DONE;
          end else begin
            if (cb_re && cb_ph && cb_q == cb_pairs - 8'd1 && cb_r == kk_q - 6'd1 && cb_final)
              state <= S_DRAIN;
          end
        end
        S_DRAIN: if (dcnt == 8'd0) state <= S_DONE;
        default: state <= S_IDLE;   // S_IDLE, S_DONE
      endcase
      if (cmd_fire) begin
        state <= S_SET1;
        cyc   <= 32'd1;
      end
      // Report at the transition into S_DONE.
      if ((state == S_SET2 && err2 != eftrain_engine_pkg::ERR_NONE)
          || (state == S_DRAIN && dcnt == 8'd0)
          || (state == S_RUN && m_clr && clr_left == 16'd0)) begin
        done_err    <= err2;
        done_cycles <= cyc + 32'd1;
      end
    end
  end

  // Command registers, set-up values, counters (no reset needed: written before use).
  always_ff @(posedge clk) begin
    if (cmd_fire) begin
      c_mode  <= cmd_mode;
      c_k     <= cmd_k;
      c_s     <= cmd_stride;
      c_rows  <= cmd_rows_out;
      c_cols  <= cmd_cols_out;
      c_cin   <= cmd_cols_in;
      c_inb   <= cmd_in_bank;
      c_outb  <= cmd_out_bank;
      c_inbase  <= cmd_in_base;
      c_outbase <= cmd_out_base;
      c_wbase <= cmd_w_base;
      c_init  <= cmd_acc_init;
      c_t0    <= cmd_wu_t0;
    end

    if (state == S_SET1) begin
      kk_q    <= 6'(c_k) * 6'(c_k);
      ptot_q  <= 32'(c_rows) * 32'(c_cols);
      rspan_q <= (32'(c_rows) - 32'd1) * 32'(c_s) + 32'(c_k);
      cspan_q <= (32'(c_cols) - 32'd1) * 32'(c_s) + 32'(c_k);
      pitch_q <= 20'(c_s) * 20'(c_cin);
      wbl_q   <= 32'(c_wbase) * 32'(ACC_L);
      err1_q  <= eftrain_engine_pkg::ERR_NONE;
      if (c_mode > MODE_WU_COMBINE || (m_fp && c_init > ACC_BIAS))
        err1_q <= eftrain_engine_pkg::ERR_MODE;
      else if (c_k == 3'd0)
        err1_q <= eftrain_engine_pkg::ERR_K;
      else if ((m_fp || m_wu) && (c_s == 3'd0 || c_s > 3'd4))
        err1_q <= eftrain_engine_pkg::ERR_STRIDE;
      else if ((m_fp || m_wu) && (c_rows == 16'd0 || c_cols == 16'd0))
        err1_q <= eftrain_engine_pkg::ERR_SHAPE;
      else if (m_wu && 32'(c_t0) >= 32'(ACC_L))
        err1_q <= eftrain_engine_pkg::ERR_T0;
    end

    if (state == S_SET2) begin
      peff_q    <= peff_next;
      pcnt      <= '0;
      pix       <= PW'(c_outbase);
      ox        <= '0;
      kh        <= '0;
      kw        <= '0;
      r         <= '0;
      khb       <= 20'(c_inbase);
      kbase     <= 20'(c_inbase);
      row_start <= 20'(c_inbase);
      in_addr   <= 20'(c_inbase);
      wa        <= c_wbase;
      pa_base   <= 16'(wbl_q);
      slot      <= c_t0;
      clr_addr  <= 16'(wbl_q);
      clr_left  <= 16'(32'(kk_q) * 32'(ACC_L) - 32'd1);
      cb_lv     <= '0;
      cb_r      <= '0;
      cb_q      <= '0;
      cb_ph     <= 1'b0;
      cb_gap    <= '0;
      cb_pos    <= 16'(wbl_q);
      cb_qoff   <= '0;
    end

    if (state == S_RUN) begin
      // FP / BP / WU: kernel positions outer, pixels inner, peff_q slots per position.
      if (m_fp || m_wu) begin
        if (pcnt == peff_q - PW'(1)) begin
          pcnt <= '0;
          pix  <= PW'(c_outbase);
          ox   <= '0;
          slot <= c_t0;
          r       <= r + 6'd1;
          wa      <= wa + 16'd1;
          pa_base <= pa_base + 16'(ACC_L);
          if (kw == c_k - 3'd1) begin
            kw        <= '0;
            kh        <= kh + 3'd1;
            khb       <= khb + 20'(c_cin);
            kbase     <= khb + 20'(c_cin);
            row_start <= khb + 20'(c_cin);
            in_addr   <= khb + 20'(c_cin);
          end else begin
            kw        <= kw + 3'd1;
            kbase     <= kbase + 20'd1;
            row_start <= kbase + 20'd1;
            in_addr   <= kbase + 20'd1;
          end
        end else begin
          pcnt <= pcnt + PW'(1);
          if (issue) begin
            pix  <= pix + PW'(1);
            slot <= (32'(slot) == ACC_L - 1) ? 8'd0 : slot + 8'd1;
            if (ox == c_cols - 16'd1) begin
              ox        <= '0;
              row_start <= row_start + pitch_q;
              in_addr   <= row_start + pitch_q;
            end else begin
              ox      <= ox + 16'd1;
              in_addr <= in_addr + 20'(c_s);
            end
          end
        end
      end

      // CLEAR: one address of every weight lane per cycle.
      if (m_clr) begin
        clr_addr <= clr_addr + 16'd1;
        clr_left <= clr_left - 16'd1;
      end

      // COMBINE: levels outer, kernel positions, pairs; two read cycles per pair.
      if (m_cb) begin
        if (cb_gap != 8'd0) begin
          cb_gap <= cb_gap - 8'd1;
        end else if (!cb_ph) begin
          cb_ph <= 1'b1;
        end else begin
          cb_ph <= 1'b0;
          if (cb_q == cb_pairs - 8'd1) begin
            cb_q    <= '0;
            cb_qoff <= '0;
            if (cb_r == kk_q - 6'd1) begin
              cb_r   <= '0;
              cb_pos <= 16'(wbl_q);
              cb_lv  <= cb_lv + 3'd1;
              cb_gap <= 8'(CB_GAP);
            end else begin
              cb_r   <= cb_r + 6'd1;
              cb_pos <= cb_pos + 16'(ACC_L);
            end
          end else begin
            cb_q    <= cb_q + 8'd1;
            cb_qoff <= cb_qoff + (cb_s << 1);
          end
        end
      end
    end

    // DRAIN counter: loaded when RUN ends.
    if (state == S_RUN) dcnt <= dcnt_w - 8'd1;
    else if (state == S_DRAIN) dcnt <= dcnt - 8'd1;
  end

  // ---------------------------------------------------------------------------------------------
  // Control pipeline: valid, "first kernel position" and an address per stage.
  //   FP/BP: address = pixel p;  WU: partial-sum address;  COMBINE: destination address.
  // ---------------------------------------------------------------------------------------------
  logic [DMAX:0]        vp;
  logic [DMAX:0]        fq;
  logic [16*(DMAX+1)-1:0] ap;

  assign vp[0]     = issue || cb_issue;
  assign fq[0]     = (r == 6'd0) && (c_init != ACC_CONTINUE);
  assign ap[15:0]  = m_fp ? 16'(pix) : (m_wu ? pa_base + 16'(slot) : cb_dest);

  always_ff @(posedge clk) begin
    if (!rst_n) vp[DMAX:1] <= '0;
    else        vp[DMAX:1] <= vp[DMAX-1:0];
    fq[DMAX:1]       <= fq[DMAX-1:0];
    ap[16*(DMAX+1)-1:16] <= ap[16*DMAX-1:0];
  end

  // ---------------------------------------------------------------------------------------------
  // Load / unload port decode.
  // ---------------------------------------------------------------------------------------------
  logic [1:0] in_eng;     // bank b of the input buffer is read by the command
  logic [1:0] out_eng;    // bank b of the output buffer is used by the command
  logic       w_rd_eng;   // weight-buffer read port used by the command
  logic       w_wr_eng;   // weight-buffer write port used by the command

  for (genvar b = 0; b < 2; b++) begin : g_bank_use
    assign in_eng[b]  = eng_act && (m_fp || m_wu) && (c_inb == 1'(b));
    assign out_eng[b] = eng_act && (m_fp || m_wu) && (c_outb == 1'(b));
  end
  assign w_rd_eng = eng_act && !m_clr;
  assign w_wr_eng = eng_act && (m_wu || m_clr || m_cb);

  // Which write port a (buffer, bank) needs and whether the running command owns it.
  logic        ld_fire;
  logic        ld_conflict;      // the beat offered on the port
  logic        fl_conf;          // the fill address in progress
  logic [16:0] ld_waddr;         // weight address after the optional flip
  logic [2:0]  ld_ekh, ld_ekw;   // effective kernel position
  logic        bias_eng;         // the command reads the bias registers
  logic [1:0]  fl_buf;
  logic        fl_bank;
  logic [16:0] fl_addr;          // next fill address
  logic [15:0] fl_left;          // fill addresses still to write (>= 1 while fl_act)

  assign bias_eng = eng_act && m_fp && (c_init == ACC_BIAS);

  always_comb begin
    unique case (ld_buf)
      BUF_IN:   ld_conflict = 1'b0;
      BUF_OUT:  ld_conflict = out_eng[ld_bank] && m_fp;
      BUF_W:    ld_conflict = w_wr_eng;
      default:  ld_conflict = bias_eng;
    endcase
    unique case (fl_buf)
      BUF_IN:   fl_conf = 1'b0;
      BUF_OUT:  fl_conf = out_eng[fl_bank] && m_fp;
      BUF_W:    fl_conf = w_wr_eng;
      default:  fl_conf = bias_eng;
    endcase
    ld_ekh   = ld_flip ? ld_k - 3'd1 - ld_kh : ld_kh;
    ld_ekw   = ld_flip ? ld_k - 3'd1 - ld_kw : ld_kw;
    ld_waddr = 17'(ld_addr) + 17'(6'(ld_ekh) * 6'(ld_k)) + 17'(ld_ekw);
  end

  assign ld_ready  = !fl_act && !ld_conflict;
  assign ld_fire   = ld_valid && ld_ready;
  assign fill_busy = fl_act;

  // Zero fill: the first address in the accept cycle, then one address per cycle.
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      fl_act <= 1'b0;
    end else if (fl_act) begin
      if (!fl_conf && fl_left == 16'd1) fl_act <= 1'b0;
    end else if (ld_fire && ld_fill && ld_buf != BUF_BIAS && ld_count > 16'd1) begin
      fl_act <= 1'b1;
    end
    if (!fl_act) begin
      fl_buf  <= ld_buf;
      fl_bank <= ld_bank;
      fl_addr <= 17'(ld_addr) + 17'd1;
      fl_left <= ld_count - 16'd1;
    end else if (!fl_conf) begin
      fl_addr <= fl_addr + 17'd1;
      fl_left <= fl_left - 16'd1;
    end
  end

  // The write beat of this cycle: an accepted load beat, or the next address of a fill.
  logic        wr_v, wr_fill, wr_bank;
  logic [1:0]  wr_buf;
  logic [16:0] wr_addr;          // IN, OUT address; raw weight address of a fill
  logic [16:0] wr_waddr;         // weight address

  always_comb begin
    if (fl_act) begin
      wr_v     = !fl_conf;
      wr_fill  = 1'b1;
      wr_buf   = fl_buf;
      wr_bank  = fl_bank;
      wr_addr  = fl_addr;
      wr_waddr = fl_addr;
    end else begin
      wr_v     = ld_fire && !(ld_fill && ld_count == 16'd0 && ld_buf != BUF_BIAS);
      wr_fill  = ld_fill;
      wr_buf   = ld_buf;
      wr_bank  = ld_bank;
      wr_addr  = 17'(ld_addr);
      wr_waddr = ld_fill ? 17'(ld_addr) : ld_waddr;
    end
  end

  logic wr_in_ok, wr_out_ok, wr_w_ok;
  assign wr_in_ok  = (32'(wr_addr) < 32'(IN_DEPTH));
  assign wr_out_ok = (32'(wr_addr) < 32'(OUT_DEPTH));
  assign wr_w_ok   = (32'(wr_waddr) < 32'(W_DEPTH));

  // Lane spread of a beat: which word (if any) each lane takes. The word of lane x is
  // w = (x - first) mod 256 when w < WPB; hit = ld_mask[w].
  //   *_n: TN lanes from ld_lane (IN)       *_m: TM lanes from ld_lane (OUT, BIAS)
  //   *_c: TN columns from ld_col (W)       *_r: TM rows from ld_col (W, flip)
  logic [TN-1:0]    hit_n, hit_c;
  logic [32*TN-1:0] dat_n, dat_c;
  logic [TM-1:0]    hit_m, hit_r;
  logic [32*TM-1:0] dat_m, dat_r;

  for (genvar x = 0; x < TN; x++) begin : g_spread_n
    logic [7:0]  dn, dc;
    logic        hn, hc;
    logic [31:0] vn, vc;
    assign dn = 8'(x) - ld_lane;
    assign dc = 8'(x) - ld_col;
    always_comb begin
      hn = 1'b0;
      hc = 1'b0;
      vn = '0;
      vc = '0;
      for (int w = 0; w < WPB; w++) begin
        if (dn == 8'(w)) begin
          hn = ld_mask[w];
          vn = ld_data[32*w +: 32];
        end
        if (dc == 8'(w)) begin
          hc = ld_mask[w];
          vc = ld_data[32*w +: 32];
        end
      end
    end
    assign hit_n[x]          = hn;
    assign dat_n[32*x +: 32] = vn;
    assign hit_c[x]          = hc;
    assign dat_c[32*x +: 32] = vc;
  end

  for (genvar x = 0; x < TM; x++) begin : g_spread_m
    logic [7:0]  dm, dr;
    logic        hm, hr;
    logic [31:0] vm, vr;
    assign dm = 8'(x) - ld_lane;
    assign dr = 8'(x) - ld_col;
    always_comb begin
      hm = 1'b0;
      hr = 1'b0;
      vm = '0;
      vr = '0;
      for (int w = 0; w < WPB; w++) begin
        if (dm == 8'(w)) begin
          hm = ld_mask[w];
          vm = ld_data[32*w +: 32];
        end
        if (dr == 8'(w)) begin
          hr = ld_mask[w];
          vr = ld_data[32*w +: 32];
        end
      end
    end
    assign hit_m[x]          = hm;
    assign dat_m[32*x +: 32] = vm;
    assign hit_r[x]          = hr;
    assign dat_r[32*x +: 32] = vr;
  end

  logic rd_fire;
  logic rd_conflict;
  logic rs_pend;          // a response is pending (rd_rsp_valid)
  logic rd_fill_wait;     // a fill to the requested buffer (and bank) is in progress

  always_comb begin
    unique case (rd_req_buf)
      BUF_IN:   rd_conflict = in_eng[rd_req_bank];
      BUF_OUT:  rd_conflict = out_eng[rd_req_bank];
      BUF_W:    rd_conflict = w_rd_eng;
      default:  rd_conflict = 1'b0;
    endcase
    rd_fill_wait = fl_act && fl_buf == rd_req_buf
                   && (fl_bank == rd_req_bank || rd_req_buf == BUF_W || rd_req_buf == BUF_BIAS);
  end

  assign rd_req_ready = !rd_conflict && !rd_fill_wait && (!rs_pend || rd_rsp_ready);
  assign rd_fire      = rd_req_valid && rd_req_ready;

  // ---------------------------------------------------------------------------------------------
  // Buffers.
  // ---------------------------------------------------------------------------------------------
  logic [2*32*TN-1:0] in_rd;     // bank b, lane j at [32*(b*TN + j) +: 32]
  logic [2*32*TM-1:0] out_rd;    // bank b, lane i at [32*(b*TM + i) +: 32]
  logic [32*NW-1:0]   w_rd;      // lane (i, j) at [32*(i*TN + j) +: 32]
  logic [32*TN-1:0]   in_rd_eng; // the command's input bank
  logic [32*TM-1:0]   out_rd_eng;
  logic [32*NW-1:0]   y_lane;    // adder outputs per (i, j) in separate mode (WU / COMBINE)
  logic [32*TM-1:0]   acc_y;     // accumulate-adder outputs per row
  logic [32*TM-1:0]   bias_q;

  assign in_rd_eng  = c_inb  ? in_rd[2*32*TN-1:32*TN]  : in_rd[32*TN-1:0];
  assign out_rd_eng = c_outb ? out_rd[2*32*TM-1:32*TM] : out_rd[32*TM-1:0];

  // Input buffer: written by the load port only, read by FP/BP/WU at the issue stage.
  for (genvar b = 0; b < 2; b++) begin : g_in_bank
    for (genvar j = 0; j < TN; j++) begin : g_lane
      logic           we, re;
      logic [IAW-1:0] raddr;
      assign we    = wr_v && wr_buf == BUF_IN && wr_bank == 1'(b) && wr_in_ok && (wr_fill || hit_n[j]);
      assign re    = in_eng[b] ? issue : (rd_fire && rd_req_buf == BUF_IN && rd_req_bank == 1'(b));
      assign raddr = in_eng[b] ? IAW'(in_addr) : IAW'(rd_req_addr);
      engine_ram #(.DEPTH(IN_DEPTH), .AW(IAW)) u_ram (
        .clk  (clk),
        .we   (we),
        .waddr(IAW'(wr_addr)),
        .wdata(wr_fill ? 32'd0 : dat_n[32*j +: 32]),
        .re   (re),
        .raddr(raddr),
        .rdata(in_rd[32*(b*TN + j) +: 32])
      );
    end
  end

  // Output buffer: FP/BP read-modify-write; WU reads dy at the issue stage.
  for (genvar b = 0; b < 2; b++) begin : g_out_bank
    for (genvar i = 0; i < TM; i++) begin : g_lane
      logic           we, re;
      logic [OAW-1:0] waddr, raddr;
      logic [31:0]    wdata;
      always_comb begin
        if (out_eng[b] && m_fp) begin
          we    = vp[ST_FP_WR];
          waddr = OAW'(ap[16*ST_FP_WR +: 16]);
          wdata = acc_y[32*i +: 32];
        end else begin
          we    = wr_v && wr_buf == BUF_OUT && wr_bank == 1'(b) && wr_out_ok && (wr_fill || hit_m[i]);
          waddr = OAW'(wr_addr);
          wdata = wr_fill ? 32'd0 : dat_m[32*i +: 32];
        end
        if (out_eng[b]) begin
          re    = m_fp ? vp[ST_FP_RD] : issue;
          raddr = m_fp ? OAW'(ap[16*ST_FP_RD +: 16]) : OAW'(pix);
        end else begin
          re    = rd_fire && rd_req_buf == BUF_OUT && rd_req_bank == 1'(b);
          raddr = OAW'(rd_req_addr);
        end
      end
      engine_ram #(.DEPTH(OUT_DEPTH), .AW(OAW)) u_ram (
        .clk  (clk),
        .we   (we),
        .waddr(waddr),
        .wdata(wdata),
        .re   (re),
        .raddr(raddr),
        .rdata(out_rd[32*(b*TM + i) +: 32])
      );
    end
  end

  // Weight buffer: FP/BP weights, WU partial sums, COMBINE in place.
  logic           w_we_e;       // command write (all lanes)
  logic [WAW-1:0] w_waddr_e;
  logic           w_re_e;       // command read (all lanes)
  logic [WAW-1:0] w_raddr_e;

  always_comb begin
    w_we_e    = 1'b0;
    w_waddr_e = WAW'(ap[16*ST_WU_WR +: 16]);
    w_re_e    = 1'b0;
    w_raddr_e = WAW'(wa);
    if (m_wu) begin
      w_we_e    = vp[ST_WU_WR];
      w_waddr_e = WAW'(ap[16*ST_WU_WR +: 16]);
      w_re_e    = vp[ST_WU_RD];
      w_raddr_e = WAW'(ap[16*ST_WU_RD +: 16]);
    end else if (m_cb) begin
      w_we_e    = vp[ST_CB_WR];
      w_waddr_e = WAW'(ap[16*ST_CB_WR +: 16]);
      w_re_e    = cb_re;
      w_raddr_e = cb_raddr;
    end else if (m_clr) begin
      w_we_e    = clr_we;
      w_waddr_e = WAW'(clr_addr);
    end else begin
      w_re_e    = issue;
      w_raddr_e = WAW'(wa);
    end
  end

  for (genvar i = 0; i < TM; i++) begin : g_w_row
    for (genvar j = 0; j < TN; j++) begin : g_lane
      logic           we, re;
      logic [WAW-1:0] waddr, raddr;
      logic [31:0]    wdata;
      always_comb begin
        if (w_wr_eng) begin
          we    = w_we_e;
          waddr = w_waddr_e;
          wdata = m_clr ? NEG_ZERO : y_lane[32*(i*TN + j) +: 32];
        end else begin
          we    = wr_v && wr_buf == BUF_W && wr_w_ok
                  && (wr_fill || (ld_flip ? (32'(ld_lane) == j && hit_r[i])
                                          : (32'(ld_lane) == i && hit_c[j])));
          waddr = WAW'(wr_waddr);
          wdata = wr_fill ? 32'd0 : (ld_flip ? dat_r[32*i +: 32] : dat_c[32*j +: 32]);
        end
        if (w_rd_eng) begin
          re    = w_re_e;
          raddr = w_raddr_e;
        end else begin
          re    = rd_fire && rd_req_buf == BUF_W;
          raddr = WAW'(rd_req_addr);
        end
      end
      engine_ram #(.DEPTH(W_DEPTH), .AW(WAW)) u_ram (
        .clk  (clk),
        .we   (we),
        .waddr(waddr),
        .wdata(wdata),
        .re   (re),
        .raddr(raddr),
        .rdata(w_rd[32*(i*TN + j) +: 32])
      );
    end
  end

  // Bias registers.
  for (genvar i = 0; i < TM; i++) begin : g_bias
    always_ff @(posedge clk) begin
      if (wr_v && wr_buf == BUF_BIAS && (wr_fill || hit_m[i]))
        bias_q[32*i +: 32] <= wr_fill ? 32'd0 : dat_m[32*i +: 32];
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Forwarding: a buffer read in the cycle of a command write to the same address takes the
  // written value one cycle later (ohit_q / whit_q select the registered write data).
  // ---------------------------------------------------------------------------------------------
  logic              ohit_q, whit_q;
  logic [32*TM-1:0]  oaux;          // FP: last accumulate result per row
  logic [32*NW-1:0]  aux;           // WU: last adder result per lane; COMBINE: held operand a

  always_ff @(posedge clk) begin
    ohit_q <= m_fp && vp[ST_FP_WR] && vp[ST_FP_RD] && (ap[16*ST_FP_WR +: 16] == ap[16*ST_FP_RD +: 16]);
    whit_q <= m_wu && vp[ST_WU_WR] && vp[ST_WU_RD] && (ap[16*ST_WU_WR +: 16] == ap[16*ST_WU_RD +: 16]);
    oaux   <= acc_y;
    if (!m_cb)                aux <= y_lane;
    else if (vp[ST_CB_HOLD])  aux <= w_rd;
  end

  // ---------------------------------------------------------------------------------------------
  // Datapath: TM x TN multipliers, TM trees (shared as separate adders), TM accumulate adders.
  // ---------------------------------------------------------------------------------------------
  logic            mul_v;
  logic            tree_v;
  logic            tree_sep;
  logic            acc_v;

  assign mul_v    = vp[ST_MUL] && (m_fp || m_wu);
  assign tree_sep = m_wu || m_cb;
  assign tree_v   = m_cb ? vp[ST_CB_ADD] : (vp[ST_PROD] && (m_fp || m_wu));
  assign acc_v    = m_fp ? vp[ST_FP_ADD] : (m_wu ? vp[ST_WU_ADD] : (m_cb && vp[ST_CB_ADD]));

  logic [32*NW-1:0] prod;
  logic [32*NW-1:0] part;   // WU partial-sum operand (forwarded)

  for (genvar i = 0; i < TM; i++) begin : g_row
    for (genvar j = 0; j < TN; j++) begin : g_mul
      logic [31:0] a_op;
      logic        unused_ov;
      assign a_op = m_wu ? out_rd_eng[32*i +: 32] : w_rd[32*(i*TN + j) +: 32];
      assign part[32*(i*TN + j) +: 32] = whit_q ? aux[32*(i*TN + j) +: 32] : w_rd[32*(i*TN + j) +: 32];
      fp32_mul #(.LATENCY(MUL_LAT)) u_mul (
        .clk      (clk),
        .rst_n    (rst_n),
        .in_valid (mul_v),
        .a        (a_op),
        .b        (in_rd_eng[32*j +: 32]),
        .out_valid(unused_ov),   // the control pipeline (vp) carries the valid bits
        .y        (prod[32*(i*TN + j) +: 32])
      );
    end

    // Tree of row i: tree mode for FP/BP; separate mode: adder j serves lane (i, j), j < TN-1.
    localparam int NA = (TN > 1) ? TN - 1 : 1;
    logic [32*NA-1:0] sep_a, sep_b, sep_y;
    logic [31:0]      tree_sum;
    logic             tree_ov;

    for (genvar j = 0; j < NA; j++) begin : g_sep
      if (j < TN - 1) begin : g_used
        assign sep_a[32*j +: 32] = m_cb ? aux[32*(i*TN + j) +: 32]  : part[32*(i*TN + j) +: 32];
        assign sep_b[32*j +: 32] = m_cb ? w_rd[32*(i*TN + j) +: 32] : prod[32*(i*TN + j) +: 32];
        assign y_lane[32*(i*TN + j) +: 32] = sep_y[32*j +: 32];
      end else begin : g_none
        assign sep_a[32*j +: 32] = '0;
        assign sep_b[32*j +: 32] = '0;
      end
    end

    adder_tree #(.N(TN), .ADD_LAT(ADD_LAT)) u_tree (
      .clk      (clk),
      .rst_n    (rst_n),
      .sep      (tree_sep),
      .in_valid (tree_v),
      .in_data  (prod[32*i*TN +: 32*TN]),
      .sep_a    (sep_a),
      .sep_b    (sep_b),
      .out_valid(tree_ov),       // the control pipeline (vp) carries the valid bits
      .sum      (tree_sum),
      .sep_y    (sep_y)
    );

    // Accumulate adder of row i (lane (i, TN-1) in separate use).
    logic [31:0] init_v, acc_op, acc_a, acc_b;
    logic        acc_ov;
    assign init_v = (c_init == ACC_BIAS) ? bias_q[32*i +: 32] : NEG_ZERO;
    assign acc_op = fq[ST_FP_ADD] ? init_v : (ohit_q ? oaux[32*i +: 32] : out_rd_eng[32*i +: 32]);
    assign acc_a  = m_fp ? acc_op   : (m_cb ? aux[32*(i*TN + TN-1) +: 32]  : part[32*(i*TN + TN-1) +: 32]);
    assign acc_b  = m_fp ? tree_sum : (m_cb ? w_rd[32*(i*TN + TN-1) +: 32] : prod[32*(i*TN + TN-1) +: 32]);

    fp32_add #(.LATENCY(ADD_LAT)) u_acc (
      .clk      (clk),
      .rst_n    (rst_n),
      .in_valid (acc_v),
      .a        (acc_a),
      .b        (acc_b),
      .out_valid(acc_ov),        // the control pipeline (vp) carries the valid bits
      .y        (acc_y[32*i +: 32])
    );
    assign y_lane[32*(i*TN + TN-1) +: 32] = acc_y[32*i +: 32];

    /* verilator lint_off UNUSEDSIGNAL */
    logic unused_row;  // unit valid outputs: timing is tracked by the control pipeline instead
    assign unused_row = ^{tree_ov, acc_ov, sep_y};  // sep_y: unused when TN = 1
    /* verilator lint_on UNUSEDSIGNAL */
  end

  // ---------------------------------------------------------------------------------------------
  // Unload response: one pending beat; a beat not taken in its first cycle is held.
  // ---------------------------------------------------------------------------------------------
  logic [1:0]        rs_buf;
  logic              rs_bank;
  logic [7:0]        rs_lane, rs_col;
  logic [WPB-1:0]    rs_ok;         // rd_rsp_mask
  logic              rs_hold;
  logic [32*WPB-1:0] rs_hold_data;
  logic [32*WPB-1:0] rs_bias;       // bias words, read at the request
  logic [32*WPB-1:0] rs_mux;
  logic [WPB-1:0]    rd_ok;         // word w requested and present
  logic [32*WPB-1:0] rd_bias;
  logic [32*TN-1:0]  rs_wrow;       // row rs_lane of the weight buffer

  for (genvar w = 0; w < WPB; w++) begin : g_rd_word
    logic [7:0] lw, cw;   // lane / column of word w (mod 256)
    logic       ok;
    assign lw = rd_req_lane + 8'(w);
    assign cw = rd_req_col + 8'(w);
    always_comb begin
      unique case (rd_req_buf)
        BUF_IN:  ok = 32'(lw) < TN && 32'(rd_req_addr) < 32'(IN_DEPTH);
        BUF_OUT: ok = 32'(lw) < TM && 32'(rd_req_addr) < 32'(OUT_DEPTH);
        BUF_W:   ok = 32'(rd_req_lane) < TM && 32'(cw) < TN && 32'(rd_req_addr) < 32'(W_DEPTH);
        default: ok = 32'(lw) < TM;
      endcase
    end
    assign rd_ok[w]             = ok && rd_req_mask[w];
    assign rd_bias[32*w +: 32]  = bias_q[32*((rd_ok[w] && rd_req_buf == BUF_BIAS) ? 32'(lw) : 0) +: 32];
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      rs_pend <= 1'b0;
      rs_hold <= 1'b0;
    end else if (rd_fire) begin
      rs_pend <= 1'b1;
      rs_hold <= 1'b0;
    end else if (rs_pend && rd_rsp_ready) begin
      rs_pend <= 1'b0;
      rs_hold <= 1'b0;
    end else if (rs_pend) begin
      rs_hold <= 1'b1;
    end
    if (rd_fire) begin
      rs_buf  <= rd_req_buf;
      rs_bank <= rd_req_bank;
      rs_lane <= (rd_req_buf == BUF_W && 32'(rd_req_lane) >= TM) ? 8'd0 : rd_req_lane;
      rs_col  <= rd_req_col;
      rs_ok   <= rd_ok;
      rs_bias <= rd_bias;
    end
    if (rs_pend && !rs_hold) rs_hold_data <= rs_mux;
  end

  assign rs_wrow = w_rd[32*TN*32'(rs_lane) +: 32*TN];

  for (genvar w = 0; w < WPB; w++) begin : g_rs_word
    logic [7:0]  lw, cw;
    logic [31:0] v;
    assign lw = rs_ok[w] ? rs_lane + 8'(w) : 8'd0;   // clamped: only present words index
    assign cw = rs_ok[w] ? rs_col + 8'(w) : 8'd0;
    always_comb begin
      unique case (rs_buf)
        BUF_IN:  v = in_rd[32*(32'(rs_bank)*TN + 32'(lw)) +: 32];
        BUF_OUT: v = out_rd[32*(32'(rs_bank)*TM + 32'(lw)) +: 32];
        BUF_W:   v = rs_wrow[32*32'(cw) +: 32];
        default: v = rs_bias[32*w +: 32];
      endcase
      if (!rs_ok[w]) v = '0;
    end
    assign rs_mux[32*w +: 32] = v;
  end

  assign rd_rsp_valid = rs_pend;
  assign rd_rsp_data  = rs_hold ? rs_hold_data : rs_mux;
  assign rd_rsp_mask  = rs_ok;

endmodule

`default_nettype wire
