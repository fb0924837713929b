# Warnings every descent target is built with; -Werror stays off so a newer compiler never breaks a user's build.
function(descent_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                         -Wcast-align -Wunused -Woverloaded-virtual -Wnull-dereference)
endfunction()
