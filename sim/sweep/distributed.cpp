#include "sim/sweep/distributed.hpp"

#include <cstdlib>

#ifdef SERVESIM_WITH_MPI
#include <mpi.h>

#include "sim/core/error.hpp"
#endif

namespace servesim::mpi {

#ifdef SERVESIM_WITH_MPI
namespace {

bool started = false;  // set once in main, before any thread starts, then only read

// Launchers set these in each process they start (Open MPI, MPICH/Hydra, PMIx).
bool under_launcher() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"}) {
    if (std::getenv(v) != nullptr) return true;
  }
  return false;
}

}  // namespace

bool available() {
  return true;
}

void start(int* argc, char*** argv) {
  if (!under_launcher()) return;
  MPI_Init(argc, argv);
  started = true;
}

void finish() {
  if (started) MPI_Finalize();
  started = false;
}

int rank() {
  int r = 0;
  if (started) MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int size() {
  int n = 1;
  if (started) MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

void abort_all(int code) {
  if (started) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

std::vector<std::string> gather(const std::string& mine) {
  if (!started) return {mine};
  const int n = size();
  const int me = rank();
  if (mine.size() > 2'000'000'000U) throw Error("a shard's rows exceed 2 GB; use more ranks");
  int len = static_cast<int>(mine.size());
  std::vector<int> lens(static_cast<std::size_t>(n));
  MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::vector<int> offsets(static_cast<std::size_t>(n), 0);
  std::size_t total = 0;
  for (int i = 0; i < n; ++i) {
    offsets[static_cast<std::size_t>(i)] = static_cast<int>(total);
    total += static_cast<std::size_t>(lens[static_cast<std::size_t>(i)]);
  }
  if (me == 0 && total > 2'000'000'000U) throw Error("the gathered rows exceed 2 GB; use --shard");
  std::string all(me == 0 ? total : 0, '\0');
  MPI_Gatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), offsets.data(), MPI_CHAR, 0,
              MPI_COMM_WORLD);
  std::vector<std::string> out;
  if (me != 0) return out;
  for (int i = 0; i < n; ++i) {
    const auto k = static_cast<std::size_t>(i);
    out.push_back(
        all.substr(static_cast<std::size_t>(offsets[k]), static_cast<std::size_t>(lens[k])));
  }
  return out;
}

#else

bool available() {
  return false;
}
void start(int*, char***) {}
void finish() {}
int rank() {
  return 0;
}
int size() {
  return 1;
}
std::vector<std::string> gather(const std::string& mine) {
  return {mine};
}

#endif

}  // namespace servesim::mpi
