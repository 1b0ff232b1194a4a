// EF-Train, open: a simple dual-port RAM of the vector unit (inferred block RAM).
//
// One synchronous write port and one synchronous read port on the same clock, WIDTH bits per
// word. A read returns the word as it was before a write to the same address in the same cycle
// (read-first); the users never rely on that case.
//
// Parameters
//   WIDTH  bits per word (>= 1)
//   DEPTH  words (>= 1; addresses >= DEPTH must not be used)
//   AW     address bits (default: enough for DEPTH, at least 1)
//
// Ports
//   we, waddr, wdata   write wdata at waddr at the clock edge
//   re, raddr          read raddr at the clock edge
//   rdata              the word read at the last edge with re set (holds otherwise)

`default_nettype none

module eftrain_vu_ram #(
  parameter int WIDTH = 128,
  parameter int DEPTH = 1024,
  parameter int AW    = (DEPTH <= 2) ? 1 : $clog2(DEPTH)
) (
  input  wire logic             clk,
  input  wire logic             we,
  input  wire logic [AW-1:0]    waddr,
  input  wire logic [WIDTH-1:0] wdata,
  input  wire logic             re,
  input  wire logic [AW-1:0]    raddr,
  output      logic [WIDTH-1:0] rdata
);

  logic [WIDTH-1:0] mem [DEPTH];

  always_ff @(posedge clk) begin
    if (we) mem[waddr] <= wdata;
  end

  always_ff @(posedge clk) begin
    if (re) rdata <= mem[raddr];
  end

endmodule

`default_nettype wire
