// EF-Train, open: simulation harness of eftrain_engine: a program player (simulation only).
//
// Python (tb/engine/driver.py) writes a program, one 128-bit op per line in hex, and pulses
// `start`; the player reads it with $readmemh and executes the ops in order against the engine's
// ports, one handshake per cycle at most, then writes the unload responses and a log of every
// command and raises `prog_done`. No Python runs per cycle.
//
// Ops: 128 + 32*WPB bits, a 128-bit header h = op[OPW-1 -: 128] and a payload of WPB words
// (word w at op[32*w +: 32]). Header bit positions (driver.Program builds them):
//   [127:124] opcode: 0 END, 1 LD, 2 CMD, 3 WAIT, 4 RD, 5 MARK
//   LD    [123:122] buf [121] bank [120:113] lane [112:105] col [104:102] k [101:99] kh
//         [98:96] kw [95] flip [94] fill [79:64] addr [63:48] count [15:0] mask;
//         payload: the beat                                        -> one load-port beat
//   CMD   [123:121] mode [120:118] k [117:115] stride [114] in_bank [113] out_bank
//         [112:111] acc_init [103:96] wu_t0 [95:80] w_base [79:64] cols_in
//         [63:48] rows_out [47:32] cols_out [31:16] in_base [15:0] out_base -> one command
//   WAIT  wait for the done pulse of the last command; log {err, done_cycles, measured cycles}
//   RD    [123:122] buf [121] bank [120:113] lane [112:105] col [79:64] addr [15:0] mask
//                                                                  -> one unload request
//   MARK  log the player's cycle counter (mark.hex): port timing is measured between marks
//   END   wait for every response and for a fill in progress, write the files, raise prog_done
// LD, CMD and RD do not wait for each other's completion: a LD after a CMD loads while the
// command runs (the engine's ready signals stall what conflicts).
//
// Handshake stress (set before `start`, reproducible): each source (ld, cmd, rd) is idle in a
// cycle with probability idle_16/16, the response sink stalls with probability bp_16/16, both
// drawn from a 32-bit LFSR seeded with lfsr_seed.
//
// Files (plusargs, defaults in the simulator's working directory):
//   +prog=<file> (prog.hex)  +rsp=<file> (rsp.hex: one response beat per line,
//   {32'(rd_rsp_mask), rd_rsp_data}: 32*(WPB+1) bits)
//   +log=<file> (log.hex: one 96-bit word per WAIT: {err, done_cycles, measured})
//   +mark=<file> (mark.hex: one 32-bit cycle count per MARK)

`timescale 1ns / 1ps
`default_nettype none

module engine_tb #(
  parameter int TM        = 4,
  parameter int TN        = 4,
  parameter int ACC_L     = 4,
  parameter int MUL_LAT   = 2,
  parameter int ADD_LAT   = 3,
  parameter int IN_DEPTH  = 2048,
  parameter int OUT_DEPTH = 1024,
  parameter int W_DEPTH   = 512,
  parameter int WPB       = 4,
  parameter int MAX_PROG  = 1 << 18,
  parameter int MAX_RSP   = 1 << 17,
  parameter int MAX_LOG   = 1 << 12
) (
  input  wire logic        clk,
  input  wire logic        rst_n,
  input  wire logic        start,
  input  wire logic [3:0]  idle_16,
  input  wire logic [3:0]  bp_16,
  input  wire logic [31:0] lfsr_seed,
  output      logic        prog_done,
  output      logic [31:0] pc,
  output      logic [31:0] n_rsp,
  output      logic [31:0] n_log
);

  localparam logic [3:0] OP_END  = 4'd0;
  localparam logic [3:0] OP_LD   = 4'd1;
  localparam logic [3:0] OP_CMD  = 4'd2;
  localparam logic [3:0] OP_WAIT = 4'd3;
  localparam logic [3:0] OP_RD   = 4'd4;
  localparam logic [3:0] OP_MARK = 4'd5;

  localparam int PLW  = 32 * WPB;        // payload bits
  localparam int OPW  = 128 + PLW;       // op bits
  localparam int RSPW = 32 + PLW;        // response record bits

  logic [OPW-1:0]  prog    [MAX_PROG];
  logic [RSPW-1:0] rsp_mem [MAX_RSP];
  logic [95:0]     log_mem [MAX_LOG];
  logic [31:0]     mark_mem [MAX_LOG];

  string prog_file, rsp_file, log_file, mark_file;
  initial begin
    if (!$value$plusargs("prog=%s", prog_file)) prog_file = "prog.hex";
    if (!$value$plusargs("rsp=%s", rsp_file))   rsp_file  = "rsp.hex";
    if (!$value$plusargs("log=%s", log_file))   log_file  = "log.hex";
    if (!$value$plusargs("mark=%s", mark_file)) mark_file = "mark.hex";
  end

  // Engine.
  logic        cmd_valid, cmd_ready;
  logic        busy, done;
  logic [3:0]  done_err;
  logic [31:0] done_cycles;
  logic        ld_valid, ld_ready;
  logic        rd_req_valid, rd_req_ready;
  logic        rd_rsp_valid, rd_rsp_ready;
  logic [PLW-1:0] rd_rsp_data;
  logic [WPB-1:0] rd_rsp_mask;
  logic        fill_busy;
  logic [OPW-1:0] opw;
  logic [127:0] op;          // the header
  logic [PLW-1:0] pl;        // the payload
  logic [3:0]  opc;
  logic        running;

  assign opw = prog[pc[$clog2(MAX_PROG)-1:0]];
  assign op  = opw[OPW-1 -: 128];
  assign pl  = opw[PLW-1:0];
  assign opc = op[127:124];

  eftrain_engine #(
    .TM(TM), .TN(TN), .ACC_L(ACC_L), .MUL_LAT(MUL_LAT), .ADD_LAT(ADD_LAT),
    .IN_DEPTH(IN_DEPTH), .OUT_DEPTH(OUT_DEPTH), .W_DEPTH(W_DEPTH), .WPB(WPB)
  ) u_engine (
    .clk          (clk),
    .rst_n        (rst_n),
    .cmd_valid    (cmd_valid),
    .cmd_ready    (cmd_ready),
    .cmd_mode     (op[123:121]),
    .cmd_k        (op[120:118]),
    .cmd_stride   (op[117:115]),
    .cmd_rows_out (op[63:48]),
    .cmd_cols_out (op[47:32]),
    .cmd_cols_in  (op[79:64]),
    .cmd_in_bank  (op[114]),
    .cmd_out_bank (op[113]),
    .cmd_in_base  (op[31:16]),
    .cmd_out_base (op[15:0]),
    .cmd_w_base   (op[95:80]),
    .cmd_acc_init (op[112:111]),
    .cmd_wu_t0    (op[103:96]),
    .busy         (busy),
    .done         (done),
    .done_err     (done_err),
    .done_cycles  (done_cycles),
    .mac_active   (),
    .ld_valid     (ld_valid),
    .ld_ready     (ld_ready),
    .ld_buf       (op[123:122]),
    .ld_bank      (op[121]),
    .ld_lane      (op[120:113]),
    .ld_col       (op[112:105]),
    .ld_k         (op[104:102]),
    .ld_kh        (op[101:99]),
    .ld_kw        (op[98:96]),
    .ld_flip      (op[95]),
    .ld_addr      (op[79:64]),
    .ld_mask      (op[WPB-1:0]),
    .ld_data      (pl),
    .ld_fill      (op[94]),
    .ld_count     (op[63:48]),
    .fill_busy    (fill_busy),
    .rd_req_valid (rd_req_valid),
    .rd_req_ready (rd_req_ready),
    .rd_req_buf   (op[123:122]),
    .rd_req_bank  (op[121]),
    .rd_req_lane  (op[120:113]),
    .rd_req_col   (op[112:105]),
    .rd_req_addr  (op[79:64]),
    .rd_req_mask  (op[WPB-1:0]),
    .rd_rsp_valid (rd_rsp_valid),
    .rd_rsp_ready (rd_rsp_ready),
    .rd_rsp_data  (rd_rsp_data),
    .rd_rsp_mask  (rd_rsp_mask)
  );

  // Handshake stress.
  logic [31:0] lfsr;
  logic        src_idle, sink_stall;
  always_ff @(posedge clk) begin
    if (!rst_n || start) lfsr <= (lfsr_seed == 32'd0) ? 32'h1D87_2B41 : lfsr_seed;
    else                 lfsr <= {1'b0, lfsr[31:1]} ^ (lfsr[0] ? 32'h8020_0003 : 32'h0);
  end
  assign src_idle   = ({28'd0, lfsr[7:4]}  < {28'd0, idle_16});
  assign sink_stall = ({28'd0, lfsr[11:8]} < {28'd0, bp_16});

  assign ld_valid     = running && opc == OP_LD  && !src_idle;
  assign cmd_valid    = running && opc == OP_CMD && !src_idle;
  assign rd_req_valid = running && opc == OP_RD  && !src_idle;
  assign rd_rsp_ready = !sink_stall;

  // Player.
  logic [31:0] cyc, t_acc, n_req, n_mark;
  logic        done_seen;
  logic [31:0] meas_q;
  logic        advance;
  logic [31:0] meas_now;

  assign meas_now = done ? cyc - t_acc : meas_q;
  always_comb begin
    advance = 1'b0;
    if (running) begin
      unique case (opc)
        OP_LD:   advance = ld_valid && ld_ready;
        OP_CMD:  advance = cmd_valid && cmd_ready;
        OP_RD:   advance = rd_req_valid && rd_req_ready;
        OP_WAIT: advance = done_seen || done;
        OP_MARK: advance = 1'b1;
        default: advance = 1'b0;
      endcase
    end
  end

  always @(posedge clk) begin
    if (!rst_n) begin
      running   <= 1'b0;
      prog_done <= 1'b0;
      pc        <= '0;
      n_rsp     <= '0;
      n_req     <= '0;
      n_log     <= '0;
      n_mark    <= '0;
      cyc       <= '0;
      done_seen <= 1'b0;
      t_acc     <= '0;
      meas_q    <= '0;
    end else begin
      cyc <= cyc + 32'd1;
      if (start) begin
        $readmemh(prog_file, prog);
        running   <= 1'b1;
        prog_done <= 1'b0;
        pc        <= '0;
        n_rsp     <= '0;
        n_req     <= '0;
        n_log     <= '0;
        n_mark    <= '0;
      end else begin
        if (done) begin
          done_seen <= 1'b1;
          meas_q    <= cyc - t_acc;
        end
        if (cmd_valid && cmd_ready) begin
          t_acc     <= cyc;
          done_seen <= 1'b0;
        end
        if (rd_req_valid && rd_req_ready) n_req <= n_req + 32'd1;
        if (rd_rsp_valid && rd_rsp_ready) begin
          rsp_mem[n_rsp[$clog2(MAX_RSP)-1:0]] <= {32'(rd_rsp_mask), rd_rsp_data};
          n_rsp <= n_rsp + 32'd1;
        end
        if (advance) begin
          pc <= pc + 32'd1;
          if (opc == OP_WAIT) begin
            log_mem[n_log[$clog2(MAX_LOG)-1:0]] <= {28'd0, done_err, done_cycles, meas_now};
            n_log     <= n_log + 32'd1;
            done_seen <= 1'b0;
          end
          if (opc == OP_MARK) begin
            mark_mem[n_mark[$clog2(MAX_LOG)-1:0]] <= cyc;
            n_mark <= n_mark + 32'd1;
          end
        end
        if (running && opc == OP_END && n_rsp == n_req && !busy && !fill_busy) begin
          if (n_rsp != 0) $writememh(rsp_file, rsp_mem, 0, n_rsp - 1);
          if (n_log != 0) $writememh(log_file, log_mem, 0, n_log - 1);
          if (n_mark != 0) $writememh(mark_file, mark_mem, 0, n_mark - 1);
          running   <= 1'b0;
          prog_done <= 1'b1;
        end
      end
    end
  end

endmodule

`default_nettype wire
