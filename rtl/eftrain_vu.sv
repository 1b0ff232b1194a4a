// EF-Train, open: the vector unit. Runs every descriptor that is not a convolution (opcodes 0x07
// .. 0x0F of eftrain/descriptors.py) with the bit-exact arithmetic of eftrain/golden/vector.py:
//
//   eftrain_vu_stream  RELU_BP, global AVGPOOL_FP/BP (Flag.GLOBAL), BN_FP, BN_BP, BIAS_GRAD, SGD:
//                      everything that streams through the DMA in address order (per-channel
//                      reductions with ACC_L interleaved partial sums)
//   eftrain_vu_pool    MAXPOOL_FP/BP and windowed AVGPOOL_FP/BP: one (image, channel block)
//                      plane at a time through a BUF_DEPTH-word plane buffer
//
// One descriptor runs at a time: `start` picks the unit by opcode and flags; the unit owns the
// DMA's read and write sides until `done` (or an error) and the other unit sees start = 0 and
// every ready low. Ports and their meaning: the two units' (identical) interface, documented in
// rtl/eftrain_vu_stream.sv; `busy` and the error outputs are the selected unit's.
//
// Parameters
//   TN, WPB, ACC_L, MUL_LAT, ADD_LAT   as the engine (HwConfig tn, words_per_beat, ...)
//   BUF_DEPTH                          the pooling plane buffer in words (HwConfig.vu_buf_depth)
//   ADDR_W, LEN_W                      DMA address and length bits (axi_dma)

`default_nettype none

module eftrain_vu #(
  parameter int TN        = 4,
  parameter int WPB       = 4,
  parameter int ACC_L     = 4,
  parameter int MUL_LAT   = 2,
  parameter int ADD_LAT   = 3,
  parameter int BUF_DEPTH = 4096,
  parameter int ADDR_W    = 40,
  parameter int LEN_W     = 32
) (
  input  wire logic                clk,
  input  wire logic                rst_n,
  /* verilator lint_off SYMRSVDWORD */
  input  wire logic                abort,
  /* verilator lint_on SYMRSVDWORD */
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
  input  wire logic                ext_g,      // SGD: g from the g_* stream (eftrain_vu_stream)
  output      logic                done,
  output      logic                busy,
  output      logic                err_valid,
  output      logic [3:0]          err_status,
  // DMA read side
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
  // DMA write side
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
  // External gradient stream of an SGD with ext_g (the stream unit's; WU's fused SGD)
  input  wire logic                g_valid,
  output      logic                g_ready,
  input  wire logic [32*WPB-1:0]   g_data
);

  localparam logic [7:0] OP_MAXPOOL_FP = 8'h08;
  localparam logic [7:0] OP_MAXPOOL_BP = 8'h09;
  localparam logic [7:0] OP_AVGPOOL_FP = 8'h0A;
  localparam logic [7:0] OP_AVGPOOL_BP = 8'h0B;
  localparam logic [7:0] FLAG_GLOBAL   = 8'h04;

  // The pooling unit takes the windowed pools; the stream unit everything else.
  logic to_pool, sel_pool;
  assign to_pool = (op == OP_MAXPOOL_FP) || (op == OP_MAXPOOL_BP)
                   || (((op == OP_AVGPOOL_FP) || (op == OP_AVGPOOL_BP)) && ((flags & FLAG_GLOBAL) == 8'd0));

  always_ff @(posedge clk) begin
    if (!rst_n) sel_pool <= 1'b0;
    else if (start) sel_pool <= to_pool;
  end

  // Per unit: start, outputs.
  logic               st_done, st_busy, st_err, pl_done, pl_busy, pl_err;
  logic [3:0]         st_err_status, pl_err_status;
  logic               st_rd_cmd_valid, pl_rd_cmd_valid, st_rds_ready, pl_rds_ready;
  logic               st_rd_done_ready, pl_rd_done_ready, st_wr_cmd_valid, pl_wr_cmd_valid;
  logic               st_wrs_valid, pl_wrs_valid, st_wr_done_ready, pl_wr_done_ready;
  logic [ADDR_W-1:0]  st_rd_cmd_addr, pl_rd_cmd_addr, st_wr_cmd_addr, pl_wr_cmd_addr;
  logic [LEN_W-1:0]   st_rd_cmd_len, pl_rd_cmd_len, st_wr_cmd_len, pl_wr_cmd_len;
  logic [32*WPB-1:0]  st_wrs_data, pl_wrs_data;

  // The selected unit (sel_pool holds from start to the next start; the start cycle itself
  // routes nothing: a unit issues its first command at the earliest one cycle after start).
  assign done          = sel_pool ? pl_done : st_done;
  assign busy          = st_busy || pl_busy;
  assign err_valid     = sel_pool ? pl_err : st_err;
  assign err_status    = sel_pool ? pl_err_status : st_err_status;
  assign rd_cmd_valid  = sel_pool ? pl_rd_cmd_valid : st_rd_cmd_valid;
  assign rd_cmd_addr   = sel_pool ? pl_rd_cmd_addr : st_rd_cmd_addr;
  assign rd_cmd_len    = sel_pool ? pl_rd_cmd_len : st_rd_cmd_len;
  assign rds_ready     = sel_pool ? pl_rds_ready : st_rds_ready;
  assign rd_done_ready = sel_pool ? pl_rd_done_ready : st_rd_done_ready;
  assign wr_cmd_valid  = sel_pool ? pl_wr_cmd_valid : st_wr_cmd_valid;
  assign wr_cmd_addr   = sel_pool ? pl_wr_cmd_addr : st_wr_cmd_addr;
  assign wr_cmd_len    = sel_pool ? pl_wr_cmd_len : st_wr_cmd_len;
  assign wrs_valid     = sel_pool ? pl_wrs_valid : st_wrs_valid;
  assign wrs_data      = sel_pool ? pl_wrs_data : st_wrs_data;
  assign wr_done_ready = sel_pool ? pl_wr_done_ready : st_wr_done_ready;

  eftrain_vu_stream #(
    .TN(TN), .WPB(WPB), .ACC_L(ACC_L), .MUL_LAT(MUL_LAT), .ADD_LAT(ADD_LAT),
    .ADDR_W(ADDR_W), .LEN_W(LEN_W)
  ) u_stream (
    .clk, .rst_n, .abort,
    .start          (start && !to_pool),
    .op, .flags, .batch, .ch, .h, .w, .k, .stride, .count, .src0, .src1, .src2, .dst, .s0, .s1, .s2,
    .ext_g,
    .done           (st_done),
    .busy           (st_busy),
    .err_valid      (st_err),
    .err_status     (st_err_status),
    .rd_cmd_valid   (st_rd_cmd_valid),
    .rd_cmd_ready   (rd_cmd_ready && !sel_pool),
    .rd_cmd_addr    (st_rd_cmd_addr),
    .rd_cmd_len     (st_rd_cmd_len),
    .rds_valid      (rds_valid && !sel_pool),
    .rds_ready      (st_rds_ready),
    .rds_data, .rds_keep, .rds_last, .rds_err,
    .rd_done_valid  (rd_done_valid && !sel_pool),
    .rd_done_ready  (st_rd_done_ready),
    .rd_done_status, .rd_done_addr,
    .wr_cmd_valid   (st_wr_cmd_valid),
    .wr_cmd_ready   (wr_cmd_ready && !sel_pool),
    .wr_cmd_addr    (st_wr_cmd_addr),
    .wr_cmd_len     (st_wr_cmd_len),
    .wrs_valid      (st_wrs_valid),
    .wrs_ready      (wrs_ready && !sel_pool),
    .wrs_data       (st_wrs_data),
    .wr_done_valid  (wr_done_valid && !sel_pool),
    .wr_done_ready  (st_wr_done_ready),
    .wr_done_status, .wr_done_addr,
    .g_valid, .g_ready, .g_data
  );

  eftrain_vu_pool #(
    .TN(TN), .WPB(WPB), .ACC_L(ACC_L), .MUL_LAT(MUL_LAT), .ADD_LAT(ADD_LAT), .BUF_DEPTH(BUF_DEPTH),
    .ADDR_W(ADDR_W), .LEN_W(LEN_W)
  ) u_pool (
    .clk, .rst_n, .abort,
    .start          (start && to_pool),
    .op, .flags, .batch, .ch, .h, .w, .k, .stride, .count, .src0, .src1, .src2, .dst, .s0, .s1, .s2,
    .done           (pl_done),
    .busy           (pl_busy),
    .err_valid      (pl_err),
    .err_status     (pl_err_status),
    .rd_cmd_valid   (pl_rd_cmd_valid),
    .rd_cmd_ready   (rd_cmd_ready && sel_pool),
    .rd_cmd_addr    (pl_rd_cmd_addr),
    .rd_cmd_len     (pl_rd_cmd_len),
    .rds_valid      (rds_valid && sel_pool),
    .rds_ready      (pl_rds_ready),
    .rds_data, .rds_keep, .rds_last, .rds_err,
    .rd_done_valid  (rd_done_valid && sel_pool),
    .rd_done_ready  (pl_rd_done_ready),
    .rd_done_status, .rd_done_addr,
    .wr_cmd_valid   (pl_wr_cmd_valid),
    .wr_cmd_ready   (wr_cmd_ready && sel_pool),
    .wr_cmd_addr    (pl_wr_cmd_addr),
    .wr_cmd_len     (pl_wr_cmd_len),
    .wrs_valid      (pl_wrs_valid),
    .wrs_ready      (wrs_ready && sel_pool),
    .wrs_data       (pl_wrs_data),
    .wr_done_valid  (wr_done_valid && sel_pool),
    .wr_done_ready  (pl_wr_done_ready),
    .wr_done_status, .wr_done_addr
  );

endmodule

`default_nettype wire
