// EF-Train, open: the write half of the AXI4 DMA (axi_dma): AW/W/B channels, command queue,
// word realignment with word-granular strobes, write-data stream and completion.
//
// The contract (command, stream, status codes, errors, soft reset, counters) is documented in
// axi_dma.sv; this header describes how the write half implements it.
//
// Structure (pointers into a QUEUE_DEPTH-entry transfer table, each with a wrap bit)
//
//   cmd -> [C] check stage --push--> transfer table --aw_p--> AW generator --> AW channel
//                                        |   |                    | one wq entry per burst
//                                        |   +--w_p--> W generator <-- wq (w_rp) --> W skid --> W
//                                        +------b_p--> B side <------- wq (b_rp) <-- B channel
//
//   AW  bursts of min(remaining beats, MAX_BURST, beats to the next 4 KiB boundary), the first
//       at the command address, the others at beat boundaries; a burst is committed (awvalid
//       set, an entry {beats-1, transfer tag, address} pushed into wq) when the AW register is
//       free and fewer than MAX_OUTSTANDING bursts are committed without their B response. AW
//       runs ahead of W.
//   W   the W generator sends the beats of the wq bursts in order (only bursts whose AW is
//       committed), realigning the packed input words to their lanes: AXI beat b of a transfer
//       with start lane s = ({in[b], in[b-1]} >> 32*(WPB-s)), strobes only on the words of the
//       transfer. Every AXI beat but a possible extra final one consumes one input beat.
//   B   one B per wq entry, in order; the B side owns the entry at b_p and reports its
//       completion after the transfer's last B, once AW and W are done with it (all its input
//       beats consumed).
//
// Errors: a B with BRESP[1] set (SLVERR, DECERR) puts the transfer in error mode: the AW
// generator stops issuing its bursts (a committed AW still completes), the W beats still owed
// to its committed bursts go out with wstrb = 0, the rest of its input beats are accepted and
// dropped, all its B responses are accepted, then the done status reports the first error.
// Later queued commands are not affected. Soft reset: see axi_dma.sv.

`default_nettype none

module axi_dma_wr #(
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

  // Write-data stream.
  input  wire logic                  s_valid,
  output      logic                  s_ready,
  input  wire logic [DATA_W-1:0]     s_data,

  // Completion.
  output      logic                  done_valid,
  input  wire logic                  done_ready,
  output      logic [3:0]            done_status,
  output      logic [ADDR_W-1:0]     done_addr,

  output      logic                  busy,

  // AXI4 write address, write data and write response channels.
  output      logic [ID_W-1:0]       m_axi_awid,
  output      logic [ADDR_W-1:0]     m_axi_awaddr,
  output      logic [7:0]            m_axi_awlen,
  output      logic [2:0]            m_axi_awsize,
  output      logic [1:0]            m_axi_awburst,
  output      logic                  m_axi_awlock,
  output      logic [3:0]            m_axi_awcache,
  output      logic [2:0]            m_axi_awprot,
  output      logic [3:0]            m_axi_awqos,
  output      logic                  m_axi_awvalid,
  input  wire logic                  m_axi_awready,
  output      logic [DATA_W-1:0]     m_axi_wdata,
  output      logic [DATA_W/8-1:0]   m_axi_wstrb,
  output      logic                  m_axi_wlast,
  output      logic                  m_axi_wvalid,
  input  wire logic                  m_axi_wready,
  /* verilator lint_off UNUSEDSIGNAL */
  input  wire logic [ID_W-1:0]       m_axi_bid,     // one ID only: responses are in order
  input  wire logic [1:0]            m_axi_bresp,   // only bit 1 (SLVERR/DECERR) matters
  /* verilator lint_on UNUSEDSIGNAL */
  input  wire logic                  m_axi_bvalid,
  output      logic                  m_axi_bready,

  // Performance counters.
  input  wire logic                  cnt_clear,
  output      logic [CNT_W-1:0]      cnt_beats,
  output      logic [CNT_W-1:0]      cnt_bursts,
  output      logic [CNT_W-1:0]      cnt_stall
);

  // ---------------------------------------------------------------------------------------------
  // Constants.
  // ---------------------------------------------------------------------------------------------
  localparam int WPB      = DATA_W / 32;
  localparam int BYTES    = DATA_W / 8;
  localparam int BSH      = $clog2(BYTES);
  localparam int LSH      = $clog2(WPB);
  localparam int LW       = (WPB > 1) ? LSH : 1;
  localparam int BW       = LEN_W + 1;
  localparam int QW       = $clog2(QUEUE_DEPTH);
  localparam int WQI      = (MAX_OUTSTANDING > 2) ? $clog2(MAX_OUTSTANDING) : 1;
  localparam int WQD      = 1 << WQI;
  localparam int BEATS_4K = 4096 / BYTES;
  localparam int CW       = (BW > 13) ? BW : 13;

  localparam logic [3:0] ST_OK     = 4'd0;
  localparam logic [3:0] ST_SLVERR = 4'd4;
  localparam logic [3:0] ST_DECERR = 4'd5;

  logic ab_mode;

  // ---------------------------------------------------------------------------------------------
  // Command stage and transfer table.
  // ---------------------------------------------------------------------------------------------
  logic              c_valid;
  logic [ADDR_W-1:0] c_addr;
  logic [LEN_W-1:0]  c_len;
  logic [3:0]        c_status;
  logic              c_push;

  logic [QW:0] tq_wp, aw_p, w_p, b_p;
  logic        tq_full;

  assign tq_full   = ((tq_wp - b_p) == (QW+1)'(QUEUE_DEPTH));
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

  logic [LW-1:0]    c_s;       // start lane
  logic [LW-1:0]    c_e;       // end lane: (s + len - 1) mod WPB
  logic [BW-1:0]    c_beats;   // AXI beats
  logic [BW-1:0]    c_nin;     // input beats: ceil(len / WPB)
  logic [LEN_W+1:0] c_sum;

  always_comb begin
    c_s     = (WPB > 1) ? LW'(c_addr >> 2) : '0;
    c_sum   = (LEN_W+2)'(c_s) + (LEN_W+2)'(c_len) + (LEN_W+2)'(WPB - 1);
    c_beats = BW'(c_sum >> LSH);
    c_nin   = BW'(((LEN_W+2)'(c_len) + (LEN_W+2)'(WPB - 1)) >> LSH);
    c_e     = (WPB > 1) ? LW'((LEN_W+2)'(c_s) + (LEN_W+2)'(c_len) - (LEN_W+2)'(1)) : '0;
  end

  logic [ADDR_W-1:0] t_addr   [QUEUE_DEPTH];  // the command's address
  logic [BW-1:0]     t_beats  [QUEUE_DEPTH];
  logic [BW-1:0]     t_nin    [QUEUE_DEPTH];
  logic [LW-1:0]     t_s      [QUEUE_DEPTH];
  logic [LW-1:0]     t_e      [QUEUE_DEPTH];
  logic [3:0]        t_status [QUEUE_DEPTH];

  always_ff @(posedge clk) begin
    if (c_push) begin
      t_addr[tq_wp[QW-1:0]]   <= c_addr;
      t_beats[tq_wp[QW-1:0]]  <= c_beats;
      t_nin[tq_wp[QW-1:0]]    <= c_nin;
      t_s[tq_wp[QW-1:0]]      <= c_s;
      t_e[tq_wp[QW-1:0]]      <= c_e;
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
  // Burst queue wq: pushed when an AW is committed; w_rp pops after the burst's last W beat,
  // b_rp pops at its B response.
  // ---------------------------------------------------------------------------------------------
  logic [7:0]        wq_len  [WQD];
  logic [QW-1:0]     wq_tag  [WQD];
  logic [ADDR_W-1:0] wq_addr [WQD];
  logic [WQI:0]      wq_wp, w_rp, b_rp;
  logic              wq_room;

  assign wq_room = ((wq_wp - b_rp) < (WQI+1)'(MAX_OUTSTANDING));

  // ---------------------------------------------------------------------------------------------
  // AW generator.
  // ---------------------------------------------------------------------------------------------
  logic              ag_started;
  logic [ADDR_W-1:0] ag_addr;
  logic [BW-1:0]     ag_rem;
  logic              b_err;            // B side: the transfer at b_p is in error mode

  logic              ag_have, ag_stop, ag_issue, ag_skip, ag_lastb;
  logic [QW-1:0]     ag_i;
  logic [ADDR_W-1:0] ag_cur_addr;
  logic [BW-1:0]     ag_cur_rem;
  logic [CW-1:0]     ag_to4k, ag_lim, ag_blen;

  always_comb begin
    ag_i        = aw_p[QW-1:0];
    ag_have     = (aw_p != tq_wp) && !ab_mode;
    ag_stop     = b_err && (b_p == aw_p);
    ag_cur_addr = ag_started ? ag_addr : t_addr[ag_i];
    ag_cur_rem  = ag_started ? ag_rem : t_beats[ag_i];
    ag_to4k     = CW'(BEATS_4K) - CW'(ag_cur_addr[11:BSH]);
    ag_lim      = (ag_to4k < CW'(MAX_BURST)) ? ag_to4k : CW'(MAX_BURST);
    ag_blen     = (CW'(ag_cur_rem) < ag_lim) ? CW'(ag_cur_rem) : ag_lim;
    ag_lastb    = (CW'(ag_cur_rem) == ag_blen);
    ag_skip     = ag_have && ((t_status[ag_i] != ST_OK) || ag_stop);
    ag_issue    = ag_have && !ag_skip && (!m_axi_awvalid || m_axi_awready) && wq_room;
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      m_axi_awvalid <= 1'b0;
      ag_started    <= 1'b0;
      aw_p          <= '0;
      wq_wp         <= '0;
    end else begin
      if (m_axi_awready) m_axi_awvalid <= 1'b0;
      if (ag_issue) begin
        m_axi_awvalid <= 1'b1;
        wq_wp         <= wq_wp + 1'b1;
        if (ag_lastb) begin
          ag_started <= 1'b0;
          aw_p       <= aw_p + 1'b1;
        end else begin
          ag_started <= 1'b1;
        end
      end else if (ag_skip) begin
        ag_started <= 1'b0;
        aw_p       <= aw_p + 1'b1;
      end
      if (soft_reset) begin
        ag_started <= 1'b0;
        aw_p       <= '0;
      end
    end
  end

  always_ff @(posedge clk) begin
    if (ag_issue) begin
      m_axi_awaddr            <= ag_cur_addr;
      m_axi_awlen             <= 8'(ag_blen - CW'(1));
      ag_addr                 <= {ag_cur_addr[ADDR_W-1:BSH], BSH'(0)} + (ADDR_W'(ag_blen) << BSH);
      ag_rem                  <= ag_cur_rem - BW'(ag_blen);
      wq_len[wq_wp[WQI-1:0]]  <= 8'(ag_blen - CW'(1));
      wq_tag[wq_wp[WQI-1:0]]  <= ag_i;
      wq_addr[wq_wp[WQI-1:0]] <= ag_cur_addr;
    end
  end

  assign m_axi_awid    = AXI_ID;
  assign m_axi_awsize  = 3'(BSH);
  assign m_axi_awburst = 2'b01;      // INCR
  assign m_axi_awlock  = 1'b0;
  assign m_axi_awcache = AXI_CACHE;
  assign m_axi_awprot  = AXI_PROT;
  assign m_axi_awqos   = 4'd0;

  // ---------------------------------------------------------------------------------------------
  // W generator.
  // ---------------------------------------------------------------------------------------------
  logic [BW-1:0]     wb;           // AXI beat index within the transfer (normal mode)
  logic [BW-1:0]     in_cnt;       // input beats consumed for the transfer
  logic [7:0]        w_bcnt;       // beat index within the w_rp burst
  logic [DATA_W-1:0] w_prev;       // previous input beat

  logic [QW-1:0]     w_i;
  logic              w_have, w_aw_past, w_errm, whead_mine, wq_wpend;
  logic              w_final, w_need_in, w_blast;
  logic              w_room;       // W skid buffer can take a beat (a register)
  logic              p_valid;      // a W beat enters the skid buffer
  logic              p_normal;     // ... with data and strobes (else wstrb = 0)
  logic              w_finish;
  logic              s_fire;
  logic [DATA_W/32-1:0] p_wmask;
  logic [DATA_W-1:0] p_data;
  logic [2*DATA_W-1:0] w_cat;

  always_comb begin
    w_i        = w_p[QW-1:0];
    w_have     = (w_p != tq_wp) && !ab_mode;
    w_aw_past  = (aw_p != w_p);
    w_errm     = b_err && (b_p == w_p);
    wq_wpend   = (w_rp != wq_wp);
    whead_mine = wq_wpend && (wq_tag[w_rp[WQI-1:0]] == w_i);
    w_final    = (wb == t_beats[w_i] - BW'(1));
    w_need_in  = !(w_final && (t_beats[w_i] != t_nin[w_i]));
    w_blast    = (w_bcnt == wq_len[w_rp[WQI-1:0]]);

    w_cat  = {s_data, w_prev};
    p_data = w_cat[DATA_W - 32*t_s[w_i] +: DATA_W];
    for (int l = 0; l < WPB; l++)
      p_wmask[l] = ((wb != '0) || (LW'(l) >= t_s[w_i])) && (!w_final || (LW'(l) <= t_e[w_i]));

    s_ready  = 1'b0;
    p_valid  = 1'b0;
    p_normal = 1'b0;
    w_finish = 1'b0;

    if (ab_mode) begin
      p_valid = wq_wpend && w_room;                      // zero-strobe beats for what is owed
    end else if (w_have) begin
      if (t_status[w_i] != ST_OK) begin                  // rejected: nothing to send
        w_finish = w_aw_past;
      end else if (w_errm) begin
        if (whead_mine) begin
          p_valid = w_room;                              // owed beats, wstrb = 0
        end else if (w_aw_past) begin
          if (in_cnt != t_nin[w_i]) s_ready = 1'b1;       // drop the rest of the input
          else                      w_finish = 1'b1;
        end
      end else begin                                     // normal
        s_ready  = whead_mine && w_room && w_need_in;
        p_valid  = whead_mine && w_room && (!w_need_in || s_valid);
        p_normal = 1'b1;
        w_finish = p_valid && w_final;
      end
    end
    s_fire = s_valid && s_ready;
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      w_p    <= '0;
      wb     <= '0;
      in_cnt <= '0;
      w_bcnt <= '0;
      w_rp   <= '0;
    end else begin
      if (p_valid) begin
        if (w_blast) begin
          w_bcnt <= '0;
          w_rp   <= w_rp + 1'b1;
        end else begin
          w_bcnt <= w_bcnt + 8'd1;
        end
        if (p_normal) wb <= wb + BW'(1);
      end
      if (s_fire) in_cnt <= in_cnt + BW'(1);
      if (w_finish) begin
        w_p    <= w_p + 1'b1;
        wb     <= '0;
        in_cnt <= '0;
      end
      if (soft_reset) begin
        w_p    <= '0;
        wb     <= '0;
        in_cnt <= '0;
      end
    end
  end

  always_ff @(posedge clk) begin
    if (s_fire) w_prev <= s_data;
  end

  // W skid buffer (w_room is a register: m_axi_wready never reaches s_ready combinationally).
  logic                 k_valid, k_last;
  logic [DATA_W-1:0]    k_data;
  logic [DATA_W/8-1:0]  k_strb;
  logic [DATA_W/8-1:0]  p_strb;

  always_comb begin
    for (int l = 0; l < WPB; l++) p_strb[4*l +: 4] = {4{p_normal && p_wmask[l]}};
  end

  assign w_room = !k_valid;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      m_axi_wvalid <= 1'b0;
      k_valid      <= 1'b0;
    end else begin
      if (m_axi_wvalid && m_axi_wready) begin
        if (k_valid) begin
          m_axi_wvalid <= 1'b1;
          k_valid      <= 1'b0;
        end else begin
          m_axi_wvalid <= p_valid;
        end
      end else if (p_valid) begin
        if (m_axi_wvalid) k_valid      <= 1'b1;
        else              m_axi_wvalid <= 1'b1;
      end
    end
  end

  always_ff @(posedge clk) begin
    if (m_axi_wvalid && m_axi_wready) begin
      if (k_valid) begin
        m_axi_wdata <= k_data;
        m_axi_wstrb <= k_strb;
        m_axi_wlast <= k_last;
      end else begin
        m_axi_wdata <= p_normal ? p_data : '0;
        m_axi_wstrb <= p_strb;
        m_axi_wlast <= w_blast;
      end
    end else if (p_valid) begin
      if (m_axi_wvalid) begin
        k_data <= p_normal ? p_data : '0;
        k_strb <= p_strb;
        k_last <= w_blast;
      end else begin
        m_axi_wdata <= p_normal ? p_data : '0;
        m_axi_wstrb <= p_strb;
        m_axi_wlast <= w_blast;
      end
    end
  end

  // ---------------------------------------------------------------------------------------------
  // B side.
  // ---------------------------------------------------------------------------------------------
  logic [3:0]        b_estatus;
  logic [ADDR_W-1:0] b_eaddr;
  logic [QW-1:0]     b_i;
  logic              b_have, bhead_mine, bq_pend, b_fire, b_finish, d_free;

  always_comb begin
    b_i        = b_p[QW-1:0];
    b_have     = (b_p != tq_wp) && !ab_mode;
    bq_pend    = (b_rp != wq_wp);
    bhead_mine = bq_pend && (wq_tag[b_rp[WQI-1:0]] == b_i);
    m_axi_bready = ab_mode ? bq_pend : (b_have && bhead_mine);
    b_fire     = m_axi_bvalid && m_axi_bready;
    b_finish   = b_have && (aw_p != b_p) && (w_p != b_p) && !bhead_mine && d_free;
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      b_p   <= '0;
      b_rp  <= '0;
      b_err <= 1'b0;
    end else begin
      if (b_fire) b_rp <= b_rp + 1'b1;
      if (!ab_mode && b_fire && m_axi_bresp[1]) b_err <= 1'b1;
      if (b_finish) begin
        b_p   <= b_p + 1'b1;
        b_err <= 1'b0;
      end
      if (soft_reset) begin
        b_p   <= '0;
        b_err <= 1'b0;
      end
    end
  end

  always_ff @(posedge clk) begin
    if (!b_err && b_fire && m_axi_bresp[1]) begin
      b_estatus <= m_axi_bresp[0] ? ST_DECERR : ST_SLVERR;
      b_eaddr   <= wq_addr[b_rp[WQI-1:0]];
    end
  end

  // Done register.
  assign d_free = !done_valid;

  always_ff @(posedge clk) begin
    if (!rst_n || soft_reset) begin
      done_valid <= 1'b0;
    end else begin
      if (done_ready) done_valid <= 1'b0;
      if (b_finish)   done_valid <= 1'b1;
    end
  end

  always_ff @(posedge clk) begin
    if (b_finish) begin
      if (t_status[b_i] != ST_OK) begin
        done_status <= t_status[b_i];
        done_addr   <= t_addr[b_i];
      end else if (b_err) begin
        done_status <= b_estatus;
        done_addr   <= b_eaddr;
      end else begin
        done_status <= ST_OK;
        done_addr   <= '0;
      end
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
      if (ab_mode && !bq_pend) ab_mode <= 1'b0;
      if (soft_reset) begin
        c_valid <= 1'b0;
        tq_wp   <= '0;
        ab_mode <= 1'b1;
      end
    end
  end

  assign busy = ab_mode || c_valid || (tq_wp != b_p) || bq_pend || m_axi_wvalid || done_valid;

  // ---------------------------------------------------------------------------------------------
  // Counters: beats = W handshakes, bursts = AW handshakes, stall = cycles with wvalid high and
  // wready low.
  // ---------------------------------------------------------------------------------------------
  always_ff @(posedge clk) begin
    if (!rst_n || cnt_clear) begin
      cnt_beats  <= '0;
      cnt_bursts <= '0;
      cnt_stall  <= '0;
    end else begin
      if (m_axi_wvalid && m_axi_wready)   cnt_beats  <= cnt_beats + CNT_W'(1);
      if (m_axi_awvalid && m_axi_awready) cnt_bursts <= cnt_bursts + CNT_W'(1);
      if (m_axi_wvalid && !m_axi_wready)  cnt_stall  <= cnt_stall + CNT_W'(1);
    end
  end

endmodule

`default_nettype wire
