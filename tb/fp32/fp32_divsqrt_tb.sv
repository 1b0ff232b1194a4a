// EF-Train, open: bulk streaming harness for fp32_div / fp32_sqrt (simulation only).
//
// Python writes the operand pairs as hex, one 64-bit word {a, b} per line; this harness loads them
// with $readmemh and streams one pair per cycle, with idle cycles drawn from an LFSR (so the valid
// pipelines see gaps and back-to-back runs), into every instance at once:
//
//   fp32_div  (y = a / b)    at LATENCY = DIV_LATENCY and every k with DIV_LATS[k] set,
//   fp32_sqrt (y = sqrt(a))  at LATENCY = SQRT_LATENCY and every k with SQRT_LATS[k] set,
//
// so one Verilated model covers several pipeline configurations of both units. Each instance
// (fp32_divsqrt_sink) checks its out_valid against in_valid delayed by its LATENCY, stores its
// results in order and, when the stream is done, writes them with $writememh to
// <res>_div_L<k>.hex / <res>_sqrt_L<k>.hex. The instances at DIV_LATENCY / SQRT_LATENCY (the
// modules' defaults) keep every result; the others keep the first VAR_VEC. cocotb only drives
// clk / rst_n and waits for `done`.
//
// Parameters
//   DIV_LATENCY, SQRT_LATENCY  the units' default latencies: full result capture
//   DIV_LATS, SQRT_LATS        bit k set: one more instance at LATENCY = k (1 <= k <= 63)
//   MAX_VEC                    capacity of the vector memory and of the full result memories
//   VAR_VEC                    results kept by the other instances
//   LFSR_SEED                  default idle-cycle LFSR seed; plusarg +lfsr_seed=<hex> overrides
//   IDLE_16                    idle probability per cycle, in 16ths (0 = no gaps)
//
// Plusargs
//   +n=<count>        pairs to stream (required, <= MAX_VEC)
//   +vec=<file>       input file (default vectors.hex)
//   +res=<prefix>     output file prefix (default results)
//   +lfsr_seed=<hex>  idle-cycle LFSR seed
//
// Time unit and precision come from the build (--timescale).

`default_nettype none

module fp32_divsqrt_tb #(
  parameter int          DIV_LATENCY  = 8,
  parameter int          SQRT_LATENCY = 8,
  parameter logic [63:0] DIV_LATS     = 64'h0000_0000_1400_008E,   // 1, 2, 3, 7, 26, 28
  parameter logic [63:0] SQRT_LATS    = 64'h0000_0000_1400_008E,
  parameter int          MAX_VEC      = 1 << 21,
  parameter int          VAR_VEC      = 1 << 18,
  parameter logic [31:0] LFSR_SEED    = 32'h1D87_2B41,
  parameter int          IDLE_16      = 4
) (
  input  wire logic        clk,
  input  wire logic        rst_n,
  output      logic        done,
  output      logic [31:0] n_in,            // pairs sent
  output      logic [31:0] n_out_min,       // fewest results received by any instance
  output      logic [31:0] valid_errors     // sum over instances of out_valid mismatches
);

  localparam int AW = $clog2(MAX_VEC);

  logic [63:0] vec_mem [MAX_VEC];

  int          n_vec;
  logic [31:0] lfsr_seed;
  string       vec_file;

  initial begin
    if (!$value$plusargs("n=%d", n_vec)) begin
      $display("fp32_divsqrt_tb: +n=<count> is required");
      $finish;
    end
    if (n_vec > MAX_VEC) begin
      $display("fp32_divsqrt_tb: n=%0d exceeds MAX_VEC=%0d", n_vec, MAX_VEC);
      $finish;
    end
    if (!$value$plusargs("vec=%s", vec_file)) vec_file = "vectors.hex";
    if (!$value$plusargs("lfsr_seed=%h", lfsr_seed)) lfsr_seed = LFSR_SEED;
    if (lfsr_seed == 32'd0) lfsr_seed = LFSR_SEED;
    if (n_vec > 0) $readmemh(vec_file, vec_mem, 0, n_vec - 1);
    $display("fp32_divsqrt_tb: n=%0d lfsr_seed=%08h idle=%0d/16 div L%0d+%016h sqrt L%0d+%016h",
             n_vec, lfsr_seed, IDLE_16, DIV_LATENCY, DIV_LATS, SQRT_LATENCY, SQRT_LATS);
  end

  // Idle-cycle generator: 32-bit Galois LFSR (x^32 + x^22 + x^2 + x + 1).
  logic [31:0] lfsr;
  logic        idle;
  always_ff @(posedge clk) begin
    if (!rst_n) lfsr <= lfsr_seed;
    else        lfsr <= {1'b0, lfsr[31:1]} ^ (lfsr[0] ? 32'h8020_0003 : 32'h0);
  end
  assign idle = (int'(lfsr[7:4]) < IDLE_16);

  // Source: one pair per non-idle cycle.
  logic        in_valid;
  logic [31:0] a, b;
  assign in_valid = rst_n && (int'(n_in) < n_vec) && !idle;
  assign a        = vec_mem[n_in[AW-1:0]][63:32];
  assign b        = vec_mem[n_in[AW-1:0]][31:0];

  always_ff @(posedge clk) begin
    if (!rst_n)        n_in <= '0;
    else if (in_valid) n_in <= n_in + 32'd1;
  end

  // Every instance sees the same stream. Slot 64 * op + k holds the instance of op at latency k;
  // empty slots report "all results, no errors".
  logic        dump;
  logic [31:0] inst_n_out  [128];
  logic [31:0] inst_errors [128];

  for (genvar op = 0; op < 2; op++) begin : g_op
    for (genvar k = 0; k < 64; k++) begin : g_lat
      localparam int  DEF = (op == 0) ? DIV_LATENCY : SQRT_LATENCY;
      localparam bit  ON  = (k >= 1) && ((k == DEF) || ((op == 0) ? DIV_LATS[k] : SQRT_LATS[k]));
      if (ON) begin : g_inst
        fp32_divsqrt_sink #(
          .OP     (op),
          .LATENCY(k),
          .DEPTH  ((k == DEF) ? MAX_VEC : VAR_VEC)
        ) u_sink (
          .clk         (clk),
          .rst_n       (rst_n),
          .in_valid    (in_valid),
          .a           (a),
          .b           (b),
          .dump        (dump),
          .n_out       (inst_n_out[64*op + k]),
          .valid_errors(inst_errors[64*op + k])
        );
      end else begin : g_none
        assign inst_n_out[64*op + k]  = '1;
        assign inst_errors[64*op + k] = '0;
      end
    end
  end

  always_comb begin
    n_out_min    = inst_n_out[0];
    valid_errors = '0;
    for (int i = 0; i < 128; i++) begin
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
