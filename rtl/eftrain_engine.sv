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
// Tile command (cmd_valid / cmd_ready; accepted when the engine is idle or in its done cycle)
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
// Completion: busy is high from the cycle after the accept until the done cycle; done is a
// one-cycle pulse, with done_err (eftrain_engine_pkg::ERR_*) and done_cycles, which hold their
// value until the next done. The command is checked in the two set-up cycles (mode, K, S, shape,
// buffer windows, wu_t0); an illegal one writes nothing and completes with its error code.
//
// ---------------------------------------------------------------------------------------------
// Load port (ld_valid / ld_ready): one 32-bit word per cycle. (The DMA will widen this to the
// bus width: bus_bits/32 words per beat into consecutive addresses of one lane.)
//   ld_buf        BUF_IN, BUF_OUT, BUF_W, BUF_BIAS
//   ld_bank       bank (IN, OUT)
//   ld_lane       IN: lane j; OUT, BIAS: lane i; W: the tile-relative output channel m - m0
//   ld_col        W: the tile-relative input channel n - n0
//   ld_addr       IN, OUT: word address; W: w_base of the tile
//   ld_k, ld_kh, ld_kw   W: kernel size and the word's kernel position
//   ld_flip       W: 0: lane (i, j) = (m, n), address w_base + kh*K + kw (FP, WU);
//                    1: BP transform on chip: lane (i, j) = (n, m), address
//                       w_base + (K-1-kh)*K + (K-1-kw) (180-degree flip and channel swap)
//   ld_data       the word
// A word for a lane or address outside the buffer is accepted and dropped.
// ld_ready is low only while the running command uses the write port the word needs: OUT bank
// of an FP/BP command, the weight buffer during WU/CLEAR/COMBINE, the bias registers during an
// FP/BP command with ACC_BIAS. Loading the other bank or another weight region while a command
// runs is the double buffering; loading what the running command reads is the loader's bug.
//
// Unload port: request rd_req_valid / rd_req_ready (buf, bank, lane, col, addr as above; W:
// lane = i, col = j, addr = word address); response rd_rsp_valid / rd_rsp_ready / rd_rsp_data
// one cycle after the request at the earliest, in order, one word per cycle while rd_rsp_ready
// stays high. Reads outside a buffer return 0. rd_req_ready is low while the running command
// uses the read port the request needs or while a response waits.
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
  parameter int W_DEPTH   = 512
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

  // Load port.
  input  wire logic        ld_valid,
  output      logic        ld_ready,
  input  wire logic [1:0]  ld_buf,
  input  wire logic        ld_bank,
  input  wire logic [7:0]  ld_lane,
  input  wire logic [7:0]  ld_col,
  input  wire logic [2:0]  ld_k,
  input  wire logic [2:0]  ld_kh,
  input  wire logic [2:0]  ld_kw,
  input  wire logic        ld_flip,
  input  wire logic [15:0] ld_addr,
  input  wire logic [31:0] ld_data,

  // Unload port.
  input  wire logic        rd_req_valid,
  output      logic        rd_req_ready,
  input  wire logic [1:0]  rd_req_buf,
  input  wire logic        rd_req_bank,
  input  wire logic [7:0]  rd_req_lane,
  input  wire logic [7:0]  rd_req_col,
  input  wire logic [15:0] rd_req_addr,
  output      logic        rd_rsp_valid,
  input  wire logic        rd_rsp_ready,
  output      logic [31:0] rd_rsp_data
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

  assign m_fp    = (c_mode == MODE_FP) || (c_mode == MODE_BP);
  assign m_wu    = (c_mode == MODE_WU);
  assign m_clr   = (c_mode == MODE_WU_CLEAR);
  assign m_cb    = (c_mode == MODE_WU_COMBINE);
  assign eng_act = (state == S_SET1) || (state == S_SET2) || (state == S_RUN) || (state == S_DRAIN);

  assign busy      = eng_act;
  assign done      = (state == S_DONE);
  assign cmd_ready = (state == S_IDLE) || (state == S_DONE);
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

  logic        ld_fire;
  logic        ld_conflict;
  logic [7:0]  ld_wi, ld_wj;     // weight lane (i, j) after the optional swap
  logic [16:0] ld_waddr;         // weight address after the optional flip
  logic [2:0]  ld_ekh, ld_ekw;   // effective kernel position

  always_comb begin
    unique case (ld_buf)
      BUF_IN:   ld_conflict = 1'b0;
      BUF_OUT:  ld_conflict = out_eng[ld_bank] && m_fp;
      BUF_W:    ld_conflict = w_wr_eng;
      default:  ld_conflict = eng_act && m_fp && (c_init == ACC_BIAS);
    endcase
    ld_ekh   = ld_flip ? ld_k - 3'd1 - ld_kh : ld_kh;
    ld_ekw   = ld_flip ? ld_k - 3'd1 - ld_kw : ld_kw;
    ld_wi    = ld_flip ? ld_col : ld_lane;
    ld_wj    = ld_flip ? ld_lane : ld_col;
    ld_waddr = 17'(ld_addr) + 17'(6'(ld_ekh) * 6'(ld_k)) + 17'(ld_ekw);
  end

  assign ld_ready = !ld_conflict;
  assign ld_fire  = ld_valid && ld_ready;

  logic ld_in_ok, ld_out_ok, ld_w_ok;
  assign ld_in_ok  = (32'(ld_addr) < 32'(IN_DEPTH));
  assign ld_out_ok = (32'(ld_addr) < 32'(OUT_DEPTH));
  assign ld_w_ok   = (32'(ld_waddr) < 32'(W_DEPTH));

  logic rd_fire;
  logic rd_conflict;
  logic rs_pend;          // a response is pending (rd_rsp_valid)

  always_comb begin
    unique case (rd_req_buf)
      BUF_IN:   rd_conflict = in_eng[rd_req_bank];
      BUF_OUT:  rd_conflict = out_eng[rd_req_bank];
      BUF_W:    rd_conflict = w_rd_eng;
      default:  rd_conflict = 1'b0;
    endcase
  end

  assign rd_req_ready = !rd_conflict && (!rs_pend || rd_rsp_ready);
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
      assign we    = ld_fire && ld_buf == BUF_IN && ld_bank == 1'(b) && 32'(ld_lane) == j && ld_in_ok;
      assign re    = in_eng[b] ? issue : (rd_fire && rd_req_buf == BUF_IN && rd_req_bank == 1'(b));
      assign raddr = in_eng[b] ? IAW'(in_addr) : IAW'(rd_req_addr);
      engine_ram #(.DEPTH(IN_DEPTH), .AW(IAW)) u_ram (
        .clk  (clk),
        .we   (we),
        .waddr(IAW'(ld_addr)),
        .wdata(ld_data),
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
          we    = ld_fire && ld_buf == BUF_OUT && ld_bank == 1'(b) && 32'(ld_lane) == i && ld_out_ok;
          waddr = OAW'(ld_addr);
          wdata = ld_data;
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
          we    = ld_fire && ld_buf == BUF_W && 32'(ld_wi) == i && 32'(ld_wj) == j && ld_w_ok;
          waddr = WAW'(ld_waddr);
          wdata = ld_data;
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
      if (ld_fire && ld_buf == BUF_BIAS && 32'(ld_lane) == i) bias_q[32*i +: 32] <= ld_data;
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
  // Unload response: one pending word; a word not taken in its first cycle is held.
  // ---------------------------------------------------------------------------------------------
  logic [1:0]  rs_buf;
  logic        rs_bank;
  logic [7:0]  rs_lane, rs_col;
  logic        rs_ok;
  logic        rs_hold;
  logic [31:0] rs_hold_data;
  logic [31:0] rs_bias;
  logic [31:0] rs_mux;
  logic        rd_ok;

  always_comb begin
    unique case (rd_req_buf)
      BUF_IN:  rd_ok = 32'(rd_req_lane) < TN && 32'(rd_req_addr) < 32'(IN_DEPTH);
      BUF_OUT: rd_ok = 32'(rd_req_lane) < TM && 32'(rd_req_addr) < 32'(OUT_DEPTH);
      BUF_W:   rd_ok = 32'(rd_req_lane) < TM && 32'(rd_req_col) < TN && 32'(rd_req_addr) < 32'(W_DEPTH);
      default: rd_ok = 32'(rd_req_lane) < TM;
    endcase
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
      rs_lane <= rd_ok ? rd_req_lane : 8'd0;
      rs_col  <= rd_ok ? rd_req_col : 8'd0;
      rs_ok   <= rd_ok;
      rs_bias <= bias_q[32*((rd_ok && rd_req_buf == BUF_BIAS) ? 32'(rd_req_lane) : 0) +: 32];
    end
    if (rs_pend && !rs_hold) rs_hold_data <= rs_mux;
  end

  always_comb begin
    unique case (rs_buf)
      BUF_IN:  rs_mux = in_rd[32*(32'(rs_bank)*TN + 32'(rs_lane)) +: 32];
      BUF_OUT: rs_mux = out_rd[32*(32'(rs_bank)*TM + 32'(rs_lane)) +: 32];
      BUF_W:   rs_mux = w_rd[32*(32'(rs_lane)*TN + 32'(rs_col)) +: 32];
      default: rs_mux = rs_bias;
    endcase
    if (!rs_ok) rs_mux = '0;
  end

  assign rd_rsp_valid = rs_pend;
  assign rd_rsp_data  = rs_hold ? rs_hold_data : rs_mux;

endmodule

`default_nettype wire
