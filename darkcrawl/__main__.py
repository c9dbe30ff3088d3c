import sys

from darkcrawl.cli import main

if __name__ == "__main__":  # a spawned process (the catalogue's writer) imports this module again
    sys.exit(main())
