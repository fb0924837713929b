// The communicator's collectives, on however many ranks the test runs: alone (ctest's own entries: a world of
// one rank) and under mpirun with 2 and 4 ranks (dist.mpirun_2, dist.mpirun_4). Each rank fills its tensors from
// its rank, so every expected value is known in closed form.
#include "descent/dist/communicator.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

#include "support/testing.hpp"

namespace descent::dist {
namespace {

Tensor filled(int64_t n, DType dtype, double (*value)(int rank, int64_t i)) {
  const int rank = Communicator::world().rank();
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = value(rank, i);
  return Tensor::from(std::span<const double>(v), {n}, dtype);
}

class CommunicatorTest : public ::testing::TestWithParam<DType> {};

TEST_P(CommunicatorTest, AllreduceSumsAndAveragesOverRanks) {
  Communicator& world = Communicator::world();
  const int n = world.size();
  // Values whose sums are exact in float32: small integers.
  Tensor t = filled(1000, GetParam(), [](int rank, int64_t i) { return static_cast<double>((rank + 1) * (i % 7)); });
  world.allreduce(t, ReduceOp::Sum);
  const std::vector<double> got = t.to_vector();
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(got[i], static_cast<double>(n * (n + 1) / 2 * (i % 7))) << i;

  Tensor m = filled(10, GetParam(), [](int rank, int64_t) { return static_cast<double>(2 * rank); });
  Request r = world.iallreduce(m, ReduceOp::Mean);
  EXPECT_TRUE(r.pending());
  r.wait();
  EXPECT_FALSE(r.pending());
  for (double v : m.to_vector()) EXPECT_EQ(v, static_cast<double>(n - 1));
}

TEST_P(CommunicatorTest, BroadcastTakesTheRootsValues) {
  Communicator& world = Communicator::world();
  const int root = world.size() - 1;
  Tensor t = filled(33, GetParam(), [](int rank, int64_t i) { return rank * 100.0 + static_cast<double>(i); });
  world.broadcast(t, root);
  const std::vector<double> got = t.to_vector();
  for (int64_t i = 0; i < 33; ++i) EXPECT_EQ(got[i], root * 100.0 + static_cast<double>(i));
  EXPECT_ERROR_MENTIONS(world.broadcast(t, world.size()), "is not a rank of");
}

TEST_P(CommunicatorTest, ReduceScatterThenAllgatherIsAnAllreduce) {
  Communicator& world = Communicator::world();
  const int n = world.size();
  const int64_t block = 5;
  Tensor input = filled(block * n, GetParam(), [](int rank, int64_t i) { return static_cast<double>(rank + i); });
  Tensor mine = Tensor::empty({block}, GetParam());
  world.reduce_scatter(input, mine, ReduceOp::Sum);
  const std::vector<double> got = mine.to_vector();
  for (int64_t j = 0; j < block; ++j) {
    const int64_t i = world.rank() * block + j;  // this rank's block of the full vector
    EXPECT_EQ(got[j], static_cast<double>(n * (n - 1) / 2 + n * i)) << j;
  }
  Tensor all = Tensor::empty({block * n}, GetParam());
  Request r = world.iallgather(mine, all);
  r.wait();
  Tensor reduced = input.clone();
  world.allreduce(reduced, ReduceOp::Sum);
  EXPECT_EQ(all.to_vector(), reduced.to_vector());
}

TEST_P(CommunicatorTest, RefusesTensorsItCannotSend) {
  Communicator& world = Communicator::world();
  Tensor wrong = Tensor::empty({3}, GetParam());
  Tensor out = Tensor::empty({2}, GetParam());
  EXPECT_ERROR_MENTIONS(world.reduce_scatter(wrong, out), "must hold");
  EXPECT_ERROR_MENTIONS(world.allgather(wrong, out), "must hold");
  Tensor strided = Tensor::empty({4, 4}, GetParam()).transpose(0, 1);
  EXPECT_ERROR_MENTIONS(world.allreduce(strided), "is not contiguous");
  Tensor undefined;
  EXPECT_ERROR_MENTIONS(world.allreduce(undefined), "undefined");
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CommunicatorTest, ::testing::Values(kFloat32, kFloat64),
                         [](const ::testing::TestParamInfo<DType>& param) {
                           return param.param == kFloat32 ? std::string("float32") : std::string("float64");
                         });

TEST(CommunicatorWorld, KnowsItsRanks) {
  Communicator& world = Communicator::world();
  EXPECT_GE(world.size(), 1);
  EXPECT_GE(world.rank(), 0);
  EXPECT_LT(world.rank(), world.size());
  EXPECT_EQ(world.is_root(), world.rank() == 0);
  // Under mpirun the world is the job: mpirun's own count, and MPI when descent was built with it.
  if (const char* ranks = std::getenv("OMPI_COMM_WORLD_SIZE")) {
    EXPECT_TRUE(Communicator::mpi_built());
    EXPECT_EQ(world.size(), std::atoi(ranks));
  }
  world.barrier();
}

}  // namespace
}  // namespace descent::dist
