// EF-Train, open: behavioural AXI4 memory for the top-level testbench's fast mode (simulation only:
// no Python runs per cycle). Not synthesizable, not meant to be.
//
// Memory: MEM_BEATS beats of DATA_W bits covering byte addresses [MEM_BASE, MEM_BASE +
// MEM_BEATS*DATA_W/8). +mem_in=<file> loads it with $readmemh (beat-indexed, "@index" lines for
// sparse images); dump(lo, hi) writes beats lo..hi-1 with $writememh to +mem_out=<file>.
//
// Timing knobs (plusargs, all optional):
//   +rd_lat=<n>     cycles from an accepted AR to its first R beat (default 40)
//   +wr_lat=<n>     cycles from a burst's last W beat to its B response (default 8)
//   +stall=<pct>    percentage of cycles in which each of ARREADY, AWREADY, WREADY, RVALID and
//                   BVALID is withheld at random (back-pressure / pauses; default 0)
//   +seed=<n>       random seed (default 1)
//   +max_ar=<n>     accepted ARs waiting for their data at most (default 16)
// Faults: +fault_lo=<byte addr> +fault_hi=<byte addr> +fault_resp=<2|3>: every beat inside
// [fault_lo, fault_hi) answers SLVERR (2) or DECERR (3) and is neither read nor written. A beat
// outside the memory answers DECERR.
// Every read and write beat is also counted (rd_beats, wr_beats) for the testbench.

`default_nettype none

module axi_mem_model #(
  parameter int          DATA_W    = 128,
  parameter int          ADDR_W    = 40,
  parameter int          ID_W      = 4,
  parameter int          MEM_BEATS = 1 << 20,
  parameter logic [63:0] MEM_BASE  = 64'h0
) (
  input  wire logic                clk,
  input  wire logic                rst_n,
  input  wire logic [ID_W-1:0]     awid,
  input  wire logic [ADDR_W-1:0]   awaddr,
  input  wire logic [7:0]          awlen,
  input  wire logic                awvalid,
  output      logic                awready,
  input  wire logic [DATA_W-1:0]   wdata,
  input  wire logic [DATA_W/8-1:0] wstrb,
  input  wire logic                wlast,
  input  wire logic                wvalid,
  output      logic                wready,
  output      logic [ID_W-1:0]     bid,
  output      logic [1:0]          bresp,
  output      logic                bvalid,
  input  wire logic                bready,
  input  wire logic [ID_W-1:0]     arid,
  input  wire logic [ADDR_W-1:0]   araddr,
  input  wire logic [7:0]          arlen,
  input  wire logic                arvalid,
  output      logic                arready,
  output      logic [ID_W-1:0]     rid,
  output      logic [DATA_W-1:0]   rdata,
  output      logic [1:0]          rresp,
  output      logic                rlast,
  output      logic                rvalid,
  input  wire logic                rready
);
  localparam int BYTES = DATA_W / 8;
  localparam int QD = 64;

  logic [DATA_W-1:0] mem [MEM_BEATS];

  int unsigned rd_lat = 40, wr_lat = 8, stall = 0, seed = 1, max_ar = 16;
  longint unsigned fault_lo = 0, fault_hi = 0;
  int unsigned fault_resp = 2;
  longint unsigned rd_beats = 0, wr_beats = 0;
  longint unsigned cycle = 0;
  string mem_in, mem_out;

  initial begin
    void'($value$plusargs("rd_lat=%d", rd_lat));
    void'($value$plusargs("wr_lat=%d", wr_lat));
    void'($value$plusargs("stall=%d", stall));
    void'($value$plusargs("seed=%d", seed));
    void'($value$plusargs("max_ar=%d", max_ar));
    void'($value$plusargs("fault_lo=%d", fault_lo));
    void'($value$plusargs("fault_hi=%d", fault_hi));
    void'($value$plusargs("fault_resp=%d", fault_resp));
    if (max_ar > QD) max_ar = QD;
    void'($urandom(seed));
    if ($value$plusargs("mem_in=%s", mem_in)) $readmemh(mem_in, mem);
  end

  function automatic bit pause();
    return stall != 0 && ($urandom % 100) < stall;
  endfunction

  // Response of the beat at byte address a (beat-aligned): 0 OKAY, 2 SLVERR, 3 DECERR.
  function automatic logic [1:0] beat_resp(input longint unsigned a);
    if (a < MEM_BASE || a >= MEM_BASE + longint'(MEM_BEATS) * BYTES) return 2'd3;
    if (fault_hi > fault_lo && a + BYTES > fault_lo && a < fault_hi) return 2'(fault_resp);
    return 2'd0;
  endfunction

  function automatic int beat_index(input longint unsigned a);
    return int'((a - MEM_BASE) / BYTES);
  endfunction

  task automatic dump(input int lo, input int hi);
    if ($value$plusargs("mem_out=%s", mem_out) && hi > lo) $writememh(mem_out, mem, lo, hi - 1);
  endtask

  // ---------------------------------------------------------------------------------------------
  // Read side: AR queue with a ready time per burst, R beats in order.
  longint unsigned ar_addr [QD];
  int unsigned     ar_len  [QD];
  longint unsigned ar_due  [QD];
  logic [ID_W-1:0] ar_id   [QD];
  int ar_wp = 0, ar_rp = 0, ar_n = 0;
  int unsigned r_beat = 0;

  // Write side: AW queue, B queue.
  longint unsigned aw_addr [QD];
  logic [ID_W-1:0] aw_id   [QD];
  int aw_wp = 0, aw_rp = 0, aw_n = 0;
  int unsigned w_beat = 0;
  logic [1:0] w_resp = 2'd0;
  longint unsigned b_due [QD];
  logic [1:0]      b_resp_q [QD];
  logic [ID_W-1:0] b_id [QD];
  int b_wp = 0, b_rp = 0, b_n = 0;

  always_ff @(posedge clk) begin
    longint unsigned a;
    if (!rst_n) begin
      arready <= 1'b0;
      awready <= 1'b0;
      wready  <= 1'b0;
      rvalid  <= 1'b0;
      bvalid  <= 1'b0;
      ar_wp = 0; ar_rp = 0; ar_n = 0; r_beat = 0;
      aw_wp = 0; aw_rp = 0; aw_n = 0; w_beat = 0; w_resp = 2'd0;
      b_wp = 0; b_rp = 0; b_n = 0;
    end else begin
      cycle <= cycle + 1;

      // AR accept.
      if (arvalid && arready) begin
        ar_addr[ar_wp] = longint'(araddr);
        ar_len[ar_wp]  = int'(arlen) + 1;
        ar_due[ar_wp]  = cycle + rd_lat;
        ar_id[ar_wp]   = arid;
        ar_wp = (ar_wp + 1) % QD;
        ar_n++;
      end
      arready <= (ar_n < int'(max_ar)) && !pause();

      // R beats.
      if (rvalid && rready) begin
        rd_beats <= rd_beats + 1;
        r_beat++;
        if (r_beat == ar_len[ar_rp]) begin
          r_beat = 0;
          ar_rp = (ar_rp + 1) % QD;
          ar_n--;
        end
      end
      if (rvalid && !rready) begin
        // hold the beat (AXI: valid stays until ready)
      end else if (ar_n > 0 && ar_due[ar_rp] <= cycle && !pause()) begin
        a = (ar_addr[ar_rp] / BYTES) * BYTES + longint'(r_beat) * BYTES;
        rvalid <= 1'b1;
        rid    <= ar_id[ar_rp];
        rresp  <= beat_resp(a);
        rdata  <= (beat_resp(a) == 2'd0) ? mem[beat_index(a)] : '0;
        rlast  <= (r_beat + 1 == ar_len[ar_rp]);
      end else begin
        rvalid <= 1'b0;
      end

      // AW accept.
      if (awvalid && awready) begin
        aw_addr[aw_wp] = longint'(awaddr);
        aw_id[aw_wp]   = awid;
        aw_wp = (aw_wp + 1) % QD;
        aw_n++;
      end
      awready <= (aw_n < QD - 1) && !pause();

      // W beats (applied to the oldest AW).
      if (wvalid && wready) begin
        wr_beats <= wr_beats + 1;
        a = (aw_addr[aw_rp] / BYTES) * BYTES + longint'(w_beat) * BYTES;
        if (beat_resp(a) != 2'd0) begin
          if (w_resp == 2'd0) w_resp = beat_resp(a);
        end else begin
          for (int i = 0; i < BYTES; i++)
            if (wstrb[i]) mem[beat_index(a)][8*i +: 8] <= wdata[8*i +: 8];
        end
        w_beat++;
        if (wlast) begin
          b_due[b_wp]    = cycle + wr_lat;
          b_resp_q[b_wp] = w_resp;
          b_id[b_wp]     = aw_id[aw_rp];
          b_wp = (b_wp + 1) % QD;
          b_n++;
          w_beat = 0;
          w_resp = 2'd0;
          aw_rp = (aw_rp + 1) % QD;
          aw_n--;
        end
      end
      wready <= (aw_n > 0 || (awvalid && awready)) && b_n < QD - 1 && !pause();

      // B responses.
      if (bvalid && bready) begin
        b_rp = (b_rp + 1) % QD;
        b_n--;
      end
      if (b_n > 0 && b_due[b_rp] <= cycle && !(bvalid && !bready) && !pause()) begin
        bvalid <= 1'b1;
        bresp  <= b_resp_q[b_rp];
        bid    <= b_id[b_rp];
      end else if (!(bvalid && !bready)) begin
        bvalid <= 1'b0;
      end
    end
  end

endmodule
