"""`make demo` checks its port before it migrates or loads anything: gunicorn would only
fail after the demo was loaded, its error lost among the worker's log lines."""

import socket
import sys


def main(host: str, port: str) -> int:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
    try:
        sock.bind((host, int(port)))
    except OSError as exc:
        print(f"make demo: {host}:{port} is already in use ({exc.strerror}); another server (an earlier "
              f"`make demo`?) is listening there. Stop it, or pick another port: PORT={int(port) + 1} make demo",
              file=sys.stderr)
        return 1
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
