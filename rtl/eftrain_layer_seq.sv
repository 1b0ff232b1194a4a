// EF-Train, open: the layer sequencer. Expands one validated descriptor (a layer phase) into the
// tile loop of eftrain.perf (the schedule the analytical model costs) as three in-order op
// streams: loads (eftrain_loader), engine commands (eftrain_compute), stores (eftrain_storer).
//
// Geometry and tiling rules: eftrain/tiling.py (one definition; the validator has already
// checked them, so every op this module emits is legal for the engine and inside the window).
//
// Loop nest (mt outermost, j innermost; one *step* per iteration):
//   for mt (lane tiles of TM output lanes):
//     for chunk (tiles t0 .. t0+J-1 of the reduction, J = min(chunk, NT - t0)):
//       for b (images; 1 when the layer is folded):
//         for row tile (output rows r0 .. r1-1, r1 = min(r0 + tr, rows)):
//           for j in 0 .. J-1 (nt = t0 + j):   step
// Per step (FP and BP; BP swaps the roles as eftrain/tiling.py says):
//   loads    [first step of mt, FP with bias: bias fill + bias]
//            [b = 0 and first row tile: the weight tile (mt, nt) into slot j of the chunk's region]
//            [chunk > 0 and j = 0: the partial output tile back from dst]
//            [input tile has zero positions: zero fill of the tile range] input tile (nt)
//   command  FP/BP tile command; acc_init = BIAS/-0.0 on the first reduction tile, else CONTINUE
//   store    [j = J-1: the output tile]
// Per step (WU): loads [j = 0: the dy tile into the output buffer] [fill] x tile (nt); commands
//   [first step of the chunk: WU_CLEAR of every slot] WU [last step of the chunk: WU_COMBINE of
//   every slot]; stores [last step of the chunk: the chunk's dW tiles].
//
// Buffers: the input bank alternates per step, the output bank per output (or dy) tile. The
// weight buffer holds the chunk's tiles (FP/BP: slot j at w_base = (region*chunk + j)*K*K, two
// regions alternating between chunks when 2*chunk*K*K <= W_DEPTH, else one), WU's partial sums
// (slot j at w_base = j*K*K; dW compacted at j*K*K*L).
//
// Dependencies (all as "unit X has completed at least n ops of this layer"):
//   loads of step i      wait for the commands of step i-2 (the input/output bank they reuse);
//                        weight loads also for the commands of the chunk that last used their
//                        region; the bias load also for the last command that started from
//                        the bias registers (one set of registers: exposed only when a lane tile
//                        has a single reduction tile);
//                        an output-tile reload for the store of output tile o-2 (same bank)
//                        and for the store of its own partial sums in the previous chunk
//                        (o-1 when a chunk pass has a single output tile).
//   commands of step i   wait for the loads of step i; the first step of output tile o for the
//                        store of tile o-2 (same bank); WU_CLEAR for every earlier store.
//   stores               wait for the commands that produced them.
//
// Folded layers (H = W = K = S = 1, P = 0): one image of 1 x B pixels; the feature-map transfers
// are B segments of TN words (one per pixel) at a stride of one image of the reshaped layout.
//
// Requirements (checked by eftrain_top): TM == TN; ACC_L a power of two (wu_t0 = pixel mod L).
// The sequencer takes 5 set-up cycles per step plus one cycle per op (and waits while an op
// stream is not ready); it runs ahead of execution by the depth of the op FIFOs.

`default_nettype none

module eftrain_layer_seq #(
  parameter int TM      = 4,
  parameter int TN      = 4,
  parameter int ACC_L   = 4,
  parameter int W_DEPTH = 1024
) (
  input  wire logic                      clk,
  input  wire logic                      rst_n,
  input  wire logic                      flush,        // synchronous: back to idle at once

  input  wire logic                      start,        // one-cycle pulse with desc (validated)
  input  wire eftrain_top_pkg::desc_t    desc,
  output      logic                      busy,         // emitting ops
  output      logic                      emit_done,    // one-cycle pulse: every op emitted
  output      logic [31:0]               n_ld,         // ops emitted (final at emit_done)
  output      logic [31:0]               n_cu,
  output      logic [31:0]               n_st,

  output      logic                      ld_valid,
  input  wire logic                      ld_ready,
  output      eftrain_top_pkg::ld_op_t   ld_op,
  output      logic                      cu_valid,
  input  wire logic                      cu_ready,
  output      eftrain_top_pkg::cu_op_t   cu_op,
  output      logic                      st_valid,
  input  wire logic                      st_ready,
  output      eftrain_top_pkg::st_op_t   st_op
);
  // Package constants (Yosys 0.23 takes no imports inside modules).
  localparam logic [2:0] MODE_FP          = eftrain_engine_pkg::MODE_FP;
  localparam logic [2:0] MODE_BP          = eftrain_engine_pkg::MODE_BP;
  localparam logic [2:0] MODE_WU          = eftrain_engine_pkg::MODE_WU;
  localparam logic [2:0] MODE_WU_CLEAR    = eftrain_engine_pkg::MODE_WU_CLEAR;
  localparam logic [2:0] MODE_WU_COMBINE  = eftrain_engine_pkg::MODE_WU_COMBINE;
  localparam logic [1:0] ACC_CONTINUE     = eftrain_engine_pkg::ACC_CONTINUE;
  localparam logic [1:0] ACC_NEG_ZERO     = eftrain_engine_pkg::ACC_NEG_ZERO;
  localparam logic [1:0] ACC_BIAS         = eftrain_engine_pkg::ACC_BIAS;
  localparam logic [1:0] BUF_IN           = eftrain_engine_pkg::BUF_IN;
  localparam logic [1:0] BUF_OUT          = eftrain_engine_pkg::BUF_OUT;
  localparam logic [1:0] BUF_W            = eftrain_engine_pkg::BUF_W;
  localparam logic [1:0] BUF_BIAS         = eftrain_engine_pkg::BUF_BIAS;
  localparam int ADDR_W           = eftrain_top_pkg::ADDR_W;
  localparam logic [7:0] OP_CONV_FP = eftrain_top_pkg::OP_CONV_FP;
  localparam logic [7:0] OP_CONV_BP = eftrain_top_pkg::OP_CONV_BP;
  localparam logic [7:0] OP_CONV_WU = eftrain_top_pkg::OP_CONV_WU;
  localparam logic [7:0] OP_FC_FP   = eftrain_top_pkg::OP_FC_FP;
  localparam logic [7:0] OP_FC_BP   = eftrain_top_pkg::OP_FC_BP;
  localparam logic [7:0] OP_FC_WU   = eftrain_top_pkg::OP_FC_WU;
  localparam logic [7:0] FLAG_BIAS  = eftrain_top_pkg::FLAG_BIAS;
  localparam logic [7:0] FLAG_RELU  = eftrain_top_pkg::FLAG_RELU;
  localparam logic [1:0] LD_FILL    = eftrain_top_pkg::LD_FILL;
  localparam logic [1:0] LD_FMAP    = eftrain_top_pkg::LD_FMAP;
  localparam logic [1:0] LD_W       = eftrain_top_pkg::LD_W;
  localparam logic [0:0] ST_FMAP    = eftrain_top_pkg::ST_FMAP;
  localparam logic [0:0] ST_W       = eftrain_top_pkg::ST_W;

  localparam int T  = TN;
  localparam int AW = ADDR_W;
  localparam logic [AW-1:0] TILE_WORDS = AW'(TM * TN);

  // Exact floor(x / s) for s in 1..4 and x < 2^17 (x * (2^17 + 1) / 3 / 2^17 is exact below 2^17).
  function automatic logic [17:0] div_s(input logic [17:0] x, input logic [3:0] s);
    logic [35:0] p;
    p = 36'(x) * 36'd43691;
    case (s)
      4'd2:    div_s = x >> 1;
      4'd3:    div_s = 18'(p >> 17);
      4'd4:    div_s = x >> 2;
      default: div_s = x;
    endcase
  endfunction

  function automatic logic [15:0] cdiv_t(input logic [15:0] c);
    cdiv_t = 16'((32'(c) + 32'(T - 1)) / 32'(T));
  endfunction

  function automatic logic [8:0] valid_lanes(input logic [15:0] total, input logic [31:0] first);
    valid_lanes = (32'(total) - first < 32'(T)) ? 9'(32'(total) - first) : 9'(T);
  endfunction

  // ---------------------------------------------------------------------------------------------
  // Layer registers (set up once per descriptor).
  eftrain_top_pkg::desc_t d;
  logic fp, bp, wu, fold, bias_on, relu_on;
  /* verilator lint_off UNUSEDSIGNAL */
  logic [17:0] oh, ow;                         // 18 bits for the intermediate; the value fits 16
  logic [3:0]  s_eng;                          // engine stride (BP: 1); 1..4
  logic [17:0] buf_row0;                       // likewise
  /* verilator lint_on UNUSEDSIGNAL */
  logic [15:0] lanes, red, rows, width, in_rows, in_width, bw, images;
  logic [15:0] mtiles, ntiles, ntw;            // ceil(lanes/T), ceil(red/T), ceil(n/T) (weight layout)
  logic [7:0]  kk;
  logic [3:0]  ins;                            // zero-insertion step of the input map (BP: S)
  logic [3:0]  off;                            // first data row/column in the tile (P or K-1-P)
  logic        need_fill;
  logic        one_tile;                       // one output tile per chunk pass (1 image, 1 row tile)
  logic        w_double;
  logic [AW-1:0] in_row, in_plane, out_row, out_plane, w_tile;

  // Loop state.
  logic [15:0] mt, m0, t0, jn, b, r0, j;
  logic        chunk_par, ibank, obank;

  // Step values (S_CALC*).
  logic [15:0] nt, r1, lo, hi;
  logic [17:0] lo_raw_s, hi_raw_s;             // two's complement
  logic [AW-1:0] in_off, out_off, w_off, p_img_in, p_img_out, p_lo, p_r0, w_idx;
  logic [15:0] rr, rows_in;
  logic [31:0] pix0;
  logic [31:0] in_words, out_words, npix;
  logic [15:0] in_base, fill_count, tile_rows, w_slot;
  logic [7:0]  t0_pix;
  logic        first_mt, wload, reload, dyload, out_first, out_last, chunk_first, chunk_last, bias_ld;

  // Dependency marks.
  logic [31:0] cu_mark1, cu_mark2;             // commands emitted up to step i-1 / i-2
  logic [31:0] st_mark1, st_mark2;             // stores emitted up to output tile o-1 / o-2
  logic [31:0] cu_chunk_cur, cu_chunk_prev;    // commands emitted before this chunk / the previous one
  logic [31:0] w_gate, b_gate;
  logic [31:0] cu_bias_mark;                   // commands emitted up to the last one with ACC_BIAS
  logic [15:0] sub_idx;                        // slot counter of multi-op emissions

  typedef enum logic [4:0] {
    S_IDLE, S_SETUP0, S_SETUP1, S_SETUP2, S_CHUNK, S_CALC0, S_CALC1, S_CALC2, S_CALC3, S_CALC4,
    S_E_BFILL, S_E_BIAS, S_E_W, S_E_RELOAD, S_E_FILL, S_E_IN,
    S_E_CLEAR, S_E_CMD, S_E_COMBINE, S_E_STORE, S_E_DW, S_NEXT, S_DONE
  } state_t;
  state_t st;

  assign busy = (st != S_IDLE);

  // The emission chain of a step: each state's successor skips the ops this step does not have.
  state_t from_bias, from_w, from_reload, from_fill, from_in, from_cmd, from_combine;
  always_comb begin
    from_combine = (!wu && out_last) ? S_E_STORE : ((wu && chunk_last) ? S_E_DW : S_NEXT);
    from_cmd     = (wu && chunk_last) ? S_E_COMBINE : from_combine;
    from_in      = (wu && chunk_first) ? S_E_CLEAR : S_E_CMD;
    from_fill    = (hi > lo) ? S_E_IN : from_in;
    from_reload  = need_fill ? S_E_FILL : from_fill;
    from_w       = (reload || dyload) ? S_E_RELOAD : from_reload;
    from_bias    = wload ? S_E_W : from_w;
  end

  always_comb begin
    w_gate = w_double ? cu_chunk_prev : cu_chunk_cur;
    if (cu_mark2 > w_gate) w_gate = cu_mark2;
    b_gate = cu_bias_mark;
    if (cu_mark2 > b_gate) b_gate = cu_mark2;
  end

  // ---------------------------------------------------------------------------------------------
  // Op outputs (combinational from the state and the registered step values).
  always_comb begin
    ld_valid = 1'b0;
    cu_valid = 1'b0;
    st_valid = 1'b0;
    ld_op    = '0;
    cu_op    = '0;
    st_op    = '0;
    ld_op.nseg          = 16'd1;
    ld_op.wait_computed = cu_mark2;
    st_op.nseg          = 16'd1;
    unique case (st)
      S_E_BFILL: begin
        ld_valid            = 1'b1;
        ld_op.kind          = LD_FILL;
        ld_op.buf_sel       = BUF_BIAS;
        ld_op.wait_computed = b_gate;
      end
      S_E_BIAS: begin
        ld_valid            = 1'b1;
        ld_op.kind          = LD_FMAP;
        ld_op.buf_sel       = BUF_BIAS;
        ld_op.addr          = d.src2 + (AW'(m0) << 2);
        ld_op.seg_words     = 32'(valid_lanes(lanes, 32'(m0)));
        ld_op.width         = 16'd1;
        ld_op.col_step      = 16'd1;
        ld_op.row_step      = 16'd1;
        ld_op.wait_computed = b_gate;
      end
      S_E_W: begin
        ld_valid            = 1'b1;
        ld_op.kind          = LD_W;
        ld_op.buf_sel       = BUF_W;
        ld_op.addr          = d.src1 + (w_off << 2);
        ld_op.seg_words     = 32'(w_tile);
        ld_op.base          = w_slot;
        ld_op.k             = d.k[2:0];
        ld_op.flip          = bp;
        ld_op.wait_computed = w_gate;
      end
      S_E_RELOAD: begin   // FP/BP: the partial output tile (chunk > 0); WU: the dy tile
        ld_valid            = 1'b1;
        ld_op.kind          = LD_FMAP;
        ld_op.buf_sel       = BUF_OUT;
        ld_op.bank          = obank;
        ld_op.addr          = (wu ? d.src1 : d.dst) + (out_off << 2);
        ld_op.nseg          = fold ? d.batch : 16'd1;
        ld_op.seg_words     = fold ? 32'(T) : out_words;
        ld_op.seg_stride    = AW'(mtiles) * AW'(T * 4);
        ld_op.width         = width;
        ld_op.col_step      = 16'd1;
        ld_op.row_step      = width;
        // Bank reuse: the store of output tile o-2. A reload also needs the store of the same
        // tile in the previous chunk: o - (tiles per chunk pass), i.e. o-1 when a pass has a
        // single output tile (one image, one row tile).
        ld_op.wait_stored   = (reload && one_tile) ? st_mark1 : st_mark2;
      end
      S_E_FILL: begin
        ld_valid            = 1'b1;
        ld_op.kind          = LD_FILL;
        ld_op.buf_sel       = BUF_IN;
        ld_op.bank          = ibank;
        ld_op.count         = fill_count;
      end
      S_E_IN: begin
        ld_valid            = 1'b1;
        ld_op.kind          = LD_FMAP;
        ld_op.buf_sel       = BUF_IN;
        ld_op.bank          = ibank;
        ld_op.addr          = d.src0 + (in_off << 2);
        ld_op.nseg          = fold ? d.batch : 16'd1;
        ld_op.seg_words     = fold ? 32'(T) : in_words;
        ld_op.seg_stride    = AW'(ntiles) * AW'(T * 4);
        ld_op.base          = in_base;
        ld_op.width         = in_width;
        ld_op.col_step      = 16'(ins);
        ld_op.row_step      = 16'(ins) * bw;
      end
      S_E_CLEAR, S_E_COMBINE: begin
        cu_valid            = 1'b1;
        cu_op.mode          = (st == S_E_CLEAR) ? MODE_WU_CLEAR : MODE_WU_COMBINE;
        cu_op.k             = d.k[2:0];
        cu_op.stride        = 3'd1;
        cu_op.rows_out      = 16'd1;
        cu_op.cols_out      = 16'd1;
        cu_op.cols_in       = 16'd1;
        cu_op.w_base        = sub_idx * 16'(kk);
        cu_op.wait_loaded   = n_ld;
        cu_op.wait_stored   = (st == S_E_CLEAR) ? n_st : 32'd0;
      end
      S_E_CMD: begin
        cu_valid            = 1'b1;
        cu_op.mode          = wu ? MODE_WU : (bp ? MODE_BP : MODE_FP);
        cu_op.k             = d.k[2:0];
        cu_op.stride        = s_eng[2:0];
        cu_op.rows_out      = rr;
        cu_op.cols_out      = width;
        cu_op.cols_in       = bw;
        cu_op.in_bank       = ibank;
        cu_op.out_bank      = obank;
        cu_op.w_base        = w_slot;
        cu_op.acc_init      = (t0 == 16'd0 && j == 16'd0) ? (bias_on ? ACC_BIAS : ACC_NEG_ZERO)
                                                          : ACC_CONTINUE;
        cu_op.wu_t0         = t0_pix;
        cu_op.wait_loaded   = n_ld;
        cu_op.wait_stored   = (!wu && out_first) ? st_mark2 : 32'd0;
      end
      S_E_STORE: begin
        st_valid            = 1'b1;
        st_op.kind          = ST_FMAP;
        st_op.bank          = obank;
        st_op.addr          = d.dst + (out_off << 2);
        st_op.nseg          = fold ? d.batch : 16'd1;
        st_op.seg_words     = fold ? 32'(T) : out_words;
        st_op.seg_stride    = AW'(mtiles) * AW'(T * 4);
        st_op.npix          = npix;
        st_op.lanes_valid   = valid_lanes(lanes, 32'(m0));
        // ReLU only on the final store of an output tile (the last chunk's), not on the partial
        // sums a multi-chunk layer stores and reloads.
        st_op.relu          = fp && relu_on && (32'(t0) + 32'(jn) >= 32'(ntiles));
        st_op.wait_computed = n_cu;
      end
      S_E_DW: begin
        st_valid            = 1'b1;
        st_op.kind          = ST_W;
        st_op.addr          = d.dst + (((AW'(mt) * AW'(ntw) + AW'(t0) + AW'(sub_idx)) * w_tile) << 2);
        st_op.seg_words     = 32'(w_tile);
        st_op.base          = sub_idx * 16'(kk) * 16'(ACC_L);
        st_op.k             = d.k[2:0];
        st_op.rows_valid    = valid_lanes(lanes, 32'(m0));
        st_op.cols_valid    = valid_lanes(red, 32'(T) * (32'(t0) + 32'(sub_idx)));
        st_op.wait_computed = n_cu;
      end
      default: ;
    endcase
  end

  wire ld_fire = ld_valid && ld_ready;
  wire cu_fire = cu_valid && cu_ready;
  wire st_fire = st_valid && st_ready;

  // ---------------------------------------------------------------------------------------------
  // The sequencer.
  always_ff @(posedge clk) begin
    emit_done <= 1'b0;
    if (ld_fire) n_ld <= n_ld + 32'd1;
    if (cu_fire) n_cu <= n_cu + 32'd1;
    if (st_fire) n_st <= n_st + 32'd1;

    unique case (st)
      S_IDLE: if (start) begin
        d    <= desc;
        n_ld <= '0;
        n_cu <= '0;
        n_st <= '0;
        st   <= S_SETUP0;
      end

      S_SETUP0: begin
        fp      <= (d.opcode == OP_CONV_FP) || (d.opcode == OP_FC_FP);
        bp      <= (d.opcode == OP_CONV_BP) || (d.opcode == OP_FC_BP);
        wu      <= (d.opcode == OP_CONV_WU) || (d.opcode == OP_FC_WU);
        bias_on <= (d.flags & FLAG_BIAS) != 8'd0;
        relu_on <= (d.flags & FLAG_RELU) != 8'd0;
        fold    <= d.h == 16'd1 && d.w == 16'd1 && d.k == 4'd1 && d.stride == 4'd1 && d.pad == 4'd0;
        oh      <= div_s(18'(d.h) + 18'(2 * d.pad) - 18'(d.k), d.stride) + 18'd1;
        ow      <= div_s(18'(d.w) + 18'(2 * d.pad) - 18'(d.k), d.stride) + 18'd1;
        kk      <= 8'(d.k) * 8'(d.k);
        st      <= S_SETUP1;
      end

      S_SETUP1: begin
        if (bp) begin
          lanes     <= d.n;
          red       <= d.m;
          rows      <= fold ? 16'd1 : d.h;
          width     <= fold ? d.batch : d.w;
          in_rows   <= fold ? 16'd1 : oh[15:0];
          in_width  <= fold ? d.batch : ow[15:0];
          bw        <= fold ? d.batch : d.w + 16'(d.k) - 16'd1;
          s_eng     <= 4'd1;
          ins       <= d.stride;
          off       <= d.k - 4'd1 - d.pad;
          need_fill <= d.k != 4'd1 || d.stride != 4'd1;
        end else begin
          lanes     <= d.m;
          red       <= d.n;
          rows      <= fold ? 16'd1 : oh[15:0];
          width     <= fold ? d.batch : ow[15:0];
          in_rows   <= fold ? 16'd1 : d.h;
          in_width  <= fold ? d.batch : d.w;
          bw        <= fold ? d.batch : d.w + 16'(2 * d.pad);
          s_eng     <= d.stride;
          ins       <= 4'd1;
          off       <= d.pad;
          need_fill <= d.pad != 4'd0;
        end
        images <= fold ? 16'd1 : d.batch;
        ntw    <= cdiv_t(d.n);
        st     <= S_SETUP2;
      end

      S_SETUP2: begin
        mtiles    <= cdiv_t(lanes);
        ntiles    <= cdiv_t(red);
        in_row    <= AW'(in_width) * AW'(T);
        in_plane  <= AW'(in_rows) * AW'(in_width) * AW'(T);
        out_row   <= AW'(width) * AW'(T);
        out_plane <= AW'(rows) * AW'(width) * AW'(T);
        w_tile    <= AW'(kk) * TILE_WORDS;
        w_double  <= (32'(d.chunk) * 32'(kk) * 32'd2) <= 32'(W_DEPTH);
        one_tile  <= (images == 16'd1) && (32'(d.tr) >= 32'(rows));
        mt <= '0;
        m0 <= '0;
        t0 <= '0;
        b  <= '0;
        r0 <= '0;
        j  <= '0;
        chunk_par     <= 1'b0;
        ibank         <= 1'b0;
        obank         <= 1'b1;    // toggles at the first step
        cu_mark1      <= '0;
        cu_mark2      <= '0;
        st_mark1      <= '0;
        st_mark2      <= '0;
        cu_chunk_cur  <= '0;
        cu_chunk_prev <= '0;
        cu_bias_mark  <= '0;
        sub_idx       <= '0;
        st <= S_CHUNK;
      end

      S_CHUNK: begin   // a chunk starts at t0
        jn            <= (ntiles - t0 < d.chunk) ? ntiles - t0 : d.chunk;
        cu_chunk_prev <= cu_chunk_cur;
        cu_chunk_cur  <= n_cu;
        st            <= S_CALC0;
      end

      S_CALC0: begin
        nt <= t0 + j;
        r1 <= (32'(r0) + 32'(d.tr) < 32'(rows)) ? r0 + d.tr : rows;
        st <= S_CALC1;
      end

      S_CALC1: begin
        // Streamed input rows [lo, hi) before clipping (two's complement, 18 bits).
        if (fold) begin
          lo_raw_s <= '0;
          hi_raw_s <= 18'd1;
        end else if (bp) begin
          // lo = ceil((r0 + P - K + 1) / S), hi = floor((r1 - 1 + P) / S) + 1
          if (32'(r0) + 32'(d.pad) + 32'd1 <= 32'(d.k)) lo_raw_s <= '0;
          else lo_raw_s <= div_s(18'(r0) + 18'(d.pad) - 18'(d.k) + 18'(d.stride), d.stride);
          hi_raw_s <= div_s(18'(r1) - 18'd1 + 18'(d.pad), d.stride) + 18'd1;
        end else begin
          // lo = r0*S - P, hi = (r1-1)*S - P + K
          lo_raw_s <= 18'(r0) * 18'(d.stride) - 18'(d.pad);
          hi_raw_s <= (18'(r1) - 18'd1) * 18'(d.stride) - 18'(d.pad) + 18'(d.k);
        end
        first_mt    <= (t0 == 16'd0) && (b == 16'd0) && (r0 == 16'd0) && (j == 16'd0);
        wload       <= !wu && (b == 16'd0) && (r0 == 16'd0);
        reload      <= !wu && (t0 != 16'd0) && (j == 16'd0);
        dyload      <= wu && (j == 16'd0);
        out_first   <= (j == 16'd0);
        out_last    <= (j == jn - 16'd1);
        chunk_first <= (b == 16'd0) && (r0 == 16'd0) && (j == 16'd0);
        chunk_last  <= (b == images - 16'd1) && (r1 == rows) && (j == jn - 16'd1);
        if (j == 16'd0) obank <= ~obank;
        st <= S_CALC2;
      end

      S_CALC2: begin
        // Clip to the map: rows above 0 and from in_rows on stay zero (filled).
        lo <= lo_raw_s[17] ? 16'd0 : (lo_raw_s > 18'(in_rows) ? in_rows : lo_raw_s[15:0]);
        hi <= hi_raw_s[17] ? 16'd0 : (hi_raw_s > 18'(in_rows) ? in_rows : hi_raw_s[15:0]);
        bias_ld <= fp && bias_on && first_mt;
        w_slot  <= wu ? j * 16'(kk)
                      : 16'(((w_double && chunk_par) ? 32'(d.chunk) : 32'd0) + 32'(j)) * 16'(kk);
        st <= S_CALC3;
      end

      S_CALC3: begin   // first-level products
        p_img_in  <= AW'(b) * AW'(ntiles) + AW'(nt);
        p_img_out <= AW'(b) * AW'(mtiles) + AW'(mt);
        p_lo      <= AW'(lo) * in_row;
        p_r0      <= AW'(r0) * out_row;
        rr        <= r1 - r0;
        rows_in   <= (hi > lo) ? hi - lo : 16'd0;
        buf_row0  <= bp ? 18'(off) + 18'(lo) * 18'(d.stride) - 18'(r0) : 18'(lo) - lo_raw_s;
        tile_rows <= bp ? (r1 - r0) + 16'(d.k) - 16'd1
                        : (r1 - r0 - 16'd1) * 16'(d.stride) + 16'(d.k);
        w_idx     <= bp ? AW'(nt) * AW'(ntw) + AW'(mt) : AW'(mt) * AW'(ntw) + AW'(nt);
        pix0      <= (32'(b) * 32'(rows) + 32'(r0)) * 32'(width);
        st <= S_CALC4;
      end

      S_CALC4: begin   // second-level products: the step's addresses and sizes
        in_off     <= fold ? AW'(nt) * AW'(T) : p_img_in * in_plane + p_lo;
        out_off    <= fold ? AW'(mt) * AW'(T) : p_img_out * out_plane + p_r0;
        in_words   <= 32'(rows_in) * 32'(in_row);
        out_words  <= 32'(rr) * 32'(out_row);
        npix       <= 32'(rr) * 32'(width);
        in_base    <= fold ? 16'd0 : 16'(buf_row0) * bw + 16'(off);
        fill_count <= tile_rows * bw;
        w_off      <= w_idx * w_tile;
        t0_pix     <= 8'(pix0 & 32'(ACC_L - 1));
        st <= bias_ld ? S_E_BFILL : from_bias;
      end

      S_E_BFILL:  if (ld_fire) st <= S_E_BIAS;
      S_E_BIAS:   if (ld_fire) st <= from_bias;
      S_E_W:      if (ld_fire) st <= from_w;
      S_E_RELOAD: if (ld_fire) st <= from_reload;
      S_E_FILL:   if (ld_fire) st <= from_fill;
      S_E_IN:     if (ld_fire) st <= from_in;
      S_E_CMD:    if (cu_fire) st <= from_cmd;
      S_E_STORE:  if (st_fire) st <= S_NEXT;
      S_E_CLEAR, S_E_COMBINE, S_E_DW:
        if (cu_fire || st_fire) begin
          if (sub_idx == jn - 16'd1) begin
            sub_idx <= '0;
            st <= (st == S_E_CLEAR) ? S_E_CMD : (st == S_E_COMBINE) ? from_combine : S_NEXT;
          end else begin
            sub_idx <= sub_idx + 16'd1;
          end
        end

      S_NEXT: begin
        cu_mark2 <= cu_mark1;
        cu_mark1 <= n_cu;
        if (bias_on && t0 == 16'd0 && j == 16'd0) cu_bias_mark <= n_cu;
        if (!wu && out_last) begin
          st_mark2 <= st_mark1;
          st_mark1 <= n_st;
        end
        ibank <= ~ibank;
        if (j + 16'd1 < jn) begin
          j  <= j + 16'd1;
          st <= S_CALC0;
        end else begin
          j <= '0;
          if (32'(r0) + 32'(d.tr) < 32'(rows)) begin
            r0 <= r0 + d.tr;
            st <= S_CALC0;
          end else begin
            r0 <= '0;
            if (b + 16'd1 < images) begin
              b  <= b + 16'd1;
              st <= S_CALC0;
            end else begin
              b         <= '0;
              chunk_par <= ~chunk_par;
              if (32'(t0) + 32'(d.chunk) < 32'(ntiles)) begin
                t0 <= t0 + d.chunk;
                st <= S_CHUNK;
              end else begin
                t0 <= '0;
                if (32'(m0) + 32'(T) < 32'(lanes)) begin
                  m0 <= m0 + 16'(T);
                  mt <= mt + 16'd1;
                  st <= S_CHUNK;
                end else begin
                  st <= S_DONE;
                end
              end
            end
          end
        end
      end

      S_DONE: begin
        emit_done <= 1'b1;
        st        <= S_IDLE;
      end

      default: st <= S_IDLE;
    endcase

    if (!rst_n || flush) begin
      st        <= S_IDLE;
      emit_done <= 1'b0;
      n_ld      <= '0;
      n_cu      <= '0;
      n_st      <= '0;
    end
  end

endmodule
