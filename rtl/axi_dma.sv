// EF-Train, open: the AXI4 DMA master of the accelerator (one AXI4 master, read and write).
//
// Moves runs of 32-bit words between DRAM and two word streams: a read half (axi_dma_rd: AR/R)
// and a write half (axi_dma_wr: AW/W/B) that run independently and share only the memory window
// and the soft reset. Every command is checked against the window before any AXI request of it.
//
// Parameters
//   DATA_W           AXI data width: 32, 64, 128 (default, 4 FP32 words per beat), 256 or 512
//                    (AXI widths are powers of two). WPB = DATA_W/32 words per beat.
//   ADDR_W           AXI byte-address bits, 12..64 (default 40, the ZynqMP HP ports)
//   ID_W             AXI ID bits (all requests use AXI_ID: one ID per direction, in order)
//   LEN_W            bits of a command length (counted in 32-bit words), >= 12 (default 32)
//   MAX_BURST        beats per burst, 1..256 (AXI4 INCR limit; default 256)
//   MAX_OUTSTANDING  bursts committed per direction and not yet completed (reads: AR committed,
//                    last R beat not yet received; writes: AW committed, B not yet received),
//                    >= 1 (default 8)
//   QUEUE_DEPTH      commands per direction in flight at once (accepted, not yet completed),
//                    a power of two >= 2 (default 4). Lets the next command's bursts start while
//                    the previous one's data is still moving.
//   CNT_W            performance-counter bits (default 32, they wrap)
//   AXI_ID, AXI_CACHE (default 4'b0011: normal non-cacheable bufferable), AXI_PROT (3'b000)
//                    constant AXI attributes. AxLOCK = 0, AxQOS = 0, AxBURST = INCR,
//                    AxSIZE = log2(DATA_W/8) (full-width beats).
//
// Commands (rd_cmd_*, wr_cmd_*; valid/ready)
//   addr  byte address of the first word, a multiple of 4 (a command need not be beat-aligned)
//   len   number of 32-bit words, >= 1
//   Check (axi_dma_check, in this order): len = 0 -> ZERO_LENGTH; addr not a multiple of 4 ->
//   MISALIGNED; [addr, addr + 4*len) not inside [win_base, win_limit) -> OUT_OF_WINDOW. A command
//   that fails issues no AXI transaction at all and completes, in command order, with its code.
//   win_base / win_limit are sampled when a command is checked (the cycle after it is accepted).
//   Up to QUEUE_DEPTH commands per direction are in flight; completions come in command order.
//
// Bursts: a transfer covers AXI beats floor(addr / BYTES) .. floor((addr + 4*len - 1) / BYTES)
//   (BYTES = DATA_W/8). They are split into INCR bursts of min(MAX_BURST, beats left, beats to
//   the next 4 KiB boundary) beats, so no burst crosses 4 KiB. The first burst's AxADDR is addr
//   itself (an unaligned start address when addr is not beat-aligned, as AXI allows; its WSTRB
//   covers only the transfer's words), every later burst starts on a beat boundary. Writes never
//   touch a byte outside [addr, addr + 4*len). A read returns whole beats, so when the window
//   edges are not beat-aligned the first/last beat of a read may cover bytes next to the window
//   (read, dropped, never written); keep win_base/win_limit beat-aligned (64-byte alignment
//   serves every DATA_W) if that matters. Reads keep up to MAX_OUTSTANDING bursts in flight;
//   writes commit AW ahead of the W data (up to MAX_OUTSTANDING bursts without B), and send a
//   burst's W beats only after its AW is committed (awvalid raised, possibly not yet accepted).
//   Bursts follow each other without idle cycles while the slave and the streams allow.
//
// Word streams (packed; "word k" = the k-th 32-bit word of the transfer, at addr + 4k)
//   Stream beat i carries words i*WPB .. i*WPB + WPB-1 in lanes 0..WPB-1 (lane j = bits
//   32j+31:32j), whatever the address alignment: the DMA realigns. A transfer of len words is
//   ceil(len / WPB) stream beats; only the last one can be partial, with its words in the low
//   lanes.
//   Read stream  rds_valid/rds_ready, rds_data, rds_keep[WPB] (word j valid; all ones except on
//                the last beat, where it is 2^r - 1 with r = words in that beat), rds_last on the
//                last beat of each command, rds_err.
//                Every read command ends with exactly one rds_last beat:
//                  success:        the last data beat, rds_err = 0;
//                  failed check or AXI error: one extra beat with rds_last = 1, rds_err = 1,
//                  rds_keep = 0 (no data). After an AXI error the beats already delivered hold
//                  correct words 0..k-1, and nothing else of that command follows.
//   Write stream wrs_valid/wrs_ready, wrs_data: a write command takes exactly ceil(len / WPB)
//                beats, packed as above; lanes past the end of the last beat are ignored. No
//                last/keep inputs: the length comes from the command. A command that fails its
//                check takes no data (the producer must not send any for it); after an AXI
//                error the command still takes (and drops) the rest of its beats, so the
//                stream stays aligned with the commands.
//   On the AXI side the first and last beat of a write carry word-granular WSTRB (only the
//   transfer's words are written; never a byte outside [addr, addr + 4*len)); read lanes outside
//   the transfer are dropped.
//
// Completion (rd_done_*, wr_done_*; valid/ready, one per command, in command order)
//   status  0 OK, 1 ZERO_LENGTH, 2 MISALIGNED, 3 OUT_OF_WINDOW,
//           4 SLVERR (RRESP/BRESP = 2'b10), 5 DECERR (2'b11)   (EXOKAY is treated as OKAY)
//   addr    SLVERR/DECERR: reads: the beat-aligned address of the first AXI beat that returned
//           the error; writes: the address of the burst whose B returned the first error (as on
//           AWADDR). Failed check: the command's address. OK: 0.
//   Reads complete when the command's last stream beat has entered the output buffer (before
//   the consumer takes it); writes complete after the command's last B response (and after all
//   its input beats are consumed).
//
// AXI error responses (SLVERR/DECERR) abort the command they belong to: its remaining bursts are
//   not issued (an AR/AW already presented with valid stays until accepted), every response of
//   its issued bursts is still accepted (R beats dropped), the W beats owed to its issued bursts
//   are sent with WSTRB = 0, the rest of its write-stream beats are taken and dropped, and the
//   completion reports the first error. Other commands in the queue are not affected, and the
//   DMA accepts new commands throughout (no soft reset needed).
//
// Soft reset (input soft_reset: an abort; synchronous, level-sensitive, one cycle is enough)
//   At the first edge with soft_reset high: every queued command is dropped without completion
//   (rd/wr_done_valid and rds_valid fall; the beat/done handshakes of that very cycle still
//   happen), no new AR/AW is committed, cmd_ready is low. Then the DMA drains the AXI bus
//   legally: an AR/AW already presented stays until accepted; every R beat of issued reads is
//   accepted and dropped; every W beat owed to issued writes is sent (beats already in the W
//   output buffer with their data, the rest with WSTRB = 0 and data 0); every B is accepted.
//   The write stream is not read during the drain. rd_busy / wr_busy stay high until the drain
//   is complete and soft_reset is low; then the DMA is idle and takes commands again.
//
// Performance counters (count from reset or cnt_clear; they wrap)
//   cnt_rd_beats / cnt_wr_beats    R / W handshakes (including dropped and zero-strobe beats)
//   cnt_rd_bursts / cnt_wr_bursts  AR / AW handshakes
//   cnt_rd_stall  cycles with rready high, rvalid low, and at least one accepted AR whose last R
//                 beat has not arrived (the DMA wants read data, the memory does not deliver)
//   cnt_wr_stall  cycles with wvalid high and wready low (the DMA has write data, the memory
//                 does not take it)
//
// busy: rd_busy / wr_busy are high while any command, burst, stream beat or completion of that
// direction is pending, and during a soft-reset drain.

`default_nettype none

module axi_dma #(
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

  // Memory window: every transfer must lie in [win_base, win_limit).
  input  wire logic [ADDR_W-1:0]     win_base,
  input  wire logic [ADDR_W-1:0]     win_limit,

  // Read command, read-data stream, read completion.
  input  wire logic                  rd_cmd_valid,
  output      logic                  rd_cmd_ready,
  input  wire logic [ADDR_W-1:0]     rd_cmd_addr,
  input  wire logic [LEN_W-1:0]      rd_cmd_len,
  output      logic                  rds_valid,
  input  wire logic                  rds_ready,
  output      logic [DATA_W-1:0]     rds_data,
  output      logic [DATA_W/32-1:0]  rds_keep,
  output      logic                  rds_last,
  output      logic                  rds_err,
  output      logic                  rd_done_valid,
  input  wire logic                  rd_done_ready,
  output      logic [3:0]            rd_done_status,
  output      logic [ADDR_W-1:0]     rd_done_addr,
  output      logic                  rd_busy,

  // Write command, write-data stream, write completion.
  input  wire logic                  wr_cmd_valid,
  output      logic                  wr_cmd_ready,
  input  wire logic [ADDR_W-1:0]     wr_cmd_addr,
  input  wire logic [LEN_W-1:0]      wr_cmd_len,
  input  wire logic                  wrs_valid,
  output      logic                  wrs_ready,
  input  wire logic [DATA_W-1:0]     wrs_data,
  output      logic                  wr_done_valid,
  input  wire logic                  wr_done_ready,
  output      logic [3:0]            wr_done_status,
  output      logic [ADDR_W-1:0]     wr_done_addr,
  output      logic                  wr_busy,

  // Performance counters.
  input  wire logic                  cnt_clear,
  output      logic [CNT_W-1:0]      cnt_rd_beats,
  output      logic [CNT_W-1:0]      cnt_wr_beats,
  output      logic [CNT_W-1:0]      cnt_rd_bursts,
  output      logic [CNT_W-1:0]      cnt_wr_bursts,
  output      logic [CNT_W-1:0]      cnt_rd_stall,
  output      logic [CNT_W-1:0]      cnt_wr_stall,

  // AXI4 master.
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
  input  wire logic [ID_W-1:0]       m_axi_bid,
  input  wire logic [1:0]            m_axi_bresp,
  input  wire logic                  m_axi_bvalid,
  output      logic                  m_axi_bready,
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
  input  wire logic [ID_W-1:0]       m_axi_rid,
  input  wire logic [DATA_W-1:0]     m_axi_rdata,
  input  wire logic [1:0]            m_axi_rresp,
  input  wire logic                  m_axi_rlast,
  input  wire logic                  m_axi_rvalid,
  output      logic                  m_axi_rready
);

  axi_dma_rd #(
    .DATA_W          (DATA_W),
    .ADDR_W          (ADDR_W),
    .ID_W            (ID_W),
    .LEN_W           (LEN_W),
    .MAX_BURST       (MAX_BURST),
    .MAX_OUTSTANDING (MAX_OUTSTANDING),
    .QUEUE_DEPTH     (QUEUE_DEPTH),
    .CNT_W           (CNT_W),
    .AXI_ID          (AXI_ID),
    .AXI_CACHE       (AXI_CACHE),
    .AXI_PROT        (AXI_PROT)
  ) u_rd (
    .clk           (clk),
    .rst_n         (rst_n),
    .soft_reset         (soft_reset),
    .win_base      (win_base),
    .win_limit     (win_limit),
    .cmd_valid     (rd_cmd_valid),
    .cmd_ready     (rd_cmd_ready),
    .cmd_addr      (rd_cmd_addr),
    .cmd_len       (rd_cmd_len),
    .s_valid       (rds_valid),
    .s_ready       (rds_ready),
    .s_data        (rds_data),
    .s_keep        (rds_keep),
    .s_last        (rds_last),
    .s_err         (rds_err),
    .done_valid    (rd_done_valid),
    .done_ready    (rd_done_ready),
    .done_status   (rd_done_status),
    .done_addr     (rd_done_addr),
    .busy          (rd_busy),
    .m_axi_arid    (m_axi_arid),
    .m_axi_araddr  (m_axi_araddr),
    .m_axi_arlen   (m_axi_arlen),
    .m_axi_arsize  (m_axi_arsize),
    .m_axi_arburst (m_axi_arburst),
    .m_axi_arlock  (m_axi_arlock),
    .m_axi_arcache (m_axi_arcache),
    .m_axi_arprot  (m_axi_arprot),
    .m_axi_arqos   (m_axi_arqos),
    .m_axi_arvalid (m_axi_arvalid),
    .m_axi_arready (m_axi_arready),
    .m_axi_rid     (m_axi_rid),
    .m_axi_rlast   (m_axi_rlast),
    .m_axi_rresp   (m_axi_rresp),
    .m_axi_rdata   (m_axi_rdata),
    .m_axi_rvalid  (m_axi_rvalid),
    .m_axi_rready  (m_axi_rready),
    .cnt_clear     (cnt_clear),
    .cnt_beats     (cnt_rd_beats),
    .cnt_bursts    (cnt_rd_bursts),
    .cnt_stall     (cnt_rd_stall)
  );

  axi_dma_wr #(
    .DATA_W          (DATA_W),
    .ADDR_W          (ADDR_W),
    .ID_W            (ID_W),
    .LEN_W           (LEN_W),
    .MAX_BURST       (MAX_BURST),
    .MAX_OUTSTANDING (MAX_OUTSTANDING),
    .QUEUE_DEPTH     (QUEUE_DEPTH),
    .CNT_W           (CNT_W),
    .AXI_ID          (AXI_ID),
    .AXI_CACHE       (AXI_CACHE),
    .AXI_PROT        (AXI_PROT)
  ) u_wr (
    .clk           (clk),
    .rst_n         (rst_n),
    .soft_reset         (soft_reset),
    .win_base      (win_base),
    .win_limit     (win_limit),
    .cmd_valid     (wr_cmd_valid),
    .cmd_ready     (wr_cmd_ready),
    .cmd_addr      (wr_cmd_addr),
    .cmd_len       (wr_cmd_len),
    .s_valid       (wrs_valid),
    .s_ready       (wrs_ready),
    .s_data        (wrs_data),
    .done_valid    (wr_done_valid),
    .done_ready    (wr_done_ready),
    .done_status   (wr_done_status),
    .done_addr     (wr_done_addr),
    .busy          (wr_busy),
    .m_axi_awid    (m_axi_awid),
    .m_axi_awaddr  (m_axi_awaddr),
    .m_axi_awlen   (m_axi_awlen),
    .m_axi_awsize  (m_axi_awsize),
    .m_axi_awburst (m_axi_awburst),
    .m_axi_awlock  (m_axi_awlock),
    .m_axi_awcache (m_axi_awcache),
    .m_axi_awprot  (m_axi_awprot),
    .m_axi_awqos   (m_axi_awqos),
    .m_axi_awvalid (m_axi_awvalid),
    .m_axi_awready (m_axi_awready),
    .m_axi_wdata   (m_axi_wdata),
    .m_axi_wstrb   (m_axi_wstrb),
    .m_axi_wlast   (m_axi_wlast),
    .m_axi_wvalid  (m_axi_wvalid),
    .m_axi_wready  (m_axi_wready),
    .m_axi_bid     (m_axi_bid),
    .m_axi_bresp   (m_axi_bresp),
    .m_axi_bvalid  (m_axi_bvalid),
    .m_axi_bready  (m_axi_bready),
    .cnt_clear     (cnt_clear),
    .cnt_beats     (cnt_wr_beats),
    .cnt_bursts    (cnt_wr_bursts),
    .cnt_stall     (cnt_wr_stall)
  );

endmodule

`default_nettype wire
