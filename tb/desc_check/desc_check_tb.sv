// EF-Train, open: testbench top for eftrain_desc_check (simulation only).
//
// One Verilated model holds NCFG configurations of the unit (a Verilator build costs far more than
// the runs): instance g_cfg[i] is a desc_check_stream with the parameters in slot i of the packed
// parameter vectors below (32 bits per configuration, slot i at [32*i +: 32]). All streams run at
// once from the same clock and reset; `finished` rises when every one has written its results.
// See desc_check_stream.sv for the stimulus, the files and the protocol checks.
//
// Parameters
//   NCFG                        number of configurations
//   P_TM, P_TN, P_ACC_L, P_IN_DEPTH, P_OUT_DEPTH, P_W_DEPTH, P_BUS_BITS, P_VU_DEPTH
//                               eftrain_desc_check's parameters, one 32-bit slot per configuration
//   EXP_LATENCY                 the documented start-to-done latency
//   MAX_VEC                     vector capacity of each stream

`default_nettype none

module desc_check_tb #(
  parameter int                NCFG        = 1,
  parameter logic [32*NCFG-1:0] P_TM        = {NCFG{32'd4}},
  parameter logic [32*NCFG-1:0] P_TN        = {NCFG{32'd4}},
  parameter logic [32*NCFG-1:0] P_ACC_L     = {NCFG{32'd4}},
  parameter logic [32*NCFG-1:0] P_IN_DEPTH  = {NCFG{32'd4096}},
  parameter logic [32*NCFG-1:0] P_OUT_DEPTH = {NCFG{32'd2048}},
  parameter logic [32*NCFG-1:0] P_W_DEPTH   = {NCFG{32'd1024}},
  parameter logic [32*NCFG-1:0] P_BUS_BITS  = {NCFG{32'd128}},
  parameter logic [32*NCFG-1:0] P_VU_DEPTH  = {NCFG{32'd4096}},
  parameter int                EXP_LATENCY = 8,
  parameter int                MAX_VEC     = 1 << 14
) (
  input  wire logic        clk,
  input  wire logic        rst_n,
  output      logic        finished,
  output      logic [31:0] n_done,         // results recorded, all streams
  output      logic [31:0] proto_errors    // protocol errors, all streams
);

  logic [NCFG-1:0] fin;
  logic [31:0]     inst_done [NCFG];
  logic [31:0]     inst_err  [NCFG];

  for (genvar i = 0; i < NCFG; i++) begin : g_cfg
    desc_check_stream #(
      .TM         (int'(P_TM[32*i +: 32])),
      .TN         (int'(P_TN[32*i +: 32])),
      .ACC_L      (int'(P_ACC_L[32*i +: 32])),
      .IN_DEPTH   (int'(P_IN_DEPTH[32*i +: 32])),
      .OUT_DEPTH  (int'(P_OUT_DEPTH[32*i +: 32])),
      .W_DEPTH    (int'(P_W_DEPTH[32*i +: 32])),
      .BUS_BITS   (int'(P_BUS_BITS[32*i +: 32])),
      .VU_DEPTH   (int'(P_VU_DEPTH[32*i +: 32])),
      .IDX        (i),
      .EXP_LATENCY(EXP_LATENCY),
      .MAX_VEC    (MAX_VEC)
    ) u_stream (
      .clk         (clk),
      .rst_n       (rst_n),
      .finished    (fin[i]),
      .n_done      (inst_done[i]),
      .proto_errors(inst_err[i])
    );
  end

  always_comb begin
    finished     = &fin;
    n_done       = '0;
    proto_errors = '0;
    for (int i = 0; i < NCFG; i++) begin
      n_done       = n_done + inst_done[i];
      proto_errors = proto_errors + inst_err[i];
    end
  end

endmodule

`default_nettype wire
