// EF-Train, open: the read half of the AXI4 DMA (axi_dma): AR/R channels, command queue, word
// realignment, read-data stream and completion.
//
// The contract (command, stream, status codes, errors, soft reset, counters) is documented in
// axi_dma.sv; this header describes how the read half implements it.
//
// Structure (pointers into a QUEUE_DEPTH-entry transfer table, each with a wrap bit)
//
//   cmd -> [C] check stage --push--> transfer table --ar_p--> AR generator --+--> AR channel
//                                            |                               | one rq entry
//                                            +--r_p--> R side <---- rq <-----+ per burst
//                                                         |
//                                             stream skid buffer, done register
//
//   [C]  the accepted command waits one cycle in a register while axi_dma_check and the derived
//        values (start lane, AXI beats, ...) are computed; it then enters the table (tq_wp).
//   AR   the generator walks the table entry at ar_p: bursts of min(remaining beats, MAX_BURST,
//        beats to the next 4 KiB boundary), the first one at the command address, the others at
//        beat boundaries. A burst is committed (arvalid set, an entry {beats-1, transfer tag}
//        pushed into rq) when the AR register is free and fewer than MAX_OUTSTANDING bursts sit
//        in rq. Rejected entries and transfers stopped by an error are skipped (ar_p advances).
//   R    the R side owns the entry at r_p: it counts the beats of the rq head burst (pops it on
//        its final beat; rlast is not used) and realigns the beats into the packed word stream.
//        The entry is freed (r_p advances) when its completion enters the done register.
//
// Realignment (WPB = DATA_W/32 words per beat, s = start lane = (addr/4) mod WPB):
//   AXI beat b holds transfer words b*WPB - s .. b*WPB - s + WPB-1 (lanes 0..WPB-1); stream beat i
//   holds words i*WPB .. i*WPB + WPB-1 = lanes s.. of AXI beat i, then lanes ..s-1 of beat i+1:
//   stream beat i = ({axi[i+1], axi[i]} >> 32*s). With s > 0 AXI beat 0 only fills the hold
//   register (unless it is the only beat); a transfer whose last AXI beat still holds words of
//   the last stream beat needs one extra "flush" cycle that emits it from the hold register.
//
// Errors: an R beat with RRESP[1] set (SLVERR, DECERR) switches the transfer to error mode:
// no more stream beats, the AR generator stops issuing its bursts (a committed AR still
// completes), the R side accepts and drops the rest of the transfer's issued bursts, then emits
// the end marker (last = err = 1, keep = 0) and the done status. Later queued commands are not
// affected. Soft reset: see axi_dma.sv.

`default_nettype none

module axi_dma_rd #(
  parameter int              DATA_W          = 128,
  parameter int              ADDR_W          = 40,
  parameter int              ID_W            = 4,
  parameter int              LEN_W           = 32,
  parameter int              MAX_BURST       = 256,
  parameter int              MAX_OUTSTANDING = 8,
  parameter int              QUEUE_DEPTH     = 4,
  parameter int              CNT_W           = 32,
  parameter logic [ID_W-1:0] AXI_ID          = '0,
  parameter logic [3:0]      AXI_CACHE       = 4'b0011,
  parameter logic [2:0]      AXI_PROT        = 3'b000
) (
  input  wire logic                  clk,
  input  wire logic                  rst_n,
  input  wire logic                  soft_reset,

  input  wire logic [ADDR_W-1:0]     win_base,
  input  wire logic [ADDR_W-1:0]     win_limit,

  // Command.
  input  wire logic                  cmd_valid,
  output      logic                  cmd_ready,
  input  wire logic [ADDR_W-1:0]     cmd_addr,
  input  wire logic [LEN_W-1:0]      cmd_len,

  // Read-data stream.
  output      logic                  s_valid,
  input  wire logic                  s_ready,
  output      logic [DATA_W-1:0]     s_data,
  output      logic [DATA_W/32-1:0]  s_keep,
  output      logic                  s_last,
  output      logic                  s_err,

  // Completion.
  output      logic                  done_valid,
  input  wire logic                  done_ready,
  output      logic [3:0]            done_status,
  output      logic [ADDR_W-1:0]     done_addr,

  output      logic                  busy,

  // AXI4 read address and read data channels.
  output      logic [ID_W-1:0]       m_axi_arid,
  output      logic [ADDR_W-1:0]     m_axi_araddr,
  output      logic [7:0]            m_axi_arlen,
  output      logic [2:0]            m_axi_arsize,
  output      logic [1:0]            m_axi_arburst,
  output      logic                  m_axi_arlock,
  output      logic [3:0]            m_axi_arcache,
  output      logic [2:0]            m_axi_arprot,
  output      logic [3:0]            m_axi_arqos,
  output      logic                  m_axi_arvalid,
  input  wire logic                  m_axi_arready,
  /* verilator lint_off UNUSEDSIGNAL */
  input  wire logic [ID_W-1:0]       m_axi_rid,     // one ID only: responses are in order
  input  wire logic                  m_axi_rlast,   // bursts are counted, rlast is not needed
  input  wire logic [1:0]            m_axi_rresp,   // only bit 1 (SLVERR/DECERR) matters
  /* verilator lint_on UNUSEDSIGNAL */
  input  wire logic [DATA_W-1:0]     m_axi_rdata,
  input  wire logic                  m_axi_rvalid,
  output      logic                  m_axi_rready,

  // Performance counters.
  input  wire logic                  cnt_clear,
  output      logic [CNT_W-1:0]      cnt_beats,
  output      logic [CNT_W-1:0]      cnt_bursts,
  output      logic [CNT_W-1:0]      cnt_stall
);

  // ---------------------------------------------------------------------------------------------
  // Constants.
  // ---------------------------------------------------------------------------------------------
  localparam int WPB      = DATA_W / 32;                  // words per beat
  localparam int BYTES    = DATA_W / 8;                   // bytes per beat
  localparam int BSH      = $clog2(BYTES);                // log2 bytes per beat (AxSIZE)
  localparam int LSH      = $clog2(WPB);                  // log2 words per beat
  localparam int LW       = (WPB > 1) ? LSH : 1;          // lane-index bits
  localparam int BW       = LEN_W + 1;                    // beat counts of a transfer
  localparam int QW       = $clog2(QUEUE_DEPTH);          // table index bits
  localparam int RQI      = (MAX_OUTSTANDING > 2) ? $clog2(MAX_OUTSTANDING) : 1;
  localparam int RQD      = 1 << RQI;                     // rq storage (>= MAX_OUTSTANDING)
  localparam int BEATS_4K = 4096 / BYTES;
  localparam int CW       = (BW > 13) ? BW : 13;          // burst-length arithmetic

  localparam logic [3:0] ST_OK     = 4'd0;
  localparam logic [3:0] ST_SLVERR = 4'd4;
  localparam logic [3:0] ST_DECERR = 4'd5;

  // ---------------------------------------------------------------------------------------------
  // Soft-reset state.
  // ---------------------------------------------------------------------------------------------
  logic ab_mode;          // draining after a soft reset
  logic rq_empty;

  // ---------------------------------------------------------------------------------------------
  // Command stage: one register, check and derived values, then the transfer table.
  // ---------------------------------------------------------------------------------------------
  logic              c_valid;
  logic [ADDR_W-1:0] c_addr;
  logic [LEN_W-1:0]  c_len;
  logic [3:0]        c_status;
  logic              c_push;

  logic [QW:0] tq_wp, ar_p, r_p;       // table write pointer, AR generator, R side
  logic        tq_full;

  assign tq_full   = ((tq_wp - r_p) == (QW+1)'(QUEUE_DEPTH));
  assign c_push    = c_valid && !tq_full && !soft_reset;
  assign cmd_ready = !ab_mode && !soft_reset && (!c_valid || c_push);

  axi_dma_check #(
    .ADDR_W (ADDR_W),
    .LEN_W  (LEN_W)
  ) u_check (
    .addr      (c_addr),
    .len       (c_len),
    .win_base  (win_base),
    .win_limit (win_limit),
    .status    (c_status)
  );

  logic [LW-1:0]     c_s;        // start lane
  logic [BW-1:0]     c_beats;    // AXI beats: ceil((s + len) / WPB)
  logic [BW-1:0]     c_nout;     // stream beats: ceil(len / WPB)
  logic [WPB-1:0]    c_lkeep;    // keep of the last stream beat
  logic [LEN_W+1:0]  c_sum;
  logic [LEN_W-1:0]  c_lastw;    // (len - 1) mod WPB

  always_comb begin
    c_s     = (WPB > 1) ? LW'(c_addr >> 2) : '0;
    c_sum   = (LEN_W+2)'(c_s) + (LEN_W+2)'(c_len) + (LEN_W+2)'(WPB - 1);
    c_beats = BW'(c_sum >> LSH);
    c_nout  = BW'(((LEN_W+2)'(c_len) + (LEN_W+2)'(WPB - 1)) >> LSH);
    c_lastw = (c_len - LEN_W'(1)) & LEN_W'(WPB - 1);
    for (int i = 0; i < WPB; i++) c_lkeep[i] = (LEN_W'(i) <= c_lastw);
  end

  // Transfer table (written once by the command stage, read by the AR generator and R side).
  logic [ADDR_W-1:0] t_addr   [QUEUE_DEPTH];  // the command's address
  logic [BW-1:0]     t_beats  [QUEUE_DEPTH];
  logic [LW-1:0]     t_s      [QUEUE_DEPTH];
  logic              t_extra  [QUEUE_DEPTH];  // AXI beats = stream beats + 1
  logic [WPB-1:0]    t_lkeep  [QUEUE_DEPTH];
  logic [3:0]        t_status [QUEUE_DEPTH];

  always_ff @(posedge clk) begin
    if (c_push) begin
      t_addr[tq_wp[QW-1:0]]   <= c_addr;
      t_beats[tq_wp[QW-1:0]]  <= c_beats;
      t_s[tq_wp[QW-1:0]]      <= c_s;
      t_extra[tq_wp[QW-1:0]]  <= (c_beats != c_nout);
      t_lkeep[tq_wp[QW-1:0]]  <= c_lkeep;
      t_status[tq_wp[QW-1:0]] <= c_status;
    end
  end

  always_ff @(posedge clk) begin
    if (cmd_valid && cmd_ready) begin
      c_addr <= cmd_addr;
      c_len  <= cmd_len;
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Burst queue rq: one entry per committed AR burst, popped on its final R beat.
  // ---------------------------------------------------------------------------------------------
  logic [7:0]    rq_len [RQD];
  logic [QW-1:0] rq_tag [RQD];
  logic [RQI:0]  rq_wp, rq_rp;
  logic          rq_room;
  logic          rq_push, rq_pop;

  assign rq_empty = (rq_wp == rq_rp);
  assign rq_room  = ((rq_wp - rq_rp) < (RQI+1)'(MAX_OUTSTANDING));

  // ---------------------------------------------------------------------------------------------
  // AR generator.
  // ---------------------------------------------------------------------------------------------
  logic              ag_started;       // the entry at ar_p has issued bursts; ag_addr/ag_rem valid
  logic [ADDR_W-1:0] ag_addr;
  logic [BW-1:0]     ag_rem;
  logic              r_err;            // R side: the transfer at r_p is in error mode

  logic              ag_have, ag_stop, ag_issue, ag_skip, ag_lastb;
  logic [QW-1:0]     ag_i;
  logic [ADDR_W-1:0] ag_cur_addr;
  logic [BW-1:0]     ag_cur_rem;
  logic [CW-1:0]     ag_to4k, ag_lim, ag_blen;

  always_comb begin
    ag_i        = ar_p[QW-1:0];
    ag_have     = (ar_p != tq_wp) && !ab_mode;
    ag_stop     = r_err && (r_p == ar_p);
    ag_cur_addr = ag_started ? ag_addr : t_addr[ag_i];
    ag_cur_rem  = ag_started ? ag_rem : t_beats[ag_i];
    ag_to4k     = CW'(BEATS_4K) - CW'(ag_cur_addr[11:BSH]);
    ag_lim      = (ag_to4k < CW'(MAX_BURST)) ? ag_to4k : CW'(MAX_BURST);
    ag_blen     = (CW'(ag_cur_rem) < ag_lim) ? CW'(ag_cur_rem) : ag_lim;
    ag_lastb    = (CW'(ag_cur_rem) == ag_blen);
    ag_skip     = ag_have && ((t_status[ag_i] != ST_OK) || ag_stop);
    ag_issue    = ag_have && !ag_skip && (!m_axi_arvalid || m_axi_arready) && rq_room;
  end

  assign rq_push = ag_issue;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      m_axi_arvalid <= 1'b0;
      ag_started    <= 1'b0;
      ar_p          <= '0;
    end else begin
      if (m_axi_arready) m_axi_arvalid <= 1'b0;
      if (ag_issue) begin
        m_axi_arvalid <= 1'b1;
        if (ag_lastb) begin
          ag_started <= 1'b0;
          ar_p       <= ar_p + 1'b1;
        end else begin
          ag_started <= 1'b1;
        end
      end else if (ag_skip) begin
        ag_started <= 1'b0;
        ar_p       <= ar_p + 1'b1;
      end
      if (soft_reset) begin
        ag_started <= 1'b0;
        ar_p       <= '0;
      end
    end
  end

  always_ff @(posedge clk) begin
    if (ag_issue) begin
      m_axi_araddr        <= ag_cur_addr;
      m_axi_arlen         <= 8'(ag_blen - CW'(1));
      ag_addr             <= {ag_cur_addr[ADDR_W-1:BSH], BSH'(0)} + (ADDR_W'(ag_blen) << BSH);
      ag_rem              <= ag_cur_rem - BW'(ag_blen);
      rq_len[rq_wp[RQI-1:0]] <= 8'(ag_blen - CW'(1));
      rq_tag[rq_wp[RQI-1:0]] <= ag_i;
    end
  end

  assign m_axi_arid    = AXI_ID;
  assign m_axi_arsize  = 3'(BSH);
  assign m_axi_arburst = 2'b01;      // INCR
  assign m_axi_arlock  = 1'b0;
  assign m_axi_arcache = AXI_CACHE;
  assign m_axi_arprot  = AXI_PROT;
  assign m_axi_arqos   = 4'd0;

  // ---------------------------------------------------------------------------------------------
  // R side.
  // ---------------------------------------------------------------------------------------------
  logic [BW-1:0]     r_beat;         // AXI beat index within the transfer (normal mode)
  logic [7:0]        r_bcnt;         // beat index within the rq head burst
  logic              r_flush;        // the last stream beat waits in the hold register
  logic [3:0]        r_estatus;      // error mode: status and address of the first bad beat
  logic [ADDR_W-1:0] r_eaddr;
  logic [DATA_W-1:0] r_hold;         // previous AXI beat

  logic [QW-1:0]     r_i;
  logic              r_have, ar_past, head_mine;
  logic              r_final, r_outp, r_olast, r_flush_after;
  logic              rfire;
  logic [2*DATA_W-1:0] r_cat;

  // Push side of the stream skid buffer and of the done register.
  logic                o_room, d_free;
  logic                p_valid, p_last, p_err;
  logic [DATA_W-1:0]   p_data;
  logic [WPB-1:0]      p_keep;
  logic                d_push;
  logic [3:0]          d_status_n;
  logic [ADDR_W-1:0]   d_addr_n;
  logic                r_finish;     // the entry at r_p completes in this cycle

  always_comb begin
    r_i       = r_p[QW-1:0];
    r_have    = (r_p != tq_wp) && !ab_mode;
    ar_past   = (ar_p != r_p);
    head_mine = !rq_empty && (rq_tag[rq_rp[RQI-1:0]] == r_i);
    r_final   = (r_beat == t_beats[r_i] - BW'(1));
    // Does this AXI beat complete a stream beat, and is it the last one?
    r_outp        = (t_s[r_i] == '0) || (r_beat != '0) || r_final;
    r_olast       = r_final && (t_extra[r_i] || (r_beat == '0) || (t_s[r_i] == '0));
    r_flush_after = r_final && !r_olast;
  end

  // rready: registered conditions only (skid-buffer room, done register, rq head).
  always_comb begin
    if (ab_mode)
      m_axi_rready = !rq_empty;                        // drain everything issued
    else if (!r_have || (t_status[r_i] != ST_OK) || r_flush)
      m_axi_rready = 1'b0;
    else if (r_err)
      m_axi_rready = head_mine;                        // drop the rest of the transfer
    else
      m_axi_rready = head_mine && (!r_outp || o_room) && (!(r_final && r_olast) || d_free);
  end

  assign rfire = m_axi_rvalid && m_axi_rready;

  always_comb begin
    // {hi, lo} >> 32*s: lo = this beat when s = 0 or at beat 0, else the held beat;
    // flush: the held beat alone.
    if (r_flush)
      r_cat = {r_hold, r_hold};
    else if ((t_s[r_i] == '0) || (r_beat == '0))
      r_cat = {m_axi_rdata, m_axi_rdata};
    else
      r_cat = {m_axi_rdata, r_hold};

    p_valid    = 1'b0;
    p_data     = r_cat[32*t_s[r_i] +: DATA_W];
    p_keep     = '1;
    p_last     = 1'b0;
    p_err      = 1'b0;
    d_push     = 1'b0;
    d_status_n = ST_OK;
    d_addr_n   = '0;
    r_finish   = 1'b0;

    if (r_have) begin
      if (t_status[r_i] != ST_OK) begin                // rejected: marker + status
        if (ar_past && o_room && d_free) begin
          p_valid    = 1'b1;
          p_keep     = '0;
          p_last     = 1'b1;
          p_err      = 1'b1;
          d_push     = 1'b1;
          d_status_n = t_status[r_i];
          d_addr_n   = t_addr[r_i];
          r_finish   = 1'b1;
        end
      end else if (r_flush) begin                      // last stream beat from the hold register
        if (o_room && d_free) begin
          p_valid  = 1'b1;
          p_keep   = t_lkeep[r_i];
          p_last   = 1'b1;
          d_push   = 1'b1;
          r_finish = 1'b1;
        end
      end else if (r_err) begin                        // after the drain: marker + status
        if (!head_mine && ar_past && o_room && d_free) begin
          p_valid    = 1'b1;
          p_keep     = '0;
          p_last     = 1'b1;
          p_err      = 1'b1;
          d_push     = 1'b1;
          d_status_n = r_estatus;
          d_addr_n   = r_eaddr;
          r_finish   = 1'b1;
        end
      end else if (rfire && !m_axi_rresp[1]) begin     // normal
        p_valid = r_outp;
        p_keep  = r_olast ? t_lkeep[r_i] : '1;
        p_last  = r_olast;
        if (r_final && r_olast) begin
          d_push   = 1'b1;
          r_finish = 1'b1;
        end
      end
    end
  end

  assign rq_pop = rfire && (r_bcnt == rq_len[rq_rp[RQI-1:0]]);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      r_p     <= '0;
      r_beat  <= '0;
      r_bcnt  <= '0;
      r_flush <= 1'b0;
      r_err   <= 1'b0;
      rq_wp   <= '0;
      rq_rp   <= '0;
    end else begin
      if (rq_push) rq_wp <= rq_wp + 1'b1;
      if (rfire) begin
        if (rq_pop) begin
          r_bcnt <= '0;
          rq_rp  <= rq_rp + 1'b1;
        end else begin
          r_bcnt <= r_bcnt + 8'd1;
        end
      end
      if (!ab_mode && r_have && (t_status[r_i] == ST_OK) && !r_flush && !r_err && rfire) begin
        r_beat <= r_beat + BW'(1);
        if (m_axi_rresp[1]) r_err <= 1'b1;
        else if (r_flush_after) r_flush <= 1'b1;
      end
      if (r_finish) begin
        r_p     <= r_p + 1'b1;
        r_beat  <= '0;
        r_flush <= 1'b0;
        r_err   <= 1'b0;
      end
      if (soft_reset) begin
        r_p     <= '0;
        r_beat  <= '0;
        r_flush <= 1'b0;
        r_err   <= 1'b0;
      end
    end
  end

  always_ff @(posedge clk) begin
    if (rfire) r_hold <= m_axi_rdata;
    if (!r_err && rfire && m_axi_rresp[1]) begin
      r_estatus <= m_axi_rresp[0] ? ST_DECERR : ST_SLVERR;
      r_eaddr   <= {t_addr[r_i][ADDR_W-1:BSH], BSH'(0)} + (ADDR_W'(r_beat) << BSH);
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Stream skid buffer (2 entries; o_room is a register, so s_ready never reaches m_axi_rready
  // combinationally) and the done register.
  // ---------------------------------------------------------------------------------------------
  logic                k_valid, k_last, k_err;
  logic [DATA_W-1:0]   k_data;
  logic [WPB-1:0]      k_keep;

  assign o_room = !k_valid;

  always_ff @(posedge clk) begin
    if (!rst_n || soft_reset) begin
      s_valid <= 1'b0;
      k_valid <= 1'b0;
    end else begin
      if (s_valid && s_ready) begin
        if (k_valid) begin
          s_valid <= 1'b1;
          k_valid <= 1'b0;
        end else begin
          s_valid <= p_valid;
        end
      end else if (p_valid) begin
        if (s_valid) k_valid <= 1'b1;
        else         s_valid <= 1'b1;
      end
    end
  end

  always_ff @(posedge clk) begin
    if (s_valid && s_ready) begin
      if (k_valid) begin
        s_data <= k_data;
        s_keep <= k_keep;
        s_last <= k_last;
        s_err  <= k_err;
      end else begin
        s_data <= p_data;
        s_keep <= p_keep;
        s_last <= p_last;
        s_err  <= p_err;
      end
    end else if (p_valid) begin
      if (s_valid) begin
        k_data <= p_data;
        k_keep <= p_keep;
        k_last <= p_last;
        k_err  <= p_err;
      end else begin
        s_data <= p_data;
        s_keep <= p_keep;
        s_last <= p_last;
        s_err  <= p_err;
      end
    end
  end

  assign d_free = !done_valid;

  always_ff @(posedge clk) begin
    if (!rst_n || soft_reset) begin
      done_valid <= 1'b0;
    end else begin
      if (done_ready) done_valid <= 1'b0;
      if (d_push)     done_valid <= 1'b1;
    end
  end

  always_ff @(posedge clk) begin
    if (d_push) begin
      done_status <= d_status_n;
      done_addr   <= d_addr_n;
    end
  end

  // ---------------------------------------------------------------------------------------------
  // Command register, soft-reset state, busy.
  // ---------------------------------------------------------------------------------------------
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      c_valid <= 1'b0;
      tq_wp   <= '0;
      ab_mode <= 1'b0;
    end else begin
      if (c_push) begin
        c_valid <= 1'b0;
        tq_wp   <= tq_wp + 1'b1;
      end
      if (cmd_valid && cmd_ready) c_valid <= 1'b1;
      if (ab_mode && rq_empty) ab_mode <= 1'b0;
      if (soft_reset) begin
        c_valid <= 1'b0;
        tq_wp   <= '0;
        ab_mode <= 1'b1;
      end
    end
  end

  assign busy = ab_mode || c_valid || (tq_wp != r_p) || !rq_empty || s_valid || done_valid;

  // ---------------------------------------------------------------------------------------------
  // Counters: beats = R handshakes, bursts = AR handshakes, stall = cycles with rready high,
  // rvalid low and at least one accepted AR whose last R beat has not arrived.
  // ---------------------------------------------------------------------------------------------
  logic [RQI:0] inflight;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      inflight <= '0;
    end else begin
      inflight <= inflight + (RQI+1)'(m_axi_arvalid && m_axi_arready) - (RQI+1)'(rq_pop);
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n || cnt_clear) begin
      cnt_beats  <= '0;
      cnt_bursts <= '0;
      cnt_stall  <= '0;
    end else begin
      if (rfire)                          cnt_beats  <= cnt_beats + CNT_W'(1);
      if (m_axi_arvalid && m_axi_arready) cnt_bursts <= cnt_bursts + CNT_W'(1);
      if (m_axi_rready && !m_axi_rvalid && (inflight != '0))
        cnt_stall <= cnt_stall + CNT_W'(1);
    end
  end

endmodule

`default_nettype wire
