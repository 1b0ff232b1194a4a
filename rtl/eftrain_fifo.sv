// EF-Train, open: a small synchronous FIFO (valid/ready on both sides, first word fall-through).
//
// DEPTH entries (>= 2, a power of two) of WIDTH bits. in_ready = not full; out_valid = not
// empty; a push and a pop can happen in the same cycle. `clear` (synchronous) empties it.
// Storage is a plain register array (distributed RAM / flip-flops): meant for shallow queues of
// wide control words (the layer controller's op streams).

`default_nettype none

module eftrain_fifo #(
  parameter int WIDTH = 32,
  parameter int DEPTH = 4
) (
  input  wire logic             clk,
  input  wire logic             rst_n,
  input  wire logic             clear,
  input  wire logic             in_valid,
  output      logic             in_ready,
  input  wire logic [WIDTH-1:0] in_data,
  output      logic             out_valid,
  input  wire logic             out_ready,
  output      logic [WIDTH-1:0] out_data
);
  localparam int AW = $clog2(DEPTH);

  logic [WIDTH-1:0] mem [DEPTH];
  logic [AW:0]      wp, rp;

  wire push = in_valid && in_ready;
  wire pop  = out_valid && out_ready;

  assign in_ready  = (wp - rp) != (AW+1)'(DEPTH);
  assign out_valid = wp != rp;
  assign out_data  = mem[rp[AW-1:0]];

  always_ff @(posedge clk) begin
    if (push) mem[wp[AW-1:0]] <= in_data;
  end

  always_ff @(posedge clk) begin
    if (!rst_n || clear) begin
      wp <= '0;
      rp <= '0;
    end else begin
      if (push) wp <= wp + 1'b1;
      if (pop)  rp <= rp + 1'b1;
    end
  end

  if (DEPTH < 2 || (1 << AW) != DEPTH) begin : g_bad_depth
    $error("eftrain_fifo: DEPTH must be a power of two >= 2");
  end

endmodule
