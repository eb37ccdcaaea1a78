// TestServerMajor: the PostgreSQL major version the tests' servers are of: $PGPITR_TEST_PG (ctest
// runs the version matrix so, tests/CMakeLists.txt), 15 when unset.
#pragma once

#include <cstdlib>

namespace pgpitr::testing {

inline int TestServerMajor() {
  const char* text = std::getenv("PGPITR_TEST_PG");
  return text != nullptr && *text != '\0' ? std::atoi(text) : 15;
}

}  // namespace pgpitr::testing
