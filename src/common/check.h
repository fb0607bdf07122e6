#pragma once
// COFFRE_CHECK: a broken invariant (a bug, never bad input) aborts the process with the place
// and the condition. Untrusted input is answered with a Status instead (STYLE.md rule 5).

#include <cstdio>
#include <cstdlib>

#define COFFRE_CHECK(cond)                                                                   \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "COFFRE_CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (false)
