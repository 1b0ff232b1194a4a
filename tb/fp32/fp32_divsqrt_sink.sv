// EF-Train, open: one divider / square-root instance inside fp32_divsqrt_tb (simulation only).
//
// Instantiates fp32_div (OP = 0, y = a / b) or fp32_sqrt (OP = 1, y = sqrt(a); b unused) at the
// given LATENCY, checks that out_valid is in_valid delayed by exactly LATENCY cycles, stores the
// first DEPTH results in order and writes them with $writememh to
// <+res prefix>_<div|sqrt>_L<LATENCY>.hex when `dump` pulses.

`default_nettype none

module fp32_divsqrt_sink #(
  parameter int OP      = 0,   // 0: fp32_div, 1: fp32_sqrt
  parameter int LATENCY = 1,
  parameter int DEPTH   = 1024
) (
  input  wire logic        clk,
  input  wire logic        rst_n,
  input  wire logic        in_valid,
  input  wire logic [31:0] a,
  input  wire logic [31:0] b,
  input  wire logic        dump,          // one-cycle pulse: write the results
  output      logic [31:0] n_out,
  output      logic [31:0] valid_errors
);

  int    n_vec;
  string res_prefix;
  initial begin
    if (!$value$plusargs("n=%d", n_vec)) n_vec = 0;
    if (!$value$plusargs("res=%s", res_prefix)) res_prefix = "results";
  end

  logic        out_valid;
  logic [31:0] y;

  if (OP == 0) begin : g_div
    fp32_div #(.LATENCY(LATENCY)) u_dut (
      .clk      (clk),
      .rst_n    (rst_n),
      .in_valid (in_valid),
      .a        (a),
      .b        (b),
      .out_valid(out_valid),
      .y        (y)
    );
  end else begin : g_sqrt
    fp32_sqrt #(.LATENCY(LATENCY)) u_dut (
      .clk      (clk),
      .rst_n    (rst_n),
      .in_valid (in_valid),
      .a        (a),
      .out_valid(out_valid),
      .y        (y)
    );
  end

  // out_valid must be in_valid exactly LATENCY cycles later.
  logic [LATENCY-1:0] vld_ref;
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      vld_ref      <= '0;
      valid_errors <= '0;
    end else begin
      vld_ref <= (vld_ref << 1) | LATENCY'(in_valid);
      if (out_valid != vld_ref[LATENCY-1]) valid_errors <= valid_errors + 32'd1;
    end
  end

  logic [31:0] res_mem [DEPTH];
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      n_out <= '0;
    end else if (out_valid) begin
      if (int'(n_out) < DEPTH) res_mem[n_out[$clog2(DEPTH)-1:0]] <= y;
      n_out <= n_out + 32'd1;
    end
  end

  always_ff @(posedge clk) begin
    if (dump) begin
      automatic int    count = (n_vec < DEPTH) ? n_vec : DEPTH;
      automatic string name;
      // (a ?: between "div" and "sqrt" would pad the shorter literal to a common width)
      if (OP == 0) name = $sformatf("%s_div_L%0d.hex", res_prefix, LATENCY);
      else         name = $sformatf("%s_sqrt_L%0d.hex", res_prefix, LATENCY);
      if (count > 0) $writememh(name, res_mem, 0, count - 1);
    end
  end

endmodule

`default_nettype wire
