// EF-Train, open: the accelerator top level. One AXI4 master (DRAM), one AXI4-Lite slave (the
// register map of rtl/regs/eftrain_csr.rdl, docs/registers.md), one interrupt line.
//
//   eftrain_csr ──► control FSM ──► descriptor fetch (DMA read of 16 words)
//                        │          eftrain_desc_check (hardware validation, eftrain.descriptors)
//                        ▼
//                  eftrain_layer_seq ──► load ops ──► eftrain_loader  ──► engine load port
//                                    ──► commands ──► compute issuer  ──► engine commands
//                                    ──► store ops ──► eftrain_storer ◄── engine unload port
//                  eftrain_vu (vector unit: pooling, batch norm, ReLU mask, bias gradient, SGD)
//                  axi_dma (one AXI4 master): read side shared by the fetch, the loader and the
//                  vector unit, write side by the storer and the vector unit (the vector unit
//                  owns both while it runs a descriptor, C_VRUN).
//
// Fused SGD (CONV_WU / FC_WU with Flag.SGD: src2 = momentum buffer v, dst = the weights w): the
// storer's dW tiles do not go to DRAM. The sequencer stores them in ascending address order, each
// once, covering the weight tensor, so the whole update is one SGD op of the vector unit's stream
// unit with ext_g, started with the first store: g is the storer's stream (straight from the
// engine), v and w are read ahead in address order, w' and v' written back. Meanwhile the loader
// keeps loading the next chunk: the DMA's read side is shared by the loader and the vector unit
// (commands alternate when both wait; in-order tags route the beats and completions back), the
// write side belongs to the vector unit. Same bits as WU followed by an SGD descriptor over the
// tensor (eftrain.machine), without the dW tensor's write and re-read.
//
// Running a program (docs/registers.md has the host's view): CTRL.START with PROG_COUNT = 0
// completes at once (STATUS.DONE, no error). Otherwise the program must be beat-aligned and lie
// inside the window, else it stops with MISALIGNED_ADDR / OUT_OF_WINDOW at index 0 before any
// fetch. Each descriptor is fetched, validated (the first failing rule's code stops the program
// with the descriptor's index; nothing of it runs, nothing is written), then run to completion
// (every store written back) before the next one is fetched. An AXI error response (SLVERR,
// DECERR) stops the program with AXI_SLVERR / AXI_DECERR; CTRL.SOFT_RESET while busy stops it
// with SOFT_RESET_ABORT. Stopping on an error aborts everything in flight: the DMA drains the
// AXI bus legally (axi_dma soft reset), the engine, sequencer and movers return to idle; DONE
// (and ERROR) are raised only when the bus is quiet. START is ignored while STATUS.BUSY.
//
// The DMA window is [WINDOW_BASE, WINDOW_LIMIT) clamped to the AXI address space
// [0, 2^ADDR_W - 64): descriptor validation uses the same clamped window, so no DMA access can
// leave it (the DMA checks every command again).
//
// Parameters: the hardware configuration (eftrain.config.HwConfig.rtl_parameters()).
// Requirements (elaboration errors): TM == TN, TN a multiple of the bus words WPB, ACC_L a power
// of two (see eftrain_layer_seq).

`default_nettype none

module eftrain_top #(
  parameter int TM        = 4,
  parameter int TN        = 4,
  parameter int ACC_L     = 4,
  parameter int MUL_LAT   = 2,
  parameter int ADD_LAT   = 3,
  parameter int IN_DEPTH  = 4096,
  parameter int OUT_DEPTH = 2048,
  parameter int W_DEPTH   = 1024,
  parameter int WPB       = 4,        // bus words: AXI data width = 32*WPB
  parameter int ID_W      = 4,
  parameter int OP_FIFO_DEPTH = 8,
  parameter int VU_DEPTH  = 4096      // vector unit plane buffer (words; HwConfig.vu_buf_depth)
) (
  input  wire logic                  clk,
  input  wire logic                  rst_n,
  output      logic                  irq,

  // AXI4-Lite register slave.
  output      logic                  s_axil_awready,
  input  wire logic                  s_axil_awvalid,
  input  wire logic [11:0]           s_axil_awaddr,
  input  wire logic [2:0]            s_axil_awprot,
  output      logic                  s_axil_wready,
  input  wire logic                  s_axil_wvalid,
  input  wire logic [31:0]           s_axil_wdata,
  input  wire logic [3:0]            s_axil_wstrb,
  input  wire logic                  s_axil_bready,
  output      logic                  s_axil_bvalid,
  output      logic [1:0]            s_axil_bresp,
  output      logic                  s_axil_arready,
  input  wire logic                  s_axil_arvalid,
  input  wire logic [11:0]           s_axil_araddr,
  input  wire logic [2:0]            s_axil_arprot,
  input  wire logic                  s_axil_rready,
  output      logic                  s_axil_rvalid,
  output      logic [31:0]           s_axil_rdata,
  output      logic [1:0]            s_axil_rresp,

  // AXI4 master (DRAM).
  output      logic [ID_W-1:0]       m_axi_awid,
  output      logic [39:0]           m_axi_awaddr,
  output      logic [7:0]            m_axi_awlen,
  output      logic [2:0]            m_axi_awsize,
  output      logic [1:0]            m_axi_awburst,
  output      logic                  m_axi_awlock,
  output      logic [3:0]            m_axi_awcache,
  output      logic [2:0]            m_axi_awprot,
  output      logic [3:0]            m_axi_awqos,
  output      logic                  m_axi_awvalid,
  input  wire logic                  m_axi_awready,
  output      logic [32*WPB-1:0]     m_axi_wdata,
  output      logic [4*WPB-1:0]      m_axi_wstrb,
  output      logic                  m_axi_wlast,
  output      logic                  m_axi_wvalid,
  input  wire logic                  m_axi_wready,
  input  wire logic [ID_W-1:0]       m_axi_bid,
  input  wire logic [1:0]            m_axi_bresp,
  input  wire logic                  m_axi_bvalid,
  output      logic                  m_axi_bready,
  output      logic [ID_W-1:0]       m_axi_arid,
  output      logic [39:0]           m_axi_araddr,
  output      logic [7:0]            m_axi_arlen,
  output      logic [2:0]            m_axi_arsize,
  output      logic [1:0]            m_axi_arburst,
  output      logic                  m_axi_arlock,
  output      logic [3:0]            m_axi_arcache,
  output      logic [2:0]            m_axi_arprot,
  output      logic [3:0]            m_axi_arqos,
  output      logic                  m_axi_arvalid,
  input  wire logic                  m_axi_arready,
  input  wire logic [ID_W-1:0]       m_axi_rid,
  input  wire logic [32*WPB-1:0]     m_axi_rdata,
  input  wire logic [1:0]            m_axi_rresp,
  input  wire logic                  m_axi_rlast,
  input  wire logic                  m_axi_rvalid,
  output      logic                  m_axi_rready
);
  localparam int ADDR_W     = eftrain_top_pkg::ADDR_W;
  localparam int LEN_W      = eftrain_top_pkg::LEN_W;
  localparam int AW         = ADDR_W;
  localparam int DATA_W     = 32 * WPB;
  localparam int BEAT_BYTES = 4 * WPB;
  localparam logic [63:0] SPACE_TOP = 64'((64'd1 << AW) - 64'd64);

  // Error codes (rtl/regs/eftrain_csr.rdl, enum err_code_e).
  localparam logic [7:0] E_MISALIGNED_ADDR  = 8'd7;
  localparam logic [7:0] E_OUT_OF_WINDOW    = 8'd8;
  localparam logic [7:0] E_AXI_SLVERR       = 8'd9;
  localparam logic [7:0] E_AXI_DECERR       = 8'd10;
  localparam logic [7:0] E_SOFT_RESET_ABORT = 8'd11;
  localparam logic [7:0] E_INTERNAL         = 8'd255;
  // Opcodes from RELU_BP (0x07) on run on the vector unit (eftrain/descriptors.py).
  localparam logic [7:0] OP_FIRST_VECTOR    = 8'h07;
  localparam logic [7:0] OP_CONV_WU         = 8'h03;
  localparam logic [7:0] OP_FC_WU           = 8'h06;
  localparam logic [7:0] OP_SGD             = 8'h0F;
  localparam int         FL_SGD             = 3;       // Flag.SGD = 0x08

  if (TM != TN) begin : g_bad_square
    $error("eftrain_top: the reshaped feature-map layout needs TM == TN");
  end
  if (TN % WPB != 0) begin : g_bad_wpb
    $error("eftrain_top: TN must be a multiple of the bus words WPB");
  end
  if ((1 << $clog2(ACC_L)) != ACC_L) begin : g_bad_l
    $error("eftrain_top: ACC_L must be a power of two");
  end

  // DMA status -> error code.
  function automatic logic [7:0] dma_code(input logic [3:0] status);
    case (status)
      4'd3:    dma_code = E_OUT_OF_WINDOW;
      4'd4:    dma_code = E_AXI_SLVERR;
      4'd5:    dma_code = E_AXI_DECERR;
      default: dma_code = E_INTERNAL;
    endcase
  endfunction

  // ---------------------------------------------------------------------------------------------
  // Register block.
  logic        ctrl_start, ctrl_soft_reset;
  /* verilator lint_off UNUSEDSIGNAL */     // handshake/status outputs kept for debug visibility
  logic        ctrl_clear_counters;        // the register block clears its counters itself
  logic        chk_busy, seq_busy, e_fill_busy;
  /* verilator lint_on UNUSEDSIGNAL */
  logic        done_pulse, error_pulse;
  logic [7:0]  err_code;
  logic [23:0] err_index;
  logic [31:0] prog_base_lo, prog_base_hi, win_base_lo, win_base_hi, win_limit_lo, win_limit_hi;
  logic [23:0] prog_count;
  logic        busy;
  logic        cnt_mac, cnt_rd_beat, cnt_wr_beat, cnt_rd_burst, cnt_wr_burst, cnt_stall;

  eftrain_csr u_csr (
    .clk                               (clk),
    .rst_n                             (rst_n),
    .s_axil_awready, .s_axil_awvalid, .s_axil_awaddr, .s_axil_awprot,
    .s_axil_wready, .s_axil_wvalid, .s_axil_wdata, .s_axil_wstrb,
    .s_axil_bready, .s_axil_bvalid, .s_axil_bresp,
    .s_axil_arready, .s_axil_arvalid, .s_axil_araddr, .s_axil_arprot,
    .s_axil_rready, .s_axil_rvalid, .s_axil_rdata, .s_axil_rresp,
    .hwif_in_done_pulse                (done_pulse),
    .hwif_in_error_pulse               (error_pulse),
    .hwif_out_ctrl_start               (ctrl_start),
    .hwif_out_ctrl_soft_reset          (ctrl_soft_reset),
    .hwif_out_ctrl_clear_counters      (ctrl_clear_counters),
    .hwif_in_status_busy               (busy),
    .hwif_in_err_code_code             (err_code),
    .hwif_in_err_code_index            (err_index),
    .hwif_out_irq_status_intr          (irq),
    .hwif_out_prog_base_lo_addr        (prog_base_lo),
    .hwif_out_prog_base_hi_addr        (prog_base_hi),
    .hwif_out_prog_count_count         (prog_count),
    .hwif_out_window_base_lo_addr      (win_base_lo),
    .hwif_out_window_base_hi_addr      (win_base_hi),
    .hwif_out_window_limit_lo_addr     (win_limit_lo),
    .hwif_out_window_limit_hi_addr     (win_limit_hi),
    .hwif_in_hw_array_tm               (16'(TM)),
    .hwif_in_hw_array_tn               (16'(TN)),
    .hwif_in_hw_pipe_acc_l             (8'(ACC_L)),
    .hwif_in_hw_pipe_mul_lat           (8'(MUL_LAT)),
    .hwif_in_hw_pipe_add_lat           (8'(ADD_LAT)),
    .hwif_in_hw_in_depth_value         (32'(IN_DEPTH)),
    .hwif_in_hw_out_depth_value        (32'(OUT_DEPTH)),
    .hwif_in_hw_w_depth_value          (32'(W_DEPTH)),
    .hwif_in_hw_bus_bus_bits           (16'(DATA_W)),
    .hwif_in_cycles_count_incr         (1'b1),
    .hwif_in_busy_cycles_count_incr    (busy),
    .hwif_in_mac_cycles_count_incr     (cnt_mac),
    .hwif_in_axi_rd_beats_count_incr   (cnt_rd_beat),
    .hwif_in_axi_wr_beats_count_incr   (cnt_wr_beat),
    .hwif_in_axi_rd_bursts_count_incr  (cnt_rd_burst),
    .hwif_in_axi_wr_bursts_count_incr  (cnt_wr_burst),
    .hwif_in_stall_cycles_count_incr   (cnt_stall)
  );

  // ---------------------------------------------------------------------------------------------
  // Control state.
  typedef enum logic [3:0] {
    C_IDLE, C_PROG_CHECK, C_FETCH_CMD, C_FETCH_DATA, C_CHECK_START, C_CHECK_WAIT, C_RUN,
    C_VRUN, C_ABORT, C_DRAIN, C_FINISH
  } cstate_t;
  cstate_t cs;

  logic [63:0]   prog_base, win_base, win_limit, prog_bytes;
  logic [23:0]   count, idx;
  logic [511:0]  desc_words;
  logic [4:0]    fetch_words;
  logic          fetch_done_seen, fetch_last_seen;
  logic [3:0]    fetch_status;
  logic [7:0]    stop_code;
  logic          abort_pulse;           // one-cycle core reset (DMA soft reset, units idle)

  // Effective window (clamped to the AXI address space).
  logic [63:0] win_base_eff, win_limit_eff;
  assign win_limit_eff = (win_limit > SPACE_TOP) ? SPACE_TOP : win_limit;
  assign win_base_eff  = win_base;

  assign busy = (cs != C_IDLE);

  // ---------------------------------------------------------------------------------------------
  // DMA.
  logic              rd_cmd_valid, rd_cmd_ready;
  logic [AW-1:0]     rd_cmd_addr;
  logic [LEN_W-1:0]  rd_cmd_len;
  logic              rds_valid, rds_ready, rds_last, rds_err;
  logic [DATA_W-1:0] rds_data;
  logic [WPB-1:0]    rds_keep;
  logic              rd_done_valid, rd_done_ready;
  logic [3:0]        rd_done_status;
  logic [AW-1:0]     rd_done_addr;
  logic              rd_busy, wr_busy;
  logic              wr_cmd_valid, wr_cmd_ready;
  logic [AW-1:0]     wr_cmd_addr;
  logic [LEN_W-1:0]  wr_cmd_len;
  logic              wrs_valid, wrs_ready;
  logic [DATA_W-1:0] wrs_data;
  logic              wr_done_valid, wr_done_ready;
  logic [3:0]        wr_done_status;
  logic [AW-1:0]     wr_done_addr;

  // The DMA's own counters are not used: the register block counts the AXI handshakes.
  /* verilator lint_off PINCONNECTEMPTY */
  axi_dma #(
    .DATA_W(DATA_W), .ADDR_W(AW), .ID_W(ID_W), .LEN_W(LEN_W)
  ) u_dma (
    .clk, .rst_n,
    .soft_reset    (abort_pulse),
    .win_base      (win_base_eff[AW-1:0]),
    .win_limit     (win_limit_eff[AW-1:0]),
    .rd_cmd_valid, .rd_cmd_ready, .rd_cmd_addr, .rd_cmd_len,
    .rds_valid, .rds_ready, .rds_data, .rds_keep, .rds_last, .rds_err,
    .rd_done_valid, .rd_done_ready, .rd_done_status, .rd_done_addr,
    .rd_busy,
    .wr_cmd_valid, .wr_cmd_ready, .wr_cmd_addr, .wr_cmd_len,
    .wrs_valid, .wrs_ready, .wrs_data,
    .wr_done_valid, .wr_done_ready, .wr_done_status, .wr_done_addr,
    .wr_busy,
    .cnt_clear     (1'b0),
    .cnt_rd_beats  (), .cnt_wr_beats (), .cnt_rd_bursts (), .cnt_wr_bursts (),
    .cnt_rd_stall  (), .cnt_wr_stall (),
    .m_axi_awid, .m_axi_awaddr, .m_axi_awlen, .m_axi_awsize, .m_axi_awburst, .m_axi_awlock,
    .m_axi_awcache, .m_axi_awprot, .m_axi_awqos, .m_axi_awvalid, .m_axi_awready,
    .m_axi_wdata, .m_axi_wstrb, .m_axi_wlast, .m_axi_wvalid, .m_axi_wready,
    .m_axi_bid, .m_axi_bresp, .m_axi_bvalid, .m_axi_bready,
    .m_axi_arid, .m_axi_araddr, .m_axi_arlen, .m_axi_arsize, .m_axi_arburst, .m_axi_arlock,
    .m_axi_arcache, .m_axi_arprot, .m_axi_arqos, .m_axi_arvalid, .m_axi_arready,
    .m_axi_rid, .m_axi_rdata, .m_axi_rresp, .m_axi_rlast, .m_axi_rvalid, .m_axi_rready
  );
  /* verilator lint_on PINCONNECTEMPTY */

  assign cnt_rd_beat  = m_axi_rvalid && m_axi_rready;
  assign cnt_wr_beat  = m_axi_wvalid && m_axi_wready;
  assign cnt_rd_burst = m_axi_arvalid && m_axi_arready;
  assign cnt_wr_burst = m_axi_awvalid && m_axi_awready;

  // Read side: the descriptor fetch owns it in C_FETCH_*, the vector unit in C_VRUN, the loader
  // otherwise. Write side: the vector unit in C_VRUN, the storer otherwise.
  wire fetching = (cs == C_FETCH_CMD) || (cs == C_FETCH_DATA);
  wire vrun     = (cs == C_VRUN);
  logic              ld_rd_cmd_valid, ld_rds_ready, ld_rd_done_ready;
  logic [AW-1:0]     ld_rd_cmd_addr;
  logic [LEN_W-1:0]  ld_rd_cmd_len;
  logic              vu_rd_cmd_valid, vu_rds_ready, vu_rd_done_ready;
  logic [AW-1:0]     vu_rd_cmd_addr;
  logic [LEN_W-1:0]  vu_rd_cmd_len;
  logic              st_wr_cmd_valid, st_wrs_valid, st_wr_done_ready;
  logic [AW-1:0]     st_wr_cmd_addr;
  logic [LEN_W-1:0]  st_wr_cmd_len;
  logic [DATA_W-1:0] st_wrs_data;
  logic              vu_wr_cmd_valid, vu_wrs_valid, vu_wr_done_ready;
  logic [AW-1:0]     vu_wr_cmd_addr;
  logic [LEN_W-1:0]  vu_wr_cmd_len;
  logic [DATA_W-1:0] vu_wrs_data;

  // A layer with fused SGD (frun): the read side is shared by the loader and the vector unit,
  // the write side is the vector unit's (the storer's writes become SGD ops, below).
  wire fuse_desc = ((desc_dec.opcode == OP_CONV_WU) || (desc_dec.opcode == OP_FC_WU))
                   && desc_dec.flags[FL_SGD];
  wire frun      = (cs == C_RUN) && fuse_desc;
  wire vown      = vrun || frun;

  // Read arbiter (frun): the granted command's owner is pushed on two in-order tag queues, one
  // for the stream beats (popped at each command's rds_last beat), one for the completions.
  logic ar_pref_vu, ar_vu_go, ar_ld_go, ar_room, ar_fire;
  logic rt_valid, rt_vu, rt_ready, dt_valid, dt_vu, dt_ready;
  wire  rt_to_vu = rt_valid && rt_vu;
  wire  dt_to_vu = dt_valid && dt_vu;
  assign ar_vu_go = vu_rd_cmd_valid && (!ld_rd_cmd_valid || ar_pref_vu);
  assign ar_ld_go = ld_rd_cmd_valid && !ar_vu_go;
  assign ar_room  = rt_ready && dt_ready;
  assign ar_fire  = frun && ar_room && (ar_vu_go || ar_ld_go) && rd_cmd_ready;

  eftrain_fifo #(.WIDTH(1), .DEPTH(16)) u_rt_q (
    .clk, .rst_n, .clear (abort_pulse),
    .in_valid (ar_fire), .in_ready (rt_ready), .in_data (ar_vu_go),
    .out_valid (rt_valid), .out_ready (frun && rds_valid && rds_ready && rds_last), .out_data (rt_vu)
  );
  eftrain_fifo #(.WIDTH(1), .DEPTH(16)) u_dt_q (
    .clk, .rst_n, .clear (abort_pulse),
    .in_valid (ar_fire), .in_ready (dt_ready), .in_data (ar_vu_go),
    .out_valid (dt_valid), .out_ready (frun && rd_done_valid && rd_done_ready), .out_data (dt_vu)
  );
  always_ff @(posedge clk) begin
    if (!rst_n || abort_pulse) ar_pref_vu <= 1'b0;
    else if (ar_fire)          ar_pref_vu <= !ar_vu_go;   // the other one next time
  end

  assign rd_cmd_valid  = fetching ? (cs == C_FETCH_CMD)
                       : vrun ? vu_rd_cmd_valid
                       : frun ? (ar_room && (ar_vu_go || ar_ld_go)) : ld_rd_cmd_valid;
  assign rd_cmd_addr   = fetching ? AW'(prog_base + 64'(idx) * 64'd64)
                                  : ((vrun || (frun && ar_vu_go)) ? vu_rd_cmd_addr : ld_rd_cmd_addr);
  assign rd_cmd_len    = fetching ? LEN_W'(16)
                                  : ((vrun || (frun && ar_vu_go)) ? vu_rd_cmd_len : ld_rd_cmd_len);
  assign rds_ready     = fetching ? 1'b1
                                  : ((vrun || (frun && rt_to_vu)) ? vu_rds_ready : ld_rds_ready);
  assign rd_done_ready = fetching ? 1'b1
                                  : ((vrun || (frun && dt_to_vu)) ? vu_rd_done_ready : ld_rd_done_ready);
  assign wr_cmd_valid  = vown ? vu_wr_cmd_valid : st_wr_cmd_valid;
  assign wr_cmd_addr   = vown ? vu_wr_cmd_addr : st_wr_cmd_addr;
  assign wr_cmd_len    = vown ? vu_wr_cmd_len : st_wr_cmd_len;
  assign wrs_valid     = vown ? vu_wrs_valid : st_wrs_valid;
  assign wrs_data      = vown ? vu_wrs_data : st_wrs_data;
  assign wr_done_ready = vown ? vu_wr_done_ready : st_wr_done_ready;

  // ---------------------------------------------------------------------------------------------
  // Descriptor validation.
  logic       chk_start, chk_done;
  logic [7:0] chk_code;
  /* verilator lint_off UNUSEDSIGNAL */   // bits 41:32 are 0 for a valid fused WU (validation rule)
  logic [41:0] chk_w_words;
  /* verilator lint_on UNUSEDSIGNAL */

  eftrain_desc_check #(
    .TM(TM), .TN(TN), .ACC_L(ACC_L), .IN_DEPTH(IN_DEPTH), .OUT_DEPTH(OUT_DEPTH),
    .W_DEPTH(W_DEPTH), .BUS_BITS(DATA_W), .VU_DEPTH(VU_DEPTH)
  ) u_check (
    .clk, .rst_n,
    .start     (chk_start),
    .desc      (desc_words),
    .win_base  (win_base_eff),
    .win_limit (win_limit_eff),
    .busy      (chk_busy),
    .done      (chk_done),
    .code      (chk_code),
    .wt_words  (chk_w_words)
  );

  // ---------------------------------------------------------------------------------------------
  // Sequencer and op queues.
  logic        seq_start, seq_emit_done;
  logic [31:0] n_ld, n_cu, n_st;
  logic        sq_ld_valid, sq_ld_ready, sq_cu_valid, sq_cu_ready, sq_st_valid, sq_st_ready;
  eftrain_top_pkg::ld_op_t sq_ld_op, q_ld_op;
  eftrain_top_pkg::cu_op_t sq_cu_op, q_cu_op;
  eftrain_top_pkg::st_op_t sq_st_op, q_st_op;
  logic        q_ld_valid, q_ld_ready, q_cu_valid, q_cu_ready, q_st_valid, q_st_ready;
  logic [31:0] loaded_cnt, computed_cnt, stored_cnt;
  wire         unit_clear = seq_start;

  // The fetched descriptor's fields (eftrain/descriptors.py: word/bit layout). The reserved words
  // and the address bits above ADDR_W were checked by the validator.
  eftrain_top_pkg::desc_t desc_dec;
  always_comb begin
    desc_dec.opcode = desc_words[7:0];
    desc_dec.flags  = desc_words[15:8];
    desc_dec.batch  = desc_words[32 +: 16];
    desc_dec.k      = desc_words[48 +: 4];
    desc_dec.stride = desc_words[52 +: 4];
    desc_dec.pad    = desc_words[56 +: 4];
    desc_dec.m      = desc_words[64 +: 16];
    desc_dec.n      = desc_words[80 +: 16];
    desc_dec.h      = desc_words[96 +: 16];
    desc_dec.w      = desc_words[112 +: 16];
    desc_dec.src0   = desc_words[128 +: ADDR_W];
    desc_dec.src1   = desc_words[192 +: ADDR_W];
    desc_dec.src2   = desc_words[256 +: ADDR_W];
    desc_dec.dst    = desc_words[320 +: ADDR_W];
    desc_dec.tr     = desc_words[384 +: 16];
    desc_dec.chunk  = desc_words[400 +: 16];
  end

  eftrain_layer_seq #(
    .TM(TM), .TN(TN), .ACC_L(ACC_L), .W_DEPTH(W_DEPTH)
  ) u_seq (
    .clk, .rst_n,
    .flush     (abort_pulse),
    .start     (seq_start),
    .desc      (desc_dec),
    .busy      (seq_busy),
    .emit_done (seq_emit_done),
    .n_ld, .n_cu, .n_st,
    .ld_valid  (sq_ld_valid), .ld_ready (sq_ld_ready), .ld_op (sq_ld_op),
    .cu_valid  (sq_cu_valid), .cu_ready (sq_cu_ready), .cu_op (sq_cu_op),
    .st_valid  (sq_st_valid), .st_ready (sq_st_ready), .st_op (sq_st_op)
  );

  eftrain_fifo #(.WIDTH($bits(sq_ld_op)), .DEPTH(OP_FIFO_DEPTH)) u_ld_q (
    .clk, .rst_n, .clear (abort_pulse),
    .in_valid (sq_ld_valid), .in_ready (sq_ld_ready), .in_data (sq_ld_op),
    .out_valid (q_ld_valid), .out_ready (q_ld_ready), .out_data (q_ld_op)
  );
  eftrain_fifo #(.WIDTH($bits(sq_cu_op)), .DEPTH(OP_FIFO_DEPTH)) u_cu_q (
    .clk, .rst_n, .clear (abort_pulse),
    .in_valid (sq_cu_valid), .in_ready (sq_cu_ready), .in_data (sq_cu_op),
    .out_valid (q_cu_valid), .out_ready (q_cu_ready), .out_data (q_cu_op)
  );
  eftrain_fifo #(.WIDTH($bits(sq_st_op)), .DEPTH(OP_FIFO_DEPTH)) u_st_q (
    .clk, .rst_n, .clear (abort_pulse),
    .in_valid (sq_st_valid), .in_ready (sq_st_ready), .in_data (sq_st_op),
    .out_valid (q_st_valid), .out_ready (q_st_ready), .out_data (q_st_op)
  );

  // ---------------------------------------------------------------------------------------------
  // Engine.
  wire engine_rst_n = rst_n && !abort_pulse;
  logic             e_cmd_valid, e_cmd_ready, e_busy, e_done, e_mac;
  logic [3:0]       e_done_err;
  logic             e_ld_valid, e_ld_ready, e_ld_bank, e_ld_flip, e_ld_fill;
  logic [1:0]       e_ld_buf;
  logic [7:0]       e_ld_lane, e_ld_col;
  logic [2:0]       e_ld_k, e_ld_kh, e_ld_kw;
  logic [15:0]      e_ld_addr, e_ld_count;
  logic [WPB-1:0]   e_ld_mask;
  logic [DATA_W-1:0] e_ld_data;
  logic             e_rq_valid, e_rq_ready, e_rq_bank;
  logic [1:0]       e_rq_buf;
  logic [7:0]       e_rq_lane, e_rq_col;
  logic [15:0]      e_rq_addr;
  logic [WPB-1:0]   e_rq_mask, e_rsp_mask;
  logic             e_rsp_valid, e_rsp_ready;
  logic [DATA_W-1:0] e_rsp_data;

  /* verilator lint_off PINCONNECTEMPTY */   // done_cycles, err_addr: diagnostics not used here
  eftrain_engine #(
    .TM(TM), .TN(TN), .ACC_L(ACC_L), .MUL_LAT(MUL_LAT), .ADD_LAT(ADD_LAT),
    .IN_DEPTH(IN_DEPTH), .OUT_DEPTH(OUT_DEPTH), .W_DEPTH(W_DEPTH), .WPB(WPB)
  ) u_engine (
    .clk,
    .rst_n        (engine_rst_n),
    .cmd_valid    (e_cmd_valid),
    .cmd_ready    (e_cmd_ready),
    .cmd_mode     (q_cu_op.mode),
    .cmd_k        (q_cu_op.k),
    .cmd_stride   (q_cu_op.stride),
    .cmd_rows_out (q_cu_op.rows_out),
    .cmd_cols_out (q_cu_op.cols_out),
    .cmd_cols_in  (q_cu_op.cols_in),
    .cmd_in_bank  (q_cu_op.in_bank),
    .cmd_out_bank (q_cu_op.out_bank),
    .cmd_in_base  (16'd0),
    .cmd_out_base (16'd0),
    .cmd_w_base   (q_cu_op.w_base),
    .cmd_acc_init (q_cu_op.acc_init),
    .cmd_wu_t0    (q_cu_op.wu_t0),
    .busy         (e_busy),
    .done         (e_done),
    .done_err     (e_done_err),
    .done_cycles  (),
    .mac_active   (e_mac),
    .ld_valid     (e_ld_valid),
    .ld_ready     (e_ld_ready),
    .ld_buf       (e_ld_buf),
    .ld_bank      (e_ld_bank),
    .ld_lane      (e_ld_lane),
    .ld_col       (e_ld_col),
    .ld_k         (e_ld_k),
    .ld_kh        (e_ld_kh),
    .ld_kw        (e_ld_kw),
    .ld_flip      (e_ld_flip),
    .ld_addr      (e_ld_addr),
    .ld_mask      (e_ld_mask),
    .ld_data      (e_ld_data),
    .ld_fill      (e_ld_fill),
    .ld_count     (e_ld_count),
    .fill_busy    (e_fill_busy),
    .rd_req_valid (e_rq_valid),
    .rd_req_ready (e_rq_ready),
    .rd_req_buf   (e_rq_buf),
    .rd_req_bank  (e_rq_bank),
    .rd_req_lane  (e_rq_lane),
    .rd_req_col   (e_rq_col),
    .rd_req_addr  (e_rq_addr),
    .rd_req_mask  (e_rq_mask),
    .rd_rsp_valid (e_rsp_valid),
    .rd_rsp_ready (e_rsp_ready),
    .rd_rsp_data  (e_rsp_data),
    .rd_rsp_mask  (e_rsp_mask)
  );

  // Compute issuer: the head command goes to the engine once its gates are met; commands
  // complete in order, one done pulse each.
  wire cu_gate = (loaded_cnt >= q_cu_op.wait_loaded) && (stored_cnt >= q_cu_op.wait_stored);
  assign e_cmd_valid = q_cu_valid && cu_gate;
  assign q_cu_ready  = e_cmd_valid && e_cmd_ready;
  logic cu_err;
  always_ff @(posedge clk) begin
    if (!rst_n || abort_pulse || unit_clear) begin
      computed_cnt <= '0;
      cu_err       <= 1'b0;
    end else if (e_done) begin
      computed_cnt <= computed_cnt + 32'd1;
      if (e_done_err != 4'd0) cu_err <= 1'b1;
    end
  end

  assign cnt_mac   = e_mac;
  assign cnt_stall = (cs == C_RUN) && !e_busy && q_cu_valid && !cu_gate;

  // ---------------------------------------------------------------------------------------------
  // Loader and storer.
  logic       ld_err, st_err, ld_busy, st_busy;
  logic [2:0] ld_err_status, st_err_status;

  eftrain_loader #(
    .TM(TM), .TN(TN), .WPB(WPB), .ADDR_W(AW), .LEN_W(LEN_W)
  ) u_loader (
    .clk, .rst_n,
    .abort            (abort_pulse),
    .clear            (unit_clear),
    .op_valid         (q_ld_valid),
    .op_ready         (q_ld_ready),
    .op_kind          (q_ld_op.kind),
    .op_buf           (q_ld_op.buf_sel),
    .op_bank          (q_ld_op.bank),
    .op_addr          (q_ld_op.addr),
    .op_nseg          (q_ld_op.nseg),
    .op_seg_words     (q_ld_op.seg_words),
    .op_seg_stride    (q_ld_op.seg_stride),
    .op_base          (q_ld_op.base),
    .op_width         (q_ld_op.width),
    .op_col_step      (q_ld_op.col_step),
    .op_row_step      (q_ld_op.row_step),
    .op_count         (q_ld_op.count),
    .op_k             (q_ld_op.k),
    .op_flip          (q_ld_op.flip),
    .op_wait_computed (q_ld_op.wait_computed),
    .op_wait_stored   (q_ld_op.wait_stored),
    .computed_cnt     (computed_cnt),
    .stored_cnt       (stored_cnt),
    .loaded_cnt       (loaded_cnt),
    .rd_cmd_valid     (ld_rd_cmd_valid),
    // (frun: not granted only when the vector unit waits and has the turn; written without the
    // loader's own valid, which its ready must not depend on.)
    .rd_cmd_ready     (rd_cmd_ready && !fetching && !vrun
                       && (!frun || (ar_room && !(vu_rd_cmd_valid && ar_pref_vu)))),
    .rd_cmd_addr      (ld_rd_cmd_addr),
    .rd_cmd_len       (ld_rd_cmd_len),
    .rds_valid        (rds_valid && !fetching && !vrun && !(frun && rt_to_vu)),
    .rds_ready        (ld_rds_ready),
    .rds_data         (rds_data),
    .rds_keep         (rds_keep),
    .rds_last         (rds_last),
    .rds_err          (rds_err),
    .rd_done_valid    (rd_done_valid && !fetching && !vrun && !(frun && dt_to_vu)),
    .rd_done_ready    (ld_rd_done_ready),
    .rd_done_status   (rd_done_status),
    .rd_done_addr     (rd_done_addr),
    .ld_valid         (e_ld_valid),
    .ld_ready         (e_ld_ready),
    .ld_buf           (e_ld_buf),
    .ld_bank          (e_ld_bank),
    .ld_lane          (e_ld_lane),
    .ld_col           (e_ld_col),
    .ld_k             (e_ld_k),
    .ld_kh            (e_ld_kh),
    .ld_kw            (e_ld_kw),
    .ld_flip          (e_ld_flip),
    .ld_addr          (e_ld_addr),
    .ld_mask          (e_ld_mask),
    .ld_data          (e_ld_data),
    .ld_fill          (e_ld_fill),
    .ld_count         (e_ld_count),
    .busy             (ld_busy),
    .err_valid        (ld_err),
    .err_status       (ld_err_status),
    .err_addr         ()
  );

  eftrain_storer #(
    .TM(TM), .TN(TN), .WPB(WPB), .ADDR_W(AW), .LEN_W(LEN_W),
    .DROP_LATE_RSP(1'b0)     // the abort pulse also resets the engine (engine_rst_n)
  ) u_storer (
    .clk, .rst_n,
    .abort            (abort_pulse),
    .clear            (unit_clear),
    .op_valid         (q_st_valid),
    .op_ready         (q_st_ready),
    .op_kind          (q_st_op.kind),
    .op_bank          (q_st_op.bank),
    .op_addr          (q_st_op.addr),
    .op_nseg          (q_st_op.nseg),
    .op_seg_words     (q_st_op.seg_words),
    .op_seg_stride    (q_st_op.seg_stride),
    .op_base          (q_st_op.base),
    .op_npix          (q_st_op.npix),
    .op_lanes_valid   (q_st_op.lanes_valid),
    .op_relu          (q_st_op.relu),
    .op_k             (q_st_op.k),
    .op_rows_valid    (q_st_op.rows_valid),
    .op_cols_valid    (q_st_op.cols_valid),
    .op_wait_computed (q_st_op.wait_computed),
    .computed_cnt     (computed_cnt),
    .stored_cnt       (stored_cnt),
    .wr_cmd_valid     (st_wr_cmd_valid),
    .wr_cmd_ready     (frun ? f_take : (wr_cmd_ready && !vrun)),
    .wr_cmd_addr      (st_wr_cmd_addr),
    .wr_cmd_len       (st_wr_cmd_len),
    .wrs_valid        (st_wrs_valid),
    .wrs_ready        (frun ? f_g_ready : (wrs_ready && !vrun)),
    .wrs_data         (st_wrs_data),
    .wr_done_valid    (frun ? f_done_pend : (wr_done_valid && !vrun)),
    .wr_done_ready    (st_wr_done_ready),
    .wr_done_status   (frun ? 4'd0 : wr_done_status),
    .wr_done_addr,
    .rd_req_valid     (e_rq_valid),
    .rd_req_ready     (e_rq_ready),
    .rd_req_buf       (e_rq_buf),
    .rd_req_bank      (e_rq_bank),
    .rd_req_lane      (e_rq_lane),
    .rd_req_col       (e_rq_col),
    .rd_req_addr      (e_rq_addr),
    .rd_req_mask      (e_rq_mask),
    .rd_rsp_valid     (e_rsp_valid),
    .rd_rsp_ready     (e_rsp_ready),
    .rd_rsp_data      (e_rsp_data),
    .rd_rsp_mask      (e_rsp_mask),
    .busy             (st_busy),
    .err_valid        (st_err),
    .err_status       (st_err_status),
    .err_addr         ()
  );

  /* verilator lint_on PINCONNECTEMPTY */

  // ---------------------------------------------------------------------------------------------
  // Vector unit (every non-convolution descriptor: eftrain_vu).
  logic        vu_start, vu_done, vu_err;
  logic [3:0]  vu_err_status;
  /* verilator lint_off UNUSEDSIGNAL */
  logic        vu_busy;          // the FSM waits for done (or an error); kept for debug visibility
  /* verilator lint_on UNUSEDSIGNAL */

  // Fused SGD adapter (frun). The sequencer stores a WU's dW tiles in ascending address order,
  // each exactly once, covering the weight tensor (eftrain_layer_seq: mt outer, then the
  // reduction tiles): so the whole tensor is ONE SGD op of the stream unit with ext_g (count =
  // the validator's wt_words, v = src2, w = dst), started with the first store command, whose g
  // stream is the storer's beats, command after command. A store command completes (for the
  // storer, status OK) once all its beats have entered the vector unit: the engine buffer it came
  // from is free again. The layer ends when the op is done (its last write completed); a DMA
  // error stops the program through vu_err.
  logic             f_started, f_busy, f_start, f_done_pend, f_take, f_g_ready, f_g_valid;
  logic [LEN_W-1:0] f_left;
  logic [31:0]      f_count;
  logic             vu_g_ready;
  assign f_take    = !f_done_pend && (f_left == '0);
  assign f_g_valid = (f_left != '0) && st_wrs_valid;
  assign f_g_ready = (f_left != '0) && vu_g_ready;

  always_ff @(posedge clk) begin
    f_start <= 1'b0;
    if (!rst_n || abort_pulse || seq_start) begin
      f_started   <= 1'b0;
      f_busy      <= 1'b0;
      f_done_pend <= 1'b0;
      f_left      <= '0;
    end else if (frun) begin
      if (st_wr_cmd_valid && f_take) begin
        f_left <= st_wr_cmd_len >> $clog2(WPB);
        if (!f_started) begin
          f_started <= 1'b1;
          f_busy    <= 1'b1;
          f_start   <= 1'b1;
        end
      end
      if (f_g_valid && vu_g_ready) begin
        f_left <= f_left - LEN_W'(1);
        if (f_left == LEN_W'(1)) f_done_pend <= 1'b1;
      end
      if (f_busy && vu_done) f_busy <= 1'b0;
      if (f_done_pend && st_wr_done_ready) f_done_pend <= 1'b0;
    end
  end
  assign f_count = 32'(chk_w_words);

  eftrain_vu #(
    .TN(TN), .WPB(WPB), .ACC_L(ACC_L), .MUL_LAT(MUL_LAT), .ADD_LAT(ADD_LAT), .BUF_DEPTH(VU_DEPTH),
    .ADDR_W(AW), .LEN_W(LEN_W)
  ) u_vu (
    .clk, .rst_n,
    .abort          (abort_pulse),
    .start          (vu_start || f_start),
    .op             (frun ? OP_SGD : desc_dec.opcode),
    .flags          (frun ? 8'd0 : desc_dec.flags),
    .batch          (desc_dec.batch),
    .ch             (desc_dec.n),
    .h              (desc_dec.h),
    .w              (desc_dec.w),
    .k              (desc_dec.k),
    .stride         (desc_dec.stride),
    .count          (frun ? f_count : {desc_dec.n, desc_dec.m}),
    .src0           (desc_dec.src0),
    .src1           (frun ? desc_dec.src2 : desc_dec.src1),
    .src2           (desc_dec.src2),
    .dst            (desc_dec.dst),
    .s0             (desc_words[416 +: 32]),
    .s1             (desc_words[448 +: 32]),
    .s2             (desc_words[480 +: 32]),
    .ext_g          (frun),
    .done           (vu_done),
    .busy           (vu_busy),
    .err_valid      (vu_err),
    .err_status     (vu_err_status),
    .rd_cmd_valid   (vu_rd_cmd_valid),
    .rd_cmd_ready   (rd_cmd_ready && (vrun || (frun && ar_room && ar_vu_go))),
    .rd_cmd_addr    (vu_rd_cmd_addr),
    .rd_cmd_len     (vu_rd_cmd_len),
    .rds_valid      (rds_valid && (vrun || (frun && rt_to_vu))),
    .rds_ready      (vu_rds_ready),
    .rds_data, .rds_keep, .rds_last, .rds_err,
    .rd_done_valid  (rd_done_valid && (vrun || (frun && dt_to_vu))),
    .rd_done_ready  (vu_rd_done_ready),
    .rd_done_status, .rd_done_addr,
    .wr_cmd_valid   (vu_wr_cmd_valid),
    .wr_cmd_ready   (wr_cmd_ready && vown),
    .wr_cmd_addr    (vu_wr_cmd_addr),
    .wr_cmd_len     (vu_wr_cmd_len),
    .wrs_valid      (vu_wrs_valid),
    .wrs_ready      (wrs_ready && vown),
    .wrs_data       (vu_wrs_data),
    .wr_done_valid  (wr_done_valid && vown),
    .wr_done_ready  (vu_wr_done_ready),
    .wr_done_status, .wr_done_addr,
    .g_valid        (frun && f_g_valid),
    .g_ready        (vu_g_ready),
    .g_data         (st_wrs_data)
  );

  // ---------------------------------------------------------------------------------------------
  // Control FSM.
  logic emitted;     // the sequencer finished emitting this layer's ops
  wire  layer_done = emitted && (loaded_cnt == n_ld) && (computed_cnt == n_cu)
                     && (stored_cnt == n_st) && !e_busy && !ld_busy && !st_busy
                     && !f_busy && !f_done_pend;

  always_ff @(posedge clk) begin
    done_pulse  <= 1'b0;
    error_pulse <= 1'b0;
    abort_pulse <= 1'b0;
    chk_start   <= 1'b0;
    seq_start   <= 1'b0;
    vu_start    <= 1'b0;
    if (seq_emit_done) emitted <= 1'b1;

    unique case (cs)
      C_IDLE: begin
        if (ctrl_soft_reset) begin
          abort_pulse <= 1'b1;   // idle: reset the core, no completion
        end else if (ctrl_start) begin
          prog_base  <= {prog_base_hi, prog_base_lo};
          win_base   <= {win_base_hi, win_base_lo};
          win_limit  <= {win_limit_hi, win_limit_lo};
          count      <= prog_count;
          prog_bytes <= 64'(prog_count) * 64'd64;
          idx        <= '0;
          stop_code  <= '0;
          cs         <= C_PROG_CHECK;
        end
      end

      C_PROG_CHECK: begin
        if (count == 24'd0) begin
          cs <= C_FINISH;
        end else if (prog_base % 64'(BEAT_BYTES) != 64'd0) begin
          stop_code <= E_MISALIGNED_ADDR;
          cs        <= C_FINISH;
        end else if (prog_base < win_base_eff || prog_bytes > win_limit_eff
                     || prog_base > win_limit_eff - prog_bytes) begin
          stop_code <= E_OUT_OF_WINDOW;
          cs        <= C_FINISH;
        end else begin
          cs <= C_FETCH_CMD;
        end
      end

      C_FETCH_CMD: if (rd_cmd_ready) begin
        fetch_words     <= '0;
        fetch_done_seen <= 1'b0;
        fetch_last_seen <= 1'b0;
        cs <= C_FETCH_DATA;
      end

      C_FETCH_DATA: begin
        // Every read command ends with one rds_last beat (an error beat carries no data) and one
        // completion; both must have been seen (in either order) before the descriptor is used.
        if (rds_valid && rds_last) fetch_last_seen <= 1'b1;
        if (rds_valid && !rds_err && fetch_words < 5'd16) begin
          desc_words[32 * fetch_words +: DATA_W] <= rds_data;
          fetch_words <= fetch_words + 5'(WPB);
        end
        if (rd_done_valid) begin
          fetch_done_seen <= 1'b1;
          fetch_status    <= rd_done_status;
        end
        if (fetch_done_seen && fetch_last_seen) begin
          if (fetch_status != 4'd0) begin
            stop_code <= dma_code(fetch_status);
            cs        <= C_ABORT;
          end else begin
            cs <= C_CHECK_START;
          end
        end
      end

      C_CHECK_START: begin
        chk_start <= 1'b1;
        cs        <= C_CHECK_WAIT;
      end

      C_CHECK_WAIT: if (chk_done) begin
        if (chk_code != 8'd0) begin
          stop_code <= chk_code;
          cs        <= C_FINISH;
        end else if (desc_dec.opcode >= OP_FIRST_VECTOR) begin
          vu_start  <= 1'b1;
          cs        <= C_VRUN;
        end else begin
          seq_start <= 1'b1;
          emitted   <= 1'b0;
          cs        <= C_RUN;
        end
      end

      C_VRUN: begin
        if (vu_err) begin
          stop_code <= dma_code(vu_err_status);
          cs        <= C_ABORT;
        end else if (vu_done) begin
          if (idx + 24'd1 == count) begin
            cs <= C_FINISH;
          end else begin
            idx <= idx + 24'd1;
            cs  <= C_FETCH_CMD;
          end
        end
      end

      C_RUN: begin
        if (ld_err || st_err || cu_err || (fuse_desc && vu_err)) begin
          stop_code <= ld_err ? dma_code({1'b0, ld_err_status})
                     : st_err ? dma_code({1'b0, st_err_status})
                     : (fuse_desc && vu_err) ? dma_code(vu_err_status) : E_INTERNAL;
          cs <= C_ABORT;
        end else if (!seq_start && layer_done) begin
          if (idx + 24'd1 == count) begin
            cs <= C_FINISH;
          end else begin
            idx <= idx + 24'd1;
            cs  <= C_FETCH_CMD;
          end
        end
      end

      C_ABORT: begin
        abort_pulse <= 1'b1;
        cs          <= C_DRAIN;
      end

      C_DRAIN: if (!abort_pulse && !rd_busy && !wr_busy) cs <= C_FINISH;

      C_FINISH: begin
        done_pulse  <= 1'b1;
        error_pulse <= stop_code != 8'd0;
        err_code    <= stop_code;
        err_index   <= idx;
        cs          <= C_IDLE;
      end

      default: cs <= C_IDLE;
    endcase

    // CTRL.SOFT_RESET while busy: stop with SOFT_RESET_ABORT (an error already being reported
    // keeps its code).
    if (ctrl_soft_reset && cs != C_IDLE && cs != C_ABORT && cs != C_DRAIN && cs != C_FINISH) begin
      stop_code <= E_SOFT_RESET_ABORT;
      cs        <= C_ABORT;
    end

    if (!rst_n) begin
      cs             <= C_IDLE;
      done_pulse     <= 1'b0;
      error_pulse    <= 1'b0;
      abort_pulse    <= 1'b0;
      chk_start      <= 1'b0;
      seq_start      <= 1'b0;
      vu_start       <= 1'b0;
      emitted        <= 1'b0;
      err_code       <= '0;
      err_index      <= '0;
      stop_code      <= '0;
    end
  end

endmodule
