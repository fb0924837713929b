// The descent program's subcommands. Each registers its options on the CLI11 app and returns the function
// that runs it; main() maps usage errors to exit code 2 and descent::Error to exit code 1.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace descent::cli {

using Run = std::function<int()>;

Run add_minimize(CLI::App& app);
Run add_bench(CLI::App& app);
Run add_train(CLI::App& app);
Run add_lr_find(CLI::App& app);
Run add_compare(CLI::App& app);
Run add_evaluate(CLI::App& app);

}  // namespace descent::cli
