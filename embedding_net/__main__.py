"""``python -m embedding_net`` runs the ``embedding-net`` command line."""

import sys

from embedding_net.cli import main

if __name__ == "__main__":
    sys.exit(main())
