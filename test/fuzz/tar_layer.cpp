// Fuzz harness: an image layer (a tar archive in any compression husk
// reads) applied with image::apply_layer() onto a scratch root, as
// `husk import` and `husk run ARCHIVE` apply every layer. Any outcome but
// husk::Error or success is a finding (a crash, a sanitizer report), and
// so are an error of more than one line and anything written beside the
// root (the canary).
#include "fuzz_support.hpp"

#include "image/unpack.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    husk::fuzz::Scratch scratch;
    husk::Fd root(::open(scratch.root().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    husk::Fd in(husk::fuzz::memfd_of(data, size));
    // Small limits: a bomb is an error, not a full disk.
    husk::image::UnpackLimits limits;
    limits.max_bytes = 64 << 20;
    limits.max_entries = 10000;
    try {
        husk::image::apply_layer(root.get(), in.get(), "layer", limits);
    } catch (const husk::Error& e) {
        // the expected outcome of most inputs: one line, nothing outside
        husk::fuzz::expect_one_line("tar_layer", e.what());
    }
    return 0;
}
