// EF-Train, open: the command check of the AXI4 DMA (axi_dma): window, alignment, length.
//
// Combinational. Every read and write command of axi_dma_rd / axi_dma_wr goes through this check
// before any AXI request of it is issued; a command that fails completes with the status below
// and issues nothing. The status codes are the DMA's (table in axi_dma.sv):
//
//   1 ZERO_LENGTH     len == 0                                       (checked first)
//   2 MISALIGNED      addr is not a multiple of 4 bytes              (then this)
//   3 OUT_OF_WINDOW   [addr, addr + 4*len) is not inside [win_base, win_limit)   (then this)
//   0 OK              otherwise
//
// The end address is computed one bit wider than both operands, so nothing wraps: a transfer
// that would run past the top of the address space is out of the window. An empty or inverted
// window (win_limit <= win_base) rejects every command.
//
// Parameters
//   ADDR_W   byte-address bits
//   LEN_W    length bits (the length counts 32-bit words)

`default_nettype none

module axi_dma_check #(
  parameter int ADDR_W = 40,
  parameter int LEN_W  = 32
) (
  input  wire logic [ADDR_W-1:0] addr,
  input  wire logic [LEN_W-1:0]  len,
  input  wire logic [ADDR_W-1:0] win_base,
  input  wire logic [ADDR_W-1:0] win_limit,
  output      logic [3:0]        status
);

  localparam logic [3:0] ST_OK            = 4'd0;
  localparam logic [3:0] ST_ZERO_LENGTH   = 4'd1;
  localparam logic [3:0] ST_MISALIGNED    = 4'd2;
  localparam logic [3:0] ST_OUT_OF_WINDOW = 4'd3;

  // Wide enough for addr + 4*len without overflow.
  localparam int EW = ((ADDR_W > LEN_W + 2) ? ADDR_W : LEN_W + 2) + 1;

  logic [EW-1:0] end_addr;

  always_comb begin
    end_addr = EW'(addr) + (EW'(len) << 2);
    if (len == '0)
      status = ST_ZERO_LENGTH;
    else if (addr[1:0] != 2'b00)
      status = ST_MISALIGNED;
    else if ((addr < win_base) || (end_addr > EW'(win_limit)))
      status = ST_OUT_OF_WINDOW;
    else
      status = ST_OK;
  end

endmodule

`default_nettype wire
