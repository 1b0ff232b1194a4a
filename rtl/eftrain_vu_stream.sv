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
//   MUL_LAT     fp32_mul latency (HwConfig.mul_latency); the pipeline runs its multipliers at
//               M = MUL_LAT rounded up to even (one delay register more when odd)
//   ADD_LAT     fp32_add latency (HwConfig.add_latency); the pipeline runs its adders at
//               A = ADD_LAT rounded up to odd (ci, zcu102: A = 3, M = 2, no extra register)
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
//   Elementwise pipeline: WPB word lanes, each five fp32 units (adders X, Y, multipliers P, Q,
//   R) that run the operations every pass mode taps where it needs, at fixed times (latency
//   T_END = 5*A + 4*M):
//     U1  x - mean            U2a d*d | d*invstd | wd*w     U3 xhat*gamma
//     U4  + beta | g + wd*w   mask (ReLU, relu_bp, z > 0)   U6a nf*g
//     U6b g*xhat | xhat*dgamma | mom*v                      U7  nf*g - dbeta | mom*v + d
//     U8  - xhat*dgamma       U9 scale*inner | lr*v'        U10 w - lr*v'
//   on X: U1, U8, U10, partial-sum bank 1; Y: U4, U7, bank 0; P: U2a, U6a; Q: U3, U6b; R: U9.
//   A unit runs two operations of one mode only in BNB1, BNB2 (BN_BP) and SGD, at times of
//   opposite parity, and those modes issue beats on even cycles only: they read two or three
//   input beats per pipeline beat, so one beat per two cycles is the DMA's rate for them anyway.
//   One beat (WPB words of one pixel, lanes l0..l0+WPB-1) enters per cycle (BN_BP and SGD: per
//   even cycle) when its inputs are in the FIFOs and the output FIFOs have room: RELU_BP, BN
//   passes and SGD stream at the DMA read rate (one read beat per cycle shared by the input
//   tensors), the reductions at one beat per cycle.
//   Reduction R: 2 x TN x ACC_L partial sums (two banks: BN_BP needs dbeta and dgamma at once) in
//   distributed RAM (rows of WPB words, a valid bit per row for CLEAR), summed by the lanes' Y
//   (bank 0) and X (bank 1); the word of lane j at pixel t (counted over the whole stream of the
//   reduction: t = b*H*W + pixel for BN / BIAS_GRAD, the image's pixel for global pooling) adds
//   into p[j][t mod ACC_L]; start -0.0. TREE then adds adjacent partials in place with the same
//   adders, level by level (golden tree_sum for a power-of-two width).
//   Vector registers: 8 x TN words in one distributed RAM (rows of WPB words), five read ports.
//   Scalar unit: TN lanes one per cycle through lane 0's X and P (add, multiply; the pipeline is
//   empty during a scalar step), fp32_div and fp32_sqrt (a step waits for its TN results).
//   n = B*H*W, n - 1 and H*W are converted to binary32 with round to nearest even (exact up to
//   2^24) at op start; the few address products come from a shift-add unit there too (about 60
//   cycles per op).
//
// Throughput (steady state, no DRAM stalls): RELU_BP one output beat per 2 read beats, SGD 2
// output beats per 3 read beats, BN_FP 3 reads of x per channel block, BN_BP 2 x (dy + x), at one
// read beat per cycle; per channel block / plane a fixed overhead of pipeline drains, the tree
// (TN*(ACC_L-1)/WPB issue cycles + log2(ACC_L) adder latencies) and about TN + latency cycles per
// scalar step (BN_FP: 15 steps). BN_BP and SGD passes issue at most one beat per two cycles, the
// rate of their reads: data the DMA read ahead (during a block's tree and scalar steps, at a
// pass's start) is not caught up faster, which BN_BP pays per channel block, SGD once per op.
// Measured (tb/vu_stream, DRAM latency 40): the read stream is 99% busy while RELU_BP streams,
// 95% for SGD; about 100 cycles of start-up and finish per op. Against the previous version of
// this unit (one pipeline beat per cycle in every mode): RELU_BP, BN_FP, BIAS_GRAD and the
// global pools take the same cycles; BN_BP 80..90 more per channel block at zcu102 (b2 c32 8x4:
// 2297 -> 2474), about 58 at ci; SGD 29 more per op (n = 2048: 1726 -> 1755).
//
// Resources (Yosys 0.23 synth_xilinx -family xcup, zcu102 parameters TN 16, WPB 4; ci/rtl_check.py
// synth --top eftrain_vu_stream): 19.1k LUT, 7.8k FF, 84 DSP48E2, 10 BRAM36 (the stream FIFOs),
// 864 LUTRAM LUTs (vector registers, partial sums; shallow queues), 914 SRL16E (delay lines).
// About 45% of the LUTs are the 22 fp32 units (20 in the pipeline, div, sqrt); the rest mostly
// the walker, the op setup and the units' operand multiplexers. (The previous version, a chain of
// 11 units per lane, separate partial-sum adders and scalar add / mul, registers and partial sums
// in flip-flops: 40.7k LUT, 21.5k FF, 212 DSP48E2.)
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
  localparam int RGW   = 3;                                 // vector register index bits
  localparam int NVR   = 1 << RGW;                          // vector registers
  localparam int FQ    = 8;                                 // write-command queues
  localparam int TQ    = 16;                                // read-tag queue

  // Pipeline times (cycles after a beat is issued) where each unit takes its operands.
  // The pipeline's adders run at an odd latency A, its multipliers at an even latency M (one
  // register more than ADD_LAT / MUL_LAT where needed): the unit-sharing schedule below relies
  // on the parity of the operation times. (zcu102, ci: A = ADD_LAT = 3, M = MUL_LAT = 2.)
  localparam int A      = ADD_LAT + ((ADD_LAT % 2 == 0) ? 1 : 0);
  localparam int M      = MUL_LAT + ((MUL_LAT % 2 == 1) ? 1 : 0);
  localparam int T_U2   = A;               // U2a; U1 result
  localparam int T_U3   = A + M;           // U3; U2a result
  localparam int T_U4   = A + 2 * M;       // U4; U3 result
  localparam int T_U5   = 2 * A + 2 * M;   // mask, U6a/U6b; U4 result
  localparam int T_U7   = 2 * A + 3 * M;   // U7; U6 results
  localparam int T_A1   = T_U7 + 1;        // BNB1: g*xhat into partial-sum bank 1
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
                         R_RM = 5'd4, R_RV = 5'd5, R_T0 = 5'd6, R_T1 = 5'd7;
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
      6'd17: crom = {C_SOP,    1'b0, R_T1,     S_MOM,  R_T1,   SOP_MUL};
      6'd18: crom = {C_SOP,    1'b0, R_T0,     S_OMM,  R_RV,   SOP_MUL};
      6'd19: crom = {C_SOP,    1'b0, R_RV,     R_T1,   R_T0,   SOP_ADD};    // running_var'
      6'd20: crom = {C_SOP,    1'b0, R_T1,     S_MOM,  R_MEAN, SOP_MUL};
      6'd21: crom = {C_SOP,    1'b0, R_T0,     S_OMM,  R_RM,   SOP_MUL};
      6'd22: crom = {C_SOP,    1'b0, R_RM,     R_T1,   R_T0,   SOP_ADD};    // running_mean'
      6'd23: crom = {C_STOREV, 1'b0, R_RM,     10'd0,          3'd0};
      6'd24: crom = {C_STOREV, 1'b0, R_RV,     10'd0,          3'd0};
      6'd25: crom = {C_STOREV, 1'b0, R_MEAN,   10'd0,          3'd0};
      6'd26: crom = {C_STOREV, 1'b0, R_INVSTD, 10'd0,          3'd0};
      6'd27: crom = {C_PASS,   1'b0, M_NORM,   10'd0,          3'd0};
      6'd28: crom = {C_END,    6'd1,           10'd0,          3'd0};
      // BN_BP: per channel block: the parameters, scale (it needs no pass result: computed
      // first, while pass 1's data arrive), pass 1 (dbeta, dgamma), the gradients dgamma, dbeta,
      // pass 2 (dx).
      6'd29: crom = {C_LOADV,  1'b0, R_GAMMA,  10'd0,          3'd0};
      6'd30: crom = {C_LOADV,  1'b0, R_BETA,   10'd0,          3'd0};
      6'd31: crom = {C_LOADV,  1'b0, R_MEAN,   10'd0,          3'd0};
      6'd32: crom = {C_LOADV,  1'b0, R_INVSTD, 10'd0,          3'd0};
      6'd33: crom = {C_SOP,    1'b0, R_T0,     R_GAMMA, R_INVSTD, SOP_MUL};
      6'd34: crom = {C_SOP,    1'b0, R_T1,     R_T0,   S_NF,   SOP_DIV};    // scale
      6'd35: crom = {C_CLEAR,  6'd0,           10'd0,          3'd0};
      6'd36: crom = {C_PASS,   1'b0, M_BNB1,   10'd0,          3'd0};
      6'd37: crom = {C_TREE,   6'd0,           10'd0,          3'd0};
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
  logic [LGW-1:0]    lgq [1:T_END];          // ... lane group, by time
  logic [KW-1:0]     kq  [1:T_END];          // ... partial-sum index, by time
  logic              ph;                     // cycle parity (BNB1, BNB2, SGD issue when 0)
  logic              p_half;                 // the pass issues on even cycles only
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
    p_half  = (pmode == M_BNB1) || (pmode == M_BNB2) || (pmode == M_SGD);
    p_issue = c_act && c_go && (ct == C_PASS) && (!p_half || !ph)
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
  // Vector registers: one distributed RAM of NVR x (lane groups) rows of WPB words (lane j of
  // register r: word j % WPB of row {r, j / WPB}), written synchronously per word (LOADV: a row
  // of F0 at lane group ldc; SOP: the lane so), read asynchronously through five ports at a row
  // each. While a PASS has beats in flight, port i reads the pipeline's parameter of the lane
  // group at its unit's time: 0 MEAN (issue), 1 INVSTD (T_U2), 2 GAMMA (T_U3), 3 BETA (T_U4),
  // 4 T1 (T_U9; time 1 for the broadcast). While a SOP / STOREV step runs (the pipeline is empty
  // then), port 0 reads the SOP operand a, port 1 operand b or the STOREV row, at lane group
  // c_lg (of si / ldc).
  // ---------------------------------------------------------------------------------------------
  localparam int WSW = (WPB > 1) ? WPBL : 1;   // word-in-row index bits
  localparam int RAW = RGW + LGW;              // register RAM row address {register, lane group}
  localparam int NRP = 5;                      // register RAM read ports

  logic [LGW-1:0]     s_lg, so_lg;             // lane group of the scalar lanes si, so
  logic [WSW-1:0]     s_wd, so_wd;             // their word in the row
  logic               c_rd;                    // a SOP / STOREV step reads (the pipeline is empty)
  logic [LGW-1:0]     c_lg;                    // ... at this lane group
  logic [4:0]         c_ib;                    // ... register / bank of port 1
  logic [RAW-1:0]     vr_wa;
  logic [DW-1:0]      vr_wd;
  logic [WPB-1:0]     vr_we;                   // per word of the row
  logic [NRP*RAW-1:0] vr_ra;                   // port i's row at [i*RAW +: RAW]
  logic [NRP*DW-1:0]  vr_rd;                   // ... and its data at [i*DW +: DW]
  logic [2*DW-1:0]    acc_p0;                  // bank b's read port A at [b*DW +: DW] (partial 0
                                               // while c_rd or a BNB2 pass)

  always_comb begin
    s_lg  = LGW'(si >> WPBL);
    s_wd  = WSW'(si & SLW'(WPB - 1));
    so_lg = LGW'(so >> WPBL);
    so_wd = WSW'(so & SLW'(WPB - 1));
    c_rd  = c_go && (ct == C_SOP || ct == C_STOREV);
    c_lg  = (ct == C_SOP) ? s_lg : ldc;
    c_ib  = (ct == C_STOREV) ? cf1[4:0] : cf3;
    // Write: LOADV (destination cf1) or a SOP result (cf1 a register, not S_OMM).
    vr_wa = {cf1[RGW-1:0], ld_pop ? ldc : so_lg};
    vr_wd = ld_pop ? fi_data[0 +: DW] : {WPB{s_y}};
    for (int q = 0; q < WPB; q++) begin
      vr_we[q] = ld_pop || (s_res && cf1[4:0] < 5'(NVR) && so_wd == WSW'(q));
    end
    vr_ra = {{R_T1[RGW-1:0], (pmode == M_BCAST) ? lgq[1] : lgq[T_U9]},
             {R_BETA[RGW-1:0], lgq[T_U4]},
             {R_GAMMA[RGW-1:0], lgq[T_U3]},
             {R_INVSTD[RGW-1:0], lgq[T_U2]},
             {R_MEAN[RGW-1:0], lg0}};
    if (c_rd) begin
      vr_ra[0 +: RAW]   = {cf2[RGW-1:0], c_lg};
      vr_ra[RAW +: RAW] = {c_ib[RGW-1:0], c_lg};
    end
  end

  logic [DW-1:0] vr_mem [NVR << LGW];
  always_ff @(posedge clk) begin
    for (int q = 0; q < WPB; q++) begin
      if (vr_we[q]) vr_mem[vr_wa][32 * q +: 32] <= vr_wd[32 * q +: 32];
    end
  end
  for (genvar gp = 0; gp < NRP; gp++) begin : g_vrp
    assign vr_rd[gp * DW +: DW] = vr_mem[vr_ra[gp * RAW +: RAW]];
  end

  always_ff @(posedge clk) begin
    if (s_res && cf1[4:0] == S_OMM) omm_q <= s_y;
  end

  // Sources of the scalar unit (a: cf2, b: cf3, lane si) and of STOREV (cf1, lane group ldc):
  // a register (ports 0 / 1) or partial sum 0 of a bank (S_ACC0 / S_ACC1), or a broadcast scalar.
  logic [31:0] s_a, s_b;
  logic [DW-1:0] row_a, row_b;

  always_comb begin
    row_a   = (cf2 == S_ACC0) ? acc_p0[0 +: DW] : (cf2 == S_ACC1) ? acc_p0[DW +: DW]
                                                                  : vr_rd[0 +: DW];
    row_b   = (c_ib == S_ACC0) ? acc_p0[0 +: DW] : (c_ib == S_ACC1) ? acc_p0[DW +: DW]
                                                                    : vr_rd[DW +: DW];
    sv_data = row_b;
    case (cf2)
      S_ONE:   s_a = F_ONE;
      S_NF:    s_a = nf_q;
      S_NM1:   s_a = nm1_q;
      S_PF:    s_a = pf_q;
      S_EPS:   s_a = r_s0;
      S_MOM:   s_a = r_s1;
      S_OMM:   s_a = omm_q;
      default: s_a = row_a[32 * s_wd +: 32];
    endcase
    case (cf3)
      S_ONE:   s_b = F_ONE;
      S_NF:    s_b = nf_q;
      S_NM1:   s_b = nm1_q;
      S_PF:    s_b = pf_q;
      S_EPS:   s_b = r_s0;
      S_MOM:   s_b = r_s1;
      S_OMM:   s_b = omm_q;
      default: s_b = row_b[32 * s_wd +: 32];
    endcase
  end

  // ---------------------------------------------------------------------------------------------
  // Scalar unit: one lane per cycle through the unit of the operation. Add / subtract and
  // multiply use lane 0's X and P of the elementwise pipeline (a SOP step runs with the pipeline
  // empty); divide and square root have their own units.
  // ---------------------------------------------------------------------------------------------
  logic        c_sop, s_add_go, s_mul_go;
  logic        sa_v, sm_v, sd_v, sq_v;
  logic [31:0] sa_y, sm_y, sd_y, sq_y, s_bx;

  always_comb begin
    c_sop    = c_go && (ct == C_SOP);
    s_add_go = s_issue && (csop == SOP_ADD || csop == SOP_SUB);
    s_mul_go = s_issue && (csop == SOP_MUL);
    s_bx     = (csop == SOP_SUB) ? (s_b ^ F_SIGN) : s_b;
  end

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
  // The operations U1..U10 and the partial-sum additions run on five fp32 units per word lane,
  // two adders X, Y and three multipliers P, Q, R (latencies A, M: odd and even), each operation
  // at its fixed time on the unit the table assigns:
  //   X  U1 (t=0) | bank 1 (BNB1: t=T_A1; TREE) | U8 (BNB2, T_U8) | U10 (SGD, T_U10) | SOP add
  //   Y  bank 0 (SUM: T_U2, SQDEV: T_U3, BNB1: T_U5; TREE) | U4 (T_U4) | U7 (BNB2, SGD: T_U7)
  //   P  U2a (T_U2) | U6a (BNB2, T_U5) | SOP multiply       Q  U3 (T_U3) | U6b (T_U5)
  //   R  U9 (T_U9)
  // A unit runs two operations of one mode only in BNB1, BNB2 and SGD, at times of different
  // parity (T_U2, T_U3, T_U4, T_A1, T_U8 odd; 0, T_U5, T_U7 even), and those modes issue beats
  // on even cycles only (ph = 0): at most one operation per unit and cycle. Their passes read
  // two or three input beats per pipeline beat, so the DMA (one read beat per cycle) is the
  // limit there either way.
  // ---------------------------------------------------------------------------------------------
  always_ff @(posedge clk) begin
    if (!rst_n || abort) begin
      vsr <= '0;
      ph  <= 1'b0;
    end else begin
      vsr[1] <= p_issue;
      for (int t = 2; t <= T_END; t++) vsr[t] <= vsr[t-1];
      ph <= !ph;
    end
    lgq[1] <= lg0;
    kq[1]  <= k0;
    for (int t = 2; t <= T_END; t++) begin
      lgq[t] <= lgq[t-1];
      kq[t]  <= kq[t-1];
    end
  end

  // Delay lines (whole beats): input words and the unit results that skip stages.
  localparam int D_XAB = T_U5;          // dy / x / g at the mask; y / v at the mask and U6b
  localparam int D_XC  = T_U10;         // w at U10
  localparam int D_P   = A + M;         // P: xhat from T_U3 to T_U5; SGD wd*w from T_U3 to T_U4
  localparam int D_Q   = A;             // Q: xhat*dgamma from T_U7 to T_U8; BNB1 g*xhat to T_A1
  localparam int D_Y   = (A > M) ? A : M;   // Y: SGD d from T_U5 to T_U7, v' from T_U8 to T_U9

  logic [DW-1:0] xa_q [1:D_XAB];
  logic [DW-1:0] xb_q [1:D_XAB];
  logic [DW-1:0] xc_q [1:D_XC];
  logic [DW-1:0] p_q  [1:D_P];
  logic [DW-1:0] q_q  [1:D_Q];
  logic [DW-1:0] y_q  [1:D_Y];

  logic [DW-1:0] x_y, y_y, p_y, q_y, r_y, g5, bc;

  always_ff @(posedge clk) begin
    xa_q[1] <= fi_data[0 +: DW];
    xb_q[1] <= fi_data[DW +: DW];
    xc_q[1] <= fi_data[2 * DW +: DW];
    p_q[1]  <= p_y;
    q_q[1]  <= q_y;
    y_q[1]  <= y_y;
    for (int t = 2; t <= D_XAB; t++) begin
      xa_q[t] <= xa_q[t-1];
      xb_q[t] <= xb_q[t-1];
    end
    for (int t = 2; t <= D_XC; t++) xc_q[t] <= xc_q[t-1];
    for (int t = 2; t <= D_P; t++)  p_q[t]  <= p_q[t-1];
    for (int t = 2; t <= D_Q; t++)  q_q[t]  <= q_q[t-1];
    for (int t = 2; t <= D_Y; t++)  y_q[t]  <= y_q[t-1];
  end

  wire m_bnb1 = (pmode == M_BNB1);
  wire m_bnb2 = (pmode == M_BNB2);
  wire m_bnb  = m_bnb1 || m_bnb2;
  wire m_sgd  = (pmode == M_SGD);
  wire m_bn   = m_bnb || (pmode == M_NORM) || (pmode == M_SQDEV);   // modes with U1

  // Which operation each unit runs this cycle (all lanes alike; the default operation otherwise).
  logic [1:0]      ac_v;
  logic            x_u1, x_u8, x_u10, y_u4, y_u7, p_u6a, q_u6b;
  always_comb begin
    x_u1  = p_issue && m_bn;
    x_u8  = vsr[T_U8] && m_bnb2;
    x_u10 = vsr[T_U10] && m_sgd;
    y_u4  = vsr[T_U4] && (m_bnb || m_sgd || pmode == M_NORM);
    y_u7  = vsr[T_U7] && (m_bnb2 || m_sgd);
    p_u6a = vsr[T_U5] && m_bnb2;
    q_u6b = vsr[T_U5] && (m_bnb || m_sgd);
  end

  logic [2*DW-1:0] acc_opa, acc_opb;        // the partial-sum operands, bank b at [b*DW +: DW]
  logic [WPB-1:0]  x_ov, p_ov;              // lane 0: the scalar unit's add / multiply results
  logic [WPB-1:0]  unused_ov;               // the other valid outputs (the pipeline keeps its own)

  for (genvar gl = 0; gl < WPB; gl++) begin : g_lane
    localparam int LO = 32 * gl;
    logic [31:0] mean0, inv2, gam3, bet4, dgam5, dbet7, scl9;
    logic [31:0] xa, xb, ya, yb, pa, pb, qa, qb, ra, rb;
    logic [31:0] z5, dy5, y5, g5l;
    logic        xv, pv;
    logic [2:0]  ov;

    always_comb begin
      // Parameters of this word's lane at each unit's time (the register RAMs are read there).
      mean0 = vr_rd[0 * DW + LO +: 32];
      inv2  = vr_rd[1 * DW + LO +: 32];
      gam3  = vr_rd[2 * DW + LO +: 32];
      bet4  = vr_rd[3 * DW + LO +: 32];
      scl9  = vr_rd[4 * DW + LO +: 32];
      dgam5 = acc_p0[DW + LO +: 32];
      dbet7 = acc_p0[LO +: 32];

      // Mask stage (time T_U5): ReLU of z (U4's result), relu_bp, the BN_BP gradient g.
      z5  = y_y[LO +: 32];
      dy5 = xa_q[T_U5][LO +: 32];
      y5  = xb_q[T_U5][LO +: 32];
      case (pmode)
        M_RELU:  g5l = f_gt0(y5) ? dy5 : 32'd0;
        M_NORM:  g5l = (!relu_f || f_gt0(z5) || f_nan(z5[30:0])) ? z5 : 32'd0;
        default: g5l = (!relu_f || f_gt0(z5)) ? dy5 : 32'd0;
      endcase

      // X: U1 x - mean | bank 1 | U8 (nf*g - dbeta) - xhat*dgamma | U10 w - lr*v' | SOP add.
      xa = m_bnb ? fi_data[DW + LO +: 32] : fi_data[LO +: 32];
      xb = mean0 ^ F_SIGN;
      xv = x_u1 || ac_v[1] || x_u8 || x_u10;
      if (x_u10) begin
        xa = xc_q[T_U10][LO +: 32];
        xb = r_y[LO +: 32] ^ F_SIGN;
      end
      if (x_u8) begin
        xa = y_y[LO +: 32];
        xb = q_q[D_Q][LO +: 32] ^ F_SIGN;
      end
      if (ac_v[1]) begin
        xa = acc_opa[DW + LO +: 32];
        xb = acc_opb[DW + LO +: 32];
      end
      // Y: bank 0 | U4 xhat*gamma + beta, g + wd*w | U7 nf*g - dbeta, mom*v + d.
      ya = acc_opa[LO +: 32];
      yb = acc_opb[LO +: 32];
      if (y_u4) begin
        ya = m_sgd ? xa_q[T_U4][LO +: 32] : q_y[LO +: 32];
        yb = m_sgd ? p_q[M][LO +: 32] : bet4;
      end
      if (y_u7) begin
        ya = m_sgd ? q_y[LO +: 32] : p_y[LO +: 32];
        yb = m_sgd ? y_q[M][LO +: 32] : (dbet7 ^ F_SIGN);
      end
      // P: U2a d*d, d*invstd, wd*w | U6a nf*g | SOP multiply.
      pa = m_sgd ? xc_q[T_U2][LO +: 32] : x_y[LO +: 32];
      pb = (pmode == M_SQDEV) ? x_y[LO +: 32] : m_sgd ? r_s2 : inv2;
      pv = vsr[T_U2] || p_u6a;
      if (p_u6a) begin
        pa = nf_q;
        pb = g5l;
      end
      if (gl == 0 && c_sop) begin
        xa = s_a;
        xb = s_bx;
        xv = s_add_go;
        pa = s_a;
        pb = s_b;
        pv = s_mul_go;
      end
      // Q: U3 xhat*gamma | U6b g*xhat, xhat*dgamma, mom*v.
      qa = p_y[LO +: 32];
      qb = gam3;
      if (q_u6b) begin
        qa = m_sgd ? r_s1 : p_q[D_P][LO +: 32];
        qb = m_sgd ? y5 : m_bnb1 ? g5l : dgam5;
      end
      // R: U9 scale*inner | lr*v'.
      ra = m_sgd ? r_s0 : scl9;
      rb = m_sgd ? y_q[A][LO +: 32] : x_y[LO +: 32];
    end

    assign g5[LO +: 32] = g5l;
    assign bc[LO +: 32] = scl9;

    fp32_add #(.LATENCY(A)) u_x (
      .clk (clk), .rst_n (urst_n), .in_valid (xv),
      .a (xa), .b (xb), .out_valid (x_ov[gl]), .y (x_y[LO +: 32]));
    fp32_add #(.LATENCY(A)) u_y (
      .clk (clk), .rst_n (urst_n), .in_valid (ac_v[0] || y_u4 || y_u7),
      .a (ya), .b (yb), .out_valid (ov[0]), .y (y_y[LO +: 32]));
    fp32_mul #(.LATENCY(M)) u_p (
      .clk (clk), .rst_n (urst_n), .in_valid (pv),
      .a (pa), .b (pb), .out_valid (p_ov[gl]), .y (p_y[LO +: 32]));
    fp32_mul #(.LATENCY(M)) u_q (
      .clk (clk), .rst_n (urst_n), .in_valid (vsr[T_U3] || q_u6b),
      .a (qa), .b (qb), .out_valid (ov[1]), .y (q_y[LO +: 32]));
    fp32_mul #(.LATENCY(M)) u_r (
      .clk (clk), .rst_n (urst_n), .in_valid (vsr[T_U9]),
      .a (ra), .b (rb), .out_valid (ov[2]), .y (r_y[LO +: 32]));

    assign unused_ov[gl] = ^ov;
  end

  assign sa_v = x_ov[0];
  assign sa_y = x_y[31:0];
  assign sm_v = p_ov[0];
  assign sm_y = p_y[31:0];

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
        fo_in[0 +: DW] = r_y;      // U9
      end
      M_SGD: if (vsr[T_END]) begin
        fo_push[0] = 1'b1;
        fo_in[0 +: DW] = x_y;      // U10: w'
      end
      M_BCAST: if (vsr[1]) begin
        fo_push[0] = 1'b1;
        fo_in[0 +: DW] = bc;
      end
      default: ;
    endcase
    fo_push[1] = m_sgd && vsr[T_U8];
    fo_in[DW +: DW] = y_y;         // U7: v'
  end

  // ---------------------------------------------------------------------------------------------
  // Partial sums: two banks, each a distributed RAM of (lane group, partial) rows of WPB words
  // (lane j, partial s: word j % WPB of row {j / WPB, s}), summed by the pipeline's Y (bank 0)
  // and X (bank 1). Accumulate: p[lg*WPB + word][k] += value (revisited every ACC_L pixels, after
  // its previous sum is back). Tree: p[.][i] = p[.][2i] + p[.][2i+1], level by level in place. A
  // bank's adders all work on one (lane group, partial) at a time, so one metadata pipe per bank
  // tracks where their results go. CLEAR drops a valid bit per row: a row not written since
  // reads as -0.0 (every word). Read port A: the adders' first operand; partial 0 for BNB2 (bank
  // 1 at T_U5, bank 0 at T_U7) and for SOP / STOREV (at c_lg). Read port B: the tree's second
  // operand.
  // ---------------------------------------------------------------------------------------------
  localparam int AAW = LGW + KW;             // row address {lane group, partial}
  localparam int ARD = 1 << AAW;

  logic [LGW-1:0] ac_lg [2];
  logic [KW-1:0]  ac_ka [2];
  logic [KW-1:0]  ac_kb [2];
  logic [KW-1:0]  ac_kd [2];
  logic [DW-1:0]  ac_val [2];
  logic [2*DW-1:0] ac_y;                    // bank b's adder results at [b*DW +: DW]

  logic [A:1]     am_v0, am_v1;              // results in flight, by cycle, per bank
  logic [LGW-1:0] am_lg [2*A];               // bank b, cycle t: index b*A + t - 1
  logic [KW-1:0]  am_k  [2*A];

  assign ac_y = {x_y, y_y};

  always_comb begin
    // Bank 0: R(x) (SUM), R(d*d) (SQDEV), R(g) (BNB1). Bank 1: R(g*xhat) (BNB1).
    case (pmode)
      M_SQDEV: begin
        ac_v[0] = vsr[T_U3];  ac_lg[0] = lgq[T_U3];  ac_ka[0] = kq[T_U3];  ac_val[0] = p_y;
      end
      M_BNB1: begin
        ac_v[0] = vsr[T_U5];  ac_lg[0] = lgq[T_U5];  ac_ka[0] = kq[T_U5];  ac_val[0] = g5;
      end
      default: begin
        ac_v[0] = vsr[T_U2] && (pmode == M_SUM);
        ac_lg[0] = lgq[T_U2];  ac_ka[0] = kq[T_U2];  ac_val[0] = xa_q[T_U2];
      end
    endcase
    ac_v[1]   = vsr[T_A1] && m_bnb1;
    ac_lg[1]  = lgq[T_A1];
    ac_ka[1]  = kq[T_A1];
    ac_val[1] = q_q[1];
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

  for (genvar gb = 0; gb < 2; gb++) begin : g_acc
    logic [DW-1:0]  mem [ARD];
    logic [ARD-1:0] ok;                      // row written since CLEAR
    logic [AAW-1:0] ra, rb, wa;
    logic           wv;
    logic [DW-1:0]  rda, rdb;

    always_comb begin
      wv = (gb == 0) ? am_v0[A] : am_v1[A];
      wa = {am_lg[gb * A + A - 1], am_k[gb * A + A - 1]};
      rb = {ac_lg[gb], ac_kb[gb]};
      if (c_rd)        ra = {c_lg, KW'(0)};
      else if (m_bnb2) ra = {(gb == 0) ? lgq[T_U7] : lgq[T_U5], KW'(0)};
      else             ra = {ac_lg[gb], ac_ka[gb]};
    end

    always_ff @(posedge clk) begin
      if (wv) mem[wa] <= ac_y[gb * DW +: DW];
    end
    always_ff @(posedge clk) begin
      if (c_clear)  ok <= '0;
      else if (wv) ok[wa] <= 1'b1;
    end

    assign rda = mem[ra];
    assign rdb = mem[rb];
    assign acc_p0[gb * DW +: DW]  = rda;
    assign acc_opa[gb * DW +: DW] = ok[ra] ? rda : {WPB{F_NEGZERO}};
    assign acc_opb[gb * DW +: DW] = !t_issue ? ac_val[gb] : ok[rb] ? rdb : {WPB{F_NEGZERO}};
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

  assign acc_quiet = (am_v0 == '0) && (am_v1 == '0);

  // ---------------------------------------------------------------------------------------------
  // Inputs this unit does not use.
  // ---------------------------------------------------------------------------------------------
  /* verilator lint_off UNUSEDSIGNAL */
  logic unused;   // global pools have k = s = 1; every command is whole beats; error addresses unused
  // (fo_ready: output FIFO room is reserved before a beat is issued; w_odiff[1]: at most 2 outputs)
  assign unused = ^{k, stride, rds_keep, rd_done_addr, wr_done_addr, flags, unused_ov, x_ov,
                    p_ov, fo_ready, w_odiff[1]};
  /* verilator lint_on UNUSEDSIGNAL */

endmodule

`default_nettype wire
