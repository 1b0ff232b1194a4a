// EF-Train, open: the vector unit's windowed pooling engine (MAXPOOL_FP/BP, AVGPOOL_FP/BP).
//
// Runs one pooling descriptor (eftrain.descriptors: MAXPOOL_FP 0x08, MAXPOOL_BP 0x09, AVGPOOL_FP
// 0x0A and AVGPOOL_BP 0x0B without Flag.GLOBAL) on the reshaped feature maps in DRAM, through
// the DMA's read and write sides, bit-exact with eftrain.golden.vector (maxpool_fp, maxpool_bp,
// avgpool_fp, avgpool_bp) as eftrain.machine.GoldenMachine runs them: every lane of every channel
// block is computed, padding lanes included (their +0.0 inputs give +0.0 outputs, idx 0).
//
// Parameters
//   TN         lanes per channel block (the engine's Tn): the feature-map layout is
//              [B][ceil(C/TN)][H][W][TN]
//   WPB        32-bit words per DMA stream beat (axi_dma DATA_W / 32), a power of two; TN % WPB == 0
//   ACC_L      interleaved accumulations in flight (HwConfig.acc_interleave), >= ADD_LAT + 1
//   MUL_LAT    multiplier latency: part of the vector-unit interface, unused here (no products)
//   ADD_LAT    fp32_add latency (HwConfig.add_latency)
//   BUF_DEPTH  words of the plane buffer (HwConfig.vu_buf_depth), a multiple of 2 * WPB; the
//              validator guarantees FP: H*W*TN, AVGPOOL_BP: OH*OW*TN, MAXPOOL_BP: 2*OH*OW*TN
//              words <= BUF_DEPTH
//   DIV_LAT    latency of the average pooling divider fp32_div_kk (an addition to the common
//              interface; default the divider's own default, 8)
//   ADDR_W     DMA byte-address bits (axi_dma ADDR_W), LEN_W DMA length bits (axi_dma LEN_W)
//
// Interface (shared with the other vector-unit module, so the top level can mux them)
//   start      1-cycle pulse while idle (ignored while busy); op, flags, batch, ch (= C, the
//              descriptor's n), h, w, k, stride, src0/src1/src2/dst are sampled with it (count,
//              s0..s2 and flags are not used by pooling). Tensors (byte addresses, beat aligned):
//                MAXPOOL_FP  src0 x fmap(B,C,H,W) -> dst y fmap(B,C,OH,OW), src2 idx (uint32 kh*k+kw)
//                MAXPOOL_BP  src0 dy fmap(B,C,OH,OW), src1 idx -> dst dx fmap(B,C,H,W)
//                AVGPOOL_FP  src0 x -> dst y          AVGPOOL_BP  src0 dy -> dst dx
//              The descriptor must be valid (eftrain.descriptors.validate); another opcode, or
//              Flag.GLOBAL, gives undefined results.
//   done       1-cycle pulse after the op's last DMA write completed OK (every read completed too)
//   busy       from start until done, and while failed (until abort)
//   err_valid, err_status   the first DMA completion with a status != 0 (axi_dma codes: 1
//              ZERO_LENGTH, 2 MISALIGNED, 3 OUT_OF_WINDOW, 4 SLVERR, 5 DECERR); level, until abort
//   abort      synchronous: drops everything, idle (busy = 0, err_valid = 0) from the next cycle;
//              the DMA gets its soft_reset in the same cycle
//   DMA ports  axi_dma's rd_cmd_*, rds_*, rd_done_*, wr_cmd_*, wrs_*, wr_done_* with their meanings
//
// How an op runs. The (b, cb) planes of the reshaped layout are contiguous runs; the op works
// plane by plane, p = b * ceil(C/TN) + cb, through a plane buffer of BUF_DEPTH/WPB entries of one
// beat (WPB words) each; entry q*G + g of a plane holds lanes g*WPB.. of pixel q (G = TN/WPB
// beats per pixel). MAXPOOL_BP keeps its idx words in a second, narrow buffer of BUF_DEPTH/(2*WPB)
// entries, 7 bits per lane ({word >= 64, word[5:0]}: it equals {0, kh*k + kw} exactly when the
// word does), at the same positions as their dy.
//   Read commands   one per plane (MAXPOOL_BP: two, dy then idx), issued ahead as far as the DMA
//                   queue takes them, so the DRAM latency of the next plane is hidden.
//   Load            the plane's beats go into the buffer at one beat per cycle (FP: the x plane;
//                   AVGPOOL_BP: the dy plane, each word divided by float32(k*k) on the way in by
//                   WPB pipelined fp32_div_kk; MAXPOOL_BP: the dy plane, then the idx plane into
//                   the idx buffer at the same positions). The buffer is a ring (MAXPOOL_BP:
//                   BUF_DEPTH/(2*WPB) entries, otherwise BUF_DEPTH/WPB) and planes follow each
//                   other in it: the next plane loads while the current one is computed, into
//                   the free part of the ring and into the entries the computation no longer
//                   needs (every output beat reads at or after its window's first entry, and
//                   beats go in order; BP beats also revisit the windows of their row). A plane
//                   is computed once it is completely loaded.
//   Compute         one buffer read (one beat, WPB lanes) per cycle. Output beats (FP: beats of
//                   y in row-major order; BP: beats of dx in row-major order) are processed
//                   ACC_L at a time in round-robin slots, so that each slot's next operation
//                   comes ACC_L >= ADD_LAT + 1 cycles after its previous one (the adder latency
//                   is hidden and each output keeps its own operation order). R rounds per beat:
//                     FP  R = k*k: round (kh, kw) reads x[oh*s+kh][ow*s+kw], in row-major order.
//                         Max: best = first element, replaced when v > best (IEEE, -0.0 is not
//                         > +0.0) or v is NaN; idx = kh*k + kw of the element kept. Avg: sum from
//                         -0.0 in window order, then / float32(k*k) (fp32_div_kk).
//                     BP  R = ceil(k/s)^2: round (dh, dw) visits the candidate window
//                         (oh, ow) = (h div s - (NH-1) + dh, w div s - (NH-1) + dw), in
//                         ascending row-major order; a window that exists and covers (h, w)
//                         contributes (max: dy if its idx == (h-oh*s)*k + (w-ow*s); avg: the
//                         divided dy), the others add -0.0 (no change). The sum starts at +0.0:
//                         exactly golden's scatter order (inputs no window covers stay +0.0).
//                   Cost: R cycles per output beat, plus ACC_L cycles per plane; with the load
//                   overlapped, a plane takes about max(load beats, R * output beats) cycles
//                   (planes up to half the buffer; larger ones as far as the ring frees up).
//   Write           output beats pass FIFOs and an output register to the DMA's write stream;
//                   one write command per plane (MAXPOOL_FP: per chunk of up to 32 beats, a y
//                   command then an idx command), issued ahead of the data. Credits (reserved
//                   when a beat enters its slot) keep the FIFOs from overflowing, so the compute
//                   pipeline never stalls once a beat has started. At most 2^CW - 1 = 15
//                   commands per side are in flight (far more than axi_dma queues).
//
// Numerics: fp32_add / fp32_div_kk (bit-exact with fp32_div for these divisors; round to
// nearest even, subnormals exact; a NaN result is the canonical quiet NaN). Max pooling FP moves
// the chosen input word unchanged (NaN payloads included). A MAXPOOL_BP index >= k*k (golden:
// undefined) selects nothing.
//
// Errors: an rds_err beat or a completion with status != 0 puts the unit into the failed state:
// no further DMA command or write-stream beat; stream beats and completions still arriving are
// accepted and dropped (nothing hangs in the DMA's read side; its write side waits for the soft
// reset, as with eftrain_storer). err_valid rises with the first bad completion. Recovery: abort.
//
// Pipeline (all latencies from parameters): visit (slot state -> address, tags) | G1 register
// (buffer address) | G2 buffer data | G3 operands (a BP operand no window takes is -0.0, the G3
// register's reset) -> compare (max FP, result the same cycle) or fp32_add (ADD_LAT) | avg FP:
// fp32_div_kk (DIV_LAT) -> output FIFO.
//
// Resources (Yosys 0.23 synth_xilinx -family xcup at zcu102: TN 16, WPB 4, BUF_DEPTH 16384;
// python ci/rtl_check.py synth --top eftrain_vu_pool): 5,401 LUTs, 4,245 FFs, 19 DSP48E2, 17
// BRAM36 (15 the buffer, 2 the idx buffer), 208 LUTs of distributed RAM (FIFOs, slot state). Of
// the LUTs: four fp32_add 1,236 (and 12 of the DSPs), four fp32_div_kk 1,640, FIFOs 62, this
// module 2,463 (mostly the G3 max / sum datapath: slot read, compare, output multiplexers). It
// was 9,782 LUTs, 20 DSPs and 15 BRAM36 with four fp32_div (1,181 LUTs each), a buffer of two
// banks (a 128-bit bank multiplexer, 32-bit idx compares), a parallel minimum over the slots for
// the dead entries, 32-bit issue / completion counters and per-plane address accumulators.

`default_nettype none

module eftrain_vu_pool #(
  parameter int TN        = 4,
  parameter int WPB       = 4,
  parameter int ACC_L     = 4,
  // MUL_LAT belongs to the common vector-unit interface; pooling multiplies nothing.
  /* verilator lint_off UNUSEDPARAM */
  parameter int MUL_LAT   = 2,
  /* verilator lint_on UNUSEDPARAM */
  parameter int ADD_LAT   = 3,
  parameter int BUF_DEPTH = 4096,
  parameter int DIV_LAT   = 8,
  parameter int ADDR_W    = 40,
  parameter int LEN_W     = 32
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
  input  wire logic [ADDR_W-1:0]   wr_done_addr
);

  localparam logic [7:0]  OP_MAXPOOL_FP = 8'h08;
  localparam logic [7:0]  OP_MAXPOOL_BP = 8'h09;
  localparam logic [7:0]  OP_AVGPOOL_BP = 8'h0B;
  localparam logic [31:0] POS_ZERO      = 32'h0000_0000;
  localparam logic [31:0] NEG_ZERO      = 32'h8000_0000;

  localparam int DW    = 32 * WPB;
  localparam int G     = TN / WPB;                           // beats per pixel
  localparam int GW    = (G <= 1) ? 1 : $clog2(G);
  localparam int E     = BUF_DEPTH / WPB;                     // buffer entries (beats)
  localparam int HALF  = E / 2;                               // MAXPOOL_BP ring, idx buffer
  localparam int HA    = (HALF <= 2) ? 1 : $clog2(HALF);
  localparam int EA    = (E <= 2) ? 1 : $clog2(E);
  localparam bit P2    = (E & (E - 1)) == 0;                  // ring positions wrap by masking
  localparam int IW    = 7 * WPB;                             // MAXPOOL_BP idx entry
  localparam int ENT_W = $clog2(E + 1);                       // counts 0..E
  localparam int EW    = ENT_W + 5;                           // signed entry arithmetic
  localparam int SW    = (ACC_L <= 2) ? 1 : $clog2(ACC_L);
  localparam int DY    = (2 * ACC_L > 16) ? (1 << $clog2(2 * ACC_L)) : 16;   // y FIFO
  localparam int CH    = 32;                                  // MAXPOOL_FP beats per command pair
  localparam int DI    = 2 * CH;                              // idx FIFO
  localparam int WQ    = 4;                                   // write commands ahead of data
  localparam int CRW   = $clog2(DI + 1) + 1;                  // credit counters
  localparam int LWPB  = (WPB <= 1) ? 0 : $clog2(WPB);
  // DMA commands in flight per side: at most 2^CW - 1 (a cap far above what axi_dma queues; on
  // the write side it must exceed WQ, whose commands complete only after their data)
  localparam int CW    = 4;
  localparam int BXW   = 1 << $clog2(WPB * 6);                // idx bits per slot, padded

  // ---------------------------------------------------------------------------------------------
  // Elaboration checks.
  // ---------------------------------------------------------------------------------------------
  if (WPB < 1 || (WPB & (WPB - 1)) != 0) begin : g_err_wpb
    $error("eftrain_vu_pool: WPB (%0d) must be a power of two", WPB);
  end
  if (TN < 1 || TN % WPB != 0) begin : g_err_tn
    $error("eftrain_vu_pool: TN (%0d) must be a positive multiple of WPB (%0d)", TN, WPB);
  end
  if (BUF_DEPTH < 2 * WPB || BUF_DEPTH % (2 * WPB) != 0) begin : g_err_depth
    $error("eftrain_vu_pool: BUF_DEPTH (%0d) must be a positive multiple of 2*WPB", BUF_DEPTH);
  end
  if (ADD_LAT < 1 || ACC_L < ADD_LAT + 1) begin : g_err_acc
    $error("eftrain_vu_pool: ACC_L (%0d) must be at least ADD_LAT + 1 (%0d)", ACC_L, ADD_LAT + 1);
  end
  if (DIV_LAT < 1) begin : g_err_div
    $error("eftrain_vu_pool: DIV_LAT must be >= 1");
  end
  if (LEN_W < 24) begin : g_err_len
    $error("eftrain_vu_pool: LEN_W (%0d) must be >= 24", LEN_W);
  end
  if ((1 << CW) - 1 <= WQ) begin : g_err_cw
    $error("eftrain_vu_pool: CW must allow more write commands in flight than WQ");
  end

  // Inputs of the common interface pooling does not use.
  /* verilator lint_off UNUSEDSIGNAL */
  wire unused_ok = &{1'b0, flags, count, s0, s1, s2, rds_keep, rds_last, rd_done_addr,
                     wr_done_addr, k[3], stride[3]};
  /* verilator lint_on UNUSEDSIGNAL */

  // ---------------------------------------------------------------------------------------------
  // Helpers.
  // ---------------------------------------------------------------------------------------------
  // x / s, s in 1..4 (x < 2^16; x / 3 = (x * 43691) >> 17 exactly in that range).
  function automatic logic [15:0] div_s(input logic [15:0] x, input logic [2:0] s);
    case (s)
      3'd2:    div_s = x >> 1;
      3'd3:    div_s = 16'((33'(x) * 33'd43691) >> 17);
      3'd4:    div_s = x >> 2;
      default: div_s = x;
    endcase
  endfunction

  // ceil(k / s), k in 1..7, s in 1..4.
  function automatic logic [2:0] ceil_div(input logic [2:0] kv, input logic [2:0] sv);
    case (sv)
      3'd2:    ceil_div = 3'((4'(kv) + 4'd1) >> 1);
      3'd3:    ceil_div = (kv > 3'd6) ? 3'd3 : (kv > 3'd3) ? 3'd2 : 3'd1;
      3'd4:    ceil_div = (kv > 3'd4) ? 3'd2 : 3'd1;
      default: ceil_div = kv;
    endcase
  endfunction

  function automatic logic is_nan(input logic [30:0] a);   // the magnitude bits
    is_nan = (a[30:23] == 8'hFF) && (a[22:0] != 23'd0);
  endfunction

  // Max pooling: v replaces the best so far b when v is NaN or IEEE v > b (false when b is NaN;
  // +0.0 and -0.0 are equal). Written as sign cases over the two magnitude orders, which maps
  // to fewer LUTs than the textbook form.
  function automatic logic mx_take(input logic [31:0] v, input logic [31:0] b);
    logic gt, lt, zz;
    gt = v[30:0] > b[30:0];
    lt = v[30:0] < b[30:0];
    zz = (v[30:0] == 31'd0) && (b[30:0] == 31'd0);
    mx_take = is_nan(v[30:0]) ||
              (!is_nan(b[30:0]) && (v[31] ? (b[31] && lt) : (b[31] ? !zz : gt)));
  endfunction

  // ---------------------------------------------------------------------------------------------
  // Control state, op registers, set-up (derived sizes, three cycles).
  // ---------------------------------------------------------------------------------------------
  localparam logic [1:0] S_IDLE  = 2'd0;
  localparam logic [1:0] S_SETUP = 2'd1;
  localparam logic [1:0] S_RUN   = 2'd2;

  logic [1:0]        st, su;
  logic              run, init, clr, failed, fin;
  logic              f_max, f_bp, m_mfp, m_mbp, m_afp, m_abp;
  logic [15:0]       f_b, f_ch, f_h, f_w;
  logic [2:0]        f_k, f_s;
  logic [ADDR_W-1:0] f_src0, f_src1, f_src2, f_dst;

  // Set-up results.
  logic [15:0]       d_oh, d_ow, d_cb, cb_calc;
  logic [2:0]        d_nh, d_koff;                 // ceil(k/s), (ceil(k/s) - 1) * s
  logic [31:0]       d_pin, d_pout, d_np;          // pixels per input / output plane, planes
  logic [LEN_W-1:0]  rc_len, wc_outw;              // words per input / output plane
  logic [ADDR_W-1:0] rc_step;                      // bytes per input plane
  logic [ENT_W-1:0]  ld_len, ld_rs;                // entries per plane (MAXPOOL_BP: per part), ring
  logic [ENT_W-1:0]  rs_mask;                      // P2: ld_rs - 1
  logic [2:0]        g_rn;                         // rounds per dimension (FP k, BP ceil(k/s))
  logic signed [EW-1:0] g_rowoff, g_colstep, g_rowstep, g_col0, g_row0;
  logic signed [17:0]   g_m0;                      // BP: -(ceil(k/s) - 1)
  logic [15:0]       g_xn, g_yn;                   // walker extents (FP: OW, OH; BP: W, H)

  assign clr   = !rst_n || abort;
  assign run   = (st == S_RUN);
  assign init  = (st == S_SETUP) && (su == 2'd2);
  assign busy  = (st != S_IDLE);
  assign m_mfp = f_max && !f_bp;
  assign m_mbp = f_max && f_bp;
  assign m_afp = !f_max && !f_bp;
  assign m_abp = !f_max && f_bp;

  if ((TN & (TN - 1)) == 0) begin : g_cb_pow2
    assign cb_calc = 16'((17'(f_ch) + 17'(TN - 1)) >> $clog2(TN));
  end else begin : g_cb_div
    assign cb_calc = 16'((17'(f_ch) + 17'(TN - 1)) / 17'(TN));
  end

  // Set-up arithmetic of the last set-up cycle (signed, 32 bits, then cut to the entry width).
  // (FP: input H x W, output OH x OW; BP the other way round; the walker runs over the output.)
  logic [15:0]        c_inh, c_inw, c_outh, c_outw;
  logic signed [31:0] c_nhm1, c_owg, c_wg;
  always_comb begin
    c_inh  = f_bp ? d_oh : f_h;
    c_inw  = f_bp ? d_ow : f_w;
    c_outh = f_bp ? f_h : d_oh;
    c_outw = f_bp ? f_w : d_ow;
    c_nhm1 = $signed(32'(d_nh)) - 32'sd1;
    c_owg  = $signed(32'(d_ow) * 32'(G));
    c_wg   = $signed(32'(f_w) * 32'(G));
  end

  always_ff @(posedge clk) begin
    if (clr) begin
      st <= S_IDLE;
      su <= 2'd0;
    end else begin
      case (st)
        S_IDLE: if (start) begin
          st <= S_SETUP;
          su <= 2'd0;
        end
        S_SETUP: begin
          su <= su + 2'd1;
          if (su == 2'd2) st <= S_RUN;
        end
        default: if (fin) st <= S_IDLE;
      endcase
    end
  end

  always_ff @(posedge clk) begin
    if (st == S_IDLE && start) begin
      f_max  <= (op == OP_MAXPOOL_FP) || (op == OP_MAXPOOL_BP);
      f_bp   <= (op == OP_MAXPOOL_BP) || (op == OP_AVGPOOL_BP);
      f_b    <= batch;
      f_ch   <= ch;
      f_h    <= h;
      f_w    <= w;
      f_k    <= k[2:0];
      f_s    <= stride[2:0];
      f_src0 <= src0;
      f_src1 <= src1;
      f_src2 <= src2;
      f_dst  <= dst;
    end
    if (st == S_SETUP) begin
      case (su)
        2'd0: begin
          d_oh <= div_s(f_h - 16'(f_k), f_s) + 16'd1;
          d_ow <= div_s(f_w - 16'(f_k), f_s) + 16'd1;
          d_nh <= ceil_div(f_k, f_s);
          d_cb <= cb_calc;
        end
        2'd1: begin
          d_pin  <= 32'(c_inh) * 32'(c_inw);
          d_pout <= 32'(c_outh) * 32'(c_outw);
          g_xn   <= c_outw;
          g_yn   <= c_outh;
          d_np   <= 32'(f_b) * 32'(d_cb);
          d_koff <= 3'(6'(d_nh - 3'd1) * 6'(f_s));
        end
        default: begin
          rc_len    <= LEN_W'(d_pin * 32'(TN));
          rc_step   <= ADDR_W'(64'(d_pin) * 64'(4 * TN));
          wc_outw   <= LEN_W'(d_pout * 32'(TN));
          ld_len    <= ENT_W'(d_pin * 32'(G));
          ld_rs     <= m_mbp ? ENT_W'(HALF) : ENT_W'(E);
          rs_mask   <= m_mbp ? ENT_W'(HALF - 1) : ENT_W'(E - 1);
          g_rn      <= f_bp ? d_nh : f_k;
          g_rowoff  <= EW'(f_bp ? c_owg : c_wg);
          g_colstep <= f_bp ? EW'(G) : EW'($signed(32'(f_s) * 32'(G)));
          g_rowstep <= EW'(f_bp ? c_owg : $signed(32'(f_s)) * c_wg);
          g_col0    <= f_bp ? EW'(-(c_nhm1 * $signed(32'(G)))) : '0;
          g_row0    <= f_bp ? EW'(-(c_nhm1 * c_owg)) : '0;
          g_m0      <= 18'(-c_nhm1);
        end
      endcase
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Read commands: one per plane (MAXPOOL_BP: dy, then idx), as far ahead as the DMA takes them.
  // ---------------------------------------------------------------------------------------------
  logic [31:0]       rc_p;                      // planes commanded
  logic [CW-1:0]     rd_out;                    // commands not completed
  logic              rc_sub, rc_fire, rd_ok;
  logic [ADDR_W-1:0] rc_off;                    // byte offset of plane rc_p

  assign rd_cmd_valid = run && !failed && (rc_p != d_np) && (rd_out != '1);
  assign rd_cmd_addr  = rc_off + (rc_sub ? f_src1 : f_src0);
  assign rd_cmd_len   = rc_len;
  assign rc_fire      = rd_cmd_valid && rd_cmd_ready;

  always_ff @(posedge clk) begin
    if (clr || init) begin
      rc_p   <= 32'd0;
      rc_sub <= 1'b0;
      rc_off <= '0;
    end else if (rc_fire) begin
      if (m_mbp && !rc_sub) begin
        rc_sub <= 1'b1;
      end else begin
        rc_sub <= 1'b0;
        rc_p   <= rc_p + 32'd1;
        rc_off <= rc_off + rc_step;
      end
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Load: stream beats -> (AVGPOOL_BP: / float32(k*k)) -> plane buffer, one beat per cycle.
  //
  // The buffer is a ring of ld_rs entries (MAXPOOL_BP: HALF, dy in the buffer and idx in the idx
  // buffer at the same positions; otherwise E).
  // Plane p occupies ld_len consecutive positions (mod ld_rs) after plane p-1. The load of plane
  // gen_p + 1 overlaps the computation of plane gen_p (the one being computed, ld_ahead = ld_p -
  // gen_p planes behind the load): its entry c may be written once c <
  // ld_rs - ld_len + g_dead, g_dead = the entries at the start of plane gen_p that no read of it
  // needs any more. A plane is computed once it is completely loaded.
  // ---------------------------------------------------------------------------------------------
  logic [31:0]       ld_p;
  logic [1:0]        ld_ahead;                  // 0 .. 2
  logic              ld_done, gen_done;
  logic [ENT_W-1:0]  ld_c, ld_cnt, ld_pos, ld_base, ld_pos_nx, g_dead;
  logic [ENT_W:0]    ld_room;
  logic              ld_cph, ld_ph, ld_full, ld_open, ld_take, ld_we, g_endp;
  logic [DW-1:0]     ld_wd;
  logic [IW-1:0]     li_wd;
  logic              div_ov;
  logic [DW-1:0]     div_y;

  always_comb begin
    ld_room   = {1'b0, ld_rs} - {1'b0, ld_len} + {1'b0, g_dead};
    ld_open   = run && !failed && (ld_p != d_np) && !ld_full &&
                ((ld_ahead == 2'd0) || ((ld_ahead == 2'd1) && ({1'b0, ld_c} < ld_room)));
    ld_take   = rds_valid && ld_open && !rds_err;
    ld_pos_nx = P2 ? (ld_pos + 1'b1) & rs_mask : (ld_pos + 1'b1 == ld_rs) ? '0 : ld_pos + 1'b1;
    ld_done   = ld_we && (ld_cnt + 1'b1 == ld_len) && !(m_mbp && !ld_ph);   // plane ld_p loaded
    // MAXPOOL_BP idx words as {word >= 64, word[5:0]}: equal to {0, tag} exactly when the word
    // equals the tag
    for (int l = 0; l < WPB; l++) li_wd[7*l +: 7] = {|ld_wd[32*l+6 +: 26], ld_wd[32*l +: 6]};
  end
  assign rds_ready = (run && failed) || ld_open;

  always_ff @(posedge clk) begin
    if (clr || init) begin
      ld_p    <= 32'd0;
      ld_c    <= '0;
      ld_cph  <= 1'b0;
      ld_full <= 1'b0;
      ld_cnt  <= '0;
      ld_ph   <= 1'b0;
      ld_pos  <= '0;
      ld_base <= '0;
      ld_we   <= 1'b0;
    end else begin
      // Accept side: entry ld_c of part ld_cph (MAXPOOL_BP: 0 dy, 1 idx).
      if (ld_take) begin
        if (ld_c + 1'b1 == ld_len) begin
          ld_c <= '0;
          if (m_mbp && !ld_cph) begin
            ld_cph <= 1'b1;
          end else begin
            ld_cph  <= 1'b0;
            ld_full <= 1'b1;                // every beat of the plane accepted
          end
        end else begin
          ld_c <= ld_c + 1'b1;
        end
      end
      // Write side: ring position ld_pos of part ld_ph.
      ld_we <= m_abp ? div_ov : ld_take;
      if (ld_we) begin
        if (ld_cnt + 1'b1 == ld_len) begin
          ld_cnt <= '0;
          if (m_mbp && !ld_ph) begin
            ld_ph  <= 1'b1;
            ld_pos <= ld_base;
          end else begin                    // the plane is loaded (ld_done)
            ld_ph   <= 1'b0;
            ld_pos  <= ld_pos_nx;
            ld_base <= ld_pos_nx;
            ld_full <= 1'b0;
            ld_p    <= ld_p + 32'd1;
          end
        end else begin
          ld_cnt <= ld_cnt + 1'b1;
          ld_pos <= ld_pos_nx;
        end
      end
    end
    ld_wd <= m_abp ? div_y : rds_data;
  end

  always_ff @(posedge clk) begin
    if (clr || init) ld_ahead <= 2'd0;
    else             ld_ahead <= ld_ahead + 2'(ld_done) - 2'(gen_done);
  end

  // ---------------------------------------------------------------------------------------------
  // Compute: slot state, walker (the plane's output beats in order) and the visit schedule.
  // ---------------------------------------------------------------------------------------------
  logic                 gen_run, g_any;
  logic [ENT_W-1:0]     gen_base;           // ring position of plane gen_p
  logic [SW-1:0]        g_j;
  logic [2:0]           g_ra, g_rb;
  logic [5:0]           g_r;
  logic signed [EW-1:0] g_offrow, g_off;
  logic [4:0]           g_dhs, g_dws;

  logic [ACC_L-1:0]     s_act;
  logic signed [EW-1:0] s_base [ACC_L];
  logic signed [EW-1:0] s_lo   [ACC_L];     // the slot's lowest entry of the plane still needed
  logic signed [17:0]   s_ohm  [ACC_L];
  logic signed [17:0]   s_owm  [ACC_L];
  logic [3:0]           s_kh0  [ACC_L];
  logic [3:0]           s_kw0  [ACC_L];

  logic                 wk_has, wk_xwrap, wk_ywrap;
  logic [GW-1:0]        wk_g;
  logic [15:0]          wk_x, wk_y;
  logic [2:0]           wk_xr, wk_yr;
  logic signed [EW-1:0] wk_row, wk_col, wk_base, wk_lo;
  logic signed [17:0]   wk_ohm, wk_owm;

  logic [CRW-1:0]       y_res, i_res;
  logic                 y_pop, i_pop;

  logic                 g_load, g_need, g_cred, g_go, g_take, g_iss, g_first, g_cval;
  logic signed [EW-1:0] g_e, g_gb, g_live;
  logic [SW-1:0]        g_old;
  logic [ENT_W-1:0]     g_dead_nx, gen_base_nx;
  logic signed [17:0]   g_oh, g_ow;
  logic [4:0]           g_kh, g_kw;
  logic [5:0]           g_tagw;

  always_comb begin
    wk_base  = wk_row + wk_col + $signed(EW'(wk_g));
    wk_xwrap = !f_bp || (wk_xr == f_s - 3'd1);
    wk_ywrap = !f_bp || (wk_yr == f_s - 3'd1);

    g_load  = (g_ra == g_rn - 3'd1) && (g_rb == g_rn - 3'd1);
    g_need  = g_load && wk_has;
    g_cred  = (y_res < CRW'(DY)) && (!m_mfp || (i_res < CRW'(DI)));
    g_go    = gen_run && !(g_need && !g_cred);
    g_take  = g_go && g_need;
    g_iss   = g_go && s_act[g_j];
    g_first = (g_ra == 3'd0) && (g_rb == 3'd0);
    g_endp  = g_go && g_load && (g_j == SW'(ACC_L - 1)) && !g_any && !g_need;
    gen_done = g_endp;                   // every read of plane gen_p issued

    // Slot bases are ring positions (plane base added, not wrapped); g_e = the entry this visit
    // reads, < 2 * ld_rs when the read is valid (wrapped after G1).
    g_gb = $signed(EW'(gen_base));
    g_e  = g_off + s_base[g_j];
    g_oh = s_ohm[g_j] + $signed(18'(g_ra));
    g_ow = s_owm[g_j] + $signed(18'(g_rb));
    g_kh = 5'(s_kh0[g_j]) - g_dhs;
    g_kw = 5'(s_kw0[g_j]) - g_dws;
    if (f_bp) begin
      g_cval = (g_oh >= 18'sd0) && (g_oh < $signed({2'b00, d_oh})) &&
               (g_ow >= 18'sd0) && (g_ow < $signed({2'b00, d_ow})) &&
               (g_kh < 5'(f_k)) && (g_kw < 5'(f_k));
      g_tagw = 6'(8'(g_kh) * 8'(f_k) + 8'(g_kw));
    end else begin
      g_cval = 1'b1;
      g_tagw = g_r;
    end
    // Dead entries of the plane: before the lowest entry (relative to the plane) that a beat
    // in a slot or still to come reads. A beat reads at or after wk_lo, taken when it enters
    // its slot: FP its base (its window's first entry), BP the start of its row (its rounds
    // revisit earlier windows of the row). wk_lo does not decrease along the walker, and the
    // slots take the walker's beats in slot order, pass after pass, so the oldest active beat
    // has the lowest wk_lo of all: during the loading pass, slot g_j if it is active (slots
    // < g_j already took newer beats, slots > g_j hold newer ones of the same pass), else slot
    // 0 (slots >= g_j are idle: the ones < g_j, loaded in order, hold the beats); otherwise
    // slot 0. When that slot is idle, so are all the others. (This is the exact minimum over
    // the slots' reads for FP; for BP it is lower while the oldest beat is in an earlier row
    // than the walker: the load waits a few cycles longer, never too little.) 0 <= wk_lo <=
    // ld_len, except for the (negative) row starts of BP's first rows, clamped to 0.
    // Non-decreasing while the plane runs, so the registered (older) value is safe.
    wk_lo     = f_bp ? wk_row + g_col0 : wk_base;
    g_old     = (g_load && s_act[g_j]) ? g_j : '0;
    g_live    = s_act[g_old] ? s_lo[g_old] : wk_has ? wk_lo : $signed(EW'(ld_len));
    g_dead_nx = (!gen_run || g_live < 0) ? '0 : ENT_W'(g_live);
    gen_base_nx = P2 ? (gen_base + ld_len) & rs_mask :
                  ({1'b0, gen_base} + {1'b0, ld_len} >= {1'b0, ld_rs}) ? gen_base + ld_len - ld_rs
                                                                       : gen_base + ld_len;
  end

  always_ff @(posedge clk) begin
    if (clr || init || g_endp) g_dead <= '0;
    else                       g_dead <= g_dead_nx;
  end

  always_ff @(posedge clk) begin
    if (clr || init) begin
      gen_run  <= 1'b0;
      gen_base <= '0;
      g_any    <= 1'b0;
      s_act    <= '0;
      wk_has   <= 1'b0;
    end else if (!gen_run) begin
      if (run && ld_ahead != 2'd0) begin    // plane gen_p is loaded: start with a loading pass
        gen_run <= 1'b1;
        g_j     <= '0;
        g_ra    <= g_rn - 3'd1;
        g_rb    <= g_rn - 3'd1;
        g_any   <= 1'b0;
        wk_has  <= 1'b1;
        wk_g    <= '0;
        wk_x    <= 16'd0;
        wk_y    <= 16'd0;
        wk_xr   <= 3'd0;
        wk_yr   <= 3'd0;
        wk_row  <= g_row0;
        wk_col  <= g_col0;
        wk_ohm  <= g_m0;
        wk_owm  <= g_m0;
      end
    end else if (g_go) begin
      // Loading pass (= the last round): the slot takes the walker's next beat, or goes idle.
      if (g_load) begin
        s_act[g_j] <= g_need;
        if (g_need) begin
          s_base[g_j] <= wk_base + g_gb;
          s_lo[g_j]   <= wk_lo;
          s_ohm[g_j]  <= wk_ohm;
          s_owm[g_j]  <= wk_owm;
          s_kh0[g_j]  <= 4'(wk_yr) + 4'(d_koff);
          s_kw0[g_j]  <= 4'(wk_xr) + 4'(d_koff);
          g_any       <= 1'b1;
          // Walker: g, then x (columns), then y (rows).
          if (wk_g != GW'(G - 1)) begin
            wk_g <= wk_g + 1'b1;
          end else begin
            wk_g <= '0;
            if (wk_x != g_xn - 16'd1) begin
              wk_x  <= wk_x + 16'd1;
              wk_xr <= wk_xwrap ? 3'd0 : wk_xr + 3'd1;
              if (wk_xwrap) begin
                wk_col <= wk_col + g_colstep;
                wk_owm <= wk_owm + 18'sd1;
              end
            end else begin
              wk_x   <= 16'd0;
              wk_xr  <= 3'd0;
              wk_col <= g_col0;
              wk_owm <= g_m0;
              if (wk_y != g_yn - 16'd1) begin
                wk_y  <= wk_y + 16'd1;
                wk_yr <= wk_ywrap ? 3'd0 : wk_yr + 3'd1;
                if (wk_ywrap) begin
                  wk_row <= wk_row + g_rowstep;
                  wk_ohm <= wk_ohm + 18'sd1;
                end
              end else begin
                wk_has <= 1'b0;
              end
            end
          end
        end
      end
      // Slot and round sequence.
      if (g_j == SW'(ACC_L - 1)) begin
        g_j <= '0;
        if (g_load) begin
          g_any <= 1'b0;
          if (g_any || g_need) begin
            g_ra     <= 3'd0;
            g_rb     <= 3'd0;
            g_r      <= 6'd0;
            g_offrow <= '0;
            g_off    <= '0;
            g_dhs    <= 5'd0;
            g_dws    <= 5'd0;
          end else begin                    // plane done: every read of it issued
            gen_run  <= 1'b0;
            gen_base <= gen_base_nx;
          end
        end else begin
          g_r <= g_r + 6'd1;
          if (g_rb == g_rn - 3'd1) begin
            g_rb     <= 3'd0;
            g_ra     <= g_ra + 3'd1;
            g_offrow <= g_offrow + g_rowoff;
            g_off    <= g_offrow + g_rowoff;
            g_dws    <= 5'd0;
            g_dhs    <= g_dhs + 5'(f_s);
          end else begin
            g_rb  <= g_rb + 3'd1;
            g_off <= g_off + $signed(EW'(G));
            g_dws <= g_dws + 5'(f_s);
          end
        end
      end else begin
        g_j <= g_j + 1'b1;
      end
    end
  end

  // Credits: an output beat reserves its FIFO entries when it enters a slot.
  always_ff @(posedge clk) begin
    if (clr || init) begin
      y_res <= '0;
      i_res <= '0;
    end else begin
      y_res <= y_res + CRW'(g_take) - CRW'(y_pop);
      i_res <= i_res + CRW'(g_take && m_mfp) - CRW'(i_pop);
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Buffer: E entries of one beat (MAXPOOL_BP: dy), and the MAXPOOL_BP idx entries (HALF).
  // ---------------------------------------------------------------------------------------------
  logic                 g1_v, g1_first, g1_last, g1_cval;
  logic [SW-1:0]        g1_slot;
  logic [5:0]           g1_tag;
  logic signed [EW-1:0] g1_e;
  logic [EA-1:0]        g1_q, g1_a;
  logic [DW-1:0]        rd;
  logic [IW-1:0]        ri;

  always_ff @(posedge clk) begin
    if (clr) g1_v <= 1'b0;
    else     g1_v <= g_iss;
    g1_slot  <= g_j;
    g1_first <= g_first;
    g1_last  <= g_load;
    g1_cval  <= g_cval;
    g1_tag   <= g_tagw;
    g1_e     <= g_e;
  end

  // Ring position -> address (MAXPOOL_BP reads dy and idx at q). Invalid reads go to address 0.
  always_comb begin
    g1_q = P2 ? EA'(g1_e) & EA'(rs_mask) :
                EA'((g1_e >= $signed(EW'(ld_rs))) ? g1_e - $signed(EW'(ld_rs)) : g1_e);
    g1_a = g1_cval ? g1_q : '0;
  end

  eftrain_vu_ram #(.WIDTH(DW), .DEPTH(E), .AW(EA)) u_buf (
    .clk   (clk),
    .we    (ld_we && !(m_mbp && ld_ph)),
    .waddr (EA'(ld_pos)),
    .wdata (ld_wd),
    .re    (g1_v),
    .raddr (g1_a),
    .rdata (rd)
  );

  eftrain_vu_ram #(.WIDTH(IW), .DEPTH(HALF), .AW(HA)) u_idx (
    .clk   (clk),
    .we    (ld_we && m_mbp && ld_ph),
    .waddr (HA'(ld_pos)),
    .wdata (li_wd),
    .re    (g1_v),
    .raddr (HA'(g1_a)),
    .rdata (ri)
  );

  // ---------------------------------------------------------------------------------------------
  // G2 (buffer data) -> G3 operands.
  // ---------------------------------------------------------------------------------------------
  logic          g2_v, g2_first, g2_last, g2_cval;
  logic [SW-1:0] g2_slot;
  logic [5:0]    g2_tag;

  always_ff @(posedge clk) begin
    if (clr) g2_v <= 1'b0;
    else     g2_v <= g1_v;
    g2_slot  <= g1_slot;
    g2_first <= g1_first;
    g2_last  <= g1_last;
    g2_cval  <= g1_cval;
    g2_tag   <= g1_tag;
  end

  // FP: the word; BP: the word if the window is valid (MAXPOOL_BP: and its idx selects this
  // input), else -0.0 (adds nothing): the G3 register's synchronous reset / set.
  logic [WPB-1:0] g2_kill;

  always_comb begin
    for (int l = 0; l < WPB; l++) begin
      g2_kill[l] = f_bp && !(g2_cval && (!m_mbp || ri[7*l +: 7] == {1'b0, g2_tag}));
    end
  end

  logic          g3_v, g3_first, g3_last;
  logic [SW-1:0] g3_slot;
  logic [5:0]    g3_tag;
  logic [DW-1:0] g3_x;

  always_ff @(posedge clk) begin
    if (clr) g3_v <= 1'b0;
    else     g3_v <= g2_v;
    g3_slot  <= g2_slot;
    g3_first <= g2_first;
    g3_last  <= g2_last;
    g3_tag   <= g2_tag;
    for (int l = 0; l < WPB; l++) begin
      if (g2_kill[l]) g3_x[32*l +: 32] <= NEG_ZERO;
      else            g3_x[32*l +: 32] <= rd[32*l +: 32];
    end
  end

  // ---------------------------------------------------------------------------------------------
  // G3: accumulators (ACC_L slots x WPB lanes), max compare, adders, dividers.
  // ---------------------------------------------------------------------------------------------
  logic [ACC_L*DW-1:0]    acc;
  logic [ACC_L*BXW-1:0]   bidx;             // slot stride a power of two: a plain multiplexer
  logic [DW-1:0]          acc_rd, add_y, mx_y, y_pdata;
  logic [31:0]            acc0;
  logic [WPB*6-1:0]       bidx_rd, mx_i;
  logic [WPB-1:0]         take, add_ovs, div_ovs;
  logic                   add_ov, add_in_v, div_in_v, y_push, i_push, y_in_ready, i_in_ready;
  logic [DW-1:0]          div_a;
  logic [SW-1:0]          at_slot [ADD_LAT];
  logic                   at_last [ADD_LAT];
  logic [SW-1:0]          at_s;
  logic                   at_l;

  assign acc0 = f_bp ? POS_ZERO : NEG_ZERO;
  assign at_s = at_slot[ADD_LAT-1];
  assign at_l = at_last[ADD_LAT-1];

  always_comb begin
    acc_rd  = acc[DW*g3_slot +: DW];
    bidx_rd = bidx[BXW*g3_slot +: WPB*6];
    for (int l = 0; l < WPB; l++) begin
      take[l] = g3_first || mx_take(g3_x[32*l +: 32], acc_rd[32*l +: 32]);
      mx_y[32*l +: 32] = take[l] ? g3_x[32*l +: 32] : acc_rd[32*l +: 32];
      mx_i[6*l +: 6]   = take[l] ? g3_tag : bidx_rd[6*l +: 6];
    end
    add_in_v = g3_v && !m_mfp;
  end

  // Sums: a slot starts from its initial value (AVGPOOL_FP -0.0, BP +0.0), set by the op's set-up
  // and written back in place of each beat's final sum, so the adder reads the slot as it is.
  always_ff @(posedge clk) begin
    for (int si = 0; si < ACC_L; si++) begin
      if (init) begin
        acc[DW*si +: DW] <= {WPB{acc0}};
      end else if (m_mfp) begin
        if (g3_v && g3_slot == SW'(si)) begin
          for (int l = 0; l < WPB; l++) begin
            if (take[l]) begin
              acc[DW*si + 32*l +: 32]       <= g3_x[32*l +: 32];
              bidx[BXW*si + 6*l +: 6]       <= g3_tag;
            end
          end
        end
      end else if (add_ov && at_s == SW'(si)) begin
        acc[DW*si +: DW] <= at_l ? {WPB{acc0}} : add_y;
      end
    end
  end

  always_ff @(posedge clk) begin
    at_slot[0] <= g3_slot;
    at_last[0] <= g3_last;
    for (int i = 1; i < ADD_LAT; i++) begin
      at_slot[i] <= at_slot[i-1];
      at_last[i] <= at_last[i-1];
    end
  end

  // The floating-point units' valid pipelines are reset by abort too.
  wire u_rst_n = rst_n && !abort;

  assign div_in_v = m_abp ? ld_take : (m_afp && add_ov && at_l);
  assign div_a    = m_abp ? rds_data : add_y;

  for (genvar l = 0; l < WPB; l++) begin : g_lane
    fp32_add #(.LATENCY(ADD_LAT)) u_add (
      .clk       (clk),
      .rst_n     (u_rst_n),
      .in_valid  (add_in_v),
      .a         (acc_rd[32*l +: 32]),
      .b         (g3_x[32*l +: 32]),
      .out_valid (add_ovs[l]),
      .y         (add_y[32*l +: 32])
    );
    fp32_div_kk #(.LATENCY(DIV_LAT)) u_div (
      .clk       (clk),
      .rst_n     (u_rst_n),
      .in_valid  (div_in_v),
      .a         (div_a[32*l +: 32]),
      .k         (f_k),
      .out_valid (div_ovs[l]),
      .y         (div_y[32*l +: 32])
    );
  end

  // All lanes run in lock step.
  assign add_ov = add_ovs[0];
  assign div_ov = div_ovs[0];
  /* verilator lint_off UNUSEDSIGNAL */
  wire unused_lanes = &{1'b0, add_ovs, div_ovs};
  /* verilator lint_on UNUSEDSIGNAL */

  // ---------------------------------------------------------------------------------------------
  // Output FIFOs (y / dx beats; MAXPOOL_FP idx beats, 6 bits per lane).
  // ---------------------------------------------------------------------------------------------
  logic          y_valid, i_valid;
  logic [DW-1:0] y_data;
  logic [WPB*6-1:0] i_data;

  (* keep *) logic [DW-1:0] y_sum;     // the sums' result (kept: maps to fewer LUTs)

  always_comb begin
    y_sum = m_afp ? div_y : add_y;
    if (m_mfp) begin
      y_push  = g3_v && g3_last;
      y_pdata = mx_y;
    end else begin
      y_push  = m_afp ? div_ov : add_ov && at_l;
      y_pdata = y_sum;
    end
    i_push = m_mfp && g3_v && g3_last;
  end

  eftrain_fifo #(.WIDTH(DW), .DEPTH(DY)) u_yq (
    .clk       (clk),
    .rst_n     (rst_n),
    .clear     (abort),
    .in_valid  (y_push),
    .in_ready  (y_in_ready),
    .in_data   (y_pdata),
    .out_valid (y_valid),
    .out_ready (y_pop),
    .out_data  (y_data)
  );

  eftrain_fifo #(.WIDTH(WPB*6), .DEPTH(DI)) u_iq (
    .clk       (clk),
    .rst_n     (rst_n),
    .clear     (abort),
    .in_valid  (i_push),
    .in_ready  (i_in_ready),
    .in_data   (mx_i),
    .out_valid (i_valid),
    .out_ready (i_pop),
    .out_data  (i_data)
  );

  // The credits keep both FIFOs from overflowing; in_ready is always high when they push.
  /* verilator lint_off UNUSEDSIGNAL */
  wire unused_ready = &{1'b0, y_in_ready, i_in_ready};
  /* verilator lint_on UNUSEDSIGNAL */

  // ---------------------------------------------------------------------------------------------
  // Write commands (issued ahead of the data, their beat counts queued for the stream side).
  // ---------------------------------------------------------------------------------------------
  logic [31:0]       wc_p;                      // planes commanded
  logic [CW-1:0]     wr_out;                    // commands not completed
  logic [LEN_W-1:0]  wc_off, wc_rem, wc_len;    // words: commanded of the plane, left, this one
  logic              wc_kind, wc_last, wc_fire, wq_in_ready, wq_valid, wq_kind, wq_pop, wr_ok;
  logic [ADDR_W-1:0] wc_boff;                   // byte offset of the command in the output(s)
  logic [LEN_W-1:0]  wq_beats, ws_cnt;

  // Planes follow each other in the output tensors: the byte offset just accumulates the
  // commands' lengths (MAXPOOL_FP: y and idx have the same layout; the pair shares the offset).
  always_comb begin
    wc_rem       = wc_outw - wc_off;
    wc_last      = !(m_mfp && wc_rem > LEN_W'(CH * WPB));        // the plane's last command
    wc_len       = wc_last ? wc_rem : LEN_W'(CH * WPB);
    wr_cmd_valid = run && !failed && (wc_p != d_np) && wq_in_ready && (wr_out != '1);
    wr_cmd_addr  = wc_boff + (wc_kind ? f_src2 : f_dst);
    wr_cmd_len   = wc_len;
    wc_fire      = wr_cmd_valid && wr_cmd_ready;
  end

  always_ff @(posedge clk) begin
    if (clr || init) begin
      wc_p    <= 32'd0;
      wc_off  <= '0;
      wc_kind <= 1'b0;
      wc_boff <= '0;
    end else if (wc_fire) begin
      if (m_mfp && !wc_kind) begin
        wc_kind <= 1'b1;
      end else begin
        wc_kind <= 1'b0;
        wc_boff <= wc_boff + ADDR_W'({wc_len, 2'b00});
        if (wc_last) begin
          wc_off <= '0;
          wc_p   <= wc_p + 32'd1;
        end else begin
          wc_off <= wc_off + LEN_W'(CH * WPB);
        end
      end
    end
  end

  eftrain_fifo #(.WIDTH(1 + LEN_W), .DEPTH(WQ)) u_wq (
    .clk       (clk),
    .rst_n     (rst_n),
    .clear     (abort),
    .in_valid  (wc_fire),
    .in_ready  (wq_in_ready),
    .in_data   ({wc_kind, wc_len >> LWPB}),
    .out_valid (wq_valid),
    .out_ready (wq_pop),
    .out_data  ({wq_kind, wq_beats})
  );

  // ---------------------------------------------------------------------------------------------
  // Write stream: the head command's beats from the y or the idx FIFO, through an output
  // register (one beat per cycle; an idx beat's zero upper bits are the register's synchronous
  // reset, not a multiplexer).
  // ---------------------------------------------------------------------------------------------
  logic ws_src, ws_ld, ws_v;

  assign ws_src    = run && !failed && wq_valid && (wq_kind ? i_valid : y_valid);
  assign ws_ld     = ws_src && (!ws_v || wrs_ready);
  assign y_pop     = ws_ld && !wq_kind;
  assign i_pop     = ws_ld && wq_kind;
  assign wq_pop    = ws_ld && (ws_cnt + 1'b1 == wq_beats);
  assign wrs_valid = ws_v && !failed;

  always_ff @(posedge clk) begin
    if (clr)            ws_v <= 1'b0;
    else if (ws_ld)     ws_v <= 1'b1;
    else if (wrs_ready) ws_v <= 1'b0;
  end

  always_ff @(posedge clk) begin
    if (ws_ld) begin
      for (int l = 0; l < WPB; l++) begin
        wrs_data[32*l +: 32] <= wq_kind ? {26'd0, i_data[6*l +: 6]} : y_data[32*l +: 32];
      end
    end
  end

  always_ff @(posedge clk) begin
    if (clr || init) ws_cnt <= '0;
    else if (wq_pop) ws_cnt <= '0;
    else if (ws_ld)  ws_cnt <= ws_cnt + 1'b1;
  end

  // ---------------------------------------------------------------------------------------------
  // Completions, errors, done.
  // ---------------------------------------------------------------------------------------------
  logic rd_bad, wr_bad;

  assign rd_done_ready = run;
  assign wr_done_ready = run;
  assign rd_bad = run && rd_done_valid && (rd_done_status != 4'd0);
  assign wr_bad = run && wr_done_valid && (wr_done_status != 4'd0);
  assign rd_ok  = run && rd_done_valid && !rd_bad;
  assign wr_ok  = run && wr_done_valid && !wr_bad;
  assign fin    = run && !failed && (rc_p == d_np) && (wc_p == d_np) && (rd_out == '0) &&
                  (wr_out == '0);

  always_ff @(posedge clk) begin
    if (clr) begin
      failed     <= 1'b0;
      err_valid  <= 1'b0;
      err_status <= 4'd0;
      done       <= 1'b0;
    end else begin
      done <= fin;
      if (run && ((rds_valid && rds_ready && rds_err) || rd_bad || wr_bad)) failed <= 1'b1;
      if ((rd_bad || wr_bad) && !err_valid) begin
        err_valid  <= 1'b1;
        err_status <= rd_bad ? rd_done_status : wr_done_status;
      end
    end
  end

  // Commands issued and not completed (OK).
  always_ff @(posedge clk) begin
    if (clr || init) begin
      rd_out <= '0;
      wr_out <= '0;
    end else begin
      rd_out <= rd_out + CW'(rc_fire) - CW'(rd_ok);
      wr_out <= wr_out + CW'(wc_fire) - CW'(wr_ok);
    end
  end

endmodule

`default_nettype wire
