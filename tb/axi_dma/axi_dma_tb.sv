// EF-Train, open: simulation wrapper of axi_dma for tb/axi_dma/test_axi_dma.py (simulation only).
//
// Three axi_dma instances with different parameters share one Verilator build (the C++ compile
// of a model costs far more than its simulation here). Instance g lives in generate block
// g_dma[g]; its ports are the same-named nets of that block, which cocotb drives and observes
// (dut.g_dma[g].rd_cmd_valid, ...). Only clk and rst_n are shared. The instances a test does not
// use see all-zero inputs and stay idle.
//
// Parameters: D<g>_<NAME> for instance g = 0, 1, 2 (test_axi_dma.CONFIGS passes them).

`timescale 1ns / 1ps
`default_nettype none

module axi_dma_tb #(
  parameter int D0_DATA_W          = 128,
  parameter int D0_ADDR_W          = 40,
  parameter int D0_MAX_BURST       = 256,
  parameter int D0_MAX_OUTSTANDING = 8,
  parameter int D0_QUEUE_DEPTH     = 4,
  parameter int D1_DATA_W          = 32,
  parameter int D1_ADDR_W          = 64,
  parameter int D1_MAX_BURST       = 256,
  parameter int D1_MAX_OUTSTANDING = 4,
  parameter int D1_QUEUE_DEPTH     = 2,
  parameter int D2_DATA_W          = 64,
  parameter int D2_ADDR_W          = 32,
  parameter int D2_MAX_BURST       = 16,
  parameter int D2_MAX_OUTSTANDING = 2,
  parameter int D2_QUEUE_DEPTH     = 4
) (
  input  wire logic clk,
  input  wire logic rst_n
);

  for (genvar g = 0; g < 3; g++) begin : g_dma
    localparam int DATA_W = (g == 0) ? D0_DATA_W : (g == 1) ? D1_DATA_W : D2_DATA_W;
    localparam int ADDR_W = (g == 0) ? D0_ADDR_W : (g == 1) ? D1_ADDR_W : D2_ADDR_W;
    localparam int MAX_BURST = (g == 0) ? D0_MAX_BURST : (g == 1) ? D1_MAX_BURST : D2_MAX_BURST;
    localparam int MAX_OUTSTANDING =
        (g == 0) ? D0_MAX_OUTSTANDING : (g == 1) ? D1_MAX_OUTSTANDING : D2_MAX_OUTSTANDING;
    localparam int QUEUE_DEPTH =
        (g == 0) ? D0_QUEUE_DEPTH : (g == 1) ? D1_QUEUE_DEPTH : D2_QUEUE_DEPTH;
    localparam int ID_W  = 4;
    localparam int LEN_W = 32;
    localparam int CNT_W = 32;

    logic soft_reset;
    logic [ADDR_W-1:0] win_base;
    logic [ADDR_W-1:0] win_limit;
    logic rd_cmd_valid;
    logic rd_cmd_ready;
    logic [ADDR_W-1:0] rd_cmd_addr;
    logic [LEN_W-1:0] rd_cmd_len;
    logic rds_valid;
    logic rds_ready;
    logic [DATA_W-1:0] rds_data;
    logic [DATA_W/32-1:0] rds_keep;
    logic rds_last;
    logic rds_err;
    logic rd_done_valid;
    logic rd_done_ready;
    logic [3:0] rd_done_status;
    logic [ADDR_W-1:0] rd_done_addr;
    logic rd_busy;
    logic wr_cmd_valid;
    logic wr_cmd_ready;
    logic [ADDR_W-1:0] wr_cmd_addr;
    logic [LEN_W-1:0] wr_cmd_len;
    logic wrs_valid;
    logic wrs_ready;
    logic [DATA_W-1:0] wrs_data;
    logic wr_done_valid;
    logic wr_done_ready;
    logic [3:0] wr_done_status;
    logic [ADDR_W-1:0] wr_done_addr;
    logic wr_busy;
    logic cnt_clear;
    logic [CNT_W-1:0] cnt_rd_beats;
    logic [CNT_W-1:0] cnt_wr_beats;
    logic [CNT_W-1:0] cnt_rd_bursts;
    logic [CNT_W-1:0] cnt_wr_bursts;
    logic [CNT_W-1:0] cnt_rd_stall;
    logic [CNT_W-1:0] cnt_wr_stall;
    logic [ID_W-1:0] m_axi_awid;
    logic [ADDR_W-1:0] m_axi_awaddr;
    logic [7:0] m_axi_awlen;
    logic [2:0] m_axi_awsize;
    logic [1:0] m_axi_awburst;
    logic m_axi_awlock;
    logic [3:0] m_axi_awcache;
    logic [2:0] m_axi_awprot;
    logic [3:0] m_axi_awqos;
    logic m_axi_awvalid;
    logic m_axi_awready;
    logic [DATA_W-1:0] m_axi_wdata;
    logic [DATA_W/8-1:0] m_axi_wstrb;
    logic m_axi_wlast;
    logic m_axi_wvalid;
    logic m_axi_wready;
    logic [ID_W-1:0] m_axi_bid;
    logic [1:0] m_axi_bresp;
    logic m_axi_bvalid;
    logic m_axi_bready;
    logic [ID_W-1:0] m_axi_arid;
    logic [ADDR_W-1:0] m_axi_araddr;
    logic [7:0] m_axi_arlen;
    logic [2:0] m_axi_arsize;
    logic [1:0] m_axi_arburst;
    logic m_axi_arlock;
    logic [3:0] m_axi_arcache;
    logic [2:0] m_axi_arprot;
    logic [3:0] m_axi_arqos;
    logic m_axi_arvalid;
    logic m_axi_arready;
    logic [ID_W-1:0] m_axi_rid;
    logic [DATA_W-1:0] m_axi_rdata;
    logic [1:0] m_axi_rresp;
    logic m_axi_rlast;
    logic m_axi_rvalid;
    logic m_axi_rready;

    axi_dma #(
      .DATA_W          (DATA_W),
      .ADDR_W          (ADDR_W),
      .ID_W            (ID_W),
      .LEN_W           (LEN_W),
      .MAX_BURST       (MAX_BURST),
      .MAX_OUTSTANDING (MAX_OUTSTANDING),
      .QUEUE_DEPTH     (QUEUE_DEPTH),
      .CNT_W           (CNT_W)
    ) u_dma (
      .clk             (clk),
      .rst_n           (rst_n),
      .soft_reset      (soft_reset),
      .win_base        (win_base),
      .win_limit       (win_limit),
      .rd_cmd_valid    (rd_cmd_valid),
      .rd_cmd_ready    (rd_cmd_ready),
      .rd_cmd_addr     (rd_cmd_addr),
      .rd_cmd_len      (rd_cmd_len),
      .rds_valid       (rds_valid),
      .rds_ready       (rds_ready),
      .rds_data        (rds_data),
      .rds_keep        (rds_keep),
      .rds_last        (rds_last),
      .rds_err         (rds_err),
      .rd_done_valid   (rd_done_valid),
      .rd_done_ready   (rd_done_ready),
      .rd_done_status  (rd_done_status),
      .rd_done_addr    (rd_done_addr),
      .rd_busy         (rd_busy),
      .wr_cmd_valid    (wr_cmd_valid),
      .wr_cmd_ready    (wr_cmd_ready),
      .wr_cmd_addr     (wr_cmd_addr),
      .wr_cmd_len      (wr_cmd_len),
      .wrs_valid       (wrs_valid),
      .wrs_ready       (wrs_ready),
      .wrs_data        (wrs_data),
      .wr_done_valid   (wr_done_valid),
      .wr_done_ready   (wr_done_ready),
      .wr_done_status  (wr_done_status),
      .wr_done_addr    (wr_done_addr),
      .wr_busy         (wr_busy),
      .cnt_clear       (cnt_clear),
      .cnt_rd_beats    (cnt_rd_beats),
      .cnt_wr_beats    (cnt_wr_beats),
      .cnt_rd_bursts   (cnt_rd_bursts),
      .cnt_wr_bursts   (cnt_wr_bursts),
      .cnt_rd_stall    (cnt_rd_stall),
      .cnt_wr_stall    (cnt_wr_stall),
      .m_axi_awid      (m_axi_awid),
      .m_axi_awaddr    (m_axi_awaddr),
      .m_axi_awlen     (m_axi_awlen),
      .m_axi_awsize    (m_axi_awsize),
      .m_axi_awburst   (m_axi_awburst),
      .m_axi_awlock    (m_axi_awlock),
      .m_axi_awcache   (m_axi_awcache),
      .m_axi_awprot    (m_axi_awprot),
      .m_axi_awqos     (m_axi_awqos),
      .m_axi_awvalid   (m_axi_awvalid),
      .m_axi_awready   (m_axi_awready),
      .m_axi_wdata     (m_axi_wdata),
      .m_axi_wstrb     (m_axi_wstrb),
      .m_axi_wlast     (m_axi_wlast),
      .m_axi_wvalid    (m_axi_wvalid),
      .m_axi_wready    (m_axi_wready),
      .m_axi_bid       (m_axi_bid),
      .m_axi_bresp     (m_axi_bresp),
      .m_axi_bvalid    (m_axi_bvalid),
      .m_axi_bready    (m_axi_bready),
      .m_axi_arid      (m_axi_arid),
      .m_axi_araddr    (m_axi_araddr),
      .m_axi_arlen     (m_axi_arlen),
      .m_axi_arsize    (m_axi_arsize),
      .m_axi_arburst   (m_axi_arburst),
      .m_axi_arlock    (m_axi_arlock),
      .m_axi_arcache   (m_axi_arcache),
      .m_axi_arprot    (m_axi_arprot),
      .m_axi_arqos     (m_axi_arqos),
      .m_axi_arvalid   (m_axi_arvalid),
      .m_axi_arready   (m_axi_arready),
      .m_axi_rid       (m_axi_rid),
      .m_axi_rdata     (m_axi_rdata),
      .m_axi_rresp     (m_axi_rresp),
      .m_axi_rlast     (m_axi_rlast),
      .m_axi_rvalid    (m_axi_rvalid),
      .m_axi_rready    (m_axi_rready)
    );
  end

endmodule

`default_nettype wire
