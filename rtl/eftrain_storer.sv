// EF-Train, open: the storer, the data mover from the engine's unload port to the DMA's write side.
//
// The layer sequencer hands it store ops (valid/ready, in program order). For each op the storer
// issues the DMA write commands, reads the engine buffer through the unload port (request /
// response), streams the responses into the DMA, and counts the op as stored when every write
// of it has completed.
//
// Parameters
//   TM, TN     engine array (eftrain_engine). Requirements, checked at elaboration: TM == TN,
//              TN % WPB == 0 (a bus beat never straddles two pixels or two weight rows), TN <= 256
//   WPB        32-bit words per DMA stream beat and per unload beat (axi_dma DATA_W / 32)
//   ADDR_W, LEN_W   as axi_dma
//   OP_DEPTH   ops held at once (accepted, not yet stored), a power of two >= 2 (default 4)
//
// Ops (op_valid / op_ready; every field is sampled with the handshake)
//   op_kind    ST_FMAP = 0, ST_W = 1
//   op_bank    output-buffer bank (FMAP)
//   op_addr    byte address of segment 0; segment s starts at op_addr + s * op_seg_stride
//   op_nseg    segments (>= 1), one DMA write command of op_seg_words words each
//   op_base    FMAP: output-buffer address of pixel 0; W: weight address of (kh, kw) = (0, 0)
//   op_npix    FMAP: pixels (>= 1)
//   op_lanes_valid  FMAP: lanes < this carry data, the others are written as +0.0 (DRAM padding)
//   op_relu    FMAP: every word is written as relu(v) (+0.0 for v <= 0 incl. -0.0; NaN kept)
//   op_k, op_rows_valid, op_cols_valid  W: kernel size; rows i < rows_valid and columns
//              j < cols_valid carry data, the others are written as +0.0
//   op_wait_computed  gate: the op issues its first DMA command and its first unload request
//              only once computed_cnt >= op_wait_computed (unsigned); ops pass it in order.
//
// Unload requests of an op (in this order; the engine answers in order, masked words are 0):
//   FMAP  for p in 0..npix-1, for l0 in 0, WPB, ..., TN-WPB: BUF_OUT, bank, lane l0,
//         addr base + p (mod 2^16), mask[w] = (l0 + w < lanes_valid)
//   W     for kpos in 0..K*K-1, for i in 0..TM-1, for j0 in 0, WPB, ..., TN-WPB: BUF_W, lane i,
//         col j0, addr base + kpos, mask[w] = (i < rows_valid) && (j0 + w < cols_valid)
//         (one segment of K*K*TM*TN words, the reshaped [kh][kw][i][j] tile order)
// Each response beat is one write-stream beat; the words of all requests of an op fill its
// segments in order (nseg * seg_words must equal the op's words, seg_words a multiple of WPB).
// The op is stored (stored_cnt + 1, in op order) when every write completion of it returned OK.
//
// Throughput: one beat per cycle when nothing stalls. The request is a register (rd_req_ready
// only enables it), the responses pass a 2-entry buffer whose room is a register (rd_rsp_ready
// does not depend on wrs_ready combinationally). The command side runs ahead: the write
// commands of the next ops are issued (gates permitting, up to the DMA's QUEUE_DEPTH) while
// older data still streams; an op's unload requests start as soon as its gate has passed.
//
// Errors: the first write completion with status != 0 (axi_dma codes) puts the storer into the
// failed state: from the next cycle on no further DMA command, unload request or stream beat
// (the response buffer is emptied; nothing moves while err_valid is high), no op counted; completions and unload responses still arriving are
// accepted and dropped, new ops are accepted and dropped: nothing hangs. err_valid (sticky until
// abort) with err_status / err_addr = the completion's status / address. A command that fails
// the DMA's check (length, alignment, window) takes no data: the storer cannot see that before
// the completion, so such commands must be prevented upstream (the descriptor validator); the
// storer stops sending as soon as the completion arrives. After an AXI error the DMA expects the
// rest of the command's beats (all of them are sent before its completion can arrive) and those
// of later queued commands, which the storer no longer sends: the DMA's write side stays busy
// until its soft_reset, which the top pulses with abort.
//
// abort (synchronous): drops every op and all state at once; stored_cnt = 0, err_valid = 0 from
// the next cycle (pulse it together with the DMA's soft_reset). A request the engine accepted
// before the abort still gets its response; the storer drops it. clear: stored_cnt = 0 (use
// when idle). busy: any op held, a request or a stream beat pending.

`default_nettype none

module eftrain_storer #(
  parameter int TM       = 4,
  parameter int TN       = 4,
  parameter int WPB      = 4,
  parameter int ADDR_W   = 40,
  parameter int LEN_W    = 32,
  parameter int OP_DEPTH = 4,
  // 1: the engine keeps running through an abort, so a response to a request it accepted before
  // the abort still comes and is dropped. 0: the engine is reset by the same abort (eftrain_top
  // does that), so no such response comes and nothing is dropped.
  parameter bit DROP_LATE_RSP = 1'b1
) (
  input  wire logic                clk,
  input  wire logic                rst_n,
  // 'abort' is also a C function; Verilator mangles the name, the waiver only silences the note.
  /* verilator lint_off SYMRSVDWORD */
  input  wire logic                abort,
  /* verilator lint_on SYMRSVDWORD */
  input  wire logic                clear,

  // Store ops.
  input  wire logic                op_valid,
  output      logic                op_ready,
  input  wire logic                op_kind,
  input  wire logic                op_bank,
  input  wire logic [ADDR_W-1:0]   op_addr,
  input  wire logic [15:0]         op_nseg,
  input  wire logic [LEN_W-1:0]    op_seg_words,
  input  wire logic [ADDR_W-1:0]   op_seg_stride,
  input  wire logic [15:0]         op_base,
  input  wire logic [31:0]         op_npix,
  input  wire logic [8:0]          op_lanes_valid,
  input  wire logic                op_relu,
  input  wire logic [2:0]          op_k,
  input  wire logic [8:0]          op_rows_valid,
  input  wire logic [8:0]          op_cols_valid,
  input  wire logic [31:0]         op_wait_computed,

  // Dependency counters.
  input  wire logic [31:0]         computed_cnt,
  output      logic [31:0]         stored_cnt,
  output      logic                busy,

  // Error (sticky until abort).
  output      logic                err_valid,
  output      logic [2:0]          err_status,
  output      logic [ADDR_W-1:0]   err_addr,

  // DMA write side (axi_dma wr_cmd_*, wrs_*, wr_done_*).
  output      logic                wr_cmd_valid,
  input  wire logic                wr_cmd_ready,
  output      logic [ADDR_W-1:0]   wr_cmd_addr,
  output      logic [LEN_W-1:0]    wr_cmd_len,
  output      logic                wrs_valid,
  input  wire logic                wrs_ready,
  output      logic [32*WPB-1:0]   wrs_data,
  input  wire logic                wr_done_valid,
  output      logic                wr_done_ready,
  input  wire logic [3:0]          wr_done_status,
  input  wire logic [ADDR_W-1:0]   wr_done_addr,

  // Engine unload port (eftrain_engine rd_req_*, rd_rsp_*).
  output      logic                rd_req_valid,
  input  wire logic                rd_req_ready,
  output      logic [1:0]          rd_req_buf,
  output      logic                rd_req_bank,
  output      logic [7:0]          rd_req_lane,
  output      logic [7:0]          rd_req_col,
  output      logic [15:0]         rd_req_addr,
  output      logic [WPB-1:0]      rd_req_mask,
  input  wire logic                rd_rsp_valid,
  output      logic                rd_rsp_ready,
  input  wire logic [32*WPB-1:0]   rd_rsp_data,
  input  wire logic [WPB-1:0]      rd_rsp_mask
);

  localparam logic       ST_FMAP = 1'b0;
  localparam logic [1:0] BUF_OUT = eftrain_engine_pkg::BUF_OUT;
  localparam logic [1:0] BUF_W   = eftrain_engine_pkg::BUF_W;
  localparam int         QI      = (OP_DEPTH <= 2) ? 1 : $clog2(OP_DEPTH);

  // ---------------------------------------------------------------------------------------------
  // Elaboration checks.
  // ---------------------------------------------------------------------------------------------
  if (TM != TN) begin : g_err_tm_tn
    $error("eftrain_storer: TM (%0d) must equal TN (%0d)", TM, TN);
  end
  if (WPB < 1 || TN % WPB != 0) begin : g_err_wpb
    $error("eftrain_storer: TN (%0d) must be a multiple of WPB (%0d)", TN, WPB);
  end
  if (TN > 256 || TN < 1) begin : g_err_tn
    $error("eftrain_storer: TN (%0d) must be 1..256", TN);
  end
  if (OP_DEPTH < 2 || (1 << QI) != OP_DEPTH) begin : g_err_depth
    $error("eftrain_storer: OP_DEPTH (%0d) must be a power of two >= 2", OP_DEPTH);
  end

  // ---------------------------------------------------------------------------------------------
  // Op queue. Pointers with a wrap bit: wr_p next free entry, cmd_p command side, r_p request
  // side, dn_p completion side (= retire: the oldest op).
  // ---------------------------------------------------------------------------------------------
  logic              q_kind     [OP_DEPTH];
  logic              q_bank     [OP_DEPTH];
  logic [ADDR_W-1:0] q_addr     [OP_DEPTH];
  logic [15:0]       q_nseg     [OP_DEPTH];
  logic [LEN_W-1:0]  q_words    [OP_DEPTH];
  logic [ADDR_W-1:0] q_stride   [OP_DEPTH];
  logic [15:0]       q_base     [OP_DEPTH];
  logic [31:0]       q_npix     [OP_DEPTH];
  logic [8:0]        q_lanes    [OP_DEPTH];
  logic              q_relu     [OP_DEPTH];
  logic [2:0]        q_k        [OP_DEPTH];
  logic [8:0]        q_rows     [OP_DEPTH];
  logic [8:0]        q_cols     [OP_DEPTH];
  logic [31:0]       q_wc       [OP_DEPTH];
  logic [OP_DEPTH-1:0] q_gated;

  logic [QI:0] wr_p, cmd_p, r_p, dn_p;
  logic        failed;
  logic        op_fire;

  assign op_ready = failed || ((wr_p - dn_p) != (QI+1)'(OP_DEPTH));
  assign op_fire  = op_valid && op_ready && !failed;

  always_ff @(posedge clk) begin
    if (op_fire) begin
      q_kind[wr_p[QI-1:0]]   <= op_kind;
      q_bank[wr_p[QI-1:0]]   <= op_bank;
      q_addr[wr_p[QI-1:0]]   <= op_addr;
      q_nseg[wr_p[QI-1:0]]   <= op_nseg;
      q_words[wr_p[QI-1:0]]  <= op_seg_words;
      q_stride[wr_p[QI-1:0]] <= op_seg_stride;
      q_base[wr_p[QI-1:0]]   <= op_base;
      q_npix[wr_p[QI-1:0]]   <= op_npix;
      q_lanes[wr_p[QI-1:0]]  <= op_lanes_valid;
      q_relu[wr_p[QI-1:0]]   <= op_relu;
      q_k[wr_p[QI-1:0]]      <= op_k;
      q_rows[wr_p[QI-1:0]]   <= op_rows_valid;
      q_cols[wr_p[QI-1:0]]   <= op_cols_valid;
      q_wc[wr_p[QI-1:0]]     <= op_wait_computed;
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Command side: gate, then one DMA write command per segment.
  // ---------------------------------------------------------------------------------------------
  logic [QI-1:0]     ci;
  logic              c_have, c_go, c_fire, c_last, c_st;
  logic [15:0]       c_seg, c_seg_e;
  logic [ADDR_W-1:0] c_addr, c_addr_e;

  always_comb begin
    ci       = cmd_p[QI-1:0];
    c_have   = (cmd_p != wr_p);
    c_go     = c_have && !failed && (q_gated[ci] || computed_cnt >= q_wc[ci]);
    c_seg_e  = c_st ? c_seg : 16'd0;
    c_addr_e = c_st ? c_addr : q_addr[ci];
    c_last   = (32'(c_seg_e) + 32'd1 >= 32'(q_nseg[ci]));
    wr_cmd_valid = c_go;
    wr_cmd_addr  = c_addr_e;
    wr_cmd_len   = q_words[ci];
    c_fire   = wr_cmd_valid && wr_cmd_ready;
  end

  always_ff @(posedge clk) begin
    if (!rst_n || abort) begin
      cmd_p <= '0;
      c_st  <= 1'b0;
    end else if (c_fire) begin
      cmd_p <= c_last ? cmd_p + 1'b1 : cmd_p;
      c_st  <= !c_last;
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
  // Request side: the op at r_p, once its gate has passed. The request is a register; the
  // generator refills it in the cycle the engine takes it. *_e: the op's start values for its
  // first request (g_st = 0), so ops follow without a bubble.
  // ---------------------------------------------------------------------------------------------
  logic [QI-1:0] ri;
  logic          rq_v;                  // the request register holds a request
  logic          g_have, g_adv, g_st, g_last, g_fmap;
  logic [31:0]   g_p, g_p_e;            // FMAP pixel
  logic [7:0]    g_l, g_l_e;            // FMAP: lane l0; W: column j0
  logic [7:0]    g_i, g_i_e;            // W row
  logic [5:0]    g_kp, g_kp_e;          // W kernel position
  logic [5:0]    g_kk;                  // K*K
  logic          l_wrap, i_wrap;
  logic [WPB-1:0] g_mask;
  logic           rd_req_relu;           // the request's words go out as relu(v)

  always_comb begin
    ri      = r_p[QI-1:0];
    g_have  = (r_p != wr_p) && q_gated[ri] && !failed;
    g_adv   = g_have && (!rq_v || rd_req_ready);
    g_fmap  = (q_kind[ri] == ST_FMAP);
    g_p_e   = g_st ? g_p  : 32'd0;
    g_l_e   = g_st ? g_l  : 8'd0;
    g_i_e   = g_st ? g_i  : 8'd0;
    g_kp_e  = g_st ? g_kp : 6'd0;
    g_kk    = 6'(q_k[ri]) * 6'(q_k[ri]);
    l_wrap  = (32'(g_l_e) + WPB >= TN);
    i_wrap  = (32'(g_i_e) + 32'd1 >= TM);
    for (int w = 0; w < WPB; w++) begin
      if (g_fmap) g_mask[w] = (32'(g_l_e) + w < 32'(q_lanes[ri]));
      else        g_mask[w] = (32'(g_i_e) < 32'(q_rows[ri])) && (32'(g_l_e) + w < 32'(q_cols[ri]));
    end
    if (g_fmap) g_last = l_wrap && (g_p_e + 32'd1 >= q_npix[ri]);
    else        g_last = l_wrap && i_wrap && (g_kp_e + 6'd1 >= g_kk);
  end

  assign rd_req_valid = rq_v && !failed;

  always_ff @(posedge clk) begin
    if (!rst_n || abort || failed) begin
      rq_v <= 1'b0;
    end else if (g_adv) begin
      rq_v <= 1'b1;
    end else if (rd_req_ready) begin
      rq_v <= 1'b0;
    end
    if (g_adv) begin
      rd_req_buf  <= g_fmap ? BUF_OUT : BUF_W;
      rd_req_bank <= q_bank[ri];
      rd_req_lane <= g_fmap ? g_l_e : g_i_e;
      rd_req_col  <= g_fmap ? 8'd0 : g_l_e;
      rd_req_addr <= g_fmap ? q_base[ri] + g_p_e[15:0] : q_base[ri] + 16'(g_kp_e);
      rd_req_mask <= g_mask;
      rd_req_relu <= g_fmap && q_relu[ri];
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n || abort) begin
      r_p  <= '0;
      g_st <= 1'b0;
    end else if (g_adv) begin
      r_p  <= g_last ? r_p + 1'b1 : r_p;
      g_st <= !g_last;
    end
    if (g_adv) begin
      g_l  <= l_wrap ? 8'd0 : g_l_e + 8'(WPB);
      g_p  <= l_wrap ? g_p_e + 32'd1 : g_p_e;
      g_i  <= g_i_e;
      g_kp <= g_kp_e;
      if (l_wrap) begin
        if (i_wrap) begin
          g_i  <= 8'd0;
          g_kp <= g_kp_e + 6'd1;
        end else begin
          g_i  <= g_i_e + 8'd1;
        end
      end
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Response buffer: 2 entries between the unload port and the write stream (room registered).
  // ---------------------------------------------------------------------------------------------
  // Responses to requests the engine took before an abort are dropped (rs_junk, with
  // DROP_LATE_RSP): the unload port holds at most one accepted request without its response,
  // rs_out counts them.
  logic [32*WPB-1:0] f_q1;
  logic [1:0]        f_cnt;
  logic              f_push, f_pop, rq_fire, rs_fire;
  logic [1:0]        rs_out, rs_out_n, rs_junk;

  assign rd_rsp_ready = failed || (rs_junk != 2'd0) || (f_cnt != 2'd2);
  assign f_push       = rd_rsp_valid && rd_rsp_ready && !failed && (rs_junk == 2'd0);
  assign rq_fire      = rd_req_valid && rd_req_ready;
  assign rs_fire      = rd_rsp_valid && rd_rsp_ready;
  assign rs_out_n     = rs_out + 2'(rq_fire) - 2'(rs_fire);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      rs_out  <= 2'd0;
      rs_junk <= 2'd0;
    end else begin
      rs_out <= rs_out_n;
      if (abort)                             rs_junk <= DROP_LATE_RSP ? rs_out_n : 2'd0;
      else if (rs_fire && rs_junk != 2'd0)   rs_junk <= rs_junk - 2'd1;
    end
  end

  /* verilator lint_off UNUSEDSIGNAL */
  logic unused_rsp_mask;
  assign unused_rsp_mask = ^rd_rsp_mask;   // masked words come back as 0 anyway
  /* verilator lint_on UNUSEDSIGNAL */
  assign wrs_valid    = (f_cnt != 2'd0) && !failed;
  assign f_pop        = wrs_valid && wrs_ready;

  // ReLU (FMAP ops with op_relu): the relu bit of every request the engine took travels in a
  // small in-order queue (at most 3 in flight: the request register and the 2-entry response
  // buffer bound them) and is applied to the matching response word by word:
  // relu(v) = +0.0 for a negative or zero v (sign bit set, -0.0 included), v otherwise, a NaN
  // of either sign kept (eftrain.golden.vector.relu).
  logic [3:0]        rl_q;
  logic [2:0]        rl_n;
  logic              rl_push, rl_pop;
  logic [1:0]        rl_wi;
  logic [32*WPB-1:0] rsp_word;

  assign rl_push = rq_fire && !failed;
  assign rl_wi   = 2'(rl_n - 3'(rl_pop));   // at most 2 requests are ever in flight
  assign rl_pop  = f_push;
  always_ff @(posedge clk) begin
    if (!rst_n || abort || failed) begin
      rl_n <= 3'd0;
    end else begin
      rl_n <= rl_n + 3'(rl_push) - 3'(rl_pop);
      if (rl_pop) rl_q <= {1'b0, rl_q[3:1]};
      if (rl_push) rl_q[rl_wi] <= rd_req_relu;
    end
  end

  always_comb begin
    rsp_word = rd_rsp_data;
    if (rl_q[0]) begin
      for (int w = 0; w < WPB; w++) begin
        if (rd_rsp_data[32 * w + 31] && !(rd_rsp_data[32 * w + 23 +: 8] == 8'hFF
                                          && rd_rsp_data[32 * w +: 23] != 23'd0)) begin
          rsp_word[32 * w +: 32] = 32'd0;
        end
      end
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n || abort || failed) f_cnt <= 2'd0;
    else                           f_cnt <= f_cnt + 2'(f_push) - 2'(f_pop);
    if (f_pop) begin
      if (f_cnt == 2'd2)  wrs_data <= f_q1;
      else if (f_push)    wrs_data <= rsp_word;
    end else if (f_push) begin
      if (f_cnt == 2'd0)  wrs_data <= rsp_word;
      else                f_q1     <= rsp_word;
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Completion side (retire in op order), errors, counters.
  // ---------------------------------------------------------------------------------------------
  logic [QI-1:0] ni;
  logic          n_fire, n_bad, n_last;
  logic [15:0]   n_seg;

  assign wr_done_ready = 1'b1;      // completions come only for issued commands
  always_comb begin
    ni     = dn_p[QI-1:0];
    n_fire = wr_done_valid && wr_done_ready;
    n_bad  = n_fire && (wr_done_status != 4'd0);
    n_last = (32'(n_seg) + 32'd1 >= 32'(q_nseg[ni]));
  end

  always_ff @(posedge clk) begin
    if (!rst_n || abort) begin
      wr_p       <= '0;
      dn_p       <= '0;
      n_seg      <= 16'd0;
      stored_cnt <= 32'd0;
      failed     <= 1'b0;
      err_valid  <= 1'b0;
      err_status <= 3'd0;
      err_addr   <= '0;
    end else begin
      if (op_fire) wr_p <= wr_p + 1'b1;
      if (clear) stored_cnt <= 32'd0;
      if (n_fire && !n_bad && !failed) begin
        if (n_last) begin
          dn_p  <= dn_p + 1'b1;
          n_seg <= 16'd0;
          if (!clear) stored_cnt <= stored_cnt + 32'd1;
        end else begin
          n_seg <= n_seg + 16'd1;
        end
      end
      if (n_bad) failed <= 1'b1;
      if (n_bad && !err_valid) begin
        err_valid  <= 1'b1;
        err_status <= wr_done_status[2:0];
        err_addr   <= wr_done_addr;
      end
    end
  end

  assign busy = (wr_p != dn_p) || rd_req_valid || wrs_valid;

endmodule

`default_nettype wire
