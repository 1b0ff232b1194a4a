// EF-Train, open: the unified training kernel (Vitis-HLS-style C++, checked bit-exact in C
// simulation against eftrain.golden.engine by tests/test_hls_csim.py).
//
// Compile with -ffp-contract=off and without -ffast-math: the order contract needs every
// multiply and every add rounded on its own (no FMA), with subnormals kept (SPEC section 4).
//
// Structure (one Tm x Tn multiply array, on-chip buffers sized by eftrain_params.h):
//
//   ibuf[TN][IN_DEPTH]       input tile: one channel block (TN lanes) of a row tile with its halo
//   obuf[TM][OUT_DEPTH]      output tile accumulators (FP/BP), the dy row tile (WU)
//   wbuf[TM][TN][W_DEPTH]    the weights of a chunk of reduction tiles (FP/BP), kept on chip for
//                            the whole batch; the L interleaved partial sums of dW of a chunk (WU)
//
// Tiling: the descriptor's (eftrain.tiling). The output map is cut into row tiles of `tr` rows
// (full width; the last one may be shorter), the reduction tiles (TN channels each) into weight
// chunks of `chunk` tiles (the last one may be shorter); validate() has checked that one row
// tile's input rows (with halo), its output pixels and one chunk's weights fit the buffers.
// A folded layer (H = W = K = S = 1, P = 0: every FC layer) runs as ONE image of 1 x batch
// pixels (the batch folded into the width), through the same loops; its DRAM layout is
// unchanged, only the word strides of the Map views differ.
//
// FP   for each output-channel tile mt, for each chunk of input-channel tiles: load the chunk's
//      weights once, then for each image b and row tile: start the accumulators (bias, -0.0,
//      or the previous chunk's partial sums read back from dst), and for each input-channel
//      tile nt of the chunk: load the input rows (with halo and zero padding), run the array
//      over kh, kw, pixels; store the tile.
// BP   the same engine on the zero-inserted, padded gradient map with the weights flipped
//      180 degrees and in/out swapped while they are loaded (DRAM weight layout unchanged).
// WU   for each output-channel tile mt, for each chunk of input-channel tiles nt: the chunk's
//      partial sums start at -0.0, the whole batch streams through (for each image and row
//      tile: load the dy tile once, then for each nt of the chunk its x tile; stream position
//      t = (b*OH + oh)*OW + ow selects partial t mod L), then for each nt a tree over the L
//      partials gives dW, written as one contiguous tile.
//
// Order contract (eftrain.golden.engine): every output element sees its products in the order
// (input-channel tile, kh, kw), each the tree_sum over TN lanes with zero lanes taking part;
// a dW element its products in stream order t, bank t mod L. The loops below run exactly that
// order per element, whatever the row tiling, the chunking or the folding.
//
// hls/README.md lists what synthesis still needs for RTL-like throughput (bursts, DATAFLOW).
#include "eftrain_kernel.h"

#ifndef __SYNTHESIS__
#include <cstdio>
#include <cstdlib>
#endif

#if defined(__FAST_MATH__)
#error "eftrain_kernel.cpp needs IEEE arithmetic: compile without -ffast-math (SPEC section 4)"
#endif

namespace eftrain {
namespace {

// ---------------------------------------------------------------------------------------------
// Basics

union Word {  // bit pattern <-> float (no arithmetic: NaN payloads, -0.0, subnormals survive)
  uint32_t u;
  float f;
};
inline float as_float(uint32_t u) {
  Word w;
  w.u = u;
  return w.f;
}
inline uint32_t as_bits(float f) {
  Word w;
  w.f = f;
  return w.u;
}

constexpr float POS_ZERO = 0.0f;   // padding, zero-inserted positions, unused lanes
constexpr float NEG_ZERO = -0.0f;  // initial accumulator without bias (-0.0 + s == s exactly)

inline int cdiv(int a, int b) { return (a + b - 1) / b; }
inline int imin(int a, int b) { return a < b ? a : b; }
inline uint64_t cdiv64(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

// a * b, saturated at 2^64 - 1 (sizes of 16-bit dimensions can exceed 64 bits; a saturated
// size is larger than any window, which is the verdict the unbounded integers of
// eftrain.descriptors give). Synthesis would use a wider ap_uint instead.
inline uint64_t sat_mul(uint64_t a, uint64_t b) {
  const uint64_t max = ~uint64_t(0);
  if (a != 0 && b > max / a) return max;
  return a * b;
}

// [addr, addr + size) not inside [base, limit): addr + size > limit without overflowing.
inline bool outside(uint64_t addr, uint64_t size, uint64_t base, uint64_t limit) {
  return addr < base || size > limit || addr > limit - size;
}

// ---------------------------------------------------------------------------------------------
// DRAM access. Every access goes through these two functions; in C simulation they check that
// the word lies in the program's memory window (SPEC section 8: the DMA never leaves it).

#ifndef __SYNTHESIS__
uint64_t g_win_lo = 0;  // window of the running program, in words: [g_win_lo, g_win_hi)
uint64_t g_win_hi = 0;
inline void csim_check(uint64_t word, const char *what) {
  if (word < g_win_lo || word >= g_win_hi) {
    std::fprintf(stderr, "eftrain_kernel: DRAM %s at byte 0x%llx outside the window\n", what,
                 static_cast<unsigned long long>(word * 4));
    std::abort();
  }
}
#endif

// A tile the loops are about to put in an on-chip buffer fits it (validate() has checked the
// descriptor's tiling with the rules of eftrain.tiling; in C simulation this proves that the
// rules and the loops agree: abort otherwise). Nothing in synthesis.
inline void buffer_check(int words, int depth, const char *what) {
#ifndef __SYNTHESIS__
  if (words < 0 || words > depth) {
    std::fprintf(stderr, "eftrain_kernel: %s of %d words per lane exceeds its buffer (%d)\n", what, words, depth);
    std::abort();
  }
#else
  (void)words;
  (void)depth;
  (void)what;
#endif
}

inline uint32_t dram_read_bits(const uint32_t *mem, uint64_t word) {
#ifndef __SYNTHESIS__
  csim_check(word, "read");
#endif
  return mem[word];
}
inline float dram_read(const uint32_t *mem, uint64_t word) { return as_float(dram_read_bits(mem, word)); }
inline void dram_write(uint32_t *mem, uint64_t word, float v) {
#ifndef __SYNTHESIS__
  csim_check(word, "write");
#endif
  mem[word] = as_bits(v);
}

// A feature map in the reshaped layout [B][ceil(C/TN)][H][W][TN], as the engine sees it: C
// channels of H x W pixels, with the word strides of an image, a channel block, a row and a
// column. word(b, c, h, w) is the DRAM word of channel c of pixel (h, w) of image b.
struct Map {
  uint64_t base;                // word address
  int C, H, W;                  // channels, rows, columns (folded: 1 row of `batch` columns)
  uint64_t img, blk, row, col;  // word strides
  uint64_t word(int b, int c, int h, int w) const {
    return base + uint64_t(b) * img + uint64_t(c / TN) * blk + uint64_t(h) * row + uint64_t(w) * col + c % TN;
  }
};

// The (B, C, H, W) map at word address `base`. Folded (H = W = 1): the engine sees one image of
// 1 x B pixels; pixel b of that row is image b's only pixel, ceil(C/TN) * TN words after the
// previous one (the DRAM layout is the same, only the strides differ).
Map fmap(uint64_t base, int B, int C, int H, int W, bool fold) {
  Map m;
  m.base = base;
  m.C = C;
  const uint64_t lanes = uint64_t(cdiv(C, TN)) * TN;  // words of one pixel over all channel blocks
  if (fold) {
    m.H = 1;
    m.W = B;
    m.img = 0;
    m.blk = TN;
    m.row = 0;
    m.col = lanes;
  } else {
    m.H = H;
    m.W = W;
    m.col = TN;
    m.row = uint64_t(W) * TN;
    m.blk = uint64_t(H) * m.row;
    m.img = lanes * H * W;
  }
  return m;
}

// Word of w[m][n][kh][kw] in the reshaped weight layout [ceil(M/TM)][ceil(N/TN)][K][K][TM][TN].
inline uint64_t weight_word(uint64_t base, int N, int K, int m, int n, int kh, int kw) {
  const uint64_t tile = uint64_t(m / TM) * cdiv(N, TN) + n / TN;
  return base + ((tile * K + kh) * K + kw) * (TM * TN) + (m % TM) * TN + n % TN;
}

// ---------------------------------------------------------------------------------------------
// The adder tree (golden tree_sum): adjacent pairs level by level; an odd last value passes to
// the next level unchanged (and stays last there). N = 5: ((v0+v1) + (v2+v3)) + v4.

constexpr int tree_levels(int n) { return n <= 1 ? 0 : 1 + tree_levels((n + 1) / 2); }

template <int N>
float tree_sum(const float v[N]) {
#pragma HLS INLINE
  float a[N];
#pragma HLS ARRAY_PARTITION variable=a complete
  for (int i = 0; i < N; ++i) {
#pragma HLS UNROLL
    a[i] = v[i];
  }
  int n = N;  // values left at this level (a compile-time constant per level once unrolled)
  for (int level = 0; level < tree_levels(N); ++level) {
#pragma HLS UNROLL
    for (int i = 0; i < N / 2; ++i) {
#pragma HLS UNROLL
      if (i < n / 2) a[i] = a[2 * i] + a[2 * i + 1];
    }
    if (n % 2) a[n / 2] = a[n - 1];
    n = (n + 1) / 2;
  }
  return a[0];
}

// ---------------------------------------------------------------------------------------------
// One layer phase, decoded.

enum Phase { PHASE_FP, PHASE_BP, PHASE_WU, PHASE_NONE };

Phase phase_of(uint32_t opcode) {
  switch (opcode) {
    case OP_CONV_FP:
    case OP_FC_FP:
      return PHASE_FP;
    case OP_CONV_BP:
    case OP_FC_BP:
      return PHASE_BP;
    case OP_CONV_WU:
    case OP_FC_WU:
      return PHASE_WU;
    default:
      return PHASE_NONE;
  }
}

bool is_fc(uint32_t opcode) { return opcode == OP_FC_FP || opcode == OP_FC_BP || opcode == OP_FC_WU; }

// Whether a layer runs with the batch folded into the width (eftrain.tiling.folded).
bool folded(const Desc &d) { return d.h == 1 && d.w == 1 && d.k == 1 && d.stride == 1 && d.pad == 0; }

// The tiling geometry of a descriptor whose other fields are legal (eftrain.tiling.phase_geometry):
// the output map (row-tiled, full width) and the input-buffer words per tile row.
struct Geometry {
  uint32_t rows;       // rows of the output map (FP y, BP dx, WU dy)
  uint32_t width;      // its width
  uint32_t buf_width;  // input-buffer words per tile row (FP/WU: W + 2P, BP: W + K - 1)
  uint32_t red_tiles;  // reduction tiles: ceil(N / TN) (FP, WU), ceil(M / TN) (BP)
};

Geometry geometry_of(const Desc &d, Phase ph) {
  const uint32_t oh = (d.h + 2 * d.pad - d.k) / d.stride + 1;
  const uint32_t ow = (d.w + 2 * d.pad - d.k) / d.stride + 1;
  const bool fold = folded(d);
  Geometry g;
  if (ph == PHASE_BP) {
    g.rows = fold ? 1 : d.h;
    g.width = fold ? d.batch : d.w;
    g.buf_width = fold ? d.batch : d.w + d.k - 1;
    g.red_tiles = uint32_t(cdiv64(d.m, TN));
  } else {
    g.rows = fold ? 1 : oh;
    g.width = fold ? d.batch : ow;
    g.buf_width = fold ? d.batch : d.w + 2 * d.pad;
    g.red_tiles = uint32_t(cdiv64(d.n, TN));
  }
  return g;
}

struct Layer {
  Phase phase;
  bool bias;
  int B, M, N, H, W, K, S, P, OH, OW;  // as the engine sees them (folded: B = 1, H = OH = 1, W = OW = batch)
  int tr, chunk;                       // the descriptor's tiling
  Map x;                               // N channels, H x W: FP x, BP dx, WU x
  Map y;                               // M channels, OH x OW: FP y, BP dy, WU dy
  uint64_t wts;                        // word address of the weights: FP/BP w, WU dw
  uint64_t bias_base;                  // word address of the bias (FP with Flag.BIAS)
};

Layer layer_of(const Desc &d) {
  Layer L;
  const bool fold = folded(d);
  L.phase = phase_of(d.opcode);
  L.bias = (d.flags & FLAG_BIAS) != 0;
  L.B = fold ? 1 : int(d.batch);
  L.M = int(d.m);
  L.N = int(d.n);
  L.H = fold ? 1 : int(d.h);
  L.W = fold ? int(d.batch) : int(d.w);
  L.K = int(d.k);
  L.S = int(d.stride);
  L.P = int(d.pad);
  L.OH = (L.H + 2 * L.P - L.K) / L.S + 1;
  L.OW = (L.W + 2 * L.P - L.K) / L.S + 1;
  L.tr = int(d.tr);
  L.chunk = int(d.chunk);
  // DRAM roles: FP x=src0 w=src1 bias=src2 y=dst; BP dy=src0 w=src1 dx=dst; WU x=src0 dy=src1 dw=dst.
  const uint64_t x_addr = L.phase == PHASE_BP ? d.dst / 4 : d.src0 / 4;
  const uint64_t y_addr = L.phase == PHASE_FP ? d.dst / 4 : L.phase == PHASE_BP ? d.src0 / 4 : d.src1 / 4;
  L.x = fmap(x_addr, int(d.batch), L.N, int(d.h), int(d.w), fold);
  L.y = fmap(y_addr, int(d.batch), L.M, L.OH, L.OW, fold);  // (fmap ignores H, W when folded)
  L.wts = L.phase == PHASE_WU ? d.dst / 4 : d.src1 / 4;
  L.bias_base = d.src2 / 4;
  return L;
}

// ---------------------------------------------------------------------------------------------
// Loads into the on-chip buffers (the DMA). The pixel loops stream one lane group (TN words,
// contiguous in the reshaped layout) per iteration.

// Input tile for FP/WU: rows [row0, row0 + rows) x columns [col0, col0 + cols) of channel block
// `blk` of image b of map x, into ibuf[lane][r * cols + c]. row0/col0 may be negative:
// positions outside the map (padding) and lanes beyond x.C are +0.0.
void load_input(const uint32_t *mem, float ibuf[TN][IN_DEPTH], const Map &x, int b, int blk, int row0,
                int rows, int col0, int cols) {
  buffer_check(rows * cols, IN_DEPTH, "input tile");
  int r = 0, c = 0;
  for (int p = 0; p < rows * cols; ++p) {
#pragma HLS PIPELINE II=1
    const int h = row0 + r, w = col0 + c;
    const bool inside = h >= 0 && h < x.H && w >= 0 && w < x.W;
    for (int j = 0; j < TN; ++j) {
#pragma HLS UNROLL
      const int ch = blk * TN + j;
      ibuf[j][p] = (inside && ch < x.C) ? dram_read(mem, x.word(b, ch, h, w)) : POS_ZERO;
    }
    if (++c == cols) {
      c = 0;
      ++r;
    }
  }
}

// Input tile for BP: rows [row0, row0 + rows) of the gradient map dz of channel block `blk`:
// dy (map dy, image b) with S-1 zeros between neighbouring pixels, placed at row/column offset
// o = K-1-P in a +0.0 map of cols = W+K-1 columns (golden gradient_map()).
void load_grad_map(const uint32_t *mem, float ibuf[TN][IN_DEPTH], const Map &dy, int b, int blk, int row0,
                   int rows, int cols, int o, int S) {
  buffer_check(rows * cols, IN_DEPTH, "gradient-map tile");
  int r = 0, c = 0;
  for (int p = 0; p < rows * cols; ++p) {
#pragma HLS PIPELINE II=1
    const int zr = row0 + r - o, zc = c - o;
    const bool hit = zr >= 0 && zc >= 0 && zr % S == 0 && zc % S == 0 && zr / S < dy.H && zc / S < dy.W;
    for (int j = 0; j < TN; ++j) {
#pragma HLS UNROLL
      const int ch = blk * TN + j;
      ibuf[j][p] = (hit && ch < dy.C) ? dram_read(mem, dy.word(b, ch, zr / S, zc / S)) : POS_ZERO;
    }
    if (++c == cols) {
      c = 0;
      ++r;
    }
  }
}

// A TM-lane row tile of map a (image b) into obuf[lane][r * a.W + c]: channels ot*TM + i, rows
// [r0, r0 + rows). Lanes beyond a.C get `fill`. Used to read back partial sums (FP/BP chunks)
// and to load dy (WU).
void load_out_rows(const uint32_t *mem, float obuf[TM][OUT_DEPTH], const Map &a, int b, int ot, int r0,
                   int rows, float fill) {
  buffer_check(rows * a.W, OUT_DEPTH, "output tile");
  int r = 0, c = 0;
  for (int p = 0; p < rows * a.W; ++p) {
#pragma HLS PIPELINE II=1
    for (int i = 0; i < TM; ++i) {
#pragma HLS UNROLL
      const int ch = ot * TM + i;
      obuf[i][p] = ch < a.C ? dram_read(mem, a.word(b, ch, r0 + r, c)) : fill;
    }
    if (++c == a.W) {
      c = 0;
      ++r;
    }
  }
}

// Accumulators of a new output tile: bias[ot*TM + i] (FP with Flag.BIAS) or -0.0.
void init_out(const uint32_t *mem, float obuf[TM][OUT_DEPTH], bool bias, uint64_t bias_base, int C, int ot,
              int pixels) {
  buffer_check(pixels, OUT_DEPTH, "output tile");
  float init[TM];
#pragma HLS ARRAY_PARTITION variable=init complete
  for (int i = 0; i < TM; ++i) {
    const int ch = ot * TM + i;
    init[i] = (bias && ch < C) ? dram_read(mem, bias_base + ch) : NEG_ZERO;
  }
  for (int p = 0; p < pixels; ++p) {
#pragma HLS PIPELINE II=1
    for (int i = 0; i < TM; ++i) {
#pragma HLS UNROLL
      obuf[i][p] = init[i];
    }
  }
}

// Store an output row tile of map a (channels ot*TM + i < a.C). The last tile also writes +0.0
// into the layout's padding lanes C .. ceil(C/TN)*TN - 1, so the next op can read the map in place.
void store_out(uint32_t *mem, const float obuf[TM][OUT_DEPTH], const Map &a, int b, int ot, int r0, int rows) {
  const int c_pad = cdiv(a.C, TN) * TN;
  const bool last = (ot + 1) * TM >= a.C;
  int r = 0, c = 0;
  for (int p = 0; p < rows * a.W; ++p) {
#pragma HLS PIPELINE II=1
    for (int i = 0; i < TM; ++i) {
#pragma HLS UNROLL
      const int ch = ot * TM + i;
      if (ch < a.C) dram_write(mem, a.word(b, ch, r0 + r, c), obuf[i][p]);
    }
    for (int e = 0; e < TN - 1; ++e) {
#pragma HLS UNROLL
      const int ch = a.C + e;
      if (last && ch < c_pad) dram_write(mem, a.word(b, ch, r0 + r, c), POS_ZERO);
    }
    if (++c == a.W) {
      c = 0;
      ++r;
    }
  }
}

// FP weights of output-channel tile mt, input-channel tiles [nt0, nt1): one contiguous DRAM run.
// wbuf[i][j][(nt - nt0)*K*K + kh*K + kw] = w[mt*TM + i][nt*TN + j][kh][kw] (+0.0 beyond M, N).
void load_weights_fp(const uint32_t *mem, float wbuf[TM][TN][W_DEPTH], const Layer &L, int mt, int nt0,
                     int nt1) {
  buffer_check((nt1 - nt0) * L.K * L.K, W_DEPTH, "weight chunk");
  const int KK = L.K * L.K;
  for (int nt = nt0; nt < nt1; ++nt) {
    for (int kk = 0; kk < KK; ++kk) {
#pragma HLS PIPELINE II=1
      for (int i = 0; i < TM; ++i) {
#pragma HLS UNROLL
        for (int j = 0; j < TN; ++j) {
#pragma HLS UNROLL
          const int m = mt * TM + i, n = nt * TN + j;
          wbuf[i][j][(nt - nt0) * KK + kk] =
              (m < L.M && n < L.N) ? dram_read(mem, weight_word(L.wts, L.N, L.K, m, n, kk / L.K, kk % L.K))
                                   : POS_ZERO;
        }
      }
    }
  }
}

// BP weights, flipped 180 degrees and in/out swapped while loading (golden transformed_weights):
// output lanes i are input channels n = no*TM + i, reduction lanes j are output-gradient
// channels m = mt*TN + j, mt in [mt0, mt1):
// wbuf[i][j][(mt - mt0)*K*K + kh*K + kw] = w[m][n][K-1-kh][K-1-kw] (+0.0 beyond M, N).
// (Element by element for clarity; a DMA would stream the DRAM tiles and scatter on chip.)
void load_weights_bp(const uint32_t *mem, float wbuf[TM][TN][W_DEPTH], const Layer &L, int no, int mt0,
                     int mt1) {
  buffer_check((mt1 - mt0) * L.K * L.K, W_DEPTH, "weight chunk");
  const int KK = L.K * L.K;
  for (int mt = mt0; mt < mt1; ++mt) {
    for (int kk = 0; kk < KK; ++kk) {
#pragma HLS PIPELINE II=1
      const int kh = kk / L.K, kw = kk % L.K;
      for (int i = 0; i < TM; ++i) {
#pragma HLS UNROLL
        for (int j = 0; j < TN; ++j) {
#pragma HLS UNROLL
          const int n = no * TM + i, m = mt * TN + j;
          wbuf[i][j][(mt - mt0) * KK + kk] =
              (m < L.M && n < L.N)
                  ? dram_read(mem, weight_word(L.wts, L.N, L.K, m, n, L.K - 1 - kh, L.K - 1 - kw))
                  : POS_ZERO;
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The multiply array.

// FP/BP: one pass over a row tile for the input-channel tile at weight slot `wslot`. For kh, for
// kw, for every output pixel (pipelined, one pixel per cycle), every output lane i adds
//   tree_sum over the TN lanes j of (w[i][j][kh][kw] * x[j][pixel shifted by kh, kw])
// to its accumulator: the (tile, kh, kw) order of the contract, all TN lanes in the tree.
void engine(const float ibuf[TN][IN_DEPTH], float obuf[TM][OUT_DEPTH], const float wbuf[TM][TN][W_DEPTH],
            int wslot, int rows, int cols, int K, int S, int in_cols) {
  for (int kh = 0; kh < K; ++kh) {
    for (int kw = 0; kw < K; ++kw) {
      float wreg[TM][TN];  // the Tm x Tn weight slice of this kernel position, in registers
#pragma HLS ARRAY_PARTITION variable=wreg complete dim=0
      for (int i = 0; i < TM; ++i) {
#pragma HLS UNROLL
        for (int j = 0; j < TN; ++j) {
#pragma HLS UNROLL
          wreg[i][j] = wbuf[i][j][wslot + kh * K + kw];
        }
      }
      int r = 0, c = 0;
      for (int p = 0; p < rows * cols; ++p) {
#pragma HLS PIPELINE II=1
        const int a = (r * S + kh) * in_cols + c * S + kw;
        float x[TN];
#pragma HLS ARRAY_PARTITION variable=x complete
        for (int j = 0; j < TN; ++j) {
#pragma HLS UNROLL
          x[j] = ibuf[j][a];
        }
        for (int i = 0; i < TM; ++i) {
#pragma HLS UNROLL
          float prod[TN];
#pragma HLS ARRAY_PARTITION variable=prod complete
          for (int j = 0; j < TN; ++j) {
#pragma HLS UNROLL
            prod[j] = wreg[i][j] * x[j];
          }
          obuf[i][p] = obuf[i][p] + tree_sum<TN>(prod);
        }
        if (++c == cols) {
          c = 0;
          ++r;
        }
      }
    }
  }
}

// WU: Tm x Tn independent accumulators per kernel position, for the weight tile whose K*K*L
// partial sums start at wbuf slot `wslot`. Pixel p of the tile is stream position t = t0 + p;
// its products go to partial sum t mod L (bank0 = t0 mod L), so a bank is revisited every L
// pixels (the adder latency is hidden; L >= ADD_LAT + 1).
void wu_engine(const float ibuf[TN][IN_DEPTH], const float obuf[TM][OUT_DEPTH], float wbuf[TM][TN][W_DEPTH],
               int wslot, int rows, int cols, int K, int S, int in_cols, int bank0) {
  for (int kh = 0; kh < K; ++kh) {
    for (int kw = 0; kw < K; ++kw) {
      const int kbase = wslot + (kh * K + kw) * ACC_L;
      int bank = bank0, r = 0, c = 0;
      for (int p = 0; p < rows * cols; ++p) {
#pragma HLS PIPELINE II=1
#pragma HLS DEPENDENCE variable=wbuf type=inter direction=RAW distance=ACC_L dependent=true
        const int a = (r * S + kh) * in_cols + c * S + kw;
        for (int i = 0; i < TM; ++i) {
#pragma HLS UNROLL
          for (int j = 0; j < TN; ++j) {
#pragma HLS UNROLL
            wbuf[i][j][kbase + bank] = wbuf[i][j][kbase + bank] + obuf[i][p] * ibuf[j][a];
          }
        }
        bank = bank + 1 == ACC_L ? 0 : bank + 1;
        if (++c == cols) {
          c = 0;
          ++r;
        }
      }
    }
  }
}

// WU partial sums of a chunk's weight tiles (the first `words` words of every lane): all -0.0.
void clear_partials(float wbuf[TM][TN][W_DEPTH], int words) {
  buffer_check(words, W_DEPTH, "WU partial sums");
  for (int q = 0; q < words; ++q) {
#pragma HLS PIPELINE II=1
    for (int i = 0; i < TM; ++i) {
#pragma HLS UNROLL
      for (int j = 0; j < TN; ++j) {
#pragma HLS UNROLL
        wbuf[i][j][q] = NEG_ZERO;
      }
    }
  }
}

// dW of tile (mt, nt) = tree_sum of the L partials at wbuf slot `wslot`, written as the tile's
// one contiguous run (padding entries beyond M, N are +0.0).
void store_dw(uint32_t *mem, const float wbuf[TM][TN][W_DEPTH], const Layer &L, int mt, int nt, int wslot) {
  const int KK = L.K * L.K;
  const uint64_t tile = L.wts + (uint64_t(mt) * cdiv(L.N, TN) + nt) * uint64_t(KK) * (TM * TN);
  for (int kk = 0; kk < KK; ++kk) {
#pragma HLS PIPELINE II=1
    for (int i = 0; i < TM; ++i) {
#pragma HLS UNROLL
      for (int j = 0; j < TN; ++j) {
#pragma HLS UNROLL
        float part[ACC_L];
#pragma HLS ARRAY_PARTITION variable=part complete
        for (int l = 0; l < ACC_L; ++l) {
#pragma HLS UNROLL
          part[l] = wbuf[i][j][wslot + kk * ACC_L + l];
        }
        const bool real = mt * TM + i < L.M && nt * TN + j < L.N;
        dram_write(mem, tile + uint64_t(kk) * (TM * TN) + i * TN + j, real ? tree_sum<ACC_L>(part) : POS_ZERO);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Layer phases.

void run_fp(uint32_t *mem, const Layer &L, float ibuf[TN][IN_DEPTH], float obuf[TM][OUT_DEPTH],
            float wbuf[TM][TN][W_DEPTH]) {
  const int KK = L.K * L.K;
  const int n_tiles = cdiv(L.N, TN), m_tiles = cdiv(L.M, TM);
  const int in_cols = L.W + 2 * L.P;
  for (int mt = 0; mt < m_tiles; ++mt) {
    for (int nt0 = 0; nt0 < n_tiles; nt0 += L.chunk) {
      const int nt1 = imin(n_tiles, nt0 + L.chunk);
      load_weights_fp(mem, wbuf, L, mt, nt0, nt1);  // stays on chip for the whole batch
      for (int b = 0; b < L.B; ++b) {
        for (int r0 = 0; r0 < L.OH; r0 += L.tr) {
          const int rows = imin(L.tr, L.OH - r0);
          if (nt0 == 0)
            init_out(mem, obuf, L.bias, L.bias_base, L.M, mt, rows * L.OW);
          else  // continue the previous chunk's sequence of adds from its stored partial sums
            load_out_rows(mem, obuf, L.y, b, mt, r0, rows, NEG_ZERO);
          for (int nt = nt0; nt < nt1; ++nt) {
            load_input(mem, ibuf, L.x, b, nt, r0 * L.S - L.P, (rows - 1) * L.S + L.K, -L.P, in_cols);
            engine(ibuf, obuf, wbuf, (nt - nt0) * KK, rows, L.OW, L.K, L.S, in_cols);
          }
          store_out(mem, obuf, L.y, b, mt, r0, rows);
        }
      }
    }
  }
}

void run_bp(uint32_t *mem, const Layer &L, float ibuf[TN][IN_DEPTH], float obuf[TM][OUT_DEPTH],
            float wbuf[TM][TN][W_DEPTH]) {
  const int KK = L.K * L.K;
  const int m_tiles = cdiv(L.M, TN);  // reduction tiles: channel blocks of dy
  const int n_tiles = cdiv(L.N, TM);  // output tiles: TM input channels of dx each
  const int in_cols = L.W + L.K - 1;  // the gradient map is (H+K-1) x (W+K-1)
  const int o = L.K - 1 - L.P;        // where dy starts in it
  for (int no = 0; no < n_tiles; ++no) {
    for (int mt0 = 0; mt0 < m_tiles; mt0 += L.chunk) {
      const int mt1 = imin(m_tiles, mt0 + L.chunk);
      load_weights_bp(mem, wbuf, L, no, mt0, mt1);
      for (int b = 0; b < L.B; ++b) {
        for (int r0 = 0; r0 < L.H; r0 += L.tr) {
          const int rows = imin(L.tr, L.H - r0);
          if (mt0 == 0)
            init_out(mem, obuf, false, 0, L.N, no, rows * L.W);
          else
            load_out_rows(mem, obuf, L.x, b, no, r0, rows, NEG_ZERO);
          for (int mt = mt0; mt < mt1; ++mt) {
            load_grad_map(mem, ibuf, L.y, b, mt, r0, rows + L.K - 1, in_cols, o, L.S);
            engine(ibuf, obuf, wbuf, (mt - mt0) * KK, rows, L.W, L.K, 1, in_cols);
          }
          store_out(mem, obuf, L.x, b, no, r0, rows);
        }
      }
    }
  }
}

void run_wu(uint32_t *mem, const Layer &L, float ibuf[TN][IN_DEPTH], float obuf[TM][OUT_DEPTH],
            float wbuf[TM][TN][W_DEPTH]) {
  const int KKL = L.K * L.K * ACC_L;  // partial sums of one weight tile
  const int n_tiles = cdiv(L.N, TN), m_tiles = cdiv(L.M, TM);
  const int in_cols = L.W + 2 * L.P;
  for (int mt = 0; mt < m_tiles; ++mt) {
    for (int nt0 = 0; nt0 < n_tiles; nt0 += L.chunk) {
      const int nt1 = imin(n_tiles, nt0 + L.chunk);
      clear_partials(wbuf, (nt1 - nt0) * KKL);
      for (int b = 0; b < L.B; ++b) {
        for (int r0 = 0; r0 < L.OH; r0 += L.tr) {
          const int rows = imin(L.tr, L.OH - r0);
          load_out_rows(mem, obuf, L.y, b, mt, r0, rows, POS_ZERO);  // dy, shared by the chunk's tiles
          const uint64_t t0 = (uint64_t(b) * L.OH + r0) * L.OW;     // stream position of the tile
          for (int nt = nt0; nt < nt1; ++nt) {
            load_input(mem, ibuf, L.x, b, nt, r0 * L.S - L.P, (rows - 1) * L.S + L.K, -L.P, in_cols);
            wu_engine(ibuf, obuf, wbuf, (nt - nt0) * KKL, rows, L.OW, L.K, L.S, in_cols, int(t0 % ACC_L));
          }
        }
      }
      for (int nt = nt0; nt < nt1; ++nt) store_dw(mem, wbuf, L, mt, nt, (nt - nt0) * KKL);
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Descriptors.

Desc decode(const uint32_t words[DESC_WORDS]) {
  Desc d;
  d.opcode = words[0] & 0xFFu;
  d.flags = (words[0] >> 8) & 0xFFu;
  d.batch = words[1] & 0xFFFFu;
  d.k = (words[1] >> 16) & 0xFu;
  d.stride = (words[1] >> 20) & 0xFu;
  d.pad = (words[1] >> 24) & 0xFu;
  d.m = words[2] & 0xFFFFu;
  d.n = words[2] >> 16;
  d.h = words[3] & 0xFFFFu;
  d.w = words[3] >> 16;
  d.src0 = words[4] | (uint64_t(words[5]) << 32);
  d.src1 = words[6] | (uint64_t(words[7]) << 32);
  d.src2 = words[8] | (uint64_t(words[9]) << 32);
  d.dst = words[10] | (uint64_t(words[11]) << 32);
  d.tr = words[12] & 0xFFFFu;
  d.chunk = words[12] >> 16;
  d.reserved_set =
      (words[0] >> 16) != 0 || (words[1] >> 28) != 0 || words[13] != 0 || words[14] != 0 || words[15] != 0;
  return d;
}

namespace {

// Bytes of a (B, C, H, W) map in the reshaped layout (padding lanes included).
uint64_t fmap_bytes(uint64_t B, uint64_t C, uint64_t H, uint64_t W) {
  return sat_mul(sat_mul(sat_mul(4 * B, cdiv64(C, TN) * TN), H), W);
}

// Bytes of (M, N, K, K) weights in the reshaped layout (whole tiles).
uint64_t weight_bytes(uint64_t M, uint64_t N, uint64_t K) {
  return sat_mul(sat_mul(4 * cdiv64(M, TM) * TM, cdiv64(N, TN) * TN), K * K);
}

}  // namespace

uint32_t validate(const Desc &d, uint64_t win_base, uint64_t win_limit) {
  // 1. opcode, flags, reserved bits
  const Phase ph = phase_of(d.opcode);
  if (ph == PHASE_NONE || (d.flags & ~FLAG_BIAS) != 0 || d.reserved_set) return ERR_BAD_OPCODE;
  if ((d.flags & FLAG_BIAS) != 0 && ph != PHASE_FP) return ERR_BAD_OPCODE;
  // 2. zero dimensions, 3. dimension limits (FC: a 1x1 map, K = 1, stride 1, no padding)
  if (d.batch == 0 || d.m == 0 || d.n == 0 || d.h == 0 || d.w == 0) return ERR_ZERO_DIM;
  if (d.batch > MAX_DIM || d.m > MAX_DIM || d.n > MAX_DIM || d.h > MAX_DIM || d.w > MAX_DIM)
    return ERR_DIM_TOO_LARGE;
  if (is_fc(d.opcode) && !(d.h == 1 && d.w == 1 && d.k == 1 && d.stride == 1 && d.pad == 0))
    return ERR_DIM_TOO_LARGE;
  // 4. kernel, 5. stride, 6. padding
  if (d.k < 1 || d.k > 7 || d.h + 2 * d.pad < d.k || d.w + 2 * d.pad < d.k) return ERR_BAD_KERNEL;
  if (d.stride < 1 || d.stride > 4) return ERR_BAD_STRIDE;
  if (d.pad > d.k - 1) return ERR_BAD_PADDING;
  // 7. tiling fields (eftrain.tiling rule 1): tr in 1 .. rows of the output map (folded: 1),
  //    chunk in 1 .. reduction tiles
  const Geometry g = geometry_of(d, ph);
  if (d.tr < 1 || d.tr > g.rows || d.chunk < 1 || d.chunk > g.red_tiles) return ERR_BAD_FIELD;
  // 8. buffer fit of the tiling (rule 2): the input tile (FP/WU (tr-1)*S + K rows, BP tr + K - 1
  //    rows, of buf_width words), the output tile tr * width, the weight chunk chunk * K*K
  //    (WU: chunk * K*K * L partial sums). 16-bit fields: no product overflows 64 bits.
  const uint64_t in_rows = ph == PHASE_BP ? uint64_t(d.tr) + d.k - 1 : uint64_t(d.tr - 1) * d.stride + d.k;
  const uint64_t w_words = uint64_t(d.chunk) * d.k * d.k * (ph == PHASE_WU ? ACC_L : 1);
  if (in_rows * g.buf_width > uint64_t(IN_DEPTH) || uint64_t(d.tr) * g.width > uint64_t(OUT_DEPTH) ||
      w_words > uint64_t(W_DEPTH))
    return ERR_BUFFER_OVERFLOW;
  const uint64_t oh = (d.h + 2 * d.pad - d.k) / d.stride + 1;
  const uint64_t ow = (d.w + 2 * d.pad - d.k) / d.stride + 1;
  // The tensors this descriptor reads and writes: (byte address, bytes) in their DRAM layouts.
  const uint64_t x_bytes = fmap_bytes(d.batch, d.n, d.h, d.w);
  const uint64_t y_bytes = fmap_bytes(d.batch, d.m, oh, ow);
  const uint64_t w_bytes = weight_bytes(d.m, d.n, d.k);
  uint64_t addr[4], size[4];
  int count = 3;
  addr[0] = d.src0;
  addr[1] = d.src1;
  size[1] = w_bytes;
  addr[2] = d.dst;
  if (ph == PHASE_FP) {
    size[0] = x_bytes;
    size[2] = y_bytes;
    if ((d.flags & FLAG_BIAS) != 0) {
      addr[3] = d.src2;
      size[3] = cdiv64(4 * uint64_t(d.m), BEAT_BYTES) * BEAT_BYTES;
      count = 4;
    }
  } else if (ph == PHASE_BP) {
    size[0] = y_bytes;
    size[2] = x_bytes;
  } else {
    size[0] = x_bytes;
    size[1] = y_bytes;  // WU: src1 is dy
    size[2] = w_bytes;
  }
  // 9. alignment to the AXI beat, 10. memory window
  for (int t = 0; t < count; ++t)
    if (addr[t] % BEAT_BYTES != 0) return ERR_MISALIGNED_ADDR;
  for (int t = 0; t < count; ++t)
    if (outside(addr[t], size[t], win_base, win_limit)) return ERR_OUT_OF_WINDOW;
  return ERR_NONE;
}

}  // namespace eftrain

// ---------------------------------------------------------------------------------------------
// The top function.

void eftrain_kernel(uint32_t *mem, uint64_t prog_base, uint32_t prog_count, uint64_t win_base,
                    uint64_t win_limit, uint32_t *status) {
  // One AXI4 master for all DRAM traffic (tensors and descriptors); 32-bit words, widened to
  // the 128-bit bus (BUS_BITS of the zcu102 preset) by the tool for sequential bursts.
#pragma HLS INTERFACE m_axi port=mem offset=slave bundle=gmem max_read_burst_length=256 max_write_burst_length=256 num_read_outstanding=16 num_write_outstanding=16 max_widen_bitwidth=128
#pragma HLS INTERFACE s_axilite port=prog_base bundle=control
#pragma HLS INTERFACE s_axilite port=prog_count bundle=control
#pragma HLS INTERFACE s_axilite port=win_base bundle=control
#pragma HLS INTERFACE s_axilite port=win_limit bundle=control
#pragma HLS INTERFACE s_axilite port=status bundle=control
#pragma HLS INTERFACE s_axilite port=return bundle=control
  using namespace eftrain;

  // On-chip buffers: lanes partitioned into registers/banks so a whole lane group moves per cycle.
  static float ibuf[TN][IN_DEPTH];
  static float obuf[TM][OUT_DEPTH];
  static float wbuf[TM][TN][W_DEPTH];
#pragma HLS ARRAY_PARTITION variable=ibuf complete dim=1
#pragma HLS ARRAY_PARTITION variable=obuf complete dim=1
#pragma HLS ARRAY_PARTITION variable=wbuf complete dim=1
#pragma HLS ARRAY_PARTITION variable=wbuf complete dim=2

#ifndef __SYNTHESIS__
  g_win_lo = win_base / 4 + (win_base % 4 != 0);
  g_win_hi = win_limit / 4;
#endif

  // PROG_COUNT.COUNT is 24 bits in the register map; ERR_CODE.INDEX likewise.
  const uint32_t count = prog_count & 0xFFFFFFu;
  uint32_t st = status_word(ERR_NONE, 0);
  if (count != 0) {  // the whole program must be beat aligned and inside the window
    if (prog_base % BEAT_BYTES != 0)
      st = status_word(ERR_MISALIGNED_ADDR, 0);
    else if (outside(prog_base, uint64_t(count) * DESC_WORDS * 4, win_base, win_limit))
      st = status_word(ERR_OUT_OF_WINDOW, 0);
  }
  if (st == status_word(ERR_NONE, 0)) {
    for (uint32_t i = 0; i < count; ++i) {
      uint32_t words[DESC_WORDS];
      for (int j = 0; j < DESC_WORDS; ++j) {
#pragma HLS PIPELINE II=1
        words[j] = dram_read_bits(mem, prog_base / 4 + uint64_t(i) * DESC_WORDS + j);
      }
      const Desc d = decode(words);
      const uint32_t err = validate(d, win_base, win_limit);
      if (err != ERR_NONE) {  // stop before the descriptor touches memory
        st = status_word(err, i);
        break;
      }
      const Layer L = layer_of(d);
      if (L.phase == PHASE_FP)
        run_fp(mem, L, ibuf, obuf, wbuf);
      else if (L.phase == PHASE_BP)
        run_bp(mem, L, ibuf, obuf, wbuf);
      else
        run_wu(mem, L, ibuf, obuf, wbuf);
    }
  }
  *status = st;
}
