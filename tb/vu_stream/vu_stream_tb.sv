// EF-Train, open: simulation wrapper of the streaming vector unit for tb/vu_stream/test_vu_stream.py
// (simulation only).
//
//   DRAM model (cocotb, m_axi_*) <-> axi_dma <-> eftrain_vu_stream
//
// The unit's op fields, done / busy / error outputs and `abort` are top-level ports; `abort` also
// drives the DMA's soft_reset, as in the top level. Monitors for the test:
//   cycle                 free-running cycle counter
//   rd_beats, wr_beats    read-stream / write-stream handshakes since perf_clear
//   first_cyc, last_cyc   cycle of the first and the last of those handshakes since perf_clear
//   done_cnt              done pulses since perf_clear
//   quiet_bad             sticky (cleared by abort): a DMA command or a write-stream beat of the
//                         unit in a cycle where its err_valid was high (a failed unit must be silent)

`timescale 1ns / 1ps
`default_nettype none

module vu_stream_tb #(
  parameter int TN              = 4,
  parameter int WPB             = 4,
  parameter int ACC_L           = 4,
  parameter int MUL_LAT         = 2,
  parameter int ADD_LAT         = 3,
  parameter int CHUNK           = 32,
  parameter int FIFO_DEPTH      = 128,
  parameter int ADDR_W          = 40,
  parameter int MAX_BURST       = 256,
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

  input  wire logic                start,
  input  wire logic [7:0]          op,
  input  wire logic [7:0]          flags,
  input  wire logic [15:0]         batch,
  input  wire logic [15:0]         ch,
  input  wire logic [15:0]         h,
  input  wire logic [15:0]         w,
  input  wire logic [3:0]          k,
  input  wire logic [3:0]          stride,
  input  wire logic [31:0]         count,
  input  wire logic [ADDR_W-1:0]   src0,
  input  wire logic [ADDR_W-1:0]   src1,
  input  wire logic [ADDR_W-1:0]   src2,
  input  wire logic [ADDR_W-1:0]   dst,
  input  wire logic [31:0]         s0,
  input  wire logic [31:0]         s1,
  input  wire logic [31:0]         s2,
  // External gradient stream of an SGD with ext_g (WU's fused SGD); 0 when the tests leave it.
  input  wire logic                ext_g,
  input  wire logic                g_valid,
  output      logic                g_ready,
  input  wire logic [32*WPB-1:0]   g_data,
  output      logic                done,
  output      logic                busy,
  output      logic                err_valid,
  output      logic [3:0]          err_status,
  output      logic                rd_busy,
  output      logic                wr_busy,

  // Monitors.
  input  wire logic                perf_clear,
  output      logic [31:0]         cycle,
  output      logic [31:0]         rd_beats,
  output      logic [31:0]         wr_beats,
  output      logic [31:0]         first_cyc,
  output      logic [31:0]         last_cyc,
  output      logic [31:0]         done_cnt,
  output      logic                quiet_bad,

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

  logic                rd_cmd_valid, rd_cmd_ready, rds_valid, rds_ready, rds_last, rds_err;
  logic [ADDR_W-1:0]   rd_cmd_addr, rd_done_addr, wr_cmd_addr, wr_done_addr;
  logic [31:0]         rd_cmd_len, wr_cmd_len;
  logic [DATA_W-1:0]   rds_data, wrs_data;
  logic [WPB-1:0]      rds_keep;
  logic                rd_done_valid, rd_done_ready, wr_cmd_valid, wr_cmd_ready;
  logic                wrs_valid, wrs_ready, wr_done_valid, wr_done_ready;
  logic [3:0]          rd_done_status, wr_done_status;

  // ---------------------------------------------------------------------------------------------
  // Monitors.
  // ---------------------------------------------------------------------------------------------
  wire rd_beat = rds_valid && rds_ready;
  wire wr_beat = wrs_valid && wrs_ready;

  always_ff @(posedge clk) begin
    if (!rst_n) cycle <= 32'd0;
    else        cycle <= cycle + 32'd1;
    if (!rst_n || perf_clear) begin
      rd_beats  <= 32'd0;
      wr_beats  <= 32'd0;
      first_cyc <= 32'd0;
      last_cyc  <= 32'd0;
      done_cnt  <= 32'd0;
    end else begin
      if (rd_beat) rd_beats <= rd_beats + 32'd1;
      if (wr_beat) wr_beats <= wr_beats + 32'd1;
      if ((rd_beat || wr_beat) && rd_beats == 32'd0 && wr_beats == 32'd0) first_cyc <= cycle;
      if (rd_beat || wr_beat) last_cyc <= cycle;
      if (done) done_cnt <= done_cnt + 32'd1;
    end
    if (!rst_n || abort) begin
      quiet_bad <= 1'b0;
    end else if (err_valid && ((rd_cmd_valid && rd_cmd_ready) || (wr_cmd_valid && wr_cmd_ready)
                               || wr_beat)) begin
      quiet_bad <= 1'b1;
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
  /* verilator lint_on PINCONNECTEMPTY */

  eftrain_vu_stream #(
    .TN         (TN),
    .WPB        (WPB),
    .ACC_L      (ACC_L),
    .MUL_LAT    (MUL_LAT),
    .ADD_LAT    (ADD_LAT),
    .ADDR_W     (ADDR_W),
    .LEN_W      (32),
    .CHUNK      (CHUNK),
    .FIFO_DEPTH (FIFO_DEPTH)
  ) u_vu (
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
    .count          (count),
    .src0           (src0),
    .src1           (src1),
    .src2           (src2),
    .dst            (dst),
    .s0             (s0),
    .s1             (s1),
    .s2             (s2),
    .ext_g          (ext_g),
    .g_valid        (g_valid),
    .g_ready        (g_ready),
    .g_data         (g_data),
    .done           (done),
    .busy           (busy),
    .err_valid      (err_valid),
    .err_status     (err_status),
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
    .wr_done_addr   (wr_done_addr)
  );

endmodule

`default_nettype wire
