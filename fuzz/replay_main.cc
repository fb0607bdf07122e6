// Corpus replayer: runs a libFuzzer target over every file in the given directories (or files),
// so the corpus is a regression suite under g++ and ctest.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

int RunFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 0;
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path p(argv[i]);
    if (std::filesystem::is_directory(p)) {
      for (const auto& entry : std::filesystem::recursive_directory_iterator(p)) {
        if (entry.is_regular_file()) runs += RunFile(entry.path());
      }
    } else {
      runs += RunFile(p);
    }
  }
  // Edge inputs every target must survive, whatever the corpus holds.
  LLVMFuzzerTestOneInput(nullptr, 0);
  std::vector<uint8_t> big(1 << 16, 0xff);
  LLVMFuzzerTestOneInput(big.data(), big.size());
  std::printf("replayed %d corpus inputs\n", runs);
  return runs > 0 ? 0 : 1;
}
