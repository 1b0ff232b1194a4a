// EF-Train, open: command, buffer and error codes of the unified FP32 engine (eftrain_engine).
//
// The Python side mirrors these values in tb/engine/driver.py (class Mode, AccInit, Buf, Err);
// change both together.
//
// Modes (cmd_mode)
//   MODE_FP          forward convolution tile: out[i][p] (+)= tree_j(w[i][j][kh][kw] * in[j][...])
//   MODE_BP          input-gradient tile: the same datapath as FP. The loader has already written
//                    the zero-inserted, padded gradient map into the input buffer and the flipped,
//                    channel-swapped weights into the weight buffer (load-port flip mode), and
//                    the command uses stride 1. The engine treats BP exactly like FP.
//   MODE_WU          weight-gradient tile: L interleaved partial sums per (i, j, kh, kw)
//   MODE_WU_CLEAR    set a WU tile's partial sums to -0.0
//   MODE_WU_COMBINE  reduce each accumulator's L partials with the golden tree and compact dW
//
// Accumulator start (cmd_acc_init, FP/BP only, applied at kernel position 0)
//   ACC_CONTINUE     add onto the output buffer's current value
//   ACC_NEG_ZERO     start from -0.0
//   ACC_BIAS         start from the bias register of the output lane
//
// Buffer ids of the load and unload ports (ld_buf, rd_buf)
//   BUF_IN, BUF_OUT, BUF_W, BUF_BIAS
//
// Error codes (done_err), checked once per command before any buffer is touched; a command with
// an error writes nothing and completes after the set-up cycles.
//
// Yosys 0.23 does not parse `import pkg::*;` inside a module: users write eftrain_engine_pkg::X.

`default_nettype none

package eftrain_engine_pkg;

  /* verilator lint_off UNUSEDPARAM */
  // Command modes.
  localparam logic [2:0] MODE_FP          = 3'd0;
  localparam logic [2:0] MODE_BP          = 3'd1;
  localparam logic [2:0] MODE_WU          = 3'd2;
  localparam logic [2:0] MODE_WU_CLEAR    = 3'd3;
  localparam logic [2:0] MODE_WU_COMBINE  = 3'd4;

  // Accumulator start values.
  localparam logic [1:0] ACC_CONTINUE     = 2'd0;
  localparam logic [1:0] ACC_NEG_ZERO     = 2'd1;
  localparam logic [1:0] ACC_BIAS         = 2'd2;

  // Buffer ids.
  localparam logic [1:0] BUF_IN           = 2'd0;
  localparam logic [1:0] BUF_OUT          = 2'd1;
  localparam logic [1:0] BUF_W            = 2'd2;
  localparam logic [1:0] BUF_BIAS         = 2'd3;

  // Error codes.
  localparam logic [3:0] ERR_NONE         = 4'd0;
  localparam logic [3:0] ERR_MODE         = 4'd1;   // unknown mode or acc_init
  localparam logic [3:0] ERR_K            = 4'd2;   // K outside 1..7
  localparam logic [3:0] ERR_STRIDE       = 4'd3;   // stride outside 1..4
  localparam logic [3:0] ERR_SHAPE        = 4'd4;   // rows_out or cols_out zero, or cols_in too small
  localparam logic [3:0] ERR_IN_RANGE     = 4'd5;   // input-buffer window beyond IN_DEPTH
  localparam logic [3:0] ERR_OUT_RANGE    = 4'd6;   // rows_out*cols_out beyond OUT_DEPTH
  localparam logic [3:0] ERR_W_RANGE      = 4'd7;   // weight / partial-sum window beyond W_DEPTH
  localparam logic [3:0] ERR_T0           = 4'd8;   // wu_t0 >= L

  localparam logic [31:0] FP32_NEG_ZERO   = 32'h8000_0000;
  /* verilator lint_on UNUSEDPARAM */

  // Address width of a memory of `depth` words (at least 1 bit).
  function automatic int addr_bits(input int depth);
    addr_bits = (depth <= 2) ? 1 : $clog2(depth);
  endfunction

  // Adder-tree shape (the golden tree_sum): level l (0 = the N inputs) holds
  // ceil(N / 2^l) values; adjacent pairs are added, an odd last value passes through unchanged.
  function automatic int tree_levels(input int n);
    tree_levels = (n <= 1) ? 0 : $clog2(n);
  endfunction

  function automatic int tree_width(input int n, input int level);
    tree_width = (n + (1 << level) - 1) >> level;
  endfunction

  // Index of the first adder of `level` (0-based level of the adders' inputs) when the tree's
  // N-1 adders are numbered level by level, left to right.
  function automatic int tree_node_base(input int n, input int level);
    tree_node_base = 0;
    for (int l = 0; l < level; l++) tree_node_base = tree_node_base + tree_width(n, l) / 2;
  endfunction

endpackage

`default_nettype wire
