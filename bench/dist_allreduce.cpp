// Allreduce bus bandwidth: descent's gradient buckets (and one Communicator::allreduce over the whole buffer)
// against MPI_Allreduce, and MPI_Iallreduce + MPI_Wait (the non-blocking call descent's buckets are made of), on the
// same bytes, measured side by side in one run. Run under mpirun:
//   mpirun --oversubscribe -np 2 build/release/bench/dist_allreduce [MB …]
// Bus bandwidth is NCCL's convention: bytes · 2(N−1)/N / time, what each rank's link carries in a ring allreduce,
// so the figure does not depend on N for an ideal ring. Each size is timed in rounds that alternate the three
// ways; the median round per way is reported (time of the slowest rank).
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "descent/dist/communicator.hpp"
#include "descent/dist/data_parallel.hpp"

using descent::Tensor;
namespace dist = descent::dist;

namespace {

double slowest(double seconds) {
  double worst = 0.0;
  MPI_Allreduce(&seconds, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return worst;
}

template <class F>
double timed(F&& f, int repeats) {
  MPI_Barrier(MPI_COMM_WORLD);
  const double start = MPI_Wtime();
  for (int i = 0; i < repeats; ++i) f();
  return slowest((MPI_Wtime() - start) / repeats);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  dist::Communicator& world = dist::Communicator::world();
  const int n = world.size();
  std::vector<double> sizes_mb = {0.25, 1, 4, 16, 64};
  if (argc > 1) {
    sizes_mb.clear();
    for (int i = 1; i < argc; ++i) sizes_mb.push_back(std::atof(argv[i]));
  }
  if (world.is_root())
    std::printf(
        "%d ranks; bus bandwidth GB/s = bytes * 2(N-1)/N / time; median of 7 alternating rounds\n"
        "%9s %10s %10s %10s %10s %9s %9s %9s\n",
        n, "MB", "MPI", "MPI nb", "descent 1", "buckets", "nb/MPI", "1/MPI", "bkt/MPI");
  for (double mb : sizes_mb) {
    const auto elements = static_cast<int64_t>(mb * 1e6 / 4);
    Tensor buffer = Tensor::ones({elements}, descent::kFloat32);
    // A model of 16 equal parameters in this buffer, bucketed as fit does (25 MB, the first 1 MB).
    std::vector<dist::GradSlot> slots;
    const int64_t part = elements / 16;
    for (int64_t k = 0; k < 16; ++k) slots.push_back({0, k * part, k == 15 ? elements - 15 * part : part});
    dist::GradientBuckets buckets(world, {buffer}, slots);
    const int repeats = std::max(2, static_cast<int>(64.0 / std::max(mb, 0.25)));
    std::vector<double> raw, nonblocking, single, bucketed;
    for (int round = 0; round < 7; ++round) {
      raw.push_back(timed(
          [&] {
            MPI_Allreduce(MPI_IN_PLACE, buffer.raw_data(), static_cast<int>(elements), MPI_FLOAT, MPI_SUM,
                          MPI_COMM_WORLD);
          },
          repeats));
      nonblocking.push_back(timed(
          [&] {
            MPI_Request request;
            MPI_Iallreduce(MPI_IN_PLACE, buffer.raw_data(), static_cast<int>(elements), MPI_FLOAT, MPI_SUM,
                           MPI_COMM_WORLD, &request);
            MPI_Wait(&request, MPI_STATUS_IGNORE);
          },
          repeats));
      single.push_back(timed([&] { world.allreduce(buffer); }, repeats));
      bucketed.push_back(timed(
          [&] {
            buckets.start();
            for (auto it = slots.rbegin(); it != slots.rend(); ++it)
              buckets.ready(buffer.slice(0, it->offset, it->offset + it->numel));
            buckets.finish();
          },
          repeats));
      buffer.fill_(1.0);  // keep the sums finite
    }
    const double bytes = static_cast<double>(elements) * 4.0 * 2.0 * (n - 1) / n;
    const double t_raw = median(raw), t_nb = median(nonblocking), t_single = median(single),
                 t_buckets = median(bucketed);
    if (world.is_root())
      std::printf("%9.2f %10.2f %10.2f %10.2f %10.2f %9.3f %9.3f %9.3f   (%zu buckets)\n", mb, bytes / t_raw / 1e9,
                  bytes / t_nb / 1e9, bytes / t_single / 1e9, bytes / t_buckets / 1e9, t_raw / t_nb, t_raw / t_single,
                  t_raw / t_buckets, buckets.num_buckets());
  }
  return 0;
}
