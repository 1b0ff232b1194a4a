// EF-Train, open: fast-mode harness of eftrain_top (simulation only). The DRAM is the behavioural
// AXI memory (axi_mem_model) and the host is a small AXI4-Lite script player, so a whole
// descriptor program runs with no Python per cycle: Python (tb/top/runner.py) writes the memory
// image and the host script, the cocotb test only waits for `finished`, Python reads the results.
//
// Host script (+host_in=<file>, $readmemh, one 64-bit record per line):
//   [63:60] op   0 END, 1 WRITE addr data, 2 READ addr (value logged), 3 WAIT_IRQ (until the
//                interrupt line is high), 4 IDLE data (wait `data` cycles)
//   [43:32] addr (AXI4-Lite byte address), [31:0] data
// Results (+host_out=<file>, $writememh of 64-bit words): [0] 0 = ran to END, 1 = timed out
// (+max_cycles), [1] cycles at END, [2] AXI read beats, [3] AXI write beats, [4] cycle at the
// last WAIT_IRQ's end, [5..] the READ values in script order. At END the memory beats
// [+dump_lo, +dump_hi) are written to +mem_out.

`default_nettype none
`timescale 1ns / 1ps

module top_fast_tb #(
  parameter int          TM        = 4,
  parameter int          TN        = 4,
  parameter int          ACC_L     = 4,
  parameter int          MUL_LAT   = 2,
  parameter int          ADD_LAT   = 3,
  parameter int          IN_DEPTH  = 4096,
  parameter int          OUT_DEPTH = 2048,
  parameter int          W_DEPTH   = 1024,
  parameter int          VU_DEPTH  = 4096,
  parameter int          WPB       = 4,
  parameter int          MEM_BEATS = 1 << 20,
  parameter logic [63:0] MEM_BASE  = 64'h0
) (
  input  wire logic clk,
  input  wire logic rst_n,
  output      logic finished
);
  localparam int DATA_W = 32 * WPB;
  localparam int ID_W   = 4;
  localparam int MAX_SCRIPT = 4096;

  logic        irq;
  logic        awready, awvalid, wready, wvalid, bready, bvalid, arready, arvalid, rready, rvalid;
  logic [11:0] awaddr, araddr;
  logic [31:0] wdata, rdata;
  logic [1:0]  bresp, rresp;

  logic [ID_W-1:0]     m_awid, m_bid, m_arid, m_rid;
  logic [39:0]         m_awaddr, m_araddr;
  logic [7:0]          m_awlen, m_arlen;
  logic [2:0]          m_awsize, m_arsize, m_awprot, m_arprot;
  logic [1:0]          m_awburst, m_arburst, m_bresp, m_rresp;
  logic                m_awlock, m_arlock;
  logic [3:0]          m_awcache, m_arcache, m_awqos, m_arqos;
  logic                m_awvalid, m_awready, m_wlast, m_wvalid, m_wready, m_bvalid, m_bready;
  logic                m_arvalid, m_arready, m_rlast, m_rvalid, m_rready;
  logic [DATA_W-1:0]   m_wdata, m_rdata;
  logic [DATA_W/8-1:0] m_wstrb;

  eftrain_top #(
    .TM(TM), .TN(TN), .ACC_L(ACC_L), .MUL_LAT(MUL_LAT), .ADD_LAT(ADD_LAT),
    .IN_DEPTH(IN_DEPTH), .OUT_DEPTH(OUT_DEPTH), .W_DEPTH(W_DEPTH), .WPB(WPB), .ID_W(ID_W),
    .VU_DEPTH(VU_DEPTH)
  ) u_dut (
    .clk, .rst_n, .irq,
    .s_axil_awready (awready), .s_axil_awvalid (awvalid), .s_axil_awaddr (awaddr),
    .s_axil_awprot  (3'b000),
    .s_axil_wready  (wready),  .s_axil_wvalid  (wvalid),  .s_axil_wdata  (wdata),
    .s_axil_wstrb   (4'hF),
    .s_axil_bready  (bready),  .s_axil_bvalid  (bvalid),  .s_axil_bresp  (bresp),
    .s_axil_arready (arready), .s_axil_arvalid (arvalid), .s_axil_araddr (araddr),
    .s_axil_arprot  (3'b000),
    .s_axil_rready  (rready),  .s_axil_rvalid  (rvalid),  .s_axil_rdata  (rdata),
    .s_axil_rresp   (rresp),
    .m_axi_awid (m_awid), .m_axi_awaddr (m_awaddr), .m_axi_awlen (m_awlen),
    .m_axi_awsize (m_awsize), .m_axi_awburst (m_awburst), .m_axi_awlock (m_awlock),
    .m_axi_awcache (m_awcache), .m_axi_awprot (m_awprot), .m_axi_awqos (m_awqos),
    .m_axi_awvalid (m_awvalid), .m_axi_awready (m_awready),
    .m_axi_wdata (m_wdata), .m_axi_wstrb (m_wstrb), .m_axi_wlast (m_wlast),
    .m_axi_wvalid (m_wvalid), .m_axi_wready (m_wready),
    .m_axi_bid (m_bid), .m_axi_bresp (m_bresp), .m_axi_bvalid (m_bvalid), .m_axi_bready (m_bready),
    .m_axi_arid (m_arid), .m_axi_araddr (m_araddr), .m_axi_arlen (m_arlen),
    .m_axi_arsize (m_arsize), .m_axi_arburst (m_arburst), .m_axi_arlock (m_arlock),
    .m_axi_arcache (m_arcache), .m_axi_arprot (m_arprot), .m_axi_arqos (m_arqos),
    .m_axi_arvalid (m_arvalid), .m_axi_arready (m_arready),
    .m_axi_rid (m_rid), .m_axi_rdata (m_rdata), .m_axi_rresp (m_rresp), .m_axi_rlast (m_rlast),
    .m_axi_rvalid (m_rvalid), .m_axi_rready (m_rready)
  );

  axi_mem_model #(
    .DATA_W(DATA_W), .ADDR_W(40), .ID_W(ID_W), .MEM_BEATS(MEM_BEATS), .MEM_BASE(MEM_BASE)
  ) u_mem (
    .clk, .rst_n,
    .awid (m_awid), .awaddr (m_awaddr), .awlen (m_awlen), .awvalid (m_awvalid),
    .awready (m_awready), .wdata (m_wdata), .wstrb (m_wstrb), .wlast (m_wlast),
    .wvalid (m_wvalid), .wready (m_wready), .bid (m_bid), .bresp (m_bresp),
    .bvalid (m_bvalid), .bready (m_bready), .arid (m_arid), .araddr (m_araddr),
    .arlen (m_arlen), .arvalid (m_arvalid), .arready (m_arready), .rid (m_rid),
    .rdata (m_rdata), .rresp (m_rresp), .rlast (m_rlast), .rvalid (m_rvalid),
    .rready (m_rready)
  );

  // ---------------------------------------------------------------------------------------------
  // Host script player.
  logic [63:0] script [MAX_SCRIPT];
  logic [63:0] results [MAX_SCRIPT + 5];
  string host_in, host_out;
  longint unsigned max_cycles = 64'd100_000_000, cycles = 0, irq_cycle = 0;
  int dump_lo = 0, dump_hi = 0;
  int pc = 0, nres = 0;
  int unsigned wait_n = 0;

  typedef enum logic [2:0] { H_FETCH, H_WRITE, H_WRESP, H_READ, H_RRESP, H_IRQ, H_IDLE, H_END }
    hstate_t;
  hstate_t hs;
  logic aw_done, w_done;

  initial begin
    for (int i = 0; i < MAX_SCRIPT; i++) script[i] = '0;
    if ($value$plusargs("host_in=%s", host_in)) $readmemh(host_in, script);
    void'($value$plusargs("max_cycles=%d", max_cycles));
    void'($value$plusargs("dump_lo=%d", dump_lo));
    void'($value$plusargs("dump_hi=%d", dump_hi));
  end

  task automatic finish_run(input logic [63:0] status);
    results[0] = status;
    results[1] = cycles;
    results[2] = u_mem.rd_beats;
    results[3] = u_mem.wr_beats;
    results[4] = irq_cycle;
    if ($value$plusargs("host_out=%s", host_out)) $writememh(host_out, results, 0, nres + 4);
    u_mem.dump(dump_lo, dump_hi);
  endtask

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      hs <= H_FETCH;
      pc = 0;
      nres = 0;
      finished <= 1'b0;
      awvalid <= 1'b0;
      wvalid  <= 1'b0;
      bready  <= 1'b0;
      arvalid <= 1'b0;
      rready  <= 1'b0;
      cycles  <= 0;
    end else begin
      cycles <= cycles + 1;
      if (cycles >= max_cycles && hs != H_END) begin
        finish_run(64'd1);
        finished <= 1'b1;
        hs <= H_END;
      end else begin
        unique case (hs)
          H_FETCH: begin
            unique case (script[pc][63:60])
              4'd1: begin
                awvalid <= 1'b1;
                awaddr  <= script[pc][43:32];
                wvalid  <= 1'b1;
                wdata   <= script[pc][31:0];
                aw_done <= 1'b0;
                w_done  <= 1'b0;
                hs      <= H_WRITE;
              end
              4'd2: begin
                arvalid <= 1'b1;
                araddr  <= script[pc][43:32];
                hs      <= H_READ;
              end
              4'd3: hs <= H_IRQ;
              4'd4: begin
                wait_n <= script[pc][31:0];
                hs     <= H_IDLE;
              end
              default: begin
                finish_run(64'd0);
                finished <= 1'b1;
                hs <= H_END;
              end
            endcase
          end
          H_WRITE: begin
            if (awvalid && awready) begin awvalid <= 1'b0; aw_done <= 1'b1; end
            if (wvalid && wready) begin wvalid <= 1'b0; w_done <= 1'b1; end
            if ((aw_done || (awvalid && awready)) && (w_done || (wvalid && wready))) begin
              bready <= 1'b1;
              hs     <= H_WRESP;
            end
          end
          H_WRESP: if (bvalid && bready) begin
            bready <= 1'b0;
            pc = pc + 1;
            hs <= H_FETCH;
          end
          H_READ: if (arvalid && arready) begin
            arvalid <= 1'b0;
            rready  <= 1'b1;
            hs      <= H_RRESP;
          end
          H_RRESP: if (rvalid && rready) begin
            rready <= 1'b0;
            results[5 + nres] = 64'(rdata);
            nres = nres + 1;
            pc = pc + 1;
            hs <= H_FETCH;
          end
          H_IRQ: if (irq) begin
            irq_cycle <= cycles;
            pc = pc + 1;
            hs <= H_FETCH;
          end
          H_IDLE: begin
            if (wait_n == 0) begin
              pc = pc + 1;
              hs <= H_FETCH;
            end else begin
              wait_n <= wait_n - 1;
            end
          end
          default: ;
        endcase
      end
    end
  end

endmodule
