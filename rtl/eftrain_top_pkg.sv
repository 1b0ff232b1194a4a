// EF-Train, open: types shared by the layer controller of eftrain_top (sequencer, loader, storer,
// compute issuer). The sequencer (eftrain_layer_seq) expands one validated descriptor into three
// in-order op streams; every op carries the completion counts of the other units it waits for
// (dependency tracking by counters: an op starts only when each named unit has completed at least
// that many ops of the current layer; the sequencer only ever names ops it emitted earlier, so the
// three streams can never wait on each other in a cycle).

`default_nettype none

package eftrain_top_pkg;

  localparam int ADDR_W = 40;   // DRAM byte address bits inside the core (the AXI master's width)
  localparam int LEN_W  = 32;   // DMA command length bits (32-bit words)

  // Descriptor opcodes (eftrain/descriptors.py Opcode).
  localparam logic [7:0] OP_CONV_FP = 8'h01;
  localparam logic [7:0] OP_CONV_BP = 8'h02;
  localparam logic [7:0] OP_CONV_WU = 8'h03;
  localparam logic [7:0] OP_FC_FP   = 8'h04;
  localparam logic [7:0] OP_FC_BP   = 8'h05;
  localparam logic [7:0] OP_FC_WU   = 8'h06;
  localparam logic [7:0] FLAG_BIAS  = 8'h01;
  localparam logic [7:0] FLAG_RELU  = 8'h02;   // FP: ReLU fused into the final store

  // A decoded descriptor (eftrain/descriptors.py: the field layout; eftrain_top decodes it).
  typedef struct packed {
    logic [7:0]        opcode;
    logic [7:0]        flags;
    logic [15:0]       batch;
    logic [3:0]        k;
    logic [3:0]        stride;
    logic [3:0]        pad;
    logic [15:0]       m;
    logic [15:0]       n;
    logic [15:0]       h;
    logic [15:0]       w;
    logic [ADDR_W-1:0] src0;
    logic [ADDR_W-1:0] src1;
    logic [ADDR_W-1:0] src2;
    logic [ADDR_W-1:0] dst;
    logic [15:0]       tr;
    logic [15:0]       chunk;
  } desc_t;


  // Loader op kinds.
  localparam logic [1:0] LD_FILL = 2'd0;  // engine zero fill
  localparam logic [1:0] LD_FMAP = 2'd1;  // feature map / bias: TN words per pixel, one port beat per stream beat
  localparam logic [1:0] LD_W    = 2'd2;  // weight tile [kh][kw][i][j]

  typedef struct packed {
    logic [1:0]        kind;
    logic [1:0]        buf_sel;
    logic              bank;
    logic [ADDR_W-1:0] addr;        // byte address of segment 0
    logic [15:0]       nseg;        // DMA commands (segments), >= 1
    logic [LEN_W-1:0]  seg_words;   // words per segment
    logic [ADDR_W-1:0] seg_stride;  // bytes between segment starts
    logic [15:0]       base;        // FMAP: buffer address of pixel 0; W: w_base; FILL: first address
    logic [15:0]       width;       // FMAP: pixels per row
    logic [15:0]       col_step;    // FMAP: buffer address step per column
    logic [15:0]       row_step;    // FMAP: buffer address step per row
    logic [15:0]       count;       // FILL: addresses
    logic [2:0]        k;           // W
    logic              flip;        // W: BP transform on the load port
    logic [31:0]       wait_computed;
    logic [31:0]       wait_stored;
  } ld_op_t;

  // Store op kinds.
  localparam logic [0:0] ST_FMAP = 1'b0;  // output buffer -> feature map
  localparam logic [0:0] ST_W    = 1'b1;  // compacted WU results -> weight-gradient tile

  typedef struct packed {
    logic              kind;
    logic              bank;
    logic [ADDR_W-1:0] addr;
    logic [15:0]       nseg;
    logic [LEN_W-1:0]  seg_words;
    logic [ADDR_W-1:0] seg_stride;
    logic [15:0]       base;         // FMAP: output-buffer address of pixel 0; W: compacted base
    logic [31:0]       npix;         // FMAP: pixels
    logic [8:0]        lanes_valid;  // FMAP: lanes carrying data (the rest are written +0.0)
    logic [2:0]        k;            // W
    logic [8:0]        rows_valid;   // W: rows i carrying data
    logic [8:0]        cols_valid;   // W: columns j carrying data
    logic              relu;         // FMAP: write relu(v) (the layer's final output, Flag.RELU)
    logic [31:0]       wait_computed;
  } st_op_t;

  // Engine command (fields as rtl/eftrain_engine.sv) plus its gates.
  typedef struct packed {
    logic [2:0]  mode;
    logic [2:0]  k;
    logic [2:0]  stride;
    logic [15:0] rows_out;
    logic [15:0] cols_out;
    logic [15:0] cols_in;
    logic        in_bank;
    logic        out_bank;
    logic [15:0] w_base;
    logic [1:0]  acc_init;
    logic [7:0]  wu_t0;
    logic [31:0] wait_loaded;
    logic [31:0] wait_stored;
  } cu_op_t;

endpackage
