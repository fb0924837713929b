// The communicator data-parallel training runs on: MPI (OpenMPI from Debian) when descent is built with it
// (CMake option DESCENT_MPI, on when MPI is found), otherwise a single process of one rank whose collectives copy.
// Collectives take contiguous float32/float64 tensors and run in place where MPI can. Every MPI call's error code
// is checked (the world communicator returns errors instead of aborting) and turned into a descent::Error naming
// the call, the rank and MPI's message.
//
//   dist::Communicator& world = dist::Communicator::world();  // MPI_Init_thread on first use
//   world.broadcast(params, 0);
//   world.allreduce(grads, dist::ReduceOp::Mean);
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "descent/core/tensor.hpp"

namespace descent::dist {

enum class ReduceOp { Sum, Mean };

// A collective started without waiting (MPI_Iallreduce …). wait() completes it (once; later calls return at once);
// a Request destroyed before completion waits in its destructor, so buffers are never left in flight.
class Request {
 public:
  Request();
  ~Request();
  Request(Request&&) noexcept;
  Request& operator=(Request&&) noexcept;
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  void wait();
  bool test();  // true when complete (then finishes it as wait() would)
  bool pending() const;

  struct State;  // the MPI request and what to do on completion (Mean's division)

 private:
  explicit Request(std::unique_ptr<State> state);
  friend class Communicator;
  std::unique_ptr<State> state_;
};

class Communicator {
 public:
  // True when this build has MPI (DESCENT_MPI).
  static bool mpi_built();
  // The process group of every rank (MPI_COMM_WORLD); initialises MPI on first use when the process was started
  // by mpirun, and finalises it at exit. Without MPI (or without mpirun) a world of one rank.
  static Communicator& world();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }

  // How long a collective may wait for the other ranks (a rank that has stopped or hangs): DESCENT_DIST_TIMEOUT
  // seconds, 300 when unset. A Request's wait() then fails with a descent::Error; a blocking collective (MPI's
  // own, faster, algorithms) ends the rank with that message, so that mpirun ends the job.
  double timeout() const { return timeout_; }
  void set_timeout(double seconds);

  void barrier();
  // Every rank gets root's values (t must have the same shape and dtype on every rank).
  void broadcast(Tensor& t, int root = 0);
  // In place: every rank ends with the elementwise sum (or mean) over ranks.
  void allreduce(Tensor& t, ReduceOp op = ReduceOp::Sum);
  Request iallreduce(Tensor& t, ReduceOp op = ReduceOp::Sum);
  void allreduce(std::vector<double>& values, ReduceOp op = ReduceOp::Sum);  // a few numbers (losses, counts)
  // input has size() · n elements; output (n elements) gets this rank's n-element block of the reduction.
  void reduce_scatter(const Tensor& input, Tensor& output, ReduceOp op = ReduceOp::Sum);
  Request ireduce_scatter(const Tensor& input, Tensor& output, ReduceOp op = ReduceOp::Sum);
  // input has n elements; output (size() · n) gets every rank's block, in rank order.
  void allgather(const Tensor& input, Tensor& output);
  Request iallgather(const Tensor& input, Tensor& output);

  // Ends every rank of the job (MPI_Abort) after printing `message` with this rank's number; for a rank that
  // cannot go on, so that the others do not wait for it forever.
  [[noreturn]] void abort(const std::string& message, int code = 1);

 private:
  Communicator(int rank, int size, bool mpi);
  void check(const Tensor& t, const char* what) const;
  void check_reduce_scatter(const Tensor& input, const Tensor& output) const;
  void check_allgather(const Tensor& input, const Tensor& output) const;
  int rank_, size_;
  bool mpi_;
  double timeout_;
};

}  // namespace descent::dist
