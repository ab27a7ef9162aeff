// husk-bcast SRC DEST: copy a file (an image) to node-local storage on every
// node of an MPI job, reading it once. The one program of husk that links
// MPI (Debian's Open MPI); it links husk's core, never its command line.
//
// Rank 0 reads SRC in chunks; one writer per node (the node's lowest rank,
// from MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)) receives each chunk by
// MPI_Bcast over a communicator of the writers and writes it to a temporary
// name beside DEST. Then every writer reads its copy back and compares its
// sha256 with rank 0's of SRC; only when every writer has a good copy do
// they rename it to DEST. Any rank's failure fails every rank, and no
// partial file is left. See doc/husk-bcast.md.
#include "image/layered.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/file.hpp"
#include "util/privilege.hpp"
#include "util/progress.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <mpi.h>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace {

using namespace husk;

constexpr long long kChunk = 16LL << 20; // bytes per MPI_Bcast
constexpr size_t kMaxMessage = 1024;     // an error message, as broadcast

const char* const kUsage =
    "usage: husk-bcast SRC DEST\n"
    "  under mpirun or srun: rank 0 reads SRC once, and one rank per node writes it\n"
    "  to DEST (node-local storage), checked by sha256, renamed into place when\n"
    "  every node has it. See man husk-bcast.\n";

/// What one step of the broadcast carries besides data: the byte count of
/// the chunk that follows (or of the whole file, first), or -1 and a
/// message when rank 0 failed.
struct Header {
    long long bytes = 0;
    char error[kMaxMessage] = {};
};

void set_error(Header& h, const std::string& message) {
    h.bytes = -1;
    std::snprintf(h.error, sizeof h.error, "%s", message.c_str());
}

/// Whether every rank of `comm` is fine (`ok`); the first bad rank's message
/// (lowest rank) goes to all, in `message`.
bool all_ok(MPI_Comm comm, bool ok, std::string& message) {
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    const int mine = ok ? INT32_MAX : rank;
    int first_bad = 0;
    MPI_Allreduce(&mine, &first_bad, 1, MPI_INT, MPI_MIN, comm);
    if (first_bad == INT32_MAX) {
        return true;
    }
    char buf[kMaxMessage] = {};
    if (rank == first_bad) {
        std::snprintf(buf, sizeof buf, "%s", message.c_str());
    }
    MPI_Bcast(buf, sizeof buf, MPI_CHAR, first_bad, comm);
    message = buf;
    return false;
}

size_t read_full(int fd, char* data, size_t size, const std::string& what) {
    size_t got = 0;
    while (got < size) {
        ssize_t n = ::read(fd, data + got, size - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            throw_errno("cannot read " + what);
        }
        if (n == 0) {
            break;
        }
        got += static_cast<size_t>(n);
    }
    return got;
}

/// The job's nodes. HUSK_BCAST_TEST_NODES=N (a test hook) pretends there
/// are N nodes, rank r on node r % N, each with DEST.nodeK as its DEST.
struct Layout {
    MPI_Comm node = MPI_COMM_NULL;    ///< the ranks of this node
    MPI_Comm writers = MPI_COMM_NULL; ///< one rank per node; world rank 0 is its rank 0
    int node_index = 0;               ///< under the test hook
    bool test_nodes = false;
};

Layout layout(int rank) {
    Layout l;
    const char* test = std::getenv("HUSK_BCAST_TEST_NODES");
    if (test != nullptr && std::atoi(test) > 0) {
        l.test_nodes = true;
        l.node_index = rank % std::atoi(test);
        MPI_Comm_split(MPI_COMM_WORLD, l.node_index, rank, &l.node);
    } else {
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &l.node);
    }
    int node_rank = 0;
    MPI_Comm_rank(l.node, &node_rank);
    MPI_Comm_split(MPI_COMM_WORLD, node_rank == 0 ? 0 : MPI_UNDEFINED, rank, &l.writers);
    return l;
}

/// The writers' part: receive every chunk from rank 0 (which also sends)
/// and write it to `tmp`; return rank 0's sha256 of SRC, checked against
/// this node's copy read back. Throws on any local failure, after which the
/// caller still takes part in the remaining broadcasts (`drain`).
int broadcast(const Layout& l, int world_rank, const std::string& src, const std::string& tmp,
              const std::string& shown_dest) {
    std::string failure;
    Header h;
    Fd in;
    if (world_rank == 0) {
        in.reset(::open(src.c_str(), O_RDONLY | O_CLOEXEC));
        struct stat st {};
        if (!in || ::fstat(in.get(), &st) != 0) {
            set_error(h, "husk-bcast: cannot open " + src + " (" + std::strerror(errno) + ")");
        } else if (!S_ISREG(st.st_mode)) {
            set_error(h, "husk-bcast: " + src + " is not a regular file");
        } else {
            h.bytes = st.st_size;
        }
    }
    MPI_Bcast(&h, sizeof h, MPI_BYTE, 0, l.writers);
    if (h.bytes < 0) {
        if (world_rank == 0) {
            std::fprintf(stderr, "%s\n", h.error);
        }
        return 1;
    }
    const long long total = h.bytes;
    Fd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!out) {
        failure = "husk-bcast: cannot create " + tmp + " (" + std::strerror(errno) + ")";
    }
    image::Sha256 sum;
    std::vector<char> chunk(static_cast<size_t>(std::min(total, kChunk)) + 1);
    std::optional<log::Progress> progress;
    if (world_rank == 0) {
        progress.emplace("broadcasting " + src, static_cast<uint64_t>(total));
    }
    for (long long done = 0; done < total;) {
        const long long n = std::min(kChunk, total - done);
        if (world_rank == 0) {
            const size_t got = read_full(in.get(), chunk.data(), static_cast<size_t>(n), src);
            if (static_cast<long long>(got) != n) {
                failure = "husk-bcast: " + src + " shrank while it was read";
            }
            sum.update(chunk.data(), static_cast<size_t>(n));
        }
        MPI_Bcast(chunk.data(), static_cast<int>(n), MPI_BYTE, 0, l.writers);
        if (failure.empty()) {
            try {
                file::write_all(out.get(), std::string_view(chunk.data(), static_cast<size_t>(n)),
                                tmp);
            } catch (const Error& e) {
                failure = std::string("husk-bcast: ") + e.what();
            }
        }
        done += n;
        if (progress) {
            progress->update(static_cast<uint64_t>(done));
        }
    }
    progress.reset();
    // Rank 0's digest of SRC against each node's copy, read back from disk.
    char want[65] = {};
    if (world_rank == 0) {
        std::snprintf(want, sizeof want, "%s", sum.hex().c_str());
    }
    MPI_Bcast(want, sizeof want, MPI_CHAR, 0, l.writers);
    if (failure.empty()) {
        try {
            if (::fsync(out.get()) != 0) {
                throw_errno("cannot write " + tmp);
            }
            Fd back(::open(tmp.c_str(), O_RDONLY | O_CLOEXEC));
            if (!back) {
                throw_errno("cannot read back " + tmp);
            }
            if (image::sha256_hex(back.get(), tmp) != want) {
                failure =
                    "husk-bcast: the copy for " + shown_dest + " differs from " + src + " (sha256)";
            }
        } catch (const Error& e) {
            failure = std::string("husk-bcast: ") + e.what();
        }
    }
    if (!all_ok(l.writers, failure.empty(), failure)) {
        ::unlink(tmp.c_str());
        if (world_rank == 0) {
            std::fprintf(stderr, "%s; no node keeps a copy\n", failure.c_str());
        }
        return 1;
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    try {
        privilege::refuse_elevated();
    } catch (const Error& e) {
        std::fprintf(stderr, "husk-bcast: error: %s\n", e.what());
        return 125;
    }
    if (argc == 2 && (std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "--help") == 0)) {
        std::fputs(kUsage, stdout);
        return 0;
    }
    if (argc != 3) {
        std::fputs(kUsage, stderr);
        return 125;
    }
    MPI_Init(&argc, &argv);
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    const std::string src = argv[1];
    Layout l = layout(rank);
    std::string dest = argv[2];
    if (l.test_nodes) {
        dest += ".node" + std::to_string(l.node_index);
    }
    const std::string tmp = dest + ".husk-bcast." + std::to_string(::getpid());
    int status = 0;
    if (l.writers != MPI_COMM_NULL) {
        status = broadcast(l, rank, src, tmp, dest);
        std::string failure;
        if (status == 0 && ::rename(tmp.c_str(), dest.c_str()) != 0) {
            failure = "husk-bcast: cannot rename " + tmp + " to " + dest + " (" +
                      std::strerror(errno) + ")";
            ::unlink(tmp.c_str());
            status = 1;
        }
        if (!all_ok(l.writers, status == 0, failure)) {
            if (status == 0) {
                ::unlink(dest.c_str()); // another node failed at the last step
            } else if (!failure.empty()) {
                std::fprintf(stderr, "%s\n", failure.c_str());
            }
            status = 1;
        }
        if (status == 0 && rank == 0) {
            int nodes = 0;
            MPI_Comm_size(l.writers, &nodes);
            std::fprintf(stderr, "husk-bcast: %s copied to %s on %d node%s\n", src.c_str(), argv[2],
                         nodes, nodes == 1 ? "" : "s");
        }
    }
    // Every rank of a node ends with its writer's status.
    MPI_Bcast(&status, 1, MPI_INT, 0, l.node);
    MPI_Finalize();
    return status;
}
