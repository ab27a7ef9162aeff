// A main() for the fuzz harnesses without libFuzzer: runs the harness on
// every file named, or in every folder named (not recursively), so that
// the normal test suite replays the seeds and the regression corpus
// (built with the project's compiler, and under ASan/UBSan in the
// sanitizer build). Exit 0 when every input ran; a finding crashes.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

int run_file(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    if (!f) {
        std::fprintf(stderr, "replay: cannot read %s\n", p.c_str());
        return 1;
    }
    const std::vector<char> bytes((std::istreambuf_iterator<char>(f)),
                                  std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    int inputs = 0, failed = 0;
    for (int i = 1; i < argc; ++i) {
        const std::filesystem::path arg(argv[i]);
        std::vector<std::filesystem::path> files;
        if (std::filesystem::is_directory(arg)) {
            for (const auto& e : std::filesystem::directory_iterator(arg)) {
                if (e.is_regular_file() && e.path().filename() != "README.md") {
                    files.push_back(e.path());
                }
            }
        } else {
            files.push_back(arg);
        }
        for (const auto& f : files) {
            ++inputs;
            failed += run_file(f);
        }
    }
    std::printf("replay: %d inputs, %d unreadable\n", inputs, failed);
    return failed == 0 && inputs > 0 ? 0 : 1;
}
