// EF-Train, open: the loader, the data mover from the DMA's read side into the engine's load port.
//
// The layer sequencer hands it load ops (valid/ready, in program order). For each op the loader
// issues the DMA read commands, turns the packed word stream into load-port beats (or sends one
// zero fill), and counts the op as loaded when everything of it has reached the engine.
//
// Parameters
//   TM, TN     engine array (eftrain_engine). Requirements, checked at elaboration: TM == TN,
//              TN % WPB == 0 (a stream beat never straddles two pixels or two weight rows), TN <= 256
//   WPB        32-bit words per DMA stream beat and per load-port beat (axi_dma DATA_W / 32)
//   ADDR_W     DMA byte-address bits (axi_dma ADDR_W), LEN_W DMA length bits (axi_dma LEN_W)
//   OP_DEPTH   ops held at once (accepted, not yet counted), a power of two >= 2 (default 4). The
//              commands of up to OP_DEPTH ops can be in the DMA's queue while older data streams.
//
// Ops (op_valid / op_ready; every field is sampled with the handshake)
//   op_kind    LD_FILL = 0, LD_FMAP = 1, LD_W = 2
//   op_buf     engine buffer (eftrain_engine_pkg::BUF_IN / BUF_OUT / BUF_W / BUF_BIAS), op_bank
//   op_addr    byte address of segment 0; segment s starts at op_addr + s * op_seg_stride
//   op_nseg    segments (>= 1), one DMA read command of op_seg_words words each
//   op_base    FMAP: buffer address of pixel 0; W: w_base of the tile; FILL: first address
//   op_width, op_col_step, op_row_step   FMAP: pixel q (counted over all segments of the op, in
//              stream order) is at row r = q / width, column c = q % width and goes to buffer
//              address op_base + r * op_row_step + c * op_col_step (mod 2^16)
//   op_count   FILL: addresses to zero
//   op_k, op_flip   W: kernel size and the BP transform (the engine's ld_flip)
//   op_wait_computed, op_wait_stored   gate: the op issues its first DMA command (FILL: sends its
//              fill) only once computed_cnt >= op_wait_computed and stored_cnt >= op_wait_stored
//              (unsigned). Ops pass the gate in order; once passed, an op runs to its end.
//
// What an op does
//   FILL  one zero fill on the load port: ld_fill = 1, ld_buf, ld_bank, ld_addr = op_base,
//         ld_count = op_count. Loaded when the engine accepts it (the engine finishes a fill
//         before anything that follows it, see eftrain_engine.sv).
//   FMAP  stream words are pixel-major, TN words (lanes) per pixel ([..][H][W][TN] layout); every
//         stream beat is one port beat: ld_lane = lane of its word 0 (0, WPB, ..., TN-WPB), ld_addr
//         = the pixel's buffer address, ld_mask = rds_keep (a partial last beat, e.g. a bias
//         vector of fewer than TN words, loads only its words). Segments should hold whole
//         pixels (seg_words a multiple of TN) except the last one of an op.
//         Bias: buf = BUF_BIAS, one segment of <= TN words, width 1.
//   W     one segment of K*K*TM*TN words in the DRAM order [kh][kw][i][j] (j fastest): port beat
//         ld_buf = op_buf (BUF_W), ld_lane = i, ld_col = j of word 0, ld_k = op_k, ld_kh/ld_kw,
//         ld_flip = op_flip, ld_addr = op_base, ld_mask = rds_keep.
//   FMAP and W ops are loaded when the last port beat was accepted by the engine and every
//   read completion of the op returned OK. loaded_cnt counts loaded ops, in op order.
//
// Throughput: one stream beat per cycle reaches the load port while the engine takes it (a
// 2-entry buffer between the stream and the port; rds_ready is a registered room signal, so
// ld_ready never reaches the DMA combinationally). Ops follow each other without a bubble, and
// the command side runs ahead: it issues the commands of the next ops (in order, as their gates
// allow, as fast as the DMA accepts them: up to its QUEUE_DEPTH) while older data still streams,
// so the DRAM latency is paid once per burst of ops, not once per op.
//
// Errors: a completion with status != 0 (axi_dma codes: 1 ZERO_LENGTH, 2 MISALIGNED,
// 3 OUT_OF_WINDOW, 4 SLVERR, 5 DECERR) or a stream beat with rds_err puts the loader into the
// failed state at once: from the next cycle on no further DMA command, fill or port beat (the
// 2-entry port buffer is emptied), no further op counted; in particular nothing moves while
// err_valid is high; every stream beat and completion the DMA still delivers is
// accepted and dropped, and new ops are accepted and dropped, so nothing upstream or in the DMA
// hangs. err_valid rises with the first completion whose status != 0 (err_status = its status,
// err_addr = its address; an rds_err beat is always followed by such a completion) and stays
// until abort. Recovery is abort (together with the DMA's soft_reset).
//
// abort (synchronous): drops every op and all state at once; the loader is idle, loaded_cnt = 0,
// err_valid = 0 from the next cycle. A fill the engine has already accepted still completes in
// the engine. clear: loaded_cnt = 0 (use when idle). busy: any op held or a port beat pending.

`default_nettype none

module eftrain_loader #(
  parameter int TM       = 4,
  parameter int TN       = 4,
  parameter int WPB      = 4,
  parameter int ADDR_W   = 40,
  parameter int LEN_W    = 32,
  parameter int OP_DEPTH = 4
) (
  input  wire logic                clk,
  input  wire logic                rst_n,
  // 'abort' is also a C function; Verilator mangles the name, the waiver only silences the note.
  /* verilator lint_off SYMRSVDWORD */
  input  wire logic                abort,
  /* verilator lint_on SYMRSVDWORD */
  input  wire logic                clear,

  // Load ops.
  input  wire logic                op_valid,
  output      logic                op_ready,
  input  wire logic [1:0]          op_kind,
  input  wire logic [1:0]          op_buf,
  input  wire logic                op_bank,
  input  wire logic [ADDR_W-1:0]   op_addr,
  input  wire logic [15:0]         op_nseg,
  input  wire logic [LEN_W-1:0]    op_seg_words,
  input  wire logic [ADDR_W-1:0]   op_seg_stride,
  input  wire logic [15:0]         op_base,
  input  wire logic [15:0]         op_width,
  input  wire logic [15:0]         op_col_step,
  input  wire logic [15:0]         op_row_step,
  input  wire logic [15:0]         op_count,
  input  wire logic [2:0]          op_k,
  input  wire logic                op_flip,
  input  wire logic [31:0]         op_wait_computed,
  input  wire logic [31:0]         op_wait_stored,

  // Dependency counters.
  input  wire logic [31:0]         computed_cnt,
  input  wire logic [31:0]         stored_cnt,
  output      logic [31:0]         loaded_cnt,
  output      logic                busy,

  // Error (sticky until abort).
  output      logic                err_valid,
  output      logic [2:0]          err_status,
  output      logic [ADDR_W-1:0]   err_addr,

  // DMA read side (axi_dma rd_cmd_*, rds_*, rd_done_*).
  output      logic                rd_cmd_valid,
  input  wire logic                rd_cmd_ready,
  output      logic [ADDR_W-1:0]   rd_cmd_addr,
  output      logic [LEN_W-1:0]    rd_cmd_len,
  input  wire logic                rds_valid,
  output      logic                rds_ready,
  input  wire logic [32*WPB-1:0]   rds_data,
  input  wire logic [WPB-1:0]      rds_keep,
  input  wire logic                rds_last,
  input  wire logic                rds_err,
  input  wire logic                rd_done_valid,
  output      logic                rd_done_ready,
  input  wire logic [3:0]          rd_done_status,
  input  wire logic [ADDR_W-1:0]   rd_done_addr,

  // Engine load port (eftrain_engine ld_*).
  output      logic                ld_valid,
  input  wire logic                ld_ready,
  output      logic [1:0]          ld_buf,
  output      logic                ld_bank,
  output      logic [7:0]          ld_lane,
  output      logic [7:0]          ld_col,
  output      logic [2:0]          ld_k,
  output      logic [2:0]          ld_kh,
  output      logic [2:0]          ld_kw,
  output      logic                ld_flip,
  output      logic [15:0]         ld_addr,
  output      logic [WPB-1:0]      ld_mask,
  output      logic [32*WPB-1:0]   ld_data,
  output      logic                ld_fill,
  output      logic [15:0]         ld_count
);

  localparam logic [1:0] LD_FILL = 2'd0;
  localparam logic [1:0] LD_FMAP = 2'd1;
  localparam int         QI      = (OP_DEPTH <= 2) ? 1 : $clog2(OP_DEPTH);

  // ---------------------------------------------------------------------------------------------
  // Elaboration checks.
  // ---------------------------------------------------------------------------------------------
  if (TM != TN) begin : g_err_tm_tn
    $error("eftrain_loader: TM (%0d) must equal TN (%0d)", TM, TN);
  end
  if (WPB < 1 || TN % WPB != 0) begin : g_err_wpb
    $error("eftrain_loader: TN (%0d) must be a multiple of WPB (%0d)", TN, WPB);
  end
  if (TN > 256 || TN < 1) begin : g_err_tn
    $error("eftrain_loader: TN (%0d) must be 1..256", TN);
  end
  if (OP_DEPTH < 2 || (1 << QI) != OP_DEPTH) begin : g_err_depth
    $error("eftrain_loader: OP_DEPTH (%0d) must be a power of two >= 2", OP_DEPTH);
  end

  // ---------------------------------------------------------------------------------------------
  // Op queue: one entry per op, freed when the op is counted. Pointers with a wrap bit:
  //   wr_p   next free entry               cmd_p  command side (gate, DMA commands)
  //   in_p   stream side (beats -> buffer) fin_p  port side (the op's last beat / fill taken)
  //   dn_p   completion side               ret_p  retire (loaded_cnt), always the oldest
  // ---------------------------------------------------------------------------------------------
  logic [1:0]        q_kind     [OP_DEPTH];
  logic [1:0]        q_buf      [OP_DEPTH];
  logic              q_bank     [OP_DEPTH];
  logic [ADDR_W-1:0] q_addr     [OP_DEPTH];
  logic [15:0]       q_nseg     [OP_DEPTH];
  logic [LEN_W-1:0]  q_words    [OP_DEPTH];
  logic [ADDR_W-1:0] q_stride   [OP_DEPTH];
  logic [15:0]       q_base     [OP_DEPTH];
  logic [15:0]       q_width    [OP_DEPTH];
  logic [15:0]       q_cstep    [OP_DEPTH];
  logic [15:0]       q_rstep    [OP_DEPTH];
  logic [15:0]       q_count    [OP_DEPTH];
  logic [2:0]        q_k        [OP_DEPTH];
  logic              q_flip     [OP_DEPTH];
  logic [31:0]       q_wc       [OP_DEPTH];
  logic [31:0]       q_ws       [OP_DEPTH];
  logic [OP_DEPTH-1:0] q_gated;            // the op has passed its gate

  logic [QI:0] wr_p, cmd_p, in_p, fin_p, dn_p, ret_p;
  logic        failed;                      // drop everything until abort
  logic        op_fire;

  assign op_ready = failed || ((wr_p - ret_p) != (QI+1)'(OP_DEPTH));
  assign op_fire  = op_valid && op_ready && !failed;

  always_ff @(posedge clk) begin
    if (op_fire) begin
      q_kind[wr_p[QI-1:0]]   <= op_kind;
      q_buf[wr_p[QI-1:0]]    <= op_buf;
      q_bank[wr_p[QI-1:0]]   <= op_bank;
      q_addr[wr_p[QI-1:0]]   <= op_addr;
      q_nseg[wr_p[QI-1:0]]   <= op_nseg;
      q_words[wr_p[QI-1:0]]  <= op_seg_words;
      q_stride[wr_p[QI-1:0]] <= op_seg_stride;
      q_base[wr_p[QI-1:0]]   <= op_base;
      q_width[wr_p[QI-1:0]]  <= op_width;
      q_cstep[wr_p[QI-1:0]]  <= op_col_step;
      q_rstep[wr_p[QI-1:0]]  <= op_row_step;
      q_count[wr_p[QI-1:0]]  <= op_count;
      q_k[wr_p[QI-1:0]]      <= op_k;
      q_flip[wr_p[QI-1:0]]   <= op_flip;
      q_wc[wr_p[QI-1:0]]     <= op_wait_computed;
      q_ws[wr_p[QI-1:0]]     <= op_wait_stored;
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Command side: gate, then one DMA read command per segment (FILL: just the gate).
  // ---------------------------------------------------------------------------------------------
  logic [QI-1:0]     ci;
  logic              c_have, c_gate, c_go, c_fill, c_fire, c_last, c_adv;
  logic              c_st;                  // a command of the op at cmd_p has been issued
  logic [15:0]       c_seg, c_seg_e;
  logic [ADDR_W-1:0] c_addr, c_addr_e;

  always_comb begin
    ci       = cmd_p[QI-1:0];
    c_have   = (cmd_p != wr_p);
    c_gate   = (computed_cnt >= q_wc[ci]) && (stored_cnt >= q_ws[ci]);
    c_go     = c_have && !failed && (q_gated[ci] || c_gate);
    c_fill   = (q_kind[ci] == LD_FILL);
    c_seg_e  = c_st ? c_seg : 16'd0;
    c_addr_e = c_st ? c_addr : q_addr[ci];
    c_last   = (32'(c_seg_e) + 32'd1 >= 32'(q_nseg[ci]));
    rd_cmd_valid = c_go && !c_fill;
    rd_cmd_addr  = c_addr_e;
    rd_cmd_len   = q_words[ci];
    c_fire   = rd_cmd_valid && rd_cmd_ready;
    c_adv    = c_fill ? c_go : (c_fire && c_last);
  end

  always_ff @(posedge clk) begin
    if (!rst_n || abort) begin
      cmd_p <= '0;
      c_st  <= 1'b0;
    end else begin
      if (c_adv) begin
        cmd_p <= cmd_p + 1'b1;
        c_st  <= 1'b0;
      end else if (c_fire) begin
        c_st  <= 1'b1;
      end
    end
    if (c_fire) begin
      c_seg  <= c_seg_e + 16'd1;
      c_addr <= c_addr_e + q_stride[ci];
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n || abort) begin
      q_gated <= '0;
    end else begin
      if (c_go)    q_gated[ci] <= 1'b1;
      if (op_fire) q_gated[wr_p[QI-1:0]] <= 1'b0;
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Port buffer: 2 entries of complete load-port beats (or fills) between the stream side and
  // the engine. f_room is a register, so ld_ready does not reach rds_ready combinationally.
  // ---------------------------------------------------------------------------------------------
  localparam int BW = 1 + 1 + 16 + 1 + 3 + 3 + 3 + 16 + 8 + 8 + 1 + 2 + WPB + 32 * WPB;

  logic [BW-1:0] f_q0, f_q1, p_beat;
  logic [1:0]    f_cnt;
  logic          f_room, f_pop, p_push, f_last;

  assign f_room   = (f_cnt != 2'd2);
  assign ld_valid = (f_cnt != 2'd0) && !failed;
  assign f_pop    = ld_valid && ld_ready;
  assign {f_last, ld_fill, ld_count, ld_flip, ld_kw, ld_kh, ld_k, ld_addr, ld_col, ld_lane,
          ld_bank, ld_buf, ld_mask, ld_data} = f_q0;

  always_ff @(posedge clk) begin
    if (!rst_n || abort || failed) f_cnt <= 2'd0;
    else                           f_cnt <= f_cnt + 2'(p_push) - 2'(f_pop);
    if (f_pop) begin
      if (f_cnt == 2'd2)  f_q0 <= f_q1;
      else if (p_push)    f_q0 <= p_beat;
    end else if (p_push) begin
      if (f_cnt == 2'd0)  f_q0 <= p_beat;
      else                f_q1 <= p_beat;
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Stream side: the op at in_p. Per-op counters hold their values from the op's second beat
  // on; for the first beat (d_st = 0) the *_e values are the op's start values, so consecutive
  // ops follow without a bubble.
  // ---------------------------------------------------------------------------------------------
  logic [QI-1:0] di;
  logic          d_have, d_fill, d_data, d_st, s_fire, s_beat, d_end, fill_push;
  logic [15:0]   d_seg, d_seg_e;
  logic [7:0]    d_lane, d_lane_e;          // FMAP: lane of word 0;   W: j of word 0
  logic [15:0]   d_col, d_col_e;            // FMAP: column c of the pixel
  logic [15:0]   d_pix, d_pix_e;            // FMAP: buffer address of the pixel
  logic [15:0]   d_row, d_row_e;            // FMAP: buffer address of the pixel's row start
  logic [7:0]    d_i, d_i_e;                // W: row i
  logic [2:0]    d_kh, d_kh_e, d_kw, d_kw_e;
  logic          lane_wrap, col_wrap, i_wrap, kw_wrap;

  always_comb begin
    di       = in_p[QI-1:0];
    d_have   = (in_p != wr_p);
    d_fill   = (q_kind[di] == LD_FILL);
    d_data   = d_have && !d_fill;
    d_seg_e  = d_st ? d_seg  : 16'd0;
    d_lane_e = d_st ? d_lane : 8'd0;
    d_col_e  = d_st ? d_col  : 16'd0;
    d_pix_e  = d_st ? d_pix  : q_base[di];
    d_row_e  = d_st ? d_row  : q_base[di];
    d_i_e    = d_st ? d_i    : 8'd0;
    d_kh_e   = d_st ? d_kh   : 3'd0;
    d_kw_e   = d_st ? d_kw   : 3'd0;

    rds_ready = failed || (d_data && f_room);
    s_fire    = rds_valid && rds_ready && !failed;
    s_beat    = s_fire && !rds_err;
    d_end     = rds_last && (32'(d_seg_e) + 32'd1 >= 32'(q_nseg[di]));
    fill_push = d_have && d_fill && q_gated[di] && f_room && !failed;
    p_push    = s_beat || fill_push;

    lane_wrap = (32'(d_lane_e) + WPB >= TN);
    col_wrap  = (32'(d_col_e) + 32'd1 >= 32'(q_width[di]));
    i_wrap    = (32'(d_i_e) + 32'd1 >= TM);
    kw_wrap   = (d_kw_e + 3'd1 >= q_k[di]);

    if (fill_push) begin
      p_beat = {1'b1, 1'b1, q_count[di], 1'b0, 3'd0, 3'd0, 3'd0, q_base[di], 8'd0, 8'd0,
                q_bank[di], q_buf[di], {WPB{1'b0}}, {(32*WPB){1'b0}}};
    end else if (q_kind[di] == LD_FMAP) begin
      p_beat = {d_end, 1'b0, 16'd0, 1'b0, 3'd0, 3'd0, 3'd0, d_pix_e, 8'd0, d_lane_e,
                q_bank[di], q_buf[di], rds_keep, rds_data};
    end else begin
      p_beat = {d_end, 1'b0, 16'd0, q_flip[di], d_kw_e, d_kh_e, q_k[di], q_base[di], d_lane_e,
                d_i_e, q_bank[di], q_buf[di], rds_keep, rds_data};
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n || abort) begin
      in_p <= '0;
      d_st <= 1'b0;
    end else if (fill_push || (s_beat && d_end)) begin
      in_p <= in_p + 1'b1;
      d_st <= 1'b0;
    end else if (s_beat) begin
      d_st <= 1'b1;
    end
    if (s_beat) begin
      d_seg  <= rds_last ? d_seg_e + 16'd1 : d_seg_e;
      d_lane <= lane_wrap ? 8'd0 : d_lane_e + 8'(WPB);
      // FMAP pixel walk.
      d_col  <= d_col_e;
      d_pix  <= d_pix_e;
      d_row  <= d_row_e;
      if (lane_wrap) begin
        if (col_wrap) begin
          d_col <= 16'd0;
          d_row <= d_row_e + q_rstep[di];
          d_pix <= d_row_e + q_rstep[di];
        end else begin
          d_col <= d_col_e + 16'd1;
          d_pix <= d_pix_e + q_cstep[di];
        end
      end
      // W walk: j (d_lane), i, kw, kh.
      d_i  <= d_i_e;
      d_kw <= d_kw_e;
      d_kh <= d_kh_e;
      if (lane_wrap) begin
        if (i_wrap) begin
          d_i <= 8'd0;
          if (kw_wrap) begin
            d_kw <= 3'd0;
            d_kh <= d_kh_e + 3'd1;
          end else begin
            d_kw <= d_kw_e + 3'd1;
          end
        end else begin
          d_i <= d_i_e + 8'd1;
        end
      end
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Port side: an op's data is in the engine when its last beat (or its fill) is taken.
  // ---------------------------------------------------------------------------------------------
  always_ff @(posedge clk) begin
    if (!rst_n || abort) fin_p <= '0;
    else if (f_pop && f_last && !failed) fin_p <= fin_p + 1'b1;
  end

  // ---------------------------------------------------------------------------------------------
  // Completion side: nseg completions per FMAP / W op (FILL ops have none and are passed).
  // ---------------------------------------------------------------------------------------------
  logic [QI-1:0] ni;
  logic          n_have, n_fill, n_fire, n_last, n_bad;
  logic [15:0]   n_seg;

  always_comb begin
    ni            = dn_p[QI-1:0];
    n_have        = (dn_p != wr_p);
    n_fill        = (q_kind[ni] == LD_FILL);
    rd_done_ready = failed || (n_have && !n_fill);
    n_fire        = rd_done_valid && rd_done_ready;
    n_bad         = n_fire && (rd_done_status != 4'd0);
    n_last        = (32'(n_seg) + 32'd1 >= 32'(q_nseg[ni]));
  end

  always_ff @(posedge clk) begin
    if (!rst_n || abort) begin
      dn_p  <= '0;
      n_seg <= 16'd0;
    end else if (!failed) begin
      if (n_have && n_fill) begin
        dn_p <= dn_p + 1'b1;
      end else if (n_fire && !n_bad) begin
        if (n_last) begin
          dn_p  <= dn_p + 1'b1;
          n_seg <= 16'd0;
        end else begin
          n_seg <= n_seg + 16'd1;
        end
      end
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Retire (in op order), errors, counters.
  // ---------------------------------------------------------------------------------------------
  logic retire;
  assign retire = !failed && (ret_p != fin_p) && (ret_p != dn_p);

  always_ff @(posedge clk) begin
    if (!rst_n || abort) begin
      wr_p       <= '0;
      ret_p      <= '0;
      loaded_cnt <= 32'd0;
      failed     <= 1'b0;
      err_valid  <= 1'b0;
      err_status <= 3'd0;
      err_addr   <= '0;
    end else begin
      if (op_fire) wr_p <= wr_p + 1'b1;
      if (retire)  ret_p <= ret_p + 1'b1;
      if (clear)       loaded_cnt <= 32'd0;
      else if (retire) loaded_cnt <= loaded_cnt + 32'd1;
      if ((s_fire && rds_err) || n_bad) failed <= 1'b1;
      if (n_bad && !err_valid) begin
        err_valid  <= 1'b1;
        err_status <= rd_done_status[2:0];
        err_addr   <= rd_done_addr;
      end
    end
  end

  assign busy = (wr_p != ret_p) || ld_valid;

endmodule

`default_nettype wire
