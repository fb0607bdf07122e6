# Loopback ports for the tests that start servers (sourced by lib.sh and others).
# A base for `coffre up --ports-from`: below Linux's ephemeral ports (32768 on), which clients'
# source ports take between a port's probe and its daemon's bind.
stack_port_base() { echo $((20000 + RANDOM % 12000)); }
# free_port: a port in the same range that nothing listens on now (checked by binding it).
free_port() {
  node -e 'const net = require("net");
    const tryPort = (left) => { const p = 20000 + Math.floor(Math.random() * 12000);
      const s = net.createServer().once("error", () => left > 0 ? tryPort(left - 1) : process.exit(1))
        .listen(p, "127.0.0.1", () => { console.log(p); s.close(); }); };
    tryPort(50);'
}
