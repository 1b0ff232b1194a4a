// EF-Train, open: simulation wrapper of the pooling engine for tb/vu_pool/test_vu_pool.py
// (simulation only).
//
//   DRAM model (cocotb, m_axi_*) <-> axi_dma <-> eftrain_vu_pool
//
// The unit's op inputs and status outputs are top-level ports. As in the top level, `abort`
// drives the unit's abort and the DMA's soft_reset.
//
// Handshake stress (no Python per cycle): the DMA read stream into the unit and the unit's write
// stream into the DMA each stall in a cycle with probability <x>_stall_16 / 16, drawn from
// xorshift32 generators seeded from lfsr_seed.
//
// Monitors: done_cnt counts done pulses (the test polls it), done_cycle / start_cycle record the
// cycle of the last done / start; quiet_bad (cleared by abort) flags a DMA command or a
// write-stream beat of the unit in a cycle where its err_valid is high (a failed unit must be
// silent); rd_cmds / wr_cmds / wr_beats count the unit's DMA commands and write beats.

`timescale 1ns / 1ps
`default_nettype none

module vu_pool_tb #(
  parameter int TN              = 4,
  parameter int WPB             = 4,
  parameter int ACC_L           = 4,
  parameter int MUL_LAT         = 2,
  parameter int ADD_LAT         = 3,
  parameter int BUF_DEPTH       = 4096,
  parameter int ADDR_W          = 40,
  parameter int MAX_BURST       = 64,
  parameter int MAX_OUTSTANDING = 8,
  parameter int QUEUE_DEPTH     = 4
) (
  input  wire logic                clk,
  input  wire logic                rst_n,
  /* verilator lint_off SYMRSVDWORD */   // 'abort' is a C function too; Verilator mangles it
  input  wire logic                abort,
  /* verilator lint_on SYMRSVDWORD */
  input  wire logic [ADDR_W-1:0]   win_base,
  input  wire logic [ADDR_W-1:0]   win_limit,

  // The op.
  input  wire logic                start,
  input  wire logic [7:0]          op,
  input  wire logic [7:0]          flags,
  input  wire logic [15:0]         batch,
  input  wire logic [15:0]         ch,
  input  wire logic [15:0]         h,
  input  wire logic [15:0]         w,
  input  wire logic [3:0]          k,
  input  wire logic [3:0]          stride,
  input  wire logic [ADDR_W-1:0]   src0,
  input  wire logic [ADDR_W-1:0]   src1,
  input  wire logic [ADDR_W-1:0]   src2,
  input  wire logic [ADDR_W-1:0]   dst,
  output      logic                busy,
  output      logic                err_valid,
  output      logic [3:0]          err_status,
  output      logic                rd_busy,
  output      logic                wr_busy,

  // Handshake stress.
  input  wire logic [3:0]          rds_stall_16,
  input  wire logic [3:0]          wrs_stall_16,
  input  wire logic [31:0]         lfsr_seed,

  // Monitors.
  output      logic [31:0]         cycle,
  output      logic [31:0]         done_cnt,
  output      logic [31:0]         done_cycle,
  output      logic [31:0]         start_cycle,
  output      logic                quiet_bad,
  output      logic [31:0]         rd_cmds,
  output      logic [31:0]         wr_cmds,
  output      logic [31:0]         wr_beats,

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

  // DMA <-> unit.
  logic                rd_cmd_valid, rd_cmd_ready, rds_valid, rds_ready, rds_last, rds_err;
  logic [ADDR_W-1:0]   rd_cmd_addr, rd_done_addr, wr_cmd_addr, wr_done_addr;
  logic [31:0]         rd_cmd_len, wr_cmd_len;
  logic [DATA_W-1:0]   rds_data, wrs_data;
  logic [WPB-1:0]      rds_keep;
  logic                rd_done_valid, rd_done_ready, wr_cmd_valid, wr_cmd_ready;
  logic                wrs_valid, wrs_ready, wr_done_valid, wr_done_ready;
  logic [3:0]          rd_done_status, wr_done_status;
  logic                done;

  // Stall gates between the DMA streams and the unit.
  logic                u_rds_valid, u_rds_ready, u_wrs_valid, u_wrs_ready;
  logic [31:0]         x_rd, x_wr;
  logic                st_rd, st_wr;

  function automatic logic [31:0] xorshift(input logic [31:0] x);
    logic [31:0] y;
    y = x ^ (x << 13);
    y = y ^ (y >> 17);
    xorshift = y ^ (y << 5);
  endfunction

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      x_rd <= lfsr_seed | 32'd1;
      x_wr <= (lfsr_seed ^ 32'h9E37_79B9) | 32'd1;
    end else begin
      x_rd <= xorshift(x_rd);
      x_wr <= xorshift(x_wr);
    end
  end
  assign st_rd = (x_rd[7:4] < rds_stall_16);
  assign st_wr = (x_wr[7:4] < wrs_stall_16);

  assign u_rds_valid = rds_valid && !st_rd;
  assign rds_ready   = u_rds_ready && !st_rd;
  assign wrs_valid   = u_wrs_valid && !st_wr;
  assign u_wrs_ready = wrs_ready && !st_wr;

  // Monitors.
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      cycle       <= 32'd0;
      done_cnt    <= 32'd0;
      done_cycle  <= 32'd0;
      start_cycle <= 32'd0;
      rd_cmds     <= 32'd0;
      wr_cmds     <= 32'd0;
      wr_beats    <= 32'd0;
    end else begin
      cycle <= cycle + 32'd1;
      if (done) begin
        done_cnt   <= done_cnt + 32'd1;
        done_cycle <= cycle;
      end
      if (start) start_cycle <= cycle;
      if (rd_cmd_valid && rd_cmd_ready) rd_cmds <= rd_cmds + 32'd1;
      if (wr_cmd_valid && wr_cmd_ready) wr_cmds <= wr_cmds + 32'd1;
      if (u_wrs_valid && u_wrs_ready) wr_beats <= wr_beats + 32'd1;
    end
    if (!rst_n || abort) begin
      quiet_bad <= 1'b0;
    end else if (err_valid && ((rd_cmd_valid && rd_cmd_ready) || (wr_cmd_valid && wr_cmd_ready) ||
                               (u_wrs_valid && u_wrs_ready))) begin
      quiet_bad <= 1'b1;
    end
  end

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
  /* verilator lint_on PINCONNECTEMPTY */

  eftrain_vu_pool #(
    .TN        (TN),
    .WPB       (WPB),
    .ACC_L     (ACC_L),
    .MUL_LAT   (MUL_LAT),
    .ADD_LAT   (ADD_LAT),
    .BUF_DEPTH (BUF_DEPTH),
    .ADDR_W    (ADDR_W),
    .LEN_W     (32)
  ) u_pool (
    .clk            (clk),
    .rst_n          (rst_n),
    .abort          (abort),
    .start          (start),
    .op             (op),
    .flags          (flags),
    .batch          (batch),
    .ch             (ch),
    .h              (h),
    .w              (w),
    .k              (k),
    .stride         (stride),
    .count          (32'd0),
    .src0           (src0),
    .src1           (src1),
    .src2           (src2),
    .dst            (dst),
    .s0             (32'd0),
    .s1             (32'd0),
    .s2             (32'd0),
    .done           (done),
    .busy           (busy),
    .err_valid      (err_valid),
    .err_status     (err_status),
    .rd_cmd_valid   (rd_cmd_valid),
    .rd_cmd_ready   (rd_cmd_ready),
    .rd_cmd_addr    (rd_cmd_addr),
    .rd_cmd_len     (rd_cmd_len),
    .rds_valid      (u_rds_valid),
    .rds_ready      (u_rds_ready),
    .rds_data       (rds_data),
    .rds_keep       (rds_keep),
    .rds_last       (rds_last),
    .rds_err        (rds_err),
    .rd_done_valid  (rd_done_valid),
    .rd_done_ready  (rd_done_ready),
    .rd_done_status (rd_done_status),
    .rd_done_addr   (rd_done_addr),
    .wr_cmd_valid   (wr_cmd_valid),
    .wr_cmd_ready   (wr_cmd_ready),
    .wr_cmd_addr    (wr_cmd_addr),
    .wr_cmd_len     (wr_cmd_len),
    .wrs_valid      (u_wrs_valid),
    .wrs_ready      (u_wrs_ready),
    .wrs_data       (wrs_data),
    .wr_done_valid  (wr_done_valid),
    .wr_done_ready  (wr_done_ready),
    .wr_done_status (wr_done_status),
    .wr_done_addr   (wr_done_addr)
  );

endmodule

`default_nettype wire
