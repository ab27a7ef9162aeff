"""serve.py -- what the test servers beside it (token-server.py,
cut-proxy.py) share: announce the port, then serve until interrupted.

    serve(server, port_file)

`server` is bound to 127.0.0.1, port 0 (the kernel picks a free one); its
port is written to `port_file` as one line, through a temporary name renamed
into place, so that registry.sh, polling for the file, never reads half of
it. Returns 0 when serving ends on SIGINT.
"""

import os


def serve(server, port_file):
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{server.server_address[1]}\n")
    os.rename(tmp, port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
