// Boost.Asio's and Beast's compiled parts (the scheduler and reactor, error categories, the TLS
// engine, Beast's zlib for WebSocket compression, ...), once for every program that links
// coffre_net. Its targets compile with BOOST_ASIO_SEPARATE_COMPILATION and
// BOOST_BEAST_SEPARATE_COMPILATION (PUBLIC on coffre_net), so the headers only declare these
// instead of compiling them again in each translation unit: about a fifth of such a unit's time.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
