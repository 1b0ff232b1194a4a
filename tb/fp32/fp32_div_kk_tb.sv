// EF-Train, open: bulk streaming harness for fp32_div_kk (simulation only).
//
// Python writes the operands as hex, one 64-bit word {a, k} per line (k in the low 3 bits); this
// harness loads them with $readmemh and streams one operand per cycle, with idle cycles drawn from
// an LFSR, into an fp32_div_kk instance at every latency k with LATS[k] set. Each instance checks
// its out_valid against in_valid delayed by its LATENCY, keeps its results in order and, when the
// stream is done, writes them with $writememh to <res>_L<latency>.hex. cocotb only drives clk /
// rst_n and waits for `done`.
//
// Parameters
//   LATS      bit k set: an instance at LATENCY = k (1 <= k <= 63)
//   MAX_VEC   capacity of the vector and result memories
//   IDLE_16   idle probability per cycle, in 16ths (0 = no gaps)
//
// Plusargs: +n=<count> (required, <= MAX_VEC), +vec=<file> (default vectors.hex),
// +res=<prefix> (default results), +lfsr_seed=<hex>.

`default_nettype none

module fp32_div_kk_tb #(
  parameter logic [63:0] LATS    = 64'h0000_0000_3400_013E,   // 1..5, 8, 26, 28, 29
  parameter int          MAX_VEC = 1 << 21,
  parameter int          IDLE_16 = 4
) (
  input  wire logic        clk,
  input  wire logic        rst_n,
  output      logic        done,
  output      logic [31:0] n_in,            // operands sent
  output      logic [31:0] n_out_min,       // fewest results received by any instance
  output      logic [31:0] valid_errors     // sum over instances of out_valid mismatches
);

  localparam int AW = $clog2(MAX_VEC);

  logic [63:0] vec_mem [MAX_VEC];

  int          n_vec;
  logic [31:0] lfsr_seed;
  string       vec_file, res_prefix;

  initial begin
    if (!$value$plusargs("n=%d", n_vec)) begin
      $display("fp32_div_kk_tb: +n=<count> is required");
      $finish;
    end
    if (n_vec > MAX_VEC) begin
      $display("fp32_div_kk_tb: n=%0d exceeds MAX_VEC=%0d", n_vec, MAX_VEC);
      $finish;
    end
    if (!$value$plusargs("vec=%s", vec_file)) vec_file = "vectors.hex";
    if (!$value$plusargs("res=%s", res_prefix)) res_prefix = "results";
    if (!$value$plusargs("lfsr_seed=%h", lfsr_seed)) lfsr_seed = 32'h1D87_2B41;
    if (lfsr_seed == 32'd0) lfsr_seed = 32'h1D87_2B41;
    if (n_vec > 0) $readmemh(vec_file, vec_mem, 0, n_vec - 1);
    $display("fp32_div_kk_tb: n=%0d lfsr_seed=%08h idle=%0d/16 latencies %016h", n_vec, lfsr_seed,
             IDLE_16, LATS);
  end

  // Idle-cycle generator: 32-bit Galois LFSR (x^32 + x^22 + x^2 + x + 1).
  logic [31:0] lfsr;
  logic        idle;
  always_ff @(posedge clk) begin
    if (!rst_n) lfsr <= lfsr_seed;
    else        lfsr <= {1'b0, lfsr[31:1]} ^ (lfsr[0] ? 32'h8020_0003 : 32'h0);
  end
  assign idle = (int'(lfsr[7:4]) < IDLE_16);

  logic        in_valid;
  logic [31:0] a;
  logic [2:0]  k;
  assign in_valid = rst_n && (int'(n_in) < n_vec) && !idle;
  assign a        = vec_mem[n_in[AW-1:0]][63:32];
  assign k        = vec_mem[n_in[AW-1:0]][2:0];

  always_ff @(posedge clk) begin
    if (!rst_n)        n_in <= '0;
    else if (in_valid) n_in <= n_in + 32'd1;
  end

  logic        dump;
  logic [31:0] inst_n_out  [64];
  logic [31:0] inst_errors [64];

  for (genvar lat = 0; lat < 64; lat++) begin : g_lat
    if (lat >= 1 && LATS[lat]) begin : g_inst
      logic        out_valid;
      logic [31:0] y;
      logic [lat-1:0] vld_ref;
      logic [31:0] res_mem [MAX_VEC];
      logic [31:0] n_out, errors;

      fp32_div_kk #(.LATENCY(lat)) u_dut (
        .clk      (clk),
        .rst_n    (rst_n),
        .in_valid (in_valid),
        .a        (a),
        .k        (k),
        .out_valid(out_valid),
        .y        (y)
      );

      always_ff @(posedge clk) begin
        if (!rst_n) begin
          vld_ref <= '0;
          errors  <= '0;
          n_out   <= '0;
        end else begin
          vld_ref <= (vld_ref << 1) | lat'(in_valid);
          if (out_valid != vld_ref[lat-1]) errors <= errors + 32'd1;
          if (out_valid) begin
            res_mem[n_out[AW-1:0]] <= y;
            n_out <= n_out + 32'd1;
          end
        end
      end

      always_ff @(posedge clk) begin
        if (dump && n_vec > 0) $writememh($sformatf("%s_L%0d.hex", res_prefix, lat), res_mem, 0,
                                          n_vec - 1);
      end

      assign inst_n_out[lat]  = n_out;
      assign inst_errors[lat] = errors;
    end else begin : g_none
      assign inst_n_out[lat]  = '1;
      assign inst_errors[lat] = '0;
    end
  end

  always_comb begin
    n_out_min    = inst_n_out[0];
    valid_errors = '0;
    for (int i = 0; i < 64; i++) begin
      if (inst_n_out[i] < n_out_min) n_out_min = inst_n_out[i];
      valid_errors = valid_errors + inst_errors[i];
    end
  end

  // Done once every instance has every result; `dump` makes each write its file.
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      done <= 1'b0;
      dump <= 1'b0;
    end else begin
      dump <= 1'b0;
      if (!done && int'(n_out_min) == n_vec && int'(n_in) == n_vec) begin
        dump <= 1'b1;
        done <= 1'b1;
      end
    end
  end

endmodule

`default_nettype wire
