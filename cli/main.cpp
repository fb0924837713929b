// `descent`: the command-line front door. One file per subcommand (cli/*.cpp), each thin over the library.
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "descent/core/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"descent: train networks and run optimizers from the command line"};
  app.require_subcommand(1);
  const std::vector<std::pair<std::string, descent::cli::Run>> runs = {
      {"minimize", descent::cli::add_minimize(app)},
      {"bench", descent::cli::add_bench(app)},
      {"train", descent::cli::add_train(app)},
      {"lr-find", descent::cli::add_lr_find(app)},
      {"compare", descent::cli::add_compare(app)},
      {"evaluate", descent::cli::add_evaluate(app)},
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "descent: " << e.what() << "\n\n" << app.help() << std::flush;
    return 2;
  }
  try {
    for (const auto& [name, run] : runs)
      if (app.got_subcommand(name)) return run();
    return 2;
  } catch (const CLI::ParseError& e) {  // a subcommand's own usage check
    std::cerr << "descent: " << e.what() << "\n";
    return 2;
  } catch (const descent::Error& e) {
    std::cerr << "descent: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "descent: error: " << e.what() << "\n";
    return 1;
  }
}
