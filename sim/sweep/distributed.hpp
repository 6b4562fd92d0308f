// Spreading a sweep over the processes of an MPI job (`mpirun -n N servesim sweep ...`): each
// rank runs one shard and rank 0 gathers the rows. Without MPI in the build, or when the
// program was not started by an MPI launcher, there is one rank and these do nothing.
#pragma once

#include <string>
#include <vector>

namespace servesim::mpi {

// Starts MPI when the program runs under an MPI launcher; call once from main.
void start(int* argc, char*** argv);
void finish();
int rank();
int size();
// Every rank's `mine`, in rank order, on rank 0; an empty list on the other ranks.
std::vector<std::string> gather(const std::string& mine);
// Whether this build can run under MPI.
bool available();
// Ends every rank of the job with `code` (after a failure on one rank, which would otherwise
// leave the others waiting in a collective). Without MPI, exits the process.
[[noreturn]] void abort_all(int code);

}  // namespace servesim::mpi
