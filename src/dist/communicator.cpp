// Communicator over MPI (DESCENT_HAVE_MPI), or a world of one rank.
#include "descent/dist/communicator.hpp"

#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <sched.h>
#include <cstring>
#include <iostream>

#include "descent/core/error.hpp"

#ifdef DESCENT_HAVE_MPI
#include <mpi.h>
#endif

namespace descent::dist {

// ---- Request ------------------------------------------------------------------------------------------------------

struct Request::State {
#ifdef DESCENT_HAVE_MPI
  MPI_Request request = MPI_REQUEST_NULL;
#endif
  Tensor scaled;        // divided by `divisor` on completion (ReduceOp::Mean); undefined otherwise
  double divisor = 1.0;
  int rank = 0;
  const char* call = "";
  double timeout = 0.0;  // seconds wait() polls before giving up (the communicator's at the start)
  bool done = false;
};

namespace {

void scale_in_place(Tensor& t, double factor) {
  if (t.dtype() == kFloat32) {
    auto* p = static_cast<float*>(t.raw_data());
    const auto f = static_cast<float>(factor);
    for (int64_t i = 0; i < t.numel(); ++i) p[i] *= f;
  } else {
    auto* p = static_cast<double*>(t.raw_data());
    for (int64_t i = 0; i < t.numel(); ++i) p[i] *= factor;
  }
}

// A request's bookkeeping: the call (for messages), the rank, the deadline, and the tensor a Mean divides.
std::unique_ptr<Request::State> request_state(const char* call, int rank, double timeout, ReduceOp op,
                                              const Tensor& result, int ranks) {
  auto state = std::make_unique<Request::State>();
  state->call = call;
  state->rank = rank;
  state->timeout = timeout;
  if (op == ReduceOp::Mean) state->scaled = result, state->divisor = ranks;
  return state;
}

void finish(Request::State& s) {
  if (s.scaled.defined() && s.divisor != 1.0) scale_in_place(s.scaled, 1.0 / s.divisor);
  s.done = true;
}

#ifdef DESCENT_HAVE_MPI
// Bounds the blocking collectives (MPI's tuned algorithms, about twice the bandwidth of its non-blocking ones
// here): a thread that ends this rank when a call has not returned in time. The rank's exit makes mpirun end the
// job; the thread never calls MPI itself.
class Watchdog {
 public:
  static Watchdog& instance() {
    static auto* watchdog = new Watchdog();  // never destroyed: its thread runs until the process ends
    return *watchdog;
  }
  void arm(const char* call, int rank, double timeout) {
    {
      std::lock_guard lock(mutex_);
      call_ = call, rank_ = rank, timeout_ = timeout, armed_ = true;
      deadline_ = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                          std::chrono::duration<double>(timeout));
    }
    changed_.notify_one();
  }
  void disarm() {
    std::lock_guard lock(mutex_);
    armed_ = false;
  }

 private:
  Watchdog() { std::thread([this] { run(); }).detach(); }
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (!armed_) {
        changed_.wait(lock);
      } else if (changed_.wait_until(lock, deadline_) == std::cv_status::timeout && armed_ &&
                 std::chrono::steady_clock::now() >= deadline_) {
        std::fprintf(stderr,
                     "descent: rank %d: dist: %s did not complete within %g s: another rank has stopped or is stuck "
                     "(DESCENT_DIST_TIMEOUT); ending this rank so that mpirun ends the job\n",
                     rank_, call_, timeout_);
        std::fflush(stderr);
        std::_Exit(1);
      }
    }
  }
  std::mutex mutex_;
  std::condition_variable changed_;
  bool armed_ = false;
  std::chrono::steady_clock::time_point deadline_;
  const char* call_ = "";
  int rank_ = 0;
  double timeout_ = 0.0;
};

// A blocking MPI call, watched for the duration of the scope.
class Watched {
 public:
  Watched(const char* call, int rank, double timeout) { Watchdog::instance().arm(call, rank, timeout); }
  ~Watched() { Watchdog::instance().disarm(); }
  Watched(const Watched&) = delete;
  Watched& operator=(const Watched&) = delete;
};

void check_mpi(int code, const char* call, int rank) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  fail("dist: ", call, " failed on rank ", rank, ": ", std::string(text, static_cast<size_t>(length)));
}

MPI_Datatype mpi_type(DType dtype) { return dtype == kFloat32 ? MPI_FLOAT : MPI_DOUBLE; }

int mpi_count(const Tensor& t, const char* call) {
  DESCENT_CHECK(t.numel() <= INT_MAX, "dist: ", call, ": ", t.numel(), " elements are more than one MPI call takes (",
                INT_MAX, "); split the tensor");
  return static_cast<int>(t.numel());
}

// Started by mpirun (OpenMPI, or a PMI-based launcher)? A plain process stays a world of one rank without
// initialising MPI at all.
bool launched_by_mpirun() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}
#endif

}  // namespace

Request::Request() = default;
Request::Request(std::unique_ptr<State> state) : state_(std::move(state)) {}
Request::Request(Request&&) noexcept = default;
Request& Request::operator=(Request&& other) noexcept {
  if (this != &other) {
    if (pending()) {
      try {
        wait();
      } catch (...) {  // noexcept: the error surfaces on the rank's next collective
      }
    }
    state_ = std::move(other.state_);
  }
  return *this;
}

Request::~Request() {
  if (!pending()) return;
  try {
    wait();
  } catch (const std::exception& e) {
    std::cerr << "descent: " << e.what() << '\n';
  }
}

bool Request::pending() const { return state_ && !state_->done; }

void Request::wait() {
  if (!pending()) return;
#ifdef DESCENT_HAVE_MPI
  // MPI_Wait could wait forever for a rank that is stuck: poll with a deadline instead, yielding the core to the
  // other ranks of an oversubscribed machine between polls.
  if (state_->request != MPI_REQUEST_NULL) {
    const auto start = std::chrono::steady_clock::now();
    for (int flag = 0;;) {
      check_mpi(MPI_Test(&state_->request, &flag, MPI_STATUS_IGNORE), state_->call, state_->rank);
      if (flag) break;
      const std::chrono::duration<double> waited = std::chrono::steady_clock::now() - start;
      DESCENT_CHECK(waited.count() < state_->timeout, "dist: ", state_->call, " on rank ", state_->rank,
                    " did not complete within ", state_->timeout, " s: another rank has stopped or is stuck (",
                    "Communicator::set_timeout, DESCENT_DIST_TIMEOUT)");
      sched_yield();
    }
  }
#endif
  finish(*state_);
}

bool Request::test() {
  if (!pending()) return true;
#ifdef DESCENT_HAVE_MPI
  int flag = 1;
  if (state_->request != MPI_REQUEST_NULL)
    check_mpi(MPI_Test(&state_->request, &flag, MPI_STATUS_IGNORE), state_->call, state_->rank);
  if (!flag) return false;
#endif
  finish(*state_);
  return true;
}

// ---- Communicator -------------------------------------------------------------------------------------------------

bool Communicator::mpi_built() {
#ifdef DESCENT_HAVE_MPI
  return true;
#else
  return false;
#endif
}

Communicator& Communicator::world() {
  static Communicator* world = [] {
#ifdef DESCENT_HAVE_MPI
    if (launched_by_mpirun()) {
      int initialized = 0;
      MPI_Initialized(&initialized);
      if (!initialized) {
        int provided = 0;
        // Only the thread that calls into descent's training loop makes MPI calls (OpenMP threads never do).
        if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
          fail("dist: MPI_Init_thread failed");
        std::atexit([] {
          int finalized = 0;
          MPI_Finalized(&finalized);
          if (!finalized) MPI_Finalize();
        });
      }
      MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
      int rank = 0, size = 1;
      MPI_Comm_rank(MPI_COMM_WORLD, &rank);
      MPI_Comm_size(MPI_COMM_WORLD, &size);
      return new Communicator(rank, size, true);
    }
#endif
    return new Communicator(0, 1, false);
  }();
  return *world;
}

void Communicator::check(const Tensor& t, const char* what) const {
  DESCENT_CHECK(t.defined(), "dist: ", what, ": the tensor is undefined");
  DESCENT_CHECK(t.dtype() == kFloat32 || t.dtype() == kFloat64, "dist: ", what, ": ", t.str(),
                " is not float32 or float64");
  DESCENT_CHECK(t.is_contiguous(), "dist: ", what, ": ", t.str(), " is not contiguous");
}

namespace {
double default_timeout() {
  if (const char* text = std::getenv("DESCENT_DIST_TIMEOUT")) {
    char* end = nullptr;
    const double seconds = std::strtod(text, &end);
    DESCENT_CHECK(end != text && *end == '\0' && seconds > 0.0, "dist: DESCENT_DIST_TIMEOUT='", text,
                  "' is not a number of seconds > 0");
    return seconds;
  }
  return 300.0;
}
}  // namespace

Communicator::Communicator(int rank, int size, bool mpi) : rank_(rank), size_(size), mpi_(mpi), timeout_(default_timeout()) {}

void Communicator::set_timeout(double seconds) {
  DESCENT_CHECK(seconds > 0.0, "dist: set_timeout: ", seconds, " s must be > 0");
  timeout_ = seconds;
}

void Communicator::allreduce(std::vector<double>& values, ReduceOp op) {
  if (size_ == 1 || values.empty()) return;
  Tensor t = Tensor::empty({static_cast<int64_t>(values.size())}, kFloat64);
  std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(double));
  allreduce(t, op);
  std::memcpy(values.data(), t.raw_data(), values.size() * sizeof(double));
}

void Communicator::barrier() {
#ifdef DESCENT_HAVE_MPI
  if (mpi_) {
    const Watched watched("MPI_Barrier", rank_, timeout_);
    check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier", rank_);
  }
#endif
}

void Communicator::broadcast(Tensor& t, int root) {
  check(t, "broadcast");
  DESCENT_CHECK(root >= 0 && root < size_, "dist: broadcast: root ", root, " is not a rank of ", size_);
#ifdef DESCENT_HAVE_MPI
  if (mpi_) {
    const Watched watched("MPI_Bcast", rank_, timeout_);
    check_mpi(MPI_Bcast(t.raw_data(), mpi_count(t, "MPI_Bcast"), mpi_type(t.dtype()), root, MPI_COMM_WORLD),
              "MPI_Bcast", rank_);
  }
#endif
}

void Communicator::allreduce(Tensor& t, ReduceOp op) {
  check(t, "allreduce");
#ifdef DESCENT_HAVE_MPI
  if (mpi_) {
    const Watched watched("MPI_Allreduce", rank_, timeout_);
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, t.raw_data(), mpi_count(t, "MPI_Allreduce"), mpi_type(t.dtype()), MPI_SUM,
                            MPI_COMM_WORLD),
              "MPI_Allreduce", rank_);
  }
#endif
  if (op == ReduceOp::Mean && size_ > 1) scale_in_place(t, 1.0 / size_);
}

Request Communicator::iallreduce(Tensor& t, ReduceOp op) {
  check(t, "allreduce");
  auto state = request_state("MPI_Iallreduce", rank_, timeout_, op, t, size_);
#ifdef DESCENT_HAVE_MPI
  if (mpi_)
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, t.raw_data(), mpi_count(t, "MPI_Iallreduce"), mpi_type(t.dtype()), MPI_SUM,
                             MPI_COMM_WORLD, &state->request),
              "MPI_Iallreduce", rank_);
#endif
  return Request(std::move(state));
}

void Communicator::reduce_scatter(const Tensor& input, Tensor& output, ReduceOp op) {
#ifdef DESCENT_HAVE_MPI
  if (mpi_) {
    check_reduce_scatter(input, output);
    const Watched watched("MPI_Reduce_scatter_block", rank_, timeout_);
    check_mpi(MPI_Reduce_scatter_block(input.raw_data(), output.raw_data(), mpi_count(output, "MPI_Reduce_scatter_block"),
                                       mpi_type(output.dtype()), MPI_SUM, MPI_COMM_WORLD),
              "MPI_Reduce_scatter_block", rank_);
    if (op == ReduceOp::Mean) scale_in_place(output, 1.0 / size_);
    return;
  }
#endif
  ireduce_scatter(input, output, op).wait();
}

void Communicator::check_reduce_scatter(const Tensor& input, const Tensor& output) const {
  check(input, "reduce_scatter (input)");
  check(output, "reduce_scatter (output)");
  DESCENT_CHECK(input.dtype() == output.dtype() && input.numel() == output.numel() * size_, "dist: reduce_scatter: ",
                "input ", input.str(), " must hold ", size_, " × the ", output.numel(), " elements of output ",
                output.str(), ", same dtype");
}

Request Communicator::ireduce_scatter(const Tensor& input, Tensor& output, ReduceOp op) {
  check_reduce_scatter(input, output);
  auto state = request_state("MPI_Ireduce_scatter_block", rank_, timeout_, op, output, size_);
#ifdef DESCENT_HAVE_MPI
  if (mpi_) {
    check_mpi(MPI_Ireduce_scatter_block(input.raw_data(), output.raw_data(), mpi_count(output, state->call),
                                        mpi_type(output.dtype()), MPI_SUM, MPI_COMM_WORLD, &state->request),
              state->call, rank_);
    return Request(std::move(state));
  }
#endif
  std::memcpy(output.raw_data(), input.raw_data(), static_cast<size_t>(output.numel()) * element_size(output.dtype()));
  return Request(std::move(state));
}

void Communicator::allgather(const Tensor& input, Tensor& output) {
#ifdef DESCENT_HAVE_MPI
  if (mpi_) {
    check_allgather(input, output);
    const Watched watched("MPI_Allgather", rank_, timeout_);
    check_mpi(MPI_Allgather(input.raw_data(), mpi_count(input, "MPI_Allgather"), mpi_type(input.dtype()),
                            output.raw_data(), mpi_count(input, "MPI_Allgather"), mpi_type(output.dtype()),
                            MPI_COMM_WORLD),
              "MPI_Allgather", rank_);
    return;
  }
#endif
  iallgather(input, output).wait();
}

void Communicator::check_allgather(const Tensor& input, const Tensor& output) const {
  check(input, "allgather (input)");
  check(output, "allgather (output)");
  DESCENT_CHECK(input.dtype() == output.dtype() && output.numel() == input.numel() * size_, "dist: allgather: ",
                "output ", output.str(), " must hold ", size_, " × the ", input.numel(), " elements of input ",
                input.str(), ", same dtype");
}

Request Communicator::iallgather(const Tensor& input, Tensor& output) {
  check_allgather(input, output);
  auto state = request_state("MPI_Iallgather", rank_, timeout_, ReduceOp::Sum, output, size_);
#ifdef DESCENT_HAVE_MPI
  if (mpi_) {
    check_mpi(MPI_Iallgather(input.raw_data(), mpi_count(input, state->call), mpi_type(input.dtype()),
                             output.raw_data(), mpi_count(input, state->call), mpi_type(output.dtype()),
                             MPI_COMM_WORLD, &state->request),
              state->call, rank_);
    return Request(std::move(state));
  }
#endif
  std::memcpy(output.raw_data(), input.raw_data(), static_cast<size_t>(input.numel()) * element_size(input.dtype()));
  return Request(std::move(state));
}

void Communicator::abort(const std::string& message, int code) {
  std::cerr << "descent: rank " << rank_ << " of " << size_ << ": " << message << std::endl;
#ifdef DESCENT_HAVE_MPI
  if (mpi_) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

}  // namespace descent::dist
