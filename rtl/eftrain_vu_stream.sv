// EF-Train, open: the streaming vector unit. Executes the training ops besides the convolutions
// that stream through DRAM in address order: RELU_BP, global AVGPOOL_FP / AVGPOOL_BP
// (Flag.GLOBAL), BN_FP (+Flag.RELU), BN_BP (+Flag.RELU), BIAS_GRAD and SGD. The arithmetic is
// bit-exact with eftrain/golden/vector.py (module documentation: the reduction R, ReLU, global
// pooling, batch norm, SGD), the descriptor semantics are eftrain/descriptors.py and the result is
// the DRAM image eftrain/machine.py GoldenMachine.execute leaves (padding lanes computed like real
// lanes). The windowed pools live in a sibling module with the same interface.
//
// Parameters
//   TN          lanes per channel block (the engine's Tn; the feature-map layout's CB), >= 1
//   WPB         32-bit words per DMA beat (axi_dma DATA_W / 32), a power of two, TN % WPB == 0
//   ACC_L       interleaved partial sums of the reduction R (HwConfig.acc_interleave), a power of
//               two >= 2 and >= ADD_LAT + 1 (a partial sum is revisited every ACC_L pixels)
//   MUL_LAT     fp32_mul latency (HwConfig.mul_latency)
//   ADD_LAT     fp32_add latency (HwConfig.add_latency)
//   ADDR_W      DMA byte-address bits (axi_dma ADDR_W; eftrain_top_pkg::ADDR_W = 40)
//   LEN_W       DMA command length bits (axi_dma LEN_W)
//   CHUNK       beats per DMA command of a streaming pass (default 32). Not a configuration value.
//   FIFO_DEPTH  beats of each of the five stream FIFOs, a power of two >= CHUNK (default 128;
//               >= 2 * CHUNK keeps the reads of one tensor in flight while another's are used).
//               Not a configuration value.
//   fp32_div / fp32_sqrt run at their documented default LATENCY (the scalar unit counts their
//   results, it needs no latency value).
//
// Interface (shared with the windowed-pool module, so the top can mux the DMA between them)
//   start       1-cycle pulse with the descriptor fields (sampled at start): op, flags, batch, ch
//               (the descriptor's n = C), h, w, k, stride (unused here: the global pools have
//               k = s = 1), count (SGD: word 2), src0/src1/src2/dst (byte addresses), s0/s1/s2
//               (words 13..15: BN_FP eps, momentum; SGD lr, momentum, weight decay). The
//               descriptor is assumed valid (eftrain.descriptors.validate). An op this module does
//               not implement (a windowed pool, a convolution) gives a done pulse at once and
//               touches nothing.
//   ext_g       (sampled at start; SGD only, ignored otherwise) the gradient g comes from the
//               g_valid / g_ready / g_data stream (count / WPB beats, WPB words each, in address
//               order) instead of DRAM: the walker reads only v and w, and src0 is unused. The top
//               runs WU's fused SGD this way: one SGD op per dW tile, g straight from the
//               engine. g_ready is high only while the op runs and FIFO 0 has room (after a DMA
//               error: always, the beats are dropped). An SGD op starts its walker at once (it
//               needs none of the setup's size products).
//   done        1-cycle pulse after the last write of the op completed OK (its wr_done arrived).
//   busy        from start until done (and, after a DMA error, until abort).
//   err_valid / err_status   the first DMA completion with status != 0 (axi_dma codes), held until
//               abort. From the first failing completion or rds_err beat on, the unit issues no
//               DMA command and no write beat, and accepts (drops) every read beat and completion
//               the DMA still delivers: nothing hangs. Write commands already issued keep the
//               DMA's write side waiting for data; abort (with the DMA's soft_reset) recovers.
//   abort       synchronous: every state, FIFO and pipeline is dropped, idle the next cycle.
//   DMA read side rd_cmd_*, rds_*, rd_done_* and write side wr_cmd_*, wrs_*, wr_done_* as
//               axi_dma names them. Every command is a whole number of beats (rds_keep is all
//               ones and not looked at); completion addresses are not used.
//
// Architecture
//   The op runs as two programs in lock step over the same data order, one issuing DMA commands
//   (the walker), one consuming and producing data (the compute sequencer), joined by FIFOs:
//     walker   per group (one channel block cb for BN / BIAS_GRAD, one plane (b, cb) for the global
//              pools, the whole tensor for RELU_BP / SGD): TN-word slices (BN block vectors,
//              pooled values) and streaming passes; a pass walks its segments (the planes (b, cb)
//              of a channel block, b = 0..B-1; the whole contiguous tensor) in CHUNK-beat chunks,
//              reading chunk i of each input tensor in turn (dy then y, g then v then w) and
//              queueing the write of chunk i of each output. Reads are credit-based: a command is
//              issued only when its input FIFO has room for all of it, so every beat is accepted
//              at once and the read stream never stalls on the join. Write commands are released
//              to the DMA when the first beat of their data exists (no AW waits on a long pass).
//     compute  a micro-program per op (LOADV: a slice from FIFO 0 into a vector register; PASS:
//              the elementwise pipeline over the pass's beats; TREE; SOP: a per-lane scalar
//              operation through the shared add / mul / div / sqrt; STOREV: a vector register to
//              the output FIFO). Each step except PASS issue waits until the pipeline is empty.
//   Elementwise pipeline: WPB word lanes, each a fixed chain of fp32 units (5 adders, 6
//   multipliers; fixed latency 5*ADD_LAT + 4*MUL_LAT) that every pass mode taps where it needs:
//     U1  x - mean            U2a d*d | d*invstd | wd*w     U2b mom*v       U3 xhat*gamma
//     U4  + beta | g + wd*w   mask (ReLU, relu_bp, z > 0)   U6a nf*g       U6b g*xhat | xhat*dgamma
//     U7  nf*g - dbeta | mom*v + d                          U8 - xhat*dgamma
//     U9  scale*inner | lr*v'  U10 w - lr*v'
//   One beat (WPB words of one pixel, lanes l0..l0+WPB-1) enters per cycle when its inputs are
//   in the FIFOs and the output FIFOs have room: RELU_BP, BN passes and SGD stream at the DMA read
//   rate (one read beat per cycle shared by the input tensors), the reductions at one beat per cycle.
//   Reduction R: 2 x TN x ACC_L partial sums (two banks: BN_BP needs dbeta and dgamma at once),
//   WPB adders per bank; the word of lane j at pixel t (counted over the whole stream of the
//   reduction: t = b*H*W + pixel for BN / BIAS_GRAD, the image's pixel for global pooling) adds
//   into p[j][t mod ACC_L]; start -0.0. TREE then adds adjacent partials in place with the same
//   adders, level by level (golden tree_sum for a power-of-two width).
//   Scalar unit: TN lanes one per cycle through one fp32_add / fp32_mul / fp32_div / fp32_sqrt
//   (a step waits for its TN results). n = B*H*W, n - 1 and H*W are converted to binary32 with
//   round to nearest even (exact up to 2^24) at op start; the few address products come from a
//   shift-add unit there too (about 60 cycles per op).
//
// Throughput (steady state, no DRAM stalls): RELU_BP one output beat per 2 read beats, SGD 2
// output beats per 3 read beats, BN_FP 3 reads of x per channel block, BN_BP 2 x (dy + x), at one
// read beat per cycle; per channel block / plane a fixed overhead of pipeline drains, the tree
// (TN*(ACC_L-1)/WPB issue cycles + log2(ACC_L) adder latencies) and about TN + latency cycles per
// scalar step (BN_FP: 15 steps). Measured (tb/vu_stream, DRAM latency 40): the read stream is 99%
// busy while RELU_BP streams, 96% for SGD; about 100 cycles of start-up and finish per op.
//
// Resources (Yosys 0.23 synth_xilinx -family xcup, zcu102 parameters TN 16, WPB 4; ci/rtl_check.py
// synth --top eftrain_vu_stream): 41.3k LUT, 21.5k FF, 212 DSP48E2, 10 BRAM36 (the stream FIFOs),
// 64 LUTRAM LUTs. About half is the 54 fp32 units (52 in the WPB-wide pipeline and partial sums);
// the rest mostly the vector registers (10 x TN words) and partial sums (2 x TN x ACC_L words) in
// flip-flops with their read multiplexers, and the delay lines (SRL16E).
// Coding note (Yosys 0.23): signals wired to instance ports are packed vectors, not unpacked-array
// elements; otherwise Yosys re-derives this module during `hierarchy` and renames the top.

`default_nettype none

module eftrain_vu_stream #(
  parameter int TN         = 4,
  parameter int WPB        = 4,
  parameter int ACC_L      = 4,
  parameter int MUL_LAT    = 2,
  parameter int ADD_LAT    = 3,
  parameter int ADDR_W     = 40,
  parameter int LEN_W      = 32,
  parameter int CHUNK      = 32,
  parameter int FIFO_DEPTH = 128
) (
  input  wire logic                clk,
  input  wire logic                rst_n,
  // 'abort' is also a C function; Verilator mangles the name, the waiver only silences the note.
  /* verilator lint_off SYMRSVDWORD */
  input  wire logic                abort,
  /* verilator lint_on SYMRSVDWORD */

  // Op (sampled with start).
  input  wire logic                start,
  input  wire logic [7:0]          op,
  input  wire logic [7:0]          flags,
  input  wire logic [15:0]         batch,
  input  wire logic [15:0]         ch,
  input  wire logic [15:0]         h,
  input  wire logic [15:0]         w,
  input  wire logic [3:0]          k,
  input  wire logic [3:0]          stride,
  input  wire logic [31:0]         count,
  input  wire logic [ADDR_W-1:0]   src0,
  input  wire logic [ADDR_W-1:0]   src1,
  input  wire logic [ADDR_W-1:0]   src2,
  input  wire logic [ADDR_W-1:0]   dst,
  input  wire logic [31:0]         s0,
  input  wire logic [31:0]         s1,
  input  wire logic [31:0]         s2,
  // SGD only: g comes from the g_* stream below instead of DRAM (src0 unused; sampled at start).
  input  wire logic                ext_g,
  output      logic                done,
  output      logic                busy,
  output      logic                err_valid,
  output      logic [3:0]          err_status,

  // DMA read side (axi_dma rd_cmd_*, rds_*, rd_done_*).
  output      logic                rd_cmd_valid,
  input  wire logic                rd_cmd_ready,
  output      logic [ADDR_W-1:0]   rd_cmd_addr,
  output      logic [LEN_W-1:0]    rd_cmd_len,
  input  wire logic                rds_valid,
  output      logic                rds_ready,
  input  wire logic [32*WPB-1:0]   rds_data,
  input  wire logic [WPB-1:0]      rds_keep,
  input  wire logic                rds_last,
  input  wire logic                rds_err,
  input  wire logic                rd_done_valid,
  output      logic                rd_done_ready,
  input  wire logic [3:0]          rd_done_status,
  input  wire logic [ADDR_W-1:0]   rd_done_addr,

  // DMA write side (axi_dma wr_cmd_*, wrs_*, wr_done_*).
  output      logic                wr_cmd_valid,
  input  wire logic                wr_cmd_ready,
  output      logic [ADDR_W-1:0]   wr_cmd_addr,
  output      logic [LEN_W-1:0]    wr_cmd_len,
  output      logic                wrs_valid,
  input  wire logic                wrs_ready,
  output      logic [32*WPB-1:0]   wrs_data,
  input  wire logic                wr_done_valid,
  output      logic                wr_done_ready,
  input  wire logic [3:0]          wr_done_status,
  input  wire logic [ADDR_W-1:0]   wr_done_addr,

  // External gradient stream (SGD with ext_g): count / WPB beats of WPB words, in address order.
  input  wire logic                g_valid,
  output      logic                g_ready,
  input  wire logic [32*WPB-1:0]   g_data
);

  // ---------------------------------------------------------------------------------------------
  // Sizes.
  // ---------------------------------------------------------------------------------------------
  localparam int DW    = 32 * WPB;
  localparam int BPP   = TN / WPB;                          // beats per pixel
  localparam int LGW   = (BPP > 1) ? $clog2(BPP) : 1;       // lane-group index bits
  localparam int KW    = (ACC_L > 1) ? $clog2(ACC_L) : 1;   // partial-sum index bits
  localparam int NLEV  = (ACC_L > 1) ? $clog2(ACC_L) : 1;   // tree levels
  localparam int SLW   = $clog2(TN + 1);                    // scalar lane counter 0..TN
  localparam int WPBL  = (WPB > 1) ? $clog2(WPB) : 0;       // log2 words per beat
  localparam int BBL   = WPBL + 2;                          // log2 bytes per beat
  localparam int CNW   = 16;                                // beats of one DMA command
  localparam int XW    = 48;                                // op-setup arithmetic
  localparam int NVR   = 10;                                // vector registers
  localparam int FQ    = 8;                                 // write-command queues
  localparam int TQ    = 16;                                // read-tag queue

  // Pipeline times (cycles after a beat is issued) where each unit takes its operands.
  localparam int A      = ADD_LAT;
  localparam int M      = MUL_LAT;
  localparam int T_U2   = A;               // U2a, U2b
  localparam int T_U3   = A + M;           // U3; U2a/U2b results
  localparam int T_U4   = A + 2 * M;       // U4; U3 result
  localparam int T_U5   = 2 * A + 2 * M;   // mask, U6a/U6b; U4 result
  localparam int T_U7   = 2 * A + 3 * M;   // U7; U6 results
  localparam int T_U8   = 3 * A + 3 * M;   // U8; U7 result
  localparam int T_U9   = 4 * A + 3 * M;   // U9; U8 result
  localparam int T_U10  = 4 * A + 4 * M;   // U10; U9 result
  localparam int T_END  = 5 * A + 4 * M;   // U10 result

  // ---------------------------------------------------------------------------------------------
  // Elaboration checks.
  // ---------------------------------------------------------------------------------------------
  if (WPB < 1 || (1 << WPBL) != WPB) begin : g_err_wpb
    $error("eftrain_vu_stream: WPB (%0d) must be a power of two", WPB);
  end
  if (TN < 1 || TN % WPB != 0 || 4 * TN >= 65536) begin : g_err_tn
    $error("eftrain_vu_stream: TN (%0d) must be a positive multiple of WPB (%0d), < 16384", TN, WPB);
  end
  if (ACC_L < 2 || (1 << KW) != ACC_L || ACC_L < ADD_LAT + 1) begin : g_err_accl
    $error("eftrain_vu_stream: ACC_L (%0d) must be a power of two >= max(2, ADD_LAT + 1)", ACC_L);
  end
  if (MUL_LAT < 1 || ADD_LAT < 1) begin : g_err_lat
    $error("eftrain_vu_stream: MUL_LAT and ADD_LAT must be >= 1");
  end
  if (CHUNK < 1 || CHUNK >= (1 << CNW) || BPP >= (1 << CNW)) begin : g_err_chunk
    $error("eftrain_vu_stream: CHUNK (%0d) must be 1..65535", CHUNK);
  end
  if (FIFO_DEPTH < 2 || (1 << $clog2(FIFO_DEPTH)) != FIFO_DEPTH || FIFO_DEPTH < CHUNK
      || FIFO_DEPTH < BPP) begin : g_err_fifo
    $error("eftrain_vu_stream: FIFO_DEPTH (%0d) must be a power of two >= CHUNK, TN/WPB", FIFO_DEPTH);
  end

  // ---------------------------------------------------------------------------------------------
  // Opcodes, op kinds, register numbers, micro-programs.
  // ---------------------------------------------------------------------------------------------
  localparam logic [7:0] OP_RELU_BP    = 8'h07;
  localparam logic [7:0] OP_AVGPOOL_FP = 8'h0A;
  localparam logic [7:0] OP_AVGPOOL_BP = 8'h0B;
  localparam logic [7:0] OP_BN_FP      = 8'h0C;
  localparam logic [7:0] OP_BN_BP      = 8'h0D;
  localparam logic [7:0] OP_BIAS_GRAD  = 8'h0E;
  localparam logic [7:0] OP_SGD        = 8'h0F;
  localparam int         FLAG_RELU     = 1;   // bit of flags
  localparam int         FLAG_GLOBAL   = 2;

  localparam logic [2:0] K_NONE = 3'd0, K_RELU = 3'd1, K_GAPF = 3'd2, K_GAPB = 3'd3,
                         K_BNF  = 3'd4, K_BNB  = 3'd5, K_BIAS = 3'd6, K_SGD  = 3'd7;

  // Vector registers (TN lanes each) and the source index space of the scalar unit.
  localparam logic [4:0] R_GAMMA = 5'd0, R_BETA = 5'd1, R_MEAN = 5'd2, R_INVSTD = 5'd3,
                         R_RM = 5'd4, R_RV = 5'd5, R_T0 = 5'd6, R_T1 = 5'd7, R_T2 = 5'd8,
                         R_T3 = 5'd9;
  localparam int VR_GAMMA = 0, VR_BETA = 1, VR_MEAN = 2, VR_INVSTD = 3, VR_T1 = 7;   // (as int)
  localparam logic [4:0] S_ACC0 = 5'd16, S_ACC1 = 5'd17,   // partial sum 0 of a bank (tree result)
                         S_ONE = 5'd24, S_NF = 5'd25, S_NM1 = 5'd26, S_PF = 5'd27,
                         S_EPS = 5'd28, S_MOM = 5'd29, S_OMM = 5'd30;   // broadcast scalars

  // Pass modes of the elementwise pipeline.
  localparam logic [4:0] M_RELU = 5'd0, M_SUM = 5'd1, M_SQDEV = 5'd2, M_NORM = 5'd3,
                         M_BNB1 = 5'd4, M_BNB2 = 5'd5, M_SGD = 5'd6, M_BCAST = 5'd7;

  // Scalar operations.
  localparam logic [2:0] SOP_ADD = 3'd0, SOP_SUB = 3'd1, SOP_MUL = 3'd2, SOP_DIV = 3'd3,
                         SOP_SQRT = 3'd4;

  // Compute micro-instructions {type[2:0], f1[5:0], f2[4:0], f3[4:0], sop[2:0]}:
  //   END    f1 = group start (loop while groups remain)    LOADV  f1 = destination register
  //   STOREV f1 = source index                               CLEAR  both partial-sum banks = -0.0
  //   PASS   f1 = mode                                       TREE   both banks' adder trees
  //   SOP    f1 = destination (S_OMM: one lane), f2 = a, f3 = b (SQRT: a), sop
  localparam logic [2:0] C_END = 3'd0, C_LOADV = 3'd1, C_STOREV = 3'd2, C_CLEAR = 3'd3,
                         C_PASS = 3'd4, C_TREE = 3'd5, C_SOP = 3'd6;

  localparam logic [5:0] CPC_BNF = 6'd0, CPC_BNB = 6'd29, CPC_BIAS = 6'd42, CPC_GAPF = 6'd47,
                         CPC_GAPB = 6'd53, CPC_RELU = 6'd57, CPC_SGD = 6'd59;

  function automatic logic [21:0] crom(input logic [5:0] pc);
    case (pc)
      // BN_FP: omm = 1 - momentum once; per channel block: the parameters, pass 1 (sum -> mean),
      // pass 2 (squared deviations -> var, invstd, running statistics), the saved statistics,
      // pass 3 (normalize, ReLU, write y).
      6'd0:  crom = {C_SOP,    1'b0, S_OMM,    S_ONE,  S_MOM,  SOP_SUB};
      6'd1:  crom = {C_LOADV,  1'b0, R_GAMMA,  10'd0,          3'd0};
      6'd2:  crom = {C_LOADV,  1'b0, R_BETA,   10'd0,          3'd0};
      6'd3:  crom = {C_LOADV,  1'b0, R_RM,     10'd0,          3'd0};
      6'd4:  crom = {C_LOADV,  1'b0, R_RV,     10'd0,          3'd0};
      6'd5:  crom = {C_CLEAR,  6'd0,           10'd0,          3'd0};
      6'd6:  crom = {C_PASS,   1'b0, M_SUM,    10'd0,          3'd0};
      6'd7:  crom = {C_TREE,   6'd0,           10'd0,          3'd0};
      6'd8:  crom = {C_SOP,    1'b0, R_MEAN,   S_ACC0, S_NF,   SOP_DIV};
      6'd9:  crom = {C_CLEAR,  6'd0,           10'd0,          3'd0};
      6'd10: crom = {C_PASS,   1'b0, M_SQDEV,  10'd0,          3'd0};
      6'd11: crom = {C_TREE,   6'd0,           10'd0,          3'd0};
      6'd12: crom = {C_SOP,    1'b0, R_T0,     S_ACC0, S_NF,   SOP_DIV};    // var
      6'd13: crom = {C_SOP,    1'b0, R_T0,     R_T0,   S_EPS,  SOP_ADD};    // var + eps
      6'd14: crom = {C_SOP,    1'b0, R_T0,     R_T0,   5'd0,   SOP_SQRT};
      6'd15: crom = {C_SOP,    1'b0, R_INVSTD, S_ONE,  R_T0,   SOP_DIV};
      6'd16: crom = {C_SOP,    1'b0, R_T1,     S_ACC0, S_NM1,  SOP_DIV};    // unbiased var
      6'd17: crom = {C_SOP,    1'b0, R_T2,     S_MOM,  R_MEAN, SOP_MUL};
      6'd18: crom = {C_SOP,    1'b0, R_T3,     S_OMM,  R_RM,   SOP_MUL};
      6'd19: crom = {C_SOP,    1'b0, R_RM,     R_T2,   R_T3,   SOP_ADD};    // running_mean'
      6'd20: crom = {C_SOP,    1'b0, R_T2,     S_MOM,  R_T1,   SOP_MUL};
      6'd21: crom = {C_SOP,    1'b0, R_T3,     S_OMM,  R_RV,   SOP_MUL};
      6'd22: crom = {C_SOP,    1'b0, R_RV,     R_T2,   R_T3,   SOP_ADD};    // running_var'
      6'd23: crom = {C_STOREV, 1'b0, R_RM,     10'd0,          3'd0};
      6'd24: crom = {C_STOREV, 1'b0, R_RV,     10'd0,          3'd0};
      6'd25: crom = {C_STOREV, 1'b0, R_MEAN,   10'd0,          3'd0};
      6'd26: crom = {C_STOREV, 1'b0, R_INVSTD, 10'd0,          3'd0};
      6'd27: crom = {C_PASS,   1'b0, M_NORM,   10'd0,          3'd0};
      6'd28: crom = {C_END,    6'd1,           10'd0,          3'd0};
      // BN_BP: per channel block: the parameters, pass 1 (dbeta, dgamma), scale, the gradients
      // dgamma, dbeta, pass 2 (dx).
      6'd29: crom = {C_LOADV,  1'b0, R_GAMMA,  10'd0,          3'd0};
      6'd30: crom = {C_LOADV,  1'b0, R_BETA,   10'd0,          3'd0};
      6'd31: crom = {C_LOADV,  1'b0, R_MEAN,   10'd0,          3'd0};
      6'd32: crom = {C_LOADV,  1'b0, R_INVSTD, 10'd0,          3'd0};
      6'd33: crom = {C_CLEAR,  6'd0,           10'd0,          3'd0};
      6'd34: crom = {C_PASS,   1'b0, M_BNB1,   10'd0,          3'd0};
      6'd35: crom = {C_TREE,   6'd0,           10'd0,          3'd0};
      6'd36: crom = {C_SOP,    1'b0, R_T0,     R_GAMMA, R_INVSTD, SOP_MUL};
      6'd37: crom = {C_SOP,    1'b0, R_T1,     R_T0,   S_NF,   SOP_DIV};    // scale
      6'd38: crom = {C_STOREV, 1'b0, S_ACC1,   10'd0,          3'd0};       // dgamma
      6'd39: crom = {C_STOREV, 1'b0, S_ACC0,   10'd0,          3'd0};       // dbeta
      6'd40: crom = {C_PASS,   1'b0, M_BNB2,   10'd0,          3'd0};
      6'd41: crom = {C_END,    CPC_BNB,        10'd0,          3'd0};
      // BIAS_GRAD: per channel block: R(dy), stored.
      6'd42: crom = {C_CLEAR,  6'd0,           10'd0,          3'd0};
      6'd43: crom = {C_PASS,   1'b0, M_SUM,    10'd0,          3'd0};
      6'd44: crom = {C_TREE,   6'd0,           10'd0,          3'd0};
      6'd45: crom = {C_STOREV, 1'b0, S_ACC0,   10'd0,          3'd0};
      6'd46: crom = {C_END,    CPC_BIAS,       10'd0,          3'd0};
      // AVGPOOL_FP global: per plane (b, cb): R(x) / float32(H*W).
      6'd47: crom = {C_CLEAR,  6'd0,           10'd0,          3'd0};
      6'd48: crom = {C_PASS,   1'b0, M_SUM,    10'd0,          3'd0};
      6'd49: crom = {C_TREE,   6'd0,           10'd0,          3'd0};
      6'd50: crom = {C_SOP,    1'b0, R_T0,     S_ACC0, S_PF,   SOP_DIV};
      6'd51: crom = {C_STOREV, 1'b0, R_T0,     10'd0,          3'd0};
      6'd52: crom = {C_END,    CPC_GAPF,       10'd0,          3'd0};
      // AVGPOOL_BP global: per plane (b, cb): dy / float32(H*W) broadcast over the plane.
      6'd53: crom = {C_LOADV,  1'b0, R_T0,     10'd0,          3'd0};
      6'd54: crom = {C_SOP,    1'b0, R_T1,     R_T0,   S_PF,   SOP_DIV};
      6'd55: crom = {C_PASS,   1'b0, M_BCAST,  10'd0,          3'd0};
      6'd56: crom = {C_END,    CPC_GAPB,       10'd0,          3'd0};
      // RELU_BP, SGD: one pass over the whole tensor.
      6'd57: crom = {C_PASS,   1'b0, M_RELU,   10'd0,          3'd0};
      6'd58: crom = {C_END,    CPC_RELU,       10'd0,          3'd0};
      6'd59: crom = {C_PASS,   1'b0, M_SGD,    10'd0,          3'd0};
      6'd60: crom = {C_END,    CPC_SGD,        10'd0,          3'd0};
      default: crom = {C_END, 6'd0, 10'd0, 3'd0};
    endcase
  endfunction

  // Walker instructions {type[2:0], arg[4:0]}:
  //   END   arg = group start      RDV / WRV  arg = BN block vector v (src1 + v*Cp*4 + cb*TN*4)
  //   RDS   src0 slice of the group (TN words)        WRS  dst slice of the group (TN words)
  //   PASS  arg = {inputs[1:0], outputs[1:0]}: the group's segments in CHUNK-beat chunks
  localparam logic [2:0] W_END = 3'd0, W_RDV = 3'd1, W_WRV = 3'd2, W_RDS = 3'd3, W_WRS = 3'd4,
                         W_PASS = 3'd5;
  localparam logic [4:0] WPC_BNF = 5'd0, WPC_BNB = 5'd12, WPC_RED = 5'd21, WPC_GAPB = 5'd24,
                         WPC_RELU = 5'd27, WPC_SGD = 5'd29;

  function automatic logic [7:0] wrom(input logic [4:0] pc);
    case (pc)
      // BN_FP: gamma, beta, running_mean, running_var; x three times; running_mean',
      // running_var', mean, invstd; y.
      5'd0:  wrom = {W_RDV,  5'd0};
      5'd1:  wrom = {W_RDV,  5'd1};
      5'd2:  wrom = {W_RDV,  5'd2};
      5'd3:  wrom = {W_RDV,  5'd3};
      5'd4:  wrom = {W_PASS, 5'b00100};
      5'd5:  wrom = {W_PASS, 5'b00100};
      5'd6:  wrom = {W_WRV,  5'd2};
      5'd7:  wrom = {W_WRV,  5'd3};
      5'd8:  wrom = {W_WRV,  5'd4};
      5'd9:  wrom = {W_WRV,  5'd5};
      5'd10: wrom = {W_PASS, 5'b00101};
      5'd11: wrom = {W_END,  WPC_BNF};
      // BN_BP: gamma, beta, mean, invstd; (dy, x); dgamma, dbeta; (dy, x) -> dx.
      5'd12: wrom = {W_RDV,  5'd0};
      5'd13: wrom = {W_RDV,  5'd1};
      5'd14: wrom = {W_RDV,  5'd4};
      5'd15: wrom = {W_RDV,  5'd5};
      5'd16: wrom = {W_PASS, 5'b01000};
      5'd17: wrom = {W_WRV,  5'd6};
      5'd18: wrom = {W_WRV,  5'd7};
      5'd19: wrom = {W_PASS, 5'b01001};
      5'd20: wrom = {W_END,  WPC_BNB};
      // BIAS_GRAD, AVGPOOL_FP global: the planes, then the result slice.
      5'd21: wrom = {W_PASS, 5'b00100};
      5'd22: wrom = {W_WRS,  5'd0};
      5'd23: wrom = {W_END,  WPC_RED};
      // AVGPOOL_BP global: the dy slice, then the plane.
      5'd24: wrom = {W_RDS,  5'd0};
      5'd25: wrom = {W_PASS, 5'b00001};
      5'd26: wrom = {W_END,  WPC_GAPB};
      // RELU_BP: (dy, y) -> dx. SGD: (g, v, w) -> (w', v').
      5'd27: wrom = {W_PASS, 5'b01001};
      5'd28: wrom = {W_END,  WPC_RELU};
      5'd29: wrom = {W_PASS, 5'b01110};
      5'd30: wrom = {W_END,  WPC_SGD};
      default: wrom = {W_END, 5'd0};
    endcase
  endfunction

  // Unsigned integer -> binary32, round to nearest even (exact below 2^24).
  function automatic logic [31:0] u2f(input logic [31:0] x);
    logic [4:0]  lz;
    logic [30:0] m;                         // x normalized, without its leading one
    lz = eftrain_fp32_pkg::fp32_lzc32(x);
    m  = 31'(x << lz);
    if (x == 32'd0) u2f = 32'd0;
    else u2f = eftrain_fp32_pkg::fp32_round_pack(1'b0, eftrain_fp32_pkg::SPEC_NONE,
                                                 8'd157 - {3'd0, lz}, 1'b1, m[30:8], m[7],
                                                 |m[6:0]);
  endfunction

  // x > 0 (false for NaN), and NaN.
  function automatic logic f_gt0(input logic [31:0] x);
    f_gt0 = !x[31] && (x[30:0] != 31'd0) && !((x[30:23] == 8'hFF) && (x[22:0] != 23'd0));
  endfunction
  function automatic logic f_nan(input logic [30:0] x);
    f_nan = (x[30:23] == 8'hFF) && (x[22:0] != 23'd0);
  endfunction

  localparam logic [31:0] F_ONE     = 32'h3F80_0000;
  localparam logic [31:0] F_NEGZERO = 32'h8000_0000;
  localparam logic [31:0] F_SIGN    = 32'h8000_0000;

  // ---------------------------------------------------------------------------------------------
  // Op state: idle, setup (sizes, strides, binary32 counts), run.
  // ---------------------------------------------------------------------------------------------
  localparam logic [1:0] ST_IDLE = 2'd0, ST_SETUP = 2'd1, ST_RUN = 2'd2;

  logic [1:0]        st;
  logic [2:0]        kind;
  logic              relu_f;
  logic              r_ext;                 // SGD: g from the external stream
  logic [15:0]       r_b, r_c, r_h, r_w;
  logic [31:0]       r_count, r_s0, r_s1, r_s2;
  logic [ADDR_W-1:0] r_src0, r_src1, r_src2, r_dst;
  logic              failed;
  logic              urst_n;                // reset of the FP units' valid pipelines

  assign urst_n = rst_n && !abort;
  assign busy   = (st != ST_IDLE);

  logic [2:0] start_kind;
  always_comb begin
    case (op)
      OP_RELU_BP:    start_kind = K_RELU;
      OP_AVGPOOL_FP: start_kind = flags[FLAG_GLOBAL] ? K_GAPF : K_NONE;
      OP_AVGPOOL_BP: start_kind = flags[FLAG_GLOBAL] ? K_GAPB : K_NONE;
      OP_BN_FP:      start_kind = K_BNF;
      OP_BN_BP:      start_kind = K_BNB;
      OP_BIAS_GRAD:  start_kind = K_BIAS;
      OP_SGD:        start_kind = K_SGD;
      default:       start_kind = K_NONE;
    endcase
  end

  // Setup: phase 0: P = H*W, CB = ceil(C/TN); phase 1: plane bytes PWB = P*4TN, n = B*P,
  // planes B*CB, vector bytes CPB = CB*4TN; phase 2: image bytes (b-stride) CB*PWB; phase 3:
  // tensor bytes B*CB*PWB; phase 4: derived values; phase 5: the walker and the compute start.
  // Each of phases 0..3: load (sit = 0), 17 shift-add / shift-subtract steps, capture (sit = 18).
  localparam logic [2:0] PH_DERIVE = 3'd4, PH_GO = 3'd5;
  logic [2:0]        sph;
  logic [4:0]        sit;
  logic [XW-1:0]     ma [4];
  logic [15:0]       mb [4];
  logic [XW-1:0]     mr [4];
  logic [16:0]       dx_n;
  logic [15:0]       d_rem, d_quo;

  logic [31:0]       v_p, v_n, v_npl;       // H*W, B*H*W, B*CB
  logic [15:0]       v_cb;                  // ceil(C/TN)
  logic [ADDR_W-1:0] v_pwb, v_cpb, v_bstr;  // plane bytes, vector bytes, b-stride bytes
  logic [ADDR_W-1:0] v_tot;                 // bytes of a whole feature map
  logic [31:0]       pf_q, nf_q, nm1_q, omm_q;

  // What the walker and the compute side run (set in phase 3).
  logic [31:0]       ngroups, nseg;
  logic [ADDR_W-1:0] segbeats, segstr, gstr;
  logic [ADDR_W-1:0] in_base [3];
  logic [ADDR_W-1:0] out_base [2];
  logic [4:0]        wpc0;
  logic [5:0]        cpc0;

  localparam logic [15:0] TN4 = 16'(4 * TN);

  logic [16:0] d_try;
  always_comb d_try = {d_rem, dx_n[16]};

  always_ff @(posedge clk) begin
    if (st == ST_SETUP && sph < PH_DERIVE) begin
      if (sit == 5'd0) begin
        for (int i = 0; i < 4; i++) mr[i] <= '0;
        case (sph)
          3'd0: begin
            ma[0] <= XW'(r_w);  mb[0] <= r_h;
            ma[1] <= '0;        mb[1] <= '0;
            ma[2] <= '0;        mb[2] <= '0;
            ma[3] <= '0;        mb[3] <= '0;
          end
          3'd1: begin
            ma[0] <= XW'(v_p);  mb[0] <= TN4;
            ma[1] <= XW'(v_p);  mb[1] <= r_b;
            ma[2] <= XW'(v_cb); mb[2] <= r_b;
            ma[3] <= XW'(v_cb); mb[3] <= TN4;
          end
          3'd2: begin
            ma[0] <= XW'(v_pwb); mb[0] <= v_cb;
            ma[1] <= '0;         mb[1] <= '0;
            ma[2] <= '0;         mb[2] <= '0;
            ma[3] <= '0;         mb[3] <= '0;
          end
          default: begin
            ma[0] <= XW'(v_bstr); mb[0] <= r_b;
            ma[1] <= '0;         mb[1] <= '0;
            ma[2] <= '0;         mb[2] <= '0;
            ma[3] <= '0;         mb[3] <= '0;
          end
        endcase
        dx_n  <= 17'(r_c) + 17'(TN - 1);
        d_rem <= '0;
        d_quo <= '0;
      end else if (sit <= 5'd17) begin
        for (int i = 0; i < 4; i++) begin
          if (mb[i][0]) mr[i] <= mr[i] + ma[i];
          ma[i] <= ma[i] << 1;
          mb[i] <= mb[i] >> 1;
        end
        dx_n <= dx_n << 1;
        if (d_try >= 17'(TN)) begin
          d_rem <= 16'(d_try - 17'(TN));
          d_quo <= {d_quo[14:0], 1'b1};
        end else begin
          d_rem <= d_try[15:0];
          d_quo <= {d_quo[14:0], 1'b0};
        end
      end
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Forward declarations of the parts below.
  // ---------------------------------------------------------------------------------------------
  logic              w_fin, c_fin;
  logic [15:0]       rd_out, wr_out;         // DMA commands issued, not yet completed
  logic              wq_out_valid, oq_out_valid;

  logic run_done;
  assign run_done = (st == ST_RUN) && w_fin && c_fin && !wq_out_valid && !oq_out_valid
                    && (rd_out == 16'd0) && (wr_out == 16'd0) && !failed;

  always_ff @(posedge clk) begin
    if (!rst_n || abort) begin
      st   <= ST_IDLE;
      done <= 1'b0;
      sph  <= 3'd0;
      sit  <= 5'd0;
    end else begin
      done <= 1'b0;
      case (st)
        ST_IDLE: if (start) begin
          if (start_kind == K_NONE) begin
            done <= 1'b1;
          end else begin
            st  <= ST_SETUP;
            sph <= (start_kind == K_SGD) ? PH_DERIVE : 3'd0;   // SGD needs no size products
            sit <= 5'd0;
          end
        end
        ST_SETUP: begin
          if (sph == PH_GO) begin
            st <= ST_RUN;
          end else if (sph == PH_DERIVE || sit == 5'd18) begin
            sit <= 5'd0;
            sph <= sph + 3'd1;
          end else begin
            sit <= sit + 5'd1;
          end
        end
        default: if (run_done) begin
          done <= 1'b1;
          st   <= ST_IDLE;
        end
      endcase
    end
  end

  // Descriptor fields and the setup results.
  always_ff @(posedge clk) begin
    if (st == ST_IDLE && start) begin
      kind    <= start_kind;
      relu_f  <= flags[FLAG_RELU];
      r_ext   <= ext_g && (start_kind == K_SGD);
      r_b     <= batch;
      r_c     <= ch;
      r_h     <= h;
      r_w     <= w;
      r_count <= count;
      r_src0  <= src0;
      r_src1  <= src1;
      r_src2  <= src2;
      r_dst   <= dst;
      r_s0    <= s0;
      r_s1    <= s1;
      r_s2    <= s2;
    end
    if (st == ST_SETUP && sit == 5'd18) begin
      case (sph)
        3'd0: begin
          v_p  <= mr[0][31:0];
          v_cb <= d_quo[15:0];
        end
        3'd1: begin
          v_pwb <= mr[0][ADDR_W-1:0];
          v_n   <= mr[1][31:0];
          v_npl <= mr[2][31:0];
          v_cpb <= mr[3][ADDR_W-1:0];
        end
        3'd2:    v_bstr <= mr[0][ADDR_W-1:0];
        default: v_tot  <= mr[0][ADDR_W-1:0];
      endcase
    end
    if (st == ST_SETUP && sph == PH_DERIVE) begin
      pf_q  <= u2f(v_p);
      nf_q  <= u2f(v_n);
      nm1_q <= u2f(v_n - 32'd1);
      segbeats <= v_pwb >> BBL;
      segstr   <= v_bstr;
      gstr     <= v_pwb;
      nseg     <= 32'd1;
      ngroups  <= 32'd1;
      in_base[0]  <= r_src0;
      in_base[1]  <= r_src1;
      in_base[2]  <= r_dst;
      out_base[0] <= r_dst;
      out_base[1] <= r_src1;
      wpc0 <= WPC_RELU;
      cpc0 <= CPC_RELU;
      case (kind)
        K_RELU: segbeats <= v_tot >> BBL;   // the whole map is one contiguous run
        K_SGD: begin
          segbeats <= ADDR_W'(r_count >> WPBL);
          wpc0 <= WPC_SGD;
          cpc0 <= CPC_SGD;
        end
        K_GAPF: begin
          ngroups <= v_npl;
          wpc0 <= WPC_RED;
          cpc0 <= CPC_GAPF;
        end
        K_GAPB: begin
          ngroups <= v_npl;
          wpc0 <= WPC_GAPB;
          cpc0 <= CPC_GAPB;
        end
        K_BNF: begin
          ngroups <= 32'(v_cb);
          nseg    <= 32'(r_b);
          wpc0 <= WPC_BNF;
          cpc0 <= CPC_BNF;
        end
        K_BNB: begin
          ngroups <= 32'(v_cb);
          nseg    <= 32'(r_b);
          in_base[1] <= r_src2;
          wpc0 <= WPC_BNB;
          cpc0 <= CPC_BNB;
        end
        default: begin   // K_BIAS
          ngroups <= 32'(v_cb);
          nseg    <= 32'(r_b);
          wpc0 <= WPC_RED;
          cpc0 <= CPC_BIAS;
        end
      endcase
    end
  end

  wire run_start = (st == ST_SETUP) && (sph == PH_GO);   // the walker / compute start

  // ---------------------------------------------------------------------------------------------
  // FIFOs: three input streams (F0..F2), two output streams (O0, O1), the read-tag queue, the
  // write-command queue (walker -> release) and the write-order queue (release -> stream).
  // ---------------------------------------------------------------------------------------------
  logic [2:0]          fi_push, fi_pop, fi_ready, fi_valid;
  // (Packed vectors, not arrays, wherever an instance port connects: Yosys 0.23 re-derives a
  // module that connects array elements to instance ports, which renames the top module.)
  logic [3*DW-1:0]     fi_data;              // FIFO i's head at [i*DW +: DW]
  logic [1:0]          fo_push, fo_pop, fo_ready, fo_valid;
  logic [2*DW-1:0]     fo_in;
  logic [2*DW-1:0]     fo_data;
  logic                fifo_clr;

  assign fifo_clr = abort;

  // FIFO 0 takes the external gradient stream in an SGD with ext_g, read beats otherwise.
  logic [3*DW-1:0]     fi_in;
  assign fi_in = {rds_data, rds_data, r_ext ? g_data : rds_data};

  for (genvar gi = 0; gi < 3; gi++) begin : g_fi
    eftrain_fifo #(.WIDTH(DW), .DEPTH(FIFO_DEPTH)) u_fifo (
      .clk       (clk),
      .rst_n     (rst_n),
      .clear     (fifo_clr),
      .in_valid  (fi_push[gi]),
      .in_ready  (fi_ready[gi]),
      .in_data   (fi_in[gi * DW +: DW]),
      .out_valid (fi_valid[gi]),
      .out_ready (fi_pop[gi]),
      .out_data  (fi_data[gi * DW +: DW])
    );
  end

  for (genvar go = 0; go < 2; go++) begin : g_fo
    eftrain_fifo #(.WIDTH(DW), .DEPTH(FIFO_DEPTH)) u_fifo (
      .clk       (clk),
      .rst_n     (rst_n),
      .clear     (fifo_clr),
      .in_valid  (fo_push[go]),
      .in_ready  (fo_ready[go]),
      .in_data   (fo_in[go * DW +: DW]),
      .out_valid (fo_valid[go]),
      .out_ready (fo_pop[go]),
      .out_data  (fo_data[go * DW +: DW])
    );
  end

  // Read tags: which input FIFO each issued read command's beats go to, in command order.
  logic       tq_push, tq_pop, tq_in_ready, tq_out_valid;
  logic [1:0] tq_in, tq_out;
  eftrain_fifo #(.WIDTH(2), .DEPTH(TQ)) u_tq (
    .clk       (clk),
    .rst_n     (rst_n),
    .clear     (fifo_clr),
    .in_valid  (tq_push),
    .in_ready  (tq_in_ready),
    .in_data   (tq_in),
    .out_valid (tq_out_valid),
    .out_ready (tq_pop),
    .out_data  (tq_out)
  );

  // Write commands in program order: {output FIFO, address, beats}.
  localparam int WQW = 1 + ADDR_W + CNW;
  logic           wq_push, wq_pop, wq_in_ready;
  logic [WQW-1:0] wq_in, wq_out;
  eftrain_fifo #(.WIDTH(WQW), .DEPTH(FQ)) u_wq (
    .clk       (clk),
    .rst_n     (rst_n),
    .clear     (fifo_clr),
    .in_valid  (wq_push),
    .in_ready  (wq_in_ready),
    .in_data   (wq_in),
    .out_valid (wq_out_valid),
    .out_ready (wq_pop),
    .out_data  (wq_out)
  );

  // Released write commands, in DMA order: {output FIFO, beats}.
  localparam int OQW = 1 + CNW;
  logic           oq_push, oq_pop, oq_in_ready;
  logic [OQW-1:0] oq_in, oq_out;
  eftrain_fifo #(.WIDTH(OQW), .DEPTH(FQ)) u_oq (
    .clk       (clk),
    .rst_n     (rst_n),
    .clear     (fifo_clr),
    .in_valid  (oq_push),
    .in_ready  (oq_in_ready),
    .in_data   (oq_in),
    .out_valid (oq_out_valid),
    .out_ready (oq_pop),
    .out_data  (oq_out)
  );

  // ---------------------------------------------------------------------------------------------
  // Walker: issues the read commands (credit: the input FIFO has room for the whole command) and
  // queues the write commands, in program order.
  // ---------------------------------------------------------------------------------------------
  logic [4:0]        wpc;
  logic [31:0]       wg, wseg;
  logic [ADDR_W-1:0] goff, gsl, wsegst, wcur, wboff;
  logic [2:0]        witem;
  logic [31:0]       res_in [3];             // input-FIFO beats reserved (issued, not popped)

  logic [7:0]        wi;
  logic [2:0]        wt;
  logic [4:0]        warg;
  logic [1:0]        nin, nout;
  logic [ADDR_W-1:0] left, vofs;
  logic [CNW-1:0]    clen, w_beats;
  logic              w_act, w_rd, w_wr, w_credit, w_rd_fire, w_wr_fire, w_adv, item_last, w_skip;
  logic [1:0]        w_tag, w_odiff;
  logic              w_otag;
  logic [ADDR_W-1:0] w_raddr, w_waddr;

  always_comb begin
    wi    = wrom(wpc);
    wt    = wi[7:5];
    warg  = wi[4:0];
    nin   = warg[3:2];
    nout  = warg[1:0];
    left  = segbeats - wboff;
    clen  = (left > ADDR_W'(CHUNK)) ? CNW'(CHUNK) : left[CNW-1:0];
    vofs  = (warg[0] ? v_cpb : '0) + (warg[1] ? (v_cpb << 1) : '0) + (warg[2] ? (v_cpb << 2) : '0);
    w_act = (st == ST_RUN) && !w_fin && !failed;
    item_last = (witem + 3'd1 == {1'b0, nin} + {1'b0, nout});

    // ext_g: the pass's first input (g) arrives on the external stream, nothing to read.
    w_skip  = r_ext && (wt == W_PASS) && (witem == 3'd0);
    w_rd    = !w_skip &&
              ((wt == W_RDV) || (wt == W_RDS) || ((wt == W_PASS) && (witem < {1'b0, nin})));
    w_wr    = (wt == W_WRV) || (wt == W_WRS) || ((wt == W_PASS) && (witem >= {1'b0, nin}));
    w_tag   = (wt == W_PASS) ? witem[1:0] : 2'd0;
    w_odiff = witem[1:0] - nin;
    w_otag  = (wt == W_PASS) && w_odiff[0];
    w_beats = (wt == W_PASS) ? clen : CNW'(BPP);
    case (wt)
      W_RDV, W_WRV: begin
        w_raddr = r_src1 + vofs + gsl;
        w_waddr = r_src1 + vofs + gsl;
      end
      W_RDS: begin
        w_raddr = r_src0 + gsl;
        w_waddr = r_src0 + gsl;
      end
      W_WRS: begin
        w_raddr = r_dst + gsl;
        w_waddr = r_dst + gsl;
      end
      default: begin
        w_raddr = in_base[w_tag] + wcur;
        w_waddr = out_base[w_otag] + wcur;
      end
    endcase
    w_credit = (res_in[w_tag] + 32'(w_beats) <= 32'(FIFO_DEPTH));

  end

  // (Valid and ready in separate statements: Verilator orders them without a false loop.)
  assign rd_cmd_valid = w_act && w_rd && tq_in_ready && w_credit;
  assign rd_cmd_addr  = w_raddr;
  assign rd_cmd_len   = LEN_W'(w_beats) << WPBL;
  assign w_rd_fire    = rd_cmd_valid && rd_cmd_ready;
  assign tq_push      = w_rd_fire;
  assign tq_in        = w_tag;
  assign wq_push      = w_act && w_wr && wq_in_ready;
  assign wq_in        = {w_otag, w_waddr, w_beats};
  assign w_wr_fire    = wq_push;
  assign w_adv        = w_rd_fire || w_wr_fire || (w_act && ((wt == W_END) || w_skip));

  always_ff @(posedge clk) begin
    if (!rst_n || abort) begin
      w_fin <= 1'b1;
    end else if (run_start) begin
      w_fin  <= 1'b0;
      wpc    <= wpc0;
      wg     <= '0;
      wseg   <= '0;
      goff   <= '0;
      gsl    <= '0;
      wsegst <= '0;
      wcur   <= '0;
      wboff  <= '0;
      witem  <= '0;
    end else if (w_adv) begin
      case (wt)
        W_END: begin
          if (wg + 32'd1 == ngroups) begin
            w_fin <= 1'b1;
          end else begin
            wg     <= wg + 32'd1;
            goff   <= goff + gstr;
            gsl    <= gsl + ADDR_W'(4 * TN);
            wsegst <= goff + gstr;
            wcur   <= goff + gstr;
            wpc    <= warg;
          end
        end
        W_PASS: begin
          if (item_last) begin
            witem <= 3'd0;
            if (wboff + ADDR_W'(clen) == segbeats) begin
              wboff <= '0;
              if (wseg + 32'd1 == nseg) begin
                wseg   <= '0;
                wsegst <= goff;
                wcur   <= goff;
                wpc    <= wpc + 5'd1;
              end else begin
                wseg   <= wseg + 32'd1;
                wsegst <= wsegst + segstr;
                wcur   <= wsegst + segstr;
              end
            end else begin
              wboff <= wboff + ADDR_W'(clen);
              wcur  <= wcur + (ADDR_W'(clen) << BBL);
            end
          end else begin
            witem <= witem + 3'd1;
          end
        end
        default: wpc <= wpc + 5'd1;
      endcase
    end
  end

  // Read stream router: beats go to the input FIFO named by the tag of their command.
  logic rds_fire;
  assign rds_ready     = failed || (tq_out_valid && fi_ready[tq_out]);
  assign rds_fire      = rds_valid && rds_ready;
  assign tq_pop        = rds_fire && rds_last && tq_out_valid;
  assign rd_done_ready = 1'b1;
  assign wr_done_ready = 1'b1;
  for (genvar gi = 1; gi < 3; gi++) begin : g_route
    assign fi_push[gi] = rds_fire && !failed && !rds_err && (tq_out == 2'(gi));
  end
  // The external stream is taken only while the op runs (dropped once failed, so it never hangs).
  assign g_ready    = (st == ST_RUN) && r_ext && (failed || fi_ready[0]);
  assign fi_push[0] = r_ext ? (g_valid && g_ready && !failed)
                            : (rds_fire && !failed && !rds_err && (tq_out == 2'd0));

  // ---------------------------------------------------------------------------------------------
  // Write side: release a queued command when the first beat of its data exists; stream the
  // output FIFOs in released-command order.
  // ---------------------------------------------------------------------------------------------
  logic signed [31:0] pend [2];              // beats produced minus beats of released commands
  logic [31:0]        res_out [2];           // output-FIFO beats reserved (issued, not sent)
  logic [CNW-1:0]     wcnt;
  logic               wq_tag, oq_tag, wfire;
  logic [CNW-1:0]     wq_beats, oq_beats;

  assign wq_tag       = wq_out[WQW-1];
  assign wq_beats     = wq_out[CNW-1:0];
  assign wr_cmd_addr  = wq_out[CNW +: ADDR_W];
  assign wr_cmd_len   = LEN_W'(wq_beats) << WPBL;
  assign wr_cmd_valid = (st == ST_RUN) && !failed && wq_out_valid && oq_in_ready
                        && (pend[wq_tag] > 32'sd0);
  assign wq_pop       = wr_cmd_valid && wr_cmd_ready;
  assign oq_push      = wq_pop;
  assign oq_in        = {wq_tag, wq_beats};

  assign oq_tag    = oq_out[OQW-1];
  assign oq_beats  = oq_out[CNW-1:0];
  assign wrs_valid = !failed && oq_out_valid && fo_valid[oq_tag];
  assign wrs_data  = oq_tag ? fo_data[DW +: DW] : fo_data[0 +: DW];
  assign wfire     = wrs_valid && wrs_ready;
  assign fo_pop[0] = wfire && !oq_tag;
  assign fo_pop[1] = wfire && oq_tag;
  assign oq_pop    = wfire && (wcnt + CNW'(1) == oq_beats);

  always_ff @(posedge clk) begin
    if (!rst_n || abort) begin
      wcnt <= '0;
    end else if (wfire) begin
      wcnt <= oq_pop ? '0 : wcnt + CNW'(1);
    end
  end

  // Completions and errors.
  always_ff @(posedge clk) begin
    if (!rst_n || abort) begin
      rd_out     <= '0;
      wr_out     <= '0;
      failed     <= 1'b0;
      err_valid  <= 1'b0;
      err_status <= 4'd0;
    end else begin
      rd_out <= rd_out + 16'(w_rd_fire) - 16'(rd_done_valid);
      wr_out <= wr_out + 16'(wq_pop) - 16'(wr_done_valid);
      if ((rds_fire && rds_err) || (rd_done_valid && rd_done_status != 4'd0)
          || (wr_done_valid && wr_done_status != 4'd0)) failed <= 1'b1;
      if (!err_valid) begin
        if (rd_done_valid && rd_done_status != 4'd0) begin
          err_valid  <= 1'b1;
          err_status <= rd_done_status;
        end else if (wr_done_valid && wr_done_status != 4'd0) begin
          err_valid  <= 1'b1;
          err_status <= wr_done_status;
        end
      end
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Compute sequencer.
  // ---------------------------------------------------------------------------------------------
  logic [5:0]        cpc;
  logic              c_go;                   // the current instruction has started
  logic [31:0]       cg;                     // group
  logic [21:0]       ci;
  logic [2:0]        ct, csop;
  logic [5:0]        cf1;
  logic [4:0]        cf2, cf3;
  logic              c_act, quiet;

  logic [LGW-1:0]    ldc;                    // LOADV / STOREV lane group
  logic [SLW-1:0]    si, so;                 // SOP lanes issued / results written
  logic [KW-1:0]     tl, ti;                 // TREE level, pair
  logic [LGW-1:0]    tg;                     // TREE lane group
  logic              t_wait;
  logic [4:0]        pmode;                  // PASS mode
  logic [LGW-1:0]    lg0;                    // PASS lane group of the next beat
  logic [KW-1:0]     k0;                     // PASS partial sum of the next beat
  logic [31:0]       pseg;
  logic [ADDR_W-1:0] pbeat;

  logic              ld_pop, sv_push, s_issue, s_res, t_issue, p_issue, c_clear;
  logic [SLW-1:0]    s_n;
  logic              p_need0, p_need1, p_need2, p_out0, p_out1;
  logic [31:0]       s_y;
  logic [DW-1:0]     sv_data;

  logic [T_END:1]    vsr;                    // pipeline valid, by time
  logic [NLEV-1:0]   lev_last;
  logic              acc_quiet;

  always_comb begin
    ci    = crom(cpc);
    ct    = ci[21:19];
    cf1   = ci[18:13];
    cf2   = ci[12:8];
    cf3   = ci[7:3];
    csop  = ci[2:0];
    c_act = (st == ST_RUN) && !c_fin && !failed;
    quiet = (vsr == '0) && acc_quiet;
    s_n   = (cf1[4:0] == S_OMM) ? SLW'(1) : SLW'(TN);

    p_need0 = (pmode != M_BCAST);
    p_need1 = (pmode == M_RELU) || (pmode == M_BNB1) || (pmode == M_BNB2) || (pmode == M_SGD);
    p_need2 = (pmode == M_SGD);
    p_out0  = (pmode == M_RELU) || (pmode == M_NORM) || (pmode == M_BNB2) || (pmode == M_SGD)
              || (pmode == M_BCAST);
    p_out1  = (pmode == M_SGD);

    ld_pop  = c_act && c_go && (ct == C_LOADV) && fi_valid[0];
    sv_push = c_act && c_go && (ct == C_STOREV) && (res_out[0] < 32'(FIFO_DEPTH));
    s_issue = c_act && c_go && (ct == C_SOP) && (si < s_n);
    t_issue = c_act && c_go && (ct == C_TREE) && !t_wait;
    p_issue = c_act && c_go && (ct == C_PASS)
              && (!p_need0 || fi_valid[0]) && (!p_need1 || fi_valid[1]) && (!p_need2 || fi_valid[2])
              && (!p_out0 || res_out[0] < 32'(FIFO_DEPTH))
              && (!p_out1 || res_out[1] < 32'(FIFO_DEPTH));
    c_clear = c_act && !c_go && (ct == C_CLEAR) && quiet;

    fi_pop[0] = ld_pop || (p_issue && p_need0);
    fi_pop[1] = p_issue && p_need1;
    fi_pop[2] = p_issue && p_need2;
    lev_last  = NLEV'(ACC_L >> (32'(tl) + 1)) - NLEV'(1);
  end

  always_ff @(posedge clk) begin
    if (!rst_n || abort) begin
      c_fin <= 1'b1;
      c_go  <= 1'b0;
    end else if (run_start) begin
      c_fin <= 1'b0;
      c_go  <= 1'b0;
      cpc   <= cpc0;
      cg    <= '0;
    end else if (c_act) begin
      if (ct == C_END) begin
        if (cg + 32'd1 == ngroups) begin
          c_fin <= 1'b1;
        end else begin
          cg  <= cg + 32'd1;
          cpc <= cf1;
        end
      end else if (!c_go) begin
        if (quiet) begin
          if (ct == C_CLEAR) begin
            cpc <= cpc + 6'd1;
          end else begin
            c_go   <= 1'b1;
            ldc    <= '0;
            si     <= '0;
            so     <= '0;
            tl     <= '0;
            ti     <= '0;
            tg     <= '0;
            t_wait <= 1'b0;
            if (ct == C_PASS) pmode <= cf1[4:0];
            lg0    <= '0;
            k0     <= '0;
            pseg   <= '0;
            pbeat  <= '0;
          end
        end
      end else begin
        case (ct)
          C_LOADV, C_STOREV: if (ld_pop || sv_push) begin
            ldc <= ldc + LGW'(1);
            if (ldc == LGW'(BPP - 1)) begin
              c_go <= 1'b0;
              cpc  <= cpc + 6'd1;
            end
          end
          C_SOP: begin
            if (s_issue) si <= si + SLW'(1);
            if (s_res) begin
              so <= so + SLW'(1);
              if (so + SLW'(1) == s_n) begin
                c_go <= 1'b0;
                cpc  <= cpc + 6'd1;
              end
            end
          end
          C_TREE: begin
            if (!t_wait) begin
              tg <= tg + LGW'(1);
              if (tg == LGW'(BPP - 1)) begin
                tg <= '0;
                ti <= ti + KW'(1);
                if (ti == KW'(lev_last)) begin
                  ti     <= '0;
                  t_wait <= 1'b1;
                end
              end
            end else if (acc_quiet) begin
              t_wait <= 1'b0;
              tl     <= tl + KW'(1);
              if (tl == KW'(NLEV - 1)) begin
                c_go <= 1'b0;
                cpc  <= cpc + 6'd1;
              end
            end
          end
          default: if (p_issue) begin   // C_PASS
            if (lg0 == LGW'(BPP - 1)) begin
              lg0 <= '0;
              k0  <= k0 + KW'(1);
            end else begin
              lg0 <= lg0 + LGW'(1);
            end
            if (pbeat + ADDR_W'(1) == segbeats) begin
              pbeat <= '0;
              pseg  <= pseg + 32'd1;
              if (pseg + 32'd1 == nseg) begin
                c_go <= 1'b0;
                cpc  <= cpc + 6'd1;
              end
            end else begin
              pbeat <= pbeat + ADDR_W'(1);
            end
          end
        endcase
      end
    end
  end

  // FIFO reservations and the write-release counters.
  always_ff @(posedge clk) begin
    if (!rst_n || abort) begin
      for (int i = 0; i < 3; i++) res_in[i] <= '0;
      for (int i = 0; i < 2; i++) res_out[i] <= '0;
      for (int i = 0; i < 2; i++) pend[i] <= '0;
    end else begin
      for (int i = 0; i < 3; i++) begin
        res_in[i] <= res_in[i] + ((w_rd_fire && w_tag == 2'(i)) ? 32'(w_beats) : 32'd0)
                     - 32'(fi_pop[i] && !(r_ext && i == 0));
      end
      res_out[0] <= res_out[0] + 32'(sv_push || (p_issue && p_out0)) - 32'(fo_pop[0]);
      res_out[1] <= res_out[1] + 32'(p_issue && p_out1) - 32'(fo_pop[1]);
      for (int i = 0; i < 2; i++) begin
        pend[i] <= pend[i] + $signed(32'(fo_push[i]))
                   - ((wq_pop && wq_tag == 1'(i)) ? $signed(32'(wq_beats)) : 32'sd0);
      end
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Register files: vector registers (TN lanes each; lane j of register r at r*TN + j) and the
  // two partial-sum banks (lane j, partial s at j*ACC_L + s).
  // ---------------------------------------------------------------------------------------------
  logic [NVR*TN*32-1:0]   vr_q;
  logic [TN*ACC_L*32-1:0] acc0_q, acc1_q;

  // Sources of the scalar unit (index cf2 / cf3, lane si) and of STOREV (index cf1, lane group
  // ldc): the lane (group) is picked first in each register with a small indexed select, then the
  // register by index, so the read ports are balanced mux trees over a few hundred bits (no wide
  // shifter over the whole register file, no long priority chain).
  logic [31:0]        s_a, s_b;
  logic [31:0]        sl [NVR + 2];            // lane si of every register; [NVR], [NVR+1]: ACC0/1
  logic [DW-1:0]      sg [NVR + 2];            // lane group ldc of every register, ACC0, ACC1
  logic [TN*32-1:0]   row;
  logic [TN*32-1:0]   arow [2];                // partial sum 0 of every lane, per bank

  always_comb begin
    for (int j = 0; j < TN; j++) begin
      arow[0][32 * j +: 32] = acc0_q[32 * (j * ACC_L) +: 32];
      arow[1][32 * j +: 32] = acc1_q[32 * (j * ACC_L) +: 32];
    end
    for (int r = 0; r < NVR + 2; r++) begin
      if (r < NVR) row = vr_q[32 * TN * r +: 32 * TN];
      else         row = arow[r - NVR];
      sl[r] = row[32 * si +: 32];
      sg[r] = row[DW * ldc +: DW];
    end
    case (cf2)
      S_ONE:   s_a = F_ONE;
      S_NF:    s_a = nf_q;
      S_NM1:   s_a = nm1_q;
      S_PF:    s_a = pf_q;
      S_EPS:   s_a = r_s0;
      S_MOM:   s_a = r_s1;
      S_OMM:   s_a = omm_q;
      S_ACC0:  s_a = sl[NVR];
      S_ACC1:  s_a = sl[NVR + 1];
      default: s_a = sl[cf2[3:0]];
    endcase
    case (cf3)
      S_ONE:   s_b = F_ONE;
      S_NF:    s_b = nf_q;
      S_NM1:   s_b = nm1_q;
      S_PF:    s_b = pf_q;
      S_EPS:   s_b = r_s0;
      S_MOM:   s_b = r_s1;
      S_OMM:   s_b = omm_q;
      S_ACC0:  s_b = sl[NVR];
      S_ACC1:  s_b = sl[NVR + 1];
      default: s_b = sl[cf3[3:0]];
    endcase
    case (cf1[4:0])
      S_ACC0:  sv_data = sg[NVR];
      S_ACC1:  sv_data = sg[NVR + 1];
      default: sv_data = sg[cf1[3:0]];
    endcase
  end

  // Vector-register writes: LOADV (a beat of F0) and SOP results. Each register has only the
  // write sources the micro-programs use (LD_REGS: LOADV destinations, SOP_REGS: SOP ones).
  localparam logic [NVR-1:0] LD_REGS  = 10'b00_0111_1111;   // T0, RV, RM, INVSTD, MEAN, BETA, GAMMA
  localparam logic [NVR-1:0] SOP_REGS = 10'b11_1111_1100;   // T3..T0, RV, RM, INVSTD, MEAN
  always_ff @(posedge clk) begin
    for (int r = 0; r < NVR; r++) begin
      for (int j = 0; j < TN; j++) begin
        if (LD_REGS[r] && ld_pop && cf1[4:0] == 5'(r) && 32'(ldc) == j / WPB) begin
          vr_q[32 * (r * TN + j) +: 32] <= fi_data[32 * (j % WPB) +: 32];
        end
        if (SOP_REGS[r] && s_res && cf1[4:0] == 5'(r) && 32'(so) == j) begin
          vr_q[32 * (r * TN + j) +: 32] <= s_y;
        end
      end
    end
    if (s_res && cf1[4:0] == S_OMM) omm_q <= s_y;
  end

  // ---------------------------------------------------------------------------------------------
  // Scalar unit: one lane per cycle through the unit of the operation.
  // ---------------------------------------------------------------------------------------------
  logic        sa_v, sm_v, sd_v, sq_v;
  logic [31:0] sa_y, sm_y, sd_y, sq_y;

  fp32_add #(.LATENCY(ADD_LAT)) u_s_add (
    .clk       (clk),
    .rst_n     (urst_n),
    .in_valid  (s_issue && (csop == SOP_ADD || csop == SOP_SUB)),
    .a         (s_a),
    .b         ((csop == SOP_SUB) ? (s_b ^ F_SIGN) : s_b),
    .out_valid (sa_v),
    .y         (sa_y)
  );
  fp32_mul #(.LATENCY(MUL_LAT)) u_s_mul (
    .clk       (clk),
    .rst_n     (urst_n),
    .in_valid  (s_issue && csop == SOP_MUL),
    .a         (s_a),
    .b         (s_b),
    .out_valid (sm_v),
    .y         (sm_y)
  );
  fp32_div u_s_div (
    .clk       (clk),
    .rst_n     (urst_n),
    .in_valid  (s_issue && csop == SOP_DIV),
    .a         (s_a),
    .b         (s_b),
    .out_valid (sd_v),
    .y         (sd_y)
  );
  fp32_sqrt u_s_sqrt (
    .clk       (clk),
    .rst_n     (urst_n),
    .in_valid  (s_issue && csop == SOP_SQRT),
    .a         (s_a),
    .out_valid (sq_v),
    .y         (sq_y)
  );

  always_comb begin
    s_res = c_act && c_go && (ct == C_SOP) && (sa_v || sm_v || sd_v || sq_v);
    case (csop)
      SOP_MUL:  s_y = sm_y;
      SOP_DIV:  s_y = sd_y;
      SOP_SQRT: s_y = sq_y;
      default:  s_y = sa_y;
    endcase
  end

  // ---------------------------------------------------------------------------------------------
  // Elementwise pipeline. Time t of a beat = cycles since it was issued; vsr[t], lgq[t], kq[t]
  // are its valid bit, lane group and partial-sum index at time t (time 0: p_issue, lg0, k0).
  // ---------------------------------------------------------------------------------------------
  logic [LGW-1:0] lgq [1:T_END];
  logic [KW-1:0]  kq  [1:T_END];

  always_ff @(posedge clk) begin
    if (!rst_n || abort) begin
      vsr <= '0;
    end else begin
      vsr[1] <= p_issue;
      for (int t = 2; t <= T_END; t++) vsr[t] <= vsr[t-1];
    end
    lgq[1] <= lg0;
    kq[1]  <= k0;
    for (int t = 2; t <= T_END; t++) begin
      lgq[t] <= lgq[t-1];
      kq[t]  <= kq[t-1];
    end
  end

  // Delay lines (whole beats): input words and the unit results that skip stages.
  localparam int D_XAB = T_U5;          // dy / x / g at the mask
  localparam int D_XC  = T_U10;         // w at U10
  localparam int D_U2A = A + M;         // xhat from T_U3 to T_U5
  localparam int D_U2B = A + 2 * M;     // mom*v from T_U3 to T_U7
  localparam int D_U4  = M;             // d from T_U5 to T_U7
  localparam int D_U6B = A;             // xhat*dgamma from T_U7 to T_U8
  localparam int D_U7  = A;             // v' from T_U8 to T_U9

  logic [DW-1:0] xa_q  [1:D_XAB];
  logic [DW-1:0] xb_q  [1:D_XAB];
  logic [DW-1:0] xc_q  [1:D_XC];
  logic [DW-1:0] u2a_q [1:D_U2A];
  logic [DW-1:0] u2b_q [1:D_U2B];
  logic [DW-1:0] u4_q  [1:D_U4];
  logic [DW-1:0] u6b_q [1:D_U6B];
  logic [DW-1:0] u7_q  [1:D_U7];

  logic [DW-1:0] u1_y, u2a_y, u2b_y, u3_y, u4_y, g5, u6a_y, u6b_y, u7_y, u8_y, u9_y, u10_y, bc;

  always_ff @(posedge clk) begin
    xa_q[1]  <= fi_data[0 +: DW];
    xb_q[1]  <= fi_data[DW +: DW];
    xc_q[1]  <= fi_data[2 * DW +: DW];
    u2a_q[1] <= u2a_y;
    u2b_q[1] <= u2b_y;
    u4_q[1]  <= u4_y;
    u6b_q[1] <= u6b_y;
    u7_q[1]  <= u7_y;
    for (int t = 2; t <= D_XAB; t++) begin
      xa_q[t] <= xa_q[t-1];
      xb_q[t] <= xb_q[t-1];
    end
    for (int t = 2; t <= D_XC; t++)  xc_q[t]  <= xc_q[t-1];
    for (int t = 2; t <= D_U2A; t++) u2a_q[t] <= u2a_q[t-1];
    for (int t = 2; t <= D_U2B; t++) u2b_q[t] <= u2b_q[t-1];
    for (int t = 2; t <= D_U4; t++)  u4_q[t]  <= u4_q[t-1];
    for (int t = 2; t <= D_U6B; t++) u6b_q[t] <= u6b_q[t-1];
    for (int t = 2; t <= D_U7; t++)  u7_q[t]  <= u7_q[t-1];
  end

  wire m_bnb  = (pmode == M_BNB1) || (pmode == M_BNB2);
  wire m_sgd  = (pmode == M_SGD);

  logic [WPB-1:0] unused_ov;   // the valid outputs of the pipeline's units (the pipeline keeps its own)

  for (genvar gl = 0; gl < WPB; gl++) begin : g_lane
    localparam int LO = 32 * gl;
    logic [31:0] mean0, inv2, gam3, bet4, dgam5, dbet7, scl9, bc1;
    logic [31:0] u1a, u2aa, u2ab, u2bb, u4a, u4b, u6ba, u6bb, u7a, u7b, u8b, u9a, u9b, u10a;
    logic [31:0] z5, dy5, y5, g5l;
    logic [10:0] ov;

    always_comb begin
      // Parameters of this word's lane (lane group g: lane g*WPB + gl) at each unit's time.
      mean0 = '0; inv2 = '0; gam3 = '0; bet4 = '0; dgam5 = '0; dbet7 = '0; scl9 = '0; bc1 = '0;
      for (int g = 0; g < BPP; g++) begin
        if (lg0 == LGW'(g))       mean0 = vr_q[32 * (VR_MEAN * TN + g * WPB + gl) +: 32];
        if (lgq[T_U2] == LGW'(g)) inv2  = vr_q[32 * (VR_INVSTD * TN + g * WPB + gl) +: 32];
        if (lgq[T_U3] == LGW'(g)) gam3  = vr_q[32 * (VR_GAMMA * TN + g * WPB + gl) +: 32];
        if (lgq[T_U4] == LGW'(g)) bet4  = vr_q[32 * (VR_BETA * TN + g * WPB + gl) +: 32];
        if (lgq[T_U5] == LGW'(g)) dgam5 = acc1_q[32 * ((g * WPB + gl) * ACC_L) +: 32];
        if (lgq[T_U7] == LGW'(g)) dbet7 = acc0_q[32 * ((g * WPB + gl) * ACC_L) +: 32];
        if (lgq[T_U9] == LGW'(g)) scl9  = vr_q[32 * (VR_T1 * TN + g * WPB + gl) +: 32];
        if (lgq[1] == LGW'(g))    bc1   = vr_q[32 * (VR_T1 * TN + g * WPB + gl) +: 32];
      end

      u1a  = m_bnb ? fi_data[DW + LO +: 32] : fi_data[LO +: 32];
      u2aa = m_sgd ? xc_q[T_U2][LO +: 32] : u1_y[LO +: 32];
      u2ab = (pmode == M_SQDEV) ? u1_y[LO +: 32] : m_sgd ? r_s2 : inv2;
      u4a  = m_sgd ? xa_q[T_U4][LO +: 32] : u3_y[LO +: 32];
      u4b  = m_sgd ? u2a_q[M][LO +: 32] : bet4;

      // Mask stage (time T_U5): ReLU of z, relu_bp, the BN_BP gradient g.
      z5  = u4_y[LO +: 32];
      dy5 = xa_q[T_U5][LO +: 32];
      y5  = xb_q[T_U5][LO +: 32];
      case (pmode)
        M_RELU:  g5l = f_gt0(y5) ? dy5 : 32'd0;
        M_NORM:  g5l = (!relu_f || f_gt0(z5) || f_nan(z5[30:0])) ? z5 : 32'd0;
        default: g5l = (!relu_f || f_gt0(z5)) ? dy5 : 32'd0;
      endcase

      u2bb = xb_q[T_U2][LO +: 32];
      u6ba = u2a_q[D_U2A][LO +: 32];
      u6bb = (pmode == M_BNB1) ? g5l : dgam5;
      u8b  = u6b_q[D_U6B][LO +: 32] ^ F_SIGN;
      u10a = xc_q[T_U10][LO +: 32];
      u7a  = m_sgd ? u2b_q[D_U2B][LO +: 32] : u6a_y[LO +: 32];
      u7b  = m_sgd ? u4_q[D_U4][LO +: 32] : (dbet7 ^ F_SIGN);
      u9a  = m_sgd ? r_s0 : scl9;
      u9b  = m_sgd ? u7_q[D_U7][LO +: 32] : u8_y[LO +: 32];
    end

    assign g5[LO +: 32] = g5l;
    assign bc[LO +: 32] = bc1;

    fp32_add #(.LATENCY(ADD_LAT)) u1 (
      .clk (clk), .rst_n (urst_n), .in_valid (p_issue),
      .a (u1a), .b (mean0 ^ F_SIGN), .out_valid (ov[0]), .y (u1_y[LO +: 32]));
    fp32_mul #(.LATENCY(MUL_LAT)) u2a (
      .clk (clk), .rst_n (urst_n), .in_valid (vsr[T_U2]),
      .a (u2aa), .b (u2ab), .out_valid (ov[1]), .y (u2a_y[LO +: 32]));
    fp32_mul #(.LATENCY(MUL_LAT)) u2b (
      .clk (clk), .rst_n (urst_n), .in_valid (vsr[T_U2]),
      .a (r_s1), .b (u2bb), .out_valid (ov[2]), .y (u2b_y[LO +: 32]));
    fp32_mul #(.LATENCY(MUL_LAT)) u3 (
      .clk (clk), .rst_n (urst_n), .in_valid (vsr[T_U3]),
      .a (u2a_y[LO +: 32]), .b (gam3), .out_valid (ov[3]), .y (u3_y[LO +: 32]));
    fp32_add #(.LATENCY(ADD_LAT)) u4 (
      .clk (clk), .rst_n (urst_n), .in_valid (vsr[T_U4]),
      .a (u4a), .b (u4b), .out_valid (ov[4]), .y (u4_y[LO +: 32]));
    fp32_mul #(.LATENCY(MUL_LAT)) u6a (
      .clk (clk), .rst_n (urst_n), .in_valid (vsr[T_U5]),
      .a (nf_q), .b (g5l), .out_valid (ov[5]), .y (u6a_y[LO +: 32]));
    fp32_mul #(.LATENCY(MUL_LAT)) u6b (
      .clk (clk), .rst_n (urst_n), .in_valid (vsr[T_U5]),
      .a (u6ba), .b (u6bb), .out_valid (ov[6]), .y (u6b_y[LO +: 32]));
    fp32_add #(.LATENCY(ADD_LAT)) u7 (
      .clk (clk), .rst_n (urst_n), .in_valid (vsr[T_U7]),
      .a (u7a), .b (u7b), .out_valid (ov[7]), .y (u7_y[LO +: 32]));
    fp32_add #(.LATENCY(ADD_LAT)) u8 (
      .clk (clk), .rst_n (urst_n), .in_valid (vsr[T_U8]),
      .a (u7_y[LO +: 32]), .b (u8b), .out_valid (ov[8]),
      .y (u8_y[LO +: 32]));
    fp32_mul #(.LATENCY(MUL_LAT)) u9 (
      .clk (clk), .rst_n (urst_n), .in_valid (vsr[T_U9]),
      .a (u9a), .b (u9b), .out_valid (ov[9]), .y (u9_y[LO +: 32]));
    fp32_add #(.LATENCY(ADD_LAT)) u10 (
      .clk (clk), .rst_n (urst_n), .in_valid (vsr[T_U10]),
      .a (u10a), .b (u9_y[LO +: 32] ^ F_SIGN), .out_valid (ov[10]),
      .y (u10_y[LO +: 32]));

    assign unused_ov[gl] = ^ov;
  end

  // Output FIFO pushes (at most one source per cycle: STOREV only runs with the pipeline empty).
  always_comb begin
    fo_push[0] = sv_push;
    fo_in[0 +: DW] = sv_data;
    case (pmode)
      M_RELU, M_NORM: if (vsr[T_U5]) begin
        fo_push[0] = 1'b1;
        fo_in[0 +: DW] = g5;
      end
      M_BNB2: if (vsr[T_U10]) begin
        fo_push[0] = 1'b1;
        fo_in[0 +: DW] = u9_y;
      end
      M_SGD: if (vsr[T_END]) begin
        fo_push[0] = 1'b1;
        fo_in[0 +: DW] = u10_y;
      end
      M_BCAST: if (vsr[1]) begin
        fo_push[0] = 1'b1;
        fo_in[0 +: DW] = bc;
      end
      default: ;
    endcase
    fo_push[1] = m_sgd && vsr[T_U8];
    fo_in[DW +: DW] = u7_y;
  end

  // ---------------------------------------------------------------------------------------------
  // Partial sums: per bank WPB adders. Accumulate: p[lg*WPB + word][k] += value (revisited every
  // ACC_L pixels, after its previous sum is back). Tree: p[.][i] = p[.][2i] + p[.][2i+1], level by
  // level in place. A bank's adders all work on one (lane group, partial) at a time, so one
  // metadata pipe per bank tracks where their results go.
  // ---------------------------------------------------------------------------------------------
  logic [1:0]     ac_v;
  logic [LGW-1:0] ac_lg [2];
  logic [KW-1:0]  ac_ka [2];
  logic [KW-1:0]  ac_kb [2];
  logic [KW-1:0]  ac_kd [2];
  logic [DW-1:0]  ac_val [2];
  logic [2*DW-1:0] ac_y;                    // bank b's adder results at [b*DW +: DW]
  logic [2*WPB-1:0] aov;

  logic [A:1]     am_v0, am_v1;              // results in flight, by cycle, per bank
  logic [LGW-1:0] am_lg [2*A];               // bank b, cycle t: index b*A + t - 1
  logic [KW-1:0]  am_k  [2*A];

  always_comb begin
    // Bank 0: R(x) (SUM), R(d*d) (SQDEV), R(g) (BNB1). Bank 1: R(g*xhat) (BNB1).
    case (pmode)
      M_SQDEV: begin
        ac_v[0] = vsr[T_U3];  ac_lg[0] = lgq[T_U3];  ac_ka[0] = kq[T_U3];  ac_val[0] = u2a_y;
      end
      M_BNB1: begin
        ac_v[0] = vsr[T_U5];  ac_lg[0] = lgq[T_U5];  ac_ka[0] = kq[T_U5];  ac_val[0] = g5;
      end
      default: begin
        ac_v[0] = vsr[T_U2] && (pmode == M_SUM);
        ac_lg[0] = lgq[T_U2];  ac_ka[0] = kq[T_U2];  ac_val[0] = xa_q[T_U2];
      end
    endcase
    ac_v[1]   = vsr[T_U7] && (pmode == M_BNB1);
    ac_lg[1]  = lgq[T_U7];
    ac_ka[1]  = kq[T_U7];
    ac_val[1] = u6b_y;
    for (int b = 0; b < 2; b++) begin
      ac_kb[b] = ac_ka[b];
      ac_kd[b] = ac_ka[b];
      if (t_issue) begin
        ac_v[b]  = 1'b1;
        ac_lg[b] = tg;
        ac_ka[b] = KW'({ti, 1'b0});
        ac_kb[b] = KW'({ti, 1'b1});
        ac_kd[b] = ti;
      end
    end
  end

  for (genvar gb = 0; gb < 2; gb++) begin : g_bank
    for (genvar gl = 0; gl < WPB; gl++) begin : g_ln
      logic [31:0] opa, opb;
      always_comb begin
        opa = '0;
        opb = ac_val[gb][32 * gl +: 32];
        for (int g = 0; g < BPP; g++) begin
          for (int k2 = 0; k2 < ACC_L; k2++) begin
            if (ac_lg[gb] == LGW'(g) && ac_ka[gb] == KW'(k2)) begin
              opa = (gb == 0) ? acc0_q[32 * ((g * WPB + gl) * ACC_L + k2) +: 32]
                              : acc1_q[32 * ((g * WPB + gl) * ACC_L + k2) +: 32];
            end
            if (t_issue && ac_lg[gb] == LGW'(g) && ac_kb[gb] == KW'(k2)) begin
              opb = (gb == 0) ? acc0_q[32 * ((g * WPB + gl) * ACC_L + k2) +: 32]
                              : acc1_q[32 * ((g * WPB + gl) * ACC_L + k2) +: 32];
            end
          end
        end
      end
      fp32_add #(.LATENCY(ADD_LAT)) u_acc (
        .clk (clk), .rst_n (urst_n), .in_valid (ac_v[gb]),
        .a (opa), .b (opb), .out_valid (aov[gb * WPB + gl]), .y (ac_y[gb * DW + 32 * gl +: 32]));
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n || abort) begin
      am_v0 <= '0;
      am_v1 <= '0;
    end else begin
      am_v0[1] <= ac_v[0];
      am_v1[1] <= ac_v[1];
      for (int t = 2; t <= A; t++) begin
        am_v0[t] <= am_v0[t-1];
        am_v1[t] <= am_v1[t-1];
      end
    end
    for (int b = 0; b < 2; b++) begin
      am_lg[b * A] <= ac_lg[b];
      am_k[b * A]  <= ac_kd[b];
      for (int t = 1; t < A; t++) begin
        am_lg[b * A + t] <= am_lg[b * A + t - 1];
        am_k[b * A + t]  <= am_k[b * A + t - 1];
      end
    end
  end

  // Write-back of the results, and CLEAR.
  always_ff @(posedge clk) begin
    for (int j = 0; j < TN; j++) begin
      for (int s = 0; s < ACC_L; s++) begin
        if (c_clear) begin
          acc0_q[32 * (j * ACC_L + s) +: 32] <= F_NEGZERO;
          acc1_q[32 * (j * ACC_L + s) +: 32] <= F_NEGZERO;
        end else begin
          if (am_v0[A] && 32'(am_lg[A - 1]) == j / WPB && 32'(am_k[A - 1]) == s) begin
            acc0_q[32 * (j * ACC_L + s) +: 32] <= ac_y[32 * (j % WPB) +: 32];
          end
          if (am_v1[A] && 32'(am_lg[2 * A - 1]) == j / WPB && 32'(am_k[2 * A - 1]) == s) begin
            acc1_q[32 * (j * ACC_L + s) +: 32] <= ac_y[DW + 32 * (j % WPB) +: 32];
          end
        end
      end
    end
  end

  assign acc_quiet = (am_v0 == '0) && (am_v1 == '0);

  // ---------------------------------------------------------------------------------------------
  // Inputs this unit does not use.
  // ---------------------------------------------------------------------------------------------
  /* verilator lint_off UNUSEDSIGNAL */
  logic unused;   // global pools have k = s = 1; every command is whole beats; error addresses unused
  // (fo_ready: output FIFO room is reserved before a beat is issued; w_odiff[1]: at most 2 outputs)
  assign unused = ^{k, stride, rds_keep, rd_done_addr, wr_done_addr, flags, unused_ov, aov,
                    fo_ready, w_odiff[1]};
  /* verilator lint_on UNUSEDSIGNAL */

endmodule

`default_nettype wire
