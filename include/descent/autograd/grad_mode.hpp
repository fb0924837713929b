// Grad mode: whether operations record themselves for backward. Per thread, on by default.
#pragma once

namespace descent {

bool is_grad_enabled();
void set_grad_enabled(bool enabled);

// Turns recording off for a scope, as `with torch.no_grad():` does; restores the previous mode on exit.
class NoGradGuard {
 public:
  NoGradGuard() : previous_(is_grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Turns recording on for a scope (used by backward with create_graph).
class EnableGradGuard {
 public:
  explicit EnableGradGuard(bool enabled = true) : previous_(is_grad_enabled()) { set_grad_enabled(enabled); }
  ~EnableGradGuard() { set_grad_enabled(previous_); }
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace descent
