// C-simulation harness of the EF-Train HLS kernel (the "host" of the C simulation).
//
//   eftrain_csim run MEM_IN PROG PROG_BASE WIN_BASE WIN_LIMIT MEM_OUT
//       MEM_IN: raw little-endian 32-bit words, DRAM bytes [0, 4 * words). PROG: the program
//       (16 words per descriptor), copied into the image at byte PROG_BASE, as a host would.
//       Runs eftrain_kernel(mem, PROG_BASE, descriptors, WIN_BASE, WIN_LIMIT, &status), writes
//       the whole image to MEM_OUT and prints "status 0x........ code C index I".
//   eftrain_csim validate DESCS WIN_BASE WIN_LIMIT
//       Prints the verdict (ErrCode) of eftrain::validate for each descriptor, one per line.
//   eftrain_csim params
//       Prints the compiled hardware parameters (key=value), to check the build's preset.
//
// Numbers are decimal or 0x-prefixed hexadecimal. Exit status 0 when the kernel ran (whatever
// its status word), 2 on a usage or I/O error (the window must lie inside the image).
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "eftrain_kernel.h"

namespace {

int fail(const std::string &msg) {
  std::fprintf(stderr, "eftrain_csim: %s\n", msg.c_str());
  return 2;
}

bool parse_u64(const char *text, uint64_t *out) {
  errno = 0;
  char *end = nullptr;
  const unsigned long long v = std::strtoull(text, &end, 0);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-') return false;
  *out = v;
  return true;
}

bool read_words(const char *path, std::vector<uint32_t> *out) {
  std::FILE *f = std::fopen(path, "rb");
  if (f == nullptr) return false;
  std::vector<uint32_t> words;
  uint32_t buf[4096];
  size_t got = 0;
  while ((got = std::fread(buf, sizeof(uint32_t), 4096, f)) > 0) words.insert(words.end(), buf, buf + got);
  const bool ok = std::ferror(f) == 0 && std::feof(f) != 0;
  long tail = std::ftell(f);
  std::fclose(f);
  if (!ok || tail < 0 || tail % 4 != 0) return false;  // not a whole number of words
  out->swap(words);
  return true;
}

bool write_words(const char *path, const std::vector<uint32_t> &words) {
  std::FILE *f = std::fopen(path, "wb");
  if (f == nullptr) return false;
  const size_t put = std::fwrite(words.data(), sizeof(uint32_t), words.size(), f);
  return (std::fclose(f) == 0) && put == words.size();
}

int cmd_run(int argc, char **argv) {
  if (argc != 8) return fail("usage: run MEM_IN PROG PROG_BASE WIN_BASE WIN_LIMIT MEM_OUT");
  std::vector<uint32_t> mem, prog;
  uint64_t prog_base = 0, win_base = 0, win_limit = 0;
  if (!read_words(argv[2], &mem)) return fail(std::string("cannot read memory image ") + argv[2]);
  if (!read_words(argv[3], &prog)) return fail(std::string("cannot read program ") + argv[3]);
  if (!parse_u64(argv[4], &prog_base) || !parse_u64(argv[5], &win_base) || !parse_u64(argv[6], &win_limit))
    return fail("PROG_BASE, WIN_BASE and WIN_LIMIT must be unsigned numbers");
  const uint64_t image_bytes = uint64_t(mem.size()) * 4;
  if (prog.size() % eftrain::DESC_WORDS != 0) return fail("the program is not a whole number of descriptors");
  if (prog_base % 4 != 0 || prog_base > image_bytes || prog.size() * 4 > image_bytes - prog_base)
    return fail("the program does not fit in the memory image at PROG_BASE");
  if (win_limit > image_bytes) return fail("the window must lie inside the memory image");
  for (size_t i = 0; i < prog.size(); ++i) mem[prog_base / 4 + i] = prog[i];

  uint32_t status = 0xFFFFFFFFu;
  eftrain_kernel(mem.data(), prog_base, uint32_t(prog.size() / eftrain::DESC_WORDS), win_base, win_limit,
                 &status);

  if (!write_words(argv[7], mem)) return fail(std::string("cannot write ") + argv[7]);
  std::printf("status 0x%08x code %u index %u\n", status, status & 0xFFu, status >> 8);
  return 0;
}

int cmd_validate(int argc, char **argv) {
  if (argc != 5) return fail("usage: validate DESCS WIN_BASE WIN_LIMIT");
  std::vector<uint32_t> words;
  uint64_t win_base = 0, win_limit = 0;
  if (!read_words(argv[2], &words)) return fail(std::string("cannot read descriptors ") + argv[2]);
  if (words.size() % eftrain::DESC_WORDS != 0) return fail("not a whole number of descriptors");
  if (!parse_u64(argv[3], &win_base) || !parse_u64(argv[4], &win_limit))
    return fail("WIN_BASE and WIN_LIMIT must be unsigned numbers");
  for (size_t i = 0; i < words.size(); i += eftrain::DESC_WORDS)
    std::printf("%u\n", eftrain::validate(eftrain::decode(&words[i]), win_base, win_limit));
  return 0;
}

int cmd_params() {
  std::printf("preset=%s\ntm=%d\ntn=%d\nacc_interleave=%d\nin_buf_depth=%d\nout_buf_depth=%d\n"
              "w_buf_depth=%d\nbus_bits=%d\n",
              EFTRAIN_PRESET, eftrain::TM, eftrain::TN, eftrain::ACC_L, eftrain::IN_DEPTH, eftrain::OUT_DEPTH,
              eftrain::W_DEPTH, eftrain::BUS_BITS);
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "run") return cmd_run(argc, argv);
  if (cmd == "validate") return cmd_validate(argc, argv);
  if (cmd == "params" && argc == 2) return cmd_params();
  return fail("usage: eftrain_csim run|validate|params ... (see hls/csim/csim_main.cpp)");
}
