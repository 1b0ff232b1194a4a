// EF-Train, open: pipelined FP32 adder tree over N lanes, exactly the golden tree_sum shape,
// whose adders can also work as N-1 independent adders (the WU accumulators share them).
//
// Shape (eftrain.golden.engine, "The adder tree"): level 0 holds the N inputs; every level adds
// adjacent pairs (v0+v1, v2+v3, ...) and, when its width is odd, passes the last value on
// unchanged as the last value of the next level. Level l holds ceil(N / 2^l) values; there are
// ceil(log2 N) adder levels and N-1 adders in all. For N = 5: ((v0+v1) + (v2+v3)) + v4.
// Pass-through values go through ADD_LAT registers so every level stays aligned.
//
// Parameters
//   N        lanes (>= 1). N = 1 has no adders: sum = in_data[31:0] combinationally.
//   ADD_LAT  latency of one fp32_add (HwConfig.add_latency).
//
// Latency: LATENCY = ceil(log2 N) * ADD_LAT cycles from in_valid to out_valid (II = 1).
//
// Ports
//   sep           0: tree mode; 1: separate mode: adder k (numbered level by level, left to
//                 right; 0 .. N-2) computes sep_a[k] + sep_b[k], result on sep_y[k] ADD_LAT
//                 cycles later. Change sep only while the tree is empty.
//   in_valid      tree mode: in_data carries the N lanes (lane j at [32*j +: 32]);
//                 separate mode: sep_a / sep_b carry an operand pair for every adder.
//   out_valid     tree mode: sum is valid (in_valid delayed by LATENCY);
//                 separate mode: sep_y is valid (in_valid delayed by ADD_LAT).
//   sum           the tree's result.
//   sep_y         the adders' outputs (in tree mode too: the partial sums of the tree).

`default_nettype none

module adder_tree #(
  parameter int N       = 4,
  parameter int ADD_LAT = 3
) (
  input  wire logic              clk,
  input  wire logic              rst_n,
  input  wire logic              sep,
  input  wire logic              in_valid,
  input  wire logic [32*N-1:0]   in_data,
  input  wire logic [32*((N > 1) ? N - 1 : 1)-1:0] sep_a,
  input  wire logic [32*((N > 1) ? N - 1 : 1)-1:0] sep_b,
  output      logic              out_valid,
  output      logic [31:0]       sum,
  output      logic [32*((N > 1) ? N - 1 : 1)-1:0] sep_y
);

  // NA: number of separate-mode slots (N-1 adders; one unused slot when N = 1).
  localparam int NA  = (N > 1) ? N - 1 : 1;
  localparam int LEV = eftrain_engine_pkg::tree_levels(N);

  if (LEV == 0) begin : g_single
    // One lane: nothing to add. The separate-mode ports are unused.
    assign out_valid = in_valid;
    assign sum       = in_data[31:0];
    assign sep_y     = '0;
    /* verilator lint_off UNUSEDSIGNAL */
    logic unused;  // separate-mode inputs and the clock have no use with a single lane
    assign unused = ^{clk, rst_n, sep, sep_a, sep_b};
    /* verilator lint_on UNUSEDSIGNAL */
  end else begin : g_tree
    // v[(l*N + k)*32 +: 32]: value k of level l (only the first tree_width(N, l) are used; the
    // slots beyond a level's width are tied to zero and never read).
    /* verilator lint_off UNUSEDSIGNAL */
    logic [32*N*(LEV+1)-1:0] v;
    /* verilator lint_on UNUSEDSIGNAL */
    // Valid pipeline of the tree: vsr[t] is in_valid delayed by t cycles; level l's inputs are
    // valid at vsr[l*ADD_LAT]. (Kept apart from the adders' own valid outputs, which are not
    // needed, so no combinational path runs from an adder's output back to an adder's input.)
    logic [LEV*ADD_LAT:0]    vsr;
    logic [NA-1:0]           node_ov;

    assign v[32*N-1:0] = in_data;
    assign vsr[0]      = in_valid;

    always_ff @(posedge clk) begin
      if (!rst_n) vsr[LEV*ADD_LAT:1] <= '0;
      else        vsr[LEV*ADD_LAT:1] <= vsr[LEV*ADD_LAT-1:0];
    end

    for (genvar l = 0; l < LEV; l++) begin : g_lev
      localparam int W    = eftrain_engine_pkg::tree_width(N, l);
      localparam int BASE = eftrain_engine_pkg::tree_node_base(N, l);

      for (genvar k = 0; k < W / 2; k++) begin : g_add
        logic        a_valid;
        logic [31:0] a_op, b_op, y;
        assign a_valid = sep ? in_valid : vsr[l*ADD_LAT];
        assign a_op    = sep ? sep_a[32*(BASE+k) +: 32] : v[32*(l*N + 2*k)     +: 32];
        assign b_op    = sep ? sep_b[32*(BASE+k) +: 32] : v[32*(l*N + 2*k + 1) +: 32];

        fp32_add #(.LATENCY(ADD_LAT)) u_add (
          .clk      (clk),
          .rst_n    (rst_n),
          .in_valid (a_valid),
          .a        (a_op),
          .b        (b_op),
          .out_valid(node_ov[BASE+k]),
          .y        (y)
        );

        assign v[32*((l+1)*N + k) +: 32] = y;
        assign sep_y[32*(BASE+k) +: 32]  = y;
      end

      if (W % 2 == 1) begin : g_pass
        // Odd last value: delayed by ADD_LAT registers to stay aligned with the sums.
        logic [32*ADD_LAT-1:0] dly;
        always_ff @(posedge clk) begin
          dly[31:0] <= v[32*(l*N + W - 1) +: 32];
          for (int i = 1; i < ADD_LAT; i++) dly[32*i +: 32] <= dly[32*(i-1) +: 32];
        end
        assign v[32*((l+1)*N + W/2) +: 32] = dly[32*ADD_LAT-1 -: 32];
      end

      // Unused value slots of the next level (beyond its width) are tied off.
      localparam int WN = eftrain_engine_pkg::tree_width(N, l + 1);
      if (WN < N) begin : g_tie
        assign v[32*((l+1)*N + WN) +: 32*(N-WN)] = '0;
      end
    end

    assign sum       = v[32*(LEV*N) +: 32];
    assign out_valid = sep ? vsr[ADD_LAT] : vsr[LEV*ADD_LAT];

    /* verilator lint_off UNUSEDSIGNAL */
    logic unused;  // the adders' valid outputs duplicate vsr
    assign unused = ^node_ov;
    /* verilator lint_on UNUSEDSIGNAL */
  end

endmodule

`default_nettype wire
