// EF-Train, open: one lane of an engine buffer, a simple dual-port RAM (inferred block RAM).
//
// One synchronous write port and one synchronous read port on the same clock. A read returns
// the word as it was before a write to the same address in the same cycle (read-first); the
// engine forwards such collisions itself where its order needs the new value.
//
// Parameters
//   DEPTH  words (any positive value; addresses >= DEPTH must not be used)
//   AW     address bits (default: enough for DEPTH)
//
// Ports
//   we, waddr, wdata   write wdata at waddr at the clock edge
//   re, raddr          read raddr at the clock edge
//   rdata              the word read at the last edge with re set (holds otherwise)

`default_nettype none

module engine_ram #(
  parameter int DEPTH = 1024,
  parameter int AW    = eftrain_engine_pkg::addr_bits(DEPTH)
) (
  input  wire logic          clk,
  input  wire logic          we,
  input  wire logic [AW-1:0] waddr,
  input  wire logic [31:0]   wdata,
  input  wire logic          re,
  input  wire logic [AW-1:0] raddr,
  output      logic [31:0]   rdata
);

  logic [31:0] mem [DEPTH];

  always_ff @(posedge clk) begin
    if (we) mem[waddr] <= wdata;
  end

  always_ff @(posedge clk) begin
    if (re) rdata <= mem[raddr];
  end

endmodule

`default_nettype wire
