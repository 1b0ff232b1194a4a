// EF-Train, open: one configuration's bulk stream through eftrain_desc_check (simulation only;
// instantiated by desc_check_tb.sv, one per configuration).
//
// Python writes the vectors as hex, one 640-bit word {win_limit, win_base, desc} per line, to
// vectors_<IDX>.hex; this harness loads them with $readmemh and checks them one after another, then
// writes one 16-bit result per vector, {latency, code}, with $writememh to results_<IDX>.hex.
// latency counts cycles from the cycle in which start is high (0) to the cycle in which done is
// high; 16'hFFFF means no done came within 254 cycles.
//
// Stimulus timing, from a 32-bit LFSR (seeded by +lfsr_seed, mixed with IDX): 0..3 idle cycles
// between a done and the next start; with probability 1/8 the next start comes IN the done cycle
// (predicted from EXP_LATENCY); with probability 1/8 a decoy start (another vector of the file)
// comes first and is abandoned by the real start 1..EXP_LATENCY-1 cycles later. While a check
// runs, the desc and window inputs carry garbage (they are sampled at start only).
//
// Protocol checks (counted in proto_errors): busy high in every cycle between a start and its
// done, low in the done cycle; no done for an abandoned decoy or between checks; code unchanged
// outside done cycles.
//
// Parameters: those of eftrain_desc_check; IDX the configuration's index (file and plusarg
// names); EXP_LATENCY the documented latency; MAX_VEC the capacity. Plusargs: +n<IDX>=<count>
// (required, >= 2), +lfsr_seed=<hex>.

`default_nettype none

module desc_check_stream #(
  parameter int          TM          = 4,
  parameter int          TN          = 4,
  parameter int          ACC_L       = 4,
  parameter int          IN_DEPTH    = 4096,
  parameter int          OUT_DEPTH   = 2048,
  parameter int          W_DEPTH     = 1024,
  parameter int          BUS_BITS    = 128,
  parameter int          VU_DEPTH    = 4096,
  parameter int          IDX         = 0,
  parameter int          EXP_LATENCY = 8,
  parameter int          MAX_VEC     = 1 << 14,
  parameter logic [31:0] LFSR_SEED   = 32'h6A09_E667
) (
  input  wire logic        clk,
  input  wire logic        rst_n,
  output      logic        finished,
  output      logic [31:0] n_done,        // results recorded
  output      logic [31:0] proto_errors
);

  localparam int AW = $clog2(MAX_VEC);

  logic [639:0] vec_mem [MAX_VEC];
  logic [15:0]  res_mem [MAX_VEC];

  int          n_vec;
  logic [31:0] lfsr_seed;
  string       vec_file, res_file;

  initial begin
    if (!$value$plusargs($sformatf("n%0d=%%d", IDX), n_vec)) begin
      $display("desc_check_stream[%0d]: +n%0d=<count> is required", IDX, IDX);
      $finish;
    end
    if (n_vec < 2 || n_vec > MAX_VEC) begin
      $display("desc_check_stream[%0d]: n=%0d outside 2..MAX_VEC=%0d", IDX, n_vec, MAX_VEC);
      $finish;
    end
    vec_file = $sformatf("vectors_%0d.hex", IDX);
    res_file = $sformatf("results_%0d.hex", IDX);
    if (!$value$plusargs("lfsr_seed=%h", lfsr_seed)) lfsr_seed = LFSR_SEED;
    lfsr_seed = lfsr_seed ^ (32'h9E37_79B9 * 32'(IDX + 1));
    if (lfsr_seed == 32'd0) lfsr_seed = LFSR_SEED;
    $readmemh(vec_file, vec_mem, 0, n_vec - 1);
    $display("desc_check_stream[%0d]: n=%0d lfsr_seed=%08h TM=%0d TN=%0d L=%0d depths=%0d/%0d/%0d/%0d bus=%0d",
             IDX, n_vec, lfsr_seed, TM, TN, ACC_L, IN_DEPTH, OUT_DEPTH, W_DEPTH, VU_DEPTH, BUS_BITS);
  end

  // 32-bit Galois LFSR (x^32 + x^22 + x^2 + x + 1).
  logic [31:0] lfsr;
  always_ff @(posedge clk) begin
    if (!rst_n) lfsr <= lfsr_seed;
    else        lfsr <= {1'b0, lfsr[31:1]} ^ (lfsr[0] ? 32'h8020_0003 : 32'h0);
  end

  // The unit under test.
  logic         start, busy, done;
  logic [511:0] desc;
  logic [63:0]  win_base, win_limit;
  logic [7:0]   code;

  eftrain_desc_check #(
    .TM       (TM),
    .TN       (TN),
    .ACC_L    (ACC_L),
    .IN_DEPTH (IN_DEPTH),
    .OUT_DEPTH(OUT_DEPTH),
    .W_DEPTH  (W_DEPTH),
    .BUS_BITS (BUS_BITS),
    .VU_DEPTH (VU_DEPTH)
  ) u_dut (
    .clk      (clk),
    .rst_n    (rst_n),
    .start    (start),
    .desc     (desc),
    .win_base (win_base),
    .win_limit(win_limit),
    .busy     (busy),
    .done     (done),
    .code     (code),
    /* verilator lint_off PINCONNECTEMPTY */   // the weight size is checked through the top's fused SGD
    .wt_words ()
    /* verilator lint_on PINCONNECTEMPTY */
  );

  // Sequencer. In S_RUN / S_DECOY, cnt = cycles since the (real / decoy) start cycle.
  localparam logic [1:0] S_GAP = 2'd0, S_DECOY = 2'd1, S_RUN = 2'd2, S_FIN = 2'd3;
  logic [1:0]  st;
  logic [31:0] idx;        // vector being checked
  logic [7:0]  cnt, gap, hold;
  logic        chained;    // the next vector's start is the current cycle (the expected done cycle)
  logic        have_code;
  logic [7:0]  last_code;
  logic [31:0] next_idx;

  assign next_idx = idx + 32'd1;

  task automatic drive(input logic [639:0] v);
    desc      <= v[511:0];
    win_base  <= v[575:512];
    win_limit <= v[639:576];
  endtask

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      st           <= S_GAP;
      idx          <= '0;
      cnt          <= '0;
      gap          <= 8'd2;
      hold         <= '0;
      chained      <= 1'b0;
      start        <= 1'b0;
      desc         <= '0;
      win_base     <= '0;
      win_limit    <= '0;
      finished     <= 1'b0;
      n_done       <= '0;
      proto_errors <= '0;
      have_code    <= 1'b0;
      last_code    <= '0;
    end else begin
      start <= 1'b0;
      if (cnt != 8'hFF) cnt <= cnt + 8'd1;
      // garbage on the inputs except in start cycles (overridden below when a start is issued)
      desc      <= {16{lfsr}};
      win_base  <= {lfsr, ~lfsr};
      win_limit <= {~lfsr, lfsr};

      if (have_code && !done && code != last_code) proto_errors <= proto_errors + 32'd1;

      case (st)
        S_GAP: begin
          if (done) proto_errors <= proto_errors + 32'd1;
          if (gap != 8'd0) begin
            gap <= gap - 8'd1;
          end else if (int'(idx) >= n_vec) begin
            st <= S_FIN;
          end else if (lfsr[2:0] == 3'd0) begin          // a decoy first
            drive(vec_mem[AW'(idx ^ 32'd1)]);
            start <= 1'b1;
            cnt   <= '0;
            hold  <= 8'd1 + 8'(lfsr[15:8] % 8'(EXP_LATENCY - 1));
            st    <= S_DECOY;
          end else begin
            drive(vec_mem[AW'(idx)]);
            start <= 1'b1;
            cnt   <= '0;
            st    <= S_RUN;
          end
        end

        S_DECOY: begin
          if (done) proto_errors <= proto_errors + 32'd1;
          if (cnt != 8'd0 && !busy) proto_errors <= proto_errors + 32'd1;
          if (cnt + 8'd1 == hold) begin                    // the real start, hold cycles later
            drive(vec_mem[AW'(idx)]);
            start <= 1'b1;
            cnt   <= '0;
            st    <= S_RUN;
          end
        end

        S_RUN: begin
          if (done) begin
            res_mem[AW'(idx)] <= {cnt, code};
            n_done    <= n_done + 32'd1;
            last_code <= code;
            have_code <= 1'b1;
            idx       <= next_idx;
            if (busy) proto_errors <= proto_errors + 32'd1;
            if (chained) begin                             // the next check started this cycle
              cnt     <= 8'd1;
              chained <= 1'b0;
            end else begin
              gap <= 8'(lfsr[9:8]);
              st  <= S_GAP;
            end
          end else if (cnt == 8'hFE) begin                 // no done: record a timeout
            res_mem[AW'(idx)] <= 16'hFFFF;
            n_done  <= n_done + 32'd1;
            idx     <= next_idx;
            chained <= 1'b0;
            gap     <= 8'd0;
            st      <= S_GAP;
          end else begin
            if (cnt != 8'd0 && !busy) proto_errors <= proto_errors + 32'd1;
            // start the next vector in the expected done cycle
            if (int'(cnt) == EXP_LATENCY - 1 && int'(next_idx) < n_vec && lfsr[7:5] == 3'd0) begin
              drive(vec_mem[AW'(next_idx)]);
              start   <= 1'b1;
              chained <= 1'b1;
            end
          end
        end

        default: begin                                     // S_FIN
          if (!finished) $writememh(res_file, res_mem, 0, n_vec - 1);
          finished <= 1'b1;
        end
      endcase
    end
  end

endmodule

`default_nettype wire
