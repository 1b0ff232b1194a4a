// EF-Train, open: simulation wrapper of the data movers for tb/movers/test_movers.py (simulation only).
//
//   DRAM model (cocotb, m_axi_*) <-> axi_dma <-> eftrain_loader  -> eftrain_engine load port
//                                            <-> eftrain_storer <-  eftrain_engine unload port
//
// The loader's and the storer's op ports are top-level ports (ld_op_*, st_op_*), as are their
// counters and error outputs. As in the top level, `abort` drives the loader's and the storer's
// abort and the DMA's soft_reset, and the loader's stored_cnt is the storer's stored_cnt. Both
// see computed_cnt (the test plays the engine sequencer): the top-level input, or with
// computed_sel = 1 the loader's loaded_cnt (an engine that "computes" each load at once: stores
// can wait for loads). The engine's tile-command port is tied off.
//
// Handshake stress (no Python per cycle): the load port (loader -> engine), the unload requests
// and the unload responses (engine <-> storer) each stall in a cycle with probability
// <x>_stall_16 / 16, drawn from xorshift32 generators seeded from lfsr_seed.
//
// Test access to the unload port: with tb_rd_sel = 1 the engine's unload port belongs to the
// tb_rd_req_* / tb_rd_rsp_* ports (the test reads BUF_IN, BUF_BIAS, ... directly), with
// tb_rd_sel = 0 to the storer (switch only while the storer is idle).
//
// Monitors: mon_* are the handshakes of this cycle; ld_quiet_bad / st_quiet_bad (cleared by abort)
// flag any DMA command, load beat, unload request or write-stream beat of a mover in a cycle
// where its err_valid is high (a failed mover must be silent); the perf counters (perf_clear)
// count load-port data beats and write-stream beats and record the cycle (cycle counter) of the
// first and the last of each.

`timescale 1ns / 1ps
`default_nettype none

module movers_tb #(
  parameter int TM              = 4,
  parameter int TN              = 4,
  parameter int ACC_L           = 4,
  parameter int MUL_LAT         = 2,
  parameter int ADD_LAT         = 3,
  parameter int IN_DEPTH        = 2048,
  parameter int OUT_DEPTH       = 1024,
  parameter int W_DEPTH         = 512,
  parameter int WPB             = 4,
  parameter int ADDR_W          = 40,
  parameter int MAX_BURST       = 64,
  parameter int MAX_OUTSTANDING = 8,
  parameter int QUEUE_DEPTH     = 4,
  parameter int OP_DEPTH        = 4
) (
  input  wire logic                clk,
  input  wire logic                rst_n,
  /* verilator lint_off SYMRSVDWORD */   // 'abort' is a C function too; Verilator mangles it
  input  wire logic                abort,
  /* verilator lint_on SYMRSVDWORD */
  input  wire logic                clear,
  input  wire logic [ADDR_W-1:0]   win_base,
  input  wire logic [ADDR_W-1:0]   win_limit,
  input  wire logic [31:0]         computed_cnt,
  input  wire logic                computed_sel,   // 1: the movers see loaded_cnt as computed_cnt

  // Loader ops, counters, errors.
  input  wire logic                ld_op_valid,
  output      logic                ld_op_ready,
  input  wire logic [1:0]          ld_op_kind,
  input  wire logic [1:0]          ld_op_buf,
  input  wire logic                ld_op_bank,
  input  wire logic [ADDR_W-1:0]   ld_op_addr,
  input  wire logic [15:0]         ld_op_nseg,
  input  wire logic [31:0]         ld_op_seg_words,
  input  wire logic [ADDR_W-1:0]   ld_op_seg_stride,
  input  wire logic [15:0]         ld_op_base,
  input  wire logic [15:0]         ld_op_width,
  input  wire logic [15:0]         ld_op_col_step,
  input  wire logic [15:0]         ld_op_row_step,
  input  wire logic [15:0]         ld_op_count,
  input  wire logic [2:0]          ld_op_k,
  input  wire logic                ld_op_flip,
  input  wire logic [31:0]         ld_op_wait_computed,
  input  wire logic [31:0]         ld_op_wait_stored,
  output      logic [31:0]         loaded_cnt,
  output      logic                ld_busy,
  output      logic                ld_err_valid,
  output      logic [2:0]          ld_err_status,
  output      logic [ADDR_W-1:0]   ld_err_addr,

  // Storer ops, counters, errors.
  input  wire logic                st_op_valid,
  output      logic                st_op_ready,
  input  wire logic                st_op_kind,
  input  wire logic                st_op_bank,
  input  wire logic [ADDR_W-1:0]   st_op_addr,
  input  wire logic [15:0]         st_op_nseg,
  input  wire logic [31:0]         st_op_seg_words,
  input  wire logic [ADDR_W-1:0]   st_op_seg_stride,
  input  wire logic [15:0]         st_op_base,
  input  wire logic [31:0]         st_op_npix,
  input  wire logic [8:0]          st_op_lanes_valid,
  input  wire logic [2:0]          st_op_k,
  input  wire logic [8:0]          st_op_rows_valid,
  input  wire logic [8:0]          st_op_cols_valid,
  input  wire logic [31:0]         st_op_wait_computed,
  output      logic [31:0]         stored_cnt,
  output      logic                st_busy,
  output      logic                st_err_valid,
  output      logic [2:0]          st_err_status,
  output      logic [ADDR_W-1:0]   st_err_addr,

  output      logic                rd_busy,
  output      logic                wr_busy,

  // Handshake stress.
  input  wire logic [3:0]          ld_stall_16,
  input  wire logic [3:0]          rq_stall_16,
  input  wire logic [3:0]          rsp_stall_16,
  input  wire logic [31:0]         lfsr_seed,

  // Test access to the unload port.
  input  wire logic                tb_rd_sel,
  input  wire logic                tb_rd_req_valid,
  output      logic                tb_rd_req_ready,
  input  wire logic [1:0]          tb_rd_req_buf,
  input  wire logic                tb_rd_req_bank,
  input  wire logic [7:0]          tb_rd_req_lane,
  input  wire logic [7:0]          tb_rd_req_col,
  input  wire logic [15:0]         tb_rd_req_addr,
  input  wire logic [WPB-1:0]      tb_rd_req_mask,
  output      logic                tb_rd_rsp_valid,
  input  wire logic                tb_rd_rsp_ready,
  output      logic [32*WPB-1:0]   tb_rd_rsp_data,
  output      logic [WPB-1:0]      tb_rd_rsp_mask,

  // Monitors and perf counters.
  input  wire logic                perf_clear,
  output      logic                mon_rd_cmd_fire,
  output      logic                mon_wr_cmd_fire,
  output      logic                mon_ld_fire,
  output      logic                mon_ld_fill,
  output      logic                mon_rq_fire,
  output      logic                ld_quiet_bad,   // sticky: a DMA command or port beat of the
  output      logic                st_quiet_bad,   // loader / storer while its err_valid was high
  output      logic [31:0]         cycle,
  output      logic [31:0]         ld_beats,
  output      logic [31:0]         ld_first,
  output      logic [31:0]         ld_last,
  output      logic [31:0]         wrs_beats,
  output      logic [31:0]         wrs_first,
  output      logic [31:0]         wrs_last,

  // AXI4 master (to the DRAM model).
  output      logic [3:0]          m_axi_awid,
  output      logic [ADDR_W-1:0]   m_axi_awaddr,
  output      logic [7:0]          m_axi_awlen,
  output      logic [2:0]          m_axi_awsize,
  output      logic [1:0]          m_axi_awburst,
  output      logic                m_axi_awlock,
  output      logic [3:0]          m_axi_awcache,
  output      logic [2:0]          m_axi_awprot,
  output      logic [3:0]          m_axi_awqos,
  output      logic                m_axi_awvalid,
  input  wire logic                m_axi_awready,
  output      logic [32*WPB-1:0]   m_axi_wdata,
  output      logic [4*WPB-1:0]    m_axi_wstrb,
  output      logic                m_axi_wlast,
  output      logic                m_axi_wvalid,
  input  wire logic                m_axi_wready,
  input  wire logic [3:0]          m_axi_bid,
  input  wire logic [1:0]          m_axi_bresp,
  input  wire logic                m_axi_bvalid,
  output      logic                m_axi_bready,
  output      logic [3:0]          m_axi_arid,
  output      logic [ADDR_W-1:0]   m_axi_araddr,
  output      logic [7:0]          m_axi_arlen,
  output      logic [2:0]          m_axi_arsize,
  output      logic [1:0]          m_axi_arburst,
  output      logic                m_axi_arlock,
  output      logic [3:0]          m_axi_arcache,
  output      logic [2:0]          m_axi_arprot,
  output      logic [3:0]          m_axi_arqos,
  output      logic                m_axi_arvalid,
  input  wire logic                m_axi_arready,
  input  wire logic [3:0]          m_axi_rid,
  input  wire logic [32*WPB-1:0]   m_axi_rdata,
  input  wire logic [1:0]          m_axi_rresp,
  input  wire logic                m_axi_rlast,
  input  wire logic                m_axi_rvalid,
  output      logic                m_axi_rready
);

  localparam int DATA_W = 32 * WPB;

  logic [31:0] computed;
  assign computed = computed_sel ? loaded_cnt : computed_cnt;

  // DMA <-> movers.
  logic                rd_cmd_valid, rd_cmd_ready, rds_valid, rds_ready, rds_last, rds_err;
  logic [ADDR_W-1:0]   rd_cmd_addr, rd_done_addr, wr_cmd_addr, wr_done_addr;
  logic [31:0]         rd_cmd_len, wr_cmd_len;
  logic [DATA_W-1:0]   rds_data, wrs_data;
  logic [WPB-1:0]      rds_keep;
  logic                rd_done_valid, rd_done_ready, wr_cmd_valid, wr_cmd_ready;
  logic                wrs_valid, wrs_ready, wr_done_valid, wr_done_ready;
  logic [3:0]          rd_done_status, wr_done_status;

  // Loader <-> engine load port (before / after the stall gate).
  logic                l_valid, l_ready, e_ld_valid, e_ld_ready;
  logic [1:0]          l_buf;
  logic                l_bank, l_flip, l_fill;
  logic [7:0]          l_lane, l_col;
  logic [2:0]          l_k, l_kh, l_kw;
  logic [15:0]         l_addr, l_count;
  logic [WPB-1:0]      l_mask;
  logic [DATA_W-1:0]   l_data;

  // Storer <-> engine unload port.
  logic                s_rq_valid, s_rq_ready, s_rs_valid, s_rs_ready;
  logic [1:0]          s_rq_buf;
  logic                s_rq_bank;
  logic [7:0]          s_rq_lane, s_rq_col;
  logic [15:0]         s_rq_addr;
  logic [WPB-1:0]      s_rq_mask;
  logic                e_rq_valid, e_rq_ready, e_rs_valid, e_rs_ready;
  logic [1:0]          e_rq_buf;
  logic                e_rq_bank;
  logic [7:0]          e_rq_lane, e_rq_col;
  logic [15:0]         e_rq_addr;
  logic [WPB-1:0]      e_rq_mask, e_rs_mask;
  logic [DATA_W-1:0]   e_rs_data;

  // ---------------------------------------------------------------------------------------------
  // Stall generators.
  // ---------------------------------------------------------------------------------------------
  logic [31:0] x_ld, x_rq, x_rs;
  logic        st_ld, st_rq, st_rs;

  function automatic logic [31:0] xorshift(input logic [31:0] x);
    logic [31:0] y;
    y = x ^ (x << 13);
    y = y ^ (y >> 17);
    return y ^ (y << 5);
  endfunction

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      x_ld <= lfsr_seed | 32'd1;
      x_rq <= (lfsr_seed ^ 32'h9E37_79B9) | 32'd1;
      x_rs <= (lfsr_seed ^ 32'h7F4A_7C15) | 32'd1;
    end else begin
      x_ld <= xorshift(x_ld);
      x_rq <= xorshift(x_rq);
      x_rs <= xorshift(x_rs);
    end
  end
  assign st_ld = (x_ld[7:4] < ld_stall_16);
  assign st_rq = (x_rq[7:4] < rq_stall_16);
  assign st_rs = (x_rs[7:4] < rsp_stall_16);

  assign e_ld_valid = l_valid && !st_ld;
  assign l_ready    = e_ld_ready && !st_ld;

  // Unload port: storer (through the stall gates) or test access.
  always_comb begin
    if (tb_rd_sel) begin
      e_rq_valid = tb_rd_req_valid;
      e_rq_buf   = tb_rd_req_buf;
      e_rq_bank  = tb_rd_req_bank;
      e_rq_lane  = tb_rd_req_lane;
      e_rq_col   = tb_rd_req_col;
      e_rq_addr  = tb_rd_req_addr;
      e_rq_mask  = tb_rd_req_mask;
      e_rs_ready = tb_rd_rsp_ready;
    end else begin
      e_rq_valid = s_rq_valid && !st_rq;
      e_rq_buf   = s_rq_buf;
      e_rq_bank  = s_rq_bank;
      e_rq_lane  = s_rq_lane;
      e_rq_col   = s_rq_col;
      e_rq_addr  = s_rq_addr;
      e_rq_mask  = s_rq_mask;
      e_rs_ready = s_rs_ready && !st_rs;
    end
  end
  assign s_rq_ready      = !tb_rd_sel && e_rq_ready && !st_rq;
  assign s_rs_valid      = !tb_rd_sel && e_rs_valid && !st_rs;
  assign tb_rd_req_ready = tb_rd_sel && e_rq_ready;
  assign tb_rd_rsp_valid = tb_rd_sel && e_rs_valid;
  assign tb_rd_rsp_data  = e_rs_data;
  assign tb_rd_rsp_mask  = e_rs_mask;

  // ---------------------------------------------------------------------------------------------
  // Monitors and perf counters.
  // ---------------------------------------------------------------------------------------------
  assign mon_rd_cmd_fire = rd_cmd_valid && rd_cmd_ready;
  assign mon_wr_cmd_fire = wr_cmd_valid && wr_cmd_ready;
  assign mon_ld_fire     = e_ld_valid && e_ld_ready;
  assign mon_ld_fill     = mon_ld_fire && l_fill;
  assign mon_rq_fire     = s_rq_valid && s_rq_ready;

  always_ff @(posedge clk) begin
    if (!rst_n || abort) begin
      ld_quiet_bad <= 1'b0;
      st_quiet_bad <= 1'b0;
    end else begin
      if (ld_err_valid && (mon_rd_cmd_fire || mon_ld_fire)) ld_quiet_bad <= 1'b1;
      if (st_err_valid && (mon_wr_cmd_fire || mon_rq_fire || (wrs_valid && wrs_ready)))
        st_quiet_bad <= 1'b1;
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n) cycle <= 32'd0;
    else        cycle <= cycle + 32'd1;
    if (!rst_n || perf_clear) begin
      ld_beats  <= 32'd0;
      wrs_beats <= 32'd0;
      ld_first  <= 32'd0;
      ld_last   <= 32'd0;
      wrs_first <= 32'd0;
      wrs_last  <= 32'd0;
    end else begin
      if (mon_ld_fire && !l_fill) begin
        ld_beats <= ld_beats + 32'd1;
        ld_last  <= cycle;
        if (ld_beats == 32'd0) ld_first <= cycle;
      end
      if (wrs_valid && wrs_ready) begin
        wrs_beats <= wrs_beats + 32'd1;
        wrs_last  <= cycle;
        if (wrs_beats == 32'd0) wrs_first <= cycle;
      end
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Units.
  // ---------------------------------------------------------------------------------------------
  /* verilator lint_off PINCONNECTEMPTY */
  axi_dma #(
    .DATA_W          (DATA_W),
    .ADDR_W          (ADDR_W),
    .ID_W            (4),
    .LEN_W           (32),
    .MAX_BURST       (MAX_BURST),
    .MAX_OUTSTANDING (MAX_OUTSTANDING),
    .QUEUE_DEPTH     (QUEUE_DEPTH)
  ) u_dma (
    .clk            (clk),
    .rst_n          (rst_n),
    .soft_reset     (abort),
    .win_base       (win_base),
    .win_limit      (win_limit),
    .rd_cmd_valid   (rd_cmd_valid),
    .rd_cmd_ready   (rd_cmd_ready),
    .rd_cmd_addr    (rd_cmd_addr),
    .rd_cmd_len     (rd_cmd_len),
    .rds_valid      (rds_valid),
    .rds_ready      (rds_ready),
    .rds_data       (rds_data),
    .rds_keep       (rds_keep),
    .rds_last       (rds_last),
    .rds_err        (rds_err),
    .rd_done_valid  (rd_done_valid),
    .rd_done_ready  (rd_done_ready),
    .rd_done_status (rd_done_status),
    .rd_done_addr   (rd_done_addr),
    .rd_busy        (rd_busy),
    .wr_cmd_valid   (wr_cmd_valid),
    .wr_cmd_ready   (wr_cmd_ready),
    .wr_cmd_addr    (wr_cmd_addr),
    .wr_cmd_len     (wr_cmd_len),
    .wrs_valid      (wrs_valid),
    .wrs_ready      (wrs_ready),
    .wrs_data       (wrs_data),
    .wr_done_valid  (wr_done_valid),
    .wr_done_ready  (wr_done_ready),
    .wr_done_status (wr_done_status),
    .wr_done_addr   (wr_done_addr),
    .wr_busy        (wr_busy),
    .cnt_clear      (1'b0),
    .cnt_rd_beats   (),
    .cnt_wr_beats   (),
    .cnt_rd_bursts  (),
    .cnt_wr_bursts  (),
    .cnt_rd_stall   (),
    .cnt_wr_stall   (),
    .m_axi_awid     (m_axi_awid),
    .m_axi_awaddr   (m_axi_awaddr),
    .m_axi_awlen    (m_axi_awlen),
    .m_axi_awsize   (m_axi_awsize),
    .m_axi_awburst  (m_axi_awburst),
    .m_axi_awlock   (m_axi_awlock),
    .m_axi_awcache  (m_axi_awcache),
    .m_axi_awprot   (m_axi_awprot),
    .m_axi_awqos    (m_axi_awqos),
    .m_axi_awvalid  (m_axi_awvalid),
    .m_axi_awready  (m_axi_awready),
    .m_axi_wdata    (m_axi_wdata),
    .m_axi_wstrb    (m_axi_wstrb),
    .m_axi_wlast    (m_axi_wlast),
    .m_axi_wvalid   (m_axi_wvalid),
    .m_axi_wready   (m_axi_wready),
    .m_axi_bid      (m_axi_bid),
    .m_axi_bresp    (m_axi_bresp),
    .m_axi_bvalid   (m_axi_bvalid),
    .m_axi_bready   (m_axi_bready),
    .m_axi_arid     (m_axi_arid),
    .m_axi_araddr   (m_axi_araddr),
    .m_axi_arlen    (m_axi_arlen),
    .m_axi_arsize   (m_axi_arsize),
    .m_axi_arburst  (m_axi_arburst),
    .m_axi_arlock   (m_axi_arlock),
    .m_axi_arcache  (m_axi_arcache),
    .m_axi_arprot   (m_axi_arprot),
    .m_axi_arqos    (m_axi_arqos),
    .m_axi_arvalid  (m_axi_arvalid),
    .m_axi_arready  (m_axi_arready),
    .m_axi_rid      (m_axi_rid),
    .m_axi_rdata    (m_axi_rdata),
    .m_axi_rresp    (m_axi_rresp),
    .m_axi_rlast    (m_axi_rlast),
    .m_axi_rvalid   (m_axi_rvalid),
    .m_axi_rready   (m_axi_rready)
  );

  eftrain_loader #(
    .TM       (TM),
    .TN       (TN),
    .WPB      (WPB),
    .ADDR_W   (ADDR_W),
    .LEN_W    (32),
    .OP_DEPTH (OP_DEPTH)
  ) u_ld (
    .clk              (clk),
    .rst_n            (rst_n),
    .abort            (abort),
    .clear            (clear),
    .op_valid         (ld_op_valid),
    .op_ready         (ld_op_ready),
    .op_kind          (ld_op_kind),
    .op_buf           (ld_op_buf),
    .op_bank          (ld_op_bank),
    .op_addr          (ld_op_addr),
    .op_nseg          (ld_op_nseg),
    .op_seg_words     (ld_op_seg_words),
    .op_seg_stride    (ld_op_seg_stride),
    .op_base          (ld_op_base),
    .op_width         (ld_op_width),
    .op_col_step      (ld_op_col_step),
    .op_row_step      (ld_op_row_step),
    .op_count         (ld_op_count),
    .op_k             (ld_op_k),
    .op_flip          (ld_op_flip),
    .op_wait_computed (ld_op_wait_computed),
    .op_wait_stored   (ld_op_wait_stored),
    .computed_cnt     (computed),
    .stored_cnt       (stored_cnt),
    .loaded_cnt       (loaded_cnt),
    .busy             (ld_busy),
    .err_valid        (ld_err_valid),
    .err_status       (ld_err_status),
    .err_addr         (ld_err_addr),
    .rd_cmd_valid     (rd_cmd_valid),
    .rd_cmd_ready     (rd_cmd_ready),
    .rd_cmd_addr      (rd_cmd_addr),
    .rd_cmd_len       (rd_cmd_len),
    .rds_valid        (rds_valid),
    .rds_ready        (rds_ready),
    .rds_data         (rds_data),
    .rds_keep         (rds_keep),
    .rds_last         (rds_last),
    .rds_err          (rds_err),
    .rd_done_valid    (rd_done_valid),
    .rd_done_ready    (rd_done_ready),
    .rd_done_status   (rd_done_status),
    .rd_done_addr     (rd_done_addr),
    .ld_valid         (l_valid),
    .ld_ready         (l_ready),
    .ld_buf           (l_buf),
    .ld_bank          (l_bank),
    .ld_lane          (l_lane),
    .ld_col           (l_col),
    .ld_k             (l_k),
    .ld_kh            (l_kh),
    .ld_kw            (l_kw),
    .ld_flip          (l_flip),
    .ld_addr          (l_addr),
    .ld_mask          (l_mask),
    .ld_data          (l_data),
    .ld_fill          (l_fill),
    .ld_count         (l_count)
  );

  eftrain_storer #(
    .TM       (TM),
    .TN       (TN),
    .WPB      (WPB),
    .ADDR_W   (ADDR_W),
    .LEN_W    (32),
    .OP_DEPTH (OP_DEPTH)
  ) u_st (
    .clk              (clk),
    .rst_n            (rst_n),
    .abort            (abort),
    .clear            (clear),
    .op_valid         (st_op_valid),
    .op_ready         (st_op_ready),
    .op_kind          (st_op_kind),
    .op_bank          (st_op_bank),
    .op_addr          (st_op_addr),
    .op_nseg          (st_op_nseg),
    .op_seg_words     (st_op_seg_words),
    .op_seg_stride    (st_op_seg_stride),
    .op_base          (st_op_base),
    .op_npix          (st_op_npix),
    .op_lanes_valid   (st_op_lanes_valid),
    .op_relu          (1'b0),           // ReLU stores are checked end to end in tb/top
    .op_k             (st_op_k),
    .op_rows_valid    (st_op_rows_valid),
    .op_cols_valid    (st_op_cols_valid),
    .op_wait_computed (st_op_wait_computed),
    .computed_cnt     (computed),
    .stored_cnt       (stored_cnt),
    .busy             (st_busy),
    .err_valid        (st_err_valid),
    .err_status       (st_err_status),
    .err_addr         (st_err_addr),
    .wr_cmd_valid     (wr_cmd_valid),
    .wr_cmd_ready     (wr_cmd_ready),
    .wr_cmd_addr      (wr_cmd_addr),
    .wr_cmd_len       (wr_cmd_len),
    .wrs_valid        (wrs_valid),
    .wrs_ready        (wrs_ready),
    .wrs_data         (wrs_data),
    .wr_done_valid    (wr_done_valid),
    .wr_done_ready    (wr_done_ready),
    .wr_done_status   (wr_done_status),
    .wr_done_addr     (wr_done_addr),
    .rd_req_valid     (s_rq_valid),
    .rd_req_ready     (s_rq_ready),
    .rd_req_buf       (s_rq_buf),
    .rd_req_bank      (s_rq_bank),
    .rd_req_lane      (s_rq_lane),
    .rd_req_col       (s_rq_col),
    .rd_req_addr      (s_rq_addr),
    .rd_req_mask      (s_rq_mask),
    .rd_rsp_valid     (s_rs_valid),
    .rd_rsp_ready     (s_rs_ready),
    .rd_rsp_data      (e_rs_data),
    .rd_rsp_mask      (e_rs_mask)
  );

  eftrain_engine #(
    .TM        (TM),
    .TN        (TN),
    .ACC_L     (ACC_L),
    .MUL_LAT   (MUL_LAT),
    .ADD_LAT   (ADD_LAT),
    .IN_DEPTH  (IN_DEPTH),
    .OUT_DEPTH (OUT_DEPTH),
    .W_DEPTH   (W_DEPTH),
    .WPB       (WPB)
  ) u_eng (
    .clk          (clk),
    .rst_n        (rst_n),
    .cmd_valid    (1'b0),
    .cmd_ready    (),
    .cmd_mode     (3'd0),
    .cmd_k        (3'd1),
    .cmd_stride   (3'd1),
    .cmd_rows_out (16'd1),
    .cmd_cols_out (16'd1),
    .cmd_cols_in  (16'd1),
    .cmd_in_bank  (1'b0),
    .cmd_out_bank (1'b0),
    .cmd_in_base  (16'd0),
    .cmd_out_base (16'd0),
    .cmd_w_base   (16'd0),
    .cmd_acc_init (2'd0),
    .cmd_wu_t0    (8'd0),
    .busy         (),
    .done         (),
    .done_err     (),
    .done_cycles  (),
    .mac_active   (),
    .ld_valid     (e_ld_valid),
    .ld_ready     (e_ld_ready),
    .ld_buf       (l_buf),
    .ld_bank      (l_bank),
    .ld_lane      (l_lane),
    .ld_col       (l_col),
    .ld_k         (l_k),
    .ld_kh        (l_kh),
    .ld_kw        (l_kw),
    .ld_flip      (l_flip),
    .ld_addr      (l_addr),
    .ld_mask      (l_mask),
    .ld_data      (l_data),
    .ld_fill      (l_fill),
    .ld_count     (l_count),
    .fill_busy    (),
    .rd_req_valid (e_rq_valid),
    .rd_req_ready (e_rq_ready),
    .rd_req_buf   (e_rq_buf),
    .rd_req_bank  (e_rq_bank),
    .rd_req_lane  (e_rq_lane),
    .rd_req_col   (e_rq_col),
    .rd_req_addr  (e_rq_addr),
    .rd_req_mask  (e_rq_mask),
    .rd_rsp_valid (e_rs_valid),
    .rd_rsp_ready (e_rs_ready),
    .rd_rsp_data  (e_rs_data),
    .rd_rsp_mask  (e_rs_mask)
  );
  /* verilator lint_on PINCONNECTEMPTY */

endmodule

`default_nettype wire
