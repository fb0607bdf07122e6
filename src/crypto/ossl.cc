#include "crypto/ossl.h"

#include <openssl/err.h>

#include <string>

namespace coffre::crypto {

Status OsslError(std::string_view what, StatusCode code) {
  std::string m(what);
  unsigned long err = ERR_peek_last_error();
  if (err != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof buf);
    m += " (";
    m += buf;
    m += ")";
  }
  ERR_clear_error();
  return Status(code, std::move(m));
}

}  // namespace coffre::crypto
