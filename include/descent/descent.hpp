// descent: a C++20 deep-learning training library built around its optimizers. This umbrella header brings in
// the whole public API; each layer's headers can also be included on their own.
#pragma once

#include "descent/core/dtype.hpp"
#include "descent/core/error.hpp"
#include "descent/core/random.hpp"
#include "descent/core/shape.hpp"
#include "descent/core/storage.hpp"
#include "descent/core/tensor.hpp"
#include "descent/core/threading.hpp"

#include "descent/ops/elementwise.hpp"
#include "descent/ops/linalg.hpp"
#include "descent/ops/reduction.hpp"
#include "descent/ops/views.hpp"

#include "descent/autograd/engine.hpp"
#include "descent/autograd/function.hpp"
#include "descent/autograd/grad_mode.hpp"
#include "descent/autograd/gradcheck.hpp"

#include "descent/nn/activation.hpp"
#include "descent/nn/arena.hpp"
#include "descent/nn/init.hpp"
#include "descent/nn/linear.hpp"
#include "descent/nn/module.hpp"

#include "descent/optim/adam.hpp"
#include "descent/optim/adamw.hpp"
#include "descent/optim/hyper.hpp"
#include "descent/optim/optimizer.hpp"
#include "descent/optim/sgd.hpp"
